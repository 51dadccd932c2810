"""The Test set panel: the shipped digit models on real MNIST test digits, checked
against an independent count (numpy argmax of ``model.predict``); the confusion matrix
and the gallery driven by clicks and keys; a digit opens in Draw as a drawing; an edited
model against the trained one, with the digits its edits broke and mended."""

import threading
from dataclasses import replace

import numpy as np
import pytest
from PySide6.QtCore import QSettings, QSize, Qt
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QApplication, QFileDialog

from engine.editing.surgery import ModelEditor
from engine.models.digits import preprocess_drawing
from engine.models.mnist_data import bundled_test_digits
from engine.models.runtime import load_tensorflow
from engine.models.zoo import MODEL_TITLES
from gui.panels.draw.panel import DrawPanel
from gui.panels.testset import panel as test_set
from gui.panels.testset.panel import BUNDLED, CHOOSE, DATA_LABELS, ICON, KERAS, TestSetPanel
from gui.state import InputKind, OpenModel

from .helpers import pick
from .test_explain import seven
from .test_main_window import _fully_visible

TIMEOUT = 120_000
LEFT = Qt.MouseButton.LeftButton


@pytest.fixture
def panel(qtbot, app_state):
    load_tensorflow()
    p = TestSetPanel(app_state)
    qtbot.addWidget(p)
    p.resize(1100, 720)
    p.show()
    qtbot.waitExposed(p)
    app_state.start_tensorflow()
    wait_for_result(qtbot, p)
    return p


@pytest.fixture(scope="module")
def tiled_npz(tmp_path_factory):
    """The 500 shipped digits 10 times over: 5,000 digits in 20 batches, long enough to
    cancel (a request is served between two batches)."""
    x, y = bundled_test_digits()
    path = tmp_path_factory.mktemp("testset") / "tiled.npz"
    np.savez(path, x_test=np.tile(x, (10, 1, 1)), y_test=np.tile(y, 10))
    return path


def wait_for_result(qtbot, panel, model=None):
    qtbot.waitUntil(
        lambda: (
            panel.result() is not None
            and not panel.is_running()
            and (model is None or panel.result().model is model)
        ),
        timeout=TIMEOUT,
    )


def on_model_thread(qtbot, state, fn):
    """``fn()`` on the model thread (one thread uses a Keras model at a time)."""
    box = []
    state.runner.start(
        lambda _task: fn(), pool="model", on_finished=box.append, on_failed=box.append
    )
    qtbot.waitUntil(lambda: bool(box), timeout=TIMEOUT)
    if isinstance(box[0], BaseException):
        raise box[0]
    return box[0]


