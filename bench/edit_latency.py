"""Model surgery in the app: from an edit asked for to what the person sees.

Through the real application state and Draw panel (Qt offscreen), on the lecture's MNIST
CNN with a drawn digit as the current input:

- edit -> the Draw panel's new probabilities (``prediction_ready``): the edit runs on
  the model thread, the state swaps the edited model in, the panel reuses its compiled
  classifier (no rebuild) and classifies the drawing again; goal <= 30 ms;
- edit -> the Activations' new maps of every layer (``activations_changed``);
- the first edit apart: it clones the model once (``ModelEditor``) and traces a probe.

Each edit scales filter 0 of conv2d_1 by a factor that alternates, so every edit
changes the probabilities. Medians of ``--edits`` edits.

    .venv/bin/python bench/edit_latency.py [--edits 40]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
from PIL import Image, ImageDraw  # noqa: E402
from PySide6.QtCore import QCoreApplication, QEventLoop, QSettings, QTimer  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402


def seven_canvas() -> np.ndarray:
    canvas = Image.new("L", (280, 280), 0)
    ImageDraw.Draw(canvas).line(
        [(70, 60), (210, 60), (185, 115), (140, 240)], fill=255, width=20, joint="curve"
    )
    return np.asarray(canvas)


def wait_for(condition, timeout_s: float = 120.0) -> None:
    loop_deadline = time.perf_counter() + timeout_s
    while not condition():
        if time.perf_counter() > loop_deadline:
            raise TimeoutError("the app did not answer in time")
        QCoreApplication.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 5)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--edits", type=int, default=40)
    args = parser.parse_args()
    app = QApplication([])
    QCoreApplication.setOrganizationName("feature-map-explorer-bench")
    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    import gui  # noqa: F401  (pyqtgraph bound to PySide6)
    from engine.models.digits import prepare_digit
    from gui.panels.draw.panel import DrawPanel
    from gui.state import AppState
    from gui.workers import WorkerRunner

    runner = WorkerRunner()
    state = AppState(runner)
    draw = DrawPanel(state)
    draw.resize(1000, 700)
    ready = []
    draw.classifier_ready.connect(lambda: ready.append(True))
    state.start_tensorflow()
    wait_for(lambda: ready and state.model is not None)
    state.set_drawn_digit(prepare_digit(seven_canvas()))
    state.use_drawn_digit()
    wait_for(lambda: state.activations is not None and not state.busy())
    # The same 7 drawn on the Draw panel's canvas, as a person's stroke.
    draw.canvas.add_stroke([(70, 60), (210, 60), (185, 115), (140, 240)])
    predictions: list[float] = []
    draw.prediction_ready.connect(lambda _p: predictions.append(time.perf_counter()))
    wait_for(lambda: predictions)
    maps: list[float] = []
    state.activations_changed.connect(lambda a: a is not None and maps.append(time.perf_counter()))

    def one_edit(factor: float) -> tuple[float, float]:
        predictions.clear()
        maps.clear()
        n = len(state.edits("mnist"))
        t = time.perf_counter()
        state.scale_channel("mnist", "conv2d_1", 0, factor)
        wait_for(lambda: predictions and maps and len(state.edits("mnist")) == n + 1)
        return (predictions[0] - t) * 1000, (maps[0] - t) * 1000

    first = one_edit(0.5)
    to_probs, to_maps = [], []
    for i in range(args.edits):
        p, m = one_edit(2.0 if i % 2 == 0 else 0.5)
        to_probs.append(p)
        to_maps.append(m)
    state.revert_edits("mnist")
    wait_for(lambda: not state.edits("mnist") and not state.busy())
    QTimer.singleShot(0, app.quit)
    runner.shutdown()
    print(f"Model surgery in the app, lecture CNN, {args.edits} edits (median; first apart):")
    print(
        f"  edit -> Draw panel's new probabilities: {statistics.median(to_probs):6.1f} ms"
        f"   (first edit {first[0]:6.1f} ms: clones the model once)   goal <= 30 ms"
    )
    print(
        f"  edit -> new maps of every layer:        {statistics.median(to_maps):6.1f} ms"
        f"   (first edit {first[1]:6.1f} ms)"
    )


if __name__ == "__main__":
    main()
