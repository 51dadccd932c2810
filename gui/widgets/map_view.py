"""A zoomable, pannable image (pyqtgraph ImageItem) with a title and a colour bar.

Hovering a pixel writes its row, column and value(s) in the title line ("row 12, col 7:
0.734", "R 201 G 143 B 98" for a colour picture): the slide "what computers see", on
every image the app shows. ``OverlayView`` reads its pixels the same way, with the
helpers here.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QFont, QFontMetrics, QFontMetricsF, QPainter, QPen
from PySide6.QtWidgets import QGraphicsRectItem, QWidget

from gui.theme import theme

#: Between the title and the value under the cursor in a view's title line.
READOUT_SEPARATOR = "   |   "


def format_value(value: float) -> str:
    """A value under the cursor: integers whole, others with three decimals (a map's
    0.734), very large or small ones in powers of ten.

    >>> format_value(201), format_value(0.73412), format_value(-2.5), format_value(1e-6)
    ('201', '0.734', '-2.5', '1.000e-06')
    """
    v = float(value)
    if not np.isfinite(v):
        return str(v)
    if v == round(v) and abs(v) < 1e9:
        return str(int(round(v)))
    if abs(v) >= 1e5 or abs(v) < 1e-3:
        return f"{v:.3e}"
    return f"{v:.3f}".rstrip("0").rstrip(".")


def format_pixel(value: np.ndarray | float) -> str:
    """A pixel's value(s): one number, or "R 201 G 143 B 98" for a colour pixel (as
    stored: 0..255 in a uint8 picture, never rescaled)."""
    a = np.asarray(value)
    if a.ndim == 0:
        return format_value(a)
    if a.shape[0] in (3, 4):
        names = "RGBA"[: a.shape[0]]
        return " ".join(f"{n} {format_value(v)}" for n, v in zip(names, a, strict=True))
    return " ".join(format_value(v) for v in a)


def pixel_under(item: pg.ImageItem, scene_pos: QPointF) -> tuple[int, int] | None:
    """The (row, col) of ``item``'s row-major image under a scene position, or None off
    the image."""
    image = item.image
    if image is None:
        return None
    p = item.mapFromScene(scene_pos)
    row, col = int(np.floor(p.y())), int(np.floor(p.x()))
    if 0 <= row < image.shape[0] and 0 <= col < image.shape[1]:
        return row, col
    return None


def add_colour_bar(layout: pg.GraphicsLayoutWidget, cmap: pg.ColorMap) -> pg.ColorBarItem:
    """A colour bar of ``cmap`` put right of a view's image (row 1, column 1).

    The views build theirs when first needed: a bar (a whole ``PlotItem``) is half of
    what a view costs to build, and most views of a panel sit in tabs not yet shown."""
    # No colour-map menu on a right click: the panels choose the map, and remember it.
    bar = pg.ColorBarItem(
        values=(0, 1), colorMap=cmap, interactive=False, width=14, colorMapMenu=False
    )
    layout.addItem(bar, row=1, col=1)
    theme().style_plot(bar)
    return bar


def title_with_readout(title: str, readout: str, metrics: QFontMetrics, room: int) -> str:
    """The title line: the title cut with "…" to leave the readout whole, then the
    readout ("Feature map   |   row 3, col 4: 0.5"); the title alone without one."""
    if not readout:
        return metrics.elidedText(title, Qt.TextElideMode.ElideRight, room)
    tail = READOUT_SEPARATOR + readout if title else readout
    left = room - metrics.horizontalAdvance(tail)
    if title and left >= metrics.horizontalAdvance("Abc…"):
        return metrics.elidedText(title, Qt.TextElideMode.ElideRight, left) + tail
    return metrics.elidedText(readout, Qt.TextElideMode.ElideRight, room)


class IndexLabels(pg.GraphicsObject):
    """The number of every map of a mosaic, painted by ONE item (hundreds of TextItems
    made a 512-map layer switch take ~175 ms; this paints them in a few).

    A map is numbered by its place in the mosaic, or by the number given for it (the
    real channel of a mosaic of chosen channels).

    The numbers are part of the picture, not text of the window: they are scaled with
    the maps (a quarter of a map's height), so they do not follow the window's zoom and
    the presenter check (``gui.theme.small_texts``) does not count them; the wheel
    zooms the view to read them.
    """

    def __init__(self) -> None:
        super().__init__()
        self._origins: tuple[tuple[int, int], ...] = ()
        self._texts: tuple[str, ...] = ()
        self._size = (1, 1)
        self._bounds = QRectF()

    def set_labels(
        self,
        origins: tuple[tuple[int, int], ...],
        map_shape: tuple[int, int],
        extent: tuple[int, int],
        numbers: Sequence[int | str] | None = None,
    ) -> None:
        if numbers is not None and len(numbers) != len(origins):
            raise ValueError(
                f"one number per map: {len(origins)} maps. Received {len(numbers)} numbers"
            )
        self.prepareGeometryChange()
        self._origins = origins
        self._texts = tuple(str(n) for n in (range(len(origins)) if numbers is None else numbers))
        self._size = map_shape
        self._bounds = QRectF(0, 0, extent[1], extent[0])
        self.update()

    def texts(self) -> tuple[str, ...]:
        """The label of each map, in mosaic order."""
        return self._texts

    def map_at(self, row: int, col: int) -> tuple[str, int, int] | None:
        """The label of the map holding mosaic pixel (row, col) and the pixel's row and
        column in that map, or None (no labels, or a gap)."""
        h, w = self._size
        for text, (top, left) in zip(self._texts, self._origins, strict=True):
            if top <= row < top + h and left <= col < left + w:
                return text, row - top, col - left
        return None

    def boundingRect(self) -> QRectF:
        return self._bounds

    def paint(self, p: QPainter, *_args) -> None:
        if not self._origins:
            return
        h = self._size[0]
        # Text is drawn at 10 px and scaled so it takes a quarter of a map's height, but
        # on screen at least the window's smallest text (24 px in presenter mode: read
        # from the back of a room) where half a map's height leaves room for it.
        on_screen = abs(p.worldTransform().m11()) or 1.0  # screen px per map px
        scale = label_px(h, on_screen, theme().min_px()) / 10.0
        font = QFont()
        font.setPixelSize(10)
        p.setFont(font)
        p.setPen(QColor(255, 255, 255))
        p.setRenderHint(QPainter.RenderHint.TextAntialiasing)
        metrics = QFontMetricsF(font)
        width = self._size[1]
        for text, (top, left) in zip(self._texts, self._origins, strict=True):
            # A long label ("12: 0.834") is made smaller to stay on its own map.
            advance = max(metrics.horizontalAdvance(text), 1.0)
            s = min(scale, 0.95 * width / advance)
            p.save()
            p.translate(left + 0.3, top + 0.2)
            p.scale(s, s)
            p.drawText(QRectF(0, 0, advance + 2, 12), Qt.AlignmentFlag.AlignLeft, text)
            p.restore()


def label_px(map_height: int, on_screen: float, min_px: float) -> float:
    """A map's label height in map pixels: a quarter of the map, but at least ``min_px``
    on screen (``on_screen``: screen pixels per map pixel) where half the map's height
    leaves room for it.

    >>> label_px(100, 1.0, 24)  # a big map: a quarter of it
    25.0
    >>> label_px(28, 3.0, 24)  # 7 map px would be 21 on screen: 8 map px are 24
    8.0
    >>> label_px(14, 1.0, 24)  # no room for 24 px: half the map
    7.0
    """
    want = max(map_height * 0.25 * on_screen, float(min_px))
    return max(min(want, map_height * 0.5 * on_screen) / on_screen, 0.5)


class HoverReadout:
    """The value under the cursor, for a view with ``view`` (its ViewBox), an image
    (``_readout_image``), ``readout_at(row, col)`` and ``_show_title``: what MapView
    and OverlayView share. It comes first among the bases, before the Qt widget."""

    def _readout_image(self) -> pg.ImageItem:
        raise NotImplementedError

    def _on_mouse_moved(self, scene_pos: QPointF) -> None:
        self._hover = QPointF(scene_pos)
        self._update_readout()

    def _update_readout(self) -> None:
        text = ""
        hover = getattr(self, "_hover", None)
        if hover is not None and self.view.sceneBoundingRect().contains(hover):
            pixel = pixel_under(self._readout_image(), hover)
            text = "" if pixel is None else self.readout_at(*pixel)
        if text != getattr(self, "_readout", ""):
            self._readout = text
            self._show_title()

    def leaveEvent(self, event) -> None:
        if getattr(self, "closed", False):
            return
        super().leaveEvent(event)
        self._hover = None
        self._update_readout()


class MapView(HoverReadout, pg.GraphicsLayoutWidget):
    """Shows one 2-D array (with a colour bar) or an RGB image; wheel zooms, drag pans.

    The pixel under the cursor is read out in the title line: its row, column and
    value ("row 12, col 7: 0.734"), "R 201 G 143 B 98" for a colour picture, "map 5,
    row 2, col 3: …" in a numbered mosaic; leaving the image clears it. A view that
    shows values rescaled (a mosaic of maps each on its own scale) can give the real
    ones to read out (``set_readout_values``).

    Signals
    -------
    pixel_clicked(int, int)
        A click on image pixel (row, col) (not a drag: that pans).
    """

    pixel_clicked = Signal(int, int)

    def __init__(self, title: str = "", colour_bar: bool = True, parent: QWidget | None = None):
        super().__init__(parent=parent)
        self.setBackground("w")
        self._title = title
        self._label = self.addLabel(title, row=0, col=0, colspan=2, color="k")
        theme().style_label(self._label)
        # No context menu (a right click is the app's), and none built (5 ms a view).
        self.view = self.addViewBox(row=1, col=0, lockAspect=True, invertY=True, enableMenu=False)
        self.image_item = pg.ImageItem(axisOrder="row-major")
        self.view.addItem(self.image_item)
        self.labels = IndexLabels()
        self.view.addItem(self.labels)
        # A frame around one map of a mosaic (the selected filter), drawn at any zoom.
        self.mark = QGraphicsRectItem()
        pen = QPen(QColor(230, 120, 0), 3)
        pen.setCosmetic(True)
        self.mark.setPen(pen)
        self.mark.setVisible(False)
        self.view.addItem(self.mark)
        # The colour bar is built when first wanted (``add_colour_bar``).
        self._wants_colour_bar = colour_bar
        self._colour_bar: pg.ColorBarItem | None = None
        self._cmap = pg.colormap.get("viridis")
        self._data: np.ndarray | None = None
        self._readout_values: np.ndarray | None = None
        self._readout_unit = ""
        self._readout = ""
        self._hover: QPointF | None = None  # the cursor's scene position, over the view
        # New content fills the view; until the person zooms or pans it, it is fitted
        # again whenever the view's size changes (a hidden tab has no size yet).
        self._fitted = False
        self.view.sigRangeChangedManually.connect(self._on_manual_range)
        theme().changed.connect(self._show_title)  # a bigger font is cut shorter
        # pyqtgraph already limits these to its mouse rate (100 a second), and the
        # title changes only when the pixel under the cursor does.
        self.scene().sigMouseMoved.connect(self._on_mouse_moved)
        self.scene().sigMouseClicked.connect(self._on_scene_clicked)

    @property
    def colour_bar(self) -> pg.ColorBarItem | None:
        """The colour bar beside the view (None for a view made without one); asking
        for it builds it."""
        if self._colour_bar is None and self._wants_colour_bar:
            self._colour_bar = add_colour_bar(self, self._cmap)
            self._colour_bar.setImageItem(self.image_item)
        return self._colour_bar

    def _on_manual_range(self, *_args) -> None:
        self._fitted = True

    def fit(self) -> None:
        """Show the whole image, filling the view."""
        self.view.autoRange(padding=0.02)

    def resizeEvent(self, event) -> None:
        if getattr(self, "closed", False):
            return  # pyqtgraph's close() has cleared the scene, the title with it
        # The heading first: the scene is laid out to the new size at once, and a heading
        # still cut for a wider view would keep the layout wider than the widget.
        if getattr(self, "_label", None) is not None:
            self._show_title(event.size().width())
        super().resizeEvent(event)
        if getattr(self, "_data", None) is not None and not self._fitted:
            self.fit()

    def showEvent(self, event) -> None:
        super().showEvent(event)
        if getattr(self, "_data", None) is not None and not self._fitted:
            self.fit()

    def clear_image(self) -> None:
        """Show nothing (``data()`` is None again)."""
        self._data = None
        self._readout_values = None
        self.image_item.clear()
        self.labels.set_labels((), (1, 1), (0, 0))
        if self._colour_bar is not None:
            self._colour_bar.setVisible(False)

    def set_title(self, title: str) -> None:
        """The heading; cut with "…" to the view's width (a long one would otherwise
        widen the scene past the widget and push the maps out of sight)."""
        self._title = title
        self._show_title()

    def _show_title(self, width: int | None = None) -> None:
        if getattr(self, "closed", False):
            return
        title = getattr(self, "_title", "")
        room = max((self.width() if width is None else width) - 24, 40)
        readout = getattr(self, "_readout", "")
        shown = title_with_readout(title, readout, QFontMetrics(self.font()), room)
        self._label.setText(shown, color="k")
        self._label.setToolTip(title if not shown.startswith(title) else "")

    def title(self) -> str:
        """The whole heading, as set."""
        return getattr(self, "_title", "")

    def set_colour_map(self, cmap: pg.ColorMap) -> None:
        """Colour (H, W) images through ``cmap`` (its colour bar too)."""
        self._cmap = cmap
        if self._colour_bar is not None:
            self._colour_bar.setColorMap(cmap)
        else:  # the bar, once built, starts with this map
            self.image_item.setLookupTable(cmap.getLookupTable(0.0, 1.0, 256))

    def set_image(self, data: np.ndarray, levels: tuple[float, float] | None = None) -> None:
        """Show ``data``: (H, W) through the colour map, (H, W, 3) uint8 as colour.

        The readout says ``data``'s own values again (real values given before with
        ``set_readout_values`` belonged to the previous image)."""
        a = np.asarray(data)
        self._data = a
        self._readout_values = None
        if a.ndim == 3:
            self.image_item.setImage(a, levels=(0, 255), autoLevels=False)
            if self._colour_bar is not None:
                self._colour_bar.setVisible(False)
        else:
            finite = a[np.isfinite(a)] if a.size else a
            if levels is None:
                lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0, 1)
                levels = (lo, hi if hi > lo else lo + 1.0)
            self.image_item.setImage(a.astype(np.float32), levels=levels, autoLevels=False)
            if self.colour_bar is not None:
                self.colour_bar.setVisible(True)
                self.colour_bar.setLevels(levels)
        self._fitted = False
        self.fit()
        self._update_readout()

    def set_labels(
        self,
        origins: tuple[tuple[int, int], ...] = (),
        map_shape: tuple[int, int] = (1, 1),
        numbers: Sequence[int | str] | None = None,
    ) -> None:
        """Number the maps of a mosaic shown in this view (no arguments: no labels):
        by their place in it, or by ``numbers`` (one per map: their real channels, or
        texts such as "12: 0.83", a channel and its value)."""
        extent = (0, 0) if self._data is None or not origins else self._data.shape[:2]
        self.labels.set_labels(origins, map_shape, extent, numbers)
        self._update_readout()

    def set_mark(self, rect: tuple[float, float, float, float] | None) -> None:
        """Frame (top, left, height, width) of the image, or nothing (None)."""
        if rect is None:
            self.mark.setVisible(False)
            return
        top, left, h, w = rect
        self.mark.setRect(QRectF(left - 0.5, top - 0.5, w + 1, h + 1))
        self.mark.setVisible(True)

    def marked(self) -> tuple[float, float, float, float] | None:
        """The framed (top, left, height, width), or None."""
        if not self.mark.isVisible():
            return None
        r = self.mark.rect()
        return (r.top() + 0.5, r.left() + 0.5, r.height() - 1, r.width() - 1)

    def label_texts(self) -> tuple[str, ...]:
        """The label of each map shown, in mosaic order (empty: no labels)."""
        return self.labels.texts()

    def data(self) -> np.ndarray | None:
        return self._data

    # -- the value under the cursor ---------------------------------------------------------
    def set_readout_values(self, values: np.ndarray | None, unit: str = "") -> None:
        """Read out ``values`` (the shown image's shape) instead of the image's own: the
        real values of maps drawn rescaled; ``unit`` follows each value. None: the
        image's own values again. Call it after ``set_image``."""
        if values is not None:
            values = np.asarray(values)
            if self._data is None or values.shape[:2] != self._data.shape[:2]:
                shape = None if self._data is None else self._data.shape
                raise ValueError(
                    f"readout values must have the image's shape {shape}. "
                    f"Received shape {values.shape}"
                )
        self._readout_values = values
        self._readout_unit = unit
        self._update_readout()

    def readout(self) -> str:
        """What the title line says of the pixel under the cursor ("" when none)."""
        return self._readout

    def readout_at(self, row: int, col: int) -> str:
        """The readout of image pixel (row, col): "row 12, col 7: 0.734", "row 12, col 7:
        R 201 G 143 B 98", "map 5, row 2, col 3: 0.5" in a numbered mosaic; "" off the
        image or in a mosaic's gap."""
        values = self._readout_values if self._readout_values is not None else self._data
        if values is None or not (0 <= row < values.shape[0] and 0 <= col < values.shape[1]):
            return ""
        value = values[row, col]
        if np.asarray(value).ndim == 0 and not np.isfinite(value):
            return ""  # a gap between maps (NaN), or a cell not computed
        where = f"row {row}, col {col}"
        in_map = self.labels.map_at(row, col)
        if in_map is not None:
            text, r, c = in_map
            # "12: 0.83" (a channel and its measure) names map 12
            where = f"map {text.split(':')[0]}, row {r}, col {c}"
        unit = f" {self._readout_unit}" if self._readout_unit else ""
        return f"{where}: {format_pixel(value)}{unit}"

    def _readout_image(self) -> pg.ImageItem:
        return self.image_item

    def _on_scene_clicked(self, event) -> None:
        if event.button() != Qt.MouseButton.LeftButton:
            return
        if not self.view.sceneBoundingRect().contains(event.scenePos()):
            return
        pixel = pixel_under(self.image_item, event.scenePos())
        if pixel is not None:
            self.pixel_clicked.emit(*pixel)
