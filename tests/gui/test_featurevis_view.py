"""The "What it wants" tab: a channel's picture forming live and cached on disk, a layer's
gallery, and the inputs that excite a channel most; checked against independent
computations (Keras sub-models, a brute-force ranking)."""

import re

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import QPoint, QSize, Qt
from PySide6.QtWidgets import QApplication, QFileDialog

from engine.explanation import featurevis
from engine.imaging.images import load_image
from engine.models import zoo
from engine.models.mnist_data import bundled_test_digits
from engine.models.runtime import load_tensorflow
from engine.util.paths import sample_images, user_data_dir
from gui.panels.activations.wants import (
    CHOOSE_LABEL,
    CROP_ICON,
    MNIST_LABEL,
    FeatureVisView,
    LayerRun,
    Target,
    duration_text,
)
from gui.state import InputKind

from .helpers import pick
from .test_activations import wait_for_activations

TIMEOUT = 120_000


def type_number(qtbot, spin, n):
    """Type ``n`` into a spin box and press Enter, as a person would."""
    spin.setFocus()
    spin.lineEdit().selectAll()
    qtbot.keyClicks(spin, str(n))
    qtbot.keyClick(spin, Qt.Key.Key_Return)
    assert spin.value() == n


def click_item(qtbot, widget, item):
    widget.scrollToItem(item)
    rect = widget.visualItemRect(item)
    qtbot.mouseClick(widget.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())


def click_tab(qtbot, tabs, index):
    bar = tabs.tabBar()
    qtbot.mouseClick(bar, Qt.MouseButton.LeftButton, pos=bar.tabRect(index).center())
    assert tabs.currentIndex() == index


def top_of(view, widget):
    """Where ``widget`` begins in the view (y): it must not move when progress shows."""
    return widget.mapTo(view, QPoint(0, 0)).y()


def settle(qtbot, state):
    """Wait until the app's threads are idle: a Keras model is used by one thread at a
    time, and the test's own forward passes must not run beside the app's."""
    qtbot.waitUntil(lambda: not state.runner.busy(), timeout=TIMEOUT)


def sub_model(model, layer):
    import keras

    return keras.Model(model.inputs[0], model.get_layer(layer).output)


@pytest.fixture
def counted(monkeypatch):
    """Every picture ``engine.explanation.featurevis.maximize`` finished (the real one runs; one
    stopped part-way is not counted)."""
    calls = []
    real = featurevis.maximize

    def maximize(model, layer, channel, **kwargs):
        vis = real(model, layer, channel, **kwargs)
        calls.append((layer, channel))
        return vis

    monkeypatch.setattr(featurevis, "maximize", maximize)
    return calls


@pytest.fixture
def view(qtbot, app_state):
    load_tensorflow()
    v = FeatureVisView(app_state)
    qtbot.addWidget(v)
    v.resize(600, 440)  # what the tab gets in a 1024x640 window
    v.show()
    qtbot.waitExposed(v)
    v.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is v, timeout=5_000)
    app_state.start_tensorflow()
    qtbot.waitUntil(lambda: app_state.model is not None, timeout=TIMEOUT)
    chelsea = sample_images()["Chelsea"]
    app_state.set_input(load_image(chelsea), InputKind.SAMPLE, "Chelsea")
    wait_for_activations(qtbot, app_state, zoo.MNIST)
    return v


def test_a_channel_that_does_not_exist_is_said_not_to(qtbot, view):
    state = view._state
    state.select_layer("conv2d_2")
    state.select_map(3)
    assert view.channel_spin.value() == 3
    view.channel_spin.setFocus()
    view.channel_spin.lineEdit().selectAll()
    qtbot.keyClicks(view.channel_spin, "99")
    assert view.channel_spin.lineEdit().text() == "99"  # not cut to "9"
    qtbot.keyClick(view.channel_spin, Qt.Key.Key_Return)
    assert view.message.is_error()
    assert view.message.text() == "There is no channel 99: conv2d_2 has 64 channels, 0 to 63."
    assert view.channel_spin.value() == 3 and state.selection.map == 3  # no jump to 9
    type_number(qtbot, view.channel_spin, 9)
    assert state.selection.map == 9 and not view.message.is_error()


