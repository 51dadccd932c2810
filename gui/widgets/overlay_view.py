"""An input image with what explains it on top: a heat map, a square, covered patches.

- ``set_heat`` lays a heat map (0..1, or an ``engine.explanation.attribution.HeatMap`` with its real
  values) over the image through a colour map, with an opacity the person sets, and a
  colour bar beside it that says the real values and their unit;
- ``set_box`` outlines a rectangle (the receptive field of a map pixel);
- in brush mode, dragging paints patches that hide the input (occlusion); every stroke
  can be undone. The covered patches live in ``mask()`` (image pixels, 0 or 1);
- hovering a pixel writes its row, column and value(s) in the title line, with the
  heat map's real value and unit there ("row 12, col 7: R 201 G 143 B 98, heat 0.42
  percentage points"); leaving the image clears it.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QFontMetrics, QPen
from PySide6.QtWidgets import QGraphicsRectItem, QWidget

from engine.explanation.attribution import HeatMap
from gui.theme import theme
from gui.widgets.colour import colour_map
from gui.widgets.map_view import (
    HoverReadout,
    add_colour_bar,
    format_pixel,
    format_value,
    title_with_readout,
)


class _BrushLayer(pg.ImageItem):
    """Receives mouse drags in image coordinates while painting is on."""

    def __init__(self, view: OverlayView) -> None:
        super().__init__(axisOrder="row-major")
        self._owner = view

    def mouseDragEvent(self, ev) -> None:
        if not self._owner.brush_on or ev.button() != Qt.MouseButton.LeftButton:
            ev.ignore()
            return
        ev.accept()
        if ev.isStart():
            self._owner._begin_stroke()
            start = ev.buttonDownPos()  # the drag is recognised a few pixels later
            self._owner._paint_at(start.y(), start.x())
            self._last = (start.y(), start.x())
        # Moves arrive as fast as the mouse goes: cover the whole way, not dabs.
        y, x = ev.pos().y(), ev.pos().x()
        y0, x0 = getattr(self, "_last", (y, x))
        steps = max(
            1, int(np.ceil(np.hypot(y - y0, x - x0) / max(self._owner.brush_size / 2, 0.5)))
        )
        for t in np.linspace(0, 1, steps + 1)[1:]:
            self._owner._paint_at(y0 + (y - y0) * t, x0 + (x - x0) * t, update=t == 1.0)
        self._last = (y, x)
        if ev.isFinish():
            self._owner._end_stroke()

    def mouseClickEvent(self, ev) -> None:
        if self._owner.brush_on and ev.button() == Qt.MouseButton.LeftButton:
            ev.accept()
            self._owner._begin_stroke()
            self._owner._paint_at(ev.pos().y(), ev.pos().x())
            self._owner._end_stroke()
        else:
            ev.ignore()


class OverlayView(HoverReadout, pg.GraphicsLayoutWidget):
    """The input, a heat map over it, a rectangle, and a brush that covers patches.

    Signals
    -------
    mask_changed()
        The covered patches changed (during a stroke, after undo or clear).
    clicked(int, int)
        A click at image pixel (row, col) while the brush is off.
    """

    mask_changed = Signal()
    clicked = Signal(int, int)

    def __init__(self, title: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent=parent)
        self.setBackground("w")
        self._title = title
        self._readout = ""
        self._hover: QPointF | None = None  # the cursor's scene position, over the view
        self._label = self.addLabel(title, row=0, col=0, color="k")
        theme().style_label(self._label)
        # No context menu (a right click is the app's), and none built (5 ms a view).
        self.view = self.addViewBox(row=1, col=0, lockAspect=True, invertY=True, enableMenu=False)
        self.base = pg.ImageItem(axisOrder="row-major")
        self.heat = pg.ImageItem(axisOrder="row-major")
        self.cover = _BrushLayer(self)
        for item in (self.base, self.heat, self.cover):
            self.view.addItem(item)
        self.box = QGraphicsRectItem()
        pen = QPen(QColor(230, 159, 0), 0)  # cosmetic: 1 screen pixel however zoomed
        pen.setWidthF(2.5)
        pen.setCosmetic(True)
        self.box.setPen(pen)
        self.box.setVisible(False)
        self.view.addItem(self.box)
        self._colour_bar: pg.ColorBarItem | None = None  # built with the first heat map
        self._heat_map: HeatMap | None = None
        self.brush_on = False
        self.brush_size = 3
        self._shape: tuple[int, int] | None = None
        self._heat: np.ndarray | None = None
        self._opacity = 0.6
        self._cmap = "inferno"
        self._mask: np.ndarray | None = None
        self._strokes: list[np.ndarray] = []  # the mask before each stroke, for undo
        self._cover_level = 128  # the pixel value covered parts are drawn in
        self._pixels: np.ndarray | None = None
        self.scene().sigMouseClicked.connect(self._on_scene_clicked)
        self.scene().sigMouseMoved.connect(self._on_mouse_moved)
        theme().changed.connect(self._show_title)  # a bigger font is cut shorter

    def set_title(self, title: str) -> None:
        """The heading; cut with "…" to the view's width (a long one would widen the
        scene past the widget)."""
        self._title = title
        self._show_title()

    def title(self) -> str:
        """The whole heading, as set."""
        return self._title

    def _show_title(self, width: int | None = None) -> None:
        if getattr(self, "_label", None) is None or getattr(self, "closed", False):
            return
        room = max((self.width() if width is None else width) - 24, 40)
        readout = getattr(self, "_readout", "")
        shown = title_with_readout(self._title, readout, QFontMetrics(self.font()), room)
        self._label.setText(shown, color="k")
        self._label.setToolTip(self._title if not shown.startswith(self._title) else "")

    def resizeEvent(self, event) -> None:
        if getattr(self, "closed", False):
            return  # pyqtgraph's close() has cleared the scene, the title with it
        # The heading first: a heading still cut for a wider view would keep the
        # layout wider than the widget.
        if event is not None:  # pyqtgraph calls it with None while it builds the view
            self._show_title(event.size().width())
        super().resizeEvent(event)

    # -- content ---------------------------------------------------------------------------
    def set_image(self, pixels: np.ndarray) -> None:
        """The input as uint8 (H, W) grey or (H, W, 3) RGB; a new size clears the mask."""
        a = np.asarray(pixels)
        shape = a.shape[:2]
        self._pixels = a
        self.base.setImage(a, levels=(0, 255), autoLevels=False)
        if shape != self._shape:
            self._shape = shape
            self._mask = np.zeros(shape, np.float32)
            self._strokes.clear()
            self._show_mask()
            if self._heat is not None and self._heat.shape != shape:
                self.set_heat(None)  # another input's heat map would widen the range
            self.fit()
        self._update_readout()

    def fit(self) -> None:
        """Show the whole image, filling the view (the image's own rectangle: another
        item's, a heat map still of the previous size, must not count)."""
        if self._shape is not None:
            h, w = self._shape
            self.view.setRange(QRectF(0, 0, w, h), padding=0.02)

    @property
    def colour_bar(self) -> pg.ColorBarItem:
        """The heat map's colour bar beside the view; asking for it builds it."""
        if self._colour_bar is None:
            self._colour_bar = add_colour_bar(self, colour_map(self._cmap))
            self._colour_bar.setVisible(self._heat_map is not None)
        return self._colour_bar

    def set_heat(self, heat: np.ndarray | HeatMap | None) -> None:
        """A heat map of the image's size, or None to remove it: an array in [0, 1]
        (shown as relative, 1 = its peak) or a ``HeatMap`` with its real values, which
        the colour bar shows."""
        if heat is not None and not isinstance(heat, HeatMap):
            shown = np.clip(np.nan_to_num(np.asarray(heat, dtype=np.float32)), 0.0, 1.0)
            heat = HeatMap(shown, 0.0, 1.0, "relative to the peak", axis="relative (1 = peak)")
        self._heat_map = heat
        self._heat = None if heat is None else np.asarray(heat.shown, dtype=np.float32)
        if heat is None:
            if self._colour_bar is not None:
                self._colour_bar.setVisible(False)
        else:
            high = heat.high if heat.high > heat.low else heat.low + 1.0
            self.colour_bar.setLevels((heat.low, high))
            self.colour_bar.getAxis("left").setLabel(heat.axis or None)
            self.colour_bar.setVisible(True)
        self._show_heat()
        self._update_readout()

    def heat_data(self) -> np.ndarray | None:
        """The heat map as drawn, in [0, 1]."""
        return self._heat

    def heat_map(self) -> HeatMap | None:
        """The heat map with its real values (low, high, unit), or None."""
        return self._heat_map

    def set_opacity(self, opacity: float) -> None:
        self._opacity = float(np.clip(opacity, 0.0, 1.0))
        self._show_heat()

    def set_colour_map(self, key: str) -> None:
        self._cmap = key
        if self._colour_bar is not None:
            self._colour_bar.setColorMap(colour_map(key))
        self._show_heat()

    def _show_heat(self) -> None:
        if self._heat is None:
            self.heat.clear()
            return
        h = np.clip(np.nan_to_num(self._heat), 0.0, 1.0)
        rgba = colour_map(self._cmap).map(h.ravel(), mode=pg.ColorMap.BYTE)
        rgba = rgba.reshape(*h.shape, 4).copy()
        # Strong values show most: alpha follows the value, scaled by the opacity.
        rgba[:, :, 3] = np.clip(255 * self._opacity * (0.25 + 0.75 * h), 0, 255).astype(np.uint8)
        self.heat.setImage(rgba, levels=(0, 255), autoLevels=False)

    def set_box(self, box: tuple[int, int, int, int] | None) -> None:
        """Outline image pixels ``[top:bottom, left:right]`` (None hides it)."""
        if box is None:
            self.box.setVisible(False)
            return
        top, left, bottom, right = box
        self.box.setRect(QRectF(left, top, right - left, bottom - top))
        self.box.setVisible(True)

    def box_rect(self) -> tuple[int, int, int, int] | None:
        if not self.box.isVisible():
            return None
        r = self.box.rect()
        return int(r.top()), int(r.left()), int(r.bottom()), int(r.right())

    # -- the occlusion brush -----------------------------------------------------------------
    def set_brush(self, on: bool, size: int | None = None) -> None:
        """Painting on: drags cover patches (the view no longer pans while it is on)."""
        self.brush_on = on
        if size is not None:
            self.brush_size = max(1, int(size))
        self.view.setMouseEnabled(not on, not on)
        self.setCursor(Qt.CursorShape.CrossCursor if on else Qt.CursorShape.ArrowCursor)

    def set_cover_level(self, level: int) -> None:
        """Draw covered parts in this grey level (0 black .. 255 white)."""
        self._cover_level = int(level)
        self._show_mask()

    def mask(self) -> np.ndarray | None:
        """1 where the input is covered, 0 elsewhere (image pixels)."""
        return None if self._mask is None else self._mask.copy()

    def undo(self) -> None:
        if self._strokes:
            self._mask = self._strokes.pop()
            self._show_mask()
            self.mask_changed.emit()

    def clear_mask(self) -> None:
        if self._mask is not None and self._mask.any():
            self._strokes.append(self._mask.copy())
            self._mask[:] = 0
            self._show_mask()
            self.mask_changed.emit()

    def paint(self, row: float, col: float) -> None:
        """One dab of the brush at image pixel (row, col), as a stroke of its own."""
        self._begin_stroke()
        self._paint_at(row, col)
        self._end_stroke()

    def _begin_stroke(self) -> None:
        if self._mask is not None:
            self._strokes.append(self._mask.copy())

    def _paint_at(self, y: float, x: float, update: bool = True) -> None:
        if self._mask is None:
            return
        h, w = self._mask.shape
        r = self.brush_size / 2
        top, bottom = int(max(0, np.floor(y - r + 0.5))), int(min(h, np.floor(y + r + 0.5)))
        left, right = int(max(0, np.floor(x - r + 0.5))), int(min(w, np.floor(x + r + 0.5)))
        if top < bottom and left < right:
            self._mask[top:bottom, left:right] = 1.0
        if update:
            self._show_mask()
            self.mask_changed.emit()

    def _end_stroke(self) -> None:
        if (
            self._strokes
            and self._mask is not None
            and np.array_equal(self._strokes[-1], self._mask)
        ):
            self._strokes.pop()  # a stroke that covered nothing new is not an undo step

    def _show_mask(self) -> None:
        if self._mask is None:
            self.cover.clear()
            return
        rgba = np.zeros((*self._mask.shape, 4), np.uint8)
        rgba[..., :3] = self._cover_level
        rgba[..., 3] = (self._mask * 255).astype(np.uint8)
        self.cover.setImage(rgba, levels=(0, 255), autoLevels=False)

    # -- the value under the cursor ---------------------------------------------------------
    def readout(self) -> str:
        """What the title line says of the pixel under the cursor ("" when none)."""
        return self._readout

    def readout_at(self, row: int, col: int) -> str:
        """The readout of image pixel (row, col): "row 12, col 7: R 201 G 143 B 98" (the
        input as stored, 0..255), with ", heat 0.42 percentage points" where a heat map
        lies over it (its real value, from ``HeatMap``'s low..high; "≥" where clipped)."""
        a = self._pixels
        if a is None or not (0 <= row < a.shape[0] and 0 <= col < a.shape[1]):
            return ""
        text = f"row {row}, col {col}: {format_pixel(a[row, col])}"
        heat = self._heat_map
        if heat is not None and self._heat is not None and self._heat.shape == a.shape[:2]:
            shown = float(self._heat[row, col])
            if np.isfinite(shown):
                value = heat.low + shown * (heat.high - heat.low)
                at_top = heat.clipped and shown >= 1.0
                unit = f" {heat.unit}" if heat.unit else ""
                text += f", heat {'≥ ' if at_top else ''}{format_value(value)}{unit}"
        return text

    def _readout_image(self) -> pg.ImageItem:
        return self.base

    def _on_scene_clicked(self, event) -> None:
        if self.brush_on or self._shape is None:
            return
        pos = self.base.mapFromScene(event.scenePos())
        row, col = int(np.floor(pos.y())), int(np.floor(pos.x()))
        if 0 <= row < self._shape[0] and 0 <= col < self._shape[1]:
            self.clicked.emit(row, col)
