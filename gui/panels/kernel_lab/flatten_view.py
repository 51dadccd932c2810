"""'Why not an MLP?': a small image flattened into a vector, neighbours drifting apart."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QFont, QFontInfo, QPainter, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

from engine.arithmetic.convolution import format_number
from gui.theme import theme
from gui.widgets.cell_grid import CELL_COLOUR, WINDOW_COLOUR


class FlattenView(QWidget):
    """Draws an (H, W) image above its flattened H*W vector, with a line per pixel.

    Click a pixel (in the grid or in the vector) to select it: its 4 neighbours are
    highlighted in both, and ``explanation()`` says how far apart they end up.

    Signals
    -------
    pixel_selected(int, int)
        Row and column of the selected pixel.
    """

    pixel_selected = Signal(int, int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._image = np.zeros((3, 3))
        self._selected: tuple[int, int] | None = (1, 1)
        self._painted: list[int] = []  # the text sizes of the last paint, in pixels
        self.setMinimumHeight(theme().size(220))
        theme().changed.connect(self._on_theme_changed)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setToolTip("Click a pixel: its neighbours in the image are far apart in the vector.")

    def _on_theme_changed(self) -> None:
        self.setMinimumHeight(theme().size(220))
        self.update()

    def text_pixel_sizes(self) -> list[int]:
        """The pixel sizes of the texts painted last (numbers, vector indices)."""
        return list(self._painted)

    def set_image(self, image: np.ndarray) -> None:
        self._image = np.asarray(image, dtype=np.float64)
        h, w = self._image.shape
        self._selected = (h // 2, w // 2)
        self.update()

    def select(self, row: int, col: int) -> None:
        self._selected = (row, col)
        self.pixel_selected.emit(row, col)
        self.update()

    def neighbours(self) -> list[tuple[int, int]]:
        if self._selected is None:
            return []
        r, c = self._selected
        h, w = self._image.shape
        cand = [(r - 1, c), (r + 1, c), (r, c - 1), (r, c + 1)]
        return [(i, j) for i, j in cand if 0 <= i < h and 0 <= j < w]

    def explanation(self) -> str:
        """Plain words: each neighbour's distance in the image and in the vector."""
        if self._selected is None:
            return ""
        r, c = self._selected
        w = self._image.shape[1]
        me = r * w + c
        parts = [
            f"({i},{j}) is 1 step away in the image but {abs(i * w + j - me)} in the vector"
            for i, j in self.neighbours()
        ]
        return (
            f"Pixel ({r},{c}) becomes element {me} of the {self._image.size}-vector. Its "
            "neighbours: " + "; ".join(parts) + ". A dense layer sees only the vector, so it "
            "has to learn again which inputs were neighbours; a convolution keeps them together."
        )

    # -- geometry ----------------------------------------------------------------------
    def _geometry(self) -> tuple[float, QPointF, QPointF]:
        h, w = self._image.shape
        n = h * w
        vec_cell = min(theme().size(48), (self.width() - 20) / n)
        grid_cell = min(vec_cell * 1.6, (self.height() * 0.45) / h)
        grid_origin = QPointF((self.width() - grid_cell * w) / 2, 10)
        below = theme().size(30)  # room for the vector's indices
        vec_origin = QPointF((self.width() - vec_cell * n) / 2, self.height() - vec_cell - below)
        return grid_cell, grid_origin, vec_origin

    def grid_rect(self, r: int, c: int) -> QRectF:
        cell, origin, _ = self._geometry()
        return QRectF(origin.x() + c * cell, origin.y() + r * cell, cell, cell)

    def vector_rect(self, k: int) -> QRectF:
        h, w = self._image.shape
        vec_cell = min(theme().size(48), (self.width() - 20) / (h * w))
        _, _, origin = self._geometry()
        return QRectF(origin.x() + k * vec_cell, origin.y(), vec_cell, vec_cell)

    def mousePressEvent(self, event) -> None:
        pos = event.position()
        h, w = self._image.shape
        for r in range(h):
            for c in range(w):
                if self.grid_rect(r, c).contains(pos) or self.vector_rect(r * w + c).contains(pos):
                    self.select(r, c)
                    return

    def paintEvent(self, _event) -> None:
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        p.fillRect(self.rect(), self.palette().base())
        h, w = self._image.shape
        v = self._image
        lo, hi = float(v.min()), float(v.max())
        span = hi - lo if hi > lo else 1.0
        near = set(self.neighbours())
        t = theme()
        strong = t.strong()
        number_font = QFont(self.font())
        number_font.setPixelSize(t.px(12))
        index_font = QFont(number_font)
        self._painted = [number_font.pixelSize(), QFontInfo(index_font).pixelSize()]

        def fill(rr: int, cc: int) -> QColor:
            if self._selected == (rr, cc):
                return CELL_COLOUR
            if (rr, cc) in near:
                return QColor(WINDOW_COLOUR).lighter(170)
            shade = int(250 - 120 * (v[rr, cc] - lo) / span)
            return QColor(shade, shade, shade)

        for r in range(h):
            for c in range(w):
                k = r * w + c
                a, b = self.grid_rect(r, c), self.vector_rect(k)
                important = self._selected == (r, c) or (r, c) in near
                faint = QColor(120, 120, 120) if strong else QColor(200, 200, 200)
                p.setPen(
                    QPen(
                        WINDOW_COLOUR if important else faint,
                        t.line_width(2 if important else 1),
                    )
                )
                p.drawLine(QPointF(a.center().x(), a.bottom()), QPointF(b.center().x(), b.top()))
                p.setFont(number_font)
                for rect in (a, b):
                    p.fillRect(rect, fill(r, c))
                    p.setPen(QColor(40, 40, 40) if strong else QColor(120, 120, 120))
                    p.drawRect(rect)
                    p.setPen(Qt.GlobalColor.black)
                    p.drawText(rect, Qt.AlignmentFlag.AlignCenter, format_number(v[r, c]))
                p.setFont(index_font)
                p.setPen(t.text_colour() if strong else QColor(110, 110, 110))
                p.drawText(
                    QRectF(b.x(), b.bottom() + 2, b.width(), t.size(16)),
                    Qt.AlignmentFlag.AlignCenter,
                    str(k),
                )
        p.end()
