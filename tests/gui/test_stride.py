"""Stride & padding: the lecture's slides replayed by clicks and key presses."""

import numpy as np
import pytest
from PySide6.QtCore import Qt
from scipy.signal import correlate2d

from engine.teaching import lecture
from gui.panels.stride import (
    AVG,
    BINARY,
    CUSTOM,
    MAX,
    OPERATION_LABELS,
    PRESETS,
    RANDOM,
    VALUE_LABELS,
    StridePanel,
)

from .helpers import choose, click_cell_grid, pick


@pytest.fixture
def panel(qtbot):
    p = StridePanel()
    qtbot.addWidget(p)
    p.resize(1200, 750)
    p.show()
    qtbot.waitExposed(p)
    p.setFocus()
    return p


def pick_preset(qtbot, panel, name):
    pick(qtbot, panel.preset_combo, name)
    panel.setFocus()


def activate(qtbot, window):
    from PySide6.QtWidgets import QApplication

    window.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is window, timeout=5_000)


def key(qtbot, panel, k, times=1):
    for _ in range(times):
        qtbot.keyClick(panel, k)


@pytest.mark.parametrize(
    ("index", "size", "formula"),
    [
        (0, 5, "(N - F + 2P)/S + 1 = (7 - 3 + 2*0)/1 + 1 = 5"),
        (1, 3, "(N - F + 2P)/S + 1 = (7 - 3 + 2*0)/2 + 1 = 3"),
        (3, 7, "(N - F + 2P)/S + 1 = (7 - 3 + 2*1)/1 + 1 = 7"),
    ],
)
def test_lecture_stride_and_padding_slides(qtbot, panel, index, size, formula):
    pick_preset(qtbot, panel, PRESETS[index].name)
    assert panel.formula_label.text() == formula
    assert panel.output_grid.values().shape == (size, size)
    assert panel.window_count() == size * size


def test_stepping_with_keys_moves_window_and_output_cell(qtbot, panel):
    pick_preset(qtbot, panel, PRESETS[1].name)  # 7x7, stride 2
    key(qtbot, panel, Qt.Key.Key_Right)
    assert panel.input_grid.window() == (0, 2, 3)
    assert panel.output_grid.active_cell() == (0, 1)
    key(qtbot, panel, Qt.Key.Key_Right, 2)
    assert panel.input_grid.window() == (2, 0, 3)  # next row: down by the stride
    assert panel.output_grid.active_cell() == (1, 0)
    key(qtbot, panel, Qt.Key.Key_Left)
    assert panel.output_grid.active_cell() == (0, 2)
    key(qtbot, panel, Qt.Key.Key_End)
    assert panel.input_grid.window() == (4, 4, 3) and panel.output_grid.active_cell() == (2, 2)
    key(qtbot, panel, Qt.Key.Key_Home)
    assert panel.step() == 0
    # the arithmetic equals the window times the kernel, and the engine's output value
    x = panel.input_grid.values()
    expected = correlate2d(x, lecture.X_KERNEL, "valid")[::2, ::2]
    shown = panel.arithmetic_label.text()
    assert shown.endswith(f"= {int(expected[0, 0])}")
    assert shown.count("x") == 9


def test_output_fills_as_the_window_moves(qtbot, panel):
    pick_preset(qtbot, panel, PRESETS[1].name)
    key(qtbot, panel, Qt.Key.Key_Right, 4)
    shown = panel.output_grid.values()
    assert np.isfinite(shown.ravel()[:5]).all() and np.isnan(shown.ravel()[5:]).all()


def test_stride_that_does_not_fit_is_explained(qtbot, panel):
    pick_preset(qtbot, panel, PRESETS[2].name)  # 7x7, F=3, stride 3
    assert panel.formula_label.text().endswith("= 2.33")
    assert "does not fit" in panel.fit_label.text()
    assert "the last 1 row(s) and column(s)" in panel.fit_label.text()
    assert panel.output_grid.values().shape == (2, 2)  # what frameworks compute
    assert panel.suggestions() == ["Use stride 2 (3x3 output)", "Use padding 1 (3x3 output)"]
    qtbot.mouseClick(panel.suggestion_row.itemAt(1).widget(), Qt.MouseButton.LeftButton)
    assert panel.p_combo.currentText() == "1" and "does not fit" not in panel.fit_label.text()
    assert panel.output_grid.values().shape == (3, 3)


