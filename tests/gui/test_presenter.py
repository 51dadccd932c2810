"""Presenter mode: one zoom for every text, and at the projector's zoom no text under 24 px.

The offscreen platform's screen is 800x800, so after presenter mode has gone full screen
the window is given a 1920x1080 projector's size by hand. Every check walks the widgets
with ``gui.theme.small_texts``, which measures what each visible widget draws.
"""

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QFontInfo
from PySide6.QtWidgets import QApplication, QLabel, QVBoxLayout, QWidget

from gui.main_window import MainWindow
from gui.theme import PRESENTER_MIN_PX, small_texts, theme
from gui.widgets.cell_grid import CellGrid

PROJECTOR = (1920, 1080)


@pytest.fixture
def plain_theme():
    """The one theme of the process, back at zoom 1 and out of presenter mode after."""
    yield theme()
    t = theme()
    t.set_presenter(True)
    t.reset_zoom()
    t.set_presenter(False)
    t.reset_zoom()


@pytest.fixture
def window(qtbot, plain_theme):
    w = MainWindow(load_tf=False, remember=False)
    qtbot.addWidget(w)
    w.show()
    qtbot.waitExposed(w)
    yield w
    w.close()


def app_px() -> int:
    return QFontInfo(QApplication.font()).pixelSize()


def on_projector(qtbot, window: MainWindow) -> None:
    """Presenter mode from the View menu, then the projector's screen size."""
    window.presenter_action.trigger()
    assert theme().presenter() and window.isFullScreen()
    window.showNormal()  # the offscreen screen is 800x800: size it like a projector
    window.resize(*PROJECTOR)
    qtbot.waitUntil(lambda: window.size().toTuple() == PROJECTOR)


def offenders(qtbot, root: QWidget, min_px: int = PRESENTER_MIN_PX) -> list[str]:
    qtbot.wait(30)  # layouts settle
    root.grab()  # every visible widget paints, so painted sizes are this zoom's
    return small_texts(root, min_px)


def test_no_text_under_24_px_in_presenter_mode(qtbot, window):
    on_projector(qtbot, window)
    assert app_px() == PRESENTER_MIN_PX
    found = {}
    for key, panel in window.panels.items():
        window.show_panel(key)
        tabs = panel.tabs if key == "activations" else None
        for i in range(tabs.count()) if tabs is not None else [None]:
            if tabs is not None:
                tabs.setCurrentIndex(i)
            bad = offenders(qtbot, window)
            if bad:
                found[key if tabs is None else f"{key}/{tabs.tabText(i)}"] = bad
    assert found == {}, "texts under 24 px in presenter mode:\n" + "\n".join(
        f"{where}: {bad}" for where, bad in found.items()
    )


def test_zoom_keys_and_leaving_presenter_mode_restore_the_sizes(qtbot, window):
    window.activateWindow()
    formula = window.panels["stride"].formula_label
    assert app_px() == 12 and QFontInfo(formula.font()).pixelSize() == 15
    qtbot.keyClick(window, Qt.Key.Key_Plus, Qt.KeyboardModifier.ControlModifier)
    assert app_px() > 12 and QFontInfo(formula.font()).pixelSize() > 15
    qtbot.keyClick(window, Qt.Key.Key_0, Qt.KeyboardModifier.ControlModifier)
    assert app_px() == 12 and QFontInfo(formula.font()).pixelSize() == 15

    window.presenter_action.trigger()
    assert app_px() == 24 and QFontInfo(formula.font()).pixelSize() == 30
    window.presenter_action.trigger()
    assert not theme().presenter() and not window.isFullScreen()
    assert app_px() == 12 and QFontInfo(formula.font()).pixelSize() == 15


def test_the_walker_measures_what_is_drawn(qtbot, plain_theme):
    box = QWidget()
    qtbot.addWidget(box)
    lay = QVBoxLayout(box)
    tiny = QLabel("tiny")
    tiny.setStyleSheet("font-size: 9px;")
    rich = QLabel("big <small>small print</small>")
    grid = CellGrid()
    grid.set_values(np.arange(900.0).reshape(30, 30))  # 30x30 numbers in a small grid
    grid.setFixedSize(200, 200)
    for w in (tiny, rich, grid, QLabel("fine")):
        lay.addWidget(w)
    box.show()
    qtbot.waitExposed(box)
    found = offenders(qtbot, box, 12)  # zoom 1: nothing a person reads under 12 px
    assert any(f.startswith("QLabel 'tiny': 9 px") for f in found), found
    assert any(f.startswith("QLabel 'small print'") for f in found), found
    assert any(f.startswith("CellGrid") for f in found), found
    assert not any("fine" in f for f in found), found
    tiny.hide()
    assert not any("tiny" in f for f in small_texts(box, 12))


def test_activations_with_a_model_in_presenter_mode(qtbot, activations_panel, plain_theme):
    """Every Activations tab with the MNIST CNN's maps, charts and tables shown."""
    panel = activations_panel
    theme().set_presenter(True)
    panel.resize(*PROJECTOR)
    found = {}
    for i in range(panel.tabs.count()):
        panel.tabs.setCurrentIndex(i)
        qtbot.wait(200)  # a tab may compute what it shows
        bad = offenders(qtbot, panel)
        if bad:
            found[panel.tabs.tabText(i)] = bad
    assert found == {}, "texts under 24 px in presenter mode:\n" + "\n".join(
        f"{where}: {bad}" for where, bad in found.items()
    )


def test_lecture_steps_fit_a_projector_in_presenter_mode(qtbot, window):
    """Every step that needs no model, in presenter mode at 1920x1080: the window stays
    the projector's size (the steps' list makes way) and no text is under 24 px."""
    window.lecture_action.trigger()
    on_projector(qtbot, window)
    assert not window.lecture_dock.isVisible() and window.caption_bar.isVisible()
    checked = 0
    for i, step in enumerate(window.lecture.lecture.steps):
        if step["panel"] not in ("kernels", "stride"):
            continue
        qtbot.keyClick(window, Qt.Key.Key_G, Qt.KeyboardModifier.NoModifier)  # nothing
        window.go_to_step(i + 1)
        panel = window.panels[step["panel"]]
        qtbot.waitUntil(panel.is_ready, timeout=10_000)
        assert window.size().toTuple() == PROJECTOR, (step["title"], window.size())
        assert offenders(qtbot, window) == [], step["title"]
        checked += 1
    assert checked >= 15
    window.presenter_action.trigger()  # leaving presenter mode: the caption stays
    assert window.caption_bar.isVisible() and not theme().presenter()


def test_a_step_opened_straight_in_presenter_mode_has_no_small_text(qtbot, window):
    """Strides 3 colours its note red (a style sheet): opened first thing on the projector,
    the note once kept the 12 px of zoom 1."""
    window.lecture_action.trigger()
    on_projector(qtbot, window)
    titles = [s["title"] for s in window.lecture.lecture.steps]
    window.go_to_step(titles.index("Strides 3") + 1)
    stride = window.panels["stride"]
    assert "2.33" in stride.fit_label.text()
    assert offenders(qtbot, window) == []
