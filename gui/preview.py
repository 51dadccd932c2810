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
    when the panel needs it. With ``FME_PREVIEW_QUIT=ready`` (tests) it prints
    ``ready NAME`` and quits once the panel shows what it will show (TensorFlow loaded
    where it needs it), or exits 3 after two minutes."""
    import os
    import time

    app = QApplication.instance() or QApplication(sys.argv)
    configure_settings()
    runner = WorkerRunner()
    state = AppState(runner)
    panel = factory(state)
    panel.resize(*size)
    panel.show()
    if tensorflow:
        QTimer.singleShot(0, state.start_tensorflow)
    if os.environ.get("FME_PREVIEW_QUIT") == "ready":
        deadline = time.monotonic() + 120
        timer = QTimer(panel)

        def check() -> None:
            ready = getattr(panel, "is_ready", lambda: True)()
            if ready and (not tensorflow or state.tensorflow_version is not None):
                timer.stop()
                print(f"ready {type(panel).__name__}", flush=True)
                app.exit(0)
            elif time.monotonic() > deadline or state.tensorflow_error is not None:
                timer.stop()
                app.exit(3)

        timer.timeout.connect(check)
        timer.start(50)
    code = app.exec()
    panel.close()
    runner.shutdown()
    sys.exit(code)
