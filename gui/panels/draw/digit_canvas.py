"""A canvas to draw a digit with the mouse or a pen: white ink on black, like MNIST.

Follows PySide6's painter example: strokes are painted into a QImage in the mouse
events; every stroke is also kept so that the last one can be undone. A digit opened
from elsewhere (a test set's) becomes the layer under the strokes (``set_ink``).

Three pictures are kept: what the model is fed (covered parts black), the ink as drawn
(cover ignored) and the cover as a mask. The widget shows the ink with the cover as a
tint over it, so covered parts stay visible, and a heat map (Grad-CAM) as a colour layer.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPointF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QImage, QPainter, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

from gui.widgets.colour import colour_map

Stroke = list[tuple[QPointF, float]]  # points and the pen width at each
INK, COVER = 255, 0  # a stroke adds ink, or covers what is under it with black
#: The tint covered parts are shown in (the model is fed black there).
COVER_TINT = QColor(40, 120, 255, 150)


class DigitCanvas(QWidget):
    """Draw with the left mouse button or a pen (its pressure sets the width).

    Signals
    -------
    changed()
        The ink changed (during a stroke, after undo or clear).
    stroke_finished()
        A stroke ended (mouse or pen released).
    """

    changed = Signal()
    stroke_finished = Signal()

    def __init__(self, size: int = 280, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._image = QImage(size, size, QImage.Format.Format_Grayscale8)  # the model's
        self._image.fill(0)
        self._visible = self._image.copy()  # the ink as drawn, cover ignored
        self._cover = QImage(size, size, QImage.Format.Format_Alpha8)  # where covered
        self._cover.fill(Qt.GlobalColor.transparent)
        self._heat: np.ndarray | None = None  # (H, W) in [0, 1], or None
        self._heat_image: QImage | None = None
        self._base: QImage | None = None  # an opened digit, under the strokes
        self._strokes: list[Stroke] = []
        # Drawings taken away by clear (their base and strokes), for undo.
        self._cleared: list[tuple[QImage | None, list[Stroke]]] = []
        self._levels: dict[int, int] = {}  # id(stroke) -> INK or COVER
        self.covering = False  # True: strokes hide (occlude) what is drawn
        self._current: Stroke | None = None
        self.brush_size = 18.0
        self.setFixedSize(size, size)
        self.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)
        self.setCursor(Qt.CursorShape.CrossCursor)
        self.setAttribute(Qt.WidgetAttribute.WA_StaticContents)
        self.setToolTip("Draw a digit (mouse or pen). Esc/Delete clears, Ctrl+Z undoes a stroke.")

    def sizeHint(self) -> QSize:
        return self._image.size()

    # -- state -------------------------------------------------------------------------
    def ink(self) -> np.ndarray:
        """The canvas as an (H, W) uint8 array, ink high (0..255)."""
        img = self._image
        buf = np.frombuffer(img.constBits(), dtype=np.uint8).reshape(
            img.height(), img.bytesPerLine()
        )
        return buf[:, : img.width()].copy()

    def is_empty(self) -> bool:
        return not self._strokes and self._base is None

    def has_base(self) -> bool:
        """True while an opened digit (``set_ink``) lies under the strokes."""
        return self._base is not None

    def stroke_count(self) -> int:
        return len(self._strokes)

    def clear(self) -> None:
        """Clear the canvas (an opened digit too); ``undo`` brings the drawing back."""
        if self.is_empty():
            return
        self._cleared.append((self._base, list(self._strokes)))
        self._strokes.clear()
        self._base = None
        self._current = None
        self._repaint_all()

    def undo(self) -> None:
        """Take back the last stroke, or the last clear on an empty canvas. An opened
        digit is not a stroke: undo stops at it."""
        if self._strokes:
            self._strokes.pop()
            self._repaint_all()
        elif self._cleared and self._base is None:
            self._base, strokes = self._cleared.pop()
            self._strokes.extend(strokes)
            self._repaint_all()

    def set_ink(self, image: np.ndarray) -> None:
        """Start a new drawing from ``image``: a digit to keep drawing on.

        ``image`` is (H, W), ink high: uint8 0..255, or floats 0..1 (a ``PreparedDigit``'s
        pixels). It is scaled smoothly to the whole canvas (a 28x28 MNIST digit fills it,
        margin included) and lies under the strokes drawn after it; the previous
        drawing and the strokes cleared before are dropped.

        Raises
        ------
        ValueError
            ``image`` is not a non-empty 2-D array of finite values.
        """
        a = np.asarray(image, dtype=np.float32)
        if a.ndim != 2 or a.size == 0:
            raise ValueError(f"image must be a 2-D greyscale array. Received shape {a.shape}")
        if not np.isfinite(a).all():
            raise ValueError("image must hold finite values. Received NaN or infinity")
        if np.asarray(image).dtype != np.uint8 and a.max() <= 1.0:
            a = a * 255.0
        pixels = np.ascontiguousarray(np.clip(np.rint(a), 0, 255).astype(np.uint8))
        h, w = pixels.shape
        small = QImage(pixels.data, w, h, w, QImage.Format.Format_Grayscale8).copy()
        self._base = small.scaled(
            self._image.width(),
            self._image.height(),
            Qt.AspectRatioMode.IgnoreAspectRatio,
            Qt.TransformationMode.SmoothTransformation,
        ).convertToFormat(QImage.Format.Format_Grayscale8)
        self._strokes.clear()
        self._cleared.clear()
        self._current = None
        self._repaint_all()

    def add_stroke(self, points: list[tuple[float, float]]) -> None:
        """Draw a polyline as one stroke (for scripted demos such as screenshots)."""
        self._begin(QPointF(*points[0]), self.brush_size)
        for x, y in points[1:]:
            self._extend(QPointF(x, y), self.brush_size)
        self._end()

    # -- drawing -----------------------------------------------------------------------
    def _pen(self, width: float, level: int = INK) -> QPen:
        return QPen(
            QColor(level, level, level),
            width,
            Qt.PenStyle.SolidLine,
            Qt.PenCapStyle.RoundCap,
            Qt.PenJoinStyle.RoundJoin,
        )

    def _draw_segment(
        self, a: tuple[QPointF, float], b: tuple[QPointF, float], level: int = INK
    ) -> None:
        width = (a[1] + b[1]) / 2
        # The model's picture; the ink as drawn (an ink stroke only); the cover mask (a
        # cover stroke adds to it, an ink stroke over it takes it away: ink drawn later
        # is seen by the model).
        clear = QPainter.CompositionMode.CompositionMode_Clear
        pen = self._pen(width, INK)
        layers = [(self._image, self._pen(width, level), None)]
        if level == INK:
            layers += [(self._visible, pen, None), (self._cover, pen, clear)]
        else:
            layers.append((self._cover, pen, None))
        for image, pen, mode in layers:
            p = QPainter(image)
            p.setRenderHint(QPainter.RenderHint.Antialiasing)
            if mode is not None:
                p.setCompositionMode(mode)
            p.setPen(pen)
            if a[0] == b[0]:
                p.drawPoint(a[0])
            else:
                p.drawLine(a[0], b[0])
            p.end()
        self.update()

    def _repaint_all(self) -> None:
        if self._base is None:
            self._image.fill(0)
        else:
            self._image = self._base.copy()
        self._visible = self._image.copy()
        self._cover.fill(Qt.GlobalColor.transparent)
        for stroke in self._strokes:
            level = self._levels.get(id(stroke), INK)
            for i, point in enumerate(stroke):
                self._draw_segment(stroke[i - 1] if i else point, point, level)
        self.update()
        self.changed.emit()

    def _begin(self, pos: QPointF, width: float) -> None:
        self._cleared.clear()  # a new drawing: what was cleared before stays cleared
        self._current = [(pos, width)]
        self._levels[id(self._current)] = COVER if self.covering else INK
        self._strokes.append(self._current)
        self._draw_segment(self._current[0], self._current[0], self._level())
        self.changed.emit()

    def _extend(self, pos: QPointF, width: float) -> None:
        if self._current is None:
            return
        last = self._current[-1]
        self._current.append((pos, width))
        self._draw_segment(last, self._current[-1], self._level())
        self.changed.emit()

    def _level(self) -> int:
        return self._levels.get(id(self._current), INK)

    def drawn_extent(self) -> float | None:
        """The longer side of the box around the ink strokes' centre lines, in canvas
        pixels, whatever the brush width (a tap: 0); None with an opened digit under the
        strokes or no ink stroke."""
        if self._base is not None:
            return None
        points = [
            (pos.x(), pos.y())
            for stroke in self._strokes
            if self._levels.get(id(stroke), INK) == INK
            for pos, _width in stroke
        ]
        if not points:
            return None
        xy = np.asarray(points)
        return float((xy.max(axis=0) - xy.min(axis=0)).max())

    def covered(self) -> np.ndarray:
        """The cover as an (H, W) uint8 mask, 255 where covered."""
        img = self._cover
        buf = np.frombuffer(img.constBits(), dtype=np.uint8).reshape(
            img.height(), img.bytesPerLine()
        )
        return buf[:, : img.width()].copy()

    def set_heat(self, heat: np.ndarray | None, opacity: float = 0.55) -> None:
        """A heat map of the canvas's size in [0, 1] (Grad-CAM taken back onto the
        canvas), drawn as a colour layer over the drawing; None removes it."""
        if heat is None:
            self._heat, self._heat_image = None, None
            self.update()
            return
        h = np.clip(np.nan_to_num(np.asarray(heat, dtype=np.float32)), 0.0, 1.0)
        if h.shape != (self._image.height(), self._image.width()):
            raise ValueError(
                f"heat must be the canvas's shape {(self._image.height(), self._image.width())}."
                f" Received shape {h.shape}"
            )
        rgba = colour_map("inferno").map(h.ravel(), mode="byte").reshape(*h.shape, 4).copy()
        rgba[:, :, 3] = np.clip(255 * opacity * h, 0, 255).astype(np.uint8)  # none: clear
        rgba = np.ascontiguousarray(rgba.astype(np.uint8))
        height, width = h.shape
        self._heat = h
        self._heat_image = QImage(
            rgba.data, width, height, 4 * width, QImage.Format.Format_RGBA8888
        ).copy()
        self.update()

    def heat_data(self) -> np.ndarray | None:
        """The heat map drawn over the canvas, in [0, 1], or None."""
        return self._heat

    def cover_stroke_count(self) -> int:
        """How many of the strokes cover (hide) rather than draw."""
        return sum(self._levels.get(id(s), INK) == COVER for s in self._strokes)

    def _end(self) -> None:
        if self._current is not None:
            self._current = None
            self.stroke_finished.emit()

    def mousePressEvent(self, event) -> None:
        if event.button() == Qt.MouseButton.LeftButton:
            self._begin(event.position(), self.brush_size)

    def mouseMoveEvent(self, event) -> None:
        if event.buttons() & Qt.MouseButton.LeftButton:
            self._extend(event.position(), self.brush_size)

    def mouseReleaseEvent(self, event) -> None:
        if event.button() == Qt.MouseButton.LeftButton:
            self._end()

    def tabletEvent(self, event) -> None:
        # A pen's pressure (0..1) scales the brush between a third and the full size.
        width = self.brush_size * (0.35 + 0.65 * max(0.0, min(1.0, event.pressure())))
        kind = event.type()
        if kind == event.Type.TabletPress:
            self._begin(event.position(), width)
        elif kind == event.Type.TabletMove and event.pressure() > 0:
            self._extend(event.position(), width)
        elif kind == event.Type.TabletRelease:
            self._end()
        event.accept()

    def paintEvent(self, _event) -> None:
        p = QPainter(self)
        p.drawImage(0, 0, self._visible)
        if self.cover_stroke_count():
            # The cover as a tint over ink and paper alike: the covered ink still shows.
            tint = QImage(self._cover.size(), QImage.Format.Format_ARGB32_Premultiplied)
            tint.fill(COVER_TINT)
            tp = QPainter(tint)
            tp.setCompositionMode(QPainter.CompositionMode.CompositionMode_DestinationIn)
            tp.drawImage(0, 0, self._cover)
            tp.end()
            p.drawImage(0, 0, tint)
        if self._heat_image is not None:
            p.drawImage(0, 0, self._heat_image)
        p.setPen(QColor(90, 90, 90))
        p.drawRect(0, 0, self.width() - 1, self.height() - 1)
        p.end()
