"""The Kernel lab driven by clicks and key presses; maps checked against scipy."""

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QStyle, QStyleOptionViewItem
from scipy.signal import correlate2d

from engine.arithmetic.convolution import format_number
from engine.imaging.images import load_image, to_grey
from engine.imaging.mosaic import tile_maps
from engine.teaching import lecture
from engine.util.paths import sample_images
from gui.panels.kernel_lab.panel import (
    DIVERGING,
    PER_MAP,
    SCALE_LABELS,
    SHARED,
    ZERO_SUM_MESSAGE,
    KernelLabPanel,
)
from gui.state import AppState
from gui.workers import WorkerRunner

from .helpers import choose, click_cell_grid, pick, type_into_cell

TIMEOUT = 10_000


@pytest.fixture
def lab(qtbot):
    runner = WorkerRunner()
    panel = KernelLabPanel(AppState(runner))
    qtbot.addWidget(panel)
    panel.resize(1200, 800)
    panel.show()
    qtbot.waitExposed(panel)
    qtbot.waitUntil(lambda: panel.result() is not None, timeout=TIMEOUT)
    yield panel
    runner.shutdown()


def shown_map(panel):
    return panel.result().maps


def test_opens_on_the_lecture_example(lab):
    np.testing.assert_array_equal(shown_map(lab)[:, :, 0], [[4, 3, 4], [2, 4, 3], [2, 3, 4]])
    assert "1x1 + 1x0 + 1x1 + 0x0 + 1x1 + 1x0 + 0x1 + 0x0 + 1x1 = 4" in lab.arithmetic_text()
    assert "3x3x1" in lab.depth_label.text()


def test_typing_into_a_cell_updates_the_map(qtbot, lab):
    with qtbot.waitSignal(lab.map_updated, timeout=TIMEOUT):
        type_into_cell(qtbot, lab.kernel_grid, 1, 1, "-2")
    k = lecture.X_KERNEL.astype(float)
    k[1, 1] = -2
    np.testing.assert_allclose(shown_map(lab)[:, :, 0], correlate2d(lecture.BINARY_5X5, k, "valid"))
    assert lab.preset_combo.currentText() == "(custom)"


def test_editing_one_cell_keeps_the_other_weights_exact(qtbot, lab):
    choose(qtbot, lab.size_combo, "5x5")
    lab.size_combo.activated.emit(lab.size_combo.currentIndex())
    with qtbot.waitSignal(lab.map_updated, timeout=TIMEOUT):
        choose(qtbot, lab.preset_combo, "Gaussian blur")
        lab.preset_combo.activated.emit(lab.preset_combo.currentIndex())
    gaussian = lab.kernels()[0]
    assert lab.kernel_grid.item(0, 0).text() == format_number(gaussian[0, 0])  # rounded
    with qtbot.waitSignal(lab.map_updated, timeout=TIMEOUT):
        type_into_cell(qtbot, lab.kernel_grid, 2, 2, "0.5")
    expected = gaussian.copy()
    expected[2, 2] = 0.5
    np.testing.assert_array_equal(lab.kernels()[0], expected)


def test_invalid_cells_are_marked_and_do_not_crash(qtbot, lab):
    before = shown_map(lab).copy()
    for bad in ["abc", "nan", "inf", ""]:
        type_into_cell(qtbot, lab.kernel_grid, 0, 0, bad)
        item = lab.kernel_grid.item(0, 0)
        assert item.background().color().red() == 255 and item.background().color().green() < 200
        assert "not a finite number" in item.toolTip()
        # the cell just typed into is selected; it must still be painted red
        assert lab.kernel_grid.item(0, 0).isSelected()
        option = QStyleOptionViewItem()
        index = lab.kernel_grid.model().index(0, 0)
        option.state |= QStyle.StateFlag.State_Selected
        lab.kernel_grid.itemDelegate().initStyleOption(option, index)
        assert not option.state & QStyle.StateFlag.State_Selected
        assert lab.message.is_error()
        np.testing.assert_array_equal(shown_map(lab), before)
    with qtbot.waitSignal(lab.map_updated, timeout=TIMEOUT):
        type_into_cell(qtbot, lab.kernel_grid, 0, 0, "2")
    assert not lab.message.is_error()
    assert shown_map(lab)[0, 0, 0] == 5


