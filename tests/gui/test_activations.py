"""The Activations panel: a view of the application state, driven by clicks.

Each of the first round's defects has its test here: a stale "One map" after a layer or
model switch, clicks during a model switch or after a failed recompute, the drawn digit
in the image list, exports of the map really selected, a model file dropped on the panel.
"""

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent

import gui.state
from engine.models import zoo
from engine.models.digits import PreparedDigit
from gui.panels.activations.panel import DRAWN_DIGIT, ActivationsPanel
from gui.theme import theme

from .helpers import choose, pick

TIMEOUT = 180_000


@pytest.fixture
def panel(activations_panel):
    return activations_panel


def wait_for_activations(qtbot, state, key=None):
    def ready():
        a = state.activations
        return a is not None and (key is None or a.model.key == key) and not state.busy()

    qtbot.waitUntil(ready, timeout=TIMEOUT)
    return state.activations


def click_layer(qtbot, panel, name):
    tree = panel.layer_table
    item = tree.item_for(name)
    tree.scrollToItem(item)

    def point():  # on the layer's name, where a person would click
        rect = tree.visualItemRect(item)
        return QPoint(max(rect.left(), 0) + 30, rect.center().y())

    qtbot.waitUntil(lambda: tree.viewport().rect().contains(point()), timeout=5_000)
    qtbot.mouseClick(tree.viewport(), Qt.MouseButton.LeftButton, pos=point())
    assert panel._state.selection.layer == name


def click_grid_at(qtbot, panel, y, x, button=Qt.MouseButton.LeftButton):
    panel.tabs.setCurrentIndex(0)
    scene = panel.grid_view.image_item.mapToScene(QPointF(x, y))
    pos = panel.grid_view.mapFromScene(scene)
    qtbot.mouseClick(panel.grid_view.viewport(), button, pos=QPoint(pos))


def click_map(qtbot, panel, index, button=Qt.MouseButton.LeftButton):
    top, left = panel.grid_mosaic().origins[index]
    h, w = panel.grid_mosaic().map_shape
    click_grid_at(qtbot, panel, top + h / 2, left + w / 2, button)


def test_a_picture_of_a_digit_read_confidently_gets_no_warning(qtbot, panel, tmp_path):
    from PIL import Image

    from engine.models.mnist_data import bundled_test_digits

    x, y = bundled_test_digits()
    seven = int(np.flatnonzero(y == 7)[0])
    picture = np.kron(np.asarray(x[seven], np.uint8), np.ones((8, 8), np.uint8))
    Image.fromarray(picture).convert("RGB").save(tmp_path / "white-seven.png")
    panel.source.load_file(tmp_path / "white-seven.png")
    qtbot.waitUntil(
        lambda: (
            panel._state.activations is not None
            and "white-seven" in panel._state.activations.input.name
        ),
        timeout=60_000,
    )
    label, p = panel._state.activations.top[0]
    assert label.startswith("7") and p > 0.9, panel._state.activations.top
    assert "not a handwritten digit" not in panel.fit_label.text()


def test_mnist_layers_grid_and_enlarged_map(qtbot, panel):
    state = panel._state
    acts = state.activations
    assert acts.model.key == zoo.MNIST and acts.input.kind is gui.state.InputKind.SAMPLE
    assert panel.top_list.count() == 5
    assert "not a handwritten digit" in panel.fit_label.text()  # a photo into the MNIST CNN
    for name, channels in [("conv2d_1", 32), ("conv2d_2", 64), ("max_pooling2d", 64)]:
        click_layer(qtbot, panel, name)
        assert len(panel.grid_mosaic().origins) == channels
        assert panel.layer_label.text().startswith(f"{name}: {channels} maps")
    click_map(qtbot, panel, 5)
    assert state.selection.map == 5 and panel.tabs.currentIndex() == 1
    np.testing.assert_array_equal(panel.selected_map(), acts.maps["max_pooling2d"][:, :, 5])
    np.testing.assert_array_equal(panel.detail_map.data(), acts.maps["max_pooling2d"][:, :, 5])
    assert "Map 5 of max_pooling2d" in panel.stats_label.text()


def export(qtbot, panel, path, what):
    """Export off the UI thread, as the buttons do, and wait for the file."""
    with qtbot.waitSignal(panel.exported, timeout=TIMEOUT) as blocker:
        if what == "npz":
            panel.export_npz(path)
        else:
            panel.export_png(path, what)
    return blocker.args[0]


def test_one_map_follows_the_layer_and_exports_what_is_selected(qtbot, panel, tmp_path):
    state = panel._state
    click_layer(qtbot, panel, "conv2d_1")
    click_map(qtbot, panel, 4)
    png = export(qtbot, panel, tmp_path / "map.png", "map")
    w, h = Image.open(png).size
    assert w > 26 * 19 and h > 26 * 19  # a 26x26 map enlarged to a readable size
    click_layer(qtbot, panel, "conv2d_2")
    # The map of conv2d_1 is gone everywhere: state, view, export.
    assert state.selection.map is None and panel.selected_map() is None
    assert panel.detail_map.image_item.image is None
    assert panel.stats_label.text() == "Click a map in the grid."
    with pytest.raises(ValueError, match="no map"):
        panel.export_png(tmp_path / "stale.png", "map")
    click_map(qtbot, panel, 10)
    assert Image.open(export(qtbot, panel, tmp_path / "m10.png", "map")).size[0] > 24 * 21
    assert "conv2d_2 map 10" in panel.detail_map.title()


