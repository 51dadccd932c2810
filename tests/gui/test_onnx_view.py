"""An ONNX file in the window: dropped on the Activations panel, its layers grouped into
the graph's blocks, its maps and top-5 the same as the Keras network it was built from,
occlusion on ONNX Runtime, and the gradient tools saying why they cannot run."""

import numpy as np
import onnx
import pytest
from PySide6.QtCore import Qt

from tests.engine.test_onnx_model import build_keras, build_onnx

from .test_activations import click_layer, drop_file, wait_for_activations

TIMEOUT = 180_000


@pytest.fixture(scope="module")
def networks(tmp_path_factory):
    keras_model = build_keras((None, None, 3))  # any size, as the ONNX graph
    path = tmp_path_factory.mktemp("onnx") / "small.onnx"
    onnx.save(build_onnx(keras_model), path)
    return keras_model, path


def test_an_onnx_file_dropped_on_the_panel_shows_the_keras_networks_maps(
    qtbot, activations_panel, networks
):
    from engine.models.zoo import softmax

    panel, state = activations_panel, activations_panel._state
    keras_model, path = networks
    drop_file(panel, path)
    acts = wait_for_activations(qtbot, state, "file")
    assert "small.onnx" in panel.model_label.text()
    # The same numbers as the Keras network for the very input the model received.
    expected = keras_model.predict(acts.x[None], verbose=0)[0]
    np.testing.assert_allclose(acts.output, expected, rtol=1e-4, atol=1e-5)
    want = softmax(expected) if not np.isclose(expected.sum(), 1) else expected
    assert acts.top[0][1] == pytest.approx(float(want.max()), abs=1e-4)
    # The layer tree groups the nodes into the blocks read from the graph.
    tree = panel.layer_table
    heads = [tree.topLevelItem(i).text(0) for i in range(tree.topLevelItemCount())]
    assert "top" in heads and len(heads) >= 2
    # A conv node's maps, clicked as a person would.
    click_layer(qtbot, panel, "conv1")
    conv = keras_model.get_layer("conv1")
    sub = __import__("keras").Model(keras_model.inputs, conv.output)
    np.testing.assert_allclose(
        state.selected_maps(), sub.predict(acts.x[None], verbose=0)[0], rtol=1e-4, atol=1e-4
    )


def test_occlusion_runs_on_onnx_and_grad_cam_says_why_not(qtbot, activations_panel, networks):
    panel, state = activations_panel, activations_panel._state
    drop_file(panel, networks[1])
    wait_for_activations(qtbot, state, "file")
    explain = panel.explain_view
    panel.tabs.setCurrentWidget(explain)
    explain.method_combo.setCurrentIndex(explain.method_combo.findData("occlusion"))
    qtbot.waitUntil(lambda: "patch around the pixel" in explain.scale_label.text(), timeout=TIMEOUT)
    # Score-CAM needs no gradients: a class activation map of an ONNX model.
    explain.method_combo.setCurrentIndex(explain.method_combo.findData("scorecam"))
    qtbot.waitUntil(lambda: "Score-CAM" in explain.scale_label.text(), timeout=TIMEOUT)
    assert not explain.message.is_error()
    # The gradient methods are offered only where there are gradients, and say why not.
    combo = explain.method_combo
    gradcam = combo.model().item(combo.findData("gradcam"))
    assert not gradcam.isEnabled() and "needs gradients" in gradcam.toolTip()
    assert combo.model().item(combo.findData("occlusion")).isEnabled()
    # Switching a channel off works on ONNX too (an edit of its initializers).
    click_layer(qtbot, panel, "conv1")
    before = state.selected_maps().copy()
    state.ablate_channels("file", "conv1", [0])
    qtbot.waitUntil(
        lambda: state.edits("file") != () and state.activations is not None, timeout=TIMEOUT
    )
    after = state.selected_maps()
    assert not after[:, :, 0].any() and np.allclose(after[:, :, 1:], before[:, :, 1:], atol=1e-5)
    qtbot.keyClick(panel, Qt.Key.Key_Escape)  # nothing else to check: the panel still answers


@pytest.fixture(scope="module")
def digit_onnx(tmp_path_factory):
    """The app's trained MNIST CNN written out as an ONNX file (input (N, 1, 28, 28))."""
    from engine.models.mnist_model import load_trained_mnist_cnn
    from tests.engine.test_onnx_tools import mnist_onnx

    path = tmp_path_factory.mktemp("onnx") / "digits.onnx"
    onnx.save(mnist_onnx(load_trained_mnist_cnn()), path)
    return path