def test_max_pool_lecture_example(qtbot, panel):
    pick_preset(qtbot, panel, PRESETS[4].name)
    key(qtbot, panel, Qt.Key.Key_End)
    np.testing.assert_array_equal(panel.output_grid.values(), [[6, 8], [3, 4]])
    key(qtbot, panel, Qt.Key.Key_Home)
    assert panel.arithmetic_label.text() == "max(1, 1, 5, 6) = 6"
    pick(qtbot, panel.op_combo, OPERATION_LABELS[AVG])
    assert panel.operation() == AVG
    assert panel.arithmetic_label.text() == "avg(1, 1, 5, 6) = (1 + 1 + 5 + 6)/4 = 3.25"
    # the whole map is now the average pooling of the lecture's 4x4, not the max
    panel.setFocus()
    key(qtbot, panel, Qt.Key.Key_End)
    np.testing.assert_allclose(panel.output_grid.values(), [[3.25, 5.25], [2, 2]])
    assert panel.arithmetic_label.text() == "avg(1, 0, 3, 4) = (1 + 0 + 3 + 4)/4 = 2"


def test_pooling_with_padding_counts_padded_zeros(qtbot, panel):
    pick_preset(qtbot, panel, PRESETS[4].name)  # max pool 2x2, stride 2, on the 4x4
    choose(qtbot, panel.p_combo, "1")  # 6x6 padded: windows at 0, 2, 4
    assert panel.formula_label.text() == "(N - F + 2P)/S + 1 = (4 - 2 + 2*1)/2 + 1 = 3"
    panel.setFocus()
    key(qtbot, panel, Qt.Key.Key_End)
    # by hand: each corner window holds three padded zeros and one input cell
    np.testing.assert_array_equal(panel.output_grid.values(), [[1, 2, 4], [5, 7, 8], [1, 3, 4]])
    assert panel.arithmetic_label.text() == "max(4, 0, 0, 0) = 4"
    assert panel.input_grid.window() == (4, 4, 2)


def test_x_kernel_example_and_clicking_an_output_cell(qtbot, panel):
    pick_preset(qtbot, panel, PRESETS[5].name)
    assert panel.arithmetic_label.text() == (
        "1x1 + 1x0 + 1x1 + 0x0 + 1x1 + 1x0 + 0x1 + 0x0 + 1x1 = 4"
    )
    key(qtbot, panel, Qt.Key.Key_End)
    np.testing.assert_array_equal(panel.output_grid.values(), [[4, 3, 4], [2, 4, 3], [2, 3, 4]])
    click_cell_grid(qtbot, panel.output_grid, 1, 0)
    assert panel.input_grid.window() == (1, 0, 3) and panel.step() == 3
    # cells are counted from 0 in every text: the 4th step is row 1, column 0
    assert "window at row 1, column 0 of the padded input -> output cell (1, 0)" in (
        panel.step_label.text()
    )


def test_negative_weights_are_written_in_brackets(qtbot, panel):
    pick_preset(qtbot, panel, PRESETS[5].name)
    panel.edit_tabs.setCurrentIndex(0)
    from .helpers import type_into_cell

    type_into_cell(qtbot, panel.kernel_grid, 0, 1, "-1")
    assert panel.arithmetic_label.text().startswith("1x1 + 1x(-1) + 1x1 + ")
    assert panel.preset_key() == CUSTOM  # the slide's kernel was changed


def test_keys_reach_the_stepper_from_a_drop_down(qtbot, panel):
    pick_preset(qtbot, panel, PRESETS[1].name)  # 7x7, stride 2: 9 windows
    panel.op_combo.setFocus()
    assert panel.op_combo.hasFocus()
    qtbot.keyClick(panel.op_combo, Qt.Key.Key_End)
    assert panel.step() == 8 and panel.output_grid.active_cell() == (2, 2)
    assert panel.operation() == "conv"  # End moved the stepper, not the drop-down
    qtbot.keyClick(panel.op_combo, Qt.Key.Key_Left)
    assert panel.step() == 7
    qtbot.keyClick(panel.op_combo, Qt.Key.Key_Home)
    assert panel.step() == 0
    panel.s_spin.setFocus()  # from a spin box too (Left/Right stay its text cursor's)
    qtbot.keyClick(panel.s_spin, Qt.Key.Key_End)
    assert panel.s_spin.value() == 2