def test_a_cell_is_red_while_it_is_being_edited(qtbot, lab):
    from PySide6.QtWidgets import QApplication

    grid = lab.kernel_grid
    rect = grid.visualRect(grid.model().index(1, 1))
    qtbot.mouseClick(grid.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    qtbot.keyClick(grid, Qt.Key.Key_F2)
    editor = QApplication.focusWidget()
    assert editor is not grid, "no cell editor opened"
    editor.selectAll()
    qtbot.keyClicks(editor, "abc")  # no Enter: still being edited

    def colour_at_right_edge():
        image = editor.grab().toImage()
        return image.pixelColor(image.width() - 4, image.height() // 2)

    c = colour_at_right_edge()
    assert (c.red(), c.green() < 200, c.blue() < 200) == (255, True, True), c.name()
    assert "'abc' is not a number from -1,000,000 to 1,000,000" in editor.toolTip()
    qtbot.keyClick(editor, Qt.Key.Key_Backspace)
    for _ in range(2):
        qtbot.keyClick(editor, Qt.Key.Key_Backspace)
    qtbot.keyClicks(editor, "2")
    c = colour_at_right_edge()
    assert c.green() > 200 and editor.toolTip() == ""


def test_presets_stride_padding_and_relu(qtbot, lab):
    with qtbot.waitSignal(lab.map_updated, timeout=TIMEOUT):
        choose(qtbot, lab.preset_combo, "Vertical edge")
        lab.preset_combo.activated.emit(lab.preset_combo.currentIndex())
    k = np.array([[-1, 0, 1]] * 3, dtype=float)
    np.testing.assert_allclose(shown_map(lab)[:, :, 0], correlate2d(lecture.BINARY_5X5, k, "valid"))
    # negative weights are written in brackets; the first window sums to 0 - 1 = ...
    assert lab.arithmetic_text().endswith(
        "1x(-1) + 1x0 + 1x1 + 0x(-1) + 1x0 + 1x1 + 0x(-1) + 0x0 + 1x1 = 2"
    )
    with qtbot.waitSignal(lab.map_updated, timeout=TIMEOUT):
        choose(qtbot, lab.padding_combo, "same")
    assert shown_map(lab).shape == (5, 5, 1)
    with qtbot.waitSignal(lab.map_updated, timeout=TIMEOUT):
        lab.stride_spin.setFocus()
        qtbot.keyClick(lab.stride_spin, Qt.Key.Key_Up)
    ref = correlate2d(np.pad(lecture.BINARY_5X5, 1), k, "valid")[::2, ::2]
    np.testing.assert_allclose(shown_map(lab)[:, :, 0], ref)
    with qtbot.waitSignal(lab.map_updated, timeout=TIMEOUT):
        qtbot.mouseClick(lab.relu_check, Qt.MouseButton.LeftButton)
    np.testing.assert_allclose(shown_map(lab)[:, :, 0], np.maximum(ref, 0))
    click_cell_grid(qtbot, lab.output_grid, 1, 2)
    assert lab.input_grid.window() == (2, 4, 3)
    assert "ReLU: max(0," in lab.arithmetic_text()


def test_seven_by_seven_kernel_without_padding_says_why(qtbot, lab):
    choose(qtbot, lab.size_combo, "7x7")
    lab.size_combo.activated.emit(lab.size_combo.currentIndex())
    assert lab.kernel_grid.rowCount() == 7
    qtbot.waitUntil(lambda: lab.message.is_error(), timeout=TIMEOUT)
    assert "larger than the padded 5x5" in lab.message.text()
    assert not lab.message.text().startswith("ValueError")  # str(exc): for a person
    with qtbot.waitSignal(lab.map_updated, timeout=TIMEOUT):
        choose(qtbot, lab.padding_combo, "same")
    assert shown_map(lab).shape == (5, 5, 1)


def test_several_kernels_stack_into_a_volume(qtbot, lab):
    for _ in range(5):
        with qtbot.waitSignal(lab.map_updated, timeout=TIMEOUT):
            qtbot.mouseClick(lab.add_button, Qt.MouseButton.LeftButton)
    maps = shown_map(lab)
    assert maps.shape == (3, 3, 6)
    assert "3x3x6" in lab.depth_label.text()
    for i, k in enumerate(lab.kernels()):
        np.testing.assert_allclose(maps[:, :, i], correlate2d(lecture.BINARY_5X5, k, "valid"))
    with qtbot.waitSignal(lab.map_updated, timeout=TIMEOUT):
        qtbot.mouseClick(lab.remove_button, Qt.MouseButton.LeftButton)
    assert shown_map(lab).shape == (3, 3, 5)
    assert len(lab.output_grids) == 5


def test_every_kernels_map_is_shown_side_by_side(qtbot, lab):
    for _ in range(2):
        with qtbot.waitSignal(lab.map_updated, timeout=TIMEOUT):
            qtbot.mouseClick(lab.add_button, Qt.MouseButton.LeftButton)
    kernels = lab.kernels()
    assert len(lab.output_grids) == 3
    assert all(grid.isVisible() for grid in lab.output_grids)
    lefts = [grid.geometry().left() for grid in lab.output_grids]
    assert lefts == sorted(lefts) and len(set(lefts)) == 3  # in one row, left to right
    for grid, k in zip(lab.output_grids, kernels, strict=True):
        np.testing.assert_allclose(grid.values(), correlate2d(lecture.BINARY_5X5, k, "valid"))
    # a click on the first kernel's map selects that kernel and writes its arithmetic
    click_cell_grid(qtbot, lab.output_grids[0], 2, 1)
    assert lab.kernel_list.currentRow() == 0
    assert lab.kernel_grid.kernel().tolist() == kernels[0].tolist()
    assert lab.output_grids[0].active_cell() == (2, 1)
    assert lab.output_grids[1].active_cell() is None
    assert lab.input_grid.window() == (2, 1, 3)
    assert lab.arithmetic_text().startswith("Kernel 1, output cell (2, 1):")
    assert lab.arithmetic_text().endswith(" = 3")  # the X kernel's map, row 2, column 1
    click_cell_grid(qtbot, lab.output_grids[2], 2, 1)
    assert lab.kernel_list.currentRow() == 2
    expected = correlate2d(lecture.BINARY_5X5, kernels[2], "valid")[2, 1]
    assert lab.arithmetic_text().startswith("Kernel 3, output cell (2, 1):")
    assert lab.arithmetic_text().endswith(f" = {expected:g}")


def test_normalising_explains_a_kernel_that_sums_to_zero(qtbot, lab):
    with qtbot.waitSignal(lab.map_updated, timeout=TIMEOUT):
        choose(qtbot, lab.preset_combo, "Sobel x")
        lab.preset_combo.activated.emit(lab.preset_combo.currentIndex())
    before = lab.kernels()[0]
    qtbot.mouseClick(lab.normalise_button, Qt.MouseButton.LeftButton)
    assert lab.message.text() == ZERO_SUM_MESSAGE and not lab.message.isHidden()
    np.testing.assert_array_equal(lab.kernels()[0], before)
    with qtbot.waitSignal(lab.map_updated, timeout=TIMEOUT):
        choose(qtbot, lab.preset_combo, "Lecture X")
        lab.preset_combo.activated.emit(lab.preset_combo.currentIndex())
    with qtbot.waitSignal(lab.map_updated, timeout=TIMEOUT):
        qtbot.mouseClick(lab.normalise_button, Qt.MouseButton.LeftButton)
    np.testing.assert_allclose(lab.kernels()[0], lecture.X_KERNEL / 5)
    assert lab.message.isHidden()


def test_a_photo_is_convolved_in_greyscale(qtbot, lab):
    name, path = next(iter(sample_images().items()))
    with qtbot.waitSignal(lab.map_updated, timeout=TIMEOUT):
        choose(qtbot, lab.input_combo, name)
    grey = to_grey(load_image(path)) / 255.0
    np.testing.assert_allclose(
        shown_map(lab)[:, :, 0], correlate2d(grey, lecture.X_KERNEL, "valid"), rtol=1e-4, atol=1e-4
    )
    assert lab.output_stack.currentIndex() == 0
    assert lab.map_view.image_item.image.shape == shown_map(lab).shape[:2]


def test_photo_maps_on_their_own_or_one_colour_scale(qtbot, lab):
    assert not lab.scale_combo.isEnabled()  # numbers need no colour scale
    name = next(iter(sample_images()))
    with qtbot.waitSignal(lab.map_updated, timeout=TIMEOUT):
        qtbot.mouseClick(lab.add_button, Qt.MouseButton.LeftButton)  # X and a second kernel
    with qtbot.waitSignal(lab.map_updated, timeout=TIMEOUT):
        choose(qtbot, lab.input_combo, name)
    assert lab.scale_combo.isEnabled() and lab.map_scale() == PER_MAP
    maps = shown_map(lab)
    per_map = tile_maps(maps, columns=2, normalisation="per_map", gap=2)
    np.testing.assert_allclose(lab.map_view.data(), per_map.image)
    for top, left in per_map.origins:  # each map spans the whole scale
        tile = lab.map_view.data()[top : top + maps.shape[0], left : left + maps.shape[1]]
        assert np.nanmin(tile) == 0 and np.nanmax(tile) == pytest.approx(1)
    pick(qtbot, lab.scale_combo, SCALE_LABELS[SHARED])
    assert lab.map_scale() == SHARED
    raw = tile_maps(maps, columns=2, normalisation="none", gap=2)
    np.testing.assert_allclose(lab.map_view.data(), raw.image)
    assert "one scale for all" in lab.map_view.title()
    runner = WorkerRunner()
    again = KernelLabPanel(AppState(runner))  # remembered by key
    qtbot.addWidget(again)
    assert again.map_scale() == SHARED
    assert again.scale_combo.currentText() == SCALE_LABELS[SHARED]
    runner.shutdown()


def test_a_bad_file_shows_a_message_and_the_lab_keeps_working(qtbot, lab, tmp_path):
    bad = tmp_path / "fake.png"
    bad.write_text("not an image")
    lab.load_file(bad)
    qtbot.waitUntil(lab.message.is_error, timeout=TIMEOUT)
    assert "not an image" in lab.message.text()
    with qtbot.waitSignal(lab.map_updated, timeout=TIMEOUT):
        type_into_cell(qtbot, lab.kernel_grid, 0, 0, "3")
    assert shown_map(lab)[0, 0, 0] == 6


def test_flattening_view_explains_the_lost_neighbourhood(qtbot, lab):
    lab.tabs.setCurrentIndex(1)
    view = lab.flatten_view
    centre = view.grid_rect(1, 1).center()
    qtbot.mouseClick(view, Qt.MouseButton.LeftButton, pos=centre.toPoint())
    text = lab.flatten_label.text()
    # the current input is the lecture's 5x5: its rows are 5 apart in the vector
    assert "element 6 of the 25-vector" in text
    assert "(0,1) is 1 step away in the image but 5 in the vector" in text


def test_settings_are_remembered(qtbot, lab):
    with qtbot.waitSignal(lab.map_updated, timeout=TIMEOUT):
        choose(qtbot, lab.padding_combo, "same")
    runner = WorkerRunner()
    again = KernelLabPanel(AppState(runner))
    qtbot.addWidget(again)
    assert again.padding_combo.currentText() == "same"
    runner.shutdown()


def test_dropping_a_file_opens_it(qtbot, lab):
    from PySide6.QtCore import QMimeData, QPointF, QUrl
    from PySide6.QtGui import QDropEvent

    name, path = list(sample_images().items())[1]
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path))])
    event = QDropEvent(
        QPointF(50, 50),
        Qt.DropAction.CopyAction,
        mime,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    with qtbot.waitSignal(lab.map_updated, timeout=TIMEOUT):
        lab.dropEvent(event)
    assert lab.input_combo.currentText() == name
    assert f"Input {load_image(path).shape[0]}x" in lab.depth_label.text()


def test_colour_kernels_are_5x5x3_and_give_one_map_each(qtbot, app_state):
    """The slide's volumes: a 32x32x3 picture, 5x5x3 kernels, one 28x28 map each, the same
    numbers as TensorFlow's conv2d; a slice of the kernel is edited channel by channel."""
    import tensorflow as tf

    lab = KernelLabPanel(app_state)
    qtbot.addWidget(lab)
    lab.show()
    rng = np.random.default_rng(3)
    rgb = rng.integers(0, 256, (32, 32, 3))
    kernels = rng.integers(-2, 3, (2, 5, 5, 3))
    lab.apply_scene(
        {"panel": "kernels", "input": rgb.tolist(), "kernels": kernels.tolist(), "colour": True}
    )
    qtbot.waitUntil(lab.is_ready, timeout=10_000)
    assert lab.colour() and lab.colour_check.isChecked() and lab.slice_combo.isVisible()
    maps = lab.result().maps
    assert maps.shape == (28, 28, 2)
    x = tf.constant(rgb[None] / 255.0, tf.float64)
    w = tf.constant(np.moveaxis(kernels, 0, -1), tf.float64)
    expected = tf.nn.conv2d(x, w, strides=1, padding="VALID")[0].numpy()
    np.testing.assert_allclose(maps, expected, atol=1e-9)
    assert "32x32x3" in lab.depth_label.text() and "5x5x3" in lab.depth_label.text()
    # Typing into the green slice changes that slice only.
    lab.slice_combo.setCurrentIndex(1)
    item = lab.kernel_grid.item(0, 0)
    lab.kernel_grid.setCurrentItem(item)
    qtbot.keyClicks(lab.kernel_grid, "9")
    qtbot.keyClick(lab.kernel_grid, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: lab.kernels()[0][0, 0, 1] == 9, timeout=5_000)
    k = lab.kernels()[0]
    assert k[0, 0, 0] == kernels[0, 0, 0, 0] and k[0, 0, 2] == kernels[0, 0, 0, 2]
    # A grid of numbers is grey: colour turns itself off, each kernel the mean of its slices.
    lab.apply_scene({"panel": "kernels", "input": [[1, 2, 3]] * 3})
    qtbot.waitUntil(lambda: not lab.colour(), timeout=5_000)
    assert lab.kernels()[0].shape == (5, 5) and not lab.colour_check.isEnabled()


def test_layers_stack_like_the_slides_convnet(qtbot, app_state):
    """32x32x3 -> six 5x5x3 kernels -> 28x28x6 -> ReLU -> ten 5x5x6 kernels -> 24x24x10, the
    second layer's maps as tf.nn.conv2d gives them; kernels follow the layer before."""
    import tensorflow as tf

    lab = KernelLabPanel(app_state)
    qtbot.addWidget(lab)
    lab.show()
    rng = np.random.default_rng(5)
    rgb = rng.integers(0, 256, (32, 32, 3))
    first = rng.integers(-2, 3, (6, 5, 5, 3))
    second = rng.integers(-2, 3, (10, 5, 5, 6))
    scene = {
        "panel": "kernels",
        "input": rgb.tolist(),
        "kernels": first.tolist(),
        "layers": [second.tolist()],
        "layer_shown": 1,
        "relu": False,
    }
    lab.apply_scene(scene)
    qtbot.waitUntil(lab.is_ready, timeout=10_000)
    one, two = lab.results()
    assert one.maps.shape == (28, 28, 6) and two.maps.shape == (24, 24, 10)
    assert lab.result() is two and lab.layer_count() == 2
    x = tf.constant(rgb[None] / 255.0, tf.float64)
    h = tf.nn.relu(tf.nn.conv2d(x, tf.constant(np.moveaxis(first, 0, -1), tf.float64), 1, "VALID"))
    y = tf.nn.conv2d(h, tf.constant(np.moveaxis(second, 0, -1), tf.float64), 1, "VALID")
    np.testing.assert_allclose(two.maps, y[0].numpy(), atol=1e-9)
    text = lab.depth_label.text()
    assert "28x28x6 -> ReLU" in text and "10 kernel(s) 5x5x6" in text and "[24x24x10]" in text
    # A kernel removed from the first layer: every second-layer kernel loses its slice.
    lab.show_layer(0)
    lab.kernel_list.setCurrentRow(2)
    qtbot.mouseClick(lab.remove_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: lab.results()[1].kernels.shape == (5, 5, 5, 10), timeout=5_000)
    # A third layer from the button, and the whole stack back from its scene.
    qtbot.mouseClick(lab.add_layer_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: len(lab.results()) == 3, timeout=5_000)
    assert lab.results()[2].kernels.shape == (5, 5, 10, 1)
    saved = lab.scene()
    assert len(saved["layers"]) == 2 and saved["layer_shown"] == 2
    identity = [[0, 0, 0], [0, 1, 0], [0, 0, 0]]
    lab.apply_scene({"panel": "kernels", "input": [[1, 2, 3]] * 3, "kernels": [identity]})
    qtbot.waitUntil(lambda: lab.layer_count() == 1, timeout=5_000)
    lab.apply_scene(saved)
    qtbot.waitUntil(lambda: len(lab.results()) == 3 and lab.is_ready(), timeout=10_000)
    assert lab.scene()["layers"] == saved["layers"]


def test_a_too_large_image_is_offered_reduced(qtbot, lab, tmp_path, monkeypatch):
    from PIL import Image

    from engine.imaging import images

    monkeypatch.setattr(images, "MAX_PIXELS", 10_000)
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (300, 400, 3), np.uint8)).save(tmp_path / "big.png")
    lab.source.load_file(tmp_path / "big.png")
    button = lab.message.action_button()
    qtbot.waitUntil(lambda: "too large to open" in lab.message.text(), timeout=TIMEOUT)
    assert lab.message.is_error() and button.isVisible() and "reduced" in button.text()
    with qtbot.waitSignal(lab.source.image_loaded, timeout=TIMEOUT) as loaded:
        qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    h, w = loaded.args[0].shape[:2]
    assert 9_000 < h * w <= 10_000 and abs(w / h - 4 / 3) < 0.05
    assert not button.isVisible()
    assert lab.source.current_text().endswith("big.png")


