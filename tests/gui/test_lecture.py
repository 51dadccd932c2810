"""Lecture mode and scenes, driven as a lecturer would: View > Lecture, Page Down / Page
Up from any panel, a step's exact state, Save scene and Open scene, a damaged scene,
figures at 2x."""

import json

import numpy as np
import pytest
from PySide6.QtCore import QSettings, Qt
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QTableView
from scipy.signal import correlate2d

from engine.teaching.scene import read_lecture
from gui.main_window import MainWindow


@pytest.fixture
def window(qtbot):
    w = MainWindow(load_tf=False, remember=False)
    qtbot.addWidget(w)
    w.resize(1600, 1000)
    w.show()
    qtbot.waitExposed(w)
    yield w
    w.close()


def _go(qtbot, window, title):
    if not window.lecture_dock.isVisible():
        window.steps_action.trigger()  # View > Lecture steps
    steps = window.lecture.lecture.steps
    index = next(i for i, s in enumerate(steps) if s["title"] == title)
    window.lecture_dock.list.setCurrentRow(index)
    item = window.lecture_dock.list.item(index)
    rect = window.lecture_dock.list.visualItemRect(item)
    qtbot.mouseClick(
        window.lecture_dock.list.viewport(), Qt.MouseButton.LeftButton, pos=rect.center()
    )
    assert window.lecture.index == index
    return window.panels[steps[index]["panel"]]


def test_view_lecture_opens_the_steps_and_page_down_steps_from_any_panel(qtbot, window):
    lecture = read_lecture()
    assert not window.lecture_dock.isVisible()
    window.lecture_action.trigger()  # View > Lecture
    # The offscreen screen is 800 px wide: no room for the list beside the panels, so it
    # waits for View > Lecture steps.
    assert not window.lecture_dock.isVisible() and window.caption_bar.isVisible()
    window.steps_action.trigger()
    assert window.lecture_dock.isVisible() and window.lecture.index == 0
    assert window.lecture_dock.list.count() == len(lecture.steps)
    assert window.caption_bar.heading.text().startswith(f"1 / {len(lecture.steps)}")
    # A click on a kernel cell (focus inside a panel), then the clicker's Page Down.
    qtbot.keyClick(window.panels["kernels"], Qt.Key.Key_PageDown)
    assert window.lecture.index == 1
    assert lecture.steps[1]["title"] in window.caption_bar.heading.text()
    assert window.caption_bar.caption.text() == lecture.steps[1]["caption"]
    qtbot.keyClick(window, Qt.Key.Key_PageDown)
    qtbot.keyClick(window, Qt.Key.Key_PageUp)
    assert window.lecture.index == 1
    # A clicker's Right arrow steps too, unless the focus is in a field that uses it.
    qtbot.keyClick(window, Qt.Key.Key_Right)
    assert window.lecture.index == 2
    spin = window.panels["kernels"].stride_spin
    spin.setFocus()
    qtbot.keyClick(spin, Qt.Key.Key_Up)
    assert window.lecture.index == 2 and spin.value() == 2
    # The caption's arrows step too (a student without a clicker).
    qtbot.mouseClick(window.caption_bar.next_button, Qt.MouseButton.LeftButton)
    qtbot.mouseClick(window.caption_bar.back_button, Qt.MouseButton.LeftButton)
    assert window.lecture.index == 2
    # Ctrl+L ends lecture mode: Page Down is the panels' own again.
    qtbot.keyClick(window, Qt.Key.Key_L, Qt.KeyboardModifier.ControlModifier)
    assert not window.lecture_dock.isVisible() and not window.caption_bar.isVisible()
    qtbot.keyClick(window, Qt.Key.Key_PageDown)
    assert window.lecture.index == 2


