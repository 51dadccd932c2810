"""The Kernel lab driven by clicks and key presses; maps checked against scipy."""

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QStyle, QStyleOptionViewItem
from scipy.signal import correlate2d

from engine import lecture
from engine.images import load_image, to_grey
from engine.paths import sample_images
from gui.panels.kernel_lab import KernelLabPanel
from gui.workers import WorkerRunner

from .helpers import choose, click_cell_grid, type_into_cell

TIMEOUT = 10_000


@pytest.fixture
def lab(qtbot):
    runner = WorkerRunner()
    panel = KernelLabPanel(runner)
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


def test_presets_stride_padding_and_relu(qtbot, lab):
    with qtbot.waitSignal(lab.map_updated, timeout=TIMEOUT):
        choose(qtbot, lab.preset_combo, "Vertical edge")
        lab.preset_combo.activated.emit(lab.preset_combo.currentIndex())
    k = np.array([[-1, 0, 1]] * 3, dtype=float)
    np.testing.assert_allclose(shown_map(lab)[:, :, 0], correlate2d(lecture.BINARY_5X5, k, "valid"))
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
    again = KernelLabPanel(runner)
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