def test_a_channel_forms_is_cached_and_comes_back_from_disk(qtbot, view, counted, caplog):
    state = view._state
    model = state.model.network
    state.select_layer("flatten")
    assert "pick a convolution layer in the list" in view.header.text()
    assert not view.show_button.isEnabled() and not view.layer_button.isEnabled()
    state.select_layer("conv2d_2")
    type_number(qtbot, view.steps_spin, 32)
    assert view.size_spin.isHidden()  # the MNIST CNN takes 28x28 only
    assert view.note.isHidden()  # trained

    state.select_map(3)  # as a click in the All maps grid does
    assert view.header.text() == "conv2d_2, channel 3 of 64"
    assert view.channel_spin.value() == 3
    qtbot.waitUntil(lambda: view.visualisation() is not None, timeout=TIMEOUT)
    vis = view.visualisation()
    assert counted == [("conv2d_2", 3)] and vis.steps == 32
    # The activation shown is the model's own on the picture, computed here independently.
    settle(qtbot, state)
    expected = float(np.mean(sub_model(model, "conv2d_2")(vis.x[None]).numpy()[0, :, :, 3]))
    assert vis.activation == pytest.approx(expected, rel=1e-5, abs=1e-6)
    assert f"Activation {expected:.4g}" in view.result_label.text()
    assert "32 steps, made in" in view.result_label.text()
    np.testing.assert_array_equal(view.image_view.data(), np.repeat(vis.image[:, :, None], 3, 2))
    # Kept on disk under the engine's key (the weights' digest, layer, channel, settings).
    settings = {"size": [28, 28], "steps": 32, "seed": 0, "scaling": zoo.Scaling.UNIT}
    path = (
        user_data_dir()
        / "featurevis"
        / f"{featurevis.cache_key(model, 'conv2d_2', 3, settings)}.npz"
    )
    assert path.is_file()
    np.testing.assert_array_equal(featurevis.load_visualisation(path).x, vis.x)
    qtbot.waitUntil(lambda: view.gallery_channels() == [3], timeout=TIMEOUT)

    # Another channel, typed into the spin box (Enter): the selection follows.
    type_number(qtbot, view.channel_spin, 5)
    assert state.selection.map == 5
    qtbot.waitUntil(
        lambda: view.visualisation() is not None and not view.is_computing(), timeout=TIMEOUT
    )
    assert counted == [("conv2d_2", 3), ("conv2d_2", 5)]
    # Back to channel 3: served from the disk cache at once, no new computation.
    state.select_map(3)
    assert view.visualisation() is not None and view.progress_box.isHidden()
    np.testing.assert_array_equal(view.visualisation().x, vis.x)
    assert "from the disk cache" in view.result_label.text()
    assert len(counted) == 2 and view.gallery_channels() == [3, 5]

    # A damaged cache file is ignored (with a log line) and the picture made again.
    path.write_bytes(b"not an npz")
    state.select_map(5)
    with caplog.at_level("WARNING"):
        state.select_map(3)
        qtbot.waitUntil(lambda: len(counted) == 3 and not view.is_computing(), timeout=TIMEOUT)
    assert "cannot be read" in caplog.text
    assert view.visualisation() is not None
    np.testing.assert_array_equal(featurevis.load_visualisation(path).x, view.visualisation().x)
    assert not view.message.is_error()

    # Other steps (Enter makes channel 3's picture with them): the gallery shows that
    # setting's pictures and says where the others are; back to 32 steps, they come back
    # from the disk, nothing made again.
    type_number(qtbot, view.steps_spin, 16)
    qtbot.waitUntil(
        lambda: view.visualisation() is not None and not view.is_computing(), timeout=TIMEOUT
    )
    assert view.visualisation().steps == 16 and len(counted) == 4
    qtbot.waitUntil(lambda: view.gallery_channels() == [3], timeout=TIMEOUT)
    assert view.gallery_label.text() == (
        "conv2d_2: the gallery shows pictures made with 16 steps; pictures made with other "
        "settings are kept and come back when you choose those settings. 1 of 64 made "
        "(Whole layer makes the other 63)."
    )
    type_number(qtbot, view.steps_spin, 32)
    qtbot.waitUntil(lambda: view.gallery_channels() == [3, 5], timeout=TIMEOUT)
    assert "2 of 64 made" in view.gallery_label.text() and len(counted) == 4
    assert view.visualisation().steps == 32
    assert "from the disk cache" in view.result_label.text()
    # The steps are remembered.
    again = FeatureVisView(state)
    qtbot.addWidget(again)
    assert again.steps_spin.value() == 32