def test_clicks_during_a_model_switch_and_after_a_failed_recompute(qtbot, panel, monkeypatch):
    state = panel._state
    click_layer(qtbot, panel, "conv2d_1")
    grid = panel.grid_mosaic()
    state.open_model(zoo.RESNET50, None)
    qtbot.waitUntil(lambda: state.model.key == zoo.RESNET50, timeout=TIMEOUT)
    # The new model's maps are still computing: clicks where the old grid was do nothing.
    assert state.activations is None or state.busy()
    click_grid_at(qtbot, panel, grid.origins[3][0] + 2, grid.origins[3][1] + 2)
    click_layer(qtbot, panel, "conv1_conv")
    acts = wait_for_activations(qtbot, state, zoo.RESNET50)
    assert state.selection.map is None and "conv1_conv" in acts.maps

    def broken(model, image):
        raise RuntimeError("out of memory while computing")

    monkeypatch.setattr(gui.state, "compute_activations", broken)
    choose(qtbot, panel.image_combo, "Coffee")
    qtbot.waitUntil(panel.message.is_error, timeout=TIMEOUT)
    assert "out of memory" in panel.message.text() and state.activations is None
    for _ in range(3):  # every click after the failure is harmless
        click_grid_at(qtbot, panel, 10, 10)
        click_layer(qtbot, panel, "conv1_relu")
    assert state.selection.map is None
    monkeypatch.undo()
    choose(qtbot, panel.image_combo, "Rocket")
    acts = wait_for_activations(qtbot, state, zoo.RESNET50)
    assert acts.input.name == "Rocket"


def test_the_drawn_digit_in_the_image_list(qtbot, panel):
    state = panel._state
    pick(qtbot, panel.image_combo, DRAWN_DIGIT)
    assert panel.message.is_error() and "draw a digit" in panel.message.text().lower()
    pixels = np.zeros((28, 28), np.float32)
    pixels[4:24, 13:16] = 1.0
    state.set_drawn_digit(PreparedDigit(pixels))
    pick(qtbot, panel.image_combo, "Coffee")
    wait_for_activations(qtbot, state)
    pick(qtbot, panel.image_combo, DRAWN_DIGIT)
    acts = wait_for_activations(qtbot, state)
    assert acts.input.kind is gui.state.InputKind.DRAWN_DIGIT
    np.testing.assert_array_equal(acts.x[:, :, 0], pixels)
    assert acts.top[0][0] == "1"
    assert panel.fit_label.isHidden()  # a drawn digit is what the MNIST CNN is made for


def test_vgg16_offline_then_untrained(qtbot, panel, monkeypatch):
    from keras.src.utils import file_utils

    def offline(*_a, **_k):
        raise OSError("network is unreachable")

    monkeypatch.setattr(file_utils, "get_file", offline)
    state = panel._state
    pick(qtbot, panel.model_combo, zoo.MODEL_TITLES[zoo.VGG16])
    qtbot.waitUntil(panel.message.is_error, timeout=TIMEOUT)
    assert "could not be downloaded" in panel.message.text()
    assert "Open untrained" in panel.message.text()
    assert "Still showing MNIST" in panel.message.text() and state.model.key == zoo.MNIST
    assert panel.model_combo.currentText() == zoo.MODEL_TITLES[zoo.VGG16]  # the choice stays
    qtbot.waitUntil(panel.untrained_button.isEnabled, timeout=TIMEOUT)
    qtbot.mouseClick(panel.untrained_button, Qt.MouseButton.LeftButton)
    acts = wait_for_activations(qtbot, state, zoo.VGG16)
    assert not acts.model.loaded.trained
    assert "untrained" in panel.model_label.text()
    assert all("untrained" in panel.top_list.item(i).text() for i in range(5))
    click_layer(qtbot, panel, "block1_conv1")
    assert len(panel.grid_mosaic().origins) == 64 and "UNTRAINED" in panel.layer_label.text()
    assert panel.filters_view.data().shape[2] == 3  # first-layer filters as RGB patches
    click_layer(qtbot, panel, "block5_conv3")
    assert len(panel.grid_mosaic().origins) == 512
    # The new, smaller grid fills the view (not a corner of the old layer's extent).
    (x0, x1), (y0, y1) = panel.grid_view.view.viewRange()
    h, w = panel.grid_image().shape
    tight = min((x1 - x0) / w, (y1 - y0) / h)  # the view's shape decides which side fills
    assert 0.95 <= tight < 1.15
    click_map(qtbot, panel, 300)
    np.testing.assert_array_equal(panel.selected_map(), acts.maps["block5_conv3"][:, :, 300])
    # Switching model resets the selection: no VGG16 map is shown for ResNet50.
    state.open_model(zoo.RESNET50, None)
    wait_for_activations(qtbot, state, zoo.RESNET50)
    assert panel.selected_map() is None and panel.detail_map.image_item.image is None


