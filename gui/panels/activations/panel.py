"""Activations: every layer's feature maps of the MNIST CNN, VGG16, ResNet50 or your model.

A view of the application state: the model, the input, their activations and the
selected layer and map all live in ``AppState``; this panel draws them and writes the
person's choices back as intents.
"""

from __future__ import annotations

import logging
import math
import traceback
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from PySide6.QtCore import QSettings, QSignalBlocker, Qt, Signal
from PySide6.QtGui import QCursor
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QMenu,
    QProgressBar,
    QPushButton,
    QSizePolicy,
    QSpinBox,
    QSplitter,
    QStackedWidget,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from engine.imaging.display import input_to_pixels
from engine.imaging.figure import compose, enlarge
from engine.imaging.filters import filter_images
from engine.imaging.mosaic import Mosaic, tile_maps, tile_rgb
from engine.inspection.activations import (
    LayerInfo,
    MapStats,
    conv_kernel,
    gradients_unavailable,
    inbound_layers,
    layer_summary,
)
from engine.inspection.blocks import block_names
from engine.inspection.links import (
    AVERAGE_POOL,
    IDENTITY,
    MAX_POOL,
    layer_kind,
    map_before,
    pool_window,
    window_arithmetic,
)
from engine.models.digits import looks_like_a_digit
from engine.models.zoo import IMAGENET_MODELS, MODEL_TITLES, SCALING_LABELS, PretrainedUnavailable
from engine.util.files import atomic_path
from engine.util.paths import sample_images
from gui.panels.activations.architecture import ArchitectureView
from gui.panels.activations.blocks import BlockView
from gui.panels.activations.edit import EditView
from gui.panels.activations.explain import ExplainView
from gui.panels.activations.flat_links import FlatLinks
from gui.panels.activations.layer_tree import LayerTree
from gui.panels.activations.live import LiveInput
from gui.panels.activations.triage import ChannelOrder, TriageBar
from gui.panels.activations.unit_bars import UnitBars
from gui.panels.activations.wants import FeatureVisView
from gui.panels.base import Panel
from gui.scheduler import Ticket
from gui.state import (
    DRAWN_DIGIT_NAME,
    Activations,
    AppState,
    InputImage,
    InputKind,
    OpenModel,
    Selection,
)
from gui.theme import theme
from gui.widgets.colour import COLOUR_MAPS, colour_lut, colour_map, colourise
from gui.widgets.image_source import ImageSource, dropped_path, remember_folder, start_folder
from gui.widgets.map_view import MapView
from gui.widgets.message_bar import MessageBar, summarise
from gui.widgets.overlay_view import OverlayView
from gui.workers import Task

log = logging.getLogger(__name__)

FILE_KEY = "file"
#: Where the model, weights and labels file dialogs remember their last folder.
MODEL_DIR = "activations/model_dir"
MODEL_FILE = "A model file (Keras, ONNX)…"
#: The Model entry that opens a file dialog (the file open now has an entry of its own,
#: FILE_KEY, named after the file).
OPEN_FILE = "open-file"
DRAWN_DIGIT = "The digit drawn in the Draw panel"
LIVE_INPUT = "Live: a camera or video file (below)"
#: Normalisation keys (stored in settings) and their labels.
NORMALISATIONS = {"per_map": "Each map on its own", "per_layer": "The whole layer together"}
#: The keras.applications models: ImageNet weights, a weights file or untrained.
IMAGENET_KEYS = tuple(IMAGENET_MODELS)


#: The tabs by the names scenes give them (``engine.teaching.scene.ACTIVATIONS_TABS``).
TAB_LABELS = {
    "maps": "All maps",
    "map": "One map",
    "filters": "Filters",
    "explain": "Explain",
    "wants": "What it wants",
    "edit": "Edit model",
    "blocks": "Blocks",
    "architecture": "Architecture",
}


def shrinkable(combo: QComboBox, chars: int = 12) -> None:
    """Let a combo box be narrower than its longest entry (its list still shows it)."""
    combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
    combo.setMinimumContentsLength(chars)


#: A top probability from which a digit model's answer on a picture is believed.
CONFIDENT = 0.9


def input_warning(acts: Activations) -> str:
    """A sentence when the input is not what the model was made for, else ""."""
    loaded, kind = acts.model.loaded, acts.input.kind
    # A picture that looks like a digit and that the digit model reads confidently (a
    # white 7 on black, read as 7 at 100%) is a digit as far as the warning goes.
    confident = (
        loaded.spec.digit
        and bool(acts.top)
        and acts.top[0][1] >= CONFIDENT
        and looks_like_a_digit(acts.x)
    )
    if loaded.spec.digit and kind is not InputKind.DRAWN_DIGIT and not confident:
        return (
            f"This picture is not a handwritten digit: {loaded.title} knows only the digits "
            "0-9, so its answer above means little."
        )
    if not loaded.spec.digit and kind is InputKind.DRAWN_DIGIT and loaded.class_names:
        if len(loaded.class_names) == 1000:
            return (
                "A drawn digit is not a photo: this model knows photos of 1,000 ImageNet "
                "classes, so its answer above means little."
            )
    return ""


def _filter_pictures(kernel: np.ndarray | None) -> Any:
    """A conv layer's filters as pictures (``filter_images``); False when the layer has
    none (cached as such: the scheduler's memo keeps any value but None)."""
    return False if kernel is None else filter_images(kernel)


