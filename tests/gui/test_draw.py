"""The Draw panel: real mouse strokes are classified; training runs and cancels safely."""

import math

import numpy as np
import pytest
from PySide6.QtCore import Qt

from engine import mnist
from engine.runtime import load_tensorflow
from gui.panels.draw import DrawPanel
from gui.panels.train_dialog import FILE_SOURCE
from gui.workers import WorkerRunner

from .helpers import draw_stroke

TIMEOUT = 60_000


@pytest.fixture
def panel(qtbot):
    load_tensorflow()
    runner = WorkerRunner()
    p = DrawPanel(runner)
    qtbot.addWidget(p)
    p.show()
    qtbot.waitExposed(p)
    with qtbot.waitSignal(p.classifier_ready, timeout=TIMEOUT):
        p.start_loading()
    yield p
    runner.shutdown()


def scaled(panel, pts):
    s = panel.canvas.width() / 280
    return [(x * s, y * s) for x, y in pts]


ONE = [(140, 40), (140, 240)]
SEVEN = [(70, 60), (210, 60), (185, 115), (160, 175), (140, 240)]
ZERO = [(140 + 60 * math.sin(t), 140 - 95 * math.cos(t)) for t in np.linspace(0, 2 * math.pi, 24)]


@pytest.mark.parametrize(("strokes", "digit"), [([ONE], 1), ([SEVEN], 7), ([ZERO], 0)])
def test_drawn_digits_are_classified(qtbot, panel, strokes, digit):
    for stroke in strokes:
        draw_stroke(panel.canvas, scaled(panel, stroke))
    qtbot.waitUntil(
        lambda: panel.prediction() is not None and panel.prediction().probabilities is not None,
        timeout=TIMEOUT,
    )
    # the last prediction is of the whole drawing once the queue drains
    qtbot.waitUntil(
        lambda: np.array_equal(
            panel.prediction().input, mnist.preprocess_drawing(panel.canvas.ink())
        ),
        timeout=TIMEOUT,
    )
    pred = panel.prediction()
    assert pred.digit == digit, f"probabilities {np.round(pred.probabilities, 3)}"
    assert panel.guess_label.text().startswith(str(digit))
    np.testing.assert_allclose(panel.bars.probabilities(), pred.probabilities)
    assert pred.activations["conv2d_1"].shape == (26, 26, 32)
    assert pred.activations["conv2d_2"].shape == (24, 24, 64)


def test_undo_and_clear_by_keyboard(qtbot, panel):
    draw_stroke(panel.canvas, scaled(panel, ONE))
    draw_stroke(panel.canvas, scaled(panel, [(100, 150), (180, 150)]))
    assert panel.canvas.stroke_count() == 2
    panel.setFocus()
    qtbot.keyClick(panel, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert panel.canvas.stroke_count() == 1
    qtbot.keyClick(panel, Qt.Key.Key_Escape)
    assert panel.canvas.is_empty() and not panel.canvas.ink().any()
    qtbot.waitUntil(
        lambda: panel.prediction() is not None and panel.prediction().probabilities is None,
        timeout=TIMEOUT,
    )
    assert panel.guess_label.text() == "Draw a digit"


def test_summary_table_is_the_lectures(panel):
    rows = panel.summary_table.layers()
    assert [(r.type, r.output_shape, r.params) for r in rows] == list(mnist.LECTURE_SUMMARY)
    assert panel.summary_table.total_params() == mnist.LECTURE_TOTAL_PARAMS
    assert "1,199,882" in panel.total_label.text()


def test_training_through_the_dialog_reports_and_cancel_keeps_weights(qtbot, panel, mnist_npz):
    # Give the user a "last good" weights file first, and remember its bytes.
    good = mnist.user_weights_path()
    mnist.save_weights(panel.classifier().model, good)
    before = good.read_bytes()
    dialog = panel.open_train_dialog()
    qtbot.addWidget(dialog)
    dialog.path_edit.clear()
    qtbot.keyClicks(dialog.path_edit, str(mnist_npz))
    assert dialog.source_combo.currentText() == FILE_SOURCE
    dialog.epochs_spin.setValue(3)
    qtbot.mouseClick(dialog.start_button, Qt.MouseButton.LeftButton)
    assert not dialog.start_button.isEnabled() and dialog.cancel_button.isEnabled()
    qtbot.waitUntil(
        lambda: len([r for r in dialog.records() if r.kind == "batch"]) >= 3, timeout=TIMEOUT
    )
    assert dialog.progress_bar.value() > 0
    assert "about" in dialog.status_label.text() and "left" in dialog.status_label.text()
    batches = [r for r in dialog.records() if r.kind == "batch"]
    assert all(np.isfinite(r.loss) and 0 <= r.accuracy <= 1 for r in batches)
    with qtbot.waitSignal(dialog.cancel_button.clicked):
        qtbot.mouseClick(dialog.cancel_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dialog.start_button.isEnabled(), timeout=TIMEOUT)
    assert "Cancelled" in dialog.status_label.text()
    assert good.read_bytes() == before
    mnist.build_mnist_cnn(compile=False).load_weights(good)  # still loadable
    dialog.close()


def test_training_a_short_run_saves_weights_and_reloads(qtbot, panel, mnist_npz, tmp_path):
    dialog = panel.open_train_dialog()
    qtbot.addWidget(dialog)
    dialog.path_edit.setText(str(mnist_npz))
    dialog.source_combo.setCurrentText(FILE_SOURCE)
    dialog.epochs_spin.setValue(1)
    dialog.batch_spin.setValue(512)
    with qtbot.waitSignal(dialog.training_finished, timeout=240_000) as blocker:
        qtbot.mouseClick(dialog.start_button, Qt.MouseButton.LeftButton)
    result = blocker.args[0]
    assert not result.cancelled and result.weights_path == mnist.user_weights_path()
    assert 0.5 < result.test_accuracy <= 1.0
    assert mnist.weights_info().source == "yours"
    epochs = [r for r in dialog.records() if r.kind == "epoch"]
    assert len(epochs) == 1 and epochs[0].val_accuracy == pytest.approx(
        result.test_accuracy, abs=1e-6
    )
    with qtbot.waitSignal(panel.classifier_ready, timeout=TIMEOUT):
        pass
    assert "your trained weights" in panel.weights_label.text()
    dialog.close()


def test_a_missing_data_file_is_explained(qtbot, panel, tmp_path):
    dialog = panel.open_train_dialog()
    qtbot.addWidget(dialog)
    dialog.path_edit.setText(str(tmp_path / "nope.npz"))
    dialog.source_combo.setCurrentText(FILE_SOURCE)
    qtbot.mouseClick(dialog.start_button, Qt.MouseButton.LeftButton)
    assert dialog.message.is_error() and "does not exist" in dialog.message.text()
    assert dialog.start_button.isEnabled()
    dialog.close()
