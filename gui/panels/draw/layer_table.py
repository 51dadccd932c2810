"""A Keras-style summary table: layer, type, output shape, parameters."""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableWidget, QTableWidgetItem

from engine.inspection.activations import LayerInfo

COLUMNS = ("Layer", "Type", "Output shape", "Params")


class LayerTable(QTableWidget):
    """One row per layer; select a row to pick a layer (``currentCellChanged``)."""

    def __init__(self, parent=None) -> None:
        super().__init__(0, len(COLUMNS), parent)
        self.setHorizontalHeaderLabels(COLUMNS)
        self.verticalHeader().setVisible(False)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        header = self.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for c in range(1, len(COLUMNS)):
            header.setSectionResizeMode(c, QHeaderView.ResizeMode.ResizeToContents)
        self._layers: list[LayerInfo] = []

    def set_layers(self, layers: Sequence[LayerInfo], marks: dict[str, str] | None = None) -> None:
        """Fill the table; ``marks`` adds a note after a layer's name (e.g. residual add)."""
        marks = marks or {}
        self._layers = list(layers)
        self.setRowCount(len(self._layers))
        for r, info in enumerate(self._layers):
            name = info.name + (f"  {marks[info.name]}" if info.name in marks else "")
            cells = (name, info.type, info.shape_text(), f"{info.params:,}")
            for c, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if c == 3:
                    item.setTextAlignment(
                        Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
                    )
                self.setItem(r, c, item)

    def layers(self) -> list[LayerInfo]:
        return list(self._layers)

    def rows_text(self) -> list[tuple[str, str, str, str]]:
        out = []
        for r in range(self.rowCount()):
            out.append(tuple(self.item(r, c).text() for c in range(self.columnCount())))
        return out

    def total_params(self) -> int:
        return sum(info.params for info in self._layers)
