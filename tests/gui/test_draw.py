"""The Draw panel: real mouse strokes are classified; training runs and cancels safely."""

import math

import numpy as np
import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QImage

from engine.models import digits, mnist_model
from engine.models.runtime import load_tensorflow
from gui.panels.draw.panel import DrawPanel
from gui.panels.draw.train_dialog import FILE_SOURCE

from .helpers import draw_stroke, pick

TIMEOUT = 60_000


@pytest.fixture
def panel(qtbot, app_state):
    load_tensorflow()
    p = DrawPanel(app_state)
    qtbot.addWidget(p)
    p.resize(1200, 800)
    p.show()
    qtbot.waitExposed(p)
    with qtbot.waitSignal(p.classifier_ready, timeout=TIMEOUT):
        app_state.start_tensorflow()
    return p


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
            panel.prediction().input.pixels, digits.preprocess_drawing(panel.canvas.ink())
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
    qtbot.keyClick(panel, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)  # undo the clear
    assert panel.canvas.stroke_count() == 1 and panel.canvas.ink().any()
    qtbot.keyClick(panel, Qt.Key.Key_Delete)
    assert panel.canvas.is_empty()
    qtbot.waitUntil(
        lambda: panel.prediction() is not None and panel.prediction().probabilities is None,
        timeout=TIMEOUT,
    )
    assert panel.guess_label.text() == "Draw a digit"


def test_summary_table_is_the_lectures(panel):
    rows = panel.summary_table.layers()
    assert [(r.type, r.output_shape, r.params) for r in rows] == list(mnist_model.LECTURE_SUMMARY)
    assert panel.summary_table.total_params() == mnist_model.LECTURE_TOTAL_PARAMS
    assert "1,199,882" in panel.total_label.text()


def test_training_through_the_dialog_reports_and_cancel_keeps_weights(qtbot, panel, mnist_npz):
    # Give the user a "last good" weights file first, and remember its bytes.
    good = mnist_model.user_weights_path()
    mnist_model.save_weights(panel.classifier().model, good)
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
    mnist_model.build_mnist_cnn(compile=False).load_weights(good)  # still loadable
    dialog.close()


def test_training_a_short_run_saves_weights_and_reloads(
    qtbot, panel, mnist_npz, tmp_path, _questions
):
    from PySide6.QtWidgets import QMessageBox

    _questions.answer(QMessageBox.StandardButton.Yes)  # worse than shipped: use it anyway
    dialog = panel.open_train_dialog()
    qtbot.addWidget(dialog)
    dialog.path_edit.setText(str(mnist_npz))
    dialog.source_combo.setCurrentText(FILE_SOURCE)
    dialog.epochs_spin.setValue(1)
    dialog.batch_spin.setValue(32)
    dialog.augment_check.setChecked(False)
    with qtbot.waitSignal(dialog.training_finished, timeout=240_000) as blocker:
        qtbot.mouseClick(dialog.start_button, Qt.MouseButton.LeftButton)
    result = blocker.args[0]
    assert not result.cancelled and result.weights_path.parent == mnist_model.weights_folder()
    assert 0.5 < result.test_accuracy <= 1.0
    assert mnist_model.weights_info().source == "yours"
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


def test_closing_the_dialog_during_a_run_asks_first(qtbot, panel, mnist_npz, monkeypatch):
    from PySide6.QtWidgets import QMessageBox

    dialog = panel.open_train_dialog()
    qtbot.addWidget(dialog)
    pick(qtbot, dialog.source_combo, FILE_SOURCE)
    dialog.path_edit.setText(str(mnist_npz))
    dialog.epochs_spin.setValue(3)
    qtbot.mouseClick(dialog.start_button, Qt.MouseButton.LeftButton)
    assert not dialog.browse_button.isEnabled()  # nothing to choose while it runs
    answers = [QMessageBox.StandardButton.No, QMessageBox.StandardButton.Yes]
    asked = []

    def question(*args, **kwargs):
        asked.append(args[2])
        return answers.pop(0)

    monkeypatch.setattr(QMessageBox, "question", question)
    qtbot.mouseClick(dialog.close_button, Qt.MouseButton.LeftButton)
    assert dialog.isVisible() and dialog.is_running() and "Stop it and close?" in asked[0]
    qtbot.mouseClick(dialog.close_button, Qt.MouseButton.LeftButton)
    assert not dialog.isVisible()
    qtbot.waitUntil(lambda: not dialog.is_running(), timeout=TIMEOUT)
    assert "Cancelled" in dialog.status_label.text() and dialog.browse_button.isEnabled()


