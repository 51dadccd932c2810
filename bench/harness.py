"""What the benches that drive the real window share: waiting without holding Python's
lock (the GIL) while Qt sleeps, Qt's chatter quietened, clicks as a person's, a video.

Waiting:

``QTest.qWait`` keeps the GIL through its sleeps (PySide6 6.11, measured: a thread of
plain Python runs at about 1% of its speed through a ``qWait(1000)``, at half through
a loop of ``qWait(10)``). The application's own event loop (``QApplication.exec``)
lets the GIL go while it waits, so a bench that paused with ``qWait`` held back the
model thread's Python between two TensorFlow calls: a batch job's next step waited
for the pause to end, and a new input met it right after a yield point every time.
These waits run a ``QEventLoop`` as ``exec`` does (and as pytest-qt's ``qtbot.wait``).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PySide6.QtCore import QEventLoop, QPoint, Qt, QTimer
from PySide6.QtTest import QTest


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


def quiet_qt(_mode, _context, message: str) -> None:
    """Qt's messages (``qInstallMessageHandler``), but the offscreen platform's note on
    every window shown."""
    if "propagateSizeHints" not in message:
        print(message, file=sys.stderr)


def click_tab(tabs, label: str) -> None:
    """Click the tab called ``label`` (a ``QTabWidget``), as a person does."""
    index = next(i for i in range(tabs.count()) if tabs.tabText(i).replace("&&", "&") == label)
    bar = tabs.tabBar()
    QTest.mouseClick(bar, Qt.MouseButton.LeftButton, pos=bar.tabRect(index).center())


def click_layer(tree, name: str) -> None:
    """Click the layer's row in the layer list, on its name, as a person does."""
    item = tree.item_for(name)
    tree.scrollToItem(item)
    rect = tree.visualItemRect(item)
    QTest.mouseClick(
        tree.viewport(),
        Qt.MouseButton.LeftButton,
        pos=QPoint(max(rect.left(), 0) + 30, rect.center().y()),
    )


def show_layer(panel, state, name: str) -> None:
    """Click the layer's row and wait until the Activations panel has drawn it
    (``layer_shown``; a layer with nothing to draw says nothing: 3 s at most)."""
    shown: list[str] = []

    def on_shown(layer: str) -> None:
        shown.append(layer)

    panel.layer_shown.connect(on_shown)
    try:
        clicked = time.monotonic()
        click_layer(panel.layer_table, name)
        wait_until(
            lambda: state.selection.layer == name and (shown or time.monotonic() - clicked > 3),
            f"layer {name}",
        )
    finally:
        panel.layer_shown.disconnect(on_shown)


def write_video(
    path: Path, n: int = 100, fps: float = 25.0, size: tuple[int, int] = (480, 640)
) -> Path:
    """A moving, changing scene (a bar and a disc on noise), ``n`` frames of MJPG."""
    import cv2

    h, w = size
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (w, h))
    if not writer.isOpened():
        raise OSError(f"OpenCV cannot write {path}")
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:h, :w]
    for i in range(n):
        frame = rng.integers(0, 40, (h, w, 3), np.uint8)
        x = int((w - 60) * i / n)
        frame[h // 4 : 3 * h // 4, x : x + 60] = (40, 200, 255)
        cy, cx = h // 2 + int(h / 4 * np.sin(i / 8)), w // 2 + int(w / 4 * np.cos(i / 8))
        frame[(yy - cy) ** 2 + (xx - cx) ** 2 < 50**2] = (255, 80, 40)
        writer.write(frame)
    writer.release()
    return path
