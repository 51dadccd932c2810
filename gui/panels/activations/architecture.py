"""The current model's architecture, drawn: a graph of its layers, or the lecture's volumes.

**Graph**: every layer a box (name, type with its filter size, output shape, parameters
and multiply-accumulates), laid out by ``engine.inspection.architecture.layout``: a chain for a
Sequential model, parallel branches side by side for ResNet's blocks and InceptionV3's
modules. **Volumes** (plain CNNs only: a chain with no branches, such as the lecture's
MNIST CNN, LeNet-5 or VGG16): each layer's output as a box whose height, width and depth
follow its H x W x C, left to right as in LeCun et al.'s 1998 LeNet figure.

Wheel zooms (around the pointer), drag pans, a click on a layer selects it in the
application state; the selected layer is outlined and scrolled into view. The view
redraws from the state (``model_changed``, ``selection_changed``) and holds no truth of
its own.

Text is painted only when it is large enough to read (Qt's level of detail), so a
zoomed-out InceptionV3 (313 layers) repaints as fast as a chain of ten.

The drawing follows the window's zoom (``gui.theme``): its text sizes and the boxes that
hold them grow with it, and a change of zoom draws the scene again. In presenter mode
"Fit" does not zoom out below 1, so no text is drawn smaller than the zoom promises
(scroll for the rest).
"""

from __future__ import annotations

import functools
import logging
import math
import time
from typing import Any

from PySide6.QtCore import QPoint, QPointF, QRectF, Qt
from PySide6.QtGui import (
    QBrush,
    QColor,
    QFont,
    QFontMetricsF,
    QPainter,
    QPainterPath,
    QPen,
    QPolygonF,
)
from PySide6.QtWidgets import (
    QApplication,
    QButtonGroup,
    QGraphicsItem,
    QGraphicsPathItem,
    QGraphicsScene,
    QGraphicsSimpleTextItem,
    QGraphicsView,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QStyleOptionGraphicsItem,
    QVBoxLayout,
    QWidget,
)

from gui.state import same_layers
from gui.theme import theme

log = logging.getLogger(__name__)

GRAPH, VOLUMES = "graph", "volumes"

# Graph geometry, in scene pixels at zoom 1 (the boxes grow with the text's zoom).
NODE_W, NODE_H = 200.0, 64.0
LANE_DX, RANK_DY = 236.0, 92.0

# Okabe-Ito colours (they stay apart for colour-blind readers), as light fills.
_KINDS = (
    # (layer types, fill, border)
    (("InputLayer",), "#fbf5c4", "#b8a800"),
    (
        ("Conv1D", "Conv2D", "Conv3D", "DepthwiseConv2D", "SeparableConv2D", "Conv2DTranspose"),
        "#d3e6f6",
        "#0072b2",
    ),
    (
        (
            "MaxPooling2D",
            "AveragePooling2D",
            "GlobalAveragePooling2D",
            "GlobalMaxPooling2D",
            "MaxPooling1D",
            "AveragePooling1D",
        ),
        "#cdeee4",
        "#009e73",
    ),
    (("Dense",), "#fbe7bf", "#e69f00"),
    (("Add", "Concatenate", "Multiply", "Subtract", "Average", "Maximum"), "#f3dcea", "#cc79a7"),
    (("BatchNormalization", "LayerNormalization", "Normalization"), "#ececec", "#8a8a8a"),
)
_DEFAULT_FILL, _DEFAULT_BORDER = "#ffffff", "#9a9a9a"
SELECTED = QColor("#d55e00")  # vermillion: the selected layer, everywhere


def _colours(layer_type: str) -> tuple[QColor, QColor]:
    for types, fill, border in _KINDS:
        if layer_type in types:
            return QColor(fill), QColor(border)
    return QColor(_DEFAULT_FILL), QColor(_DEFAULT_BORDER)


def _shape_text(shape: tuple[int | None, ...]) -> str:
    return " × ".join("?" if d is None else str(d) for d in shape) if shape else "scalar"


def _count(n: int) -> str:
    """12_345_678 -> '12.3M' (short, for a box)."""
    for size, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if n >= size:
            return f"{n / size:.3g}{suffix}"
    return str(n)


