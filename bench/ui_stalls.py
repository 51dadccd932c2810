"""UI-thread stalls in the real main window, action by action (issue 19).

A ``QTimer`` ticks every 5 ms on the UI thread and records the gaps between its ticks; a
stall is a gap minus 5 ms, attributed to the action under way when it ends (the bench
waits for the app to be idle between two actions, so late results land in their own
action), with the UI thread's own CPU time in it (``time.thread_time``): a stall it
spent waiting (for the GIL another thread holds, or for a core of a busy machine) shows
little. A helper thread samples every thread's Python stack
(``faulthandler.dump_traceback``) every few ms while no tick has come for
``--sample-after`` ms, so each long stall comes with where the UI thread was and what
the other busy threads were doing.

In a ``MainWindow`` (offscreen, ``--size`` 1600x1000, settings and picture cache in a
temporary ``FME_DATA_DIR``), as a person would:

- start-up (building the window, importing TensorFlow, the MNIST CNN): printed apart,
  not counted in the last line;
- the Activations tab, VGG16 opened untrained (``state.open_model("vgg16", None)``, what
  "Open untrained" does);
- every layer clicked in the layer list, each waited for until its grid is drawn;
- block1_conv1's activations exported (``export_npz``) and its grid as a PNG
  (``export_png(..., "grid")``), each waited for until ``exported``;
- the "What it wants" tab, "Whole layer" clicked for block1_conv1 (the gallery fills),
  ``--gallery-seconds`` of it;
- the input switched ten times (the next sample photo in the image box) while the
  whole-layer run goes on; then Cancel;
- the "Units" side tab's "Paint every unit" (every channel's centre unit, in batches),
  ``--gallery-seconds`` of it at most, then Cancel.

Prints every action's longest stall, the top 5 stalls with their action and, for each
stall over 100 ms, the functions the UI thread was sampled in. Last line:
``ui stalls: longest X ms (ACTION)`` (goal X <= 100).

    .venv/bin/python bench/ui_stalls.py [--switches 10] [--gallery-seconds 20]

About 2 minutes on 2 shared CPU cores.
"""

from __future__ import annotations

import argparse
import faulthandler
import os
import re
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
_DATA = tempfile.TemporaryDirectory(prefix="fme-bench-")
os.environ["FME_DATA_DIR"] = _DATA.name  # settings and the picture cache: the bench's own
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from PySide6.QtCore import Qt, QTimer, qInstallMessageHandler  # noqa: E402
from PySide6.QtTest import QTest  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from bench.harness import click_layer, click_tab, quiet_qt, show_layer, wait_ms, wait_until  # noqa: E402

TIMEOUT_S = 300.0
TICK_MS = 5
#: Stalls shorter than this are counted but not kept one by one.
KEEP_MS = 20.0
#: Where the app's own code is (a stack's frames there name the culprit).
OURS = (str(ROOT / "gui"), str(ROOT / "engine"))


class Frame(NamedTuple):
    """One frame of a sampled stack (innermost last in a stack)."""

    filename: str
    lineno: int
    name: str


_FRAME = re.compile(r'^\s+File "(?P<file>.*)", line (?P<line>\d+) in (?P<name>.*)$')
_THREAD = re.compile(r"^(?:Current thread|Thread) (0x[0-9a-f]+)")


def stacks_of(dump: str) -> dict[int, list[Frame]]:
    """Every thread's stack in a ``faulthandler.dump_traceback`` text, innermost last."""
    stacks: dict[int, list[Frame]] = {}
    frames: list[Frame] = []
    for line in dump.splitlines():
        head = _THREAD.match(line)
        if head:
            frames = []
            stacks[int(head.group(1), 16)] = frames
            continue
        m = _FRAME.match(line)
        if m:
            frames.insert(0, Frame(m.group("file"), int(m.group("line")), m.group("name")))
    return stacks


def idle(stack: list[Frame]) -> bool:
    """A thread waiting for work (a pool's queue, an event, this bench's sampler)."""
    if not stack:
        return True
    inner = stack[-1]
    return inner.filename.endswith(("threading.py", "thread.py")) or inner.name == "_sample"


@dataclass
class Sample:
    """The UI thread's stack, and what the busy other threads were doing, at one time."""

    main: list[Frame]
    others: dict[str, list[Frame]]