def test_the_whole_set_up_is_remembered(qtbot):
    first = StridePanel()
    qtbot.addWidget(first)
    first.show()
    pick(qtbot, first.op_combo, OPERATION_LABELS[MAX])
    first.n_spin.setValue(10)
    first.f_spin.setValue(3)
    first.s_spin.setValue(3)
    choose(qtbot, first.p_combo, "same")
    pick(qtbot, first.values_combo, VALUE_LABELS[BINARY])
    first.speed_slider.setValue(7)
    shown = first.input_grid.values()
    first.close()
    first.deleteLater()

    again = StridePanel()
    qtbot.addWidget(again)
    assert again.preset_key() == CUSTOM
    assert again.operation() == MAX and again.op_combo.currentText() == "Max pooling"
    assert (again.n_spin.value(), again.f_spin.value(), again.s_spin.value()) == (10, 3, 3)
    assert again.p_combo.currentText() == "same" and again.padding() == 1
    assert again.values_source() == BINARY and again.speed_slider.value() == 7
    np.testing.assert_array_equal(again.input_grid.values(), shown)
    assert again.formula_label.text() == "(N - F + 2P)/S + 1 = (10 - 3 + 2*1)/3 + 1 = 4"

    pick(qtbot, again.preset_combo, PRESETS[5].name)  # a slide is remembered as a slide
    again.close()
    third = StridePanel()
    qtbot.addWidget(third)
    assert third.preset_key() == PRESETS[5].key
    np.testing.assert_array_equal(third.input_grid.values(), lecture.BINARY_5X5)


def test_typed_values_and_a_renamed_label_survive_a_restart(qtbot, monkeypatch):
    first = StridePanel()
    qtbot.addWidget(first)
    first.show()
    pick(qtbot, first.values_combo, VALUE_LABELS[RANDOM])
    activate(qtbot, first)  # the closed drop-down list kept the keyboard (offscreen)
    first.edit_tabs.setCurrentIndex(1)
    from .helpers import type_into_cell

    type_into_cell(qtbot, first.values_grid, 0, 0, "42")
    typed = first.input_grid.values()
    assert typed[0, 0] == 42
    first.close()
    # the labels are for display only: renaming one does not lose the saved set-up
    monkeypatch.setitem(OPERATION_LABELS, "conv", "Convolution (weighted sum)")
    again = StridePanel()
    qtbot.addWidget(again)
    assert again.op_combo.currentText() == "Convolution (weighted sum)"
    np.testing.assert_array_equal(again.input_grid.values(), typed)


def test_same_padding_any_size_and_typing(qtbot, panel):
    panel.n_spin.setFocus()
    panel.n_spin.selectAll()
    qtbot.keyClicks(panel.n_spin, "16")
    panel.f_spin.setValue(5)
    panel.s_spin.setValue(1)
    choose(qtbot, panel.p_combo, "same")
    assert "P = (F - 1)/2 = (5 - 1)/2 = 2" in panel.fit_label.text()
    assert "keeps the input's size 16x16" in panel.fit_label.text()
    assert panel.output_grid.values().shape == (16, 16)
    x = panel.input_grid.values()
    panel.setFocus()
    key(qtbot, panel, Qt.Key.Key_End)
    k = panel.kernel_grid.kernel()
    np.testing.assert_allclose(panel.output_grid.values(), correlate2d(np.pad(x, 2), k, "valid"))


def test_filter_larger_than_input_is_explained_not_crashed(qtbot, panel):
    panel.n_spin.setValue(3)
    panel.f_spin.setValue(7)
    choose(qtbot, panel.p_combo, "0")
    assert "larger than the padded 3x3" in panel.fit_label.text()
    panel.setFocus()
    key(qtbot, panel, Qt.Key.Key_Right)  # nothing to step, nothing breaks
    panel.f_spin.setValue(3)
    assert panel.output_grid.values().shape == (1, 1)


def test_play_runs_to_the_end(qtbot, panel):
    pick_preset(qtbot, panel, PRESETS[1].name)
    panel.speed_slider.setValue(10)
    key(qtbot, panel, Qt.Key.Key_Space)
    assert panel.is_playing()
    qtbot.waitUntil(lambda: not panel.is_playing(), timeout=10_000)
    assert panel.step() == panel.window_count() - 1


def test_an_input_of_20_typed_like_the_slides_picture(qtbot, panel):
    """The slide's 20x20 picture needs N = 20 (the field refused it above 16)."""
    panel.s_spin.setValue(1)
    panel.n_spin.setFocus()
    panel.n_spin.selectAll()
    qtbot.keyClicks(panel.n_spin, "20")
    assert panel.n_spin.value() == 20
    assert panel.input_grid.values().shape == (20, 20)
    assert panel.output_grid.values().shape == (18, 18)  # F = 3, stride 1, no padding
    panel.n_spin.selectAll()
    qtbot.keyClicks(panel.n_spin, "40")
    assert panel.n_spin.value() <= 32
