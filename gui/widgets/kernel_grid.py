"""Edit a kernel cell by cell; every keystroke updates the kernel.

Cells show numbers rounded to two decimals but keep the exact values they were given, so
editing one cell of a Gaussian does not round the others.

Cells that do not hold a finite number (empty, text, NaN, inf) are painted red with a
tooltip saying why, and the kernel is not emitted until they are fixed.
"""

from __future__ import annotations

import math

import numpy as np
from PySide6.QtCore import QEvent, QSignalBlocker, Qt, Signal
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QLineEdit,
    QStyle,
    QStyledItemDelegate,
    QTableWidget,
    QTableWidgetItem,
    QWidget,
)

from engine.arithmetic.convolution import format_number

INVALID_BRUSH = QBrush(QColor(255, 170, 170))
#: Where a cell keeps the exact value it was given; the text shows it rounded.
EXACT_ROLE = Qt.ItemDataRole.UserRole
#: Keys the grid keeps even where its panel has shortcuts for them (moving between
#: cells, starting an edit): a person inside a table expects them to act on the table.
GRID_KEYS = frozenset(
    {
        Qt.Key.Key_Left,
        Qt.Key.Key_Right,
        Qt.Key.Key_Up,
        Qt.Key.Key_Down,
        Qt.Key.Key_Home,
        Qt.Key.Key_End,
        Qt.Key.Key_Space,
    }
)


#: The largest magnitude a cell takes: "1e40" (on the way to typing "1e400") would
#: give maps of 40-digit numbers no cell can show.
CELL_LIMIT = 1e6


def parse_cell(text: str) -> float | None:
    """A number within +-1,000,000 from a cell's text, or None when it is not one.

    >>> parse_cell(" 2,5"), parse_cell("1e40"), parse_cell("abc")
    (2.5, None, None)
    """
    try:
        value = float(text.strip().replace(",", "."))
    except ValueError:
        return None
    return value if math.isfinite(value) and abs(value) <= CELL_LIMIT else None


class _LiveDelegate(QStyledItemDelegate):
    """Commits the editor's text on every keystroke, so the map follows the typing.

    An invalid cell is painted red even while selected: the selection colour used to
    hide the mark on exactly the cell the person had just typed into.
    """

    def initStyleOption(self, option, index) -> None:
        super().initStyleOption(option, index)
        if parse_cell(str(index.data() or "")) is None:
            option.state &= ~QStyle.StateFlag.State_Selected

    def createEditor(self, parent, option, index):
        editor = QLineEdit(parent)
        editor.textEdited.connect(lambda _text, e=editor: self.commitData.emit(e))
        # The editor covers its cell: it shows the red mark itself while it is open.
        editor.textChanged.connect(lambda text, e=editor: mark_editor(e, text))
        return editor


def mark_editor(editor: QLineEdit, text: str) -> None:
    """Paint a cell's editor red, with the reason as its tooltip, while ``text`` is not a
    finite number (the cell under it is painted the same way)."""
    invalid = parse_cell(text) is None
    shown = text.strip() or "empty"
    editor.setToolTip(
        f"'{shown}' is not a number from -1,000,000 to 1,000,000" if invalid else ""
    )
    if editor.property("invalid") != invalid:  # restyled only when it changes
        editor.setProperty("invalid", invalid)
        colour = INVALID_BRUSH.color().name()
        editor.setStyleSheet(f"QLineEdit {{ background-color: {colour}; }}" if invalid else "")


class KernelGrid(QTableWidget):
    """An F x F table of numbers.

    Signals
    -------
    kernel_changed(object)
        The new kernel, a float64 (F, F) array; only emitted while every cell is valid.
    validity_changed(bool)
        True when every cell holds a finite number.
    """

    kernel_changed = Signal(object)
    validity_changed = Signal(bool)

    def __init__(self, size: int = 3, parent: QWidget | None = None) -> None:
        super().__init__(size, size, parent)
        self.setItemDelegate(_LiveDelegate(self))
        self.horizontalHeader().setVisible(False)
        self.verticalHeader().setVisible(False)
        self.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.setEditTriggers(
            QAbstractItemView.EditTrigger.AllEditTriggers
            & ~QAbstractItemView.EditTrigger.CurrentChanged
        )
        self.setToolTip("Type a number into each cell; the feature map follows as you type.")
        self._valid = True
        self.itemChanged.connect(self._on_item_changed)
        self.set_kernel(np.zeros((size, size)))

    def event(self, event) -> bool:
        if (
            event.type() == QEvent.Type.ShortcutOverride
            and Qt.Key(event.key()) in GRID_KEYS
            and event.modifiers() == Qt.KeyboardModifier.NoModifier
        ):
            event.accept()  # the key press then comes to the grid, not to a shortcut
            return True
        return super().event(event)

    def set_kernel(self, kernel: np.ndarray) -> None:
        """Show ``kernel`` (resizing the grid) and emit ``kernel_changed`` once."""
        k = np.asarray(kernel, dtype=np.float64)
        with QSignalBlocker(self):
            self.setRowCount(k.shape[0])
            self.setColumnCount(k.shape[1])
            for r in range(k.shape[0]):
                for c in range(k.shape[1]):
                    item = QTableWidgetItem(format_number(k[r, c]))
                    item.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
                    item.setData(EXACT_ROLE, float(k[r, c]))
                    self.setItem(r, c, item)
        self._revalidate()

    def kernel(self) -> np.ndarray | None:
        """The kernel, or None while a cell is invalid."""
        values = self._values()
        return None if values is None else values

    def is_valid(self) -> bool:
        return self._valid

    def _values(self) -> np.ndarray | None:
        out = np.zeros((self.rowCount(), self.columnCount()))
        ok = True
        for r in range(self.rowCount()):
            for c in range(self.columnCount()):
                item = self.item(r, c)
                v = parse_cell(item.text() if item else "")
                exact = item.data(EXACT_ROLE) if item else None
                if v is not None and exact is not None and item.text() == format_number(exact):
                    v = float(exact)  # shown rounded, kept exact (a Gaussian's 0.0751...)
                if v is None:
                    ok = False
                else:
                    out[r, c] = v
        return out if ok else None

    def _on_item_changed(self, _item: QTableWidgetItem) -> None:
        self._revalidate()

    def _revalidate(self) -> None:
        with QSignalBlocker(self):
            for r in range(self.rowCount()):
                for c in range(self.columnCount()):
                    item = self.item(r, c)
                    if item is None:
                        continue
                    if parse_cell(item.text()) is None:
                        item.setBackground(INVALID_BRUSH)
                        shown = item.text().strip() or "empty"
                        item.setToolTip(f"'{shown}' is not a finite number")
                    else:
                        item.setBackground(QBrush())
                        item.setToolTip("")
        values = self._values()
        valid = values is not None
        if valid != self._valid:
            self._valid = valid
            self.validity_changed.emit(valid)
        if values is not None:
            self.kernel_changed.emit(values)