@dataclass
class Stall:
    ms: float
    action: str
    start: float  # perf_counter of the last tick before it
    cpu_ms: float  # the UI thread's own CPU time in it (the rest: waiting for the GIL or a core)
    samples: list[Sample] = field(default_factory=list)


class StallMonitor:
    """Ticks every ``TICK_MS`` on the UI thread; samples its stack while it is late.

    The stack is read with ``faulthandler.dump_traceback`` (it reads the frames as they
    are, making no frame objects): ``sys._current_frames()`` from a helper thread crashed
    the interpreter here (Python 3.11) while TensorFlow was being imported.
    """

    def __init__(self, sample_after_ms: float) -> None:
        self.action = "(none)"
        self.stalls: list[Stall] = []
        self.longest: dict[str, float] = defaultdict(float)
        self.uncounted: set[str] = set()
        self.ticks = 0
        self.last = time.perf_counter()
        self._cpu = time.thread_time()
        self._samples: dict[float, list[Sample]] = defaultdict(list)
        self._lock = threading.Lock()
        self._sample_after = sample_after_ms / 1e3
        self._main = threading.main_thread().ident
        self._stop = threading.Event()
        self.timer = QTimer()
        self.timer.setTimerType(Qt.TimerType.PreciseTimer)
        self.timer.setInterval(TICK_MS)
        self.timer.timeout.connect(self._tick)
        self._sampler = threading.Thread(target=self._sample, name="stall-sampler", daemon=True)

    def start(self) -> None:
        self.last = time.perf_counter()
        self._cpu = time.thread_time()
        self.timer.start()
        if self._sample_after > 0:
            self._sampler.start()

    def stop(self) -> None:
        self.timer.stop()
        self._stop.set()
        if self._sampler.is_alive():
            self._sampler.join(timeout=1)

    def set_action(self, action: str, counted: bool = True) -> None:
        self.action = action
        if not counted:
            self.uncounted.add(action)
        print(f"[{time.strftime('%H:%M:%S')}] {action}", file=sys.stderr, flush=True)

    def _tick(self) -> None:
        now, cpu = time.perf_counter(), time.thread_time()
        start, self.last = self.last, now
        cpu_ms, self._cpu = (cpu - self._cpu) * 1e3, cpu
        self.ticks += 1
        ms = (now - start) * 1e3 - TICK_MS
        if ms > self.longest[self.action]:
            self.longest[self.action] = ms
        with self._lock:
            samples = self._samples.pop(start, [])
        if ms >= KEEP_MS:
            self.stalls.append(Stall(ms, self.action, start, cpu_ms, samples))

    def _sample(self) -> None:
        with tempfile.TemporaryFile("w+") as dump:
            while not self._stop.wait(0.004):
                start = self.last
                if time.perf_counter() - start < self._sample_after:
                    continue
                dump.seek(0)
                dump.truncate()
                faulthandler.dump_traceback(dump, all_threads=True)
                dump.seek(0)
                stacks = stacks_of(dump.read())
                names = {t.ident: t.name for t in threading.enumerate()}
                main = stacks.pop(self._main, [])
                others = {
                    names.get(ident, hex(ident)): stack
                    for ident, stack in stacks.items()
                    if not idle(stack)
                }
                with self._lock:
                    if main and start == self.last:  # still the same stall
                        self._samples[start].append(Sample(main, others))

    def counted_stalls(self) -> list[Stall]:
        return [s for s in self.stalls if s.action not in self.uncounted]


def _ours(stack: list[Frame]) -> Frame | None:
    mine = [f for f in stack if f.filename.startswith(OURS)]
    return mine[-1] if mine else None


def _at(f: Frame) -> str:
    return f"{Path(f.filename).relative_to(ROOT)}:{f.lineno} {f.name}"


