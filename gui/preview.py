"""Run one panel alone (``python -m gui.panels.draw.panel``), as pyqtgraph's examples do."""

from __future__ import annotations

import sys
from collections.abc import Callable

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QWidget

from gui.settings import configure_settings
from gui.state import AppState
from gui.workers import WorkerRunner


def preview(
    factory: Callable[[AppState], QWidget],
    size: tuple[int, int] = (1200, 750),
    tensorflow: bool = True,
) -> None:
    """Show ``factory(state)`` in a window of its own; TensorFlow loads in the background
    when the panel needs it. ``FME_PREVIEW_QUIT_MS`` closes it after that many ms (tests)."""
    import os

    app = QApplication.instance() or QApplication(sys.argv)
    configure_settings()
    runner = WorkerRunner()
    state = AppState(runner)
    panel = factory(state)
    panel.resize(*size)
    panel.show()
    if tensorflow:
        QTimer.singleShot(0, state.start_tensorflow)
    quit_ms = os.environ.get("FME_PREVIEW_QUIT_MS")
    if quit_ms:
        QTimer.singleShot(int(quit_ms), app.quit)
    code = app.exec()
    runner.shutdown()
    sys.exit(code)