def test_a_message_about_one_source_goes_when_switching(qtbot, panel, monkeypatch):
    import engine.models.mnist_data

    def offline():
        raise OSError("network is unreachable")

    monkeypatch.setattr("keras.datasets.mnist.load_data", offline)
    dialog = panel.open_train_dialog()
    qtbot.addWidget(dialog)
    pick(qtbot, dialog.source_combo, dialog.source_combo.itemText(0))  # Keras' download
    qtbot.mouseClick(dialog.start_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(dialog.message.is_error, timeout=TIMEOUT)
    assert "could not be downloaded" in dialog.message.text()
    assert str(engine.models.mnist_data.keras_mnist_cache()) in dialog.message.text()
    pick(qtbot, dialog.source_combo, FILE_SOURCE)
    assert not dialog.message.is_error() and dialog.message.text() == ""
    dialog.close()


def test_per_batch_curves_are_each_batch_own_value(qtbot, panel, small_mnist_npz, _questions):
    from PySide6.QtWidgets import QMessageBox

    _questions.answer(QMessageBox.StandardButton.Yes)
    dialog = panel.open_train_dialog()
    qtbot.addWidget(dialog)
    pick(qtbot, dialog.source_combo, FILE_SOURCE)
    dialog.path_edit.setText(str(small_mnist_npz))
    dialog.epochs_spin.setValue(2)
    dialog.batch_spin.setValue(30)  # 10 equal batches an epoch: the means invert exactly
    with qtbot.waitSignal(dialog.training_finished, timeout=240_000):
        qtbot.mouseClick(dialog.start_button, Qt.MouseButton.LeftButton)
    batches = [r for r in dialog.records() if r.kind == "batch"]
    epochs = [r for r in dialog.records() if r.kind == "epoch"]
    _, per_batch = dialog.loss_curve.getData()
    assert len(per_batch) == len(batches) == 20
    # The mean of an epoch's own batch losses is the epoch's running mean at its end.
    for e in (1, 2):
        own = per_batch[(e - 1) * 10 : e * 10]
        last = [r for r in batches if r.epoch == e][-1]
        assert float(np.mean(own)) == pytest.approx(last.loss, rel=1e-4)
    assert list(dialog.epoch_loss_curve.getData()[0]) == [1, 2]
    assert len(epochs) == 2


def test_the_drawing_shows_what_made_it(qtbot, panel):
    from engine.explanation.attribution import grad_cam

    box = panel.explain_check  # a person clicks the box itself, at its left end
    qtbot.mouseClick(box, Qt.MouseButton.LeftButton, pos=QPoint(8, box.height() // 2))
    assert box.isChecked()
    draw_stroke(panel.canvas, scaled(panel, SEVEN))
    qtbot.waitUntil(
        lambda: (
            panel.prediction() is not None
            and panel.prediction().digit == 7
            and panel.input_view.heat_data() is not None
            and np.array_equal(
                panel.prediction().input.pixels, digits.preprocess_drawing(panel.canvas.ink())
            )
        ),
        timeout=TIMEOUT,
    )
    x = panel.prediction().input.pixels[:, :, None]
    expected = grad_cam(panel.classifier().model, x, 7)
    np.testing.assert_allclose(panel.input_view.heat_data(), expected, atol=1e-5)
    # On the canvas itself too: the 28x28 map taken back through the crop, scale and shift.
    placement = digits.digit_placement(panel.canvas.ink())
    on_canvas = digits.digit_to_canvas(expected, placement)
    np.testing.assert_allclose(panel.canvas.heat_data(), on_canvas, atol=1e-4)
    shown = grabbed(panel.canvas)
    hot = np.unravel_index(np.argmax(on_canvas), on_canvas.shape)
    assert colourful(shown[hot]), shown[hot]  # a colour over the white and black drawing
    qtbot.mouseClick(box, Qt.MouseButton.LeftButton, pos=QPoint(8, box.height() // 2))
    qtbot.waitUntil(lambda: panel.input_view.heat_data() is None, timeout=TIMEOUT)
    assert panel.canvas.heat_data() is None
    assert not colourful(grabbed(panel.canvas)[hot])


def test_lenet5_and_the_lecture_cnn_side_by_side(qtbot, panel):
    from engine.models.mnist_model import LENET5

    pick(qtbot, panel.choice_combo, "Both, side by side")
    qtbot.waitUntil(lambda: LENET5 in panel._state.models, timeout=TIMEOUT)
    draw_stroke(panel.canvas, scaled(panel, SEVEN))
    qtbot.waitUntil(
        lambda: (
            panel.second_prediction() is not None
            and panel.second_prediction().probabilities is not None
            and np.array_equal(
                panel.second_prediction().input.pixels,
                digits.preprocess_drawing(panel.canvas.ink()),
            )
        ),
        timeout=TIMEOUT,
    )
    first, second = panel.prediction(), panel.second_prediction()
    assert first.digit == 7 and second.digit == 7
    assert panel.second_label.text().startswith("LeNet-5 (1998): 7")
    # LeNet-5 sees the same digit, padded by 2 to 32x32, as its own model computes it.
    lenet = panel._state.models[LENET5].network
    x = np.pad(first.input.pixels, 2)[None, :, :, None]
    np.testing.assert_allclose(second.probabilities, lenet(x).numpy()[0], atol=1e-5)
    np.testing.assert_allclose(panel.second_bars.probabilities(), second.probabilities)
    pick(qtbot, panel.choice_combo, "LeNet-5 (1998)")  # LeNet-5 alone: its maps, its table
    qtbot.waitUntil(lambda: panel.classifier().model is lenet, timeout=TIMEOUT)
    assert panel.summary_table.total_params() == 61_706
    assert panel.second_bars.isHidden()


def test_the_side_by_side_heading_is_not_cut(qtbot, panel):
    from PySide6.QtCore import QRect

    from engine.models.mnist_model import LENET5

    pick(qtbot, panel.choice_combo, "Both, side by side")
    qtbot.waitUntil(lambda: LENET5 in panel._state.models, timeout=TIMEOUT)
    panel.resize(1000, 800)  # the Prediction column about as wide as at 1600x1000
    draw_stroke(panel.canvas, scaled(panel, SEVEN))
    qtbot.waitUntil(
        lambda: panel.guess_label.text().startswith("The lecture's CNN: 7"), timeout=TIMEOUT
    )
    qtbot.wait(50)
    for label in (panel.guess_label, panel.second_label):
        room = label.contentsRect()
        needed = label.fontMetrics().boundingRect(
            QRect(0, 0, room.width(), 10_000), int(Qt.TextFlag.TextWordWrap), label.text()
        )
        assert needed.width() <= room.width() and needed.height() <= room.height(), (
            label.text(),
            needed,
            room,
        )


def test_every_run_is_kept_and_a_worse_one_asks_before_it_is_used(
    qtbot, panel, mnist_npz, monkeypatch
):
    from PySide6.QtWidgets import QMessageBox

    shipped = mnist_model.weights_info()
    assert shipped.source == "shipped" and panel.weights_combo.count() == 1
    asked = []

    def question(*args, **kwargs):
        asked.append(args[2])
        return QMessageBox.StandardButton.No

    monkeypatch.setattr(QMessageBox, "question", question)
    dialog = panel.open_train_dialog()
    qtbot.addWidget(dialog)
    pick(qtbot, dialog.source_combo, FILE_SOURCE)
    dialog.path_edit.setText(str(mnist_npz))
    dialog.epochs_spin.setValue(1)
    dialog.batch_spin.setValue(512)  # two steps: far worse than the shipped 98.6%
    qtbot.mouseClick(dialog.start_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dialog.start_button.isEnabled(), timeout=240_000)
    assert asked and "less than the 98" in asked[0]
    assert mnist_model.weights_info() == shipped  # "No": the weights in use stay
    assert "stay in use" in dialog.status_label.text()
    runs = mnist_model.list_weights()
    assert len(runs) == 2 and runs[1].source == "yours"  # but the run is kept
    dialog.close()
    assert panel.weights_combo.count() == 2  # the Model tab lists it at once
    old_model = panel.classifier().model
    pick(qtbot, panel.weights_combo, panel.weights_combo.itemText(1))
    assert mnist_model.weights_info().path == runs[1].path
    qtbot.waitUntil(lambda: panel.classifier().model is not old_model, timeout=TIMEOUT)
    assert panel._state.models["mnist"].network is panel.classifier().model


def grabbed(widget):
    """The widget as drawn on screen, (H, W, 3) uint8."""
    image = widget.grab().toImage().convertToFormat(QImage.Format.Format_RGB888)
    buf = np.frombuffer(image.constBits(), np.uint8).reshape(image.height(), image.bytesPerLine())
    return buf[:, : 3 * image.width()].reshape(image.height(), image.width(), 3).copy()


def colourful(rgb) -> bool:
    """Not a grey: its channels differ."""
    return int(np.ptp(np.asarray(rgb, dtype=int))) > 30


def test_covered_parts_are_tinted_over_ink_and_paper_and_the_model_gets_black(qtbot, panel):
    draw_stroke(panel.canvas, scaled(panel, ONE))  # a stroke down the middle, x = 140
    qtbot.mouseClick(panel.cover_button, Qt.MouseButton.LeftButton)
    panel.brush_slider.setValue(40)
    draw_stroke(panel.canvas, scaled(panel, [(60, 140), (220, 140)]))  # across it
    s = panel.canvas.width() / 280
    on_ink, on_paper = (round(140 * s), round(140 * s)), (round(140 * s), round(80 * s))
    ink, shown = panel.canvas.ink(), grabbed(panel.canvas)
    assert ink[on_ink] == 0 and ink[on_paper] == 0  # the model is fed black there
    assert colourful(shown[on_ink]) and colourful(shown[on_paper])  # the cover is seen
    assert shown[on_ink].sum() > shown[on_paper].sum() + 60  # and the ink under it
    # No grey outlines of covered ink: every covered pixel is tinted, none a grey.
    covered = panel.canvas.covered() == 255
    assert covered.sum() > 1000
    assert all(colourful(px) for px in shown[covered][::7])
    # Ink drawn over the cover later is ink again, for the model and on screen.
    qtbot.mouseClick(panel.cover_button, Qt.MouseButton.LeftButton)
    draw_stroke(panel.canvas, scaled(panel, [(80, 100), (80, 180)]))
    assert panel.canvas.ink()[on_paper] == 255 and panel.canvas.covered()[on_paper] == 0
    assert not colourful(grabbed(panel.canvas)[on_paper])


def test_covering_the_crossbar_on_the_canvas_makes_the_seven_a_one(qtbot, panel):
    draw_stroke(panel.canvas, scaled(panel, SEVEN))
    qtbot.waitUntil(
        lambda: panel.prediction() is not None and panel.prediction().digit == 7, timeout=TIMEOUT
    )
    qtbot.mouseClick(panel.cover_button, Qt.MouseButton.LeftButton)
    assert panel.canvas.covering
    panel.brush_slider.setValue(40)
    draw_stroke(panel.canvas, scaled(panel, [(40, 60), (240, 60)]))  # over the crossbar
    assert panel.canvas.cover_stroke_count() == 1
    qtbot.waitUntil(
        lambda: np.array_equal(
            panel.prediction().input.pixels, digits.preprocess_drawing(panel.canvas.ink())
        ),
        timeout=TIMEOUT,
    )
    assert panel.prediction().digit == 1, np.round(panel.prediction().probabilities, 2)
    qtbot.keyClick(panel, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)  # uncover
    qtbot.waitUntil(lambda: panel.prediction().digit == 7, timeout=TIMEOUT)


def test_a_dot_is_not_read_as_a_confident_digit(qtbot, panel):
    draw_stroke(panel.canvas, scaled(panel, [(140, 140), (142, 141)]))
    qtbot.waitUntil(
        lambda: panel.prediction() is not None and panel.prediction().probabilities is not None,
        timeout=TIMEOUT,
    )
    assert "So little ink is not a digit" in panel.message.text()
    qtbot.keyClick(panel, Qt.Key.Key_Escape)
    panel.brush_slider.setValue(panel.brush_slider.maximum())  # a tap of the widest brush
    draw_stroke(panel.canvas, scaled(panel, [(140, 140), (141, 141)]))
    qtbot.waitUntil(lambda: "So little ink" in panel.message.text(), timeout=TIMEOUT)
    qtbot.keyClick(panel, Qt.Key.Key_Escape)
    panel.brush_slider.setValue(18)
    draw_stroke(panel.canvas, scaled(panel, SEVEN))
    qtbot.waitUntil(lambda: panel.prediction().digit == 7, timeout=TIMEOUT)
    assert panel.message.text() == ""


def test_an_opened_test_digit_is_a_drawing_to_edit(qtbot, panel, app_state):
    from PIL import Image

    from engine.models.mnist_data import bundled_test_digits

    x, y = bundled_test_digits()
    seven = int(np.flatnonzero(y == 7)[0])
    with qtbot.waitSignal(panel.canvas.changed, timeout=5_000):
        app_state.open_digit(x[seven], f"test digit #{seven} (a 7)")
    canvas = panel.canvas
    assert canvas.has_base() and canvas.stroke_count() == 0 and not canvas.is_empty()
    assert panel.explore_button.isEnabled() and f"#{seven}" in panel.message.text()
    opened = canvas.ink()
    # The 28x28 digit fills the canvas, enlarged smoothly: bilinear, as Pillow does it.
    side = canvas.width()
    bilinear = Image.fromarray(x[seven]).resize((side, side), Image.Resampling.BILINEAR)
    assert np.abs(opened.astype(int) - np.asarray(bilinear, int)).max() <= 3
    # Classified as it is (not the canvas prepared again): the same array as Activations.
    exact = x[seven].astype(np.float32) / 255.0
    qtbot.waitUntil(
        lambda: (
            panel.prediction() is not None
            and np.array_equal(panel.prediction().input.pixels, exact)
        ),
        timeout=TIMEOUT,
    )
    assert panel.prediction().digit == 7 and panel.guess_label.text().startswith("7")
    # Strokes go on top of it; Undo takes them back down to the digit, not beyond.
    draw_stroke(canvas, scaled(panel, [(40, 250), (240, 250)]))
    assert canvas.stroke_count() == 1 and not np.array_equal(canvas.ink(), opened)
    panel.setFocus()
    for _ in range(2):
        qtbot.keyClick(panel, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
        assert canvas.has_base() and np.array_equal(canvas.ink(), opened)
    # Clear empties the canvas; Ctrl+Z brings the digit back.
    qtbot.keyClick(panel, Qt.Key.Key_Escape)
    assert canvas.is_empty() and not canvas.ink().any()
    qtbot.waitUntil(lambda: panel.guess_label.text() == "Draw a digit", timeout=TIMEOUT)
    qtbot.keyClick(panel, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert canvas.has_base() and np.array_equal(canvas.ink(), opened)
    qtbot.waitUntil(lambda: panel.guess_label.text().startswith("7"), timeout=TIMEOUT)
    # The state's input is the test digit itself, exactly.
    np.testing.assert_allclose(app_state.input.pixels.pixels, x[seven] / 255.0, atol=1e-6)
