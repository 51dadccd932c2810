"""The Activations panel on the MNIST CNN and on untrained VGG16 / ResNet50."""

import numpy as np
import pytest
from PySide6.QtCore import QPoint, Qt

from engine import zoo
from engine.runtime import load_tensorflow
from gui.panels.activations import ActivationsPanel
from gui.workers import WorkerRunner

from .helpers import choose

TIMEOUT = 180_000


@pytest.fixture
def panel(qtbot):
    load_tensorflow()
    runner = WorkerRunner()
    p = ActivationsPanel(runner)
    qtbot.addWidget(p)
    p.resize(1300, 850)
    p.show()
    qtbot.waitExposed(p)
    with qtbot.waitSignal(p.activations_ready, timeout=TIMEOUT):
        p.on_tensorflow_ready()
    yield p
    runner.shutdown()


def click_layer(qtbot, panel, name):
    row = [info.name for info in panel.layer_table.layers()].index(name)
    rect = panel.layer_table.visualRect(panel.layer_table.model().index(row, 0))
    qtbot.mouseClick(panel.layer_table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert panel.current_layer() == name


def click_map(qtbot, panel, index):
    panel.tabs.setCurrentIndex(0)
    top, left = panel.grid_mosaic().origins[index]
    h, w = panel.grid_mosaic().map_shape
    item = panel.grid_view.image_item
    scene = item.mapToScene(left + w / 2, top + h / 2)
    pos = panel.grid_view.mapFromScene(scene)
    qtbot.mouseClick(panel.grid_view.viewport(), Qt.MouseButton.LeftButton, pos=QPoint(pos))


def test_mnist_layers_grid_and_enlarged_map(qtbot, panel):
    computed = panel.computed()
    assert computed.model.key == zoo.MNIST
    assert panel.top_list.count() == 5
    for name, channels in [("conv2d_1", 32), ("conv2d_2", 64), ("max_pooling2d", 64)]:
        click_layer(qtbot, panel, name)
        assert len(panel.grid_mosaic().origins) == channels
        assert panel.layer_label.text().startswith(f"{name}: {channels} maps")
    click_map(qtbot, panel, 5)
    np.testing.assert_array_equal(
        panel.selected_map(), computed.activations["max_pooling2d"][:, :, 5]
    )
    assert "Map 5 of max_pooling2d" in panel.stats_label.text()
    assert "zeros" in panel.stats_label.text()


def test_drawn_digit_is_explored(qtbot, panel):
    digit = np.zeros((28, 28), np.float32)
    digit[4:24, 13:16] = 1.0
    with qtbot.waitSignal(panel.activations_ready, timeout=TIMEOUT) as blocker:
        panel.show_digit(digit)
    computed = blocker.args[0]
    assert computed.top[0][0] == "1"
    assert panel.image_combo.currentText().startswith("The digit drawn")


def test_vgg16_offline_then_untrained(qtbot, panel, monkeypatch):
    from keras.src.utils import file_utils

    def offline(*_a, **_k):
        raise OSError("network is unreachable")

    monkeypatch.setattr(file_utils, "get_file", offline)
    choose(qtbot, panel.model_combo, zoo.MODEL_TITLES[zoo.VGG16])
    panel.model_combo.activated.emit(panel.model_combo.currentIndex())
    qtbot.waitUntil(panel.message.is_error, timeout=TIMEOUT)
    assert "could not be downloaded" in panel.message.text()
    assert "Open untrained" in panel.message.text()
    qtbot.waitUntil(panel.untrained_button.isEnabled, timeout=TIMEOUT)
    with qtbot.waitSignal(panel.activations_ready, timeout=TIMEOUT) as blocker:
        qtbot.mouseClick(panel.untrained_button, Qt.MouseButton.LeftButton)
    computed = blocker.args[0]
    assert not computed.model.trained
    assert "untrained" in panel.model_label.text()
    assert all("untrained" in panel.top_list.item(i).text() for i in range(5))
    click_layer(qtbot, panel, "block1_conv1")
    assert len(panel.grid_mosaic().origins) == 64 and "UNTRAINED" in panel.layer_label.text()
    assert panel.filters_view.data().shape[2] == 3  # first-layer filters as RGB patches
    click_layer(qtbot, panel, "block5_conv3")
    assert len(panel.grid_mosaic().origins) == 512
    click_map(qtbot, panel, 300)
    np.testing.assert_array_equal(
        panel.selected_map(), computed.activations["block5_conv3"][:, :, 300]
    )


def test_resnet_residual_adds_are_marked(qtbot, panel):
    with qtbot.waitSignal(panel.activations_ready, timeout=TIMEOUT):
        panel.load_model(zoo.RESNET50, None)
    texts = [row[0] for row in panel.layer_table.rows_text()]
    assert sum("residual add" in t for t in texts) == 16
    click_layer(qtbot, panel, "conv3_block1_add")
    assert len(panel.grid_mosaic().origins) == 512


def test_a_corrupt_model_file_is_explained_and_the_panel_stays_usable(qtbot, panel, tmp_path):
    bad = tmp_path / "broken.keras"
    bad.write_bytes(b"PK\x03\x04 not really a zip")
    panel.load_user_model_file(bad)
    qtbot.waitUntil(panel.message.is_error, timeout=TIMEOUT)
    assert "could not be read as a Keras model" in panel.message.text()
    qtbot.waitUntil(panel.model_combo.isEnabled, timeout=TIMEOUT)
    with qtbot.waitSignal(panel.activations_ready, timeout=TIMEOUT):
        panel.load_model(zoo.MNIST)
    click_layer(qtbot, panel, "conv2d_1")


def test_exports_are_complete_files(qtbot, panel, tmp_path):
    click_layer(qtbot, panel, "conv2d_1")
    out = tmp_path / "exports"
    out.mkdir()
    png = panel.export_png(out / "grid.png", "grid")
    from PIL import Image

    assert Image.open(png).size[::-1] == panel.grid_image().shape
    npz = panel.export_npz(out / "acts.npz")
    with np.load(npz) as data:
        assert set(data.files) == set(panel.computed().activations)
        np.testing.assert_array_equal(data["conv2d_1"], panel.computed().activations["conv2d_1"])
    assert sorted(p.name for p in out.iterdir()) == ["acts.npz", "grid.png"]  # no temp files