def predict(model, x):
    """The independent reference: digits / 255 with a channel axis, zero-padded to the
    model's input side, through ``model.predict``."""
    a = x.astype(np.float32)[..., None] / 255.0
    pad = (int(model.inputs[0].shape[1]) - 28) // 2
    if pad:
        a = np.pad(a, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    return model.predict(a, batch_size=500, verbose=0)


def count(probabilities, y):
    """Predictions and the confusion matrix counted one digit at a time."""
    predictions = probabilities.argmax(axis=1)
    confusion = np.zeros((10, 10), int)
    for true, said in zip(y, predictions, strict=True):
        confusion[true, said] += 1
    return predictions, confusion


def reference(qtbot, state, key, x, y):
    probabilities = on_model_thread(qtbot, state, lambda: predict(state.models[key].network, x))
    return (probabilities, *count(probabilities, y))


def shown_confusion(panel):
    return [[int(panel.table.item(i, j).text()) for j in range(10)] for i in range(10)]


def click_cell(qtbot, table, row, col):
    rect = table.visualItemRect(table.item(row, col))
    qtbot.mouseClick(table.viewport(), LEFT, pos=rect.center())


def click_digit(qtbot, gallery, row, double=False):
    pos = gallery.visualItemRect(gallery.item(row)).center()
    qtbot.mouseClick(gallery.viewport(), LEFT, pos=pos)
    if double:  # a double-click is a click, then a second press within the interval
        qtbot.mouseDClick(gallery.viewport(), LEFT, pos=pos)


def label(percent_of):
    return f"{100 * percent_of:.1f} %"


def points(change):
    """A change of accuracy in points, with a true minus sign."""
    return f"{100 * change:+.1f} points".replace("-", "\u2212")


def edit(qtbot, state, change, n):
    """An edit through the state's intents (as the Edit model tab makes it); the edited
    model once it replaced the trained one."""
    change()
    qtbot.waitUntil(lambda: len(state.edits("mnist")) == n and not state.busy(), timeout=TIMEOUT)
    return state.models["mnist"]


def switch_off(state, channels):
    return lambda: state.ablate_channels("mnist", "conv2d_1", channels)


def broken_and_mended(y, trained, edited):
    """The digits right when trained and wrong when edited, and the other way round,
    counted one at a time."""
    broken, mended = [], []
    for i, (true, before, now) in enumerate(zip(y, trained, edited, strict=True)):
        if before == true and now != true:
            broken.append(i)
        elif before != true and now == true:
            mended.append(i)
    return broken, mended


def test_accuracy_and_confusion_matrix_are_an_independent_count(qtbot, panel, app_state):
    x, y = bundled_test_digits()
    probabilities, predictions, confusion = reference(qtbot, app_state, "mnist", x, y)
    right = int((predictions == y).sum())
    assert right / len(y) > 0.97  # the shipped weights
    assert shown_confusion(panel) == confusion.tolist()
    np.testing.assert_array_equal(panel.result().evaluation.confusion, confusion)
    assert panel.accuracy_label.text() == f"MNIST CNN: {right} of 500 right, {label(right / 500)}"
    assert panel.result().previous is None and not panel.change_label.isVisible()
    assert not panel.evaluate_button.isEnabled()  # measured: nothing to start, and why
    assert panel.evaluate_button.toolTip() == (
        "The result shown is up to date; Evaluate runs again after a change or a cancel"
    )
    per_digit = np.diag(confusion) / confusion.sum(axis=1)
    assert panel.class_label.text().replace("\u00a0", " ") == "Right per digit: " + ", ".join(
        f"{d} {100 * a:.3g} %" for d, a in enumerate(per_digit)
    )
    # The gallery: every mistake, the most confident first, captioned and enlarged.
    shown = panel.gallery_indices()
    assert sorted(shown) == np.flatnonzero(predictions != y).tolist()
    confidence = probabilities.max(axis=1)[shown]
    assert np.all(np.diff(confidence) <= 1e-6), confidence
    first = shown[0]
    caption = panel.gallery.item(0).text().replace("\u00a0", " ")
    assert caption == f"true {y[first]} → {predictions[first]}\n{100 * confidence[0]:.0f} %"
    icon = panel.gallery.item(0).icon().pixmap(QSize(56, 56)).toImage()
    icon = icon.convertToFormat(QImage.Format.Format_Grayscale8)
    pixels = np.frombuffer(icon.constBits(), np.uint8).reshape(56, icon.bytesPerLine())[:, :56]
    np.testing.assert_array_equal(pixels, np.kron(x[first], np.ones((2, 2), np.uint8)))


def test_a_confusion_cell_filters_the_gallery(qtbot, panel, app_state):
    x, y = bundled_test_digits()
    probabilities, predictions, confusion = reference(qtbot, app_state, "mnist", x, y)
    confidence = probabilities.max(axis=1)
    off = confusion - np.diag(np.diag(confusion))
    true, said = np.unravel_index(np.argmax(off), off.shape)
    click_cell(qtbot, panel.table, true, said)
    expected = np.flatnonzero((y == true) & (predictions == said))
    assert len(expected) == confusion[true, said] > 0
    assert sorted(panel.gallery_indices()) == expected.tolist()
    assert f"True {true}, read as {said}" in panel.gallery_label.text()
    assert panel.all_mistakes_button.isEnabled()
    # A diagonal cell: the digits read right, most confident first.
    click_cell(qtbot, panel.table, 1, 1)
    shown = panel.gallery_indices()
    assert sorted(shown) == np.flatnonzero((y == 1) & (predictions == 1)).tolist()
    assert np.all(np.diff(confidence[shown]) <= 1e-6)
    # The arrow keys move through the cells, and the gallery follows.
    qtbot.keyClick(panel.table, Qt.Key.Key_Down)
    assert (panel.table.currentRow(), panel.table.currentColumn()) == (2, 1)
    assert sorted(panel.gallery_indices()) == np.flatnonzero((y == 2) & (predictions == 1)).tolist()
    qtbot.mouseClick(panel.all_mistakes_button, LEFT)
    assert sorted(panel.gallery_indices()) == np.flatnonzero(predictions != y).tolist()
    assert not panel.all_mistakes_button.isEnabled()
    assert panel.gallery_label.text().startswith(f"Mistakes: {int(off.sum())} of 500")


def test_clicking_a_digit_opens_it_in_draw_and_activations(qtbot, panel, app_state):
    draw = DrawPanel(app_state)
    qtbot.addWidget(draw)
    draw.show()
    qtbot.waitUntil(lambda: draw.classifier() is not None, timeout=TIMEOUT)
    x, y = bundled_test_digits()
    index = panel.gallery_indices()[0]
    with qtbot.waitSignal(app_state.digit_opened, timeout=5_000):
        click_digit(qtbot, panel.gallery, 0)
    image = app_state.input
    assert image.kind is InputKind.DRAWN_DIGIT and f"#{index}" in image.name
    np.testing.assert_array_equal(np.rint(image.pixels.pixels * 255).astype(np.uint8), x[index])
    # The Draw canvas holds it as a drawing (prepared again like any drawing, it is that
    # digit), and Draw classifies the digit itself until it is drawn on: one array, one
    # probability in every panel.
    canvas = draw.canvas
    assert canvas.has_base() and canvas.stroke_count() == 0 and canvas.ink().any()
    again = preprocess_drawing(canvas.ink())
    assert np.corrcoef(again.ravel(), x[index].ravel())[0, 1] > 0.9
    qtbot.waitUntil(
        lambda: (
            draw.prediction() is not None
            and draw.prediction().probabilities is not None
            and np.array_equal(draw.prediction().input.pixels, image.pixels.pixels)
        ),
        timeout=TIMEOUT,
    )
    assert draw.guess_label.text().startswith(str(draw.prediction().digit))
    # The person stays in the browser, with a way on to either panel.
    assert panel.opened_box.isVisible() and f"#{index}" in panel.opened_label.text()
    for button, key in ((panel.activations_button, "activations"), (panel.draw_button, "draw")):
        with qtbot.waitSignal(app_state.panel_requested, timeout=5_000) as asked:
            qtbot.mouseClick(button, LEFT)
        assert asked.args == [key]
    # Enter opens the digit under the keyboard's cursor.
    panel.gallery.setFocus()
    panel.gallery.setCurrentRow(0)
    qtbot.keyClick(panel.gallery, Qt.Key.Key_Right)
    second = panel.gallery_indices()[panel.gallery.currentRow()]
    assert second != index
    qtbot.keyClick(panel.gallery, Qt.Key.Key_Return)
    np.testing.assert_array_equal(
        np.rint(app_state.input.pixels.pixels * 255).astype(np.uint8), x[second]
    )
    # A double-click opens it and goes to Activations.
    asked = []
    app_state.panel_requested.connect(asked.append)
    click_digit(qtbot, panel.gallery, 2, double=True)
    third = panel.gallery_indices()[2]
    assert asked == ["activations"]
    np.testing.assert_array_equal(
        np.rint(app_state.input.pixels.pixels * 255).astype(np.uint8), x[third]
    )


def test_a_file_without_labels_is_explained_and_the_panel_keeps_working(
    qtbot, panel, app_state, tmp_path, monkeypatch, mnist_npz
):
    x, _y = bundled_test_digits()
    bad = tmp_path / "digits_only.npz"
    np.savez(bad, x_test=x[:10])
    answers = [str(bad), str(mnist_npz)]
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (answers.pop(0), ""))
    pick(qtbot, panel.data_combo, DATA_LABELS[CHOOSE], stays=False)
    qtbot.waitUntil(lambda: panel.message.is_error(), timeout=TIMEOUT)
    assert "missing y_test" in panel.message.text() and "digits_only.npz" in panel.message.text()
    assert panel.result() is None and panel.gallery.count() == 0
    assert panel.data_combo.currentText() == "digits_only.npz (your file)"
    assert panel.evaluate_button.isEnabled()
    # Another file, in Keras' mnist layout: measured, and remembered.
    pick(qtbot, panel.data_combo, DATA_LABELS[CHOOSE], stays=False)
    wait_for_result(qtbot, panel)
    assert not panel.message.is_error()
    assert panel.data_combo.currentText() == f"{mnist_npz.name} (your file)"
    with np.load(mnist_npz) as data:
        fx, fy = data["x_test"], data["y_test"]
    _p, predictions, confusion = reference(qtbot, app_state, "mnist", fx, fy)
    right = int((predictions == fy).sum())
    assert shown_confusion(panel) == confusion.tolist()
    assert panel.accuracy_label.text() == (
        f"MNIST CNN: {right} of {len(fy)} right, {label(right / len(fy))}"
    )
    assert QSettings().value("testset/npz") == str(mnist_npz.resolve())
    # Back to the shipped digits: their result comes from the cache at once.
    pick(qtbot, panel.data_combo, DATA_LABELS[BUNDLED])
    assert panel.result() is not None and panel.result().dataset == BUNDLED
    assert not panel.is_running()
    # A new panel offers the remembered file.
    again = TestSetPanel(app_state)
    qtbot.addWidget(again)
    assert again.data_combo.findText(f"{mnist_npz.name} (your file)") >= 0


