"""A 1-D layer (Dense, Flatten, pooling to a vector) as bars with values, classes named.

The bar under the mouse and a bar clicked are said by signals (a Flatten's bar is one
pixel of a map: ``FlatLinks`` says which); the bar under the mouse is ringed.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFont
from PySide6.QtWidgets import QWidget

from gui.theme import theme

#: Up to this many units, every bar is labelled on the axis.
LABEL_ALL = 20
#: The strongest units named on the bars of wider layers.
LABEL_TOP = 5
#: Wider layers are drawn as one line (thousands of bar items would take a second).
BARS_MAX = 256


class UnitBars(pg.PlotWidget):
    """One bar per unit; the strongest ones named (class names for an output layer).

    Signals
    -------
    unit_hovered(int)
        The mouse is over this unit's bar (its index; -1 off the bars).
    unit_clicked(int)
        This unit's bar was clicked with the left button.
    """

    unit_hovered = Signal(int)
    unit_clicked = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent=parent, background="w")
        self.setMenuEnabled(False)
        self.hideButtons()
        self.showGrid(y=True, alpha=0.3)
        self._bars = pg.BarGraphItem(x=[], height=[], width=0.8, brush="#56B4E9")
        self.addItem(self._bars)
        self._line = pg.PlotDataItem(pen=pg.mkPen("#0072B2", width=1))
        self.addItem(self._line)
        self._texts: list[pg.TextItem] = []
        self._values = np.zeros(0)
        self._names: list[str] = []
        # The bar under the mouse, ringed (of thousands drawn as a line, the only way
        # to see which one is meant).
        self._ring = pg.ScatterPlotItem(
            size=14, pen=pg.mkPen("#000000", width=2), brush=None, symbol="o"
        )
        self._ring.setZValue(10)
        self.addItem(self._ring)
        # The unit chosen elsewhere (a Dense unit whose weights are shown), outlined.
        self._chosen = pg.BarGraphItem(
            x=[], height=[], width=0.9, brush=None, pen=pg.mkPen("#000000", width=2)
        )
        self._chosen.setZValue(5)
        self.addItem(self._chosen)
        self._chosen_index = -1
        self._hovered = -1
        # Hovering thousands of bars: at most one update per frame of a 60 Hz screen.
        self._moves = pg.SignalProxy(self.scene().sigMouseMoved, rateLimit=60, slot=self._on_moved)
        self.scene().sigMouseClicked.connect(self._on_clicked)
        theme().style_plot(self)
        theme().changed.connect(self._on_theme_changed)

    def _text_font(self) -> QFont:
        font = QFont()
        font.setPixelSize(theme().px(12))
        return font

    def _on_theme_changed(self) -> None:
        for t in self._texts:
            t.setFont(self._text_font())

    def set_values(
        self, values: np.ndarray, names: Sequence[str] | None = None, title: str = ""
    ) -> None:
        """Show ``values`` (N,); ``names`` labels the units (default: their index)."""
        v = np.asarray(values, dtype=np.float64).ravel()
        n = len(v)
        self._values = v
        self._hovered = -1
        self._ring.setData([], [])
        self._names = (
            list(names) if names is not None and len(names) == n else [str(i) for i in range(n)]
        )
        top = set(np.argsort(v)[::-1][: min(LABEL_TOP, n)].tolist())
        if n <= BARS_MAX:
            brushes = ["#D55E00" if i in top else "#56B4E9" for i in range(n)]
            self._bars.setOpts(x=np.arange(n), height=v, width=0.8, brushes=brushes)
            self._line.setData([], [])
        else:
            self._bars.setOpts(x=[], height=[], brushes=[])
            self._line.setData(np.arange(n), v)
        self.set_chosen(self._chosen_index)  # new values of the same units: kept
        axis = self.getAxis("bottom")
        if n <= LABEL_ALL:
            axis.setTicks([[(i, self._names[i]) for i in range(n)]])
        else:
            axis.setTicks(None)
        labelled = list(range(n) if n <= LABEL_ALL else sorted(top, key=lambda i: -v[i]))
        # The labels' items are kept and moved (making them anew each time cost a click
        # on a wide layer tens of milliseconds on the UI thread).
        while len(self._texts) > len(labelled):
            self.removeItem(self._texts.pop())
        font = self._text_font()
        for j, i in enumerate(labelled):
            text = f"{v[i]:.3g}" if n <= LABEL_ALL else f"{self._names[i]}: {v[i]:.3g}"
            anchor = (0.5, 1.0 if v[i] >= 0 else 0.0)
            if j < len(self._texts):
                item = self._texts[j]
                item.setText(text, color="k")
                item.setAnchor(anchor)
            else:
                item = pg.TextItem(text, color="k", anchor=anchor)
                self.addItem(item)
                self._texts.append(item)
            item.setFont(font)
            item.setPos(i, v[i])
        self.setTitle(title, color="k")
        lo, hi = (min(0.0, float(v.min())), max(0.0, float(v.max()))) if n else (0.0, 1.0)
        pad = (hi - lo) * 0.15 or 1.0
        self.setYRange(lo - (pad if lo < 0 else 0), hi + pad, padding=0)
        self.setXRange(-0.6, max(n, 1) - 0.4, padding=0)

    def values(self) -> np.ndarray:
        return self._values.copy()

    def labels(self) -> list[str]:
        """The texts written on the bars, in order."""
        return [t.textItem.toPlainText() for t in self._texts]

    # -- the mouse -----------------------------------------------------------------------
    def unit_at(self, scene_pos) -> int:
        """The unit whose bar is at ``scene_pos`` (a scene point), -1 off the bars."""
        vb = self.getPlotItem().getViewBox()
        if not vb.sceneBoundingRect().contains(scene_pos) or not len(self._values):
            return -1
        x = vb.mapSceneToView(scene_pos).x()
        i = int(np.floor(x + 0.5))
        return i if 0 <= i < len(self._values) else -1

    def bar_position(self, index: int, height: float | None = None):
        """Where bar ``index`` is on the widget (a ``QPoint``): at ``height`` in the
        values' units (default: half its value)."""
        vb = self.getPlotItem().getViewBox()
        y = self._values[index] / 2 if height is None else height
        scene = vb.mapViewToScene(pg.Point(float(index), float(y)))
        return self.mapFromScene(scene)

    def _on_moved(self, args) -> None:
        i = self.unit_at(args[0])
        if i == self._hovered:
            return
        self._hovered = i
        if i < 0:
            self._ring.setData([], [])
        else:
            self._ring.setData([i], [self._values[i]])
        self.unit_hovered.emit(i)

    def _on_clicked(self, event) -> None:
        if event.button() != Qt.MouseButton.LeftButton:
            return
        i = self.unit_at(event.scenePos())
        if i >= 0:
            self.unit_clicked.emit(i)

    def set_chosen(self, index: int) -> None:
        """Outline unit ``index``'s bar (-1: none)."""
        v = self._values
        self._chosen_index = index if 0 <= index < len(v) else -1
        if self._chosen_index < 0:
            self._chosen.setOpts(x=[], height=[])
        else:
            self._chosen.setOpts(x=[index], height=[v[index]], width=0.9)

    def chosen(self) -> int:
        """The unit outlined, -1 for none."""
        return self._chosen_index

    def hovered(self) -> int:
        """The unit under the mouse, -1 for none."""
        return self._hovered
