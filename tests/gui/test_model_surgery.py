"""Change the trained model and watch: edits through the state, the Edit model tab and the
Kernel lab's "Put this kernel into a model", checked against independent computations."""

import keras
import numpy as np
import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtWidgets import QDialogButtonBox, QFileDialog
from scipy.signal import correlate2d

from engine.arithmetic.kernels import preset
from engine.models import zoo
from engine.models.mnist_data import bundled_test_digits
from engine.models.runtime import load_tensorflow
from gui.panels.activations.edit import EditView
from gui.panels.draw.panel import DrawPanel
from gui.panels.kernel_lab.panel import KernelLabPanel

from .helpers import draw_stroke, pick
from .test_activations import wait_for_activations
from .test_explain import seven

TIMEOUT = 120_000
SEVEN = [(70, 60), (210, 60), (185, 115), (160, 175), (140, 240)]


@pytest.fixture
def state(qtbot, app_state):
    load_tensorflow()
    app_state.start_tensorflow()
    qtbot.waitUntil(lambda: app_state.model is not None, timeout=TIMEOUT)
    app_state.set_drawn_digit(seven())
    app_state.use_drawn_digit()
    wait_for_activations(qtbot, app_state, zoo.MNIST)
    return app_state


@pytest.fixture
def view(qtbot, state):
    v = EditView(state)
    qtbot.addWidget(v)
    v.resize(900, 700)
    v.show()
    qtbot.waitExposed(v)
    return v


def wait_edits(qtbot, state, n, key=zoo.MNIST):
    qtbot.waitUntil(
        lambda: (
            len(state.edits(key)) == n
            and state.activations is not None
            and state.activations.model is state.models[key]
            and not state.busy()
        ),
        timeout=TIMEOUT,
    )


def click(qtbot, button):
    assert button.isEnabled(), button.text()
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)


def test_switching_a_channel_off_undo_and_the_original_untouched(qtbot, state, view):
    trained = state.models[zoo.MNIST]
    weights = [w.copy() for w in trained.network.get_weights()]
    before = state.activations.maps["conv2d_2"].copy()
    out_before = state.activations.maps["dense_2"].copy()
    state.select_layer("conv2d_2")
    strongest = int(np.argmax(before.max(axis=(0, 1))))
    assert state.select_map(strongest)  # as a click on the grid does
    click(qtbot, view.off_button)
    wait_edits(qtbot, state, 1)
    edited = state.models[zoo.MNIST]
    assert edited is not trained and state.original(zoo.MNIST) is trained
    assert "edited (1 change)" in edited.loaded.label
    assert edited.lineage == trained.lineage
    after = state.activations.maps["conv2d_2"]
    assert not after[:, :, strongest].any()  # exactly 0
    others = [c for c in range(64) if c != strongest]
    np.testing.assert_array_equal(after[:, :, others], before[:, :, others])
    # The prediction is the edited model's, computed independently.
    x = state.activations.x[None]
    np.testing.assert_allclose(
        state.activations.maps["dense_2"], edited.network.predict(x, verbose=0)[0], atol=1e-6
    )
    assert view.edit_list.item(0).text() == f"conv2d_2 filter {strongest} off"
    assert state.selection.layer == "conv2d_2" and state.selection.map == strongest
    # The diff view: original, edited and their difference of the selected map.
    qtbot.waitUntil(lambda: view.diff_view.data() is not None, timeout=TIMEOUT)
    np.testing.assert_allclose(view.original_view.data(), before[:, :, strongest], atol=1e-6)
    assert not view.edited_view.data().any()
    np.testing.assert_allclose(view.diff_view.data(), -before[:, :, strongest], atol=1e-6)
    assert view.prediction_label.text().startswith("Original: 7")
    # The trained model itself never changed.
    assert all(
        np.array_equal(a, b) for a, b in zip(weights, trained.network.get_weights(), strict=True)
    )
    # Undo by keyboard: the original model is back, and with it the maps, exactly.
    view.edit_list.setFocus()
    qtbot.keyClick(view.edit_list, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    wait_edits(qtbot, state, 0)
    assert state.models[zoo.MNIST] is trained and state.model is trained
    np.testing.assert_array_equal(state.activations.maps["conv2d_2"], before)
    np.testing.assert_array_equal(state.activations.maps["dense_2"], out_before)
    assert "as trained" in view.edit_list.item(0).text()
    assert not view.undo_button.isEnabled()


def test_test_accuracy_before_and_after_is_measured_in_the_background(qtbot, state, view):
    x, y = bundled_test_digits()
    trained = state.models[zoo.MNIST].network
    inputs = x.astype(np.float32)[..., None] / 255.0

    def accuracy(model):
        return float(np.mean(np.argmax(model.predict(inputs, verbose=0), axis=1) == y))

    expected = f"{accuracy(trained):.1%}"
    qtbot.waitUntil(lambda: expected in view.accuracy_label.text(), timeout=TIMEOUT)
    state.select_layer("conv2d_1")
    kept = []
    for channel in range(0, 32, 2):  # half of the first layer off, one edit each
        state.select_map(channel)
        click(qtbot, view.off_button)
        kept.append(channel)
    wait_edits(qtbot, state, len(kept))
    edited = state.models[zoo.MNIST].network
    after = f"edited {accuracy(edited):.1%}"
    qtbot.waitUntil(lambda: after in view.accuracy_label.text(), timeout=TIMEOUT)
    assert f"trained {expected}" in view.accuracy_label.text()
    assert "points)" in view.accuracy_label.text()
    # Revert all: every weight back bit for bit.
    click(qtbot, view.revert_button)
    wait_edits(qtbot, state, 0)
    for a, b in zip(
        state.models[zoo.MNIST].network.get_weights(), trained.get_weights(), strict=True
    ):
        np.testing.assert_array_equal(a, b)


def test_scale_restore_and_save_as_a_keras_file_that_reloads(
    qtbot, state, view, tmp_path, monkeypatch
):
    state.select_layer("conv2d_1")
    before = state.activations.maps["conv2d_1"][:, :, 3].copy()
    state.select_map(3)
    view.factor_spin.setValue(2.0)
    click(qtbot, view.scale_button)
    wait_edits(qtbot, state, 1)
    np.testing.assert_allclose(
        state.activations.maps["conv2d_1"][:, :, 3], 2.0 * before, rtol=1e-5, atol=1e-6
    )
    click(qtbot, view.restore_button)
    wait_edits(qtbot, state, 2)
    np.testing.assert_allclose(state.activations.maps["conv2d_1"][:, :, 3], before, atol=1e-6)
    assert view.edit_list.item(1).text() == "conv2d_1 filter 3 restored"
    state.select_map(5)
    click(qtbot, view.off_button)
    wait_edits(qtbot, state, 3)
    (tmp_path / "out").mkdir()
    target = tmp_path / "out" / "edited.keras"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(target), ""))
    click(qtbot, view.save_button)
    qtbot.waitUntil(lambda: "Saved" in view.message.text(), timeout=TIMEOUT)
    reloaded = keras.saving.load_model(target, safe_mode=True)
    x = state.activations.x[None]
    np.testing.assert_allclose(
        reloaded.predict(x, verbose=0), state.models[zoo.MNIST].network.predict(x, verbose=0)
    )
    labels = target.with_suffix(".labels.txt")  # its class names, read when it is opened
    assert sorted(target.parent.iterdir()) == sorted([target, labels])  # no temporary file
    assert labels.read_text().split("\n")[:10] == state.model.loaded.class_names