def test_a_retrained_model_is_measured_again_and_the_change_shown(qtbot, panel, app_state):
    """Other weights under the key, not an edit (what retraining does): compared with the
    weights they replaced."""
    x, y = bundled_test_digits()
    before = panel.result()
    old = app_state.models["mnist"]

    def edit():
        editor = ModelEditor(old.network)
        editor.ablate("conv2d_1", list(range(0, 32, 2)))  # half the first filters off
        return editor.model, predict(editor.model, x)

    edited, probabilities = on_model_thread(qtbot, app_state, edit)
    click_cell(qtbot, panel.table, 9, 4)  # the person watches the 9s read as 4
    title = f"{old.loaded.title}, edited (1 change)"
    new = OpenModel(replace(old.loaded, model=edited, title=title), old.probe, old.fields)
    # New weights replace the open model.
    app_state.models["mnist"] = new
    app_state.model_opened.emit("mnist")
    wait_for_result(qtbot, panel, new)
    right = int((probabilities.argmax(axis=1) == y).sum())
    assert right < round(before.accuracy * 500)
    assert panel.accuracy_label.text() == (
        f"MNIST CNN, edited (1 change): {right} of 500 right, {label(right / 500)}"
    )
    # The same cell, of the edited model.
    predictions = probabilities.argmax(axis=1)
    assert (panel.table.currentRow(), panel.table.currentColumn()) == (9, 4)
    assert sorted(panel.gallery_indices()) == np.flatnonzero((y == 9) & (predictions == 4)).tolist()
    assert panel.gallery_label.text().startswith("True 9, read as 4")
    delta = points(right / 500 - before.accuracy)
    assert panel.change_label.isVisible()
    assert panel.change_label.text() == (
        f"was {label(before.accuracy)}, now {label(right / 500)} ({delta})"
    )
    # Built again from the weights on disk (what retraining does): measured again.
    with qtbot.waitSignal(app_state.model_opened, timeout=TIMEOUT):
        app_state.reload_model("mnist")
    reloaded = app_state.models["mnist"]
    assert reloaded is not new and reloaded is not old
    wait_for_result(qtbot, panel, reloaded)
    assert panel.result().accuracy == before.accuracy
    assert panel.change_label.text().startswith(
        f"was {label(right / 500)}, now {label(before.accuracy)}"
    )


