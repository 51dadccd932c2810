"""A zoomable, pannable image (pyqtgraph ImageItem) with a title and a colour bar."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QColor, QFont, QFontMetrics, QFontMetricsF, QPainter, QPen
from PySide6.QtWidgets import QGraphicsRectItem, QWidget

from gui.theme import theme


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

    def boundingRect(self) -> QRectF:
        return self._bounds

    def paint(self, p: QPainter, *_args) -> None:
        if not self._origins:
            return
        h = self._size[0]
        # Text is drawn at 10 px and scaled so it takes a quarter of a map's height (a
        # size in the map's pixels, not a text size of the window).
        scale = max(h * 0.25, 0.5) / 10.0
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


class MapView(pg.GraphicsLayoutWidget):
    """Shows one 2-D array (with a colour bar) or an RGB image; wheel zooms, drag pans."""

    def __init__(self, title: str = "", colour_bar: bool = True, parent: QWidget | None = None):
        super().__init__(parent=parent)
        self.setBackground("w")
        self._title = title
        self._label = self.addLabel(title, row=0, col=0, colspan=2, color="k")
        theme().style_label(self._label)
        self.view = self.addViewBox(row=1, col=0, lockAspect=True, invertY=True)
        self.view.setMenuEnabled(False)
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
        self.colour_bar: pg.ColorBarItem | None = None
        if colour_bar:
            self.colour_bar = pg.ColorBarItem(
                colorMap=pg.colormap.get("viridis"), interactive=False, width=14
            )
            self.colour_bar.setImageItem(self.image_item)
            self.addItem(self.colour_bar, row=1, col=1)
            theme().style_plot(self.colour_bar)
        self._data: np.ndarray | None = None
        # New content fills the view; until the person zooms or pans it, it is fitted
        # again whenever the view's size changes (a hidden tab has no size yet).
        self._fitted = False
        self.view.sigRangeChangedManually.connect(self._on_manual_range)
        theme().changed.connect(self._show_title)  # a bigger font is cut shorter

    def _on_manual_range(self, *_args) -> None:
        self._fitted = True

    def fit(self) -> None:
        """Show the whole image, filling the view."""
        self.view.autoRange(padding=0.02)

    def resizeEvent(self, event) -> None:
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
        self.image_item.clear()
        self.labels.set_labels((), (1, 1), (0, 0))
        if self.colour_bar is not None:
            self.colour_bar.setVisible(False)

    def set_title(self, title: str) -> None:
        """The heading; cut with "…" to the view's width (a long one would otherwise
        widen the scene past the widget and push the maps out of sight)."""
        self._title = title
        self._show_title()

    def _show_title(self, width: int | None = None) -> None:
        title = getattr(self, "_title", "")
        room = max((self.width() if width is None else width) - 24, 40)
        shown = QFontMetrics(self.font()).elidedText(title, Qt.TextElideMode.ElideRight, room)
        self._label.setText(shown, color="k")
        self._label.setToolTip(title if shown != title else "")

    def title(self) -> str:
        """The whole heading, as set."""
        return getattr(self, "_title", "")

    def set_colour_map(self, cmap: pg.ColorMap) -> None:
        """Colour (H, W) images through ``cmap`` (its colour bar too)."""
        if self.colour_bar is not None:
            self.colour_bar.setColorMap(cmap)
        else:
            self.image_item.setLookupTable(cmap.getLookupTable(0.0, 1.0, 256))

    def set_image(self, data: np.ndarray, levels: tuple[float, float] | None = None) -> None:
        """Show ``data``: (H, W) through the colour map, (H, W, 3) uint8 as colour."""
        a = np.asarray(data)
        self._data = a
        if a.ndim == 3:
            self.image_item.setImage(a, levels=(0, 255), autoLevels=False)
            if self.colour_bar is not None:
                self.colour_bar.setVisible(False)
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