def test_whole_layer_fills_the_gallery_and_cancel_keeps_what_is_made(qtbot, view, counted):
    state = view._state
    state.select_layer("conv2d_1")
    type_number(qtbot, view.steps_spin, 8)
    qtbot.mouseClick(view.layer_button, Qt.MouseButton.LeftButton)
    assert not view.layer_button.isEnabled() and view.cancel_button.isEnabled()
    qtbot.waitUntil(lambda: not view.is_computing(), timeout=TIMEOUT)
    assert view.gallery_channels() == list(range(32))
    assert sorted(c for _, c in counted) == list(range(32))
    assert "conv2d_1: 32 of 32 made with 8 steps." in view.gallery_label.text()
    # A gallery picture selects its channel; its picture comes from the cache.
    click_item(qtbot, view.gallery, view.gallery.item(17))
    assert state.selection.map == 17
    assert "from the disk cache" in view.result_label.text() and len(counted) == 32

    # A wider layer, cancelled part-way: no error, the pictures made so far stay.
    state.select_layer("conv2d_2")
    qtbot.mouseClick(view.layer_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: len(view.gallery_channels()) >= 3, timeout=TIMEOUT)
    assert "Whole layer of conv2d_2: " in view.progress_label.text()
    qtbot.mouseClick(view.cancel_button, Qt.MouseButton.LeftButton)
    assert not view.is_computing() and view.progress_box.isHidden()
    assert view.layer_button.isEnabled()
    stopped = re.search(r"Whole layer of conv2d_2 stopped at (\d+) of 64", view.message.text())
    assert stopped and "press Whole layer again to go on" in view.message.text()
    qtbot.waitUntil(lambda: not state.runner.busy(), timeout=TIMEOUT)
    kept = view.gallery_channels()
    assert 3 <= int(stopped[1]) <= len(kept) < 64 and not view.message.is_error()
    # Browsing later: the layer's cached pictures are shown again at once.
    state.select_layer("conv2d_1")
    state.select_layer("conv2d_2")
    qtbot.waitUntil(lambda: view.gallery_channels() == kept, timeout=TIMEOUT)