def test_cancel_stops_and_a_replaced_model_cancels_a_running_evaluation(
    qtbot, panel, app_state, tiled_npz, monkeypatch
):
    small = panel.result().evaluation.confusion
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(tiled_npz), ""))
    pick(qtbot, panel.data_combo, DATA_LABELS[CHOOSE], stays=False)
    qtbot.waitUntil(
        lambda: panel.progress_box.isVisible() and panel.progress.value() > 0, timeout=TIMEOUT
    )
    assert not panel.evaluate_button.isEnabled() and panel.cancel_button.isEnabled()
    qtbot.mouseClick(panel.cancel_button, LEFT)
    assert not panel.is_running() and not panel.progress_box.isVisible()
    assert panel.result() is None and panel.accuracy_label.text().startswith("Cancelled")
    assert panel.evaluate_button.isEnabled()
    # Evaluate measures again; the model replaced meanwhile cancels that run for its own.
    results = []
    panel.evaluated.connect(results.append)
    old = app_state.models["mnist"]
    qtbot.mouseClick(panel.evaluate_button, LEFT)
    assert panel.is_running() and not panel.evaluate_button.isEnabled()
    qtbot.waitUntil(lambda: panel.progress.value() > 0, timeout=TIMEOUT)
    with qtbot.waitSignal(app_state.model_opened, timeout=TIMEOUT):
        app_state.reload_model("mnist")
    new = app_state.models["mnist"]
    wait_for_result(qtbot, panel, new)
    assert [r.model for r in results] == [new]
    assert old is not new
    # 10 copies of the shipped digits: 10 times their confusion matrix.
    np.testing.assert_array_equal(panel.result().evaluation.confusion, 10 * small)
    assert shown_confusion(panel) == (10 * small).tolist()
    assert panel.accuracy_label.text().startswith("MNIST CNN: ")
    assert "of 5,000 right" in panel.accuracy_label.text()