def test_resnet_residual_adds_are_marked(qtbot, panel):
    state = panel._state
    state.open_model(zoo.RESNET50, None)
    wait_for_activations(qtbot, state, zoo.RESNET50)
    texts = [row[0] for row in panel.layer_table.rows_text()]
    adds = [t for t in texts if "_add = " in t]
    assert len(adds) == 16  # every residual join names the two branches it adds
    assert adds[0] == "conv2_block1_add = conv2_block1_0_bn + conv2_block1_3_bn"
    tree = panel.layer_table
    # The name column gives way to the others; a cut name is whole in its tooltip.
    assert tree.item_for("conv2_block1_add").toolTip(0) == adds[0]
    header, last = tree.header(), tree.columnCount() - 1
    assert header.sectionViewportPosition(last) + header.sectionSize(last) <= (
        tree.viewport().width()
    ) or tree.columnWidth(0) <= theme().px(120)
    click_layer(qtbot, panel, "conv3_block1_add")
    assert len(panel.grid_mosaic().origins) == 512
    click_layer(qtbot, panel, "conv2_block1_1_conv")  # a 1x1 convolution: 64 x 64 weights
    assert panel.filters_view.data().shape == (64, 64)
    assert "matrix" in panel.filters_view.title()


def drop_file(panel, path):
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path))])
    event = QDropEvent(
        QPointF(20, 20),
        Qt.DropAction.CopyAction,
        mime,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    panel.dropEvent(event)


def test_a_keras_file_dropped_on_the_panel_opens(qtbot, panel, tmp_path):
    import keras

    model = keras.Sequential(
        [keras.Input((32, 32, 3)), keras.layers.Conv2D(4, 3, name="c"), keras.layers.Flatten()]
    )
    path = tmp_path / "tiny.keras"
    model.save(path)
    drop_file(panel, path)
    acts = wait_for_activations(qtbot, panel._state, "file")
    assert acts.maps["c"].shape == (30, 30, 4) and "tiny.keras" in panel.model_label.text()
    bad = tmp_path / "broken.keras"
    bad.write_bytes(b"PK\x03\x04 not really a zip")
    drop_file(panel, bad)
    qtbot.waitUntil(panel.message.is_error, timeout=TIMEOUT)
    assert "could not be read as a Keras model" in panel.message.text()
    assert panel._state.model.key == "file" and "tiny.keras" in panel.model_label.text()


def test_exports_are_complete_files(qtbot, panel, tmp_path):
    click_layer(qtbot, panel, "conv2d_1")
    out = tmp_path / "exports"
    out.mkdir()
    png = export(qtbot, panel, out / "grid.png", "grid")
    w, h = Image.open(png).size
    gh, gw = panel.grid_image().shape
    assert w > gw and h > gh  # the grid with a title and a colour bar around it
    npz = export(qtbot, panel, out / "acts.npz", "npz")
    acts = panel._state.activations
    with np.load(npz) as data:
        assert set(data.files) == set(acts.maps)
        np.testing.assert_array_equal(data["conv2d_1"], acts.maps["conv2d_1"])
    assert sorted(p.name for p in out.iterdir()) == ["acts.npz", "grid.png"]  # no temp files


def test_settings_are_kept_by_key(qtbot, panel, app_state):
    pick(qtbot, panel.norm_combo, "The whole layer together")
    pick(qtbot, panel.cmap_combo, panel.cmap_combo.itemText(1))
    again = ActivationsPanel(app_state)
    qtbot.addWidget(again)
    assert again.norm_combo.currentData() == "per_layer"
    assert again.cmap_combo.currentData() == panel.cmap_combo.currentData() == "inferno"
    from PySide6.QtCore import QSettings

    assert QSettings().value("activations/norm") == "per_layer"  # a key, not a label


def test_dense_layers_are_bars_named_by_class(qtbot, panel):
    click_layer(qtbot, panel, "dense_2")
    assert panel.grid_stack.currentWidget() is panel.unit_bars
    probs = panel._state.activations.maps["dense_2"]
    np.testing.assert_array_equal(panel.unit_bars.values(), probs)
    ticks = panel.unit_bars.getAxis("bottom")._tickLevels[0]
    assert [t[1] for t in ticks] == [str(i) for i in range(10)]
    assert len(panel.unit_bars.labels()) == 10  # each bar carries its value
    click_layer(qtbot, panel, "dense_1")  # 128 units: the strongest five are named
    assert len(panel.unit_bars.labels()) == 5 and panel.layer_label.text() == "dense_1: 128 units"


def test_the_whole_layer_scale_shows_real_values(qtbot, panel):
    click_layer(qtbot, panel, "conv2d_2")
    pick(qtbot, panel.norm_combo, "The whole layer together")
    raw = panel._state.activations.maps["conv2d_2"]
    lo, hi = panel.grid_view.colour_bar.levels()
    assert lo == pytest.approx(float(raw.min())) and hi == pytest.approx(float(raw.max()))


def test_untrained_exports_are_marked(qtbot, panel, tmp_path):
    state = panel._state
    state.open_model(zoo.VGG16, None)
    wait_for_activations(qtbot, state, zoo.VGG16)
    click_layer(qtbot, panel, "block1_conv1")
    png = np.asarray(Image.open(export(qtbot, panel, tmp_path / "g.png", "grid")))
    red = (png[:60, :, 0] > 150) & (png[:60, :, 1] < 60) & (png[:60, :, 2] < 80)
    assert red.sum() > 50  # "UNTRAINED MODEL" written in red under the title


def test_big_layers_are_shrunk_for_display_only(qtbot, panel):
    state = panel._state
    state.open_model(zoo.VGG16, None)
    wait_for_activations(qtbot, state, zoo.VGG16)
    click_layer(qtbot, panel, "block1_conv2")
    m = panel.grid_mosaic()
    assert m.factor >= 2 and max(m.image.shape) <= 2 * panel._grid_pixels()
    click_map(qtbot, panel, 7)  # a click still finds the map it is on
    assert state.selection.map == 7
    assert panel.detail_map.data().shape == (224, 224)  # the enlarged map is full size


def test_your_own_model_is_fed_as_it_expects(qtbot, panel, tmp_path):
    import keras

    state = panel._state
    from engine.models.zoo import CAFFE_MEAN_BGR

    def small(first):
        inputs = keras.Input((32, 32, 3))
        x = first(inputs) if first is not None else inputs
        x = keras.layers.Conv2D(4, 3, name="c")(x)
        x = keras.layers.GlobalAveragePooling2D()(x)
        # No softmax, and a bias that keeps the outputs negative: logits whatever the
        # random weights (small random outputs once summed to about 1 and read as
        # probabilities, after other tests had seeded Keras' generator).
        minus = keras.initializers.Constant(-2.0)
        return keras.Model(inputs, keras.layers.Dense(3, name="logits", bias_initializer=minus)(x))

    def opened(path):
        drop_file(panel, path)
        qtbot.waitUntil(
            lambda: state.model is not None and state.model.loaded.title == path.name,
            timeout=TIMEOUT,
        )
        return wait_for_activations(qtbot, state, "file")

    raw = tmp_path / "raw.keras"
    small(keras.layers.Rescaling(1 / 255, name="rs")).save(raw)
    (tmp_path / "raw.labels.txt").write_text("cat\ndog\nbird\n")
    acts = opened(raw)
    # A model that starts with Rescaling takes raw pixels: exactly the resized image.
    from engine.models.zoo import resize_image

    expected = resize_image(acts.input.pixels, (32, 32))
    np.testing.assert_allclose(acts.x, expected, atol=1e-4)
    assert "detected" in panel.model_label.text() and "raw 0..255" in panel.model_label.text()
    assert panel.scaling_row.isVisible() and panel.scaling_combo.currentIndex() == 0
    assert {label for label, _ in acts.top} <= {"cat", "dog", "bird"}  # the labels file
    assert "logits → softmax" in panel.fit_label.text()
    # "[0, 1]" for a model that rescales by itself: the panel warns, in red.
    pick(qtbot, panel.scaling_combo, "[0, 1]")
    qtbot.waitUntil(lambda: "chosen, but" in panel.model_label.text(), timeout=TIMEOUT)
    assert "answers mean little" in panel.model_label.text()
    assert "b00020" in panel.model_label.styleSheet()
    pick(qtbot, panel.scaling_combo, "as the model says (or a guess)")
    qtbot.waitUntil(lambda: "detected" in panel.model_label.text(), timeout=TIMEOUT)
    assert "b00020" not in panel.model_label.styleSheet()

    guess = tmp_path / "guess.keras"
    small(None).save(guess)
    acts = opened(guess)
    assert acts.model.loaded.weights is not None and "a guess" in panel.model_label.text()
    np.testing.assert_allclose(acts.x, expected / 255.0, atol=1e-5)
    pick(qtbot, panel.scaling_combo, "caffe (BGR, ImageNet mean subtracted)")
    qtbot.waitUntil(
        lambda: state.activations is not None and "chosen" in panel.model_label.text(),
        timeout=TIMEOUT,
    )
    np.testing.assert_allclose(
        state.activations.x, expected[:, :, ::-1] - CAFFE_MEAN_BGR, atol=1e-3
    )
    # Remembered for that file: opened again, it is read the chosen way at once.
    opened(raw)
    acts = opened(guess)
    assert "chosen" in panel.model_label.text()
    np.testing.assert_allclose(acts.x, expected[:, :, ::-1] - CAFFE_MEAN_BGR, atol=1e-3)


def test_any_size_model_and_a_labels_file_chosen_in_the_panel(qtbot, panel, tmp_path):
    import keras

    inputs = keras.Input((None, None, 3))
    x = keras.layers.Conv2D(2, 3, name="c")(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    path = tmp_path / "anysize.keras"
    keras.Model(inputs, keras.layers.Dense(2, activation="softmax", name="p")(x)).save(path)
    state = panel._state
    drop_file(panel, path)
    qtbot.waitUntil(lambda: state.model is not None and state.model.key == "file", timeout=TIMEOUT)
    acts = wait_for_activations(qtbot, state, "file")
    h, w = acts.input.pixels.shape[:2]
    assert min(acts.x.shape[:2]) == 224 and panel.size_spin.isVisible()
    panel.size_spin.setValue(96)
    panel.size_spin.editingFinished.emit()  # what Enter or leaving the box emits
    qtbot.waitUntil(
        lambda: state.activations is not None and min(state.activations.x.shape[:2]) == 96,
        timeout=TIMEOUT,
    )
    assert state.activations.maps["c"].shape[:2] == tuple(
        d - 2 for d in state.activations.x.shape[:2]
    )
    labels = tmp_path / "names.txt"
    labels.write_text("left\nright\n")
    panel.use_labels_file(labels)  # what the Labels… dialog calls with the chosen file
    qtbot.waitUntil(lambda: state.activations is not None, timeout=TIMEOUT)
    assert {label for label, _ in state.activations.top} == {"left", "right"}
    bad = tmp_path / "three.txt"
    bad.write_text("a\nb\nc\n")
    panel.use_labels_file(bad)
    assert panel.message.is_error() and "three.txt" in panel.message.text()


def test_an_input_chosen_elsewhere_is_named_in_the_image_box(qtbot, panel, tmp_path):
    state = panel._state
    loads = []
    panel.source.image_loaded.connect(loads.append)
    pixels = np.zeros((40, 40, 3), np.uint8)
    state.set_input(pixels, gui.state.InputKind.FILE, str(tmp_path / "patch source.png"))
    assert panel.image_combo.currentText() == str(tmp_path / "patch source.png")
    state.set_input(pixels, gui.state.InputKind.SAMPLE, "rocket")  # a sample, by its stem
    assert panel.image_combo.currentText() == "Rocket"
    assert loads == []  # shown, not loaded again
    wait_for_activations(qtbot, state)
    assert state.input.pixels is pixels


def test_right_click_on_a_map_switches_its_channel_off(qtbot, panel):
    state = panel._state
    wait_for_activations(qtbot, state, zoo.MNIST)
    click_layer(qtbot, panel, "conv2d_2")
    click_map(qtbot, panel, 5, Qt.MouseButton.RightButton)
    assert state.selection.map == 5 and panel.tabs.currentIndex() == 0  # stays on the grid
    menu = panel.menu
    qtbot.waitUntil(menu.isVisible, timeout=5_000)
    restore = next(a for a in menu.actions() if a.text() == "Restore channel 5")
    assert not restore.isEnabled()  # nothing to restore: it was never edited
    off = next(a for a in menu.actions() if a.text() == "Switch off channel 5")
    off.trigger()
    menu.close()
    qtbot.waitUntil(
        lambda: (
            len(state.edits(zoo.MNIST)) == 1
            and state.activations is not None
            and state.activations.model is state.model
            and not state.busy()
        ),
        timeout=TIMEOUT,
    )
    assert not state.activations.maps["conv2d_2"][:, :, 5].any()
    # The channels that fire most for this input, all at once: order by max, top 12.
    pick(qtbot, panel.triage.order_combo, "Max activation")
    panel.triage.top_spin.setValue(12)
    maxima = state.activations.maps["conv2d_2"].max(axis=(0, 1))
    top = sorted(np.argsort(-maxima, kind="stable")[:12].tolist())
    assert sorted(panel.grid_channels()) == top
    click_map(qtbot, panel, 0, Qt.MouseButton.RightButton)
    off = next(a for a in panel.menu.actions() if a.text() == "Switch off the 12 channels shown")
    off.trigger()
    panel.menu.close()
    qtbot.waitUntil(lambda: len(state.edits(zoo.MNIST)) == 2 and not state.busy(), timeout=TIMEOUT)
    assert state.edits(zoo.MNIST)[1].channels == tuple(top)
    qtbot.waitUntil(lambda: state.activations is not None, timeout=TIMEOUT)
    assert not state.activations.maps["conv2d_2"][:, :, top].any()
    click_layer(qtbot, panel, "max_pooling2d")  # no weights: nothing to edit there
    click_map(qtbot, panel, 0, Qt.MouseButton.RightButton)
    assert not any(a.isEnabled() for a in panel.menu.actions()[:3])
    panel.menu.close()


def test_the_model_box_names_the_open_file_and_the_model_in_use(
    qtbot, panel, tmp_path, monkeypatch
):
    import keras
    from PySide6.QtWidgets import QFileDialog

    from gui.panels.activations.panel import MODEL_FILE

    state = panel._state
    wait_for_activations(qtbot, state, zoo.MNIST)
    text = tmp_path / "notes.keras"
    text.write_text("my notes, renamed\n")
    chosen = [str(text)]
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (chosen[0], ""))
    # A file that fails: the box goes back to the model still in use, and says why.
    pick(qtbot, panel.model_combo, MODEL_FILE, stays=False)
    qtbot.waitUntil(panel.message.is_error, timeout=TIMEOUT)
    assert "'notes.keras' is not a Keras model file" in panel.message.text()
    assert state.model.key == zoo.MNIST
    assert panel.model_combo.currentText() == zoo.MODEL_TITLES[zoo.MNIST]
    # A file that opens: the box names it.
    model = keras.Sequential(
        [keras.Input((32, 32, 3)), keras.layers.Conv2D(4, 3, name="c"), keras.layers.Flatten()]
    )
    chosen[0] = str(tmp_path / "tiny.keras")
    model.save(chosen[0])
    pick(qtbot, panel.model_combo, MODEL_FILE, stays=False)
    wait_for_activations(qtbot, state, "file")
    assert panel.model_combo.currentText() == "tiny.keras"
    # The MNIST CNN, then the file again from the box, without a dialog.
    pick(qtbot, panel.model_combo, zoo.MODEL_TITLES[zoo.MNIST])
    wait_for_activations(qtbot, state, zoo.MNIST)
    chosen[0] = ""  # a dialog now would be cancelled
    pick(qtbot, panel.model_combo, "tiny.keras")
    acts = wait_for_activations(qtbot, state, "file")
    assert acts.maps["c"].shape == (30, 30, 4) and panel.model_combo.currentText() == "tiny.keras"


def test_vgg16_chosen_again_after_open_untrained_does_not_download_again(qtbot, panel, monkeypatch):
    from keras.src.utils import file_utils

    tries = []

    def offline(*_a, **_k):
        tries.append(1)
        raise OSError("network is unreachable")

    monkeypatch.setattr(file_utils, "get_file", offline)
    state = panel._state
    wait_for_activations(qtbot, state, zoo.MNIST)
    pick(qtbot, panel.model_combo, zoo.MODEL_TITLES[zoo.VGG16])
    qtbot.waitUntil(panel.message.is_error, timeout=TIMEOUT)
    assert len(tries) == 1
    qtbot.waitUntil(panel.untrained_button.isEnabled, timeout=TIMEOUT)
    qtbot.mouseClick(panel.untrained_button, Qt.MouseButton.LeftButton)
    wait_for_activations(qtbot, state, zoo.VGG16)
    pick(qtbot, panel.model_combo, zoo.MODEL_TITLES[zoo.MNIST])
    wait_for_activations(qtbot, state, zoo.MNIST)
    pick(qtbot, panel.model_combo, zoo.MODEL_TITLES[zoo.VGG16])
    acts = wait_for_activations(qtbot, state, zoo.VGG16)
    assert not acts.model.loaded.trained and len(tries) == 1
    assert not panel.message.is_error() and "untrained, as chosen" in panel.message.text()


def test_every_tab_is_in_sight_in_a_small_window(qtbot, panel):
    """At 1024x640 the sub-tabs hid behind scroll arrows ("Archi" and an arrow)."""
    panel.resize(1024 - 20, 600)
    qtbot.waitUntil(lambda: panel.width() <= 1010, timeout=5_000)
    bar = panel.tabs.tabBar()
    qtbot.wait(50)
    last = bar.tabRect(bar.count() - 1)
    assert last.right() <= bar.width(), (last, bar.width())
    assert bar.tabToolTip(bar.count() - 1) == "Architecture"
    # A click on the last tab (its name perhaps shortened) still shows it.
    qtbot.mouseClick(bar, Qt.MouseButton.LeftButton, pos=last.center())
    assert panel.tabs.currentWidget() is panel.architecture_view


def test_the_input_box_says_its_whole_name_where_it_is_cut(qtbot, panel, tmp_path):
    from PIL import Image

    path = tmp_path / ("a_very_long_file_name_of_a_photo_taken_on_a_trip_" + "x" * 30 + ".png")
    Image.new("RGB", (40, 30), (200, 10, 10)).save(path)
    drop_file(panel, path)
    qtbot.waitUntil(lambda: str(path) in panel.image_combo.currentText(), timeout=TIMEOUT)
    assert panel.image_combo.toolTip().startswith(str(path))


def test_a_failed_model_file_is_said_in_whole_sentences(qtbot, panel, tmp_path):
    import re

    bad = tmp_path / "notes.keras"
    bad.write_text("not a model, only text")
    drop_file(panel, bad)
    qtbot.waitUntil(panel.message.is_error, timeout=TIMEOUT)
    text = panel.message.text()
    assert "not a Keras model file" in text
    assert re.search(r"[.!?…]  Still showing MNIST", text), text


def pixel_point(qtbot, view, row, col):
    """Where pixel (row, col) of a MapView's image is on its viewport, once the view's
    layout has settled (a new title or image moves it for a moment)."""
    qtbot.waitUntil(lambda: view.isVisible() and view.width() > 50, timeout=5_000)
    seen = []

    def settled():
        seen.append(tuple(map(tuple, view.view.viewRange())))
        return len(seen) > 2 and seen[-1] == seen[-2] == seen[-3]

    qtbot.waitUntil(settled, timeout=5_000)
    scene = view.view.mapViewToScene(QPointF(col + 0.5, row + 0.5))  # the image at (0, 0)
    return QPoint(view.mapFromScene(scene))


def click_pixel(qtbot, view, row, col):
    """A left click on pixel (row, col) of a MapView's image, as a person would."""
    pos = pixel_point(qtbot, view, row, col)
    qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=pos)