def test_an_edit_of_a_layer_without_weights_is_not_offered(qtbot, state, view):
    state.select_layer("max_pooling2d")
    state.select_map(0)
    assert not view.off_button.isEnabled()
    assert "not a Conv2D" in view.channel_label.text()


@pytest.fixture
def lab(qtbot, state):
    p = KernelLabPanel(state)
    qtbot.addWidget(p)
    p.resize(1200, 800)
    p.show()
    qtbot.waitExposed(p)
    return p


def test_the_labs_vertical_edge_goes_into_conv2d_1_and_the_draw_panel_follows(qtbot, state, lab):
    draw = DrawPanel(state)  # its classifier is built on the model thread: queued, not yet
    with qtbot.waitSignal(draw.classifier_ready, timeout=TIMEOUT):
        qtbot.addWidget(draw)
        draw.resize(1000, 700)
        draw.show()
    s = draw.canvas.width() / 280
    draw_stroke(draw.canvas, [(x * s, y * s) for x, y in SEVEN])
    qtbot.waitUntil(
        lambda: draw.prediction() is not None and draw.prediction().probabilities is not None,
        timeout=TIMEOUT,
    )
    first = draw.prediction().probabilities.copy()

    pick(qtbot, lab.preset_combo, "Vertical edge")
    lab.activateWindow()
    click(qtbot, lab.put_button)
    dialog = lab.put_dialog
    qtbot.waitUntil(lambda: dialog.isVisible(), timeout=5000)
    assert dialog.target() == (zoo.MNIST, "conv2d_1")
    texts = lambda: [dialog.target_combo.itemText(i) for i in range(dialog.target_combo.count())]  # noqa: E731
    qtbot.waitUntil(lambda: any("c1" in t for t in texts()), timeout=TIMEOUT)  # LeNet-5 loads
    assert dialog.target() == (zoo.MNIST, "conv2d_1")
    lenet = next(
        i for i in range(dialog.target_combo.count()) if "c1" in dialog.target_combo.itemText(i)
    )
    assert not dialog.target_combo.model().item(lenet).isEnabled()  # 5x5 filters: not 3x3
    dialog.filter_spin.setValue(0)
    # All 32 filters of conv2d_1 one after another would be slow: put it in filter 0.
    click(qtbot, dialog.buttons.button(QDialogButtonBox.StandardButton.Ok))
    wait_edits(qtbot, state, 1)
    edit = state.edits(zoo.MNIST)[0]
    assert edit.describe() == "conv2d_1 filter 0 := Vertical edge 3x3"
    layer = state.models[zoo.MNIST].network.get_layer("conv2d_1")
    np.testing.assert_array_equal(layer.kernel.numpy()[:, :, 0, 0], preset("Vertical edge"))
    # The map of that filter is the correlation with the kernel plus the trained bias, ReLU.
    qtbot.waitUntil(
        lambda: state.selection.layer == "conv2d_1" and state.selection.map == 0, timeout=TIMEOUT
    )
    digit = state.activations.x[:, :, 0]
    expected = np.maximum(
        correlate2d(digit, preset("Vertical edge"), mode="valid") + layer.bias.numpy()[0], 0
    )
    np.testing.assert_allclose(state.activations.maps["conv2d_1"][:, :, 0], expected, atol=1e-5)
    # The drawn digit's probabilities follow: the Draw panel now uses the edited model.
    qtbot.waitUntil(
        lambda: (
            draw.prediction() is not None
            and not np.allclose(draw.prediction().probabilities, first)
        ),
        timeout=TIMEOUT,
    )
    assert draw.edited_label.isVisible()  # the Draw panel says its model is edited
    assert "The lecture's CNN is edited (1 change)" in draw.edited_label.text()
    probe = draw.prediction().input.model_input()[None]
    np.testing.assert_allclose(
        draw.prediction().probabilities,
        state.models[zoo.MNIST].network.predict(probe, verbose=0)[0],
        atol=1e-5,
    )