def test_a_step_puts_the_panel_into_the_slides_state(qtbot, window):
    window.lecture_action.trigger()
    lab = _go(qtbot, window, "Convolution - 2D")
    assert window.tabs.currentWidget() is lab
    qtbot.waitUntil(lambda: lab.result() is not None and lab.is_ready(), timeout=10_000)
    expected = correlate2d(np.array(lab.scene()["input"]), lab.kernels()[0], mode="valid")
    np.testing.assert_allclose(lab.result().maps[:, :, 0], expected)
    assert lab.arithmetic_text().endswith("= 4")
    stride = _go(qtbot, window, "Strides 3")
    assert window.tabs.currentWidget() is stride
    assert stride.s_spin.value() == 3 and stride.n_spin.value() == 7
    assert "2.33" in stride.fit_label.text()
    # The Stride panel keeps Left / Right for its window; Page Down goes on.
    qtbot.keyClick(stride, Qt.Key.Key_Right)
    assert stride.step() == 1
    before = window.lecture.index
    qtbot.keyClick(stride, Qt.Key.Key_PageDown)
    assert window.lecture.index == before + 1
    pool = _go(qtbot, window, "Max-pooling")
    pool.last()
    assert pool.operation() == "max"
    assert "= 4" in pool.arithmetic_label.text()


def test_a_saved_scene_reopens_exactly(qtbot, window, tmp_path):
    lab = window.show_panel("kernels")
    rng = np.random.default_rng(0)
    scene = {
        "panel": "kernels",
        "input": rng.integers(0, 256, (32, 32)).tolist(),
        "kernels": [rng.integers(-2, 3, (5, 5)).tolist() for _ in range(6)],
        "stride": 2,
        "padding": 1,
        "relu": True,
        "tab": "maps",
        "cell": [3, 4],
    }
    assert window.apply_scene(scene)
    qtbot.waitUntil(lab.is_ready, timeout=10_000)
    assert lab.result().maps.shape == (15, 15, 6)
    path = tmp_path / "six.json"
    assert window.save_scene(path)
    saved = json.loads(path.read_text())
    assert {k: saved[k] for k in scene} == scene
    # Another set-up, then the file again (as after a restart).
    identity = [[0, 0, 0], [0, 1, 0], [0, 0, 0]]
    assert window.apply_scene({"panel": "kernels", "input": [[1, 2, 3]] * 3, "kernels": [identity]})
    qtbot.waitUntil(lambda: lab.result().maps.shape[2] == 1, timeout=10_000)
    assert window.open_scene_file(path)
    qtbot.waitUntil(lambda: lab.result().maps.shape == (15, 15, 6), timeout=10_000)
    assert {k: lab.scene()[k] for k in scene} == scene
    stride = window.show_panel("stride")
    stride.apply_scene(next(s for s in read_lecture().steps if s["title"] == "Strides 2"))
    stride.go_to(4)
    assert window.save_scene(tmp_path / "stride.json")
    stride.apply_scene({"panel": "stride", "size": 5, "filter": 3, "operation": "max pooling"})
    window.open_scene_file(tmp_path / "stride.json")
    assert stride.step() == 4 and stride.s_spin.value() == 2


def test_a_damaged_scene_is_named_and_changes_nothing(qtbot, window, tmp_path):
    lab = window.show_panel("kernels")
    qtbot.waitUntil(lab.is_ready, timeout=10_000)
    before = lab.scene()
    path = tmp_path / "edited.json"
    path.write_text(json.dumps({"panel": "kernels", "kernels": [[[1, 0, 1]] * 3], "stride": "two"}))
    assert not window.open_scene_file(path)
    assert window.message.is_error()
    assert '"stride" must be a whole number' in window.message.text()
    assert lab.scene() == before
    path.write_text("not json at all")
    assert not window.open_scene_file(path)
    assert "edited.json is not JSON (line 1" in window.message.text()


