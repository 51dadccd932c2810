"""An inline message line: errors in red, information in grey; never a blocking dialog."""

from __future__ import annotations

from PySide6.QtWidgets import QLabel, QWidget


class MessageBar(QLabel):
    """A word-wrapped label that shows the latest message of its panel."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWordWrap(True)
        self.setTextInteractionFlags(self.textInteractionFlags())
        self.clear_message()

    def show_error(self, text: str) -> None:
        self.setStyleSheet("color: #b00020; font-weight: bold;")
        self.setText(text)
        self.setVisible(True)

    def show_info(self, text: str) -> None:
        self.setStyleSheet("color: #444;")
        self.setText(text)
        self.setVisible(bool(text))

    def clear_message(self) -> None:
        self.setText("")
        self.setVisible(False)

    def is_error(self) -> bool:
        return not self.isHidden() and "b00020" in self.styleSheet()
