"""Activation probe cost and layer-switch redraw time, VGG16 and ResNet50 at 224x224.

Random weights (no download needed). Prints medians:
- one plain forward pass (the model called through a compiled tf.function, the same way
  the probe is called; and model.predict for reference);
- ``ActivationProbe.run`` (every layer's output in one pass) and its ratio to the pass;
- building the mosaic of the largest layer;
- the Activations panel redrawing a 512-map layer after a click (offscreen Qt).

    .venv/bin/python bench/activations.py [--runs 7]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
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


def interleaved(a, b) -> tuple[float, float]:
    a(), b()
    t0 = time.perf_counter()
    a()
    t1 = time.perf_counter()
    b()
    t2 = time.perf_counter()
    return t1 - t0, t2 - t1


def bench_model(key: str, runs: int) -> None:
    import tensorflow as tf

    from engine.activations import ActivationProbe
    from engine.mosaic import tile_maps
    from engine.zoo import load_zoo_model

    loaded = load_zoo_model(key, weights=None)
    model = loaded.model
    x = loaded.preprocess(np.random.default_rng(0).integers(0, 255, (224, 224, 3), np.uint8))
    batch = x[None]
    plain = tf.function(lambda t: model(t, training=False))
    probe = ActivationProbe(model)
    # Interleaved, so both see the same machine load (the cores are shared and noisy).
    pairs = [
        interleaved(lambda: np.asarray(plain(batch)), lambda: probe.run(x)) for _ in range(runs)
    ]
    forward = statistics.median(p[0] for p in pairs)
    probed = statistics.median(p[1] for p in pairs)
    ratio = statistics.median(p[1] / p[0] for p in pairs)
    predict = median_s(lambda: model.predict(batch, verbose=0), runs)
    acts = probe.run(x)
    largest = max((a for a in acts.values() if a.ndim == 3), key=lambda a: a.size)
    mosaic = median_s(lambda: tile_maps(largest), runs)
    print(f"{loaded.title}, 224x224, random weights, median of {runs}:")
    print(f"  forward pass (compiled call):  {forward * 1000:8.1f} ms")
    print(f"  model.predict:                 {predict * 1000:8.1f} ms")
    print(
        f"  probe.run (all {len(acts)} layers):   {probed * 1000:8.1f} ms"
        f"   ratio probe/forward {ratio:4.2f}x (median of interleaved pairs; goal <= 1.10x)"
    )
    print(f"  mosaic of the largest layer {largest.shape}: {mosaic * 1000:6.1f} ms")


def bench_layer_switch(runs: int) -> None:
    from PySide6.QtCore import QEventLoop
    from PySide6.QtWidgets import QApplication

    import gui  # noqa: F401
    from engine.runtime import load_tensorflow
    from engine.zoo import VGG16
    from gui.panels.activations import ActivationsPanel
    from gui.workers import WorkerRunner

    app = QApplication.instance() or QApplication([])
    load_tensorflow()
    runner = WorkerRunner()
    panel = ActivationsPanel(runner)
    panel.resize(1300, 850)
    panel.show()
    loop = QEventLoop()
    panel.activations_ready.connect(lambda _c: loop.quit())
    panel._tf_ready = True
    panel.load_model(VGG16, None)
    loop.exec()
    names = ["block5_conv1", "block5_conv3"]

    count = [0]

    def switch():
        count[0] += 1
        panel.show_layer(names[count[0] % 2])
        panel.grid_view.repaint()
        app.processEvents()

    t = median_s(switch, runs * 2)
    print(
        f"Activations panel, switch between two 512-map layers of VGG16 and repaint: "
        f"median {t * 1000:.1f} ms (goal < 100 ms)"
    )
    runner.shutdown()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    for key in ("vgg16", "resnet50"):
        bench_model(key, args.runs)
    bench_layer_switch(args.runs)


if __name__ == "__main__":
    main()