def test_a_teacher_adds_moves_and_saves_a_lecture_of_their_own(qtbot, window, tmp_path):
    window.lecture_action.trigger()
    window.steps_action.trigger()
    count = len(window.lecture)
    window.show_panel("stride").apply_scene(
        {"panel": "stride", "size": 9, "kernel": [[1, 1, 1]] * 3, "stride": 3, "padding": 0}
    )
    qtbot.mouseClick(window.lecture_dock.add_button, Qt.MouseButton.LeftButton)
    assert len(window.lecture) == count + 1 and window.lecture.index == 1
    assert window.lecture.step()["size"] == 9
    qtbot.mouseClick(window.lecture_dock.up_button, Qt.MouseButton.LeftButton)
    assert window.lecture.lecture.steps[0]["size"] == 9
    window.lecture.save(tmp_path / "mine.json")
    assert window.lecture_dock.open_path(tmp_path / "mine.json")
    assert window.lecture.lecture.steps[0]["title"] == "My step: Stride & padding"
    assert window.tabs.currentWidget() is window.panels["stride"]
    assert window.panels["stride"].n_spin.value() == 9


def test_a_figure_is_exported_at_twice_the_screen_and_copied(qtbot, window, tmp_path):
    lab = window.show_panel("kernels")
    qtbot.waitUntil(lab.is_ready, timeout=10_000)
    with qtbot.waitSignal(window.figure_exported, timeout=10_000) as written:
        window.export_figure(tmp_path / "lab.png")
    assert written.args == [tmp_path / "lab.png"]
    image = QImage(str(tmp_path / "lab.png"))
    widget = lab.figure_widget()
    assert (image.width(), image.height()) == (2 * widget.width(), 2 * widget.height())
    window.copy_figure()
    from PySide6.QtWidgets import QApplication

    assert QApplication.clipboard().image().width() == 2 * widget.width()
    # A folder that cannot be written: one sentence, and the window goes on.
    window.export_figure(tmp_path / "missing" / "deeper" / "\0bad.png")
    qtbot.waitUntil(window.message.is_error, timeout=10_000)
    assert "Could not export the figure" in window.message.text()


def test_first_start_offers_the_lecture_once(qtbot):
    w = MainWindow(load_tf=False, remember=True)
    qtbot.addWidget(w)
    w.show()
    assert w.lecture_offer.isVisible() and not w.caption_bar.isVisible()
    # The first window fits the screen (800x800 offscreen) as far as its panels allow,
    # with room for the title bar and borders a window manager adds.
    free, least = w.screen().availableGeometry(), w.minimumSizeHint()
    assert w.width() <= max(free.width() - 8, least.width())
    assert w.height() <= max(free.height() - 40, least.height())
    qtbot.mouseClick(w.lecture_offer.start_button, Qt.MouseButton.LeftButton)
    assert w.lecture.index == 0 and w.caption_bar.isVisible()
    assert not w.lecture_offer.isVisible()
    assert QSettings().value("lecture/offered") in (True, "true")
    w.close()
    again = MainWindow(load_tf=False, remember=True)
    qtbot.addWidget(again)
    again.show()
    assert not again.lecture_offer.isVisible() and not again.caption_bar.isVisible()
    again.close()


def test_an_activations_step_selects_its_layer_and_map(qtbot, window):
    window.start_tensorflow()
    window.lecture_action.trigger()
    _go(qtbot, window, "CNN: Visualization of filters - Conv 1 layer")
    state = window.state
    # The slide's colour first-layer filters: a network trained on photos, offline.
    qtbot.waitUntil(
        lambda: state.selection.layer == "stem_conv" and state.selection.map == 5,
        timeout=120_000,
    )
    assert state.model.key == "efficientnet_lite0" and state.model.loaded.trained
    assert state.input.name == "Coffee"
    panel = window.panels["activations"]
    assert panel.current_part() == "filters"
    # Filter 5 can be found: every filter numbered, in colour, the chosen one framed.
    labels = panel.filters_view.label_texts()
    assert len(labels) == 32 and labels[5] == "5"
    assert panel.filters_view.marked() is not None
    assert panel.scene()["map"] == 5 and panel.scene()["model"] == "efficientnet_lite0"
    _go(qtbot, window, "Deeper layers")
    qtbot.waitUntil(lambda: state.selection.layer == "conv2d_2", timeout=60_000)


