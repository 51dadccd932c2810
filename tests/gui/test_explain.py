"""Explaining a prediction in the Activations panel: heat maps, the occlusion brush,
receptive fields; checked against the engine's own functions."""

import numpy as np
import pytest
from PIL import Image, ImageDraw
from PySide6.QtCore import QPoint, QPointF, Qt

from engine.explanation import attribution
from engine.models import zoo
from engine.models.digits import prepare_digit

from .helpers import pick
from .test_activations import click_layer, click_map, wait_for_activations

TIMEOUT = 120_000


def seven():
    canvas = Image.new("L", (280, 280), 0)
    ImageDraw.Draw(canvas).line(
        [(70, 60), (210, 60), (185, 115), (140, 240)], fill=255, width=20, joint="curve"
    )
    return prepare_digit(np.asarray(canvas))


@pytest.fixture
def panel(qtbot, app_state, activations_panel):
    p = activations_panel
    app_state.set_drawn_digit(seven())
    app_state.use_drawn_digit()
    wait_for_activations(qtbot, app_state, zoo.MNIST)
    p.tabs.setCurrentWidget(p.explain_view)
    return p


def view_point(view, row, col):
    """Where image pixel (row, col) of an OverlayView is on its viewport."""
    scene = view.base.mapToScene(QPointF(col + 0.5, row + 0.5))
    return QPoint(view.mapFromScene(scene))


def drag(qtbot, view, points):
    vp = view.viewport()
    first = view_point(view, *points[0])
    qtbot.mousePress(vp, Qt.MouseButton.LeftButton, pos=first)
    for row, col in points[1:]:
        qtbot.mouseMove(vp, view_point(view, row, col))
        qtbot.wait(5)
    qtbot.mouseRelease(vp, Qt.MouseButton.LeftButton, pos=view_point(view, *points[-1]))


def test_grad_cam_of_the_drawn_seven_is_the_engines(qtbot, panel):
    ev, state = panel.explain_view, panel._state
    pick(qtbot, ev.method_combo, ev.method_combo.itemText(0))  # Grad-CAM
    qtbot.waitUntil(lambda: ev.view.heat_data() is not None, timeout=TIMEOUT)
    acts = state.activations
    expected = attribution.grad_cam(acts.model.network, acts.x, 7)
    np.testing.assert_allclose(ev.view.heat_data(), expected / expected.max(), atol=1e-5)
    assert "class 7" in ev.view.title()
    # Another class, picked from the list: the heat map is that class's.
    pick(
        qtbot,
        ev.class_combo,
        next(
            t
            for t in map(ev.class_combo.itemText, range(ev.class_combo.count()))
            if t.startswith("1 ")
        ),
    )
    assert state.target_class == 1
    qtbot.waitUntil(lambda: "class 1" in ev.view.title() and not ev.is_computing(), timeout=TIMEOUT)
    expected = attribution.grad_cam(acts.model.network, acts.x, 1)
    peak = expected.max()
    np.testing.assert_allclose(
        ev.view.heat_data(), expected / peak if peak else expected, atol=1e-5
    )