def test_a_pooled_map_beside_the_same_map_of_the_layer_before(qtbot, panel):
    """The pooling slide: max_pooling2d map 5 beside conv2d_2 map 5; a pooled pixel
    frames its 2x2 window, whose maximum it is."""
    state = panel._state
    acts = state.activations
    click_layer(qtbot, panel, "max_pooling2d")
    click_map(qtbot, panel, 5)
    assert panel.tabs.currentIndex() == 1 and panel.map_before() == "conv2d_2"
    assert panel.before_map.isVisible() and not panel.filter_view.isVisible()
    conv = acts.maps["conv2d_2"][:, :, 5]
    pooled = acts.maps["max_pooling2d"][:, :, 5]
    np.testing.assert_array_equal(panel.before_map.data(), conv)
    np.testing.assert_array_equal(panel.detail_map.data(), pooled)
    # The pooled map is the maximum over 2x2 windows of the map before, in numpy.
    np.testing.assert_allclose(pooled, conv.reshape(12, 2, 12, 2).max(axis=(1, 3)), rtol=1e-6)
    assert "conv2d_2 map 5 (24x24) → max_pooling2d map 5 (12x12)" in panel.pair_label.text()
    assert "max pooling, 2x2 windows, stride 2" in panel.pair_label.text()
    assert panel.before_map.title() == "conv2d_2 map 5 (24x24)"
    # One colour scale for both: a pooled pixel has the colour of the pixel it took.
    assert panel.before_map.colour_bar.levels() == panel.detail_map.colour_bar.levels()

    layer = acts.model.network.get_layer("max_pooling2d")
    k, s = layer.pool_size[0], layer.strides[0]  # the layer's own pool size and strides
    # The strongest pooled pixel, clicked: its window is framed, and it is their maximum.
    row, col = np.unravel_index(int(np.argmax(pooled)), pooled.shape)
    click_pixel(qtbot, panel.detail_map, row, col)
    assert state.selection.pixel == (row, col)
    assert panel.before_map.marked() == (row * s, col * s, k, k)
    assert panel.detail_map.marked() == (row, col, 1, 1)
    window = conv[row * s : row * s + k, col * s : col * s + k]
    assert float(window.max()) == float(pooled[row, col])
    text = panel.pair_label.text()
    assert f"rows {row * s}-{row * s + k - 1}" in text and f"= {pooled[row, col]:.4g}" in text
    assert "max(" in text

    # A convolution mixes every map of its input: no "same map" beside it.
    click_layer(qtbot, panel, "conv2d_2")
    click_map(qtbot, panel, 5)
    assert panel.map_before() is None and not panel.before_map.isVisible()
    assert panel.filter_view.isVisible() and panel.detail_map.marked() is None
    # Dropout passes its maps on unchanged: beside it, the pooled map it got.
    click_layer(qtbot, panel, "dropout_1")
    click_map(qtbot, panel, 3)
    assert panel.map_before() == "max_pooling2d"
    np.testing.assert_array_equal(panel.before_map.data(), panel.detail_map.data())
    assert "unchanged" in panel.pair_label.text()