def where(stall: Stall, top: int = 4) -> list[str]:
    """Where the UI thread was in a stall: the app's innermost function (file:line), most
    frequent first, its callers, and the innermost frame of any code; and what the other
    busy threads were doing (one of them may hold the GIL the UI thread waits for)."""
    if not stall.samples:
        return ["    (no sample: the UI thread held the GIL in one C call, or it was short)"]
    ours: Counter[str] = Counter()
    inner: Counter[str] = Counter()
    chains: Counter[str] = Counter()
    others: Counter[str] = Counter()
    for sample in stall.samples:
        stack = sample.main
        mine = [f for f in stack if f.filename.startswith(OURS)]
        if mine:
            ours[_at(mine[-1])] += 1
            # innermost first
            chains[" <- ".join(f"{x.name}:{x.lineno}" for x in reversed(mine[-4:]))] += 1
        f = stack[-1]
        inner[f"{Path(f.filename).name}:{f.lineno} {f.name}"] += 1
        for name, other in sample.others.items():
            g = _ours(other) or other[-1]
            others[f"{name}: {_at(g) if g.filename.startswith(OURS) else g.name}"] += 1
    n = len(stall.samples)
    lines = [f"    {n} samples of the UI thread's stack; the app's innermost code:"]
    lines += [f"      {k / n:4.0%}  {v}" for v, k in ours.most_common(top)]
    lines += ["    the app's code, innermost first (most frequent chains):"]
    lines += [f"      {k / n:4.0%}  {v}" for v, k in chains.most_common(2)]
    lines += ["    innermost frame of any code:"]
    lines += [f"      {k / n:4.0%}  {v}" for v, k in inner.most_common(3)]
    if others:
        # The UI thread may wait for the GIL: the sampler gets it when its holder lets go.
        lines += ["    meanwhile the other busy threads were in (the app's innermost code):"]
        lines += [f"      {k / n:4.0%}  {v}" for v, k in others.most_common(3)]
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="1600x1000", help="the window's size")
    parser.add_argument("--switches", type=int, default=10, help="input switches")
    parser.add_argument("--gallery-seconds", type=float, default=20.0)
    parser.add_argument("--layer", default="block1_conv1", help="exported and visualised")
    parser.add_argument(
        "--sample-after", type=float, default=30.0, help="ms late to sample (0: never)"
    )
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))

    qInstallMessageHandler(quiet_qt)
    app = QApplication([])
    from gui.settings import configure_settings

    configure_settings()
    import gui  # noqa: F401  (pyqtgraph bound to PySide6)
    from engine.util.paths import sample_images

    monitor = StallMonitor(args.sample_after)
    monitor.start()
    wait_ms(100)

    def settle(ms: int = 150) -> None:
        """Wait until no job runs, then a little more (late signals, repaints)."""
        wait_until(lambda: not window.runner.busy() and not window.state.busy(), "idle")
        wait_ms(ms)

    # -- start-up (not counted) -----------------------------------------------------------
    monitor.set_action("start-up: building the main window", counted=False)
    from gui.main_window import MainWindow

    window = MainWindow(remember=False)
    window.resize(width, height)
    window.show()
    QTest.qWaitForWindowExposed(window)
    state, panel = window.state, window.panels["activations"]
    monitor.set_action("start-up: TensorFlow and the MNIST CNN", counted=False)
    wait_until(lambda: state.model is not None, "the MNIST CNN")
    click_tab(window.tabs, "Activations")
    wait_until(lambda: state.activations is not None, "the MNIST CNN's activations")
    settle(300)

    # -- VGG16, untrained -----------------------------------------------------------------
    monitor.set_action("open VGG16 untrained")
    # What "Open untrained" does once VGG16 is chosen in the model box (choosing it there
    # first tries to download the ImageNet weights).
    state.open_model("vgg16", None)
    wait_until(
        lambda: state.activations is not None and state.activations.model.key == "vgg16",
        "VGG16's activations",
    )
    settle(300)

    # -- every layer ----------------------------------------------------------------------
    tree = panel.layer_table
    names = [info.name for info in tree.layers()]
    for name in [*names[1:], names[0]]:  # the first one is selected already
        monitor.set_action(f"click layer {name}")
        show_layer(panel, state, name)
        settle()

    # -- exports --------------------------------------------------------------------------
    monitor.set_action(f"click layer {args.layer}")
    click_layer(tree, args.layer)
    settle()
    exported: list[Path] = []
    panel.exported.connect(exported.append)
    out = Path(_DATA.name)
    for action, start in (
        (f"export .npz ({args.layer})", lambda: panel.export_npz(out / "acts.npz")),
        (f"export grid PNG ({args.layer})", lambda: panel.export_png(out / "grid.png", "grid")),
    ):
        monitor.set_action(action)
        n = len(exported)
        start()
        wait_until(lambda n=n: len(exported) > n, action)
        settle()
    sizes = ", ".join(f"{p.name} {p.stat().st_size / 2**20:.1f} MB" for p in exported)

    # -- Whole layer, then inputs switched while it runs ----------------------------------
    view = panel.featurevis_view
    monitor.set_action("show the What it wants tab")
    click_tab(panel.tabs, "What it wants")
    wait_ms(300)
    monitor.set_action(f"whole layer {args.layer} (gallery filling)")
    QTest.mouseClick(view.layer_button, Qt.MouseButton.LeftButton)
    wait_until(view.is_computing, "the whole layer to start")
    wait_ms(int(args.gallery_seconds * 1000))
    made = len(view.gallery_channels())
    combo = panel.source.combo
    samples = list(sample_images())
    for i in range(args.switches):
        monitor.set_action(f"switch input {i + 1} (whole layer running)")
        before, now = state.input, combo.currentText()
        # The next sample photo in the image box, as a person picks it there.
        combo.setCurrentText(
            samples[(samples.index(now) + 1) % len(samples)] if now in samples else samples[0]
        )
        wait_until(
            lambda b=before: (
                state.input is not b
                and state.activations is not None
                and state.activations.input is state.input
            ),
            "the new input's activations",
        )
        wait_ms(500)
    made_after = len(view.gallery_channels())
    monitor.set_action("cancel the whole layer")
    QTest.mouseClick(view.cancel_button, Qt.MouseButton.LeftButton)
    settle(300)

    # -- Units: every channel's centre unit, in batches -----------------------------------
    units = getattr(view, "unit_gallery", None)
    painted = None
    if units is not None:
        monitor.set_action(f"paint every unit of {args.layer} (Units tab)")
        click_tab(view.side_tabs, "Units")
        QTest.mouseClick(units.paint_button, Qt.MouseButton.LeftButton)
        deadline = time.monotonic() + args.gallery_seconds
        wait_until(lambda: not units.is_painting() or time.monotonic() > deadline, "units")
        painted = units.list.count()
        monitor.set_action("cancel painting the units")
        QTest.mouseClick(units.cancel_button, Qt.MouseButton.LeftButton)
        settle(300)
    monitor.stop()
    window.close()

    # -- report ---------------------------------------------------------------------------
    print(
        f"window {width}x{height}; exported {sizes}; whole layer of {args.layer}: "
        f"{made} pictures after {args.gallery_seconds:g} s, {made_after} after the switches"
        + ("" if painted is None else f"; Units: {painted} painted")
    )
    print(
        f"{monitor.ticks} ticks of {TICK_MS} ms; stalls of {KEEP_MS:g} ms or more: "
        f"{len(monitor.stalls)}"
    )
    print("longest stall of each action (ms):")
    for action, ms in monitor.longest.items():
        note = "  (start-up, not counted)" if action in monitor.uncounted else ""
        print(f"  {ms:8.1f}  {action}{note}")
    stalls = sorted(monitor.counted_stalls(), key=lambda s: -s.ms)
    print("top 5 stalls:")
    for s in stalls[:5]:
        print(f"  {s.ms:8.1f} ms  {s.action}  (UI thread's own CPU time in it: {s.cpu_ms:.0f} ms)")
    print("where the UI thread was in each stall over 100 ms (start-up too):")
    for s in sorted(monitor.stalls, key=lambda s: -s.ms):
        if s.ms <= 100:
            break
        print(
            f"  {s.ms:.0f} ms, {s.action}: the UI thread computed {s.cpu_ms:.0f} ms of it "
            "(the rest it waited for the GIL or for a core)"
        )
        for line in where(s):
            print(line)
    print(f"load average (1, 5, 15 min) at the end: {os.getloadavg()} on {os.cpu_count()} CPUs")
    if stalls:
        print(f"ui stalls: longest {stalls[0].ms:.0f} ms ({stalls[0].action})")
    else:
        longest = max(
            ((ms, a) for a, ms in monitor.longest.items() if a not in monitor.uncounted),
            default=(0.0, "none"),
        )
        print(f"ui stalls: longest {longest[0]:.0f} ms ({longest[1]})")
    app.quit()


if __name__ == "__main__":
    main()