def _detail(layer: Any) -> str:
    """A layer's filter in a few characters: "3x3 /2", "2x2", "relu"."""
    if layer is None:
        return ""
    parts = []
    size = getattr(layer, "kernel_size", None) or getattr(layer, "pool_size", None)
    if isinstance(size, (tuple, list)) and size:
        parts.append("x".join(str(k) for k in size))
    strides = getattr(layer, "strides", None)
    if isinstance(strides, (tuple, list)) and any(s != 1 for s in strides):
        parts.append("/" + "x".join(str(s) for s in dict.fromkeys(strides)))
    activation = getattr(layer, "activation", None)
    name = getattr(activation, "__name__", "")
    if name and name != "linear":
        parts.append(("+ " if parts else "") + name)
    rate = getattr(layer, "rate", None)
    if type(layer).__name__ == "Dropout" and rate is not None:
        parts.append(f"{rate:g}")
    return " ".join(parts)


class LayerItem(QGraphicsItem):
    """One layer in a drawing: clicking it selects ``name``; ``selected`` outlines it."""

    def __init__(self, name: str) -> None:
        super().__init__()
        self.name = name
        self.selected = False
        self.k = theme().zoom()  # the geometry's scale: the text's zoom when drawn
        self._painted: list[int] = []  # text sizes of the last paint (item pixels)

    def text_pixel_sizes(self) -> list[int]:
        """The text sizes painted last, in the item's pixels (none when zoomed out too
        far to paint text)."""
        return list(self._painted)

    def set_selected(self, selected: bool) -> None:
        if selected != self.selected:
            self.selected = selected
            self.setZValue(2 if selected else 1)
            self.update()


class NodeItem(LayerItem):
    """A box of the graph: name, type and filter, output shape, parameters and MACs."""

    def __init__(self, node: Any, detail: str) -> None:
        super().__init__(node.name)
        self.node = node
        self.fill, self.border = _colours(node.type)
        self.lines = (
            node.name,
            f"{node.type} {detail}".strip(),
            _shape_text(node.output_shape),
            f"{node.params:,} params" + (f" · {_count(node.macs)} MACs" if node.macs else ""),
        )
        self.setZValue(1)

    def boundingRect(self) -> QRectF:
        w, h = NODE_W * self.k, NODE_H * self.k
        return QRectF(-w / 2 - 3, -h / 2 - 3, w + 6, h + 6)

    def paint(self, p: QPainter, option: QStyleOptionGraphicsItem, _widget=None) -> None:
        w, h = NODE_W * self.k, NODE_H * self.k
        rect = QRectF(-w / 2, -h / 2, w, h)
        self._painted = []
        border = SELECTED if self.selected else self.border
        p.setPen(QPen(border, 4.0 if self.selected else 1.2))
        p.setBrush(QBrush(self.fill.darker(112) if self.selected else self.fill))
        p.drawRoundedRect(rect, 6, 6)
        lod = option.levelOfDetailFromTransform(p.worldTransform())
        if lod < 0.3:  # text under ~3 px on screen: a box is all one can read
            return
        p.setPen(QColor("#202020"))
        inner = rect.adjusted(8, 4, -8, -4)
        line_h = inner.height() / len(self.lines)
        for i, text in enumerate(self.lines):
            p.setFont(_box_font(i == 0))
            self._painted.append(_box_font(i == 0).pixelSize())
            p.drawText(
                QRectF(inner.left(), inner.top() + i * line_h, inner.width(), line_h),
                Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
                _elide(text, inner.width(), i == 0),
            )


@functools.cache
def _font(bold: bool, px: int) -> QFont:
    """The boxes' fonts, made once per size (after the QApplication exists: at the first
    paint)."""
    font = QFont()
    font.setPixelSize(px)
    font.setBold(bold)
    return font


def _box_font(bold: bool) -> QFont:
    """A box's name (bold) or its other lines, in the zoom's size."""
    return _font(bold, theme().px(12))


def _elide(text: str, width: float, bold: bool) -> str:
    return QFontMetricsF(_box_font(bold)).elidedText(text, Qt.TextElideMode.ElideMiddle, width)


