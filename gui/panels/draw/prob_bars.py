"""The ten class probabilities as a bar chart (pyqtgraph)."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import QWidget

from gui.theme import theme


class ProbabilityBars(pg.PlotWidget):
    """Bars for classes 0..N-1; the most probable one in a contrasting colour."""

    def __init__(self, n: int = 10, parent: QWidget | None = None) -> None:
        super().__init__(parent=parent, background="w")
        self.setMouseEnabled(False, False)
        self.hideButtons()
        self.setMenuEnabled(False)
        self.setYRange(0, 1.05, padding=0)  # room for the top tick's label
        self.setXRange(-0.6, n - 0.4, padding=0)
        self.getAxis("bottom").setTicks([[(i, str(i)) for i in range(n)]])
        self.setLabel("left", "probability")
        theme().style_plot(self)
        self._n = n
        self._bars = pg.BarGraphItem(x=np.arange(n), height=np.zeros(n), width=0.7, brush="#56B4E9")
        self.addItem(self._bars)
        self._values = np.zeros(n)

    def set_probabilities(self, p: np.ndarray | None) -> None:
        values = np.zeros(self._n) if p is None else np.asarray(p, dtype=float)
        self._values = values
        brushes = ["#56B4E9"] * self._n
        if p is not None:
            brushes[int(np.argmax(values))] = "#D55E00"
        self._bars.setOpts(height=values, brushes=brushes)

    def probabilities(self) -> np.ndarray:
        return self._values.copy()