def test_lenet5_is_measured_on_padded_digits(qtbot, panel, app_state):
    pick(qtbot, panel.model_combo, MODEL_TITLES["lenet5"])
    qtbot.waitUntil(lambda: "lenet5" in app_state.models, timeout=TIMEOUT)
    wait_for_result(qtbot, panel, app_state.models["lenet5"])
    x, y = bundled_test_digits()
    _p, predictions, confusion = reference(qtbot, app_state, "lenet5", x, y)
    right = int((predictions == y).sum())
    assert right / 500 > 0.95
    assert shown_confusion(panel) == confusion.tolist()
    assert panel.accuracy_label.text() == f"LeNet-5: {right} of 500 right, {label(right / 500)}"
    assert QSettings().value("testset/model") == "lenet5"
    # Back to the MNIST CNN: from the cache.
    pick(qtbot, panel.model_combo, MODEL_TITLES["mnist"])
    assert panel.result().model is app_state.models["mnist"] and not panel.is_running()


def test_keras_cache_is_offered_when_it_is_there(
    qtbot, app_state, tmp_path, monkeypatch, mnist_npz
):
    import shutil

    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    (tmp_path / "keras" / "datasets").mkdir(parents=True)
    first = TestSetPanel(app_state)  # no cache yet: not offered
    qtbot.addWidget(first)
    assert first.data_combo.findText(DATA_LABELS[KERAS]) < 0
    shutil.copy(mnist_npz, tmp_path / "keras" / "datasets" / "mnist.npz")
    load_tensorflow()
    panel = TestSetPanel(app_state)
    qtbot.addWidget(panel)
    panel.show()
    qtbot.waitExposed(panel)
    app_state.start_tensorflow()
    wait_for_result(qtbot, panel)
    pick(qtbot, panel.data_combo, DATA_LABELS[KERAS])
    wait_for_result(qtbot, panel)
    assert panel.result().dataset == KERAS
    with np.load(mnist_npz) as data:
        assert panel.result().evaluation.labels.tolist() == data["y_test"].tolist()
    assert QSettings().value("testset/data") == KERAS


def test_the_panel_fits_a_small_window(qtbot):
    from gui.main_window import MainWindow

    from .test_main_window import _fully_visible

    window = MainWindow(load_tf=False)
    qtbot.addWidget(window)
    window.resize(1024, 640)
    window.show()
    qtbot.waitExposed(window)
    panel = window.show_panel("testset")
    qtbot.wait(50)
    assert window.width() <= 1024 and window.height() <= 640, window.size()
    names = [
        "model_combo",
        "data_combo",
        "evaluate_button",
        "accuracy_label",
        "table",
        "gallery",
        "all_mistakes_button",
    ]
    assert [n for n in names if not _fully_visible(getattr(panel, n))] == []
    assert panel.accuracy_label.text() == "Waiting for TensorFlow…"
    QApplication.processEvents()
    window.close()