def test_the_first_open_dialog_starts_in_the_samples_then_the_last_folder(
    qtbot, lab, tmp_path, monkeypatch
):
    from PIL import Image
    from PySide6.QtWidgets import QFileDialog

    from engine.util.paths import SAMPLES

    Image.fromarray(np.zeros((20, 30, 3), np.uint8)).save(tmp_path / "mine.png")
    starts = []

    def dialog(_parent, _title, start, _filter):
        starts.append(start)
        return str(tmp_path / "mine.png"), ""

    monkeypatch.setattr(QFileDialog, "getOpenFileName", dialog)
    with qtbot.waitSignal(lab.source.image_loaded, timeout=TIMEOUT):
        qtbot.mouseClick(lab.open_button, Qt.MouseButton.LeftButton)
    with qtbot.waitSignal(lab.source.image_loaded, timeout=TIMEOUT):
        qtbot.mouseClick(lab.open_button, Qt.MouseButton.LeftButton)
    assert starts == [str(SAMPLES), str(tmp_path)]


def test_photo_maps_on_a_scale_with_zero_in_the_middle(qtbot, lab):
    with qtbot.waitSignal(lab.map_updated, timeout=TIMEOUT):
        choose(qtbot, lab.input_combo, next(iter(sample_images())))
    with qtbot.waitSignal(lab.map_updated, timeout=TIMEOUT):
        choose(qtbot, lab.preset_combo, "Vertical edge")
    pick(qtbot, lab.scale_combo, SCALE_LABELS[DIVERGING])
    assert lab.map_scale() == DIVERGING
    maps = shown_map(lab)
    assert maps.min() < 0 < maps.max()  # an edge kernel answers both ways
    np.testing.assert_allclose(
        lab.map_view.data(), tile_maps(maps, columns=1, normalisation="none", gap=2).image
    )
    peak = float(np.abs(maps).max())
    bar = lab.map_view.colour_bar
    assert bar.isVisible() and bar.levels() == pytest.approx((-peak, peak))  # real values
    cmap = bar.colorMap()
    white, low, high = (cmap.map(t, mode="byte")[:3] for t in (0.5, 0.0, 1.0))
    assert list(white) == [255, 255, 255]
    assert low[2] > low[0] and high[0] > high[2]  # blue below zero, red above
    assert "white at 0" in lab.map_view.title()
    pick(qtbot, lab.scale_combo, SCALE_LABELS[PER_MAP])  # the usual map colours again
    assert list(lab.map_view.colour_bar.colorMap().map(0.5, mode="byte")[:3]) != [255, 255, 255]


