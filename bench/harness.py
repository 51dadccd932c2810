"""Waiting in a bench without holding Python's lock (the GIL) while Qt sleeps.

``QTest.qWait`` keeps the GIL through its sleeps (PySide6 6.11, measured: a thread of
plain Python runs at about 1% of its speed through a ``qWait(1000)``, at half through
a loop of ``qWait(10)``). The application's own event loop (``QApplication.exec``)
lets the GIL go while it waits, so a bench that paused with ``qWait`` held back the
model thread's Python between two TensorFlow calls: a batch job's next step waited
for the pause to end, and a new input met it right after a yield point every time.
These waits run a ``QEventLoop`` as ``exec`` does (and as pytest-qt's ``qtbot.wait``).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from PySide6.QtCore import QEventLoop, QTimer


def wait_ms(ms: int) -> None:
    """Run the event loop for ``ms`` milliseconds."""
    loop = QEventLoop()
    QTimer.singleShot(max(0, int(ms)), loop.quit)
    loop.exec()


def wait_until(
    condition: Callable[[], bool], what: str, timeout_s: float = 300.0, step_ms: int = 2
) -> None:
    """Run the event loop (``step_ms`` at a time) until ``condition()``."""
    deadline = time.perf_counter() + timeout_s
    while not condition():
        if time.perf_counter() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        wait_ms(step_ms)