def test_an_edited_model_is_compared_with_the_trained_one(qtbot, panel, app_state):
    x, y = bundled_test_digits()
    trained = app_state.models["mnist"]
    p0 = on_model_thread(qtbot, app_state, lambda: predict(trained.network, x)).argmax(axis=1)
    a0 = float((p0 == y).mean())
    assert panel.result().accuracy == a0 and not panel.filter_box.isVisible()
    edited = edit(qtbot, app_state, switch_off(app_state, list(range(0, 32, 2))), 1)
    wait_for_result(qtbot, panel, edited)
    probabilities = on_model_thread(qtbot, app_state, lambda: predict(edited.network, x))
    p1 = probabilities.argmax(axis=1)
    a1 = float((p1 == y).mean())
    broken, mended = broken_and_mended(y, p0, p1)
    assert len(broken) > 10 and mended and a1 < a0
    assert panel.accuracy_label.text().startswith("MNIST CNN, edited (1 change): ")
    assert panel.change_label.text() == (
        f"trained {label(a0)}, edited {label(a1)} ({points(a1 - a0)}): "
        f"{len(broken)} digits broken, {len(mended)} mended"
    )
    result = panel.result()
    assert result.original is trained and result.trained.accuracy == a0
    assert not panel.evaluate_button.isEnabled()
    assert panel.evaluate_button.toolTip().startswith("The result shown is up to date")
    # Only the digits the edits broke, most confident first; it fits a small window.
    panel.resize(1024, 560)
    assert panel.broken_box.text() == f"Only digits the edits broke ({len(broken)})"
    assert panel.mended_box.text() == f"Only digits the edits mended ({len(mended)})"
    qtbot.waitUntil(lambda: _fully_visible(panel.mended_box), timeout=5_000)
    assert _fully_visible(panel.broken_box)
    qtbot.mouseClick(panel.broken_box, LEFT)
    assert panel.broken_box.isChecked()
    shown = panel.gallery_indices()
    assert sorted(shown) == broken
    assert np.all(np.diff(probabilities.max(axis=1)[shown]) <= 1e-6)
    assert panel.gallery_label.text().startswith(f"Broken by the edits: {len(broken)} of 500")
    assert f"the trained model said {p0[shown[0]]}" in panel.gallery.item(0).toolTip()
    # In a cell: the cell's digits the edits broke.
    cells = np.zeros((10, 10), int)
    for i in broken:
        cells[y[i], p1[i]] += 1
    true, said = np.unravel_index(np.argmax(cells), cells.shape)
    click_cell(qtbot, panel.table, true, said)
    in_cell = [i for i in broken if y[i] == true and p1[i] == said]
    assert sorted(panel.gallery_indices()) == in_cell
    n = int(((y == true) & (p1 == said)).sum())
    assert panel.gallery_label.text().startswith(
        f"True {true}, read as {said}: {len(in_cell)} of its {n} broken by the edits"
    )
    # The mended ones: one box at a time.
    qtbot.mouseClick(panel.all_mistakes_button, LEFT)
    qtbot.mouseClick(panel.mended_box, LEFT)
    assert panel.mended_box.isChecked() and not panel.broken_box.isChecked()
    assert sorted(panel.gallery_indices()) == mended
    # A second edit is compared with the trained model too, not with the first edit.
    again = edit(qtbot, app_state, switch_off(app_state, [1, 3]), 2)
    wait_for_result(qtbot, panel, again)
    p2 = on_model_thread(qtbot, app_state, lambda: predict(again.network, x)).argmax(axis=1)
    a2 = float((p2 == y).mean())
    broken2, mended2 = broken_and_mended(y, p0, p2)
    assert panel.change_label.text() == (
        f"trained {label(a0)}, edited {label(a2)} ({points(a2 - a0)}): "
        f"{len(broken2)} digits broken, {len(mended2)} mended"
    )
    assert panel.mended_box.isChecked() and sorted(panel.gallery_indices()) == mended2
    qtbot.mouseClick(panel.mended_box, LEFT)
    assert sorted(panel.gallery_indices()) == np.flatnonzero(p2 != y).tolist()
    # A cell the edits filled, chosen when Revert all empties it: every mistake, saying so.
    _c, c0 = count(np.eye(10)[p0], y)
    _c, c2 = count(np.eye(10)[p2], y)
    empty = [(i, j) for i in range(10) for j in range(10) if i != j and c0[i, j] == 0 < c2[i, j]]
    true, said = empty[0]
    click_cell(qtbot, panel.table, true, said)
    assert panel.gallery.count() == c2[true, said]
    app_state.revert_edits("mnist")
    qtbot.waitUntil(lambda: app_state.models["mnist"] is trained, timeout=TIMEOUT)
    wait_for_result(qtbot, panel, trained)
    assert panel.gallery_label.text().startswith(
        f"No {true} is read as {said} now. Mistakes: {int((p0 != y).sum())} of 500"
    )
    assert sorted(panel.gallery_indices()) == np.flatnonzero(p0 != y).tolist()
    assert (panel.table.currentRow(), panel.table.currentColumn()) == (-1, -1)
    assert not panel.change_label.isVisible() and not panel.filter_box.isVisible()
    assert not panel.broken_box.isChecked() and not panel.mended_box.isChecked()
    # A cell the person clicks with no digits says so.
    click_cell(qtbot, panel.table, true, said)
    assert panel.gallery.count() == 0
    assert panel.gallery_label.text() == f"True {true}, read as {said}: no digits in this cell now"