def test_the_pooled_pair_keeps_its_share_of_the_row_after_another_model(qtbot, panel):
    """The map before a pooling layer used to shrink to a sliver once another model's
    pair had been shown: its share of the row followed its heading, cut to its width."""
    state = panel._state
    panel.resize(1400, 900)
    click_layer(qtbot, panel, "max_pooling2d")
    click_map(qtbot, panel, 3)
    state.open_model(zoo.VGG16, None)
    wait_for_activations(qtbot, state, zoo.VGG16)
    click_layer(qtbot, panel, "block4_pool")
    click_map(qtbot, panel, 24)
    assert panel.map_before() == "block4_conv3" and panel.before_map.isVisible()
    qtbot.waitUntil(lambda: panel.before_map.data() is not None, timeout=TIMEOUT)
    widths = [v.width() for v in (panel.detail_input, panel.before_map, panel.detail_map)]
    assert max(widths) - min(widths) <= 0.1 * max(widths), widths


def hover_bar(qtbot, bars, index):
    """The mouse over bar ``index`` (the plot zoomed round it first, as a person zooms
    to pick one of thousands)."""
    bars.setXRange(index - 8, index + 8, padding=0)
    qtbot.wait(20)
    qtbot.mouseMove(bars.viewport(), bars.bar_position(index))
    qtbot.waitUntil(lambda: bars.hovered() >= 0, timeout=5_000)
    return bars.hovered()


