"""The layers of a model as a tree: blocks (VGG's, ResNet's residual blocks) of layers.

The other columns (type, output shape, params, receptive field) are always in view: the
name column takes the width left to it, and a name longer than that is cut at its end
("…"), whole in its tooltip. An addition that joins two branches says which:
``conv2_block1_add = conv2_block1_0_bn + conv2_block1_3_bn``, and a concatenation says
it is one: ``mixed0 = concatenate(activation_5, activation_7, ...)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QBrush, QColor, QFont
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTreeWidget, QTreeWidgetItem

from engine.inspection.activations import LayerInfo, block_of, merge_text
from gui.theme import theme

COLUMNS = ("Layer", "Type", "Output shape", "Params", "Receptive field")
NAME_ROLE = Qt.ItemDataRole.UserRole
RIGHT = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter


class LayerTree(QTreeWidget):
    """One row per layer, grouped under its block; click a layer to pick it.

    Signals
    -------
    layer_clicked(str)
        The person chose a layer (not emitted by ``select``).
    """

    layer_clicked = Signal(str)

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setColumnCount(len(COLUMNS))
        self.setHeaderLabels(COLUMNS)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)
        self.setUniformRowHeights(True)
        # The middle goes: "block3_conv1" and "block3_conv2" stay told apart.
        self.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        header = self.header()
        header.setStretchLastSection(False)
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        self._layers: list[LayerInfo] = []
        self._items: dict[str, QTreeWidgetItem] = {}
        self.currentItemChanged.connect(self._on_current_item_changed)
        theme().follow(self, self._fit_columns)  # bigger text, wider columns

    def _fit_columns(self) -> None:
        for c in range(len(COLUMNS)):
            self.resizeColumnToContents(c)
        # The name column gives way: the others stay in view, a long name is elided.
        others = sum(self.columnWidth(c) for c in range(1, len(COLUMNS)))
        room = self.viewport().width() - others
        floor = theme().px(120)  # below that, the scroll bar rather than no name at all
        if self.columnWidth(0) > room:
            self.setColumnWidth(0, max(room, floor))

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._fit_columns()

    def set_layers(
        self,
        layers: Sequence[LayerInfo],
        joins: dict[str, list[str]] | None = None,
        fields: dict[str, Any] | None = None,
        blocks: dict[str, str] | None = None,
    ) -> None:
        """Fill the tree; ``joins`` names the inputs of merging layers (``Add``),
        ``fields`` the receptive field (``engine.explanation.attribution.ReceptiveField``) of layers
        with spatial maps, ``blocks`` each layer's block (``engine.inspection.blocks.
        block_names``, read from the graph; by default from the layer's name)."""
        joins = joins or {}
        fields = fields or {}
        self.blockSignals(True)
        self.clear()
        self._layers = list(layers)
        self._items = {}
        grouped: dict[str, list[LayerInfo]] = {}
        for info in self._layers:
            name = blocks.get(info.name) if blocks else None
            grouped.setdefault(name or block_of(info.name), []).append(info)
        bold = QFont()  # bold only: its size stays the tree's, which follows the zoom
        bold.setBold(True)
        shade = QBrush(QColor(238, 242, 250))
        for block, members in grouped.items():
            parent: QTreeWidget | QTreeWidgetItem = self
            if len(members) > 1:
                params = sum(m.params for m in members)
                kind = "residual block" if any(m.type == "Add" for m in members) else "block"
                head = QTreeWidgetItem(
                    [block, f"{kind}, {len(members)} layers", "", f"{params:,}", ""]
                )
                head.setFont(0, bold)
                head.setFlags(Qt.ItemFlag.ItemIsEnabled)
                for c in range(len(COLUMNS)):
                    head.setBackground(c, shade)
                self.addTopLevelItem(head)
                parent = head
            for info in members:
                name = info.name
                if info.name in joins and len(joins[info.name]) > 1:
                    name += " = " + merge_text(info.type, joins[info.name])
                field = fields.get(info.name)
                seen = "" if field is None else f"{field.size} px, step {field.jump:g}"
                item = QTreeWidgetItem(
                    [name, info.type, info.shape_text(), f"{info.params:,}", seen]
                )
                item.setData(0, NAME_ROLE, info.name)
                item.setToolTip(0, name)
                item.setTextAlignment(3, RIGHT)
                if field is not None:
                    item.setToolTip(
                        4,
                        f"One map pixel sees {field.size}x{field.size} input pixels; "
                        f"neighbouring map pixels are {field.apart_text()}",
                    )
                if isinstance(parent, QTreeWidgetItem):
                    parent.addChild(item)
                else:
                    self.addTopLevelItem(item)
                self._items[info.name] = item
        self.expandAll()
        self._fit_columns()
        self.blockSignals(False)

    def _on_current_item_changed(self, item: QTreeWidgetItem | None, _previous) -> None:
        name = None if item is None else item.data(0, NAME_ROLE)
        if name:
            self.layer_clicked.emit(str(name))

    def select(self, name: str | None) -> None:
        """Show ``name`` as the current layer without emitting ``layer_clicked``."""
        item = self._items.get(name) if name else None
        self.blockSignals(True)
        if item is None:
            self.setCurrentItem(None)
            self.clearSelection()
        else:
            self.setCurrentItem(item)
            self.scrollToItem(item)
        self.blockSignals(False)

    def item_for(self, name: str) -> QTreeWidgetItem:
        return self._items[name]

    def layers(self) -> list[LayerInfo]:
        return list(self._layers)

    def rows_text(self) -> list[tuple[str, ...]]:
        """The layer rows (not the block headings), as shown."""
        return [
            tuple(self._items[info.name].text(c) for c in range(len(COLUMNS)))
            for info in self._layers
        ]