class EdgeItem(QGraphicsPathItem):
    """The tensor from layer ``source`` to layer ``target`` along ``points``, with an arrow
    head at the end (pointing down the graph, or right in the volumes' row)."""

    COLOUR = QColor("#707070")

    def __init__(self, source: str, target: str, points: list[QPointF]) -> None:
        path = QPainterPath(points[0])
        for a, b in zip(points, points[1:], strict=False):
            if abs(a.x() - b.x()) < 1e-6 or abs(a.y() - b.y()) < 1e-6:
                path.lineTo(b)
            else:  # a soft bend into (or out of) a side lane
                mid = (a.y() + b.y()) / 2
                path.cubicTo(QPointF(a.x(), mid), QPointF(b.x(), mid), b)
        super().__init__(path)
        self.source, self.target = source, target
        end, before = points[-1], points[-2]
        if abs(end.y() - before.y()) < 1e-6:  # horizontal: pointing right
            tips = [QPointF(end.x() - 9, end.y() - 5), QPointF(end.x() - 9, end.y() + 5)]
        else:  # pointing down
            tips = [QPointF(end.x() - 5, end.y() - 9), QPointF(end.x() + 5, end.y() - 9)]
        self.head = QPolygonF([end, *tips])
        self.setPen(QPen(self.COLOUR, 1.4))
        self.setZValue(0)

    def boundingRect(self) -> QRectF:
        return super().boundingRect().united(self.head.boundingRect())

    def paint(self, p: QPainter, option, widget=None) -> None:
        super().paint(p, option, widget)
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(self.COLOUR)
        p.drawPolygon(self.head)


class VolumeItem(LayerItem):
    """One layer's output as the lecture draws it: an (H, W, C) volume as a box whose
    front face is H x W and whose depth is C; a vector as a thin bar; its name and
    ``C@HxW`` (LeCun's notation) underneath."""

    LABEL_W = 150.0

    def __init__(self, node: Any, face: tuple[float, float], depth: float, detail: str) -> None:
        super().__init__(node.name)
        self.node = node
        self.face_w, self.face_h = face
        self.depth = depth
        self.fill, self.border = _colours(node.type)
        shape = node.output_shape
        if len(shape) == 3:
            h, w, c = shape
            size = f"{c}@{h}x{w}"
        else:
            size = " × ".join(str(d) for d in shape) + (" units" if len(shape) == 1 else "")
        self.lines = (node.name, size, f"{node.type} {detail}".strip())
        self.setZValue(1)

    @property
    def dx(self) -> float:  # the depth axis, drawn up and to the right
        return self.depth * 0.6

    @property
    def dy(self) -> float:
        return self.depth * 0.45

    def width(self) -> float:
        return max(self.face_w + self.dx, self.LABEL_W * self.k)

    def _box_left(self) -> float:
        return (self.width() - self.face_w - self.dx) / 2

    def boundingRect(self) -> QRectF:
        top = -self.face_h / 2 - self.dy - 4
        return QRectF(-2, top, self.width() + 4, self.face_h / 2 + 12 + 48 * self.k - top)

    def paint(self, p: QPainter, option: QStyleOptionGraphicsItem, _widget=None) -> None:
        x0, h, w = self._box_left(), self.face_h, self.face_w
        dx, dy = self.dx, self.dy
        front = QRectF(x0, -h / 2, w, h)
        top = QPolygonF(
            [
                front.topLeft(),
                QPointF(x0 + dx, -h / 2 - dy),
                QPointF(x0 + w + dx, -h / 2 - dy),
                front.topRight(),
            ]
        )
        side = QPolygonF(
            [
                front.topRight(),
                QPointF(x0 + w + dx, -h / 2 - dy),
                QPointF(x0 + w + dx, h / 2 - dy),
                front.bottomRight(),
            ]
        )
        border = SELECTED if self.selected else self.border.darker(120)
        p.setPen(QPen(border, 3.0 if self.selected else 1.0))
        p.setBrush(self.fill.darker(108))
        p.drawPolygon(top)
        p.setBrush(self.fill.darker(125))
        p.drawPolygon(side)
        p.setBrush(self.fill)
        p.drawRect(front)
        channels = self.node.output_shape[-1] if len(self.node.output_shape) == 3 else 0
        if 1 < channels <= 32 and dx / channels >= 1.5:
            # LeCun's stack of maps: one line per map across the top and the side.
            p.setPen(QPen(border, 0.5))
            for i in range(1, channels):
                t = i / channels
                p.drawLine(
                    QPointF(x0 + t * dx, -h / 2 - t * dy), QPointF(x0 + w + t * dx, -h / 2 - t * dy)
                )
                p.drawLine(
                    QPointF(x0 + w + t * dx, -h / 2 - t * dy),
                    QPointF(x0 + w + t * dx, h / 2 - t * dy),
                )
        self._painted = []
        if option.levelOfDetailFromTransform(p.worldTransform()) < 0.3:
            return
        p.setPen(SELECTED if self.selected else QColor("#202020"))
        y = h / 2 + 6
        line_h = 16 * self.k
        for i, text in enumerate(self.lines):
            p.setFont(_box_font(i == 0))
            self._painted.append(_box_font(i == 0).pixelSize())
            p.drawText(
                QRectF(0, y, self.width(), line_h),
                Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop,
                _elide(text, self.width(), i == 0),
            )
            y += line_h


