"""Small pictures for lists: a numpy image as a QIcon."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QIcon, QImage, QPainter, QPixmap
from PySide6.QtWidgets import QListView, QListWidget


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


def icon_list(side: int, lines: int, extra: int) -> QListWidget:
    """An icon grid: icons of ``side`` px, ``lines`` lines of caption, cells ``extra`` px
    wider than the icons (``fit_captions`` after a zoom)."""
    w = QListWidget()
    w.setViewMode(QListView.ViewMode.IconMode)
    w.setIconSize(QSize(side, side))
    w.setGridSize(QSize(side + extra, side))
    fit_captions(w, lines)
    w.setResizeMode(QListView.ResizeMode.Adjust)
    w.setMovement(QListView.Movement.Static)
    w.setWordWrap(True)
    w.setUniformItemSizes(True)
    w.setMinimumWidth(side + 40)
    w.setMinimumHeight(48)  # the window fits 1024x640; it scrolls
    return w


def fit_captions(w: QListWidget, lines: int) -> None:
    """Size an ``icon_list``'s cells for ``lines`` lines of caption in its font (another
    zoom: the captions follow it)."""
    text = lines * w.fontMetrics().lineSpacing() + 8
    w.setGridSize(QSize(w.gridSize().width(), w.iconSize().width() + text))