def test_covering_the_crossbar_turns_the_seven_into_a_one(qtbot, panel):
    ev = panel.explain_view
    qtbot.waitUntil(lambda: ev.covered_probabilities() != [], timeout=TIMEOUT)
    assert ev.covered_probabilities()[0].strip().endswith("7")
    pick(qtbot, ev.fill_combo, "with black")
    qtbot.mouseClick(ev.brush_button, Qt.MouseButton.LeftButton)
    ev.brush_spin.setValue(4)
    for row in (1.5, 5.5, 8.5):  # three strokes across the top, over the crossbar
        drag(qtbot, ev.view, [(row, c) for c in range(0, 28, 2)])
    mask = ev.view.mask()
    assert mask[:10].all() and not mask[12:].any()
    qtbot.waitUntil(lambda: ev.covered_probabilities()[0].strip().endswith("1"), timeout=TIMEOUT)
    assert "p(7): 100.0% →" in ev.probability_label.text()
    # The probabilities are the model's for exactly the covered input.
    acts = panel._state.activations
    x = acts.x * (1 - mask[:, :, None])
    p = attribution.explainer(acts.model.network).probabilities(x)
    assert ev.covered_probabilities()[0].startswith(f"{p.max():6.1%}")
    ev.brush_button.setFocus()
    qtbot.keyClick(ev.brush_button, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert len(ev.view._strokes) == 2  # one stroke taken back by the keyboard
    for _ in range(2):
        qtbot.mouseClick(ev.undo_button, Qt.MouseButton.LeftButton)
    assert not ev.view.mask().any()
    qtbot.waitUntil(lambda: ev.covered_probabilities()[0].strip().endswith("7"), timeout=TIMEOUT)


def test_an_occlusion_sweep_and_its_cancel(qtbot, panel):
    ev, state = panel.explain_view, panel._state
    pick(qtbot, ev.method_combo, ev.method_combo.itemText(3))  # occlusion
    qtbot.waitUntil(
        lambda: ev.view.heat_data() is not None and not ev.is_computing(), timeout=TIMEOUT
    )
    acts = state.activations
    drops = attribution.occlusion(acts.model.network, acts.x, 7, 4, 2, fill=0.5019608)
    heat = attribution.occlusion_heat(np.maximum(drops, 0), 4, 2, (28, 28))
    np.testing.assert_allclose(ev.view.heat_data(), heat / heat.max(), atol=1e-4)
    # A slow sweep (VGG16 at 224 px) shows progress and stops on Cancel.
    state.open_model(zoo.VGG16, None)
    wait_for_activations(qtbot, state, zoo.VGG16)
    qtbot.waitUntil(lambda: ev.progress_box.isVisible(), timeout=TIMEOUT)
    qtbot.mouseClick(ev.cancel_button, Qt.MouseButton.LeftButton)
    assert not ev.is_computing() and ev.progress_box.isHidden()
    qtbot.wait(300)
    assert not ev.message.is_error()


def test_a_map_pixel_of_vgg16_block4_shows_its_100_pixel_square(qtbot, panel):
    state = panel._state
    state.open_model(zoo.VGG16, None)
    wait_for_activations(qtbot, state, zoo.VGG16)
    rows = {r[0]: r for r in panel.layer_table.rows_text()}
    assert rows["block4_pool"][4] == "100 px, step 16"
    click_layer(qtbot, panel, "block4_pool")
    # The liveliest map (random weights leave some ReLU channels dead, all zeros).
    maps = state.activations.maps["block4_pool"]
    click_map(qtbot, panel, int(np.argmax(maps[3:11, 3:11].max(axis=(0, 1)))))
    view = panel.detail_map
    scene = view.image_item.mapToScene(QPointF(7.5, 6.5))  # map pixel (6, 7) of 14x14
    qtbot.mouseClick(
        view.viewport(), Qt.MouseButton.LeftButton, pos=QPoint(view.mapFromScene(scene))
    )
    assert state.selection.pixel == (6, 7)
    box = panel.detail_input.box_rect()
    field = attribution.receptive_field(state.model.network, "block4_pool")
    assert box == attribution.receptive_box(field, 6, 7, (224, 224))
    assert box[2] - box[0] == 100 and box[3] - box[1] == 100
    assert "sees 100x100 input pixels" in panel.field_label.text()
    qtbot.mouseClick(panel.erf_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: panel.detail_input.heat_data() is not None, timeout=TIMEOUT)
    heat = panel.detail_input.heat_data()
    top, left, bottom, right = box
    outside = heat.copy()
    outside[top:bottom, left:right] = 0
    assert heat[top:bottom, left:right].max() > 0 and not outside.any()


def image_share(view):
    """How much of its view box's width and height the input image takes on screen."""
    image = view.base.sceneBoundingRect()
    box = view.view.sceneBoundingRect()
    return image.width() / box.width(), image.height() / box.height()


@pytest.mark.parametrize("hidden", [False, True], ids=["shown", "behind-another-tab"])
def test_the_input_fills_the_view_after_a_224_px_model(qtbot, hidden):
    from PySide6.QtWidgets import QLabel, QTabWidget

    from gui.widgets.overlay_view import OverlayView

    tabs, view = QTabWidget(), OverlayView("Input")
    qtbot.addWidget(tabs)
    tabs.addTab(view, "Explain")
    tabs.addTab(QLabel("One map"), "One map")
    tabs.resize(600, 600)
    tabs.show()
    qtbot.waitExposed(tabs)
    # A photo model's input and heat map, as the Explain tab shows them...
    view.set_image(np.zeros((224, 224, 3), np.uint8))
    view.set_heat(np.random.default_rng(0).random((224, 224)))
    if hidden:
        tabs.setCurrentIndex(1)
    # ...then the MNIST CNN's: the new input arrives before its heat map.
    view.set_image(np.zeros((28, 28), np.uint8))
    view.set_heat(np.random.default_rng(1).random((28, 28)))
    tabs.setCurrentIndex(0)
    qtbot.wait(20)
    assert min(image_share(view)) > 0.9, image_share(view)
    tabs.resize(500, 600)
    qtbot.wait(20)
    assert max(image_share(view)) > 0.9, image_share(view)


def test_heat_maps_have_a_colour_bar_with_real_values(qtbot, panel):
    ev, state = panel.explain_view, panel._state
    pick(qtbot, ev.method_combo, ev.method_combo.itemText(3))  # occlusion
    qtbot.waitUntil(
        lambda: ev.view.heat_map() is not None and "drops" in ev.scale_label.text(),
        timeout=TIMEOUT,
    )
    heat = ev.view.heat_map()
    acts = state.activations
    drops = attribution.occlusion(acts.model.network, acts.x, 7, 4, 2, fill=0.5019608)
    largest = float(attribution.occlusion_heat(np.maximum(drops, 0), 4, 2, (28, 28)).max())
    # The bar's top is the largest drop, in percentage points, and it is on screen.
    assert heat.high == pytest.approx(100 * largest, rel=1e-3)
    assert ev.view.colour_bar.isVisible()
    assert ev.view.colour_bar.levels() == pytest.approx((0.0, heat.high))
    assert "percentage points" in ev.scale_label.text()
    assert f"to {heat.high:.3g} percentage points" in ev.scale_label.text()
    # Saliency: the gradient's size, said so, on a robust scale (clipped at the 99th
    # percentile), so that more than a few specks show.
    pick(qtbot, ev.method_combo, ev.method_combo.itemText(1))
    qtbot.waitUntil(
        lambda: ev.view.heat_map() is not None and "∂p/∂x" in ev.scale_label.text(),
        timeout=TIMEOUT,
    )
    heat = ev.view.heat_map()
    grad = attribution.saliency(acts.model.network, acts.x, 7)
    assert heat.high == pytest.approx(float(np.percentile(grad[grad > 0], 99)), rel=1e-3)
    assert heat.clipped and heat.peak == pytest.approx(float(grad.max()), rel=1e-3)
    assert "sign dropped" in ev.scale_label.text() and "top 1% of pixels" in ev.scale_label.text()
    shown = ev.view.heat_data()
    assert (shown >= 1.0).mean() >= 0.009 and (shown > 0.25).mean() > (grad > grad.max() / 4).mean()


def test_the_brush_reads_a_logits_model_as_its_top_5_does(
    qtbot, app_state, activations_panel, tmp_path
):
    """A model file that outputs logits: the brush line gave "p(class 1): 1504.6%"
    (a logit printed as a probability) beside a top-5 through softmax."""
    import keras

    from .test_activations import drop_file

    inputs = keras.Input((32, 32, 3))
    x = keras.layers.Conv2D(4, 3, name="c")(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(
        3, name="logits", bias_initializer=keras.initializers.Constant(15.0)
    )(x)
    path = tmp_path / "logits.keras"
    keras.Model(inputs, outputs).save(path)
    panel = activations_panel
    drop_file(panel, path)
    qtbot.waitUntil(
        lambda: app_state.model is not None and app_state.model.loaded.title == path.name,
        timeout=TIMEOUT,
    )
    acts = wait_for_activations(qtbot, app_state, "file")
    logits = acts.maps[acts.model.loaded.output_layer]
    assert logits.max() > 5  # logits, far from a distribution
    ev = panel.explain_view
    panel.tabs.setCurrentWidget(ev)
    qtbot.waitUntil(lambda: ev.covered_probabilities() != [], timeout=TIMEOUT)
    c = app_state.explained_class()
    p = zoo.softmax(logits)
    assert f"= {p[c]:.1%}" in ev.probability_label.text()
    ev.brush_spin.setValue(8)
    qtbot.mouseClick(ev.brush_button, Qt.MouseButton.LeftButton)
    drag(qtbot, ev.view, [(16, col) for col in range(0, 32, 2)])
    qtbot.waitUntil(lambda: "→" in ev.probability_label.text(), timeout=TIMEOUT)
    shown = [float(v.rstrip("%")) for v in ev.probability_label.text().split() if v.endswith("%")]
    assert all(0 <= v <= 100 for v in shown), ev.probability_label.text()
    # The line and the top-5 beside it read the output alike (the explained class's
    # entry; covering may have made another class the top one).
    name = acts.model.loaded.class_name(c)
    entry = next(e for e in ev.covered_probabilities() if e.endswith(f"  {name}"))
    assert entry.startswith(f"{max(shown[1], 0) / 100:6.1%}")