@pytest.fixture
def opened_on_an_edit(qtbot, app_state, monkeypatch):
    """A panel opened on an edited MNIST CNN, evaluating 100 digits per model-thread job,
    whose trained model's first job waits at a gate (it is in flight, for sure, until the
    gate opens); (panel, trained, edited, gate, calls: (Keras model, digits) of each job).
    The edited model is shown first, while the trained one is measured."""
    load_tensorflow()
    app_state.start_tensorflow()
    qtbot.waitUntil(lambda: "mnist" in app_state.models, timeout=TIMEOUT)
    trained = app_state.models["mnist"]
    edited = edit(qtbot, app_state, switch_off(app_state, list(range(0, 32, 2))), 1)
    gate = threading.Event()
    calls = []
    real = test_set.evaluate

    def gated(model, x, *args, **kwargs):
        calls.append((model, len(x)))
        if model is trained.network:
            gate.wait(TIMEOUT / 1000)
        return real(model, x, *args, **kwargs)

    monkeypatch.setattr(test_set, "evaluate", gated)
    panel = TestSetPanel(app_state)
    qtbot.addWidget(panel)
    panel.resize(1100, 720)
    panel.show()
    qtbot.waitExposed(panel)
    qtbot.waitUntil(
        lambda: panel.result() is not None and "as trained" in panel.progress.format(),
        timeout=TIMEOUT,
    )
    yield panel, trained, edited, gate, calls
    gate.set()


def test_the_trained_model_is_measured_when_the_panel_opens_on_an_edited_one(
    qtbot, app_state, opened_on_an_edit
):
    panel, trained, edited, gate, _calls = opened_on_an_edit
    x, y = bundled_test_digits()
    assert panel.result().model is edited and panel.is_running()
    p1 = panel.result().evaluation.predictions
    a1 = float((p1 == y).mean())
    assert panel.change_label.text() == f"trained measuring…, edited {label(a1)}"
    assert not panel.evaluate_button.isEnabled()
    assert panel.evaluate_button.toolTip() == "Being measured now (Cancel stops it)"
    # Cancelled: the edited model's result stays; Evaluate is offered and says why.
    qtbot.mouseClick(panel.cancel_button, LEFT)
    gate.set()
    assert not panel.is_running() and panel.result().model is edited
    assert panel.change_label.text() == (
        f"trained not measured (Evaluate measures it), edited {label(a1)}"
    )
    assert panel.evaluate_button.isEnabled()
    assert "not up to date" in panel.evaluate_button.toolTip()
    qtbot.mouseClick(panel.evaluate_button, LEFT)
    qtbot.waitUntil(
        lambda: panel.result().trained is not None and not panel.is_running(), timeout=TIMEOUT
    )
    p0 = on_model_thread(qtbot, app_state, lambda: predict(trained.network, x)).argmax(axis=1)
    a0 = float((p0 == y).mean())
    broken, mended = broken_and_mended(y, p0, p1)
    assert panel.change_label.text() == (
        f"trained {label(a0)}, edited {label(a1)} ({points(a1 - a0)}): "
        f"{len(broken)} digits broken, {len(mended)} mended"
    )
    assert not panel.evaluate_button.isEnabled()


