"""The zoo's models side by side: year, depth, parameters, MACs and ImageNet top-1.

The lecture's "latest trends" as data: from LeNet-5 (1998) and the lecture's MNIST CNN
to ConvNeXt-Tiny (2022), read from ``engine.inspection.architecture.ZOO_FACTS``. Click a column's
header to sort by it (numbers sort as numbers, a missing value sorts first); double-click
a row to ask for that model.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QStandardItem, QStandardItemModel
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QLabel,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from engine.inspection.architecture import ZOO_FACTS, ModelFacts

SORT_ROLE = Qt.ItemDataRole.UserRole + 1  # the value a column sorts by
KEY_ROLE = Qt.ItemDataRole.UserRole + 2  # the zoo key of the row
VALUE_ROLE = Qt.ItemDataRole.UserRole + 3  # the fact itself (None where missing)
RIGHT = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter

#: (column key, header, tooltip)
COLUMNS = (
    ("title", "Model", "The zoo's model"),
    ("year", "Year", "Year of the paper (the MNIST CNN: the Keras example)"),
    (
        "depth",
        "Depth",
        "Depth as the Keras applications table gives it; for the digit models, their "
        "layers with weights",
    ),
    ("params", "Parameters", "Trainable and non-trainable weights (count_params())"),
    ("macs", "MACs", "Multiply-accumulates of one image at the model's input size"),
    ("input_size", "Input", "The input size the MACs are counted at"),
    (
        "top1",
        "ImageNet top-1",
        "Top-1 accuracy on ImageNet's validation set, as Keras documents it",
    ),
)


def _short(n: int) -> str:
    """138_357_544 -> '138.4 M'."""
    for size, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if n >= size:
            return f"{n / size:.1f} {suffix}"
    return str(n)


def _cell(facts: ModelFacts, column: str) -> tuple[str, Any, str]:
    """(text shown, value sorted by, tooltip) of one cell."""
    if column == "title":
        return facts.title, facts.title.lower(), f"{facts.title} ({facts.key}); {facts.source}"
    if column == "year":
        return str(facts.year), facts.year, ""
    if column == "depth":
        if facts.depth is None:
            return "–", -1, "The Keras table gives no depth for this model"
        return str(facts.depth), facts.depth, ""
    if column == "params":
        return _short(facts.params), facts.params, f"{facts.params:,} parameters"
    if column == "macs":
        return _short(facts.macs), facts.macs, f"{facts.macs:,} multiply-accumulates"
    if column == "input_size":
        h, w = facts.input_size
        return f"{h}x{w}", h * w, ""
    if column == "top1":
        if facts.top1 is None:
            return "– (digits)", -1.0, "A model of handwritten digits, not of ImageNet"
        return f"{facts.top1:.1%}", facts.top1, f"Source: {facts.source}"
    raise ValueError(f"unknown column {column!r}")


class ZooTable(QWidget):
    """A sortable table of every zoo model (``engine.inspection.architecture.ZOO_FACTS``).

    Public: ``table`` (the ``QTableView``), ``keys()`` (the rows' zoo keys in the order
    shown), ``value(row, column)`` (the number or text a cell stands for; None for a
    missing value), ``COLUMNS``, ``highlight(key)`` (bold the current model's row).

    Signals
    -------
    model_activated(str)
        A row was double-clicked; its zoo key.
    """

    model_activated = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = QStandardItemModel(0, len(COLUMNS), self)
        self.model.setSortRole(SORT_ROLE)
        for i, (_key, header, tip) in enumerate(COLUMNS):
            item = QStandardItem(header)
            item.setToolTip(tip)
            self.model.setHorizontalHeaderItem(i, item)
        for facts in ZOO_FACTS.values():
            row = []
            for column, _h, _t in COLUMNS:
                text, value, tip = _cell(facts, column)
                item = QStandardItem(text)
                item.setEditable(False)
                item.setData(value, SORT_ROLE)
                item.setData(facts.key, KEY_ROLE)
                item.setData(getattr(facts, column), VALUE_ROLE)
                if tip:
                    item.setToolTip(tip)
                if column != "title":
                    item.setTextAlignment(RIGHT)
                row.append(item)
            self.model.appendRow(row)

        self.table = QTableView()
        self.table.setModel(self.model)
        # ZOO_FACTS' order (by year, roughly) until a header is clicked.
        self.table.horizontalHeader().setSortIndicator(-1, Qt.SortOrder.AscendingOrder)
        self.table.setSortingEnabled(True)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setStretchLastSection(False)
        self.table.doubleClicked.connect(
            lambda index: self.model_activated.emit(str(index.data(KEY_ROLE)))
        )
        note = QLabel(
            "Depth and ImageNet top-1 as the Keras applications table gives them; MACs "
            "(multiply-accumulates of one image) counted from each model's layers at its "
            "input size. Click a header to sort."
        )
        note.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.table, 1)
        layout.addWidget(note)

    def keys(self) -> list[str]:
        """The zoo keys of the rows, top to bottom as shown."""
        return [str(self.model.item(r, 0).data(KEY_ROLE)) for r in range(self.model.rowCount())]

    def value(self, row: int, column: str) -> Any:
        """What cell (``row``, ``column``) stands for: a number, the title, the input size
        as (H, W), or None where the value is missing."""
        value = self._item(row, column).data(VALUE_ROLE)
        return tuple(value) if column == "input_size" else value

    def text(self, row: int, column: str) -> str:
        """The text a person reads in cell (``row``, ``column``)."""
        return self._item(row, column).text()

    def _item(self, row: int, column: str) -> QStandardItem:
        names = [c for c, _h, _t in COLUMNS]
        if column not in names:
            raise ValueError(f"column must be one of {names}. Received: column={column!r}")
        return self.model.item(row, names.index(column))

    def show_current(self, model: object) -> None:
        """Bold the row of the current model (an ``OpenModel``, or None)."""
        self.highlight(getattr(model, "key", None))

    def highlight(self, key: str | None) -> None:
        """Bold the row of zoo model ``key`` (the current model), no row for None."""
        for r in range(self.model.rowCount()):
            bold = self.model.item(r, 0).data(KEY_ROLE) == key
            for c in range(self.model.columnCount()):
                item = self.model.item(r, c)
                font = item.font()
                font.setBold(bold)
                item.setFont(font)


if __name__ == "__main__":
    from gui.preview import preview

    preview(lambda _state: ZooTable(), size=(820, 380), tensorflow=False)