def is_plain_chain(graph: Any) -> bool:
    """True for a plain CNN: every layer takes one input and feeds at most one, and some
    layer has (H, W, C) maps (the lecture's CNN, LeNet-5, VGG; not ResNet or Inception)."""
    one_in = all(len(graph.inbound(n.name)) <= 1 for n in graph.nodes)
    one_out = all(len(graph.outbound(n.name)) <= 1 for n in graph.nodes)
    sources = sum(1 for n in graph.nodes if not graph.inbound(n.name))
    maps = any(len(n.output_shape) == 3 for n in graph.nodes)
    return one_in and one_out and sources == 1 and maps


class GraphCanvas(QGraphicsView):
    """A zoomable, pannable view of a scene of ``LayerItem``s: wheel zooms around the
    pointer, drag pans, a click (press and release without a drag) on an item reports
    its layer through ``on_click``."""

    MIN_SCALE, MAX_SCALE = 0.04, 4.0

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setRenderHints(QPainter.RenderHint.Antialiasing | QPainter.RenderHint.TextAntialiasing)
        self.setDragMode(QGraphicsView.DragMode.ScrollHandDrag)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)
        self.setViewportUpdateMode(QGraphicsView.ViewportUpdateMode.SmartViewportUpdate)
        self.setBackgroundBrush(QColor("#fafafa"))
        self.on_click = lambda _name: None
        self._press: QPoint | None = None
        self.adjusted = False  # the person zoomed or panned: keep their view when resized

    def layer_at(self, pos: QPoint) -> str | None:
        for item in self.items(pos):
            if isinstance(item, LayerItem):
                return item.name
        return None

    def zoom(self, factor: float) -> None:
        current = self.transform().m11()
        factor = min(max(factor, self.MIN_SCALE / current), self.MAX_SCALE / current)
        self.scale(factor, factor)

    def wheelEvent(self, event) -> None:
        delta = event.angleDelta().y() or event.angleDelta().x()
        if delta:
            self.adjusted = True
            self.zoom(1.0015**delta)
        event.accept()

    def mousePressEvent(self, event) -> None:
        if event.button() == Qt.MouseButton.LeftButton:
            self._press = event.position().toPoint()
        super().mousePressEvent(event)

    def mouseReleaseEvent(self, event) -> None:
        super().mouseReleaseEvent(event)
        start, self._press = self._press, None
        if start is None or event.button() != Qt.MouseButton.LeftButton:
            return
        pos = event.position().toPoint()
        if (pos - start).manhattanLength() < QApplication.startDragDistance():
            name = self.layer_at(pos)
            if name is not None:
                self.on_click(name)
        else:
            self.adjusted = True  # a drag panned the view


