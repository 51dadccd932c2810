"""The "What it wants" tab: a channel's picture forming live and cached on disk, a layer's
gallery, and the inputs that excite a channel most; checked against independent
computations (Keras sub-models, a brute-force ranking)."""

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QFileDialog

from engine import featurevis, zoo
from engine.images import load_image
from engine.mnist_data import bundled_test_digits
from engine.paths import sample_images, user_data_dir
from engine.runtime import load_tensorflow
from gui.state import InputKind
from gui.widgets.featurevis_view import CHOOSE_LABEL, MNIST_LABEL, FeatureVisView

from .test_activations import wait_for_activations

TIMEOUT = 120_000


def type_number(qtbot, spin, n):
    """Type ``n`` into a spin box and press Enter, as a person would."""
    spin.setFocus()
    spin.lineEdit().selectAll()
    qtbot.keyClicks(spin, str(n))
    qtbot.keyClick(spin, Qt.Key.Key_Return)
    assert spin.value() == n


def choose_entry(qtbot, combo, text):
    """Open a combo box's list and press Enter on ``text`` (``helpers.pick`` without its
    check that the entry stays chosen: "A folder of images…" becomes the folder chosen)."""
    index = combo.findText(text)
    assert index >= 0, f"{text!r} not in the combo box"
    combo.setFocus()
    qtbot.keyClick(combo, Qt.Key.Key_Down, Qt.KeyboardModifier.AltModifier)
    popup = combo.view()
    qtbot.waitUntil(popup.isVisible, timeout=5_000)
    row = popup.currentIndex().row()
    key = Qt.Key.Key_Down if index > row else Qt.Key.Key_Up
    for _ in range(abs(index - row)):
        qtbot.keyClick(popup, key)
    qtbot.keyClick(popup, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: not popup.isVisible(), timeout=5_000)
    window = combo.window()
    window.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is window, timeout=5_000)


def click_item(qtbot, widget, item):
    widget.scrollToItem(item)
    rect = widget.visualItemRect(item)
    qtbot.mouseClick(widget.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())


def settle(qtbot, state):
    """Wait until the app's threads are idle: a Keras model is used by one thread at a
    time, and the test's own forward passes must not run beside the app's."""
    qtbot.waitUntil(lambda: not state.runner.busy(), timeout=TIMEOUT)


def sub_model(model, layer):
    import keras

    return keras.Model(model.inputs[0], model.get_layer(layer).output)


@pytest.fixture
def counted(monkeypatch):
    """Every call of ``engine.featurevis.maximize`` (the real one runs)."""
    calls = []
    real = featurevis.maximize

    def maximize(model, layer, channel, **kwargs):
        calls.append((layer, channel))
        return real(model, layer, channel, **kwargs)

    monkeypatch.setattr(featurevis, "maximize", maximize)
    return calls


@pytest.fixture
def view(qtbot, app_state):
    load_tensorflow()
    v = FeatureVisView(app_state)
    qtbot.addWidget(v)
    v.resize(1000, 600)
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


def test_a_channel_forms_is_cached_and_comes_back_from_disk(qtbot, view, counted, caplog):
    state = view._state
    model = state.model.model
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
    assert "32 of 32 channels" in view.gallery_label.text()
    # A gallery picture selects its channel; its picture comes from the cache.
    click_item(qtbot, view.gallery, view.gallery.item(17))
    assert state.selection.map == 17
    assert "from the disk cache" in view.result_label.text() and len(counted) == 32

    # A wider layer, cancelled part-way: no error, the pictures made so far stay.
    state.select_layer("conv2d_2")
    qtbot.mouseClick(view.layer_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: len(view.gallery_channels()) >= 3, timeout=TIMEOUT)
    assert "Whole layer:" in view.progress_label.text()
    qtbot.mouseClick(view.cancel_button, Qt.MouseButton.LeftButton)
    assert not view.is_computing() and view.progress_box.isHidden()
    assert view.layer_button.isEnabled()
    qtbot.waitUntil(lambda: not state.runner.busy(), timeout=TIMEOUT)
    kept = view.gallery_channels()
    assert 3 <= len(kept) < 64 and not view.message.is_error()
    # Browsing later: the layer's cached pictures are shown again at once.
    state.select_layer("conv2d_1")
    state.select_layer("conv2d_2")
    qtbot.waitUntil(lambda: view.gallery_channels() == kept, timeout=TIMEOUT)