# -- numbers as pixels: "what we see / what computers see" --------------------------------
def colour_scene(rgb, kernels, **more):
    return {
        "panel": "kernels",
        "input": np.asarray(rgb).tolist(),
        "kernels": np.asarray(kernels).tolist(),
        "colour": True,
        **more,
    }


def test_a_small_colour_picture_is_three_grids_of_its_integers(qtbot, lab):
    """In colour mode a small picture's numbers are its red, green and blue 0..255, side by
    side, never rescaled; a map cell's arithmetic adds the three slices' sums over 255."""
    from PySide6.QtCore import QPoint
    from PySide6.QtGui import QColor

    rng = np.random.default_rng(7)
    rgb = rng.integers(0, 256, (6, 6, 3))
    kernels = rng.integers(-2, 3, (1, 3, 3, 3))
    lab.apply_scene(colour_scene(rgb, kernels))
    qtbot.waitUntil(lab.is_ready, timeout=TIMEOUT)
    assert lab.output_stack.currentIndex() == 1  # numbers, not pictures
    grids = lab.input_grids.shown_grids()
    assert len(grids) == 3 and all(grid.isVisible() for grid in grids)
    lefts = [grid.geometry().left() for grid in grids]
    assert lefts == sorted(lefts) and len(set(lefts)) == 3  # R, G, B left to right
    for i, (grid, name) in enumerate(
        zip(grids, ["red (R)", "green (G)", "blue (B)"], strict=False)
    ):
        assert grid.title() == f"Input: {name}"
        np.testing.assert_array_equal(grid.values(), rgb[:, :, i])  # 0..255, not / 255
    assert grids[0].channel() == QColor(255, 0, 0) and grids[2].channel() == QColor(0, 0, 255)
    for ch, grid in enumerate(grids):  # each cell lit in its channel's colour, 0..255
        corner = grid.cell_rect(5, 5).topLeft().toPoint() + QPoint(4, 4)
        seen = grid.grab().toImage().pixelColor(corner)
        assert (seen.red(), seen.green(), seen.blue())[ch] == rgb[5, 5, ch], seen.name()
        assert sum((seen.red(), seen.green(), seen.blue())) == rgb[5, 5, ch]  # the others 0

    click_cell_grid(qtbot, lab.output_grid, 2, 1)
    assert [grid.window() for grid in grids] == [(2, 1, 3)] * 3
    lines = lab.arithmetic_text().splitlines()
    assert lines[0] == "Kernel 1, output cell (2, 1):"
    window = rgb[2:5, 1:4]
    sums = [int((window[:, :, ch] * kernels[0, :, :, ch]).sum()) for ch in range(3)]
    for line, letter, ch, total in zip(lines[1:4], "RGB", range(3), sums, strict=True):
        first = f"{window[0, 0, ch]}x{format_number(kernels[0, 0, 0, ch]).replace('-', '(-')}"
        assert line.startswith(f"{letter}: {first}"), line
        assert line.endswith(f" = {total}"), line
    value = shown_map(lab)[2, 1, 0]
    assert value == pytest.approx(sum(sums) / 255)
    assert f"/ 255 = {format_number(value)}" in lines[4]

    # Grey mode: one grid again, the grey picture as the kernels see it.
    with qtbot.waitSignal(lab.map_updated, timeout=TIMEOUT):
        qtbot.mouseClick(lab.colour_check, Qt.MouseButton.LeftButton)
    assert not lab.colour() and lab.input_grids.channels() == 1
    assert not grids[1].isVisible() and lab.input_grid.title() == "Input"
    grey = to_grey(rgb.astype(np.uint8)) / 255.0
    np.testing.assert_allclose(lab.input_grid.values(), grey)