def test_page_down_steps_on_from_the_model_comparison_a_step_opens(qtbot, window):
    window.lecture_action.trigger()
    _go(qtbot, window, "Latest trends")
    dialog = window._comparison
    assert dialog is not None and dialog.isVisible()
    table = dialog.findChild(QTableView)
    table.setFocus()
    before = window.lecture.index
    qtbot.keyClick(table, Qt.Key.Key_PageDown)  # the clicker, with the table in front
    assert window.lecture.index == before + 1
    qtbot.waitUntil(lambda: window._comparison is None, timeout=5_000)  # closed by the step


def test_leaving_presenter_mode_gives_the_window_back_as_it_was(qtbot, window):
    window.resize(1200, 800)
    qtbot.waitUntil(lambda: window.size().toTuple() == (1200, 800))
    window.presenter_action.trigger()
    assert window.isFullScreen() and not window.statusBar().isVisible()
    window.presenter_action.trigger()
    assert not window.isFullScreen() and window.statusBar().isVisible()
    qtbot.waitUntil(lambda: window.size().toTuple() == (1200, 800), timeout=5_000)


def test_a_stride_step_names_the_lectures_slide_and_shows_its_kernel(qtbot, window):
    window.lecture_action.trigger()
    stride = _go(qtbot, window, "Strides 2")
    assert stride.preset_key() == "stride2"
    assert stride.edit_tabs.currentIndex() == 0  # the Kernel tab, every time
    pool = _go(qtbot, window, "Max-pooling")
    assert pool.preset_key() == "maxpool" and pool.edit_tabs.currentIndex() == 1


def test_a_kernel_lab_scene_keeps_the_selected_kernel_and_names_the_lectures_image(
    qtbot, window, tmp_path
):
    lab = window.show_panel("kernels")
    qtbot.waitUntil(lab.is_ready, timeout=10_000)
    lab.add_kernel()
    lab.add_kernel()
    assert lab.kernel_list.currentRow() == 2
    window.save_scene(tmp_path / "three.json")
    lab.kernel_list.setCurrentRow(0)
    assert window.open_scene_file(tmp_path / "three.json")
    assert lab.kernel_list.currentRow() == 2 and lab.scene()["selected"] == 2
    assert lab.input_combo.currentText() == "Lecture 5x5 (binary)"


def test_a_lecture_file_opened_or_dropped_is_taught_from_its_first_step(qtbot, window, tmp_path):
    from engine.teaching.scene import Lecture, write_lecture

    steps = [
        {"title": "Mine 1", "caption": "c", "panel": "stride", "size": 9, "stride": 2},
        {"title": "Mine 2", "caption": "c", "panel": "draw"},
    ]
    path = write_lecture(tmp_path / "mine.json", Lecture("Mine", steps))
    assert window.open_scene_file(path)
    assert window.lecture.lecture.title == "Mine" and window.lecture.index == 0
    assert window.caption_bar.heading.text().startswith("1 / 2   Mine 1")
    assert window.panels["stride"].n_spin.value() == 9
    empty = write_lecture(tmp_path / "empty.json", Lecture("Empty", []))
    assert not window.open_scene_file(empty) and "has no steps" in window.message.text()
    assert window.lecture.lecture.title == "Mine"


def test_the_resnet_step_opens_the_residual_experiment(qtbot, window):
    from gui.residual_dialog import ResidualDialog

    window.lecture_action.trigger()
    _go(qtbot, window, "Microsoft: Residual Net (ResNet)")
    dialog = window.findChild(ResidualDialog)
    assert dialog is not None and dialog.isVisible() and not dialog.is_running()
    _go(qtbot, window, "Network Examples")
    assert not dialog.isVisible()  # not running: it makes way for the next step
