"""Activation probe cost and layer-switch redraw time, VGG16 and ResNet50 at 224x224.

Random weights (no download needed). Prints medians, measured in interleaved rounds so
that every figure of a round sees the same machine load (the cores are shared, noisy):
- one plain forward pass (the model called through a compiled tf.function, the same way
  the probe is called; and model.predict for reference);
- ``ActivationProbe.run`` (every layer's output from one pass; BatchNormalization and
  ReLU layers are computed in numpy when first read) and its ratio to the pass;
- ``run`` followed by reading every layer (so the numpy-derived ones are computed too),
  and its ratio: what ``dict(probe.run(x))`` costs;
- for reference, every layer an output of the one graph (nothing derived in numpy);
- building the mosaic of the largest layer;
- the Activations panel redrawing a 512-map layer after a click (offscreen Qt).

    .venv/bin/python bench/activations.py [--runs 15]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def median_s(fn, runs: int) -> float:
    fn()
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def interleaved(fns: list[Callable[[], object]], runs: int) -> list[list[float]]:
    """Seconds of each function in each of ``runs`` rounds; every round runs them all."""
    for fn in fns:  # warm up: tracing, first allocations
        fn()
        fn()
    rounds = []
    for _ in range(runs):
        times = []
        for fn in fns:
            t = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t)
        rounds.append(times)
    return rounds


def bench_model(key: str, runs: int) -> None:
    import keras
    import tensorflow as tf

    from engine.imaging.mosaic import tile_maps
    from engine.inspection.activations import ActivationProbe
    from engine.models.zoo import load_zoo_model

    loaded = load_zoo_model(key, weights=None)
    model = loaded.model
    rng = np.random.default_rng(0)
    x = loaded.prepare(rng.integers(0, 255, (224, 224, 3), np.uint8))
    batch = x[None]
    plain = tf.function(lambda t: model(t, training=False))
    probe = ActivationProbe(model)
    # For reference: every layer an output of the one graph, nothing derived in numpy.
    every = keras.Model(model.inputs[0], [model.get_layer(n).output for n in probe.layer_names])
    every_call = tf.function(lambda t: every(t, training=False))
    rounds = interleaved(
        [
            lambda: np.asarray(plain(batch)),
            lambda: probe.run(x),
            lambda: [a.shape for a in probe.run(x).values()],
            lambda: [np.asarray(a)[0] for a in every_call(batch)],
        ],
        runs,
    )
    forward, probed, read_all, graph_all = (
        statistics.median(r[i] for r in rounds) for i in range(4)
    )
    ratio, ratio_all, ratio_graph = (
        statistics.median(r[i] / r[0] for r in rounds) for i in (1, 2, 3)
    )
    predict = median_s(lambda: model.predict(batch, verbose=0), runs)
    acts = dict(probe.run(x))
    largest = max((a for a in acts.values() if a.ndim == 3), key=lambda a: a.size)
    mosaic = median_s(lambda: tile_maps(largest), runs)
    n, d = len(acts), len(probe.derived)
    print(f"{loaded.title}, 224x224, random weights, median of {runs} interleaved rounds:")
    print(f"  forward pass (compiled call):    {forward * 1000:8.1f} ms")
    print(f"  model.predict:                   {predict * 1000:8.1f} ms")
    print(
        f"  probe.run (all {n} layers, {d} derived when read): {probed * 1000:8.1f} ms"
        f"   ratio probe/forward {ratio:4.2f}x (goal <= 1.10x)"
    )
    print(
        f"  probe.run, then every layer read: {read_all * 1000:8.1f} ms   ratio {ratio_all:4.2f}x"
    )
    print(
        f"  every layer a graph output (reference, nothing derived): {graph_all * 1000:8.1f} ms"
        f"   ratio {ratio_graph:4.2f}x"
    )
    print(f"  mosaic of the largest layer {largest.shape}: {mosaic * 1000:6.1f} ms")


def bench_layer_switch(runs: int) -> None:
    """Click every layer of VGG16 and ResNet50 in the real panel (offscreen), in order,
    the first time each is shown (numpy-derived layers computed then), and repaint."""
    from PySide6.QtWidgets import QApplication

    import gui  # noqa: F401  (binds pyqtgraph to PySide6)
    from engine.models.zoo import RESNET50, VGG16
    from gui.panels.activations.panel import ActivationsPanel
    from gui.state import AppState, InputKind
    from gui.workers import WorkerRunner

    app = QApplication.instance() or QApplication([])
    runner = WorkerRunner()
    state = AppState(runner)
    panel = ActivationsPanel(state)
    panel.resize(1300, 850)
    panel.show()

    def wait_for(condition: Callable[[], bool], what: str, timeout_s: float = 600) -> None:
        deadline = time.monotonic() + timeout_s
        while not condition():
            if time.monotonic() > deadline:
                raise TimeoutError(f"{what} took more than {timeout_s:.0f} s")
            app.processEvents()
            time.sleep(0.005)

    state.start_tensorflow()
    wait_for(lambda: state.tensorflow_version is not None, "importing TensorFlow")
    image = np.random.default_rng(0).integers(0, 255, (224, 224, 3), np.uint8)
    state.set_input(image, InputKind.SAMPLE, "bench")
    for key in (VGG16, RESNET50):
        state.open_model(key, None)
        wait_for(
            lambda key=key: (
                state.activations is not None and state.model.key == key and not state.busy()
            ),
            f"{key}'s activations",
        )
        times: list[tuple[float, str]] = []
        for name in state.model.probe.layer_names:
            t = time.perf_counter()
            state.select_layer(name)
            panel.grid_view.repaint()
            panel.unit_bars.repaint()
            app.processEvents()
            times.append((time.perf_counter() - t, name))
        ms = sorted(times, reverse=True)
        worst = ", ".join(f"{n} {s * 1000:.0f} ms" for s, n in ms[:3])
        print(
            f"Activations panel, {key}: a click on each of its {len(times)} layers, shown "
            f"and repainted: median {statistics.median(s for s, _ in times) * 1000:.1f} ms, "
            f"max {ms[0][0] * 1000:.1f} ms (goal <= 100 ms); slowest: {worst}"
        )
        names = (
            ["block5_conv1", "block5_conv3"]
            if key == VGG16
            else ["conv4_block6_out", "conv5_block3_out"]
        )
        count = [0]

        def switch(names=names, count=count):
            count[0] += 1
            state.select_layer(names[count[0] % 2])
            panel.grid_view.repaint()
            app.processEvents()

        t = median_s(switch, runs * 2)
        print(f"  back and forth between {names[0]} and {names[1]}: median {t * 1000:.1f} ms")
    runner.shutdown()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    for key in ("vgg16", "resnet50"):
        bench_model(key, args.runs)
    try:
        bench_layer_switch(args.runs)
    except Exception as exc:  # the panel is another module's; say so, keep the figures above
        print(f"layer switch not measured: {type(exc).__name__}: {exc}")


if __name__ == "__main__":
    main()