def test_top_9_of_the_mnist_digits_is_the_brute_force_ranking(qtbot, view, monkeypatch, tmp_path):
    state = view._state
    model = state.model.network
    state.select_layer("conv2d_2")
    type_number(qtbot, view.steps_spin, 4)
    state.select_map(3)
    click_tab(qtbot, view.side_tabs, 1)
    assert view.source_combo.currentText() == MNIST_LABEL
    # Its own row: the source's whole name shows in the width the tab has at 1024x640.
    combo = view.source_combo
    assert combo.width() > combo.fontMetrics().horizontalAdvance(MNIST_LABEL) + 30
    qtbot.mouseClick(view.top_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: view.top_result() is not None, timeout=TIMEOUT)

    digits, labels = bundled_test_digits()
    settle(qtbot, state)
    every = sub_model(model, "conv2d_2")(digits[:, :, :, None] / np.float32(255)).numpy()

    def ranking(channel):
        peaks = every[..., channel].reshape(len(digits), -1).max(axis=1)
        return sorted(range(len(digits)), key=lambda i: (-peaks[i], i))[:9], peaks

    maps = every[..., 3]
    order, peaks = ranking(3)
    items = view.top_result().items
    assert [it.index for it in items] == order
    np.testing.assert_allclose([it.value for it in items], peaks[order], rtol=1e-5)
    for it in items:  # two 3x3 convolutions: a unit sees the 5x5 square from its place
        row, col = np.unravel_index(np.argmax(maps[it.index]), maps.shape[1:])
        assert it.box == (row, col, row + 5, col + 5)
        assert it.crop.shape == (5, 5, 3)
    assert view.top_list.count() == 9
    assert "conv2d_2 channel 3" in view.top_label.text()
    assert "the number is the value of its strongest unit" in view.top_label.text()
    # Two-line captions (the value, then the digit) in cells wide enough for them.
    metrics = view.top_list.fontMetrics()
    for row, it in enumerate(items):
        entry = view.top_list.item(row)
        assert entry.text() == f"{it.value:.3g}\n#{it.index} ({labels[it.index]})"
        for line in entry.text().split("\n"):
            assert metrics.horizontalAdvance(line) <= view.top_list.gridSize().width() - 8
        assert entry.icon().availableSizes() == [QSize(CROP_ICON, CROP_ICON)]
        assert f"test digit #{it.index}" in entry.toolTip()

    # Another channel while the Top 9 is in sight: the digits are cheap, so it is found
    # again at once (the list never shows channel 3's inputs for channel 5).
    type_number(qtbot, view.channel_spin, 5)
    qtbot.waitUntil(
        lambda: view.top_result() is not None and view.top_result().channel == 5,
        timeout=TIMEOUT,
    )
    assert [it.index for it in view.top_result().items] == ranking(5)[0]
    assert "conv2d_2 channel 5" in view.top_label.text()
    # Out of sight (the gallery tab): the list is cleared with a line saying what it was.
    click_tab(qtbot, view.side_tabs, 0)
    type_number(qtbot, view.channel_spin, 7)
    assert view.top_result() is None and view.top_list.count() == 0
    assert view.top_label.text() == (
        "Top 9 was for conv2d_2 channel 5: press Find the top 9 for channel 7."
    )
    click_tab(qtbot, view.side_tabs, 1)  # in sight again: found for channel 7
    qtbot.waitUntil(
        lambda: view.top_result() is not None and view.top_result().channel == 7,
        timeout=TIMEOUT,
    )
    assert [it.index for it in view.top_result().items] == ranking(7)[0]
    type_number(qtbot, view.channel_spin, 3)
    qtbot.waitUntil(
        lambda: view.top_result() is not None and view.top_result().channel == 3,
        timeout=TIMEOUT,
    )
    # A patch opens its digit as the current input.
    click_item(qtbot, view.top_list, view.top_list.item(1))
    assert state.input.kind is InputKind.DRAWN_DIGIT
    assert state.input.name == f"test digit #{order[1]} (a {labels[order[1]]})"
    np.testing.assert_allclose(state.input.pixels.pixels, digits[order[1]] / 255.0, atol=1e-6)

    # A folder that has gone: a clear error, and the view keeps working.
    gone = tmp_path / "gone"
    gone.mkdir()
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a, **k: str(gone))
    pick(qtbot, view.source_combo, CHOOSE_LABEL, stays=False)
    assert view.source_combo.currentText() == "Folder: gone"
    qtbot.waitUntil(view.top_button.isEnabled, timeout=TIMEOUT)  # it looked in it at once
    gone.rmdir()
    qtbot.mouseClick(view.top_button, Qt.MouseButton.LeftButton)
    # The failure, then the search's end (two signals): the button is back.
    qtbot.waitUntil(
        lambda: view.message.is_error() and view.top_button.isEnabled(), timeout=TIMEOUT
    )
    assert "is not a folder" in view.message.text()
    assert view.top_result() is None


