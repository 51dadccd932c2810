"""Memory over a session: live video with heat maps, then layer clicks (issue 19).

Through the real application state and Activations panel (Qt offscreen, settings in a
temporary ``FME_DATA_DIR``, the result budget at its default):

0. warm-up: ResNet50 opened untrained (no download), its heat map made in the Explain
   tab, ``--warm-clicks`` of its layers clicked, then the MNIST CNN made current again:
   the weights of both models and the first allocations of the code paths measured
   later (TensorFlow's traced Grad-CAM of ResNet50: 40-60 MB, once per model) are in
   before the first reading; a model's weights and a tool's first use are what
   opening and using it cost, not growth;
1. ``--minutes`` of live input from a generated video (640x480 MJPG at ``--fps``, a
   moving bar and disc on noise, looping; streamed by the panel's ``LiveInput`` as a
   video file chosen there is) into the lecture's MNIST CNN, with the Explain tab shown,
   so a heat map (Grad-CAM, the default) is asked for every frame;
2. live input stopped, ResNet50 made current again (the last frame is its input), the
   All maps tab shown and ``--clicks`` clicks on its layers in the layer list (each
   layer in turn, as a person clicks a row), each waited for until its grid (or unit
   bars) is drawn.

The process's resident memory (``VmRSS`` of ``/proc/self/status``, after a
``gc.collect()``) is read after the first minute of video, every minute, after the
video and at the end; beside it the scheduler's cache (bytes held, budget, entries by
kind), the input pixels its results keep alive, and how many requests (``Ticket``) and
workers are still alive after the first minute and at the end. ``--tracemalloc`` also
traces Python allocations (numpy's arrays included) and prints the lines that grew most
between the first minute and the end (slower).

Last line: ``memory: rss after 1 min A MB, at the end B MB, growth C MB`` (goal C <= 50).

    .venv/bin/python bench/memory.py [--minutes 10] [--clicks 200] [--fps 25] [--tracemalloc]

About ``--minutes`` + 2 minutes on 2 shared CPU cores; at the defaults the process grew
to 8 GB here (see issue 19), so leave room.
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
_DATA = tempfile.TemporaryDirectory(prefix="fme-bench-")
os.environ["FME_DATA_DIR"] = _DATA.name  # settings: the bench's own, defaults
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
from PySide6.QtCore import qInstallMessageHandler  # noqa: E402
from PySide6.QtTest import QTest  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from bench.harness import click_tab, quiet_qt, show_layer, wait_ms, wait_until, write_video  # noqa: E402

TIMEOUT_S = 300.0


def rss_mb() -> float:
    """Resident memory of this process in MB (after a garbage collection)."""
    gc.collect()
    try:
        import psutil

        return psutil.Process().memory_info().rss / 2**20
    except ImportError:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    raise OSError("no VmRSS in /proc/self/status")


def cache_line(state) -> str:
    cache = state.scheduler.cache
    kinds = Counter(k[0] if isinstance(k, tuple) and k else type(k).__name__ for k in cache.keys())
    parts = ", ".join(f"{kind} {n}" for kind, n in kinds.most_common())
    return (
        f"cache {cache.nbytes / 2**20:.1f} MB of a {cache.budget / 2**20:.0f} MB budget, "
        f"{len(cache)} results ({parts})"
    )


def held_inputs_mb(state) -> float:
    """MB of input pixels the cached results keep alive (the cache does not count
    them: ``InputImage`` is a shared type for its sizer)."""
    from gui.state import InputImage

    seen: dict[int, int] = {}
    for key in state.scheduler.cache.keys():
        value = state.scheduler.cache._items[key][0]  # noqa: SLF001  (a look, not a use)
        image = getattr(value, "input", None)
        if isinstance(image, InputImage) and isinstance(image.pixels, np.ndarray):
            seen[id(image)] = image.pixels.nbytes
    return sum(seen.values()) / 2**20


def requests_alive() -> str:
    """How many of the scheduler's requests (``Ticket``) and the runner's workers
    (``Worker``) are still alive: after a ``gc.collect()`` only those still referenced."""
    from gui.scheduler import Ticket
    from gui.workers import Worker

    gc.collect()
    objects = gc.get_objects()
    tickets = sum(isinstance(o, Ticket) for o in objects)
    workers = sum(isinstance(o, Worker) for o in objects)
    return f"{tickets} requests (Ticket) and {workers} workers (Worker) alive"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="minutes of live video")
    parser.add_argument("--clicks", type=int, default=200, help="layer clicks on ResNet50")
    parser.add_argument(
        "--warm-clicks", type=int, default=10, help="layer clicks on ResNet50 in the warm-up"
    )
    parser.add_argument("--fps", type=float, default=25.0, help="the video's frame rate")
    parser.add_argument("--tracemalloc", action="store_true", help="trace Python allocations")
    args = parser.parse_args()
    if args.minutes < 1:
        parser.error("--minutes must be at least 1 (the first reading is after 1 minute)")

    qInstallMessageHandler(quiet_qt)
    app = QApplication([])
    from gui.settings import configure_settings

    configure_settings()
    import gui  # noqa: F401  (pyqtgraph bound to PySide6)
    from gui.panels.activations.panel import ActivationsPanel
    from gui.state import AppState, InputKind
    from gui.workers import WorkerRunner

    runner = WorkerRunner()
    state = AppState(runner)
    panel = ActivationsPanel(state)
    panel.resize(1300, 850)
    panel.show()
    QTest.qWaitForWindowExposed(panel)
    state.start_tensorflow()
    wait_until(lambda: state.activations is not None and not state.busy(), "the MNIST CNN")
    tree = panel.layer_table

    def open_current(key: str) -> None:
        state.open_model(key, None)
        wait_until(
            lambda: (
                state.activations is not None
                and state.activations.model.key == key
                and not state.busy()
            ),
            key,
        )

    def click_layers(n: int) -> None:
        names = [info.name for info in tree.layers()]
        for i in range(n):
            show_layer(panel, state, names[(i + 1) % len(names)])
            wait_ms(10)

    # 0. Warm-up: both models' weights in, the code paths run once. ResNet50 with the
    # Explain tab shown too, as in phase 2 (Explain is still the tab shown when ResNet50
    # comes back): its Grad-CAM, traced once, is 40-60 MB of TensorFlow's that stay
    # with the model (measured: without this, the growth jumped by that much at
    # whichever click the heat map was done).
    open_current("resnet50")
    click_tab(panel.tabs, "Explain")
    explain = panel.explain_view
    wait_until(
        lambda: not explain.is_computing() and not runner.busy() and not state.busy(),
        "ResNet50's heat map",
        600,
    )
    click_tab(panel.tabs, "All maps")
    click_layers(args.warm_clicks)
    open_current("mnist")
    click_tab(panel.tabs, "Explain")
    print(
        f"start (ResNet50 opened and put back): rss {rss_mb():.0f} MB; {cache_line(state)}",
        flush=True,
    )
    if args.tracemalloc:  # from here: tracing TensorFlow's import would take minutes
        import tracemalloc

        tracemalloc.start(4)

    # 1. Live video into the MNIST CNN, the Explain tab shown.
    video = write_video(Path(_DATA.name) / "bench.avi", n=200, fps=args.fps)
    frames: list[int] = []
    state.activations_changed.connect(
        lambda a: a is not None and a.input.kind is InputKind.LIVE and frames.append(1)
    )
    live = panel.live
    live.start_video(video)
    t0 = time.monotonic()
    first = None
    snapshot = None
    minute = 1
    end = t0 + args.minutes * 60
    print(f"{'time':>8} {'frames':>7} {'rss MB':>8}  cache")
    while time.monotonic() < end:
        wait_ms(200)
        if not live.is_live():
            raise RuntimeError(f"live input stopped by itself: {live.status_text()}")
        if time.monotonic() - t0 >= minute * 60:
            rss = rss_mb()
            print(f"{minute:6d} m {len(frames):7d} {rss:8.0f}  {cache_line(state)}", flush=True)
            if minute == 1:
                first = rss
                print(f"         {requests_alive()}", flush=True)
                if args.tracemalloc:
                    snapshot = tracemalloc.take_snapshot()
            minute += 1
    counts = live.counts()
    status = live.status_text()
    live.stop()
    wait_until(lambda: not state.busy(), "the last frame")
    after_video = rss_mb()
    print(f"video: {status}")
    print(
        f"video: {len(frames)} frames shown in {args.minutes:g} min "
        f"({counts.read if counts else 0} read); rss {after_video:.0f} MB; {cache_line(state)}; "
        f"input pixels held by cached results (not counted by the cache): "
        f"{held_inputs_mb(state):.1f} MB",
        flush=True,
    )

    # 2. ResNet50 (untrained) current again, its layers clicked one after another.
    open_current("resnet50")
    click_tab(panel.tabs, "All maps")
    opened = rss_mb()  # one input's activations of ResNet50 are in by now
    names = [info.name for info in tree.layers()]
    t = time.monotonic()
    click_layers(args.clicks)
    print(
        f"clicks: {args.clicks} layer clicks on ResNet50 ({len(names)} layers) in "
        f"{time.monotonic() - t:.0f} s; {cache_line(state)}",
        flush=True,
    )
    last = rss_mb()
    print(f"at the end: {requests_alive()}")
    if args.tracemalloc and snapshot is not None:
        top = tracemalloc.take_snapshot().compare_to(snapshot, "lineno")
        print("tracemalloc: the lines that grew most from the first minute to the end:")
        for stat in top[:12]:
            print(f"  {stat}")
    print(f"load average (1, 5, 15 min) at the end: {os.getloadavg()} on {os.cpu_count()} CPUs")
    print(
        f"cache at the end: {state.scheduler.cache.nbytes / 2**20:.1f} MB held, "
        f"budget {state.scheduler.budget / 2**20:.0f} MB"
    )
    runner.shutdown()
    print(
        f"growth by phase: the video from 1 min to its end {after_video - first:+.0f} MB; "
        f"ResNet50 current again {opened - after_video:+.0f} MB (one input's "
        f"activations); its {args.clicks} clicks {last - opened:+.0f} MB"
    )
    print(
        f"memory: rss after 1 min {first:.0f} MB, at the end {last:.0f} MB, "
        f"growth {last - first:.0f} MB"
    )
    app.quit()


if __name__ == "__main__":
    main()
