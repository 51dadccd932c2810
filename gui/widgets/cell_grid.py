"""A grid of numbers drawn with QPainter: for small inputs, kernels windows and outputs.

It scales with the widget (so a padded 16x16 input stays crisp when the window is
resized), draws a zero-padded border distinctly, and highlights a window and a cell
with colours from the Okabe-Ito palette, which stay distinct under red-green colour
blindness.

Text follows the window's zoom (``gui.theme``): the title is the application's text
size, the numbers are fitted to the cells but never smaller than that size where a cell
can hold it, and at a zoom above 1 the grid asks for cells big enough to hold it.
Presenter mode darkens the greys (the padding, the cells no window reaches, the lines).

``ChannelGrids`` shows a picture as the computer stores it: one grid for a grey picture,
three side by side for a colour one (red, green, blue), each cell the stored integer
(0..255, never rescaled) on its channel's light.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QRectF, QSize, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QFont, QFontMetricsF, QPainter, QPen
from PySide6.QtWidgets import QHBoxLayout, QSizePolicy, QWidget

from engine.arithmetic.convolution import (
    format_number,  # the one number formatter of the arithmetic
)
from gui.theme import theme

WINDOW_COLOUR = QColor(0, 114, 178)  # Okabe-Ito blue
CELL_COLOUR = QColor(230, 159, 0)  # Okabe-Ito orange
PAD_COLOUR = QColor(225, 225, 235)
#: A colour picture's channels: name, letter, and the light a cell of 255 shows.
CHANNELS = (
    ("red", "R", QColor(255, 0, 0)),
    ("green", "G", QColor(0, 255, 0)),
    ("blue", "B", QColor(0, 0, 255)),
)


class CellGrid(QWidget):
    """Numbers in square cells, with an optional zero-padded border.

    Signals
    -------
    cell_clicked(int, int)
        Row and column of the clicked cell, in the grid's own (unpadded) coordinates.
    """

    cell_clicked = Signal(int, int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._values = np.zeros((0, 0))
        self._pad = 0
        self._missed = 0
        self._window: tuple[int, int, int] | None = None  # top, left, size (padded coords)
        self._cell: tuple[int, int] | None = None  # unpadded coords
        self._title = ""
        self._channel: QColor | None = None
        self._levels = (0.0, 255.0)
        self._readable = False
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMouseTracking(False)
        theme().changed.connect(self._on_theme_changed)

    def _on_theme_changed(self) -> None:
        self.updateGeometry()
        self.update()

    # -- content -----------------------------------------------------------------------
    def set_values(self, values: np.ndarray, pad: int = 0, missed: int = 0) -> None:
        """Show ``values`` (2-D) surrounded by ``pad`` rows/columns of zeros.

        ``missed`` marks that many padded rows/columns at the bottom and right that no
        window reaches (a stride that does not fit).
        """
        self._values = np.atleast_2d(np.asarray(values, dtype=np.float64))
        self._pad = int(pad)
        self._missed = int(missed)
        self._window = None
        self._cell = None
        self.updateGeometry()
        self.update()

    def set_title(self, title: str) -> None:
        self._title = title
        self.update()

    def title(self) -> str:
        return self._title

    def set_channel(
        self, colour: QColor | None, levels: tuple[float, float] = (0.0, 255.0)
    ) -> None:
        """Paint each cell in ``colour``'s light, from black at ``levels[0]`` to the full
        colour at ``levels[1]`` (a picture's red channel: 0 black, 255 red), on that fixed
        scale; the numbers in white or black, whichever reads on the cell. None: grey
        shades of the values' own range (the default)."""
        self._channel = None if colour is None else QColor(colour)
        self._levels = (float(levels[0]), float(levels[1]))
        self.update()

    def channel(self) -> QColor | None:
        return None if self._channel is None else QColor(self._channel)

    def set_readable(self, on: bool) -> None:
        """Ask for cells that hold the zoom's smallest text at every zoom (at zoom 1
        too): for a grid in a scroll area, which scrolls instead of shrinking the text."""
        self._readable = bool(on)
        self.updateGeometry()

    def set_window(self, top: int | None, left: int = 0, size: int = 0) -> None:
        """Outline the size x size window at (top, left) in padded coordinates."""
        self._window = None if top is None else (top, left, size)
        self.update()

    def set_active_cell(self, row: int | None, col: int = 0) -> None:
        self._cell = None if row is None else (row, col)
        self.update()

    def values(self) -> np.ndarray:
        return self._values.copy()

    def window(self) -> tuple[int, int, int] | None:
        return self._window

    def active_cell(self) -> tuple[int, int] | None:
        return self._cell

    # -- geometry ----------------------------------------------------------------------
    def sizeHint(self) -> QSize:
        return QSize(320, 320).expandedTo(self.minimumSizeHint())

    def minimumSizeHint(self) -> QSize:
        """120 x 120 at zoom 1; zoomed in (or readable), cells that hold the zoom's
        smallest text."""
        t = theme()
        if (t.zoom() <= 1.0 and not self._readable) or self._values.size == 0:
            return QSize(120, 120)
        rows = self._values.shape[0] + 2 * self._pad
        cols = self._values.shape[1] + 2 * self._pad
        font = QFont(self.font())
        font.setPixelSize(t.min_px())
        finite = self._values[np.isfinite(self._values)]
        texts = ["0", *(format_number(x) for x in finite.ravel()[:4096])]
        widest = max(QFontMetricsF(font).horizontalAdvance(x) for x in texts)
        cell = max(t.min_px() / 0.96, widest / 0.95) + 1
        return QSize(
            max(t.size(120), int(cols * cell + 8)),
            max(t.size(120), int(rows * cell + self._top_margin() + 4)),
        )

    def _top_margin(self) -> float:
        return theme().size(22) if self._title else 4.0

    def text_pixel_sizes(self) -> list[int]:
        """The pixel sizes of the texts it paints at its present size (title, numbers):
        what a paint now draws, also for a grid scrolled out of sight that has not
        painted since it was resized."""
        sizes = [self._title_font().pixelSize()] if self._title else []
        if self._values.size:
            sizes.append(self._number_font(self._layout()[2]).pixelSize())
        return sizes

    def _title_font(self) -> QFont:
        f = QFont(self.font())
        f.setBold(True)
        f.setPixelSize(theme().px(12))
        return f

    def _number_font(self, cell: float) -> QFont:
        """The numbers' font for cells of ``cell`` pixels."""
        t = theme()
        font = QFont(self.font())
        # A third of the cell, but not under the zoom's smallest text while the number's
        # height fits the cell.
        size = max(6, min(max(int(cell * 0.36), t.min_px()), int(cell * 0.96)))
        font.setPixelSize(size)
        # The longest number must fit a cell whole (-1234.56 shrinks instead of losing
        # its sign and digits at both ends).
        finite = self._values[np.isfinite(self._values)]
        texts = [format_number(x) for x in finite.ravel()] if finite.size <= 4096 else []
        widest = max((QFontMetricsF(font).horizontalAdvance(x) for x in texts), default=0.0)
        if widest > cell * 0.95:
            font.setPixelSize(max(5, int(size * cell * 0.95 / widest)))
        return font

    def _layout(self) -> tuple[float, float, float, int, int]:
        rows = self._values.shape[0] + 2 * self._pad
        cols = self._values.shape[1] + 2 * self._pad
        top_margin = self._top_margin()
        avail_w = self.width() - 8.0
        avail_h = self.height() - top_margin - 4.0
        cell = max(4.0, min(avail_w / max(cols, 1), avail_h / max(rows, 1)))
        x0 = (self.width() - cell * cols) / 2
        y0 = top_margin + (avail_h - cell * rows) / 2
        return x0, y0, cell, rows, cols

    def cell_rect(self, row: int, col: int) -> QRectF:
        """Rectangle of a cell in unpadded coordinates (used by tests to click it)."""
        x0, y0, cell, _, _ = self._layout()
        return QRectF(x0 + (col + self._pad) * cell, y0 + (row + self._pad) * cell, cell, cell)

    def mousePressEvent(self, event) -> None:
        x0, y0, cell, rows, cols = self._layout()
        pos = event.position()
        c = int((pos.x() - x0) // cell) - self._pad
        r = int((pos.y() - y0) // cell) - self._pad
        if 0 <= r < self._values.shape[0] and 0 <= c < self._values.shape[1]:
            self.cell_clicked.emit(r, c)
        super().mousePressEvent(event)

    # -- drawing -----------------------------------------------------------------------
    def paintEvent(self, _event) -> None:
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        p.fillRect(self.rect(), self.palette().base())
        t = theme()
        strong = t.strong()
        if self._title:
            p.setPen(self.palette().text().color())
            p.setFont(self._title_font())
            p.drawText(
                QRectF(0, 0, self.width(), t.size(20)), Qt.AlignmentFlag.AlignCenter, self._title
            )
        if self._values.size == 0:
            p.end()
            return
        x0, y0, cell, rows, cols = self._layout()
        v = self._values
        finite = v[np.isfinite(v)]
        lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
        span = hi - lo if hi > lo else 1.0
        p.setFont(self._number_font(cell))
        hatch = QColor(110, 110, 135) if strong else QColor(170, 170, 190)
        missed_shade = QColor(0, 0, 0, 120) if strong else QColor(0, 0, 0, 60)
        grid_pen = QPen(QColor(60, 60, 60) if strong else QColor(150, 150, 150))
        grid_pen.setWidthF(t.line_width(1.0))
        pad_text = QColor(30, 30, 50) if strong else QColor(90, 90, 110)
        pad = self._pad
        for r in range(rows):
            for c in range(cols):
                rect = QRectF(x0 + c * cell, y0 + r * cell, cell, cell)
                inside = pad <= r < rows - pad and pad <= c < cols - pad
                missed = r >= rows - self._missed or c >= cols - self._missed
                ink = QColor(20, 20, 20) if inside else pad_text
                if inside:
                    val = v[r - pad, c - pad]
                    if np.isfinite(val) and self._channel is not None:
                        light = self._light(val)
                        p.fillRect(rect, light)
                        ink = _ink_on(light)
                        text = format_number(val)
                    elif np.isfinite(val):
                        shade = int(255 - 140 * (val - lo) / span)
                        p.fillRect(rect, QColor(shade, shade, shade))
                        text = format_number(val)
                    else:  # not computed yet (the stride animator fills cells step by step)
                        p.fillRect(rect, QColor(248, 248, 252))
                        text = ""
                else:
                    p.fillRect(rect, QBrush(PAD_COLOUR, Qt.BrushStyle.SolidPattern))
                    p.fillRect(rect, QBrush(hatch, Qt.BrushStyle.BDiagPattern))
                    text = "0"
                if missed:
                    p.fillRect(rect, QBrush(missed_shade, Qt.BrushStyle.Dense5Pattern))
                p.setPen(grid_pen)
                p.drawRect(rect)
                p.setPen(ink)
                p.drawText(rect, Qt.AlignmentFlag.AlignCenter, text)
        # the padded border's outline, so it reads as added, not part of the image
        if pad:
            outline = QColor(0, 0, 0) if strong else QColor(60, 60, 60)
            p.setPen(QPen(outline, t.line_width(2), Qt.PenStyle.DashLine))
            p.setBrush(Qt.BrushStyle.NoBrush)
            p.drawRect(
                QRectF(x0 + pad * cell, y0 + pad * cell, v.shape[1] * cell, v.shape[0] * cell)
            )
        if self._cell is not None:
            r, c = self._cell
            rect = self.cell_rect(r, c)
            p.setPen(QPen(CELL_COLOUR, max(3.0, cell * 0.12)))
            p.setBrush(QColor(230, 159, 0, 70))
            p.drawRect(rect.adjusted(2, 2, -2, -2))
        if self._window is not None:
            top, left, size = self._window
            rect = QRectF(x0 + left * cell, y0 + top * cell, size * cell, size * cell)
            p.setPen(QPen(WINDOW_COLOUR, max(3.0, cell * 0.12)))
            p.setBrush(QColor(0, 114, 178, 50))
            p.drawRect(rect)
        p.end()

    def _light(self, value: float) -> QColor:
        """The channel's colour at ``value`` on the fixed levels (black at the low one)."""
        lo, hi = self._levels
        t = min(max((value - lo) / (hi - lo if hi > lo else 1.0), 0.0), 1.0)
        c = self._channel or QColor(255, 255, 255)
        return QColor(round(c.red() * t), round(c.green() * t), round(c.blue() * t))


def _ink_on(background: QColor) -> QColor:
    """Black text on a light cell, white on a dark one (ITU-R 601 luma)."""
    luma = 0.299 * background.red() + 0.587 * background.green() + 0.114 * background.blue()
    return QColor(0, 0, 0) if luma >= 128 else QColor(255, 255, 255)


class ChannelGrids(QWidget):
    """A picture as its numbers: one ``CellGrid`` for a grey picture (H, W), three side
    by side for a colour one (H, W, 3): red, green and blue, each titled, each cell the
    value as stored (a uint8 picture's 0..255, never rescaled) on its channel's light.

    ``grids`` holds the three grids; the first is the grey picture's. Only the shown
    ones (``shown_grids()``) are visible.
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        self.grids = [CellGrid() for _ in CHANNELS]
        for grid in self.grids:
            lay.addWidget(grid)
        self._channels = 1
        for grid in self.grids[1:]:
            grid.hide()

    def set_pixels(self, pixels: np.ndarray, pad: int = 0, title: str = "") -> None:
        """Show ``pixels`` (H, W) in one grid titled ``title``, or (H, W, 3) in three,
        titled "<title>: red (R)" (just "Red (R)" without a title), and so on."""
        a = np.asarray(pixels)
        if a.ndim == 3 and a.shape[2] == len(CHANNELS):
            for i, (grid, (name, letter, colour)) in enumerate(
                zip(self.grids, CHANNELS, strict=True)
            ):
                grid.set_values(a[:, :, i], pad=pad)
                grid.set_channel(colour)
                label = f"{name} ({letter})"
                grid.set_title(f"{title}: {label}" if title else label[0].upper() + label[1:])
                grid.show()
            self._channels = len(CHANNELS)
        elif a.ndim == 2:
            self.grids[0].set_values(a, pad=pad)
            self.grids[0].set_channel(None)
            self.grids[0].set_title(title)
            for grid in self.grids[1:]:
                grid.hide()
            self._channels = 1
        else:
            raise ValueError(f"pixels must be (H, W) or (H, W, 3). Received shape {a.shape}")

    def channels(self) -> int:
        """1 for a grey picture, 3 for a colour one."""
        return self._channels

    def shown_grids(self) -> list[CellGrid]:
        return self.grids[: self._channels]

    def set_window(self, top: int | None, left: int = 0, size: int = 0) -> None:
        """Outline the same window on every channel (a kernel has a slice on each)."""
        for grid in self.shown_grids():
            grid.set_window(top, left, size)

    def set_readable(self, on: bool) -> None:
        for grid in self.grids:
            grid.set_readable(on)
