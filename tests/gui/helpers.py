"""Ways a person drives widgets, for the GUI tests."""

from PySide6.QtCore import QPoint, Qt
from PySide6.QtWidgets import QApplication


def type_into_cell(qtbot, table, row, col, text):
    """Click a table cell, press F2, replace its text by typing, and press Enter."""
    rect = table.visualRect(table.model().index(row, col))
    qtbot.mouseClick(table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    qtbot.keyClick(table, Qt.Key.Key_F2)
    editor = QApplication.focusWidget()
    assert editor is not table, "no cell editor opened"
    editor.selectAll()
    qtbot.keyClicks(editor, text)
    qtbot.keyClick(editor, Qt.Key.Key_Return)


def click_cell_grid(qtbot, grid, row, col):
    centre = grid.cell_rect(row, col).center()
    qtbot.mouseClick(grid, Qt.MouseButton.LeftButton, pos=QPoint(int(centre.x()), int(centre.y())))


def choose(qtbot, combo, text):
    """Pick an entry of a combo box with the keyboard, as a person would."""
    index = combo.findText(text)
    assert index >= 0, f"{text!r} not in the combo box"
    combo.setFocus()
    qtbot.keyClick(combo, Qt.Key.Key_Home)
    for _ in range(index):
        qtbot.keyClick(combo, Qt.Key.Key_Down)
    assert combo.currentText() == text


def draw_stroke(widget, points, steps=8):
    """Press, drag through ``points`` (interpolated) and release: real mouse events."""
    from PySide6.QtCore import QEvent, QPointF
    from PySide6.QtGui import QMouseEvent

    def send(kind, x, y, button, buttons):
        pos = QPointF(x, y)
        event = QMouseEvent(
            kind, pos, widget.mapToGlobal(pos), button, buttons, Qt.KeyboardModifier.NoModifier
        )
        QApplication.sendEvent(widget, event)

    left = Qt.MouseButton.LeftButton
    send(QEvent.Type.MouseButtonPress, *points[0], left, left)
    for (x0, y0), (x1, y1) in zip(points, points[1:], strict=False):
        for i in range(1, steps + 1):
            t = i / steps
            send(
                QEvent.Type.MouseMove,
                x0 + (x1 - x0) * t,
                y0 + (y1 - y0) * t,
                Qt.MouseButton.NoButton,
                left,
            )
    send(QEvent.Type.MouseButtonRelease, *points[-1], left, Qt.MouseButton.NoButton)


def pick(qtbot, combo, text, stays=True):
    """Open a combo box's list, move to an entry and press Enter, as a person would:
    ``activated`` is emitted once, for that entry only (arrow keys on the closed box
    would activate every entry on the way). ``stays=False`` for an entry that does not
    stay chosen ("A folder of images…" opens a dialog, then shows the folder)."""
    index = combo.findText(text)
    assert index >= 0, f"{text!r} not in the combo box"
    combo.setFocus()
    qtbot.keyClick(combo, Qt.Key.Key_Down, Qt.KeyboardModifier.AltModifier)  # opens the list
    view = combo.view()
    qtbot.waitUntil(view.isVisible, timeout=5_000)
    row = view.currentIndex().row()
    key = Qt.Key.Key_Down if index > row else Qt.Key.Key_Up
    for _ in range(abs(index - row)):
        qtbot.keyClick(view, key)
    qtbot.keyClick(view, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: not view.isVisible(), timeout=5_000)
    # The offscreen platform leaves the closed list as the active window: give the
    # activation back, as a desktop does, so the window's shortcuts work again.
    window = combo.window()
    if window.isVisible():
        window.activateWindow()
        qtbot.waitUntil(lambda: QApplication.activeWindow() is window, timeout=5_000)
    if stays:
        assert combo.currentText() == text