def test_vgg16_block4_conv1_forms_live_and_its_top_9_from_a_folder(
    qtbot, view, monkeypatch, tmp_path
):
    state = view._state
    state.open_model(zoo.VGG16, None)
    wait_for_activations(qtbot, state, zoo.VGG16)
    assert "noise-like" in view.note.text() and view.note.isVisible()
    assert view.size_spin.isHidden()  # VGG16 with its classifier takes 224x224
    state.select_layer("block4_conv1")
    type_number(qtbot, view.steps_spin, 3)
    shown = []
    real_set_image = view.image_view.set_image

    def spy(data, levels=None):
        shown.append((view.image_view.title(), np.array(data)))
        real_set_image(data, levels)

    monkeypatch.setattr(view.image_view, "set_image", spy)
    state.select_map(7)
    qtbot.waitUntil(lambda: view.visualisation() is not None, timeout=TIMEOUT)
    vis = view.visualisation()
    assert vis.image.shape == (224, 224, 3) and len(shown) >= 3
    forming = [image for title, image in shown[:-1]]
    assert len(forming) >= 2 and all(a.shape == (224, 224, 3) for a in forming)
    np.testing.assert_array_equal(shown[-1][1], vis.image)
    assert not np.array_equal(forming[0], vis.image)  # it changed as it formed
    assert view.header.text() == "block4_conv1, channel 7 of 512"

    # Top 9 from a folder of the person's images: four photos (one a thin strip, one
    # with a long name) and a damaged file.
    folder = tmp_path / "photos"
    folder.mkdir()
    rng = np.random.default_rng(1)
    names = ["astronaut_on_the_moon_1969.png", "photo1.png", "photo2.png", "strip.png"]
    for name, (h, w) in zip(names, [(160, 240), (200, 200), (120, 90), (12, 240)], strict=True):
        Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(folder / name)
    (folder / "broken.png").write_bytes(b"\x89PNG not really")
    (folder / "notes.txt").write_text("not an image")
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a, **k: str(folder))
    click_tab(qtbot, view.side_tabs, 1)
    assert view.source_combo.findText(MNIST_LABEL) < 0  # digits only for digit models
    # No folder yet: "Find the top 9" asks for one, then looks in it at once.
    qtbot.mouseClick(view.top_button, Qt.MouseButton.LeftButton)
    assert view.source_combo.currentText() == "Folder: photos"
    qtbot.waitUntil(lambda: view.top_result() is not None, timeout=TIMEOUT)
    result = view.top_result()
    assert sorted(it.name for it in result.items) == names
    assert view.top_list.count() == 4
    assert "1 of 5 files could not be read" in view.message.text()
    assert "broken.png" in view.message.text() and not view.message.is_error()
    # The values are the model's on each photo as the app prepares it.
    loaded = state.model.loaded
    settle(qtbot, state)
    sub = sub_model(loaded.model, "block4_conv1")
    for it in result.items:
        x = loaded.prepare(load_image(folder / it.name))
        assert it.value == pytest.approx(float(sub(x[None]).numpy()[0, :, :, 7].max()), rel=1e-4)
        assert it.crop.ndim == 3 and 0 < it.crop.shape[0] <= it.pixels.shape[0]
    # Each patch in a square (a thin strip padded, not stretched), its caption the value
    # and a name shortened to the cell; the whole name in the tooltip.
    metrics = view.top_list.fontMetrics()
    for row, it in enumerate(result.items):
        entry = view.top_list.item(row)
        value, name = entry.text().split("\n")
        assert value == f"{it.value:.3g}"
        assert metrics.horizontalAdvance(name) <= view.top_list.gridSize().width() - 8
        assert name == it.name or ("…" in name and it.name.startswith(name.split("…")[0]))
        assert entry.toolTip().startswith(f"{it.name}: channel 7 reaches")
        assert entry.icon().availableSizes() == [QSize(CROP_ICON, CROP_ICON)]
        image = entry.icon().pixmap(QSize(CROP_ICON, CROP_ICON)).toImage()
        h, w = it.crop.shape[:2]
        if h < w:  # padded above and below; the crop itself is opaque, however thin
            shown = max(1, h * CROP_ICON // w)  # QSize.scaled rounds down
            top = (CROP_ICON - shown) // 2
            if top > 0:
                assert image.pixelColor(CROP_ICON // 2, 0).alpha() == 0
            assert image.pixelColor(CROP_ICON // 2, top + shown // 2).alpha() == 255
    strip = next(it for it in result.items if it.name == "strip.png")
    assert strip.crop.shape[0] < strip.crop.shape[1] / 2
    long_name = next(
        view.top_list.item(r) for r, it in enumerate(result.items) if it.name == names[0]
    )
    assert "…" in long_name.text()
    click_item(qtbot, view.top_list, view.top_list.item(0))
    assert state.input.kind is InputKind.FILE
    assert state.input.name == str(folder / result.items[0].name)
    wait_for_activations(qtbot, state, zoo.VGG16)

    # Another channel: a folder is not searched again by itself; the list is cleared
    # and a line says what it was for.
    type_number(qtbot, view.channel_spin, 8)
    assert view.top_result() is None and view.top_list.count() == 0
    assert view.top_label.text() == (
        "Top 9 was for block4_conv1 channel 7: press Find the top 9 for channel 8."
    )
    state.select_layer("block4_conv2")
    assert view.top_label.text() == (
        "Top 9 was for block4_conv1 channel 7: pick a channel, then press Find the top 9."
    )

    # The source is remembered for each kind of model: the MNIST model looks in its
    # digits, VGG16 in the folder chosen for it.
    state.open_model(zoo.MNIST)
    wait_for_activations(qtbot, state, zoo.MNIST)
    assert view.source_combo.currentText() == MNIST_LABEL
    state.open_model(zoo.VGG16, None)
    wait_for_activations(qtbot, state, zoo.VGG16)
    assert view.source_combo.currentText() == "Folder: photos"


def test_whole_layer_goes_on_while_other_layers_are_looked_at(qtbot, view, counted):
    state = view._state
    state.select_layer("conv2d_2")
    type_number(qtbot, view.steps_spin, 4)
    qtbot.waitUntil(lambda: "0 of 64 made" in view.gallery_label.text(), timeout=TIMEOUT)
    below = top_of(view, view.side_tabs)
    assert view.progress_box.isHidden()
    qtbot.mouseClick(view.layer_button, Qt.MouseButton.LeftButton)
    assert not view.layer_button.isEnabled() and view.cancel_button.isEnabled()
    # Its progress: the gallery's counts, and the time to go from the pictures made so far.
    status = re.compile(
        r"Whole layer of conv2d_2: (\d+) of 64 made, (\d+) to go( · making channel \d+)? · "
        r"about \d+ (s|min) to go"
    )
    qtbot.waitUntil(
        lambda: (
            len(view.gallery_channels()) >= 2
            and status.search(view.progress_label.text()) is not None
        ),
        timeout=TIMEOUT,
    )
    made, to_go = map(int, status.search(view.progress_label.text()).groups()[:2])
    assert made + to_go == 64 and made >= 1
    # The progress row has a place of its own: nothing under it moved when it showed, and
    # its two lines hold the whole text in the width the tab has at 1024x640.
    assert view.progress_box.isVisible() and top_of(view, view.side_tabs) == below
    label = view.progress_label
    assert label.heightForWidth(label.width()) <= label.height()
    assert view.minimumSizeHint().height() < 300

    # Another layer: the run goes on for conv2d_2 (it builds that layer's gallery) and
    # says so; a channel of conv2d_1 gets its picture without waiting for the run.
    state.select_layer("conv2d_1")
    assert view.is_computing() and view.whole_layer() == "conv2d_2"
    assert "Whole layer of conv2d_2" in view.progress_label.text()
    assert view.layer_button.isEnabled() and not view.message.text()
    type_number(qtbot, view.channel_spin, 3)
    qtbot.waitUntil(lambda: view.visualisation() is not None, timeout=TIMEOUT)
    assert view.header.text() == "conv2d_1, channel 3 of 32" and ("conv2d_1", 3) in counted
    assert view.whole_layer() == "conv2d_2"
    qtbot.waitUntil(lambda: "of 64 made" in view.progress_label.text(), timeout=TIMEOUT)

    # Whole layer on conv2d_1 now: conv2d_2's run stops with a line saying where.
    below = top_of(view, view.side_tabs)  # under this header, with the progress shown
    qtbot.mouseClick(view.layer_button, Qt.MouseButton.LeftButton)
    stopped = re.search(r"Whole layer of conv2d_2 stopped at (\d+) of 64", view.message.text())
    assert stopped and "select conv2d_2 and press Whole layer again" in view.message.text()
    assert view.whole_layer() == "conv2d_1" and not view.message.is_error()
    qtbot.waitUntil(lambda: not view.is_computing(), timeout=TIMEOUT)
    assert view.gallery_channels() == list(range(32)) and view.progress_box.isHidden()
    assert top_of(view, view.side_tabs) == below
    conv1 = [c for layer, c in counted if layer == "conv2d_1"]
    assert sorted(conv1) == list(range(32))  # channel 3 was not made twice

    # conv2d_2 again: it goes on from where it stopped and ends with every channel made
    # once (the picture it gave way for is made again, none twice).
    state.select_layer("conv2d_2")
    qtbot.waitUntil(lambda: len(view.gallery_channels()) >= int(stopped[1]), timeout=TIMEOUT)
    qtbot.mouseClick(view.layer_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not view.is_computing(), timeout=TIMEOUT)
    assert view.gallery_channels() == list(range(64))
    conv2 = [c for layer, c in counted if layer == "conv2d_2"]
    assert sorted(conv2) == list(range(64))
    assert "conv2d_2: 64 of 64 made with 4 steps." in view.gallery_label.text()
    assert not view.message.is_error()


def test_the_time_to_go_is_the_mean_time_per_picture_times_those_left():
    run = LayerRun(Target(None, "block4_conv1", 512, (224, 224), None, 16))
    assert run.made == 0 and run.seconds_to_go() is None
    assert run.status() == "Whole layer of block4_conv1: looking for the pictures made before…"
    run.todo = list(range(8, 512))
    assert run.status(12) == (
        "Whole layer of block4_conv1: 8 of 512 made, 504 to go · making channel 12 · "
        "the time to go is known after the first picture"
    )
    run.seconds = [5.0, 6.5, 5.6]
    run.todo = list(range(11, 512))
    assert run.seconds_to_go() == pytest.approx(17.1 / 3 * 501)
    assert run.status(12).endswith(
        "11 of 512 made, 501 to go · making channel 12 · about 48 min to go"
    )
    assert [duration_text(s) for s in (0.2, 42.4, 89 * 60, 2 * 3600, 7500)] == [
        "1 s",
        "42 s",
        "89 min",
        "2 h",
        "2 h 5 min",
    ]


def test_top_9_says_when_a_channel_does_not_fire(qtbot, view, monkeypatch, tmp_path):
    """Blank pages given to the MNIST model: many channels of conv2d_1 stay at 0 on all
    of them (their bias is negative), others fire."""
    state = view._state
    loaded = state.model.loaded
    folder = tmp_path / "blank"
    folder.mkdir()
    for i, side in enumerate([40, 28, 64]):
        Image.fromarray(np.zeros((side, side, 3), np.uint8)).save(folder / f"blank{i}.png")
    settle(qtbot, state)
    sub = sub_model(loaded.model, "conv2d_1")
    xs = np.stack([loaded.prepare(load_image(p)) for p in sorted(folder.iterdir())])
    peaks = sub(xs).numpy().max(axis=(1, 2)).max(axis=0)
    silent, firing = int(np.flatnonzero(peaks <= 0)[0]), int(np.argmax(peaks))
    assert peaks[silent] == 0 and peaks[firing] > 0

    state.select_layer("conv2d_1")
    type_number(qtbot, view.steps_spin, 2)
    type_number(qtbot, view.channel_spin, silent)
    click_tab(qtbot, view.side_tabs, 1)
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a, **k: str(folder))
    pick(qtbot, view.source_combo, CHOOSE_LABEL, stays=False)
    assert view.source_combo.currentText() == "Folder: blank"
    qtbot.mouseClick(view.top_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: view.top_result() is not None, timeout=TIMEOUT)
    assert [it.value for it in view.top_result().items] == [0.0, 0.0, 0.0]
    assert view.top_list.count() == 0
    assert (
        f"conv2d_1 channel {silent}: this channel does not fire on these images (its "
        "strongest unit is 0 on all of them" in view.top_label.text()
    )
    # A channel that fires: its three pages, the strongest first.
    type_number(qtbot, view.channel_spin, firing)
    assert "press Find the top 9" in view.top_label.text()
    qtbot.mouseClick(view.top_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: view.top_result() is not None, timeout=TIMEOUT)
    assert view.top_list.count() == 3
    assert view.top_result().items[0].value == pytest.approx(float(peaks[firing]), rel=1e-5)
    assert "the number is the value of its strongest unit" in view.top_label.text()


def test_the_units_tab_paints_every_centre_unit_at_the_size_it_sees(qtbot, view, monkeypatch):
    from engine.explanation.attribution import receptive_field
    from gui.panels.activations import unit_gallery

    monkeypatch.setattr(unit_gallery, "STEPS", 8)
    state = view._state
    state.select_layer("conv2d_1")
    click_tab(qtbot, view.side_tabs, 2)
    units = view.unit_gallery
    qtbot.mouseClick(units.paint_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not units.is_painting(), timeout=TIMEOUT)
    assert units.list.count() == 32
    field = receptive_field(state.model.network, "conv2d_1").size
    assert f"favourite {field}x{field} input" in units.list.item(5).toolTip()
    click_item(qtbot, units.list, units.list.item(5))
    assert state.selection.map == 5
    # Painted once: another layer and back shows them again without painting.
    state.select_layer("conv2d_2")
    assert units.list.count() == 0
    state.select_layer("conv2d_1")
    assert units.list.count() == 32 and not units.is_painting()
