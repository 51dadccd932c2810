"""A spin box for a channel number that says so when the number typed is no channel.

A plain ``QSpinBox`` drops a keystroke that would leave its range: "99" typed into
channels 0 to 31 becomes "9", and Enter picks channel 9 without a word. Here any number
can be typed; Enter (or leaving the box) on one past the last channel emits
``out_of_range`` and the box goes back to the channel it showed.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QValidator
from PySide6.QtWidgets import QSpinBox, QWidget


class ChannelSpinBox(QSpinBox):
    """A channel number (its minimum may be a "none" special value).

    Signals
    -------
    out_of_range(int)
        A whole number was typed and confirmed that is not in the range; the value
        stays what it was.
    """

    out_of_range = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)

    def validate(self, text: str, pos: int) -> object:
        state, text, pos = super().validate(text, pos)
        typed = self._typed_number(text)
        if state == QValidator.State.Invalid and typed is not None:
            state = QValidator.State.Intermediate  # typed on; refused on Enter, with a word
        return state, text, pos

    def _typed_number(self, text: str) -> int | None:
        digits = text.strip().removeprefix(self.prefix()).removesuffix(self.suffix()).strip()
        return int(digits) if digits.isdigit() and len(digits) <= 9 else None

    def check_typed(self) -> bool:
        """Emit ``out_of_range`` if the text typed is a number that is no channel, put
        the value shown back, and say whether it was one (for a window's own Enter)."""
        typed = self._typed_number(self.lineEdit().text())
        if typed is None or self.minimum() <= typed <= self.maximum():
            return False
        self.out_of_range.emit(typed)
        self.setValue(self.value())  # the text goes back to the channel shown
        return True

    def keyPressEvent(self, event) -> None:
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            self.check_typed()
        super().keyPressEvent(event)

    def focusOutEvent(self, event) -> None:
        self.check_typed()
        super().focusOutEvent(event)