def test_the_opened_digit_line_goes_when_it_is_no_longer_true(qtbot, panel, app_state):
    def opened():
        click_digit(qtbot, panel.gallery, 0)
        assert panel.opened_box.isVisible()
        assert f"#{panel.gallery_indices()[0]}" in panel.opened_label.text()

    opened()
    click_cell(qtbot, panel.table, 9, 4)  # another cell: other digits shown
    assert not panel.opened_box.isVisible()
    opened()  # the same digit again
    qtbot.mouseClick(panel.all_mistakes_button, LEFT)
    assert not panel.opened_box.isVisible()
    opened()
    app_state.set_drawn_digit(seven())  # the person opens something else
    app_state.use_drawn_digit()
    assert not panel.opened_box.isVisible()
    opened()
    edited = edit(qtbot, app_state, switch_off(app_state, [0, 2]), 1)  # the model changes
    wait_for_result(qtbot, panel, edited)
    assert not panel.opened_box.isVisible()


@pytest.mark.parametrize("size", [(1024, 640), (1600, 1000)])
def test_gallery_captions_are_whole(qtbot, panel, size, tmp_path):
    """Both caption lines ("true 9 → 0" / "100 %") fit their tile: nothing elided."""
    panel.resize(*size)
    qtbot.waitUntil(lambda: panel.size().toTuple() == size, timeout=5_000)
    gallery = panel.gallery
    fm = gallery.fontMetrics()
    assert gallery.count() > 0
    for row in range(gallery.count()):
        item = gallery.item(row)
        rect = gallery.visualItemRect(item)
        lines = item.text().split("\n")
        assert len(lines) == 2, lines
        assert max(fm.horizontalAdvance(line) for line in lines) <= rect.width(), lines
        assert ICON + 2 * fm.height() <= rect.height(), (rect, fm.height())
        assert rect.width() < gallery.gridSize().width()  # not cut to the grid
    assert panel.grab().save(str(tmp_path / "panel.png"))


def test_an_edit_made_while_the_trained_model_is_measured_waits_for_it(
    qtbot, app_state, opened_on_an_edit
):
    panel, trained, _edited, gate, calls = opened_on_an_edit
    # The edit runs on the model thread after the gated job, before the next one.
    app_state.ablate_channels("mnist", "conv2d_1", [1, 3])
    gate.set()
    qtbot.waitUntil(
        lambda: len(app_state.edits("mnist")) == 2 and not app_state.busy(), timeout=TIMEOUT
    )
    again = app_state.models["mnist"]
    wait_for_result(qtbot, panel, again)
    # The trained model was measured once: the edit did not restart it.
    assert sum(n for model, n in calls if model is trained.network) == 500
    x, y = bundled_test_digits()
    p0 = on_model_thread(qtbot, app_state, lambda: predict(trained.network, x)).argmax(axis=1)
    p2 = on_model_thread(qtbot, app_state, lambda: predict(again.network, x)).argmax(axis=1)
    a0, a2 = float((p0 == y).mean()), float((p2 == y).mean())
    broken, mended = broken_and_mended(y, p0, p2)
    assert panel.accuracy_label.text().startswith("MNIST CNN, edited (2 changes): ")
    assert panel.change_label.text() == (
        f"trained {label(a0)}, edited {label(a2)} ({points(a2 - a0)}): "
        f"{len(broken)} digits broken, {len(mended)} mended"
    )


def test_the_same_file_chosen_again_is_read_again(qtbot, panel, app_state, tmp_path, monkeypatch):
    """Choosing the same .npz twice raised KeyError: its digits were dropped to be read
    again, then its cached result was drawn from them. A changed file is measured anew."""
    x, y = bundled_test_digits()
    path = tmp_path / "mine.npz"
    np.savez(path, x_test=x[:40], y_test=y[:40])
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(path), ""))
    pick(qtbot, panel.data_combo, DATA_LABELS[CHOOSE], stays=False)
    wait_for_result(qtbot, panel)
    assert panel.gallery.count() >= 0 and sum(map(sum, shown_confusion(panel))) == 40
    np.savez(path, x_test=x[:25], y_test=y[:25])  # the file changed meanwhile
    pick(qtbot, panel.data_combo, DATA_LABELS[CHOOSE], stays=False)
    wait_for_result(qtbot, panel)
    assert not panel.message.is_error()
    assert sum(map(sum, shown_confusion(panel))) == 25
