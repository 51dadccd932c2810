"""Responsiveness: a new input's activations, idle and while batch work runs (issue 19).

Through the real application state and Activations panel (Qt offscreen, settings and
picture cache in a temporary ``FME_DATA_DIR``), on VGG16 with random weights (no
download) at 224x224: the time from ``state.set_input(...)`` of a new image (a crop of a
shipped photo or random noise, a different one each time) to

- its activations delivered (``activations_changed`` with that input's ``Activations``;
  timed in a slot connected before the panel's, so the panel's drawing is not counted);
- the panel's grid drawn for it (``layer_shown``, emitted once the mosaic is set).

Three loads, ``--inputs`` inputs each, medians:

(a) idle;
(b) feature visualisation: a picture of VGG16's ``--fv-layer`` channel 3 forming, started
    as a person does (the "What it wants" tab shown, the layer and the channel
    selected: the view asks for the picture itself, a BATCH request whose yield points
    are ``maximize``'s steps; ``--fv-steps`` steps, so it never ends while measured);
(c) a test-set run and an ablation order, BATCH requests on the model thread made here
    directly, each started again when it ends: ``engine.editing.surgery.evaluate`` of the
    MNIST CNN on the 500 shipped test digits, and ``engine.editing.surgery.ablation_effect``
    of VGG16's ``--ablation-layer`` for the current input's top class (the TriageBar's
    call, default batch), both with the task's ``progress`` and ``cancelled``. The time
    between two yield points of these jobs (a slice) is printed too.

Last line: ``responsiveness: new input idle X ms, under batch load Y ms, ratio R``, Y the
median of the heavier load (b or c), R = Y / X (goal R <= 1.5).

    .venv/bin/python bench/responsiveness.py [--inputs 7] [--pause 0.5]

About 1.5 minutes on 2 shared CPU cores.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
_DATA = tempfile.TemporaryDirectory(prefix="fme-bench-")
os.environ["FME_DATA_DIR"] = _DATA.name  # settings and the picture cache: the bench's own
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
from PySide6.QtCore import Qt, qInstallMessageHandler  # noqa: E402
from PySide6.QtTest import QTest  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from bench.harness import click_tab, quiet_qt, wait_ms, wait_until  # noqa: E402

TIMEOUT_S = 300.0


def new_images(n: int, seed: int) -> list[tuple[np.ndarray, str]]:
    """``n`` different images: random crops (mirrored at random) of the shipped photos,
    every other one random noise."""
    from engine.imaging.images import load_image
    from engine.util.paths import sample_images

    rng = np.random.default_rng(seed)
    photos = [(name, load_image(path)) for name, path in sample_images().items()]
    images = []
    for i in range(n):
        if i % 2:
            noise = rng.integers(0, 256, (256, 256, 3), dtype=np.uint8)
            images.append((noise, f"noise-{seed}-{i}.png"))
            continue
        name, photo = photos[(i // 2) % len(photos)]
        h, w = photo.shape[:2]
        ch, cw = int(h * rng.uniform(0.6, 0.95)), int(w * rng.uniform(0.6, 0.95))
        top, left = rng.integers(0, h - ch + 1), rng.integers(0, w - cw + 1)
        crop = photo[top : top + ch, left : left + cw]
        if rng.random() < 0.5:
            crop = crop[:, ::-1]
        images.append((np.ascontiguousarray(crop), f"{name}-crop-{seed}-{i}.png"))
    return images


class Clock:
    """When the current input's activations arrived and its grid was drawn."""

    def __init__(self, state) -> None:
        self.state = state
        self.delivered: dict[int, float] = {}
        self.drawn: dict[int, float] = {}

    def on_activations(self, acts) -> None:
        if acts is not None:
            self.delivered.setdefault(acts.input.serial, time.perf_counter())

    def on_layer_shown(self, _layer: str) -> None:
        acts = self.state.activations
        if acts is not None:
            self.drawn.setdefault(acts.input.serial, time.perf_counter())