def test_top_9_of_the_mnist_digits_is_the_brute_force_ranking(qtbot, view, monkeypatch, tmp_path):
    state = view._state
    model = state.model.model
    state.select_layer("conv2d_2")
    type_number(qtbot, view.steps_spin, 4)
    state.select_map(3)
    view.side_tabs.setCurrentIndex(1)
    assert view.source_combo.currentText() == MNIST_LABEL
    qtbot.mouseClick(view.top_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: view.top_result() is not None, timeout=TIMEOUT)

    digits, labels = bundled_test_digits()
    settle(qtbot, state)
    maps = sub_model(model, "conv2d_2")(digits[:, :, :, None] / np.float32(255)).numpy()[..., 3]
    peaks = maps.reshape(len(digits), -1).max(axis=1)
    order = sorted(range(len(digits)), key=lambda i: (-peaks[i], i))[:9]
    items = view.top_result().items
    assert [it.index for it in items] == order
    np.testing.assert_allclose([it.value for it in items], peaks[order], rtol=1e-5)
    for it in items:  # two 3x3 convolutions: a unit sees the 5x5 square from its place
        row, col = np.unravel_index(np.argmax(maps[it.index]), maps.shape[1:])
        assert it.box == (row, col, row + 5, col + 5)
        assert it.crop.shape == (5, 5, 3)
    assert view.top_list.count() == 9
    assert "conv2d_2 channel 3" in view.top_label.text()
    # A patch opens its digit as the current input.
    click_item(qtbot, view.top_list, view.top_list.item(1))
    assert state.input.kind is InputKind.DRAWN_DIGIT
    assert state.input.name == f"test digit #{order[1]} (a {labels[order[1]]})"
    np.testing.assert_allclose(state.input.pixels.pixels, digits[order[1]] / 255.0, atol=1e-6)

    # A folder that has gone: a clear error, and the view keeps working.
    gone = tmp_path / "gone"
    gone.mkdir()
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a, **k: str(gone))
    choose_entry(qtbot, view.source_combo, CHOOSE_LABEL)
    assert view.source_combo.currentText() == "Folder: gone"
    gone.rmdir()
    assert view.top_button.isEnabled()
    qtbot.mouseClick(view.top_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(view.message.is_error, timeout=TIMEOUT)
    assert "is not a folder" in view.message.text()
    assert view.top_button.isEnabled() and view.top_result() is None


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

    # Top 9 from a folder of the person's images: three photos and a damaged file.
    folder = tmp_path / "photos"
    folder.mkdir()
    rng = np.random.default_rng(1)
    for i, (h, w) in enumerate([(160, 240), (200, 200), (120, 90)]):
        Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(
            folder / f"photo{i}.png"
        )
    (folder / "broken.png").write_bytes(b"\x89PNG not really")
    (folder / "notes.txt").write_text("not an image")
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a, **k: str(folder))
    view.side_tabs.setCurrentIndex(1)
    assert view.source_combo.findText(MNIST_LABEL) < 0  # digits only for digit models
    choose_entry(qtbot, view.source_combo, CHOOSE_LABEL)
    assert view.source_combo.currentText() == "Folder: photos"
    qtbot.mouseClick(view.top_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: view.top_result() is not None, timeout=TIMEOUT)
    result = view.top_result()
    assert sorted(it.name for it in result.items) == ["photo0.png", "photo1.png", "photo2.png"]
    assert view.top_list.count() == 3
    assert "1 of 4 files could not be read" in view.message.text()
    assert "broken.png" in view.message.text() and not view.message.is_error()
    # The values are the model's on each photo as the app prepares it.
    loaded = state.model.loaded
    settle(qtbot, state)
    sub = sub_model(loaded.model, "block4_conv1")
    for it in result.items:
        x = loaded.prepare(load_image(folder / it.name))
        assert it.value == pytest.approx(float(sub(x[None]).numpy()[0, :, :, 7].max()), rel=1e-4)
        assert it.crop.ndim == 3 and 0 < it.crop.shape[0] <= it.pixels.shape[0]
    click_item(qtbot, view.top_list, view.top_list.item(0))
    assert state.input.kind is InputKind.FILE
    assert state.input.name == str(folder / result.items[0].name)
