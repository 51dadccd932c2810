"""Small pictures for lists: a numpy image as a QIcon."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtGui import QIcon, QImage, QPainter, QPixmap


def to_rgb(image: np.ndarray) -> np.ndarray:
    """A displayable uint8 image, (H, W) grey or (H, W, 3), as (H, W, 3)."""
    a = np.asarray(image, np.uint8)
    return np.repeat(a[:, :, None], 3, axis=2) if a.ndim == 2 else a


def icon_of(image: np.ndarray, side: int, square: bool = False) -> QIcon:
    """A uint8 image as an icon of ``side`` pixels; enlarged without smoothing (each
    pixel a square: a 28x28 digit stays sharp), shrunk smoothly, its aspect kept.

    ``square``: centred on a transparent ``side`` x ``side`` square, so a thin strip
    stays a strip and the captions under a list of them line up.
    """
    a = np.ascontiguousarray(to_rgb(image))
    h, w = a.shape[:2]
    qimage = QImage(a.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()
    mode = Qt.TransformationMode.FastTransformation
    if max(h, w) > side:
        mode = Qt.TransformationMode.SmoothTransformation
    scaled = qimage.scaled(side, side, Qt.AspectRatioMode.KeepAspectRatio, mode)
    if not square:
        return QIcon(QPixmap.fromImage(scaled))
    canvas = QPixmap(side, side)
    canvas.fill(Qt.GlobalColor.transparent)
    painter = QPainter(canvas)
    painter.drawImage((side - scaled.width()) // 2, (side - scaled.height()) // 2, scaled)
    painter.end()
    return QIcon(canvas)
