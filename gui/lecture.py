"""Lecture mode: the lecture's steps in a dock, a caption above the panels, and the keys.

A lecture (``engine.teaching.scene.Lecture``) is a list of scenes with titles and captions; the
course's ships in ``resources/lecture/``. ``LectureModel`` holds the lecture and the step
shown; the main window applies each step's scene to the panels, the way a saved scene is
opened. ``LectureDock`` lists the steps (and lets a teacher reorder, add, remove, retitle
and save them); ``CaptionBar`` says what to look at. ``LectureKeys`` makes Page Down /
Page Up (and a clicker's arrow keys) step from anywhere in the window.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from PySide6.QtCore import QEvent, QObject, QSettings, QSignalBlocker, QSize, Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QAbstractSlider,
    QAbstractSpinBox,
    QApplication,
    QComboBox,
    QDockWidget,
    QFileDialog,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPlainTextEdit,
    QPushButton,
    QTextEdit,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from engine.teaching.scene import (
    LECTURE_FILE,
    Lecture,
    SceneError,
    check_scene,
    read_lecture,
    write_lecture,
)
from gui.theme import theme

log = logging.getLogger(__name__)


class LectureModel(QObject):
    """The lecture being taught and its current step.

    Signals
    -------
    lecture_changed()
        Steps were added, removed, moved or renamed, or another lecture was opened.
    step_changed(int)
        Step ``index`` (from 0) is to be shown: its scene is to be applied.
    """

    lecture_changed = Signal()
    step_changed = Signal(int)

    def __init__(self, lecture: Lecture, path: Path | None = None, parent=None) -> None:
        super().__init__(parent)
        self.lecture = lecture
        self.path = path  # where it was read from (None: made here)
        self.index = -1  # -1: no step shown yet
        self.modified = False

    @classmethod
    def shipped(cls, parent=None) -> LectureModel:
        return cls(read_lecture(LECTURE_FILE), LECTURE_FILE, parent)

    def __len__(self) -> int:
        return len(self.lecture.steps)

    def step(self, index: int | None = None) -> dict[str, Any] | None:
        i = self.index if index is None else index
        return self.lecture.steps[i] if 0 <= i < len(self) else None

    def go(self, index: int) -> bool:
        """Show step ``index`` (from 0); False when there is no such step."""
        if not 0 <= index < len(self):
            return False
        self.index = index
        self.step_changed.emit(index)
        return True

    def next(self) -> bool:
        return self.go(self.index + 1)

    def previous(self) -> bool:
        return self.go(max(self.index - 1, 0)) if self.index > 0 else False

    # -- a teacher's own lecture ---------------------------------------------------------
    def insert(self, scene: dict[str, Any], title: str, caption: str = "") -> int:
        """Add ``scene`` as a step after the current one; its index."""
        step = {"title": title, "caption": caption, **check_scene(scene)}
        step["title"], step["caption"] = title, caption
        at = self.index + 1
        self.lecture.steps.insert(at, step)
        self.index = at
        self._changed()
        return at

    def remove(self, index: int) -> None:
        if 0 <= index < len(self):
            del self.lecture.steps[index]
            self.index = min(self.index, len(self) - 1)
            self._changed()

    def move(self, index: int, delta: int) -> int:
        """Move step ``index`` up (-1) or down (+1); its new index."""
        to = index + delta
        if not (0 <= index < len(self) and 0 <= to < len(self)):
            return index
        steps = self.lecture.steps
        steps[index], steps[to] = steps[to], steps[index]
        if self.index in (index, to):
            self.index = to if self.index == index else index
        self._changed()
        return to

    def set_text(self, index: int, title: str | None = None, caption: str | None = None) -> None:
        step = self.step(index)
        if step is None:
            return
        if title is not None:
            step["title"] = title
        if caption is not None:
            step["caption"] = caption
        self._changed()

    def open(self, path: Path) -> None:
        """Teach the lecture in ``path`` (a ``SceneError`` leaves this one as it is)."""
        self.use(read_lecture(path), Path(path))

    def use(self, lecture: Lecture, path: Path | None = None) -> None:
        """Teach ``lecture`` (read from ``path``), from before its first step."""
        self.lecture = lecture
        self.path = path
        self.index = -1
        self.modified = False
        self.lecture_changed.emit()

    def save(self, path: Path) -> None:
        write_lecture(path, self.lecture)
        self.path = Path(path)
        self.modified = False
        self.lecture_changed.emit()

    def _changed(self) -> None:
        self.modified = True
        self.lecture_changed.emit()


class LectureOffer(QWidget):
    """At the first start, beside the menus: an offer to begin the lecture (it takes no
    room from the panels)."""

    start_requested = Signal()
    offer_declined = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.label = QLabel("New here?")
        # Flat buttons as tall as a menu entry: the offer adds no height to the window.
        self.start_button = QToolButton()
        self.start_button.setText("Start the lecture")
        self.start_button.setAutoRaise(True)
        theme().style_text(self.start_button, bold=True)
        self.start_button.setToolTip(
            "Step through the lecture's slides: each step sets the app up as its slide and "
            "says what to look at (Page Down / Page Up; View > Lecture, Ctrl+L, later)"
        )
        self.start_button.clicked.connect(self.start_requested)
        self.decline_button = QToolButton()
        self.decline_button.setText("Not now")
        self.decline_button.setAutoRaise(True)
        theme().style_text(self.decline_button)
        self.decline_button.setToolTip("View > Lecture (Ctrl+L) starts it later")
        self.decline_button.clicked.connect(self.offer_declined)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(4, 0, 4, 0)
        lay.setSpacing(2)
        lay.addWidget(self.label)
        lay.addWidget(self.start_button)
        lay.addWidget(self.decline_button)


class CaptionBar(QWidget):
    """The step's number, title and caption above the panels."""

    def __init__(self, model: LectureModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._model = model
        self.heading = QLabel()
        self.heading.setWordWrap(True)
        theme().style_text(self.heading, 16, bold=True)
        self.caption = QLabel()
        self.caption.setWordWrap(True)
        self.caption.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        theme().style_text(self.caption, 14)
        # For a student without a clicker, and where the list of steps has no room.
        self.back_button = self._button("◀ Back", "The step before (Page Up)", model.previous)
        self.next_button = self._button("Next ▶", "The next step (Page Down)", model.next)
        row = QHBoxLayout()
        row.addWidget(self.heading, 1)
        row.addWidget(self.back_button)
        row.addWidget(self.next_button)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(8, 4, 8, 4)
        lay.addLayout(row)
        lay.addWidget(self.caption)
        self.setStyleSheet("CaptionBar { background: #fff8e1; border-bottom: 1px solid #d0c090; }")
        self.setAttribute(Qt.WidgetAttribute.WA_StyledBackground, True)
        model.step_changed.connect(lambda _i: self.show_step())
        model.lecture_changed.connect(self.show_step)
        self.setVisible(False)

    def _button(self, text: str, tip: str, slot) -> QToolButton:
        b = QToolButton()
        b.setText(text)
        b.setToolTip(tip)
        b.setAutoRaise(True)
        b.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        b.clicked.connect(lambda _checked=False: slot())
        theme().style_text(b, bold=True)  # a tool button keeps its own font otherwise
        return b

    def minimumSizeHint(self) -> QSize:
        # The panels keep the room they need in a small window (1024x640): the caption
        # gives way first and is cut, rather than pushing the window past the screen.
        return QSize(0, 0)

    def show_step(self) -> None:
        step = self._model.step()
        if step is None:
            return
        n = len(self._model)
        self.heading.setText(f"{self._model.index + 1} / {n}   {step.get('title', '')}")
        self.back_button.setEnabled(self._model.index > 0)
        self.next_button.setEnabled(self._model.index < n - 1)
        self.caption.setText(step.get("caption", ""))


class LectureDock(QDockWidget):
    """The lecture's steps, in order; a click (or Enter) shows one.

    Signals
    -------
    add_requested()
        The person asked to add what the window shows now as a step.
    """

    add_requested = Signal()

    def __init__(self, model: LectureModel, parent: QWidget | None = None) -> None:
        super().__init__("Lecture", parent)
        self.setObjectName("lecture_dock")
        self._model = model
        body = QWidget()
        lay = QVBoxLayout(body)
        self.title_label = QLabel()
        self.title_label.setWordWrap(True)
        theme().style_text(self.title_label, 13, bold=True)
        lay.addWidget(self.title_label)
        self.list = QListWidget()
        self.list.setToolTip(
            "The lecture's steps: click one to show it; double-click to rename it. "
            "Page Down / Page Up step from anywhere in the window."
        )
        self.list.itemClicked.connect(lambda item: model.go(self.list.row(item)))
        self.list.itemActivated.connect(lambda item: model.go(self.list.row(item)))
        self.list.itemChanged.connect(self._on_item_renamed)
        lay.addWidget(self.list, 1)
        nav = QHBoxLayout()
        self.previous_button = self._button("< Previous", "Previous step (Page Up)", model.previous)
        self.next_button = self._button("Next >", "Next step (Page Down)", model.next)
        nav.addWidget(self.previous_button)
        nav.addWidget(self.next_button)
        lay.addLayout(nav)
        edit = QHBoxLayout()
        self.add_button = self._button(
            "Add", "Add what the window shows now as a step after this one", self.add_requested.emit
        )
        self.remove_button = self._button("Remove", "Remove the selected step", self._remove)
        self.up_button = self._button(
            "Up", "Move the selected step earlier", lambda: self._move(-1)
        )
        self.down_button = self._button(
            "Down", "Move the selected step later", lambda: self._move(1)
        )
        for b in (self.add_button, self.remove_button, self.up_button, self.down_button):
            edit.addWidget(b)
        lay.addLayout(edit)
        files = QHBoxLayout()
        self.caption_button = self._button(
            "Caption…", "Write the selected step's caption", self.edit_caption
        )
        self.open_button = self._button("Open…", "Teach another lecture file", self.open_dialog)
        self.save_button = self._button("Save as…", "Save this lecture to a file", self.save_dialog)
        for b in (self.caption_button, self.open_button, self.save_button):
            files.addWidget(b)
        lay.addLayout(files)
        self.setWidget(body)
        model.lecture_changed.connect(self._refresh)
        model.step_changed.connect(self._on_step)
        self._refresh()

    def _button(self, text: str, tip: str, slot) -> QPushButton:
        b = QPushButton(text)
        b.setToolTip(tip)
        b.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # Page Down stays with the lecture
        b.clicked.connect(lambda _checked=False: slot())
        return b

    def _refresh(self) -> None:
        m = self._model
        name = m.lecture.title or "Untitled lecture"
        self.title_label.setText(name + (" (changed)" if m.modified else ""))
        with QSignalBlocker(self.list):
            self.list.clear()
            for i, step in enumerate(m.lecture.steps):
                item = QListWidgetItem(f"{i + 1}. {step.get('title', '')}")
                item.setFlags(item.flags() | Qt.ItemFlag.ItemIsEditable)
                item.setToolTip(step.get("caption", ""))
                self.list.addItem(item)
            self.list.setCurrentRow(m.index)

    def _on_step(self, index: int) -> None:
        with QSignalBlocker(self.list):
            self.list.setCurrentRow(index)
        item = self.list.item(index)
        if item is not None:
            self.list.scrollToItem(item)

    def selected(self) -> int:
        row = self.list.currentRow()
        return row if row >= 0 else self._model.index

    def _on_item_renamed(self, item: QListWidgetItem) -> None:
        text = item.text()
        number = f"{self.list.row(item) + 1}. "
        self._model.set_text(self.list.row(item), title=text.removeprefix(number).strip())

    def _remove(self) -> None:
        self._model.remove(self.selected())

    def _move(self, delta: int) -> None:
        to = self._model.move(self.selected(), delta)
        self.list.setCurrentRow(to)

    def edit_caption(self) -> None:
        index = self.selected()
        step = self._model.step(index)
        if step is None:
            return
        text, ok = QInputDialog.getMultiLineText(
            self, "Caption", f"What to look at in step {index + 1}:", step.get("caption", "")
        )
        if ok:
            self._model.set_text(index, caption=text)
            if index == self._model.index:
                self._model.step_changed.emit(index)

    def open_dialog(self) -> None:
        start = str(QSettings().value("lecture/dir", str(Path.home())))
        path, _ = QFileDialog.getOpenFileName(self, "Open a lecture", start, "Lecture (*.json)")
        if path:
            self.open_path(Path(path))

    def open_path(self, path: Path) -> bool:
        try:
            self._model.open(path)
        except SceneError as exc:
            self.title_label.setText(str(exc))
            return False
        QSettings().setValue("lecture/dir", str(Path(path).parent))
        self._model.go(0)
        return True

    def save_dialog(self) -> None:
        start = str(QSettings().value("lecture/dir", str(Path.home())))
        path, _ = QFileDialog.getSaveFileName(
            self, "Save the lecture", str(Path(start) / "lecture.json"), "Lecture (*.json)"
        )
        if path:
            try:
                self._model.save(Path(path))
            except (OSError, SceneError) as exc:
                self.title_label.setText(f"Could not save the lecture: {exc}")


#: Widgets that use the arrow keys themselves (a clicker's arrows leave them alone).
ARROW_WIDGETS = (
    QLineEdit,
    QAbstractSpinBox,
    QComboBox,
    QAbstractItemView,
    QAbstractSlider,
    QTextEdit,
    QToolButton,
    QPlainTextEdit,
)
NEXT_KEYS = {Qt.Key.Key_PageDown: True, Qt.Key.Key_Right: False, Qt.Key.Key_Down: False}
PREVIOUS_KEYS = {Qt.Key.Key_PageUp: True, Qt.Key.Key_Left: False, Qt.Key.Key_Up: False}


class LectureKeys(QObject):
    """Page Down / Page Up step the lecture from any panel while it is on; the arrow keys
    a presentation clicker sends do too, unless the focused control uses them (a text
    field, a list, a spin box; the Stride panel's window keeps Left / Right)."""

    def __init__(self, model: LectureModel, window: QWidget) -> None:
        super().__init__(window)
        self._model = model
        self._window = window
        self.active = False

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:
        if not self.active or event.type() != QEvent.Type.KeyPress:
            return False
        if not isinstance(obj, QWidget) or not self._ours(obj.window()):
            return False  # a dialog's keys are its own
        if event.modifiers() & ~Qt.KeyboardModifier.KeypadModifier:
            return False
        key = Qt.Key(event.key())
        if key in NEXT_KEYS or key in PREVIOUS_KEYS:
            always = NEXT_KEYS.get(key, PREVIOUS_KEYS.get(key))
            focus = QApplication.focusWidget()
            if not always and isinstance(focus, ARROW_WIDGETS):
                return False
            if key in NEXT_KEYS:
                self._model.next()
            else:
                self._model.previous()
            return True
        return False

    def _ours(self, window: QWidget) -> bool:
        """The main window, or a window it shows beside itself (a step's model
        comparison), not a modal dialog: its keys are its own."""
        if window is self._window:
            return True
        return window.parentWidget() is self._window and not window.isModal()
