"""The block of the selected layer, as the lecture draws it, with this input's maps.

- An **inception module** (InceptionV3's ``mixed0`` … ``mixed10``, GoogLeNet's "let the
  network decide the filter size"): its parallel branches side by side, each labelled by
  its filters ("1x1", "5x5", "3x3→3x3", "pool + 1x1") and showing its last layer's maps,
  then their concatenation.
- A **residual block** (ResNet50's sixteen): the block input x, the residual branch F(x)
  (its last layer before the addition), the shortcut (x itself, or its 1x1 projection
  where the shape changes) and the output ReLU(F(x) + shortcut(x)), side by side on one
  colour scale, with ‖F(x)‖ / ‖shortcut(x)‖ for this input.
- Any other layer: a line saying so, and the combo box to pick a module or block (which
  selects its output layer in the application state).

The blocks are read from the model's graph by ``engine.inspection.architecture``; the maps are the
state's activations; the view keeps neither.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from PySide6.QtCore import QSignalBlocker, Qt, QTimer
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from engine.imaging.mosaic import Mosaic, tile_maps
from gui.state import same_layers
from gui.widgets.map_view import MapView

log = logging.getLogger(__name__)

INCEPTION, RESIDUAL = "inception", "residual"


@dataclass(frozen=True)
class Blocks:
    """The inception modules and residual blocks of one model, and which block each
    layer belongs to (a block's input belongs to the block before it)."""

    modules: tuple[Any, ...]  # engine.inspection.architecture.InceptionModule
    residual: tuple[Any, ...]  # engine.inspection.architecture.ResidualBlock
    member: dict[str, str]  # layer -> block name
    by_name: dict[str, Any]

    @classmethod
    def of(cls, model: Any) -> Blocks:
        from engine.inspection.architecture import inception_modules, model_graph, residual_blocks

        graph = model_graph(model)
        modules = tuple(inception_modules(model, graph))
        residual = tuple(residual_blocks(model, graph))
        member: dict[str, str] = {}
        for m in modules:
            for b in m.branches:
                member.update(dict.fromkeys(b.layers, m.name))
            member[m.output] = m.name
        for r in residual:
            for name in (*r.residual, *r.shortcut, r.add, r.activation):
                if name is not None:
                    member[name] = r.name
        by_name = {x.name: x for x in (*modules, *residual)}
        return cls(modules, residual, member, by_name)

    @staticmethod
    def output_of(block: Any) -> str:
        """The layer that stands for the block: the concatenation, or the activation after
        the addition."""
        if hasattr(block, "branches"):
            return block.output
        return block.activation or block.add


def _shape(a: np.ndarray) -> str:
    return "×".join(str(d) for d in a.shape)


class BlockTile(QWidget):
    """One part of a block: a caption and the maps of one layer as a small mosaic.

    ``layer`` and ``maps`` are what it shows (the state's array, not a copy), ``mosaic``
    the image drawn.
    """

    MAX_SIDE = 360  # mosaic pixels on its longer side; bigger layers are shrunk for display

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.caption = QLabel()
        self.caption.setTextFormat(Qt.TextFormat.RichText)
        self.caption.setWordWrap(True)
        self.caption.setAlignment(Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop)
        self.caption.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Minimum)
        self.view = MapView("", colour_bar=True)
        self.view.setMinimumSize(110, 130)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addWidget(self.caption)
        layout.addWidget(self.view, 1)
        self.title = ""
        self.layer: str | None = None
        self.maps: np.ndarray | None = None
        self.mosaic: Mosaic | None = None
        self.levels: tuple[float, float] | None = None  # None: each map on its own scale

    def columns_for(self, shape: tuple[int, ...]) -> int:
        """Columns that give the mosaic about the view's aspect ratio (tiles side by side
        are tall and narrow)."""
        h, w, c = shape
        size = self.view.size()
        aspect = size.width() / size.height() if size.height() > 0 and size.width() > 0 else 1
        aspect = min(max(aspect, 0.25), 4.0)
        return max(1, min(c, round(math.sqrt(c * aspect * h / max(w, 1)))))

    def set_caption(self, title: str, detail: str) -> None:
        self.title = title
        self.caption.setText(f"<b>{title}</b><br><small>{detail}</small>")

    def show_maps(
        self,
        layer: str,
        maps: np.ndarray | None,
        levels: tuple[float, float] | None,
        colour_bar: bool = True,
        columns: int | None = None,
    ) -> None:
        """Show ``maps`` (H, W, C) of ``layer``: each map on its own scale (``levels``
        None, no colour bar) or all on ``levels`` (with a colour bar of the values unless
        ``colour_bar`` is False: tiles that share one scale show it once). ``columns``
        of maps in the mosaic: by default, as many as give it the view's shape."""
        self.layer, self.maps, self.levels = layer, maps, levels
        if maps is None or maps.ndim != 3:
            self.mosaic = None
            self.view.clear_image()
            return
        gap = max(1, maps.shape[0] // 12)
        norm = "per_map" if levels is None else "none"
        self.mosaic = tile_maps(
            maps,
            columns=columns or self.columns_for(maps.shape),
            normalisation=norm,
            gap=gap,
            max_side=self.MAX_SIDE,
        )
        self.view.set_image(self.mosaic.image, levels=levels or (0.0, 1.0))
        self._show_colour_bar(levels is not None and colour_bar)

    def _show_colour_bar(self, on: bool) -> None:
        # A hidden item keeps its place in a graphics layout: take it out, so the maps
        # get the room.
        bar = self.view.colour_bar
        if bar is None:
            return
        inside = bar.parentItem() is not None
        if on and not inside:
            self.view.addItem(bar, row=1, col=1)
        elif not on and inside:
            self.view.removeItem(bar)
        bar.setVisible(on)


class BlockView(QWidget):
    """The inception module or residual block of the selected layer, with its maps.

    Public: ``combo`` (pick a module or block by name: selects its output layer),
    ``tiles`` (the ``BlockTile``s shown, in order), ``current_block()``, ``kind()``
    (``"inception"``, ``"residual"`` or None), ``block_names()``, ``norm_ratio()``
    (‖F(x)‖ / ‖shortcut(x)‖ of the residual block shown), ``message`` (the line shown
    when the selection is in no block), ``ratio_label``.
    """

    MAX_TILES = 5

    def __init__(self, state: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._state = state
        self._blocks: Blocks | None = None
        self._block: Any = None
        self._shown: tuple[Any, str] | None = None  # (activations, block name) drawn
        self._model: Any = None  # the OpenModel whose blocks are listed
        self._ratio: float | None = None

        self.combo = QComboBox()
        self.combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.combo.activated.connect(self._on_combo_activated)
        self.heading = QLabel()
        self.heading.setTextFormat(Qt.TextFormat.RichText)
        self.heading.setWordWrap(True)
        self.message = QLabel()
        self.message.setWordWrap(True)
        self.message.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        self.ratio_label = QLabel()
        self.ratio_label.setWordWrap(True)
        self.ratio_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        self._all_tiles = [BlockTile() for _ in range(self.MAX_TILES)]
        self.tiles: list[BlockTile] = []
        row = QHBoxLayout()
        row.setSpacing(6)
        for tile in self._all_tiles:
            row.addWidget(tile, 1)
            tile.hide()
        self.tile_row = QWidget()
        self.tile_row.setLayout(row)

        top = QHBoxLayout()
        top.addWidget(QLabel("Module or block:"))
        top.addWidget(self.combo)
        top.addStretch(1)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.heading)
        layout.addWidget(self.message)
        layout.addWidget(self.tile_row, 1)
        layout.addWidget(self.ratio_label)
        layout.addStretch(0)  # takes the room when there are no tiles

        # Tiles are tiled to their views' shape: again when the size settles after a resize.
        self._retile_timer = QTimer(self)
        self._retile_timer.setSingleShot(True)
        self._retile_timer.setInterval(150)
        self._retile_timer.timeout.connect(self._retile)

        self._stale = False  # the state changed while the view was hidden
        state.model_changed.connect(self._on_model_changed)
        state.activations_changed.connect(lambda _a: self._refresh())
        state.selection_changed.connect(lambda _s: self._refresh())
        self._on_model_changed(state.model)

    # -- what the view shows ---------------------------------------------------------------
    def current_block(self) -> Any:
        """The ``InceptionModule`` or ``ResidualBlock`` shown, or None."""
        return self._block

    def kind(self) -> str | None:
        if self._block is None:
            return None
        return INCEPTION if hasattr(self._block, "branches") else RESIDUAL

    def block_names(self) -> list[str]:
        if self._blocks is None:
            return []
        return [b.name for b in (*self._blocks.modules, *self._blocks.residual)]

    def norm_ratio(self) -> float | None:
        """‖F(x)‖ / ‖shortcut(x)‖ (L2 norms over all values) of the residual block shown
        for the current input, None otherwise."""
        return self._ratio

    # -- model and selection ---------------------------------------------------------------
    def _on_model_changed(self, model: Any) -> None:
        if same_layers(self._model, model):  # an edit of its weights: the same blocks
            self._model = model
            self._refresh()
            return
        self._model = model
        self._blocks = None
        if model is not None:
            try:
                self._blocks = Blocks.of(model.network)
            except ValueError as exc:  # a model file without a graph of layers
                log.info("no blocks for %s: %s", getattr(model, "key", model), exc)
        with QSignalBlocker(self.combo):
            self.combo.clear()
            names = self.block_names()
            if names:
                self.combo.addItem("Choose a module or block…", None)
                for m in self._blocks.modules:
                    self.combo.addItem(f"{m.name} (inception module)", m.name)
                for r in self._blocks.residual:
                    how = "identity" if r.identity else "projection"
                    self.combo.addItem(f"{r.name} (residual block, {how} shortcut)", r.name)
            else:
                self.combo.addItem("No inception modules or residual blocks", None)
            self.combo.setEnabled(bool(names))
        self._shown = None
        self._refresh()

    def _on_combo_activated(self, index: int) -> None:
        name = self.combo.itemData(index)
        if name is None or self._blocks is None:
            return
        self._state.select_layer(Blocks.output_of(self._blocks.by_name[name]))

    def _refresh(self) -> None:
        if not self.isVisible():
            # Hidden (another tab shown): nothing is read or tiled now (ResNet50's block
            # maps, layer after layer clicked, cost the UI thread and derived layers
            # nobody saw); shown again, it catches up.
            self._stale = True
            return
        self._stale = False
        blocks, layer = self._blocks, self._state.selection.layer
        name = blocks.member.get(layer or "") if blocks is not None else None
        block = blocks.by_name[name] if name is not None else None
        with QSignalBlocker(self.combo):
            index = self.combo.findData(name) if name is not None else 0
            self.combo.setCurrentIndex(max(index, 0))
        acts = self._state.activations
        shown = self._shown
        if block is not None and block is self._block and shown and shown[0] is acts:
            return  # only the map or unit changed
        self._block = block
        self._shown = (acts, name) if block is not None else None
        self._ratio = None
        self.ratio_label.clear()
        if block is None:
            self._show_no_block(layer)
            return
        if acts is not None and acts.model is not self._state.model:
            acts = None
        if acts is None:
            busy = self._state.busy() or self._state.input is not None
            self.message.setText(
                "Computing the maps…" if busy else "Load an image to see the maps."
            )
            self.message.show()
        else:
            self.message.hide()
        if self.kind() == INCEPTION:
            self._show_module(block, acts)
        else:
            self._show_residual(block, acts)

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        if self.tiles:
            self._retile_timer.start()

    def showEvent(self, event) -> None:
        super().showEvent(event)
        if self._stale:
            self._refresh()
        if self.tiles:
            self._retile_timer.start()

    def _retile(self) -> None:
        first = self.tiles[0] if self.tiles else None
        if first is None or first.maps is None or first.mosaic is None:
            return
        if first.columns_for(first.maps.shape) != first.mosaic.columns:
            self._shown = None
            self._refresh()

    def _use_tiles(self, n: int) -> list[BlockTile]:
        self.tiles = self._all_tiles[:n]
        for i, tile in enumerate(self._all_tiles):
            tile.setVisible(i < n)
        self.tile_row.setVisible(n > 0)
        return self.tiles

    def _show_no_block(self, layer: str | None) -> None:
        self._use_tiles(0)
        self.heading.clear()
        if not self.block_names():
            model = self._state.model
            title = model.loaded.title if model is not None else "No model is open; it"
            self.message.setText(
                f"{title} has no inception modules or residual blocks: open InceptionV3 or "
                "ResNet50 to see them."
            )
        elif layer is None:
            self.message.setText("Choose an inception module or a residual block above.")
        else:
            self.message.setText(
                f"{layer} is in no inception module or residual block: choose one above."
            )
        self.message.show()

    # -- inception module ------------------------------------------------------------------
    def _show_module(self, module: Any, acts: Any) -> None:
        maps = acts.maps if acts is not None else {}
        x = maps.get(module.input)
        shape = f" ({_shape(x)})" if x is not None else ""
        self.heading.setText(
            f"<b>Inception module {module.name}</b>: its input <i>{module.input}</i>{shape} "
            f"goes through {len(module.branches)} branches side by side, each with its own "
            "filter size; their maps are stacked into one output. The network learns how "
            "much each filter size matters. (Each map is scaled to its own range.)"
            + (
                " <b>Untrained model</b>: random weights, the maps mean nothing."
                if acts is not None and not acts.model.loaded.trained
                else ""
            )
        )
        tiles = self._use_tiles(len(module.branches) + 1)
        counts = []
        for i, (tile, branch) in enumerate(zip(tiles, module.branches, strict=False)):
            last = branch.layers[-1] if branch.layers else module.input
            a = maps.get(last)
            if a is not None:
                counts.append(str(a.shape[-1]))
            detail = f"{last}" + (f" · {_shape(a)}" if a is not None else "")
            tile.set_caption(f"Branch {i + 1}: {branch.label}", detail)
            tile.show_maps(last, a, None)
        out = maps.get(module.output)
        stacked = " + ".join(counts) + " maps" if out is not None else ""
        detail = module.output + (f" · {_shape(out)} = {stacked}" if out is not None else "")
        tiles[-1].set_caption("Concatenation", detail)
        tiles[-1].show_maps(module.output, out, None)

    # -- residual block --------------------------------------------------------------------
    def _kernels(self, names: tuple[str, ...]) -> str:
        model = self._state.model
        sizes = []
        for name in names:
            try:
                layer = model.network.get_layer(name)
            except (ValueError, AttributeError):  # no such layer; an ONNX node: no sizes
                continue
            k = getattr(layer, "kernel_size", None)
            if k is not None:
                stride = getattr(layer, "strides", (1,))
                step = f" /{stride[0]}" if any(s != 1 for s in stride) else ""
                sizes.append("x".join(str(d) for d in k) + step)
        return " → ".join(sizes)

    def _show_residual(self, block: Any, acts: Any) -> None:
        maps = acts.maps if acts is not None else {}
        output = block.activation or block.add
        x = maps.get(block.input)
        fx = maps.get(block.residual[-1]) if block.residual else None
        shortcut_layer = block.shortcut[-1] if block.shortcut else block.input
        sx = maps.get(shortcut_layer)
        out = maps.get(output)
        if block.identity:
            shortcut = "the identity: x itself"
        else:
            shortcut = (
                f"a projection of x ({self._kernels(block.shortcut)} convolution), because "
                "F(x)'s shape differs from x's"
            )
        untrained = ""
        if acts is not None and not acts.model.loaded.trained:
            untrained = " <b>Untrained model</b>: random weights, the maps mean nothing."
        self.heading.setText(
            f"<b>Residual block {block.name}</b>: the output is "
            f"{'ReLU(' if block.activation else '('}F(x) + shortcut(x)), where F is the "
            f"residual branch ({self._kernels(block.residual)} convolutions) and the "
            f"shortcut is {shortcut}. The block only has to learn what to add to x. "
            f"(One colour scale for all four, shown on the right.){untrained}"
        )
        parts = [
            ("x: the block's input", block.input, x),
            ("F(x): the residual branch", block.residual[-1], fx),
            (
                "shortcut(x) = x (identity)" if block.identity else "shortcut(x): 1x1 projection",
                shortcut_layer,
                sx,
            ),
            (
                "ReLU(F(x) + shortcut(x))" if block.activation else "F(x) + shortcut(x)",
                output,
                out,
            ),
        ]
        arrays = [a for _t, _n, a in parts if a is not None and a.ndim == 3]
        levels = None
        if arrays:
            lo = min(float(np.nanmin(a)) for a in arrays)
            hi = max(float(np.nanmax(a)) for a in arrays)
            levels = (lo, hi if hi > lo else lo + 1.0)
        tiles = self._use_tiles(len(parts))
        for tile, (title, layer, a) in zip(tiles, parts, strict=True):
            tile.set_caption(title, layer + (f" · {_shape(a)}" if a is not None else ""))
            # One scale for the four: its colour bar once, beside the last; the maps in
            # the same columns in every tile (the first has no bar), so they line up.
            columns = tiles[0].columns_for(a.shape) if a is not None and a.ndim == 3 else None
            bar = tile is tiles[-1]
            tile.show_maps(layer, a, levels or (0.0, 1.0), colour_bar=bar, columns=columns)
        if fx is not None and sx is not None:
            self._ratio = residual_ratio(fx, sx)
            which = "‖F(x)‖ / ‖x‖" if block.identity else "‖F(x)‖ / ‖shortcut(x)‖"
            what = (
                "the shortcut is the identity, so shortcut(x) = x"
                if block.identity
                else f"shortcut(x) is x projected by {shortcut_layer}"
            )
            self.ratio_label.setText(
                f"{which} = {self._ratio:.3g} for this input (L2 norms over all "
                f"{fx.size:,} values; {what}). Below 1, the block adds a correction "
                "smaller than what passes through the shortcut."
            )


def residual_ratio(fx: np.ndarray, shortcut: np.ndarray) -> float:
    """‖F(x)‖ / ‖shortcut(x)‖: L2 (Frobenius) norms over every value, in float64.

    >>> residual_ratio(np.full((2, 2, 1), 1.0), np.full((2, 2, 1), 2.0))
    0.5
    """
    den = float(np.linalg.norm(np.asarray(shortcut, np.float64).ravel()))
    num = float(np.linalg.norm(np.asarray(fx, np.float64).ravel()))
    return num / den if den > 0 else float("inf")


if __name__ == "__main__":
    from gui.preview import preview

    preview(BlockView, size=(1300, 600))
