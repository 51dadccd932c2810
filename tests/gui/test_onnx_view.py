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