def test_a_flatten_bar_says_its_map_pixel(qtbot, panel):
    state = panel._state
    acts = state.activations
    click_layer(qtbot, panel, "flatten")
    links = panel.flat_links
    assert panel.grid_stack.currentWidget() is panel.unit_bars and links.isVisible()
    pooled = acts.maps["max_pooling2d"]
    flat = acts.maps["flatten"]
    assert flat.shape == (9216,) and links.source().shape == (12, 12, 64)
    # Keras lays the maps out channels-last: row, then column, then channel.
    np.testing.assert_array_equal(flat, pooled.reshape(-1))
    # A bar with a value, hovered by the mouse: the sentence names its map and pixel.
    target = int(np.flatnonzero(flat)[len(np.flatnonzero(flat)) // 2])
    i = hover_bar(qtbot, panel.unit_bars, target)
    assert abs(i - target) <= 1
    qtbot.waitUntil(lambda: links.hovered() == i, timeout=5_000)
    row, col, channel = np.unravel_index(i, (12, 12, 64))
    value = pooled[row, col, channel]
    assert float(flat[i]) == float(value)
    assert links.note.text() == (
        f"flatten[{i}] = max_pooling2d map {channel}, row {row}, col {col}: {value:.4g}"
    )
    np.testing.assert_array_equal(links.view.data(), pooled[:, :, channel])
    assert links.view.marked() == (row, col, 1, 1)
    # The next bar is the next channel of the same pixel.
    j = hover_bar(qtbot, panel.unit_bars, i + 1)
    qtbot.waitUntil(lambda: links.hovered() == j, timeout=5_000)
    assert links.source().position(j) == tuple(int(v) for v in np.unravel_index(j, (12, 12, 64)))
    assert f"flatten[{j}] = max_pooling2d map " in links.note.text()
    click_layer(qtbot, panel, "conv2d_1")  # maps again: the links go
    assert not links.isVisible()


def test_a_dense_units_weights_laid_on_the_maps(qtbot, panel):
    from gui.widgets.colour import diverging_map

    state = panel._state
    acts = state.activations
    click_layer(qtbot, panel, "dense_1")
    links = panel.flat_links
    assert links.isVisible() and links.weights() is None
    assert "Click a bar" in links.note.text()
    bars = panel.unit_bars
    qtbot.mouseClick(bars.viewport(), Qt.MouseButton.LeftButton, pos=bars.bar_position(7))
    assert links.unit_spin.value() == 7 and bars.chosen() == 7  # its bar outlined
    assert links.view.title() == "dense_1 unit 7's weights on the maps of max_pooling2d"
    dense = acts.model.network.get_layer("dense_1")
    kernel, bias = (np.asarray(w) for w in dense.get_weights())
    expected = kernel[:, 7].reshape(12, 12, 64)  # channels-last, as Flatten laid them out
    np.testing.assert_array_equal(links.weights(), expected)
    mosaic = links.mosaic()
    assert len(mosaic.origins) == 64 and mosaic.map_shape == (12, 12)
    top, left = mosaic.origins[10]
    np.testing.assert_array_equal(
        mosaic.image[top : top + 12, left : left + 12], expected[:, :, 10]
    )
    # A diverging scale centred on zero: white at 0, as far below as above.
    lo, hi = links.view.colour_bar.levels()
    assert lo == pytest.approx(-hi) and hi == pytest.approx(float(np.abs(expected).max()))
    assert tuple(diverging_map().map(0.5, mode="byte")[:3]) == (255, 255, 255)
    # The unit's value is its weights times the maps, plus its bias, through ReLU.
    z = float(np.sum(expected.astype(np.float64) * acts.maps["max_pooling2d"]) + bias[7])
    assert max(z, 0.0) == pytest.approx(float(acts.maps["dense_1"][7]), rel=1e-4, abs=1e-5)
    assert f"= {z:.4g} before its activation" in links.note.text()
    # The mouse over one weight: which pixel of which map it weighs.
    view = links.view
    qtbot.mouseMove(view.viewport(), pixel_point(qtbot, view, top + 2, left + 4))
    index = int(np.ravel_multi_index((2, 4, 10), (12, 12, 64)))
    qtbot.waitUntil(lambda: f"flatten[{index}]" in links.note.text(), timeout=5_000)
    assert f"= max_pooling2d map 10, row 2, col 4: {expected[2, 4, 10]:.4g}" in links.note.text()
    # Keyboard: the spin box picks another unit.
    links.unit_spin.setValue(3)
    np.testing.assert_array_equal(links.weights(), kernel[:, 3].reshape(12, 12, 64))
    # The output layer reads dense_1's units, not maps: nothing to lay on the maps.
    click_layer(qtbot, panel, "dense_2")
    assert not links.isVisible() and bars.chosen() == -1


def test_the_layer_before_and_the_maps_behind_the_bars_read_on_a_projector(qtbot, panel):
    """Presenter mode: no text under 24 px beside a pooled map, a flatten's bars and a
    Dense unit's weights."""
    from gui.theme import PRESENTER_MIN_PX, small_texts

    t = theme()
    t.set_presenter(True)
    try:
        panel.resize(1920, 1080)
        click_layer(qtbot, panel, "max_pooling2d")
        click_map(qtbot, panel, 5)
        click_pixel(qtbot, panel.detail_map, 2, 3)
        shown = {}
        qtbot.wait(50)
        panel.grab()
        shown["pooling"] = small_texts(panel, PRESENTER_MIN_PX)
        panel.tabs.setCurrentIndex(0)
        click_layer(qtbot, panel, "flatten")
        hover_bar(qtbot, panel.unit_bars, 100)
        panel.grab()
        shown["flatten"] = small_texts(panel, PRESENTER_MIN_PX)
        click_layer(qtbot, panel, "dense_1")
        panel.flat_links.choose_unit(7)
        qtbot.wait(50)
        panel.grab()
        shown["dense"] = small_texts(panel, PRESENTER_MIN_PX)
        assert shown == {"pooling": [], "flatten": [], "dense": []}
    finally:
        t.set_presenter(False)
        t.reset_zoom()


def test_average_pooling_with_same_padding_of_your_own_model(qtbot, panel, tmp_path):
    """A model file with 3x3 average pooling, stride 2, 'same' padding after a
    BatchNormalization: the window of a border pixel is clipped, and the pixel is the
    mean of what is left (TensorFlow leaves the padding out)."""
    import keras

    L = keras.layers  # noqa: N806
    model = keras.Sequential(
        [
            keras.Input((15, 15, 3)),
            L.Conv2D(4, 3, name="c"),
            L.BatchNormalization(name="bn"),
            L.AveragePooling2D(3, strides=2, padding="same", name="avg"),
            L.Flatten(name="flat"),
            L.Dense(2, name="out"),
        ]
    )
    path = tmp_path / "avg.keras"
    model.save(path)
    drop_file(panel, path)
    state = panel._state
    acts = wait_for_activations(qtbot, state, "file")
    click_layer(qtbot, panel, "avg")
    click_map(qtbot, panel, 2)
    assert panel.map_before() == "bn"
    assert "average pooling, 3x3 windows, stride 2" in panel.pair_label.text()
    bn, avg = acts.maps["bn"][:, :, 2], acts.maps["avg"][:, :, 2]
    assert bn.shape == (13, 13) and avg.shape == (7, 7)
    # 13 -> 7 with 'same': (7 - 1) * 2 + 3 - 13 = 2 padded rows, one before, one after.
    click_pixel(qtbot, panel.detail_map, 6, 6)
    assert panel.before_map.marked() == (11, 11, 2, 2)  # the padding left out
    assert float(avg[6, 6]) == pytest.approx(float(bn[11:, 11:].mean()), rel=1e-5, abs=1e-6)
    click_pixel(qtbot, panel.detail_map, 2, 3)
    assert panel.before_map.marked() == (3, 5, 3, 3)
    assert float(avg[2, 3]) == pytest.approx(float(bn[3:6, 5:8].mean()), rel=1e-5, abs=1e-6)
    assert "mean(" in panel.pair_label.text()
    # BatchNormalization works on each map on its own too: beside it, the conv's map,
    # each on its own colour scale.
    click_layer(qtbot, panel, "bn")
    click_map(qtbot, panel, 1)
    assert panel.map_before() == "c" and "the same map of c alone" in panel.pair_label.text()
    c1 = acts.maps["c"][:, :, 1]
    lo, hi = panel.before_map.colour_bar.levels()
    assert (lo, hi) == pytest.approx((float(c1.min()), float(c1.max())))