def test_quick_edits_show_no_error_and_a_failed_measurement_is_not_retried(
    qtbot, state, monkeypatch
):
    import engine.models.mnist_data

    calls = []

    def gone():
        calls.append(1)
        raise OSError("the test digits are gone")

    monkeypatch.setattr(engine.models.mnist_data, "bundled_test_digits", gone)
    view = EditView(state)
    qtbot.addWidget(view)
    view.show()
    qtbot.waitUntil(lambda: "Could not measure" in view.message.text(), timeout=TIMEOUT)
    qtbot.waitUntil(lambda: not state.runner.busy(), timeout=TIMEOUT)  # no retry loop
    assert len(calls) == 1
    # Two edits in quick succession: each supersedes the other's measurement; no error.
    view.message.clear_message()
    state.select_layer("conv2d_2")
    state.select_map(1)
    click(qtbot, view.off_button)
    state.select_map(2)
    click(qtbot, view.off_button)
    wait_edits(qtbot, state, 2)
    qtbot.waitUntil(lambda: not state.runner.busy(), timeout=TIMEOUT)
    assert [e.describe() for e in state.edits(zoo.MNIST)] == [
        "conv2d_2 filter 1 off",
        "conv2d_2 filter 2 off",
    ]
    assert len(calls) <= 3  # each model (trained, one edit, two edits) tried once at most
    assert "Could not measure" in view.message.text()


def test_an_edited_model_is_the_same_network_another_model_file_is_not():
    from gui.state import OpenModel, same_layers

    a = OpenModel(None, None)
    assert same_layers(a, OpenModel(None, None, lineage=a.lineage))
    assert not same_layers(a, OpenModel(None, None))  # same layer names or not


def test_a_5x5_kernel_goes_into_lenet5_while_the_cnn_is_shown(qtbot, state, lab):
    assert state.model.key == zoo.MNIST
    pick(qtbot, lab.size_combo, "5x5")
    pick(qtbot, lab.preset_combo, "Vertical edge")
    lab.activateWindow()
    click(qtbot, lab.put_button)
    dialog = lab.put_dialog
    combo = dialog.target_combo
    qtbot.waitUntil(
        lambda: any("c1" in combo.itemText(i) for i in range(combo.count())), timeout=TIMEOUT
    )
    assert dialog.target() == ("lenet5", "c1")  # the only layer with 5x5 filters
    dialog.filter_spin.setValue(2)
    check = dialog.match_check  # at the strength of the learned filter
    qtbot.mouseClick(check, Qt.MouseButton.LeftButton, pos=QPoint(8, check.height() // 2))
    assert check.isChecked()
    click(qtbot, dialog.buttons.button(QDialogButtonBox.StandardButton.Ok))
    qtbot.waitUntil(
        lambda: (
            state.model.key == "lenet5"
            and state.activations is not None
            and state.activations.model is state.model
            and not state.busy()
        ),
        timeout=TIMEOUT,
    )
    (edit,) = state.edits("lenet5")
    assert edit.describe().startswith("c1 filter 2 := Vertical edge 5x5 ×")
    assert "edited (1 change)" in state.model.loaded.label  # not reloaded from disk
    kernel = state.model.network.get_layer("c1").kernel.numpy()[:, :, 0, 2]
    learned = state.original("lenet5").network.get_layer("c1").kernel.numpy()[:, :, 0, 2]
    np.testing.assert_allclose(np.linalg.norm(kernel), np.linalg.norm(learned), rtol=1e-5)
    np.testing.assert_allclose(kernel, edit.factor * preset("Vertical edge", 5), rtol=1e-5)
    assert state.selection.layer == "c1" and state.selection.map == 2