def test_what_the_computer_sees_a_photo_as_its_numbers(qtbot, lab, tmp_path):
    """A larger photo: a region of it as R, G and B grids of its integers; a click on the
    picture moves the region, the boxes size it (up to 32); grey mode is one grid."""
    from PIL import Image

    from gui.panels.kernel_lab.panel import PIXELS_REGION_SIDE

    from .test_map_view import pixel_point, settle

    rgb = np.random.default_rng(8).integers(0, 256, (40, 50, 3)).astype(np.uint8)
    Image.fromarray(rgb).save(tmp_path / "photo.png")
    with qtbot.waitSignal(lab.map_updated, timeout=TIMEOUT):
        lab.load_file(tmp_path / "photo.png")
    with qtbot.waitSignal(lab.map_updated, timeout=TIMEOUT):
        qtbot.mouseClick(lab.colour_check, Qt.MouseButton.LeftButton)
    assert lab.colour() and lab.output_stack.currentIndex() == 0  # too big for numbers
    lab.tabs.setCurrentIndex(2)
    assert lab.tabs.tabText(2) == "What the computer sees"
    side = PIXELS_REGION_SIDE
    assert lab.region() == ((40 - side) // 2, (50 - side) // 2, side, side)  # the middle

    def assert_grids_show(top, left, h, w):
        grids = lab.pixel_grids.shown_grids()
        assert [g.title() for g in grids] == ["Red (R)", "Green (G)", "Blue (B)"]
        for ch, grid in enumerate(grids):
            assert grid.isVisible()
            np.testing.assert_array_equal(grid.values(), rgb[top : top + h, left : left + w, ch])
        assert lab.pixels_view.marked() == (top, left, h, w)  # framed on the picture

    assert_grids_show(*lab.region())
    assert "integers from 0 to 255" in lab.pixels_label.text()
    # A click on the picture centres the region there.
    view = lab.pixels_view
    settle(qtbot, view)
    qtbot.mouseClick(
        view.viewport(), Qt.MouseButton.LeftButton, pos=pixel_point(view, view.image_item, 30, 40)
    )
    qtbot.waitUntil(lambda: lab.region()[:2] == (25, 35), timeout=5_000)
    assert_grids_show(25, 35, side, side)
    assert (lab.region_top_spin.value(), lab.region_left_spin.value()) == (25, 35)
    assert "Rows 25-34, columns 35-44 of the 40 x 50 picture" in lab.pixels_label.text()
    # The largest region the boxes allow: 32x32, kept inside the picture.
    spin = lab.region_size_spin
    spin.setFocus()
    spin.selectAll()
    qtbot.keyClicks(spin, "32")
    qtbot.keyClick(spin, Qt.Key.Key_Return)
    assert spin.maximum() == 32
    assert lab.region() == (8, 18, 32, 32)
    assert_grids_show(8, 18, 32, 32)
    # Grey mode: one grid of the grey picture, as the kernels see it.
    lab.tabs.setCurrentIndex(0)
    with qtbot.waitSignal(lab.map_updated, timeout=TIMEOUT):
        qtbot.mouseClick(lab.colour_check, Qt.MouseButton.LeftButton)
    assert lab.pixel_grids.channels() == 1 and lab.pixel_grids.grids[0].title() == "Grey"
    grey = to_grey(rgb) / 255.0
    np.testing.assert_allclose(lab.pixel_grids.grids[0].values(), grey[8:40, 18:50])


def test_the_slides_32x32x3_picture_is_shown_whole(qtbot, lab):
    """The volumes slide's 32x32x3 input: all its 3,072 integers; its maps stay pictures."""
    rng = np.random.default_rng(9)
    rgb = rng.integers(0, 256, (32, 32, 3))
    lab.apply_scene(colour_scene(rgb, rng.integers(-2, 3, (2, 5, 5, 3))))
    qtbot.waitUntil(lab.is_ready, timeout=TIMEOUT)
    assert lab.output_stack.currentIndex() == 0
    lab.tabs.setCurrentIndex(2)
    assert lab.region() == (0, 0, 32, 32) and lab.region_box.isHidden()
    for ch, grid in enumerate(lab.pixel_grids.shown_grids()):
        np.testing.assert_array_equal(grid.values(), rgb[:, :, ch])
    assert "32 x 32 x 3 = 3,072 integers from 0 to 255" in lab.pixels_label.text()
    assert lab.pixels_view.marked() is None  # the whole picture


def test_hovering_the_maps_reads_their_real_values(qtbot, lab, tmp_path):
    """Each map is drawn on its own 0..1 scale; the cursor reads its real value, by map."""
    from PIL import Image

    from gui.widgets.map_view import format_value

    from .test_map_view import hover

    rgb = np.random.default_rng(10).integers(0, 256, (24, 30, 3)).astype(np.uint8)
    Image.fromarray(rgb).save(tmp_path / "small.png")
    with qtbot.waitSignal(lab.map_updated, timeout=TIMEOUT):
        lab.load_file(tmp_path / "small.png")
    with qtbot.waitSignal(lab.map_updated, timeout=TIMEOUT):
        qtbot.mouseClick(lab.add_button, Qt.MouseButton.LeftButton)
    assert lab.map_scale() == PER_MAP and lab.output_stack.currentIndex() == 0
    maps = shown_map(lab)
    view = lab.map_view
    top, left = tile_maps(maps, columns=2, gap=2).origins[1]
    hover(qtbot, view, view.image_item, top + 5, left + 9)
    expected = f"map 2, row 5, col 9: {format_value(maps[5, 9, 1])}"
    qtbot.waitUntil(lambda: view.readout() == expected, timeout=5_000)
    # The input picture: its pixel's raw integers.
    inp = lab.input_view
    hover(qtbot, inp, inp.image_item, 7, 11)
    r, g, b = rgb[7, 11]
    qtbot.waitUntil(lambda: inp.readout() == f"row 7, col 11: R {r} G {g} B {b}", timeout=5_000)


@pytest.fixture
def presenter():
    from gui.theme import theme

    theme().set_presenter(True)
    yield theme()
    t = theme()
    t.reset_zoom()
    t.set_presenter(False)
    t.reset_zoom()


def test_the_pixels_are_readable_in_presenter_mode(qtbot, lab, presenter):
    """The numbers of a colour picture, in both places, at the projector's 24 px."""
    from gui.theme import PRESENTER_MIN_PX, small_texts

    rng = np.random.default_rng(11)
    lab.resize(1920, 1000)
    for rgb in (rng.integers(0, 256, (6, 6, 3)), rng.integers(0, 256, (32, 32, 3))):
        lab.apply_scene(colour_scene(rgb, rng.integers(-2, 3, (2, 3, 3, 3))))
        qtbot.waitUntil(lab.is_ready, timeout=TIMEOUT)
        for tab in (0, 2):
            lab.tabs.setCurrentIndex(tab)
            qtbot.wait(30)
            lab.grab()  # every visible widget paints at this zoom
            assert small_texts(lab, PRESENTER_MIN_PX) == [], (rgb.shape, tab)


def test_a_scene_names_the_numbers_tab(qtbot, lab):
    """What the computer sees is a tab a scene (a lecture step) can name and restore."""
    bar = lab.tabs.tabBar()
    qtbot.mouseClick(bar, Qt.MouseButton.LeftButton, pos=bar.tabRect(2).center())
    scene = lab.scene()
    assert scene["tab"] == "numbers"
    lab.tabs.setCurrentIndex(0)
    lab.apply_scene({"panel": "kernels", "tab": "numbers"})
    assert lab.tabs.currentIndex() == 2
