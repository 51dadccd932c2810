"""Uncaught exceptions: log them and tell the person, instead of ending the app."""

from __future__ import annotations

import logging
import sys
import traceback
from types import TracebackType

from PySide6.QtWidgets import QMessageBox, QWidget

log = logging.getLogger("feature-map-explorer")


class ErrorReporter:
    """``sys.excepthook`` for the app: an exception in a slot is logged with its
    traceback and shown in a (non-blocking) dialog that names the log file."""

    def __init__(self, parent: QWidget | None, log_path: str) -> None:
        self.parent = parent
        self.log_path = log_path
        self.dialog: QMessageBox | None = None
        self._previous = sys.excepthook

    def install(self) -> ErrorReporter:
        sys.excepthook = self
        return self

    def uninstall(self) -> None:
        sys.excepthook = self._previous

    def __call__(
        self, kind: type[BaseException], exc: BaseException, tb: TracebackType | None
    ) -> None:
        if issubclass(kind, KeyboardInterrupt):
            self._previous(kind, exc, tb)
            return
        log.error("uncaught exception\n%s", "".join(traceback.format_exception(kind, exc, tb)))
        box = QMessageBox(self.parent)
        box.setIcon(QMessageBox.Icon.Critical)
        box.setWindowTitle("Something went wrong")
        box.setText(f"{kind.__name__}: {exc}")
        box.setInformativeText(
            "The app keeps running; what you made is safe. The details are in the log:\n"
            f"{self.log_path}"
        )
        box.setDetailedText("".join(traceback.format_exception(kind, exc, tb)))
        box.open()  # non-blocking, so a burst of errors cannot stack modal loops
        self.dialog = box