def tile_layer(raw: np.ndarray, norm: str, max_side: int | None) -> Mosaic:
    """A layer's maps as one mosaic: per map in [0, 1] (``norm`` "per_map"), or the layer
    in its own values ("per_layer": the colour bar shows real activations)."""
    gap = max(1, raw.shape[0] // 12)
    if norm == "per_layer":
        m = tile_maps(raw, normalisation="none", gap=gap, max_side=max_side)
        finite = m.image[np.isfinite(m.image)]
        lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
        return replace(m, levels=(lo, hi if hi > lo else lo + 1.0))
    return tile_maps(raw, normalisation="per_map", gap=gap, max_side=max_side)


class ActivationsPanel(Panel):
    """Model, image, top-5, layer table, feature-map grid, enlarged map, filters, export.

    Signals
    -------
    layer_shown(str)
        The grid now shows this layer.
    exported(object)
        An export (``export_png``, ``export_npz``) was written; its ``Path``.
    """

    layer_shown = Signal(str)
    exported = Signal(object)
    opens_images = True

    def __init__(self, state: AppState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAcceptDrops(True)
        self._state = state
        self._settings = QSettings()
        self._mosaic: Mosaic | None = None  # derived from the state, for hit-testing clicks
        self._grid_channels: tuple[int, ...] = ()  # the real channel of each tile
        # What the grid shows: (activations, layer, normalisation, channel order).
        self._drawn: tuple[Activations, str | None, str, ChannelOrder | None] | None = None
        self._layers: list[LayerInfo] = []
        self._before: str | None = None  # the layer whose map is beside the enlarged one
        self._scene_model: str | None = None  # a scene's ImageNet model, still loading
        self._no_pretrained: set[str] = set()  # models whose ImageNet weights failed
        self._build_ui()
        state.model_loading.connect(self._on_model_loading)
        state.model_changed.connect(self._on_model_changed)
        state.model_failed.connect(self._on_model_failed)
        state.input_changed.connect(self._on_input_changed)
        state.activations_changed.connect(self._on_activations_changed)
        state.activations_failed.connect(self.message.show_exception)
        state.request_refused.connect(self.message.show_error)
        state.selection_changed.connect(self._on_selection_changed)
        state.busy_changed.connect(self._on_busy_changed)
        state.tensorflow_ready.connect(lambda _v: self._set_enabled(True))
        state.tensorflow_failed.connect(self.show_unavailable)
        if state.tensorflow_version is not None:
            self._set_enabled(True)
        if state.model is not None:
            self._on_model_changed(state.model)
        if state.input is None:
            self.source.choose_current()  # the first sample, decoded off the UI thread

    # -- construction ------------------------------------------------------------------
    def _build_ui(self) -> None:
        left = QVBoxLayout()
        box = QGroupBox("Model")
        bl = QVBoxLayout(box)
        self.model_combo = QComboBox()
        for key, title in MODEL_TITLES.items():
            self.model_combo.addItem(title, key)
        self.model_combo.addItem(MODEL_FILE, OPEN_FILE)
        self._model_file: Path | None = None  # the model file opened last
        self.model_combo.setToolTip("The network to look inside")
        self.model_combo.activated.connect(self._on_model_chosen)
        shrinkable(self.model_combo)
        bl.addWidget(self.model_combo)
        row = QHBoxLayout()
        self.weights_button = QPushButton("Load weights file…")
        self.weights_button.setToolTip("Use a weights file you have (e.g. downloaded elsewhere)")
        self.weights_button.clicked.connect(self.load_weights_dialog)
        self.untrained_button = QPushButton("Open untrained")
        self.untrained_button.setToolTip("The architecture with random weights, clearly marked")
        self.untrained_button.clicked.connect(self._on_untrained_clicked)
        row.addWidget(self.weights_button)
        row.addWidget(self.untrained_button)
        bl.addLayout(row)
        row = QHBoxLayout()
        self.scaling_label = QLabel("Input")
        self.scaling_combo = QComboBox()
        self.scaling_combo.addItem("as the model says (or a guess)", "auto")
        for scaling, label in SCALING_LABELS.items():
            self.scaling_combo.addItem(label, scaling.value)
        self.scaling_combo.setToolTip(
            "How your model wants its pixels (keras.applications' conventions); remembered "
            "for each model file"
        )
        self.scaling_combo.activated.connect(self._on_scaling_chosen)
        shrinkable(self.scaling_combo)
        row.addWidget(self.scaling_label)
        row.addWidget(self.scaling_combo, 1)
        self.size_spin = QSpinBox()
        self.size_spin.setRange(16, 1024)
        self.size_spin.setSingleStep(16)
        self.size_spin.setValue(224)
        self.size_spin.setPrefix("shorter side ")
        self.size_spin.setSuffix(" px")
        self.size_spin.setToolTip("Your model takes any size: the image is fed at this size")
        self.size_spin.editingFinished.connect(self._on_size_chosen)
        row.addWidget(self.size_spin)
        self.labels_button = QPushButton("Labels…")
        self.labels_button.setToolTip(
            "Name the model's classes from a text file, one name a line "
            "(NAME.labels.txt beside the model is read by itself)"
        )
        self.labels_button.clicked.connect(self.labels_dialog)
        row.addWidget(self.labels_button)
        self.scaling_row = QWidget()
        self.scaling_row.setLayout(row)
        self.scaling_row.setVisible(False)
        bl.addWidget(self.scaling_row)
        self.model_label = QLabel("TensorFlow is loading…")
        self.model_label.setWordWrap(True)
        theme().style_text(self.model_label)  # its style sheet would fix its size
        self.model_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        bl.addWidget(self.model_label)
        self.progress = QProgressBar()
        self.progress.setRange(0, 0)
        self.progress.setVisible(False)
        bl.addWidget(self.progress)
        left.addWidget(box)

        box = QGroupBox("Image")
        bl = QVBoxLayout(box)
        self.source = ImageSource(self._state, "activations")
        self.source.add_special(DRAWN_DIGIT)
        self.source.add_special(LIVE_INPUT)
        self.source.image_loaded.connect(self._on_image_loaded)
        self.source.special_chosen.connect(self._on_special_chosen)
        self.source.failed.connect(lambda text: self.source.show_failure(self.message, text))
        self.image_combo = self.source.combo
        self.open_button = self.source.open_button
        bl.addWidget(self.source)
        self.live = LiveInput(self._state)
        # Why live input stopped is said on the live line itself, by its buttons.
        self.live.started.connect(lambda _name: self.message.clear_message())
        bl.addWidget(self.live)
        self.top_list = QListWidget()
        theme().style_size(self.top_list, maximum_height=110)
        self.top_list.setToolTip("The model's five most likely classes for this image")
        bl.addWidget(QLabel("Top-5 predictions"))
        bl.addWidget(self.top_list)
        self.fit_label = QLabel()
        self.fit_label.setWordWrap(True)
        self.fit_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.fit_label.setStyleSheet("color: #8a4b00;")
        theme().style_text(self.fit_label)  # a style sheet alone would fix its size
        self.fit_label.setVisible(False)
        bl.addWidget(self.fit_label)
        left.addWidget(box)

        self.layer_table = LayerTree()
        self.layer_table.setToolTip("Click a layer to see all its feature maps")
        self.layer_table.layer_clicked.connect(self._state.select_layer)
        left.addWidget(self.layer_table, 1)
        self.message = MessageBar()
        left.addWidget(self.message)

        right = QVBoxLayout()
        row = QHBoxLayout()
        self.layer_label = QLabel("Pick a layer")
        theme().style_text(self.layer_label, 14, bold=True)
        # Long texts never widen the window: labels take the width they are given.
        self.layer_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        theme().style_size(self.layer_label, minimum_width=170)
        row.addWidget(self.layer_label, 1)
        self.norm_combo = QComboBox()
        for key, label in NORMALISATIONS.items():
            self.norm_combo.addItem(label, key)
        self.norm_combo.setToolTip("Scale each map to its own range, or the layer to one range")
        self._select_data(self.norm_combo, self._settings.value("activations/norm", "per_map"))
        self.norm_combo.currentIndexChanged.connect(self._on_norm_changed)
        self.cmap_combo = QComboBox()
        for key, (label, _name) in COLOUR_MAPS.items():
            self.cmap_combo.addItem(label, key)
        self.cmap_combo.setToolTip("Colour map of the feature maps")
        self._select_data(self.cmap_combo, self._settings.value("activations/cmap", "viridis"))
        self.cmap_combo.currentIndexChanged.connect(self._on_cmap_changed)
        row.addWidget(self.norm_combo)
        row.addWidget(self.cmap_combo)
        self.export_grid_button = QPushButton("Export grid…")
        self.export_grid_button.clicked.connect(lambda: self.export_png_dialog("grid"))
        self.export_map_button = QPushButton("Export map…")
        self.export_map_button.clicked.connect(lambda: self.export_png_dialog("map"))
        self.export_npz_button = QPushButton("Export activations…")
        self.export_npz_button.setToolTip("Every layer's activations of this image as .npz")
        self.export_npz_button.clicked.connect(self.export_npz_dialog)
        right.addLayout(row)
        row = QHBoxLayout()  # a second row, so a small window keeps every button whole
        row.addStretch()
        for b in (self.export_grid_button, self.export_map_button, self.export_npz_button):
            row.addWidget(b)
        right.addLayout(row)
        for combo in (self.norm_combo, self.cmap_combo):
            shrinkable(combo, 16)

        self.grid_view = MapView("Feature maps")
        self.grid_view.setToolTip(
            "Wheel to zoom, drag to pan, click a map to enlarge it; right-click a map to "
            "switch its channel off, scale or restore it"
        )
        self.grid_view.scene().sigMouseClicked.connect(self._on_grid_clicked)
        self.detail_input = OverlayView("Input")
        self.detail_input.setToolTip(
            "Click a pixel of the map: its receptive field is outlined here"
        )
        self.detail_map = MapView("Map")
        self.detail_map.setToolTip("Click a pixel to see which part of the input it sees")
        self.detail_map.scene().sigMouseClicked.connect(self._on_map_clicked)
        # A per-map layer (pooling) beside the same map of the layer before it.
        self.before_map = MapView("The map before")
        self.before_map.setToolTip(
            "The same map of the layer before; the window the selected pixel comes from is framed"
        )
        self.before_map.setVisible(False)
        self.pair_label = QLabel()
        self.pair_label.setWordWrap(True)
        self.pair_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.pair_label.setVisible(False)
        self.filter_view = MapView("Filter", colour_bar=False)
        self.stats_label = QLabel("Click a map in the grid.")
        self.stats_label.setWordWrap(True)
        self.stats_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        detail = QWidget()
        dl = QVBoxLayout(detail)
        top = QHBoxLayout()
        # Equal shares: without them a view's share followed its heading, which is cut
        # to the view's width, so a view once narrow stayed narrow (the map before a
        # pooling layer, after another model's).
        for view in (self.detail_input, self.before_map, self.detail_map, self.filter_view):
            top.addWidget(view, 1)
        dl.addLayout(top, 1)
        dl.addWidget(self.pair_label)
        dl.addWidget(self.stats_label)
        row = QHBoxLayout()
        self.field_label = QLabel()
        self.field_label.setWordWrap(True)
        self.field_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.erf_button = QPushButton("Effective receptive field")
        self.erf_button.setToolTip(
            "How strongly each input pixel moves the selected map pixel (its gradient)"
        )
        self.erf_button.setEnabled(False)
        self.erf_button.clicked.connect(self.show_effective_field)
        row.addWidget(self.field_label, 1)
        row.addWidget(self.erf_button)
        dl.addLayout(row)
        self.filters_view = MapView("Filters of this layer", colour_bar=False)
        self.unit_bars = UnitBars()
        self.unit_bars.setToolTip(
            "A layer of single units: one bar per unit. Over a Flatten's bar, the map "
            "pixel it is; click a Dense unit's bar to see its weights on the maps"
        )
        # Beside the bars of a Flatten (or a Dense layer reading one): the maps behind them.
        self.flat_links = FlatLinks(self._state)
        self.unit_bars.unit_hovered.connect(self.flat_links.hover)
        self.unit_bars.unit_clicked.connect(self.flat_links.choose_unit)
        self.flat_links.unit_spin.valueChanged.connect(self.unit_bars.set_chosen)
        self.grid_stack = QStackedWidget()
        self.grid_stack.addWidget(self.grid_view)
        self.grid_stack.addWidget(self.unit_bars)
        # Channel triage above the grid: order, top N, go to a channel.
        self.triage = TriageBar(self._state)
        self.triage.order_changed.connect(self._redraw_grid)
        self.triage.channel_chosen.connect(self._show_channel)
        self.triage.failed.connect(
            lambda exc: self.message.show_exception(exc, "Could not order the maps: ")
        )
        grid_page = QWidget()
        gl = QVBoxLayout(grid_page)
        gl.setContentsMargins(0, 0, 0, 0)
        gl.setSpacing(0)  # every pixel of height to the grid
        gl.addWidget(self.triage)
        bars_row = QHBoxLayout()
        bars_row.addWidget(self.grid_stack, 3)
        bars_row.addWidget(self.flat_links, 2)
        gl.addLayout(bars_row, 1)
        self.tabs = QTabWidget()
        self.tabs.addTab(grid_page, "All maps")
        self.tabs.addTab(detail, "One map")
        self.tabs.addTab(self.filters_view, "Filters")
        self.explain_view = ExplainView(self._state)
        self.tabs.addTab(self.explain_view, "Explain")
        self.featurevis_view = FeatureVisView(self._state)
        self.tabs.addTab(self.featurevis_view, "What it wants")
        self.tabs.setTabToolTip(
            self.tabs.count() - 1,
            "The image the selected channel responds to most (made by gradient ascent), "
            "and the nine inputs that excite it most",
        )
        self.edit_view = EditView(self._state)
        self.tabs.addTab(self.edit_view, "Edit model")
        self.tabs.setTabToolTip(
            self.tabs.count() - 1,
            "Scale or switch off the selected channel, undo, compare with the trained model",
        )
        self.block_view = BlockView(self._state)
        self.tabs.addTab(self.block_view, "Blocks")
        self.architecture_view = ArchitectureView(self._state)
        self.tabs.addTab(self.architecture_view, "Architecture")
        # Every tab in sight in a small window (1024x640): names shortened at their end,
        # whole in the tooltip, instead of tabs hidden behind scroll arrows.
        bar = self.tabs.tabBar()
        bar.setUsesScrollButtons(False)
        bar.setElideMode(Qt.TextElideMode.ElideRight)
        for i in range(self.tabs.count()):
            self.tabs.setTabToolTip(i, self.tabs.tabText(i))
        right.addWidget(self.tabs, 1)

        splitter = QSplitter(Qt.Orientation.Horizontal)
        lw = QWidget()
        lw.setLayout(left)
        self.controls = lw
        rw = QWidget()
        rw.setLayout(right)
        splitter.addWidget(lw)
        splitter.addWidget(rw)
        splitter.setSizes([420, 860])
        outer = QHBoxLayout(self)
        outer.addWidget(splitter)
        self._set_enabled(False)
        self._apply_colour_map()

    @staticmethod
    def _select_data(combo: QComboBox, key: object) -> None:
        index = combo.findData(str(key))
        combo.setCurrentIndex(max(index, 0))

    def _set_enabled(self, enabled: bool) -> None:
        enabled = enabled and self._state.tensorflow_version is not None
        for w in (
            self.model_combo,
            self.image_combo,
            self.open_button,
            self.export_grid_button,
            self.export_map_button,
            self.export_npz_button,
        ):
            w.setEnabled(enabled)
        # Weights files and random weights only make sense for the ImageNet models.
        imagenet = self.chosen_key() in IMAGENET_KEYS
        self.weights_button.setEnabled(enabled and imagenet)
        self.untrained_button.setEnabled(enabled and imagenet)

    # -- models ------------------------------------------------------------------------
    def chosen_key(self) -> str:
        """The model key the combo box shows (the person's choice, maybe still loading)."""
        return str(self.model_combo.currentData())

    def show_unavailable(self, exc: BaseException) -> None:
        """TensorFlow could not be loaded: nothing here can work; say why."""
        self.model_label.setText("Models are unavailable: TensorFlow could not be loaded.")
        self.message.show_exception(exc)

    def _on_model_chosen(self, index: int) -> None:
        key = self.model_combo.itemData(index)
        self._set_enabled(True)
        if key == OPEN_FILE:
            self.open_model_dialog()
        elif key == FILE_KEY:  # the file opened before, chosen again
            current = self._state.model
            if self._model_file is not None and (current is None or current.key != FILE_KEY):
                self.open_model_file(self._model_file)
        elif key in self._no_pretrained and key in IMAGENET_KEYS:
            # "Open untrained" was chosen for it in this session: no new download try.
            self._state.open_model(key, None)
            self.message.show_info(
                f"{MODEL_TITLES.get(key, key)} untrained, as chosen earlier in this session "
                "(no new download try); 'Load weights file…' gives it trained weights."
            )
        else:
            self.message.clear_message()
            self._state.open_model(key)

    def _on_untrained_clicked(self) -> None:
        key = self.chosen_key()
        self._no_pretrained.add(key)  # remembered for the session: no more download tries
        self._state.open_model(key, None)

    def _show_model_choice(self, key: str | None) -> None:
        """The Model box shows ``key`` (the model in use), without choosing it again."""
        with QSignalBlocker(self.model_combo):
            self.model_combo.setCurrentIndex(max(self.model_combo.findData(key), 0))

    def _on_model_loading(self, key: str, message: str) -> None:
        if key not in (self.chosen_key(), FILE_KEY):
            return  # another view's model (the Draw panel's LeNet-5, say)
        self.model_label.setStyleSheet("")
        self.model_label.setText(message)

    def _on_busy_changed(self, busy: bool) -> None:
        self.progress.setVisible(busy and not self.live.is_live())  # no flicker per frame

    def confirm_close(self) -> bool:
        self.live.stop()
        return True

    def show_part(self, part: str) -> None:
        """A tab by its scene name (``engine.teaching.scene.ACTIVATIONS_TABS``): ``"edit"`` the
        Edit model tab, ``"wants"`` What it wants, ``"maps"`` All maps, …"""
        label = TAB_LABELS.get(part)
        index = next((i for i in range(self.tabs.count()) if self.tabs.tabText(i) == label), -1)
        if index >= 0:
            self.tabs.setCurrentIndex(index)

    def current_part(self) -> str:
        """The scene name of the tab shown."""
        text = self.tabs.tabText(self.tabs.currentIndex())
        return next((k for k, label in TAB_LABELS.items() if label == text), "maps")

    def _on_model_changed(self, model: OpenModel) -> None:
        loaded = model.loaded
        if loaded.key == self._scene_model:
            self._scene_model = None
        if loaded.key == FILE_KEY:
            self._name_file_entry(loaded)
        self._show_model_choice(loaded.key)
        self._set_enabled(True)
        self._show_model_label(model)
        if self.message.is_error():  # about an earlier model ("could not be loaded…")
            self.message.clear_message()
        self.scaling_row.setVisible(loaded.key == FILE_KEY)
        self.size_spin.setVisible(loaded.key == FILE_KEY and loaded.spec.free_size)
        if loaded.key == FILE_KEY and loaded.spec.short_side:
            with QSignalBlocker(self.size_spin):
                self.size_spin.setValue(int(loaded.spec.short_side))
        if loaded.key == FILE_KEY:
            chosen = loaded.spec.scaling.value
            auto = loaded.scaling_source.value != "chosen"
            with QSignalBlocker(self.scaling_combo):
                self.scaling_combo.setCurrentIndex(
                    0 if auto else self.scaling_combo.findData(chosen)
                )
        self._layers = layer_summary(loaded.model)
        blocks = self._state.scheduler.memo(
            ("blocks", model.serial), lambda: block_names(loaded.model)
        )
        joins = inbound_layers(loaded.model)
        self.layer_table.set_layers(self._layers, joins, model.fields, blocks)

    def _name_file_entry(self, loaded) -> None:
        """The Model box's entry for the open model file, named after it."""
        self._model_file = Path(str(loaded.weights))
        index = self.model_combo.findData(FILE_KEY)
        if index < 0:
            index = self.model_combo.findData(OPEN_FILE)
            self.model_combo.insertItem(index, loaded.title, FILE_KEY)
        self.model_combo.setItemText(index, loaded.title)
        self.model_combo.setItemData(index, str(self._model_file), Qt.ItemDataRole.ToolTipRole)

    def _show_model_label(self, model: OpenModel) -> None:
        loaded = model.loaded
        note = loaded.note.removeprefix("untrained: ")
        text = loaded.label + (f": {note}" if note else "")
        if loaded.key == FILE_KEY:
            text += f". {loaded.scaling_note[0].upper()}{loaded.scaling_note[1:]}."
        self.model_label.setText(text)
        # Untrained, or fed another input convention than the model's own: a warning.
        conflict = loaded.key == FILE_KEY and loaded.scaling_source.value == "chosen"
        warn = not loaded.trained or (conflict and bool(loaded.scaling_reason))
        self.model_label.setStyleSheet("color: #b00020; font-weight: bold;" if warn else "")

    def _on_model_failed(self, key: str, exc: BaseException) -> None:
        if isinstance(exc, PretrainedUnavailable) and key == self._scene_model:
            # A scene (a lecture step) asked for ImageNet weights that cannot be had
            # here: its network untrained still has every layer to show.
            self._scene_model = None
            self._no_pretrained.add(key)
            self._state.open_model(key, None)
            self.message.show_info(
                f"{MODEL_TITLES.get(key, key)}'s ImageNet weights could not be had ({exc}), "
                "so the untrained network is shown: its layers and shapes are real, its "
                "maps and answers are not."
            )
            return
        # The combo box keeps the person's choice of a zoo model, so "Load weights file…"
        # and "Open untrained" apply to it; a file that failed leaves nothing to apply
        # them to, so the box goes back to the model in use. It is still current: say so.
        current = self._state.model
        if key == FILE_KEY and current is not None:
            self._show_model_choice(current.key)
        if current is not None:
            self._show_model_label(current)
        else:
            self.model_label.setText("No model loaded.")
        self._set_enabled(True)
        summary, _ = summarise(str(exc), limit=160)
        summary = summary.replace(" (more under Details…)", "").rstrip()
        if summary and not summary.endswith((".", "!", "?", "…")):
            summary += "."  # a sentence ends before the next begins
        if isinstance(exc, PretrainedUnavailable):
            summary += "  Use 'Load weights file…' or 'Open untrained'."
        if current is not None:
            summary += f"  Still showing {current.loaded.label}."
        tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        self.message.show_error(summary, "\n\n".join(p for p in (str(exc), tb) if p))

    def _scaling_key(self, model: OpenModel) -> str:
        return f"activations/scaling/{Path(str(model.loaded.weights)).resolve()}"

    def _on_scaling_chosen(self, index: int) -> None:
        model = self._state.model
        if model is None or model.key != FILE_KEY:
            return
        choice = str(self.scaling_combo.itemData(index))
        self._settings.setValue(self._scaling_key(model), choice)
        self._state.reread_model(model.loaded.with_scaling(None if choice == "auto" else choice))

    def _on_size_chosen(self) -> None:
        model = self._state.model
        if model is None or model.key != FILE_KEY or not model.loaded.spec.free_size:
            return
        if model.loaded.spec.short_side != self.size_spin.value():
            self._state.reread_model(model.loaded.with_short_side(self.size_spin.value()))

    def labels_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Class names, one a line", start_folder(MODEL_DIR), "Text (*.txt);;All (*)"
        )
        if path:
            remember_folder(MODEL_DIR, path)
            self.use_labels_file(Path(path))

    def use_labels_file(self, path: Path) -> None:
        """Name the current model's classes from ``path`` (one name a line)."""
        from engine.models.zoo import ModelLoadError, read_labels

        model = self._state.model
        if model is None:
            return
        try:
            loaded = model.loaded.with_class_names(read_labels(path))
        except (OSError, ValueError, ModelLoadError) as exc:
            self.message.show_error(f"Could not use '{path.name}': {exc}")
            return
        self.message.clear_message()
        self._state.reread_model(loaded)

    def open_model_file(self, path: Path) -> None:
        """Open a model file with the input convention chosen for it before, if any."""
        self.message.clear_message()
        key = f"activations/scaling/{Path(path).resolve()}"
        chosen = str(self._settings.value(key, "auto"))
        self._state.open_model_file(path, None if chosen == "auto" else chosen)

    def load_weights_dialog(self) -> None:
        key = self.chosen_key()
        path, _ = QFileDialog.getOpenFileName(
            self,
            "Weights file",
            start_folder(MODEL_DIR),
            "Keras weights (*.h5 *.weights.h5);;All (*)",
        )
        if path:
            remember_folder(MODEL_DIR, path)
            self.message.clear_message()
            self._state.open_model(key, Path(path))

    def open_model_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self,
            "Model file",
            start_folder(MODEL_DIR),
            "Models (*.keras *.h5 *.onnx);;Keras models (*.keras *.h5);;"
            "ONNX models (*.onnx);;All (*)",
        )
        if path:
            remember_folder(MODEL_DIR, path)
            self.open_model_file(Path(path))
        elif self._state.model is not None:  # cancelled: show what is still current
            self._show_model_choice(self._state.model.key)

    # -- images ------------------------------------------------------------------------
    def open_image_dialog(self) -> None:
        self.source.open_dialog()

    def _on_image_loaded(self, image: np.ndarray) -> None:
        name = self.source.current_text()
        kind = InputKind.SAMPLE if name in sample_images() else InputKind.FILE
        self.message.clear_message()
        self._state.set_input(image, kind, name)

    def _on_special_chosen(self, name: str) -> None:
        if name == LIVE_INPUT and not self.live.is_live():
            self.message.show_info("Start it with Camera or Video file… below.")
        elif name == DRAWN_DIGIT and not self._state.use_drawn_digit():
            self.message.show_error(
                "Nothing is drawn yet: draw a digit in the Draw panel first, then choose it here."
            )

    def _on_input_changed(self, image: InputImage) -> None:
        if image.kind is InputKind.DRAWN_DIGIT and image.name == DRAWN_DIGIT_NAME:
            self.source.select_special(DRAWN_DIGIT)
        elif image.kind is InputKind.LIVE:
            self.source.select_special(LIVE_INPUT)
        elif self.source.current_text() != image.name:  # chosen elsewhere (Top 9)
            self.source.show_name(image.name)

    def dragEnterEvent(self, event) -> None:
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:
        path = dropped_path(event)
        if path is not None and path.suffix.lower() == ".json":
            self._state.open_scene_file(path)
        elif path is not None and path.suffix.lower() in (".keras", ".h5", ".onnx"):
            self.open_model_file(path)
        elif path is not None:
            self.source.load_file(path)

    # -- activations -------------------------------------------------------------------
    def _on_activations_changed(self, acts: Activations | None) -> None:
        self.top_list.clear()
        warning = "" if acts is None else input_warning(acts)
        if acts is not None and acts.output_note:
            warning = " ".join(t for t in (f"Output: {acts.output_note}.", warning) if t)
        self.fit_label.setText(warning)
        self.fit_label.setVisible(bool(warning))
        if acts is not None:
            suffix = "  (untrained: meaningless)" if not acts.model.loaded.trained else ""
            for label, p in acts.top:
                self.top_list.addItem(f"{p:6.1%}  {label}{suffix}")
        self._redraw()

    def _on_selection_changed(self, selection: Selection) -> None:
        self.layer_table.select(selection.layer)
        self._redraw()

    def _redraw(self) -> None:
        self._redraw_grid()
        self._show_filters()
        self._show_selected_map()

    def is_ready(self) -> bool:
        return self._state.activations is not None and not self._state.busy()

    # -- scenes ------------------------------------------------------------------------
    def scene(self) -> dict:
        state = self._state
        scene: dict = {"panel": "activations"}
        model = state.model
        if model is not None and model.key == FILE_KEY:
            scene["model_file"] = str(model.loaded.weights)
        elif model is not None:
            scene["model"] = model.key
            if model.key in IMAGENET_KEYS:
                scene["weights"] = "imagenet" if model.loaded.trained else "none"
        image = state.input
        if image is not None and image.name.startswith("test digit #"):
            scene["test_digit"] = int(image.name.split("#")[1].split()[0])
        elif image is not None and image.kind in (InputKind.SAMPLE, InputKind.FILE):
            scene["image"] = image.name
        if state.selection.layer is not None:
            scene["layer"] = state.selection.layer
        if state.selection.map is not None:
            scene["map"] = state.selection.map
        scene["tab"] = self.current_part()
        return scene

    def apply_scene(self, scene: dict) -> None:
        state = self._state
        self.message.clear_message()
        if "tab" in scene:
            self.show_part(scene["tab"])
        # The input first: opening a test digit may ask for the MNIST CNN, and the
        # scene's model, asked for after it, is the one that stays.
        if "test_digit" in scene:
            state.open_test_digit(scene["test_digit"])
        elif "image" in scene:
            samples = {k.lower(): k for k in sample_images()}
            label = samples.get(scene["image"].lower())
            if label is None:
                self.source.load_file(Path(scene["image"]))
            elif state.input is None or state.input.name != label:
                with QSignalBlocker(self.source.combo):
                    self.source.combo.setCurrentText(label)
                self.source.choose_current()
        key = scene.get("model")
        if "model_file" in scene:
            self.open_model_file(Path(scene["model_file"]))
            key = FILE_KEY
        elif key is not None:
            untrained = scene.get("weights") == "none" or key in self._no_pretrained
            self._scene_model = None if untrained else key
            self._select_data(self.model_combo, key)
            state.open_model(key, None if untrained and key in IMAGENET_KEYS else "imagenet")
        elif state.model is not None:
            key = state.model.key
        if key is not None and ("layer" in scene or "map" in scene):
            state.request_selection(key, scene.get("layer"), scene.get("map"))

    def _norm(self) -> str:
        return str(self.norm_combo.currentData())

    def _on_norm_changed(self, _index: int) -> None:
        self._settings.setValue("activations/norm", self._norm())
        self._redraw_grid()

    def _redraw_grid(self) -> None:
        acts, layer = self._state.activations, self._state.selection.layer
        raw = None if acts is None else acts.layer(layer)
        order = self.triage.order_for(acts, layer)  # None unless the layer has maps
        drawn = self._drawn
        if raw is not None and drawn is not None and drawn[0] is acts:
            if drawn[1:] == (layer, self._norm(), order):
                return  # only the map or pixel changed: the grid stays as it is
        self._drawn = (acts, layer, self._norm(), order) if raw is not None else None
        self.grid_view.set_labels()
        self._mosaic = None
        self._grid_channels = ()
        if raw is None or raw.ndim not in (1, 3):
            self.grid_view.clear_image()
            self.grid_view.set_title("Feature maps")
            self.grid_stack.setCurrentWidget(self.grid_view)
            self.layer_label.setText(
                "Computing…" if self._state.busy() else (layer or "Pick a layer")
            )
            return
        untrained = "" if acts.model.loaded.trained else "  [UNTRAINED MODEL]"
        if raw.ndim == 1:
            kind = f"{raw.shape[0]} units"
            output = layer == acts.model.loaded.output_layer
            names = acts.model.loaded.class_names if output else None
            self.unit_bars.set_values(raw, names, f"{layer} ({kind}){untrained}")
            self.grid_stack.setCurrentWidget(self.unit_bars)
        else:
            h, w, c = raw.shape
            kind = f"{c} maps of {h}x{w}"
            channels = order.channels if order is not None else tuple(range(c))
            # Only the chosen channels, in the chosen order (a copy; the layer as it is
            # when every channel is shown in its own order).
            shown = raw if channels == tuple(range(c)) else raw[:, :, list(channels)]
            self._mosaic = self._tile(shown, self._grid_pixels())
            self._grid_channels = channels
            self.grid_view.set_image(self._mosaic.image, levels=self._mosaic.levels)
            # An order's tiles say their value too: "12: 0.83" (channel 12, its measure).
            values = order.values if order is not None else None
            tags = (
                [f"{ch}: {float(values[ch]):.3g}" for ch in channels]
                if values is not None
                else channels
            )
            self.grid_view.set_labels(self._mosaic.origins, self._mosaic.map_shape, tags)
            self.grid_view.fit()
            scale = (
                "each map scaled to its own min..max"
                if self._norm() == "per_map"
                else "one scale for the whole layer"
            )
            shrunk = f", shown 1:{self._mosaic.factor}" if self._mosaic.factor > 1 else ""
            chosen = f": {order.title}" if order is not None and order.title else ""
            self.grid_view.set_title(f"{layer}{chosen} ({kind}; {scale}{shrunk}){untrained}")
            self.grid_stack.setCurrentWidget(self.grid_view)
        mark = "[UNTRAINED] " if untrained else ""  # first: a cut heading keeps it
        self.layer_label.setText(f"{mark}{layer}: {kind}")
        self.layer_label.setToolTip(self.layer_label.text())  # whole when the label is cut
        self.layer_shown.emit(layer)

    def _tile(self, raw: np.ndarray, max_side: int | None) -> Mosaic:
        return tile_layer(raw, self._norm(), max_side)

    def _grid_pixels(self) -> int:
        """About how many pixels the grid view has on its longer side: a mosaic larger
        than twice that is shrunk for display."""
        view = self.grid_view
        return int(max(view.width(), view.height(), 400) * view.devicePixelRatioF())

    def grid_image(self) -> np.ndarray | None:
        return None if self._mosaic is None else self._mosaic.image

    def grid_mosaic(self) -> Mosaic | None:
        return self._mosaic

    def grid_channels(self) -> tuple[int, ...]:
        """The real channel number of each tile of the grid, in the mosaic's order."""
        return self._grid_channels

    def _on_cmap_changed(self, _index: int) -> None:
        self._settings.setValue("activations/cmap", self._cmap_key())
        self._apply_colour_map()

    def _cmap_key(self) -> str:
        return str(self.cmap_combo.currentData())

    def _apply_colour_map(self) -> None:
        cmap = colour_map(self._cmap_key())
        for view in (self.grid_view, self.detail_map, self.before_map):
            view.set_colour_map(cmap)
        self.flat_links.set_colour_map(cmap)

    def _on_grid_clicked(self, event) -> None:
        if self._mosaic is None or self._state.selected_maps() is None:
            return
        pos = self.grid_view.image_item.mapFromScene(event.scenePos())
        index = self._mosaic.index_at(pos.y(), pos.x())
        if index is None or index >= len(self._grid_channels):
            return
        channel = self._grid_channels[index]  # the tile's real channel
        if event.button() == Qt.MouseButton.RightButton:
            if self._state.select_map(channel):
                self.menu = self.channel_menu(channel)
                self.menu.popup(QCursor.pos())
        else:
            self._show_channel(channel)

    def channel_menu(self, channel: int) -> QMenu:
        """What a right-click on a map offers: edit its channel, enlarge it, see what it
        wants (the selected channel is ``channel``)."""
        menu = QMenu(self)
        edit = self.edit_view
        editable = edit.editable() is not None
        why = "" if editable else " (only a convolution's channels have weights to edit)"
        layer = self._state.selection.layer
        edited = any(layer == e.layer and channel in e.channels for e in self._state.edits())
        for text, slot, enabled in (
            (f"Switch off channel {channel}", edit.switch_off_selected, editable),
            (
                f"Scale channel {channel} by ×{edit.factor_spin.value():g}",
                edit.scale_selected,
                editable,
            ),
            (f"Restore channel {channel}", edit.restore_selected, editable and edited),
        ):
            action = menu.addAction(text + why, slot)
            action.setEnabled(enabled)
        shown = list(self._grid_channels)
        raw = self._state.selected_maps()
        if editable and raw is not None and 1 < len(shown) < raw.shape[-1]:
            model = self._state.model
            menu.addAction(
                f"Switch off the {len(shown)} channels shown",
                lambda: self._state.ablate_channels(model.key, layer, shown),
            )
        menu.addSeparator()
        menu.addAction("Enlarge it (One map)", lambda: self.tabs.setCurrentIndex(1))
        menu.addAction("What it wants", lambda: self.tabs.setCurrentWidget(self.featurevis_view))
        menu.addAction(
            "Compare with the trained model (Edit model)",
            lambda: self.tabs.setCurrentWidget(self.edit_view),
        )
        return menu

    def _show_channel(self, channel: int) -> None:
        """Select a channel of the layer and enlarge its map (the One map tab)."""
        if self._state.selected_maps() is not None and self._state.select_map(channel):
            self.tabs.setCurrentIndex(1)

    def _show_selected_map(self) -> None:
        state = self._state
        a = state.selected_map()
        acts, layer, index = state.activations, state.selection.layer, state.selection.map
        if acts is not None:
            self.detail_input.set_image(input_to_pixels(acts.x, acts.model.loaded.spec.scaling))
        self._show_field()
        self._show_map_before(a)
        if a is None:
            self.detail_map.clear_image()
            self.detail_map.set_title("Map")
            self.filter_view.clear_image()
            self.filter_view.set_title("Filter")
            self.stats_label.setText("Click a map in the grid.")
            return
        if self._before is None:
            self.detail_map.set_image(a)
        self.detail_map.set_title(f"{layer} map {index} ({a.shape[0]}x{a.shape[1]})")
        s = MapStats.of(a)
        untrained = "" if acts.model.loaded.trained else "  (untrained model)"
        self.stats_label.setText(
            f"Map {index} of {layer}: min {s.minimum:.4g}, max {s.maximum:.4g}, "
            f"mean {s.mean:.4g}, zeros {s.zero_fraction:.1%}{untrained}"
        )
        kernel = conv_kernel(acts.model.network, layer)
        if kernel is None or index >= kernel.shape[3]:
            self.filter_view.clear_image()
            self.filter_view.set_title("No filter (not a convolution)")
        elif kernel.shape[2] == 3:
            patch = filter_images(kernel[:, :, :, index : index + 1]).images
            self.filter_view.set_image((tile_rgb(patch, normalise=False) * 255).astype(np.uint8))
            self.filter_view.set_title(
                f"Filter {index}: {kernel.shape[0]}x{kernel.shape[1]}x3 (RGB)"
            )
        else:
            m = tile_maps(kernel[:, :, :, index], normalisation="per_layer")
            self.filter_view.set_image(m.image, levels=(0, 1))
            self.filter_view.set_title(
                f"Filter {index}: {kernel.shape[2]} input channels of {kernel.shape[0]}x"
                f"{kernel.shape[1]}"
            )

    def _show_map_before(self, a: np.ndarray | None) -> None:
        """A per-map layer's map (pooling, Dropout, ...) beside the same map of the layer
        before it, on one colour scale, as the lecture's pooling slide shows them; the
        selected pixel framed in both (its window, before), with the arithmetic."""
        state = self._state
        acts, layer, index = state.activations, state.selection.layer, state.selection.map
        self._before = None
        if a is not None:
            model = acts.model
            inbound = state.scheduler.memo(
                ("inbound", model.serial), lambda: inbound_layers(model.network)
            )
            self._before = map_before(model.network, acts.maps, inbound, layer)
        before = self._before
        for w in (self.before_map, self.pair_label):
            w.setVisible(before is not None)
        self.filter_view.setVisible(before is None)  # a per-map layer has no filter
        self.detail_map.set_mark(None)
        self.before_map.set_mark(None)
        if before is None:
            self.before_map.clear_image()
            self.pair_label.setText("")
            return
        model = acts.model.network
        prev = acts.maps[before][:, :, index]
        kind = layer_kind(model, layer)
        levels = None  # each its own scale (BatchNormalization changes the range)
        if kind in (MAX_POOL, AVERAGE_POOL, IDENTITY):
            # One scale for both: a pooled pixel has the colour of the values it took.
            finite = np.concatenate([m[np.isfinite(m)].ravel() for m in (prev, a)])
            lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
            levels = (lo, hi if hi > lo else lo + 1.0)
        self.before_map.set_image(prev, levels=levels)
        self.detail_map.set_image(a, levels=levels)
        self.before_map.set_title(f"{before} map {index} ({prev.shape[0]}x{prev.shape[1]})")
        window = state.scheduler.memo(
            ("pool window", acts.model.serial, before, layer),
            lambda: pool_window(model, before, layer),
        )
        pooled = {MAX_POOL: "the largest value", AVERAGE_POOL: "the mean"}.get(kind or "")
        if pooled is not None and window is not None:
            how = (
                f"{kind}, {window.text()}: each pixel is {pooled} of its window of the same "
                "map (each map on its own); no weights, no activation function."
            )
        elif pooled is not None:
            how = f"{kind}: each pixel is {pooled} of a window of the same map."
        elif kind == IDENTITY:
            how = "passed on unchanged (it acts only while training)."
        else:
            how = f"each map computed from the same map of {before} alone."
        text = (
            f"{before} map {index} ({prev.shape[0]}x{prev.shape[1]}) → {layer} map {index} "
            f"({a.shape[0]}x{a.shape[1]}): {how}"
        )
        pixel = state.selection.pixel
        box = None if pixel is None or window is None else window.of(*pixel, prev.shape)
        if box is not None and 0 in box[2:]:
            text += f" Pixel ({pixel[0]}, {pixel[1]}) lies in the zeros padded around {before}."
        elif box is not None:
            top, left, h, w = box
            self.before_map.set_mark((top, left, h, w))
            self.detail_map.set_mark((pixel[0], pixel[1], 1, 1))
            sums = window_arithmetic(kind, prev[top : top + h, left : left + w], float(a[pixel]))
            text += (
                f" Pixel ({pixel[0]}, {pixel[1]}) comes from rows {top}-{top + h - 1}, columns "
                f"{left}-{left + w - 1} of {before}" + (f": {sums}." if sums else ".")
            )
        elif window is not None:
            text += " Click a pixel of the map on the right to frame its window on the left."
        self.pair_label.setText(text)

    def map_before(self) -> str | None:
        """The layer shown beside the enlarged map (its same map), or None."""
        return self._before

    def _on_map_clicked(self, event) -> None:
        a = self._state.selected_map()
        if a is None:
            return
        pos = self.detail_map.image_item.mapFromScene(event.scenePos())
        row, col = int(np.floor(pos.y())), int(np.floor(pos.x()))
        if 0 <= row < a.shape[0] and 0 <= col < a.shape[1]:
            self._state.select_pixel(row, col)

    def _field_box(self) -> tuple[int, int, int, int] | None:
        """The selected pixel's receptive field in the model input's pixels."""
        from engine.explanation.attribution import receptive_box

        state = self._state
        pixel, acts = state.selection.pixel, state.activations
        field = None if state.model is None else state.model.fields.get(state.selection.layer)
        if pixel is None or acts is None or field is None:
            return None
        return receptive_box(field, pixel[0], pixel[1], acts.x.shape[:2])

    def _show_field(self) -> None:
        state = self._state
        box = self._field_box()
        self.detail_input.set_box(box)
        self.detail_input.set_heat(None)
        self.erf_button.setEnabled(box is not None)
        if box is None:
            has_map = state.selected_map() is not None
            self.field_label.setText(
                "Click a pixel of the map to see what it sees." if has_map else ""
            )
            return
        field = state.model.fields[state.selection.layer]
        top, left, bottom, right = box
        clipped = (bottom - top, right - left) != (field.size, field.size)
        row, col = state.selection.pixel
        self.field_label.setText(
            f"Map pixel ({row}, {col}) of {state.selection.layer} sees {field.size}x{field.size} "
            f"input pixels (rows {top}-{bottom - 1}, columns {left}-{right - 1}"
            f"{', clipped at the border' if clipped else ''}); neighbouring map pixels are "
            f"{field.apart_text()}."
        )

    def show_effective_field(self) -> None:
        """The gradient of the selected pixel with respect to the input, as a heat map."""
        state = self._state
        acts, pixel, layer, channel = (
            state.activations,
            state.selection.pixel,
            state.selection.layer,
            state.selection.map,
        )
        if acts is None or pixel is None or channel is None:
            return
        why = gradients_unavailable(acts.model.network, "The effective field")
        if why:
            self.message.show_info(why)
            return

        def job(_task):
            from engine.explanation.attribution import effective_receptive_field, scaled_heat

            heat = effective_receptive_field(acts.model.network, acts.x, layer, channel, *pixel)
            return (
                acts,
                pixel,
                scaled_heat(
                    heat,
                    "how fast the map pixel changes with each input pixel (the gradient's "
                    "size, its sign dropped)",
                    "per unit of the model's input",
                    axis="|∂pixel/∂x|",
                ),
            )

        def show(result) -> None:
            done_acts, done_pixel, heat = result
            if done_acts is state.activations and done_pixel == state.selection.pixel:
                self.detail_input.set_heat(heat)
                self.field_label.setText(
                    self.field_label.text()
                    + " Effective field shown: the brighter an input pixel, the more a small "
                    "change of it moves this map pixel (the size of its gradient)."
                )

        self._state.request(
            job,
            key=("effective field", acts.model.serial, acts.input.serial, layer, channel, pixel),
            slot=("effective field", id(self)),
            on_result=show,
            on_failed=self.message.show_exception,
        )

    def selected_map(self) -> np.ndarray | None:
        """The enlarged map, as the state has it."""
        return self._state.selected_map()

    def _show_filters(self) -> None:
        model, layer = self._state.model, self._state.selection.layer
        # The filters change with the model and the layer, not with the input: read and
        # converted once (reading a VGG16 layer's weights took 100+ ms on each new input).
        f = None
        if model is not None and layer is not None:
            f = self._state.scheduler.memo(
                ("filter images", model.serial, layer),
                lambda: _filter_pictures(conv_kernel(model.network, layer)),
                latest_only=True,
            )
        if not f:
            self.filters_view.clear_image()
            self.filters_view.set_labels()
            self.filters_view.set_mark(None)
            self.filters_view.set_title("This layer has no filters (not a convolution)")
            return
        origins: tuple[tuple[int, int], ...] = ()
        if f.kind == "rgb":
            image = tile_rgb(f.images, gap=1, normalise=False)
            self.filters_view.set_image((image * 255).astype(np.uint8))
            k, fh, fw = f.images.shape[:3]
            cols = min(max(1, math.ceil(math.sqrt(k))), k)
            origins = tuple(((i // cols) * (fh + 1), (i % cols) * (fw + 1)) for i in range(k))
            shape = (fh, fw)
        elif f.kind == "matrix":
            self.filters_view.set_image(f.images, levels=(0, 1))
        else:
            m = tile_maps(np.moveaxis(f.images, 0, 2), normalisation="none")
            self.filters_view.set_image(m.image, levels=(0, 1))
            origins, shape = m.origins, m.map_shape
        # Each filter numbered, the selected one framed: "filter 6" can be found.
        if origins:
            self.filters_view.set_labels(origins, shape)
        else:
            self.filters_view.set_labels()
        chosen = self._state.selection.map
        if origins and chosen is not None and chosen < len(origins):
            self.filters_view.set_mark((*origins[chosen], *shape))
        else:
            self.filters_view.set_mark(None)
        selected = f", filter {chosen} framed" if origins and chosen is not None else ""
        self.filters_view.set_title(f"{f.title} (grey = 0{selected})")

    # -- export ------------------------------------------------------------------------
    def export_png(self, path: Path, what: str = "grid") -> Ticket:
        """Write the grid or the enlarged map as a figure (atomically, off the UI thread;
        ``exported`` says when): a title, the maps at full resolution in the current
        colour map (a small map enlarged, nearest neighbour), a colour bar with the
        values, and a mark on an untrained model's. ``ValueError`` when there is nothing
        to export."""
        state = self._state
        acts, layer, index = state.activations, state.selection.layer, state.selection.map
        raw = None if acts is None else acts.layer(layer)
        cmap = self._cmap_key()
        if what == "grid":
            if raw is None or raw.ndim != 3:
                raise ValueError("there is no grid of maps to export yet")
            title = f"{acts.model.loaded.label}: {layer}, {raw.shape[2]} maps"

            norm = self._norm()

            def picture() -> tuple[np.ndarray, tuple[float, float]]:
                mosaic = tile_layer(raw, norm, None)
                return mosaic.image, mosaic.levels

        elif what == "map":
            data = state.selected_map()
            if data is None:
                raise ValueError("there is no map to export yet: click one in the grid")
            title = f"{acts.model.loaded.label}: {layer} map {index}"

            def picture() -> tuple[np.ndarray, tuple[float, float]]:
                finite = data[np.isfinite(data)]
                levels = (float(finite.min()), float(finite.max())) if finite.size else (0, 1)
                return data, levels

        else:
            raise ValueError(f"what must be 'grid' or 'map'. Received: what={what!r}")
        note = "" if acts.model.loaded.trained else "UNTRAINED MODEL: random weights"

        def job(_task: Task) -> Path:
            data, levels = picture()
            rgb = enlarge(colourise(data, cmap, levels))
            figure = compose(rgb, title, colour_lut(cmap), levels, note)
            with atomic_path(path, suffix=".png") as tmp:
                Image.fromarray(figure).save(tmp, format="PNG")
            return path

        return self._export(job, path)

    def export_npz(self, path: Path) -> Ticket:
        """Write every layer's activations of this input to ``path`` (.npz, compressed,
        atomically, off the UI thread; ``exported`` says when)."""
        acts = self._state.activations
        if acts is None:
            raise ValueError("there are no activations to export yet")
        maps = acts.maps

        def job(task: Task) -> Path:
            task.progress(0.0, f"Compressing {len(maps)} layers…")
            with atomic_path(path, suffix=".npz") as tmp:
                with open(tmp, "wb") as fh:
                    np.savez_compressed(fh, **dict(maps))
            return path

        return self._export(job, path)

    def _export(self, job: Callable[[Task], Path], path: Path) -> Ticket:
        self.message.show_info(f"Exporting {path.name}…")
        return self._state.request(
            job,
            pool="compute",
            on_result=self._on_exported,
            on_failed=lambda exc: self.message.show_error(f"Could not export {path.name}: {exc}"),
        )

    def _on_exported(self, path: Path) -> None:
        self.message.show_info(f"Saved {path}")
        self.exported.emit(path)

    def _save_dialog(self, title: str, default: str, filt: str) -> Path | None:
        start = Path(str(self._settings.value("activations/export_dir", str(Path.home()))))
        path, _ = QFileDialog.getSaveFileName(self, title, str(start / default), filt)
        if not path:
            return None
        self._settings.setValue("activations/export_dir", str(Path(path).parent))
        return Path(path)

    def export_png_dialog(self, what: str) -> None:
        s = self._state.selection
        default = f"{s.layer}_map{s.map}.png" if what == "map" else f"{s.layer}_grid.png"
        path = self._save_dialog(f"Export {what} as PNG", default, "PNG images (*.png)")
        if path is not None:
            try:
                self.export_png(path, what)
            except ValueError as exc:
                self.message.show_error(f"Could not export: {exc}")

    def export_npz_dialog(self) -> None:
        path = self._save_dialog("Export activations", "activations.npz", "NumPy (*.npz)")
        if path is not None:
            try:
                self.export_npz(path)
            except ValueError as exc:
                self.message.show_error(f"Could not export: {exc}")

    def prepare_screenshot(self) -> None:
        """Explore a drawn 7 (drawn here with Pillow) through the MNIST CNN's conv2d_2."""
        from PIL import ImageDraw

        from engine.models.digits import prepare_digit

        canvas = Image.new("L", (280, 280), 0)
        ImageDraw.Draw(canvas).line(
            [(70, 60), (210, 60), (185, 115), (140, 240)], fill=255, width=20, joint="curve"
        )
        state = self._state
        state.set_drawn_digit(prepare_digit(np.asarray(canvas)))

        def select_conv2d_2(acts: Activations | None) -> None:
            if acts is not None and "conv2d_2" in acts.maps:
                state.activations_changed.disconnect(select_conv2d_2)
                state.select_layer("conv2d_2")

        state.activations_changed.connect(select_conv2d_2)
        state.explore_drawn_digit()


if __name__ == "__main__":
    from gui.preview import preview

    preview(ActivationsPanel, (1300, 800))
