"""The zoo's models side by side: year, depth, parameters, MACs and ImageNet top-1.

The lecture's "latest trends" as data: from LeNet-5 (1998) and the lecture's MNIST CNN
to ConvNeXt-Tiny (2022), read from ``engine.inspection.architecture.ZOO_FACTS``. Click a column's
header to sort by it (numbers sort as numbers, a missing value sorts first); double-click
a row to ask for that model. Beside the table, a chart of depth, parameters or
multiply-accumulates by year (the last two on a log scale), each point named: the
lecture's "from ~8 layers in 2012 to 100+" at a glance.
"""

from __future__ import annotations

import math
from typing import Any

import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF, Qt, QTimer, Signal
from PySide6.QtGui import QFont, QStandardItem, QStandardItemModel
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QSizePolicy,
    QSplitter,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from engine.inspection.architecture import ZOO_FACTS, ModelFacts
from gui.theme import theme

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


#: What the chart can show: (fact, label in the selector, axis title, log scale).
MEASURES = (
    ("depth", "Depth", "depth (layers)", False),
    ("params", "Parameters", "parameters (log scale)", True),
    ("macs", "Multiply-accumulates", "multiply-accumulates per image (log scale)", True),
)
POINT = "#0072B2"
CURRENT = "#D55E00"  # the model in use


def _overlap(a: QRectF, b: QRectF) -> float:
    """The area two rectangles share."""
    r = a.intersected(b)
    return max(r.width(), 0.0) * max(r.height(), 0.0)


def _groups(centres: list[QPointF], dx: float, dy: float) -> list[list[int]]:
    """Points drawn (nearly) on top of one another, as lists of indices, the topmost
    (largest value) first: within ``dx`` pixels across and ``dy`` pixels up or down of
    a neighbour in the group."""
    groups: list[list[int]] = []
    for i in sorted(range(len(centres)), key=lambda i: (centres[i].x(), centres[i].y())):
        c = centres[i]
        for g in groups:
            if any(
                abs(centres[j].x() - c.x()) <= dx and abs(centres[j].y() - c.y()) <= dy for j in g
            ):
                g.append(i)
                break
        else:
            groups.append([i])
    return [sorted(g, key=lambda j: centres[j].y()) for g in groups]


def _power_text(e: int) -> str:
    """10**e as a person reads it on an axis: 1 k, 10 M, 1 G.

    >>> [_power_text(e) for e in (0, 3, 4, 6, 8, 9, 10)]
    ['1', '1 k', '10 k', '1 M', '100 M', '1 G', '10 G']
    """
    for power, suffix in ((9, "G"), (6, "M"), (3, "k")):
        if e >= power:
            return f"{10 ** (e - power)} {suffix}"
    return str(10**e)


