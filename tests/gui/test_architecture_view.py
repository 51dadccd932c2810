"""The architecture view: the model's graph as the engine reads it, clicks select layers."""

import pytest
from PySide6.QtCore import Qt

from engine.inspection.architecture import model_graph
from engine.models import zoo
from engine.models.runtime import load_tensorflow
from gui.panels.activations.architecture import GRAPH, VOLUMES, ArchitectureView

TIMEOUT = 180_000


@pytest.fixture
def view(qtbot, app_state):
    load_tensorflow()
    v = ArchitectureView(app_state)
    qtbot.addWidget(v)
    v.resize(900, 700)
    v.show()
    qtbot.waitExposed(v)
    app_state.start_tensorflow()  # opens the lecture's MNIST CNN
    qtbot.waitUntil(lambda: app_state.model is not None, timeout=TIMEOUT)
    return v


def open_model(qtbot, state, key):
    state.open_model(key, None)
    qtbot.waitUntil(lambda: state.model is not None and state.model.key == key, timeout=TIMEOUT)


def assert_drawn_as_graph(view, model):
    g = model_graph(model)
    assert view.graph is not None and view.graph.name == g.name
    assert view.node_names() == [n.name for n in g.nodes]
    assert view.edge_pairs() == sorted(g.edges)


def click_node(qtbot, view, name):
    """Scroll the node into view and click its centre, as a person would."""
    view.canvas.ensureVisible(view.item(name), 20, 20)
    pos = view.node_position(name)
    assert view.canvas.viewport().rect().contains(pos)
    qtbot.mouseClick(view.canvas.viewport(), Qt.MouseButton.LeftButton, pos=pos)


def assert_in_view(view, name):
    pos = view.node_position(name)
    assert view.canvas.viewport().rect().contains(pos), f"{name} is not scrolled into view"


def test_lecture_cnn_graph_volumes_and_clicks(qtbot, view, app_state):
    model = app_state.model.network
    assert view.mode() == GRAPH
    assert_drawn_as_graph(view, model)
    assert view.node_names()[:3] == ["digit", "conv2d_1", "conv2d_2"]

    click_node(qtbot, view, "conv2d_2")
    assert app_state.selection.layer == "conv2d_2"
    assert view.highlighted() == "conv2d_2"
    click_node(qtbot, view, "digit")  # the input is no layer of a Sequential: nothing changes
    assert app_state.selection.layer == "conv2d_2"

    # The lecture's volumes: one box per layer, each H x W x C, left to right.
    assert view.volumes_available()
    qtbot.mouseClick(view.volumes_button, Qt.MouseButton.LeftButton)
    assert view.mode() == VOLUMES
    assert view.node_names() == [n.name for n in model_graph(model).nodes]
    assert view.highlighted() == "conv2d_2"
    c1, c2 = view.item("conv2d_1"), view.item("conv2d_2")
    assert c1.face_h > c2.face_h and c1.depth < c2.depth  # 26x26x32 then 24x24x64
    assert "32@26x26" in c1.lines
    click_node(qtbot, view, "max_pooling2d")
    assert app_state.selection.layer == "max_pooling2d"
    assert view.highlighted() == "max_pooling2d"


def test_resnet50_and_inceptionv3_graphs(qtbot, view, app_state):
    open_model(qtbot, app_state, zoo.RESNET50)
    assert_drawn_as_graph(view, app_state.model.network)
    assert not view.volumes_available() and not view.volumes_button.isEnabled()
    # The residual block's two branches are drawn side by side, joined at the add.
    lanes = {n: view.item(n).x() for n in ("conv2_block1_3_bn", "conv2_block1_0_bn")}
    assert lanes["conv2_block1_3_bn"] != lanes["conv2_block1_0_bn"]

    open_model(qtbot, app_state, zoo.INCEPTIONV3)
    assert_drawn_as_graph(view, app_state.model.network)
    assert view.build_seconds < 1.0, f"InceptionV3 drawn in {view.build_seconds:.3f} s"
    print(f"InceptionV3's graph built in {view.build_seconds * 1000:.0f} ms")

    # The state's selection is outlined and scrolled into view, far down the graph.
    app_state.select_layer("mixed7")
    assert view.highlighted() == "mixed7"
    assert_in_view(view, "mixed7")
    # Keras numbers unnamed layers per session: take the graph's fourth convolution.
    conv = [n.name for n in view.graph.nodes if n.type == "Conv2D"][3]
    click_node(qtbot, view, conv)
    assert app_state.selection.layer == conv and view.highlighted() == conv
    # A drag pans and selects nothing.
    before = view.canvas.verticalScrollBar().value()
    start = view.node_position(conv)
    qtbot.mousePress(view.canvas.viewport(), Qt.MouseButton.LeftButton, pos=start)
    for dy in range(0, 200, 20):
        qtbot.mouseMove(view.canvas.viewport(), pos=start - type(start)(0, dy))
    qtbot.mouseRelease(
        view.canvas.viewport(), Qt.MouseButton.LeftButton, pos=start - type(start)(0, 200)
    )
    assert app_state.selection.layer == conv
    assert view.canvas.verticalScrollBar().value() != before
