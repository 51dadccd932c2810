"""Beside the bars of a Flatten or Dense layer: where its values sit on the maps.

The lecture's "after convolution" slide flattens the last maps into one vector and feeds
it to dense layers. This view keeps the vector connected to the maps it came from:

- Flatten: the bar under the mouse is one pixel of one map (channels-last: the channel
  changes fastest); that map is shown with the pixel framed, and the sentence says
  ``flatten[1234] = max_pooling2d map 18, row 1, col 7: 0.42``.
- Dense reading a Flatten of maps: a unit's weights (its column of the kernel) laid back
  on those maps, one small map per channel, blue below zero, red above, white at zero;
  the mouse over a weight says which pixel it weighs.

A view of the application state (the model, its activations, the selected layer); the
Dense unit shown is this view's own choice (a bar clicked, or the spin box), since the
state's selection has units of maps only. It starts no work: everything it shows is
read from arrays already computed.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QSignalBlocker
from PySide6.QtWidgets import QHBoxLayout, QLabel, QSizePolicy, QSpinBox, QVBoxLayout, QWidget

from engine.imaging.mosaic import Mosaic, tile_maps
from engine.inspection.activations import inbound_layers
from engine.inspection.links import FlatSource, dense_source, dense_unit_weights, flat_source
from gui.state import AppState
from gui.theme import theme
from gui.widgets.colour import diverging_map
from gui.widgets.map_view import MapView

NONE = -1  # the unit spin box's "no unit" value


class FlatLinks(QWidget):
    """The maps behind a Flatten's bars, or a Dense unit's weights on those maps.

    Public: ``view`` (a ``MapView``), ``note`` (the sentence about the value under the
    mouse or the unit shown), ``unit_spin``, ``source()`` (the ``FlatSource`` of the
    selected layer, or None), ``hover(index)``, ``choose_unit(index)``, ``weights()``
    (the (H, W, C) weights shown, or None), ``mosaic()``.
    """

    def __init__(self, state: AppState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._state = state
        self._source: FlatSource | None = None
        self._flatten: str | None = None  # the Flatten a Dense layer reads
        self._dense = False  # the selected layer is a Dense reading the maps
        self._context: tuple[int, str] | None = None  # (model serial, layer)
        self._weights: np.ndarray | None = None
        self._mosaic: Mosaic | None = None
        self._cmap = None  # the panel's colour map, for maps of activations
        self._hovered: int | None = None
        self._acts = None  # the activations shown
        self._shown: tuple[int, int] | None = None  # (id of the activations, channel) shown

        self.view = MapView("")
        self.view.setToolTip("Wheel to zoom, drag to pan")
        self.view.scene().sigMouseMoved.connect(self._on_view_moved)
        self.note = QLabel()
        self.note.setWordWrap(True)
        self.note.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        theme().style_text(self.note, bold=True)
        self.unit_label = QLabel("Unit")
        self.unit_spin = QSpinBox()
        self.unit_spin.setRange(NONE, NONE)
        self.unit_spin.setSpecialValueText("none")
        self.unit_spin.setToolTip("The unit whose weights are laid on the maps (or click its bar)")
        self.unit_spin.valueChanged.connect(self._on_unit_changed)
        row = QHBoxLayout()
        row.addWidget(self.unit_label)
        row.addWidget(self.unit_spin)
        row.addStretch(1)
        self.unit_row = QWidget()
        self.unit_row.setLayout(row)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.unit_row)
        layout.addWidget(self.view, 1)
        layout.addWidget(self.note)
        state.activations_changed.connect(lambda _a: self.refresh())
        state.selection_changed.connect(lambda _s: self.refresh())
        self.setVisible(False)

    # -- what the selected layer reads ---------------------------------------------------
    def set_colour_map(self, cmap) -> None:
        """The colour map of activation maps (the panel's choice)."""
        self._cmap = cmap
        if self._weights is None:
            self.view.set_colour_map(cmap)

    def source(self) -> FlatSource | None:
        """The maps the selected layer's vector is laid out from, or None."""
        return self._source

    def refresh(self) -> None:
        """Follow the state: show for a Flatten of maps or a Dense layer reading one."""
        state = self._state
        acts, layer = state.activations, state.selection.layer
        self._source, self._flatten, self._dense = None, None, False
        if acts is not None and layer is not None and acts.model is state.model:
            model = acts.model
            inbound = state.scheduler.memo(
                ("inbound", model.serial), lambda: inbound_layers(model.network)
            )
            flat = flat_source(model.network, acts.maps, inbound, layer)
            dense = dense_source(model.network, acts.maps, inbound, layer) if flat is None else None
            if flat is not None:
                self._source, self._flatten = flat, layer
            elif dense is not None:
                (self._flatten, self._source), self._dense = dense, True
        context = None if self._source is None else (acts.model.serial, layer)
        self.setVisible(self._source is not None)
        if context != self._context:
            self._context, self._acts = context, acts
            self._hovered = None
            self._show_start()
        elif acts is not self._acts:  # a new input, the same layer: its values again
            self._acts = acts
            if self._dense and self.unit_spin.value() != NONE:
                self._on_unit_changed(self.unit_spin.value())
            elif not self._dense and self._hovered is not None:
                self.hover(self._hovered)

    def _show_start(self) -> None:
        """A new layer: a Flatten shows its strongest value; a Dense layer waits for a
        unit to be chosen."""
        self._weights, self._mosaic, self._shown = None, None, None
        self.view.clear_image()
        self.view.set_mark(None)
        self.view.set_labels()
        self.unit_row.setVisible(self._dense)
        self.unit_spin.setValue(NONE)  # said, so the bars drop their outline too
        if self._source is None:
            self.note.setText("")
            return
        acts, layer = self._state.activations, self._state.selection.layer
        values = acts.maps[layer]
        if self._dense:
            with QSignalBlocker(self.unit_spin):
                self.unit_spin.setRange(NONE, values.shape[0] - 1)
            self.view.set_title(f"{layer}: a unit's weights on the maps of {self._source.layer}")
            self.note.setText(
                f"Click a bar (a unit of {layer}) to lay its {self._source.size} weights on "
                f"the {self._source.shape[2]} maps of {self._source.layer} they read."
            )
            return
        self.hover(int(np.argmax(values)) if values.size else 0)

    # -- Flatten: a value and its pixel --------------------------------------------------
    def hover(self, index: int) -> None:
        """The bar ``index`` of the selected layer is under the mouse (-1: none)."""
        acts, layer, source = self._state.activations, self._state.selection.layer, self._source
        if source is None or acts is None or index < 0:
            return
        values = acts.maps[layer]
        if index >= values.shape[0]:
            return
        self._hovered = index
        if self._dense:
            self.note.setText(
                f"{layer}[{index}] = {float(values[index]):.4g} (unit {index}); click its "
                f"bar to lay its weights on the maps of {source.layer}."
            )
            return
        row, col, channel = source.position(index)
        maps = acts.maps[source.layer]
        self.note.setText(
            f"{layer}[{index}] = {source.layer} map {channel}, row {row}, col {col}: "
            f"{float(values[index]):.4g}"
        )
        if self._cmap is not None:
            self.view.set_colour_map(self._cmap)
        if self._shown != (id(acts), channel):  # a map is drawn again only when it changes
            self._shown = (id(acts), channel)
            self.view.set_title(self._map_title(channel))
            self.view.set_image(maps[:, :, channel])
        self.view.set_mark((row, col, 1, 1))

    def _map_title(self, channel: int) -> str:
        h, w, _c = self._source.shape
        return f"{self._source.layer} map {channel} ({h}x{w}), the pixel framed"

    def hovered(self) -> int | None:
        """The bar last hovered (or shown first), None before any."""
        return self._hovered

    # -- Dense: a unit's weights on the maps ---------------------------------------------
    def choose_unit(self, index: int) -> None:
        """Lay unit ``index``'s weights on the maps (a bar of a Dense layer clicked)."""
        if self._dense and 0 <= index <= self.unit_spin.maximum():
            self.unit_spin.setValue(index)

    def _on_unit_changed(self, unit: int) -> None:
        state, source = self._state, self._source
        acts, layer = state.activations, state.selection.layer
        if not self._dense or source is None or acts is None or unit == NONE:
            return
        read = dense_unit_weights(acts.model.network, layer, unit)
        if read is None:
            self._weights, self._mosaic = None, None
            self.view.clear_image()
            self.note.setText(f"The weights of {layer} are not read from this kind of model.")
            return
        column, bias = read
        self._weights = source.on_maps(column)
        self._mosaic = tile_maps(self._weights, normalisation="none", gap=1)
        m = float(np.nanmax(np.abs(self._weights))) or 1.0
        self._shown = None
        self.view.set_title(f"{layer} unit {unit}'s weights on the maps of {source.layer}")
        self.view.set_colour_map(diverging_map())
        self.view.set_image(self._mosaic.image, levels=(-m, m))
        self.view.set_labels(self._mosaic.origins, self._mosaic.map_shape)
        self.view.set_mark(None)
        flat = acts.maps[self._flatten]
        total = float(np.dot(flat.astype(np.float64), column.astype(np.float64)))
        z = total + bias
        self.note.setText(
            f"{layer} unit {unit}: Σ weight × value over the {source.size} values "
            f"= {total:.4g}, + bias {bias:.3g} = {z:.4g} before its activation; "
            f"the bar is {float(acts.maps[layer][unit]):.4g}. Blue weights lower it, red "
            "raise it."
        )

    def weights(self) -> np.ndarray | None:
        """The (H, W, C) weights of the unit shown, or None."""
        return self._weights

    def mosaic(self) -> Mosaic | None:
        return self._mosaic

    def _on_view_moved(self, scene_pos) -> None:
        if self._mosaic is None or self._weights is None or self._source is None:
            return
        pos = self.view.image_item.mapFromScene(scene_pos)
        channel = self._mosaic.index_at(pos.y(), pos.x())
        if channel is None:
            return
        top, left = self._mosaic.origins[channel]
        row, col = int(pos.y()) - top, int(pos.x()) - left
        source, acts = self._source, self._state.activations
        unit = self.unit_spin.value()
        index = source.index(row, col, channel)
        pixel = float(acts.maps[source.layer][row, col, channel])
        self.note.setText(
            f"Weight of unit {unit} on {self._flatten}[{index}] = {source.layer} map "
            f"{channel}, row {row}, col {col}: {float(self._weights[row, col, channel]):.4g} "
            f"(the pixel is {pixel:.4g} for this input)"
        )