class ZooChart(QWidget):
    """Depth, parameters or multiply-accumulates of every zoo model by year, one named
    point each (a log scale for parameters and MACs); the selector picks the measure.

    Labels are placed beside their points where they overlap nothing else (another
    label or point), tried right, above, below and left, so "VGG16" and "VGG19" (same
    year, almost the same size) stay readable.

    Signals
    -------
    model_clicked(str)
        A point was clicked; its model's zoo key.
    """

    model_clicked = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._measure = MEASURES[0][0]
        self._current: str | None = None
        self._points: list[tuple[str, float, float]] = []  # (key, year, plotted value)
        self._labels: list[pg.TextItem] = []
        self.measure_combo = QComboBox()
        for key, label, _axis, _log in MEASURES:
            self.measure_combo.addItem(label, key)
        self.measure_combo.setToolTip("What the chart shows against the year")
        self.measure_combo.currentIndexChanged.connect(
            lambda i: self.set_measure(str(self.measure_combo.itemData(i)))
        )
        self.plot = pg.PlotWidget(background="w")
        self.plot.setMenuEnabled(False)
        self.plot.hideButtons()
        self.plot.setMouseEnabled(x=False, y=False)  # a picture to read, not to pan
        self.plot.showGrid(x=True, y=True, alpha=0.25)
        self.plot.setLabel("bottom", "year")
        self.scatter = pg.ScatterPlotItem(hoverable=True, tip=None)
        self.scatter.sigClicked.connect(self._on_points_clicked)
        self.plot.addItem(self.scatter)
        self.missing = QLabel()
        self.missing.setWordWrap(True)
        self.missing.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        row = QHBoxLayout()
        row.addWidget(QLabel("Show"))
        row.addWidget(self.measure_combo, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(row)
        layout.addWidget(self.plot, 1)
        layout.addWidget(self.missing)
        theme().style_plot(self.plot)
        theme().changed.connect(self._redraw)
        # Labels are placed in pixels: again once the plot has its (new) size.
        self._placing = QTimer(self)
        self._placing.setSingleShot(True)
        self._placing.setInterval(0)
        self._placing.timeout.connect(self.place_labels)
        self.plot.getPlotItem().getViewBox().sigResized.connect(self._placing.start)
        self._redraw()

    # -- what is shown -------------------------------------------------------------------
    def measure(self) -> str:
        """The fact shown: "depth", "params" or "macs"."""
        return self._measure

    def set_measure(self, key: str) -> None:
        """Show fact ``key`` ("depth", "params" or "macs") against the year."""
        keys = [m[0] for m in MEASURES]
        if key not in keys:
            raise ValueError(f"measure must be one of {keys}. Received: measure={key!r}")
        self._measure = key
        index = keys.index(key)
        if self.measure_combo.currentIndex() != index:
            self.measure_combo.setCurrentIndex(index)  # comes back here, with nothing to do
        self._redraw()

    def highlight(self, key: str | None) -> None:
        """Mark the point of zoo model ``key`` (the model in use); None: no point."""
        self._current = key
        self._redraw()

    def points(self) -> list[tuple[str, float, float]]:
        """(zoo key, year, value plotted) of each point: log10 of the value on a log
        scale; a model without the fact is left out."""
        return list(self._points)

    def label_texts(self) -> list[str]:
        """The labels written beside the points (one for points drawn on top of one
        another: "VGG19, VGG16")."""
        return [item.textItem.toPlainText() for item in self._labels if item.isVisible()]

    def label_items(self) -> list[pg.TextItem]:
        """The labels shown."""
        return [item for item in self._labels if item.isVisible()]

    def _font(self) -> QFont:
        font = QFont()
        font.setPixelSize(theme().px(12))
        return font

    def _redraw(self) -> None:
        _key, _label, axis_title, log = next(m for m in MEASURES if m[0] == self._measure)
        item = self.plot.getPlotItem()
        for label in self._labels:
            item.removeItem(label)
        self._labels, self._points = [], []
        left_out = []
        for facts in ZOO_FACTS.values():
            value = getattr(facts, self._measure)
            if value is None or (log and value <= 0):
                left_out.append(facts.title)
                continue
            y = math.log10(value) if log else float(value)
            self._points.append((facts.key, float(facts.year), y))
        current = [k == self._current for k, _x, _y in self._points]
        size = theme().size(11)
        self.scatter.setData(
            x=[x for _k, x, _y in self._points],
            y=[y for _k, _x, y in self._points],
            data=[k for k, _x, _y in self._points],
            size=[size * 1.5 if c else size for c in current],
            brush=[pg.mkBrush(CURRENT if c else POINT) for c in current],
            pen=pg.mkPen("w", width=1),
        )
        for (key, x, y), is_current in zip(self._points, current, strict=True):
            text = pg.TextItem(ZOO_FACTS[key].title, color=CURRENT if is_current else "k")
            text.setFont(self._font())
            text.setPos(x, y)
            item.addItem(text)
            self._labels.append(text)
        self.plot.setLabel("left", axis_title)
        theme().style_plot(self.plot)  # the new axis title in the theme's size
        axis = self.plot.getAxis("left")
        ys = [y for _k, _x, y in self._points] or [0.0, 1.0]
        lo, hi = min(ys), max(ys)
        if log:
            lo, hi = math.floor(lo), math.ceil(hi)
            axis.setTicks([[(e, _power_text(e)) for e in range(lo, hi + 1)]])
            pad = 0.15
        else:
            axis.setTicks(None)
            lo = 0.0
            pad = (hi - lo) * 0.08
        self.plot.setYRange(lo - pad, hi + pad, padding=0)
        xs = [x for _k, x, _y in self._points] or [2000.0]
        # Room on the right for the last model's name.
        self.plot.setXRange(min(xs) - 1.5, max(xs) + 0.25 * (max(xs) - min(xs) + 1), padding=0)
        self.missing.setText(
            f"Not shown (the Keras table gives no {self._measure}): {', '.join(left_out)}."
            if left_out
            else ""
        )
        self.missing.setVisible(bool(left_out))
        self._placing.start()

    # -- labels that do not overlap ------------------------------------------------------
    def place_labels(self) -> None:
        """Put each name beside its point, where it covers no other name or point.

        Points drawn on top of one another (VGG16 and VGG19: the same year, almost the
        same size) share one label, "VGG19, VGG16", the larger value first.
        """
        vb = self.plot.getPlotItem().getViewBox()
        bounds = vb.sceneBoundingRect()
        if bounds.width() < 10 or not self._labels:
            return
        font_h = self._labels[0].textItem.boundingRect().height()
        r = theme().size(11) * 0.6  # a point's half size and a small gap, in pixels
        centres = [vb.mapViewToScene(QPointF(x, y)) for _k, x, y in self._points]
        groups = _groups(centres, r, font_h * 0.8)
        obstacles = [QRectF(c.x() - r, c.y() - r, 2 * r, 2 * r) for c in centres]
        placed: list[QRectF] = []
        for group in sorted(groups, key=lambda g: (centres[g[0]].x(), centres[g[0]].y())):
            i = group[0]  # the top point of the group carries the label
            for j in group[1:]:
                self._labels[j].setVisible(False)
            item, c = self._labels[i], centres[i]
            item.setVisible(True)
            names = [ZOO_FACTS[self._points[j][0]].title for j in group]
            item.setText(", ".join(names))
            current = any(self._points[j][0] == self._current for j in group)
            item.setColor(CURRENT if current else "k")
            box = item.textItem.boundingRect()
            w, h = box.width(), box.height()
            bottom = max(centres[j].y() for j in group)  # the group's lowest point
            mid = (c.y() + bottom) / 2
            candidates = [
                (c.x() + r, mid - h / 2),  # right
                (c.x() - w / 2, c.y() - r - h),  # above
                (c.x() - w / 2, bottom + r),  # below
                (c.x() + r, c.y() - r - h),  # right, above
                (c.x() + r, bottom + r),  # right, below
                (c.x() - r - w, mid - h / 2),  # left
            ]
            for step in (1, 2):  # a little further up or down, still beside the point
                candidates += [
                    (c.x() + r, mid - h / 2 - step * h),
                    (c.x() + r, mid - h / 2 + step * h),
                ]
            # The first place that covers nothing; else the one that covers least.
            chosen, least = None, math.inf
            for left, top in candidates:
                rect = QRectF(left, top, w, h)
                if not bounds.contains(rect):
                    continue
                covered = sum(_overlap(rect, o) for o in placed) + sum(
                    _overlap(rect, o) for j, o in enumerate(obstacles) if j not in group
                )
                if covered < least:
                    chosen, least = rect, covered
                if covered == 0:
                    break
            if chosen is None:  # no place inside the plot: on the right, as it comes
                chosen = QRectF(c.x() + r, mid - h / 2, w, h)
            placed.append(chosen)
            item.setAnchor((0, 0))
            item.setPos(vb.mapSceneToView(chosen.topLeft()))

    def _on_points_clicked(self, _item, points, *_args) -> None:
        if len(points):
            self.model_clicked.emit(str(points[0].data()))

    def point_position(self, key: str) -> QPointF:
        """Where model ``key``'s point is on the plot widget (for a click)."""
        _k, x, y = next(p for p in self._points if p[0] == key)
        scene = self.plot.getPlotItem().getViewBox().mapViewToScene(QPointF(x, y))
        return self.plot.mapFromScene(scene)


class ZooTable(QWidget):
    """A sortable table of every zoo model (``engine.inspection.architecture.ZOO_FACTS``).

    Public: ``table`` (the ``QTableView``), ``chart`` (a ``ZooChart`` beside it),
    ``keys()`` (the rows' zoo keys in the order shown), ``value(row, column)`` (the
    number or text a cell stands for; None for a missing value), ``COLUMNS``,
    ``highlight(key)`` (bold the current model's row, mark its point).

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
        left = QWidget()
        ll = QVBoxLayout(left)
        ll.setContentsMargins(0, 0, 0, 0)
        ll.addWidget(self.table, 1)
        ll.addWidget(note)
        self.chart = ZooChart()
        self.chart.model_clicked.connect(self.select)
        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.addWidget(left)
        self.splitter.addWidget(self.chart)
        self.splitter.setStretchFactor(0, 3)
        self.splitter.setStretchFactor(1, 2)
        self.splitter.setChildrenCollapsible(False)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.splitter)
        self._widened = False

    def wanted_width(self) -> int:
        """The width that shows every column and a readable chart beside them."""
        return self.table.horizontalHeader().length() + theme().size(40) + theme().size(460)

    def showEvent(self, event) -> None:
        super().showEvent(event)
        # The first time the comparison opens, its window makes room for the chart
        # (within the screen); after that, the person's size stays.
        window = self.window()
        if self._widened or window is self:
            return
        self._widened = True
        screen = window.screen().availableGeometry() if window.screen() else None
        want = self.wanted_width() + (window.width() - self.width())
        if screen is not None:
            want = min(want, screen.width() - 40)
        if window.width() < want:
            window.resize(want, window.height())
        left = self.table.horizontalHeader().length() + theme().size(40)
        self.splitter.setSizes([left, max(self.splitter.width() - left, theme().size(300))])

    def select(self, key: str) -> None:
        """Select (and show) zoo model ``key``'s row."""
        if key in self.keys():
            row = self.keys().index(key)
            self.table.selectRow(row)
            self.table.scrollTo(self.model.index(row, 0))

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
        """Bold the row of zoo model ``key`` (the current model), no row for None, and
        mark its point on the chart."""
        self.chart.highlight(key)
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