def test_the_top_9_of_an_onnx_model_and_its_pictures_say_why_not(
    qtbot, activations_panel, digit_onnx, tmp_path, monkeypatch
):
    from PIL import Image
    from PySide6.QtWidgets import QFileDialog

    from engine.explanation.top_examples import find_top, scan_folder
    from engine.models.mnist_data import bundled_test_digits

    from .test_featurevis_view import click_tab, type_number

    panel, state = activations_panel, activations_panel._state
    drop_file(panel, digit_onnx)
    wait_for_activations(qtbot, state, "file")
    click_layer(qtbot, panel, "conv2d_2")
    view = panel.featurevis_view
    click_tab(qtbot, panel.tabs, panel.tabs.indexOf(view))
    type_number(qtbot, view.channel_spin, 5)
    assert view.header.text() == "conv2d_2, channel 5 of 64"
    # The pictures need gradients: the buttons are off and the picture says why.
    assert not view.show_button.isEnabled() and not view.layer_button.isEnabled()
    assert not view.steps_spin.isEnabled()
    for text in (view.result_label.text(), view.gallery_label.text(), view.show_button.toolTip()):
        assert "needs gradients" in text and "Keras" in text
    # The title says it short, the whole sentence is in the wrapping label below.
    assert view.image_view.title() == "Feature visualisation needs gradients"
    # Top 9 from a folder of twelve test digits, searched as a person asks for it.
    folder = tmp_path / "digits"
    folder.mkdir()
    digits, _labels = bundled_test_digits()
    for i in range(12):
        Image.fromarray(digits[i]).save(folder / f"digit{i:02d}.png")
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a, **k: str(folder))
    click_tab(qtbot, view.side_tabs, 1)
    qtbot.mouseClick(view.top_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: view.top_result() is not None, timeout=TIMEOUT)
    expected = find_top(state.model.loaded, "conv2d_2", 5, scan_folder(folder))
    shown = view.top_result()
    assert [it.name for it in shown.items] == [it.name for it in expected.items]
    assert len(shown.items) == 9 and view.top_list.count() == 9
    for row, it in enumerate(expected.items):
        value, name = view.top_list.item(row).text().split("\n")
        assert (value, name) == (f"{it.value:.3g}", it.name)
        assert shown.items[row].box == it.box
    assert "conv2d_2 channel 5" in view.top_label.text() and not view.message.is_error()


def test_the_test_set_measures_an_onnx_digit_model_as_the_keras_one(qtbot, app_state, digit_onnx):
    from engine.editing.surgery import evaluate
    from engine.models.mnist_data import bundled_test_digits
    from engine.models.runtime import load_tensorflow
    from gui.panels.testset.panel import TestSetPanel

    from .helpers import choose
    from .test_test_set import click_digit, wait_for_result

    load_tensorflow()
    panel = TestSetPanel(app_state)
    qtbot.addWidget(panel)
    panel.resize(1100, 720)
    panel.show()
    qtbot.waitExposed(panel)
    app_state.start_tensorflow()
    wait_for_result(qtbot, panel)
    keras_result = panel.result()
    assert panel.model_combo.findData("file") < 0  # no model file open yet
    # The ONNX file opened (as from the Activations panel): offered while it is current.
    with qtbot.waitSignal(app_state.model_changed, timeout=TIMEOUT):
        app_state.open_model_file(digit_onnx)
    choose(qtbot, panel.model_combo, "Your model: digits.onnx")
    wait_for_result(qtbot, panel, app_state.model)
    result = panel.result()
    x, y = bundled_test_digits()
    assert result.accuracy == evaluate(app_state.model.network, x, y).accuracy
    assert result.accuracy == keras_result.accuracy > 0.9  # the Keras CNN it was made from
    np.testing.assert_array_equal(result.evaluation.confusion, keras_result.evaluation.confusion)
    assert panel.accuracy_label.text().startswith("digits.onnx: ")
    assert not panel.message.is_error()
    # A mistake of the file's clicked opens that digit with the file still current.
    onnx_model = app_state.model
    index = panel.gallery_indices()[0]
    with qtbot.waitSignal(app_state.activations_changed, timeout=TIMEOUT):
        click_digit(qtbot, panel.gallery, 0)
    assert f"#{index}" in app_state.input.name and app_state.model is onnx_model
    # Another model current: the file is no longer offered; the shipped model chosen
    # last (stepping down the list passed LeNet-5) is tested again.
    app_state.open_model("mnist")
    qtbot.waitUntil(lambda: panel.model_combo.findData("file") < 0, timeout=TIMEOUT)
    assert panel.model_key() == "lenet5"
    qtbot.waitUntil(lambda: "lenet5" in app_state.models, timeout=TIMEOUT)
    wait_for_result(qtbot, panel, app_state.models["lenet5"])