def measure(state, clock: Clock, images, pause_s: float, label: str) -> list[tuple[float, float]]:
    """Set each image as the input; (ms to activations, ms to the grid) of each."""
    from gui.state import InputKind

    rng = np.random.default_rng(len(label))
    out = []
    for pixels, name in images:
        t = time.perf_counter()
        state.set_input(pixels, InputKind.FILE, name)
        serial = state.input.serial
        wait_until(lambda s=serial: s in clock.delivered and s in clock.drawn, f"{label} {name}")
        out.append(((clock.delivered[serial] - t) * 1e3, (clock.drawn[serial] - t) * 1e3))
        print(f"  {label:<14} {name:<28} {out[-1][0]:8.0f} ms {out[-1][1]:8.0f} ms", flush=True)
        # A pause of random length, so the next input meets the batch work at any point
        # of its slice (a fixed one would lock onto the slices' rhythm).
        wait_ms(int(pause_s * rng.uniform(0.5, 2.5) * 1000))
    return out


class Repeating:
    """A BATCH request started again each time it ends, until ``stop``; records the
    seconds between two of its yield points (``progress`` or ``cancelled`` calls)."""

    def __init__(self, state, name: str, work) -> None:
        self.state, self.name, self.work = state, name, work
        self.running = True
        self.ticket = None
        self.runs = 0
        self.gaps: list[float] = []
        self._last: float | None = None
        self.errors: list[BaseException] = []
        self._start()

    def _mark(self) -> None:
        now = time.perf_counter()
        if self._last is not None:
            self.gaps.append(now - self._last)
        self._last = now

    def _start(self) -> None:
        from gui.scheduler import Priority

        def job(task):
            self._last = time.perf_counter()

            def progress(fraction: float, message: str = "") -> None:
                self._mark()
                task.progress(fraction, message)
                self._last = time.perf_counter()  # the yield point's own work is not a slice

            def cancelled() -> bool:
                self._mark()
                stop = task.cancelled()
                self._last = time.perf_counter()
                return stop

            try:
                return self.work(progress, cancelled)
            finally:
                self._last = None

        self.ticket = self.state.request(
            job,
            priority=Priority.BATCH,
            on_result=lambda _r: self._ended(),
            on_failed=self._failed,
        )

    def _ended(self) -> None:
        self.runs += 1
        if self.running:
            self._start()

    def _failed(self, exc: BaseException) -> None:
        if not isinstance(exc, InterruptedError):
            self.errors.append(exc)
            self.running = False  # a failure is not load: say it, do not start it again
        self._ended()

    def stop(self) -> None:
        self.running = False
        if self.ticket is not None:
            self.ticket.cancel()

    def slices(self) -> str:
        gaps = [g * 1e3 for g in self.gaps if g > 0.001]
        if not gaps:
            return f"{self.name}: no slice measured"
        return (
            f"{self.name}: {self.runs} runs, slices between yield points: median "
            f"{statistics.median(gaps):.0f} ms, longest {max(gaps):.0f} ms ({len(gaps)} slices)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inputs", type=int, default=7, help="new inputs per load")
    parser.add_argument(
        "--pause", type=float, default=0.5, help="seconds between inputs (times 0.5 to 2.5)"
    )
    parser.add_argument("--fv-layer", default="block5_conv3")
    parser.add_argument("--fv-steps", type=int, default=4096)
    parser.add_argument("--ablation-layer", default="block5_conv3")
    args = parser.parse_args()

    qInstallMessageHandler(quiet_qt)
    app = QApplication([])
    from gui.settings import configure_settings

    configure_settings()
    import gui  # noqa: F401  (pyqtgraph bound to PySide6)
    from engine.editing.surgery import ablation_effect, evaluate
    from engine.models.mnist_data import bundled_test_digits
    from gui.panels.activations.panel import ActivationsPanel
    from gui.state import AppState
    from gui.workers import WorkerRunner

    runner = WorkerRunner()
    state = AppState(runner)
    clock = Clock(state)
    state.activations_changed.connect(clock.on_activations)  # before the panel's slot
    panel = ActivationsPanel(state)
    panel.layer_shown.connect(clock.on_layer_shown)
    panel.resize(1300, 850)
    panel.show()
    QTest.qWaitForWindowExposed(panel)

    t = time.perf_counter()
    state.start_tensorflow()
    wait_until(lambda: state.activations is not None and not state.busy(), "the MNIST CNN")
    state.open_model("vgg16", None)
    wait_until(
        lambda: (
            state.activations is not None
            and state.activations.model.key == "vgg16"
            and not state.busy()
        ),
        "VGG16",
    )
    print(
        f"TensorFlow, the MNIST CNN and VGG16 (untrained) ready in {time.perf_counter() - t:.1f} s"
    )
    # A warm-up input: the first predictions trace and allocate.
    measure(state, clock, new_images(2, seed=99), args.pause, "warm-up")

    print(f"{'load':<16} {'input':<28} {'to maps':>11} {'to grid':>11}")
    results: dict[str, list[tuple[float, float]]] = {}
    results["idle"] = measure(state, clock, new_images(args.inputs, 1), args.pause, "idle")

    # (b) A picture forming, started in the "What it wants" tab as a person does.
    view = panel.featurevis_view
    click_tab(panel.tabs, "What it wants")
    view.steps_spin.setValue(args.fv_steps)  # typed in: the picture outlasts the bench
    state.select_layer(args.fv_layer)  # as a click in the layer list
    state.select_map(3)  # as a click on map 3: the tab makes its picture at once
    wait_until(lambda: view.progress.value() > 0, "the picture to start forming")
    label = f"featurevis {args.fv_layer}"
    results[label] = measure(state, clock, new_images(args.inputs, 2), args.pause, "featurevis")
    forming = view.progress_label.text()
    QTest.mouseClick(view.cancel_button, Qt.MouseButton.LeftButton)
    wait_until(lambda: not runner.busy(), "the picture to stop")
    print(f"  (the picture when stopped: {forming})")
    click_tab(panel.tabs, "All maps")
    state.select_layer("block1_conv1")

    # (c) A test-set run and an ablation order, BATCH requests started again and again.
    mnist = state.models["mnist"]
    x, y = bundled_test_digits()
    acts = state.activations
    vgg = acts.model
    c = int(np.argmax(acts.output))
    test_set = Repeating(
        state,
        "test set (MNIST CNN, 500 digits)",
        lambda progress, cancelled: evaluate(
            mnist.loaded.model, x, y, progress=progress, cancelled=cancelled
        ),
    )
    ablation = Repeating(
        state,
        f"ablation order (VGG16 {args.ablation_layer})",
        lambda progress, cancelled: ablation_effect(
            vgg.loaded.model,
            args.ablation_layer,
            acts.x[None],
            c,
            progress=progress,
            cancelled=cancelled,
        ),
    )
    wait_until(
        lambda: len(ablation.gaps) >= 2 or ablation.errors or test_set.errors,
        "the ablation order to start",
    )
    for job in (test_set, ablation):
        if job.errors:
            raise RuntimeError(f"{job.name} failed") from job.errors[0]
    label = f"test set + ablation {args.ablation_layer}"
    results[label] = measure(state, clock, new_images(args.inputs, 3), args.pause, "test+ablation")
    for job in (test_set, ablation):
        job.stop()
    wait_until(lambda: not runner.busy(), "the batch work to stop")
    for job in (test_set, ablation):
        print(f"  {job.slices()}")
        for exc in job.errors:
            print(f"  {job.name} failed: {type(exc).__name__}: {exc}")

    runner.shutdown()
    print()
    print(f"load average (1, 5, 15 min) at the end: {os.getloadavg()} on {os.cpu_count()} CPUs")
    print(f"VGG16 (untrained) 224x224, {args.inputs} new inputs per load, medians:")
    print(f"{'load':<40} {'to activations':>15} {'to grid drawn':>15} {'ratio':>7}")
    idle = statistics.median(m for m, _ in results["idle"])
    medians = {}
    for name, values in results.items():
        to_maps = statistics.median(m for m, _ in values)
        to_grid = statistics.median(g for _, g in values)
        medians[name] = to_maps
        print(f"{name:<40} {to_maps:12.0f} ms {to_grid:12.0f} ms {to_maps / idle:6.2f}x")
    loaded = {k: v for k, v in medians.items() if k != "idle"}
    heaviest = max(loaded, key=loaded.get)
    y_ms = loaded[heaviest]
    print(
        f"heaviest load: {heaviest}; worst single input under load: "
        f"{max(m for k, v in results.items() if k != 'idle' for m, _ in v):.0f} ms"
    )
    print(
        f"responsiveness: new input idle {idle:.0f} ms, under batch load {y_ms:.0f} ms, "
        f"ratio {y_ms / idle:.2f}"
    )
    app.quit()


if __name__ == "__main__":
    main()