class ArchitectureView(QWidget):
    """The current model's layers as a graph, or (plain CNNs) as the lecture's volumes.

    Clicking a layer calls ``state.select_layer``; the state's selected layer is
    outlined in vermillion and scrolled into view. ``mode`` is ``"graph"`` or
    ``"volumes"`` (the toggle; volumes only for a chain of layers with maps).

    Public: ``graph`` (the ``engine.inspection.architecture.ModelGraph`` drawn, or None),
    ``node_names()``, ``edge_pairs()`` (what the scene holds), ``highlighted()``,
    ``node_position(name)`` (its centre in the canvas' viewport), ``set_mode(mode)``,
    ``volumes_available()``, ``fit()``, ``build_seconds`` (the last drawing's cost).
    """

    def __init__(self, state: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._state = state
        self.graph: Any = None
        self.build_seconds = 0.0
        self._mode = GRAPH
        self._items: dict[str, LayerItem] = {}
        self._edges: list[EdgeItem] = []
        self._model: Any = None  # the OpenModel drawn
        self._layer_names: set[str] = set()
        self._problem = ""  # why there is no graph

        self.graph_button = QPushButton("Graph")
        self.volumes_button = QPushButton("Volumes")
        group = QButtonGroup(self)
        for b in (self.graph_button, self.volumes_button):
            b.setCheckable(True)
            group.addButton(b)
        group.setExclusive(True)
        self.graph_button.setChecked(True)
        self.graph_button.setToolTip("Every layer as a box, branches side by side")
        self.graph_button.clicked.connect(lambda: self.set_mode(GRAPH))
        self.volumes_button.clicked.connect(lambda: self.set_mode(VOLUMES))
        self.fit_button = QPushButton("Fit")
        self.fit_button.setToolTip("Show the whole drawing again (wheel zooms, drag pans)")
        self.fit_button.clicked.connect(self.fit)
        self.summary = QLabel("")
        self.summary.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.summary.setWordWrap(True)  # a narrow view wraps it rather than growing
        self.summary.setToolTip("MACs: multiply-accumulates of one image through the model")

        bar = QHBoxLayout()
        bar.addWidget(self.graph_button)
        bar.addWidget(self.volumes_button)
        bar.addWidget(self.fit_button)
        bar.addSpacing(12)
        bar.addWidget(self.summary, 1)

        self.scene = QGraphicsScene(self)
        self.canvas = GraphCanvas()
        self.canvas.setScene(self.scene)
        self.canvas.on_click = self._on_node_clicked
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(bar)
        layout.addWidget(self.canvas, 1)

        state.model_changed.connect(self._on_model_changed)
        state.selection_changed.connect(self._on_selection_changed)
        theme().changed.connect(self._on_theme_changed)
        self._on_model_changed(state.model)

    def _on_theme_changed(self) -> None:
        """Another zoom: every box and text drawn again in its size."""
        self._draw()

    # -- what the view shows ---------------------------------------------------------------
    def mode(self) -> str:
        return self._mode

    def volumes_available(self) -> bool:
        return self.graph is not None and is_plain_chain(self.graph)

    def node_names(self) -> list[str]:
        """The layers drawn in the scene, in the graph's order."""
        names = [i.name for i in self.scene.items() if isinstance(i, LayerItem)]
        if self.graph is None:
            return names
        return sorted(names, key=self.graph.position)

    def edge_pairs(self) -> list[tuple[str, str]]:
        """The (from, to) layers of the arrows drawn in the scene, sorted."""
        return sorted((i.source, i.target) for i in self.scene.items() if isinstance(i, EdgeItem))

    def item(self, name: str) -> LayerItem:
        return self._items[name]

    def highlighted(self) -> str | None:
        """The layer drawn as selected, or None."""
        on = [name for name, item in self._items.items() if item.selected]
        return on[0] if on else None

    def node_position(self, name: str) -> QPoint:
        """The centre of ``name``'s box (graph) or volume's front face, in the canvas'
        viewport coordinates: where a person clicks it."""
        item = self._items[name]
        if isinstance(item, VolumeItem):
            local = QPointF(item._box_left() + item.face_w / 2, 0)
        else:
            local = QPointF(0, 0)
        return self.canvas.mapFromScene(item.mapToScene(local))

    # -- intents ---------------------------------------------------------------------------
    def set_mode(self, mode: str) -> None:
        """Draw as ``"graph"`` or ``"volumes"`` (volumes fall back to the graph for a
        model that is not a plain chain)."""
        if mode not in (GRAPH, VOLUMES):
            raise ValueError(f"mode must be 'graph' or 'volumes'. Received: mode={mode!r}")
        if mode == VOLUMES and not self.volumes_available():
            mode = GRAPH
        self._mode = mode
        (self.volumes_button if mode == VOLUMES else self.graph_button).setChecked(True)
        self._draw()

    def fit(self) -> None:
        """Graph: the lanes fill the width (zoomed out to half at most; scroll for the
        rest), from the top; volumes: the whole row (zoomed out to 0.8 at most)."""
        self.canvas.adjusted = False
        rect = self.scene.itemsBoundingRect()
        if rect.isEmpty():
            return
        self.canvas.resetTransform()
        viewport = self.canvas.viewport().size()
        if self._mode == VOLUMES:
            # The whole row if it fits at a readable size, else readable from the left.
            fits = min(
                (viewport.width() - 24) / (rect.width() + 40),
                (viewport.height() - 24) / (rect.height() + 40),
            )
            s = min(1.5, max(self._lowest_fit(0.8), fits))
            self.canvas.scale(s, s)
            half = (viewport.width() / 2) / s
            self.canvas.centerOn(min(rect.center().x(), rect.left() + half), rect.center().y())
        else:
            s = min(1.0, max(self._lowest_fit(0.5), (viewport.width() - 24) / (rect.width() + 40)))
            self.canvas.scale(s, s)
            self.canvas.centerOn(rect.center().x(), rect.top())
        self._reveal_selection()

    @staticmethod
    def _lowest_fit(lowest: float) -> float:
        """How far "Fit" may zoom out: ``lowest``, but not at all in presenter mode (its
        texts are to stay at the size it promises)."""
        return 1.0 if theme().strong() else lowest

    # -- drawing ---------------------------------------------------------------------------
    def _on_model_changed(self, model: Any) -> None:
        if same_layers(self._model, model):  # an edit of its weights: the graph is the same
            self._model = model
            return
        start = time.perf_counter()
        self._model = model
        self.graph = None
        self._layer_names = set()
        self._problem = "No model yet." if model is None else ""
        if model is not None:
            from engine.inspection.architecture import model_graph

            try:
                self.graph = model_graph(model.network)
            except ValueError as exc:  # a model file without a graph of layers
                log.info("no architecture for %s: %s", getattr(model, "key", model), exc)
                self._problem = f"This model cannot be drawn: {exc}"
            self._layer_names = {layer.name for layer in model.network.layers}
        volumes = self.volumes_available()
        self.volumes_button.setEnabled(volumes)
        self.volumes_button.setToolTip(
            "Each layer's output as a box of H x W x C, as in LeCun's LeNet figure"
            if volumes
            else "Only for plain CNNs (one chain of layers, no branches)"
        )
        if self._mode == VOLUMES and not volumes:
            self._mode = GRAPH
            self.graph_button.setChecked(True)
        self._draw(start)

    def _draw(self, start: float | None = None) -> None:
        """Fill the scene; ``build_seconds`` is the time since ``start`` (default: now)."""
        start = time.perf_counter() if start is None else start
        self.scene.clear()
        self._items, self._edges = {}, []
        graph = self.graph
        if graph is None:
            problem = QGraphicsSimpleTextItem(self._problem)
            problem.setFont(_box_font(False))
            self.scene.addItem(problem)
            self.scene.setSceneRect(self.scene.itemsBoundingRect())
            self.summary.setText("")
            return
        layers = self._keras_layers()
        if self._mode == VOLUMES:
            self._draw_volumes(graph, layers)
        else:
            self._draw_graph(graph, layers)
        rect = self.scene.itemsBoundingRect().adjusted(-40, -40, 40, 40)
        self.scene.setSceneRect(rect)
        self.build_seconds = time.perf_counter() - start
        self.summary.setText(
            f"{graph.name}: {len(graph.nodes)} layers · {_count(graph.total_params)} "
            f"parameters · {_count(graph.total_macs)} MACs per image"
        )
        log.debug("drew %s (%s) in %.3f s", graph.name, self._mode, self.build_seconds)
        self._on_selection_changed(self._state.selection, reveal=False)
        self.fit()

    def _keras_layers(self) -> dict[str, Any]:
        if self._model is None:
            return {}
        return {layer.name: layer for layer in self._model.network.layers}

    def _draw_graph(self, graph: Any, layers: dict[str, Any]) -> None:
        from engine.inspection.architecture import layout

        lay = layout(graph)
        k = theme().zoom()

        def centre(lane: int, rank: int) -> QPointF:
            return QPointF(lane * LANE_DX * k, rank * RANK_DY * k)

        for node in graph.nodes:
            item = NodeItem(node, _detail(layers.get(node.name)))
            item.setPos(centre(*lay.positions[node.name]))
            item.setToolTip(self._tooltip(node))
            self.scene.addItem(item)
            self._items[node.name] = item
        for a, b in graph.edges:
            route = lay.routes[(a, b)]
            points = [centre(*p) for p in route]
            points[0] = points[0] + QPointF(0, NODE_H * k / 2)
            points[-1] = points[-1] - QPointF(0, NODE_H * k / 2)
            edge = EdgeItem(a, b, points)
            self.scene.addItem(edge)
            self._edges.append(edge)

    def _draw_volumes(self, graph: Any, layers: dict[str, Any]) -> None:
        nodes = list(graph.nodes)
        maps = [n.output_shape for n in nodes if len(n.output_shape) == 3]
        top_hw = max(max(s[0] or 1, s[1] or 1) for s in maps)
        top_c = max(s[2] or 1 for s in maps)
        vectors = [math.prod(d or 1 for d in n.output_shape) for n in nodes]
        top_v = max(vectors) if vectors else 1
        x = 0.0
        previous: VolumeItem | None = None
        for node, units in zip(nodes, vectors, strict=True):
            shape = node.output_shape
            if len(shape) == 3:
                # The face is H x W to scale; the depth follows the square root of C, so
                # LeNet's 6 maps still show as a stack beside its 120 (LeCun's figure).
                h, w, c = (d or 1 for d in shape)
                face = (max(4.0, 200.0 * w / top_hw), max(4.0, 200.0 * h / top_hw))
                depth = max(2.0, 130.0 * math.sqrt(c / top_c))
            else:
                # A vector: a bar whose length follows the logarithm of its units (a
                # linear bar would make 10 units invisible beside 9,216).
                share = math.log(max(units, 2)) / math.log(max(top_v, 3))
                face = (10.0, 20.0 + 180.0 * share)
                depth = 0.0
            item = VolumeItem(node, face, depth, _detail(layers.get(node.name)))
            item.setPos(x, 0)
            item.setToolTip(self._tooltip(node))
            self.scene.addItem(item)
            self._items[node.name] = item
            if previous is not None:
                a = QPointF(
                    previous.x() + previous._box_left() + previous.face_w + previous.dx + 4, 0
                )
                b = QPointF(x + item._box_left() - 4, 0)
                edge = EdgeItem(previous.name, node.name, [a, b])
                self.scene.addItem(edge)
                self._edges.append(edge)
            previous = item
            x += item.width() + 34
        legend = QGraphicsSimpleTextItem(
            "Each box is a layer's output: its front face is H x W to scale, its depth "
            "follows √C (the number of maps). A bar is a vector: its length follows log(units)."
        )
        legend.setBrush(QColor("#505050"))
        legend.setFont(_box_font(False))
        lowest = max(item.boundingRect().bottom() for item in self._items.values())
        legend.setPos(0, lowest + 12)
        self.scene.addItem(legend)

    def _tooltip(self, node: Any) -> str:
        ins = self.graph.inbound(node.name) if self.graph is not None else []
        text = (
            f"<b>{node.name}</b> ({node.type})<br>output {_shape_text(node.output_shape)}"
            f"<br>{node.params:,} parameters, {node.macs:,} multiply-accumulates"
        )
        if ins:
            text += "<br>takes " + ", ".join(ins)
        return text

    # -- selection -------------------------------------------------------------------------
    def _on_node_clicked(self, name: str) -> None:
        if name not in self._layer_names:
            return  # an input of a Sequential model is not one of its layers
        self._state.select_layer(name)

    def _on_selection_changed(self, selection: Any, reveal: bool = True) -> None:
        layer = getattr(selection, "layer", None)
        for name, item in self._items.items():
            item.set_selected(name == layer)
        if reveal:
            self._reveal_selection()

    def _reveal_selection(self) -> None:
        item = self._items.get(self._state.selection.layer or "")
        if item is not None:
            self.canvas.ensureVisible(item, 40, 40)

    def showEvent(self, event) -> None:
        super().showEvent(event)
        if not self.canvas.adjusted:
            self.fit()

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        if not self.canvas.adjusted:
            self.fit()


if __name__ == "__main__":
    from gui.preview import preview

    preview(ArchitectureView, size=(900, 800))
