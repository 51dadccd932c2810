"""An inline message line: errors in red, information in grey; never a blocking dialog.

An error is one or two sentences; whatever is longer (a library's dump of weight arrays,
a traceback) goes behind a "Details…" button and to the log, so the window never grows
to the height of an error.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable

from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QSizePolicy,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from gui.theme import theme

log = logging.getLogger(__name__)

#: The longest message shown in full; longer ones are cut at a sentence and "Details…".
SUMMARY_CHARS = 240


def summarise(text: str, limit: int = SUMMARY_CHARS) -> tuple[str, str]:
    """Split ``text`` into a short summary and the rest (empty when nothing is cut).

    >>> summarise("Short.")
    ('Short.', '')
    >>> summary, rest = summarise("One. " + "x" * 500)
    >>> summary, len(rest) > 0
    ('One. (more under Details…)', True)
    """
    text = text.strip()
    first_line = text.splitlines()[0] if text else ""
    if len(text) <= limit and first_line == text:
        return text, ""
    head = first_line[:limit]
    cut = head.rfind(". ")  # a whole sentence (a colon may sit inside brackets)
    if cut > 0:
        head = head[: cut + 1]
    elif len(first_line) > limit:
        head = head.rstrip() + "…"
    return f"{head} (more under Details…)", text


class MessageBar(QWidget):
    """The latest message of its panel, word-wrapped, with optional details and an
    optional offer (a button that does what the message suggests)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._error = False
        self._label = QLabel()
        self._label.setWordWrap(True)
        self._label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        theme().style_text(self._label)  # its style sheet (the colour) would fix its size
        self._details_button = QToolButton()
        self._details_button.setText("Details…")
        self._details_button.setCheckable(True)
        self._details_button.setToolTip("Show the full message (it is also in the log)")
        self._details = QPlainTextEdit()
        self._details.setReadOnly(True)
        theme().style_size(self._details, maximum_height=140)
        self._details_button.toggled.connect(self._details.setVisible)
        self._action_button = QPushButton()
        self._action: Callable[[], object] | None = None
        self._action_button.clicked.connect(self._on_action)
        row = QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self._label, 1)
        row.addWidget(self._action_button)
        row.addWidget(self._details_button)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addLayout(row)
        lay.addWidget(self._details)
        self.clear_message()

    def show_error(
        self,
        text: str,
        details: str = "",
        action: tuple[str, Callable[[], object]] | None = None,
    ) -> None:
        """An error. Without ``details``, a long ``text`` is cut to a summary and the
        whole goes behind "Details…"; with them, ``text`` is the summary as it is.
        ``action``: (a button's text, what it does) offered beside the message; the
        button goes with the message once clicked."""
        self._show(text, details, error=True)
        if action is not None:
            self._action_button.setText(action[0])
            self._action_button.setToolTip(action[0])
            self._action = action[1]
            self._action_button.setVisible(True)

    def show_exception(self, exc: BaseException, what: str = "") -> None:
        """An error from an exception: its message, and its traceback as the details."""
        tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        self._show(f"{what}{exc}", tb if exc.__traceback__ is not None else "", error=True)

    def show_info(self, text: str) -> None:
        self._show(text, "", error=False)

    def _show(self, text: str, details: str, error: bool) -> None:
        summary, rest = (text, "") if details else summarise(text)
        full = "\n\n".join(part for part in (rest, details) if part)
        self._error = error
        self._label.setStyleSheet("color: #b00020; font-weight: bold;" if error else "color: #444;")
        self._label.setText(summary)
        self._label.setToolTip(summary)
        self._details.setPlainText(full)
        self._details_button.setVisible(bool(full))
        self._details_button.setChecked(False)
        self._details.setVisible(False)
        self._action = None
        self._action_button.setVisible(False)
        self.setVisible(bool(summary))

    def _on_action(self) -> None:
        action = self._action
        self.clear_message()
        if action is not None:
            action()

    def action_button(self) -> QPushButton:
        """The offer beside the message (hidden when there is none)."""
        return self._action_button

    def clear_message(self) -> None:
        self._show("", "", error=False)

    def is_error(self) -> bool:
        return self._error and not self.isHidden()

    def text(self) -> str:
        """The summary shown."""
        return self._label.text()

    def details(self) -> str:
        """Everything behind "Details…" ("" when there is nothing more)."""
        return self._details.toPlainText()

    def details_button(self) -> QToolButton:
        return self._details_button
