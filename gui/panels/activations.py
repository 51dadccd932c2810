"""Activations: every layer's feature maps of the MNIST CNN, VGG16, ResNet50 or your model."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PIL import Image
from PySide6.QtCore import QSettings, QSignalBlocker, Qt, Signal
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QProgressBar,
    QPushButton,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from engine.activations import (
    ActivationProbe,
    LayerInfo,
    MapStats,
    block_of,
    conv_kernel,
    layer_summary,
)
from engine.files import atomic_path
from engine.mosaic import Mosaic, tile_maps, tile_rgb
from engine.zoo import (
    MNIST,
    MODEL_TITLES,
    RESNET50,
    VGG16,
    VGG19,
    LoadedModel,
    PretrainedUnavailable,
    load_user_model,
    load_zoo_model,
)
from gui.widgets.image_source import ImageSource, dropped_path
from gui.widgets.layer_table import LayerTable
from gui.widgets.map_view import MapView
from gui.widgets.message_bar import MessageBar
from gui.workers import WorkerRunner

log = logging.getLogger(__name__)

MODEL_FILE = "A Keras model file…"
DRAWN_DIGIT = "The digit drawn in the Draw panel"
NORMALISATIONS = {"Each map on its own": "per_map", "The whole layer together": "per_layer"}
COLOUR_MAPS = ("viridis", "inferno", "CET-L1")


@dataclass(frozen=True)
class Computed:
    """Everything computed for one (model, image) pair, once, off the UI thread."""

    model: LoadedModel
    image: np.ndarray  # what the person chose, for display
    activations: dict[str, np.ndarray]
    top: list[tuple[str, float]]


def compute_activations(loaded: LoadedModel, probe: ActivationProbe, image: np.ndarray) -> Computed:
    x = loaded.preprocess(image)
    acts = probe.run(x)
    last = next(reversed(acts.values()))
    top = loaded.decode(last, 5) if last.ndim == 1 else []
    return Computed(loaded, image, dict(acts), top)


def _build_probe(loaded: LoadedModel) -> tuple[LoadedModel, ActivationProbe]:
    return loaded, ActivationProbe(loaded.model)


class ActivationsPanel(QWidget):
    """Model, image, top-5, layer table, feature-map grid, enlarged map, filters, export.

    Signals
    -------
    model_ready(object)
        A ``LoadedModel`` has been built and probed.
    activations_ready(object)
        A ``Computed`` for the current model and image.
    layer_shown(str)
        The grid now shows this layer.
    """

    model_ready = Signal(object)
    activations_ready = Signal(object)
    layer_shown = Signal(str)

    def __init__(self, runner: WorkerRunner, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAcceptDrops(True)
        self._runner = runner
        self._settings = QSettings()
        self._loaded: LoadedModel | None = None
        self._probe: ActivationProbe | None = None
        self._computed: Computed | None = None
        self._image: np.ndarray | None = None
        self._layers: list[LayerInfo] = []
        self._layer: str | None = None
        self._mosaic: Mosaic | None = None
        self._selected_map: int | None = None
        self._tf_ready = False
        self._busy = False
        self._build_ui()

    # -- construction ------------------------------------------------------------------
    def _build_ui(self) -> None:
        left = QVBoxLayout()
        box = QGroupBox("Model")
        bl = QVBoxLayout(box)
        self.model_combo = QComboBox()
        for key, title in MODEL_TITLES.items():
            self.model_combo.addItem(title, key)
        self.model_combo.addItem(MODEL_FILE, "file")
        self.model_combo.setToolTip("The network to look inside")
        self.model_combo.activated.connect(self._on_model_chosen)
        bl.addWidget(self.model_combo)
        row = QHBoxLayout()
        self.weights_button = QPushButton("Load weights file…")
        self.weights_button.setToolTip("Use a weights file you have (e.g. downloaded elsewhere)")
        self.weights_button.clicked.connect(self.load_weights_dialog)
        self.untrained_button = QPushButton("Open untrained")
        self.untrained_button.setToolTip("The architecture with random weights, clearly marked")
        self.untrained_button.clicked.connect(lambda: self.load_model(self.current_key(), None))
        row.addWidget(self.weights_button)
        row.addWidget(self.untrained_button)
        bl.addLayout(row)
        self.model_label = QLabel("TensorFlow is loading…")
        self.model_label.setWordWrap(True)
        bl.addWidget(self.model_label)
        self.progress = QProgressBar()
        self.progress.setRange(0, 0)
        self.progress.setVisible(False)
        bl.addWidget(self.progress)
        left.addWidget(box)

        box = QGroupBox("Image")
        bl = QVBoxLayout(box)
        self.source = ImageSource(self._runner, "activations")
        self.source.image_loaded.connect(self.set_image)
        self.source.special_chosen.connect(lambda _name: self._recompute())
        self.source.failed.connect(lambda text: self.message.show_error(text))
        self.image_combo = self.source.combo
        self.open_button = self.source.open_button
        bl.addWidget(self.source)
        self.top_list = QListWidget()
        self.top_list.setMaximumHeight(110)
        self.top_list.setToolTip("The model's five most likely classes for this image")
        bl.addWidget(QLabel("Top-5 predictions"))
        bl.addWidget(self.top_list)
        left.addWidget(box)

        self.layer_table = LayerTable()
        self.layer_table.setToolTip("Click a layer to see all its feature maps")
        self.layer_table.currentCellChanged.connect(lambda r, *_: self._on_layer_row(r))
        left.addWidget(self.layer_table, 1)
        self.message = MessageBar()
        left.addWidget(self.message)

        right = QVBoxLayout()
        row = QHBoxLayout()
        self.layer_label = QLabel("Pick a layer")
        self.layer_label.setStyleSheet("font-weight: bold; font-size: 14px;")
        row.addWidget(self.layer_label, 1)
        self.norm_combo = QComboBox()
        self.norm_combo.addItems(list(NORMALISATIONS))
        self.norm_combo.setToolTip("Scale each map to its own range, or the layer to one range")
        self.norm_combo.setCurrentText(
            str(self._settings.value("activations/norm", "Each map on its own"))
        )
        self.norm_combo.currentTextChanged.connect(lambda _t: self._redraw_grid())
        self.cmap_combo = QComboBox()
        self.cmap_combo.addItems(COLOUR_MAPS)
        self.cmap_combo.setToolTip("Colour map of the feature maps")
        self.cmap_combo.setCurrentText(str(self._settings.value("activations/cmap", "viridis")))
        self.cmap_combo.currentTextChanged.connect(self._on_cmap_changed)
        row.addWidget(self.norm_combo)
        row.addWidget(self.cmap_combo)
        self.export_grid_button = QPushButton("Export grid…")
        self.export_grid_button.clicked.connect(lambda: self.export_png_dialog("grid"))
        self.export_map_button = QPushButton("Export map…")
        self.export_map_button.clicked.connect(lambda: self.export_png_dialog("map"))
        self.export_npz_button = QPushButton("Export activations…")
        self.export_npz_button.setToolTip("Every layer's activations of this image as .npz")
        self.export_npz_button.clicked.connect(self.export_npz_dialog)
        for b in (self.export_grid_button, self.export_map_button, self.export_npz_button):
            row.addWidget(b)
        right.addLayout(row)

        self.grid_view = MapView("Feature maps")
        self.grid_view.setToolTip("Wheel to zoom, drag to pan, click a map to enlarge it")
        self.grid_view.scene().sigMouseClicked.connect(self._on_grid_clicked)
        self.detail_input = MapView("Input", colour_bar=False)
        self.detail_map = MapView("Map")
        self.filter_view = MapView("Filter", colour_bar=False)
        self.stats_label = QLabel("Click a map in the grid.")
        self.stats_label.setWordWrap(True)
        detail = QWidget()
        dl = QVBoxLayout(detail)
        top = QHBoxLayout()
        top.addWidget(self.detail_input)
        top.addWidget(self.detail_map)
        top.addWidget(self.filter_view)
        dl.addLayout(top, 1)
        dl.addWidget(self.stats_label)
        self.filters_view = MapView("Filters of this layer", colour_bar=False)
        self.tabs = QTabWidget()
        self.tabs.addTab(self.grid_view, "All maps")
        self.tabs.addTab(detail, "One map")
        self.tabs.addTab(self.filters_view, "Filters")
        right.addWidget(self.tabs, 1)

        splitter = QSplitter(Qt.Orientation.Horizontal)
        lw = QWidget()
        lw.setLayout(left)
        rw = QWidget()
        rw.setLayout(right)
        splitter.addWidget(lw)
        splitter.addWidget(rw)
        splitter.setSizes([420, 860])
        outer = QHBoxLayout(self)
        outer.addWidget(splitter)
        self._set_enabled(False)
        self._on_cmap_changed(self.cmap_combo.currentText())

    def _set_enabled(self, enabled: bool) -> None:
        for w in (
            self.model_combo,
            self.image_combo,
            self.open_button,
            self.weights_button,
            self.untrained_button,
            self.export_grid_button,
            self.export_map_button,
            self.export_npz_button,
        ):
            w.setEnabled(enabled)
        # Weights files and random weights only make sense for the ImageNet models.
        imagenet = self.current_key() in (VGG16, VGG19, RESNET50)
        self.weights_button.setEnabled(enabled and imagenet)
        self.untrained_button.setEnabled(enabled and imagenet)

    # -- models ------------------------------------------------------------------------
    def on_tensorflow_ready(self) -> None:
        self._tf_ready = True
        self._set_enabled(True)
        self.load_model(MNIST)

    def current_key(self) -> str:
        return str(self.model_combo.currentData())

    def show_unavailable(self, message: str) -> None:
        """TensorFlow could not be loaded: nothing here can work; say why."""
        self.model_label.setText("Models are unavailable: TensorFlow could not be loaded.")
        self.message.show_error(message)

    def _on_model_chosen(self, index: int) -> None:
        key = self.model_combo.itemData(index)
        if key == "file":
            self.open_model_dialog()
        else:
            self.load_model(key)

    def load_model(self, key: str, weights: str | Path | None = "imagenet") -> None:
        """Build a zoo model on the model thread (download weights on first use)."""
        with QSignalBlocker(self.model_combo):
            self.model_combo.setCurrentIndex(self.model_combo.findData(key))
        what = MODEL_TITLES.get(key, key) + (" (untrained)" if weights is None else "")
        self._start_model_job(lambda progress: load_zoo_model(key, weights, progress), what)

    def load_user_model_file(self, path: Path) -> None:
        with QSignalBlocker(self.model_combo):
            self.model_combo.setCurrentIndex(self.model_combo.findData("file"))
        self._start_model_job(lambda progress: load_user_model(path), path.name)

    def _start_model_job(self, build, what: str) -> None:
        self._busy = True
        self.message.clear_message()
        self.model_label.setText(f"Loading {what}…")
        self.progress.setVisible(True)
        self._set_enabled(False)

        def job(progress):
            return _build_probe(build(progress))

        self._runner.start(
            job,
            pool="model",
            on_progress=lambda _f, m: self.model_label.setText(m),
            on_finished=self._on_model_built,
            on_failed=self._on_model_failed,
            on_done=self._on_model_job_done,
        )

    def _on_model_job_done(self) -> None:
        self.progress.setVisible(False)
        self._set_enabled(True)

    def _on_model_built(self, result: tuple[LoadedModel, ActivationProbe]) -> None:
        self._loaded, self._probe = result
        self._computed = None
        loaded = self._loaded
        text = loaded.label + (f": {loaded.note}" if loaded.note else "")
        self.model_label.setText(text)
        self.model_label.setStyleSheet(
            "" if loaded.trained else "color: #b00020; font-weight: bold;"
        )
        self._layers = layer_summary(loaded.model)
        marks = {info.name: "(+) residual add" for info in self._layers if info.type == "Add"}
        self.layer_table.set_layers(self._layers, marks)
        self._shade_blocks()
        self.model_ready.emit(loaded)
        if self._image is None:
            self.source.choose_current()
        else:
            self._recompute()

    def _on_model_failed(self, message: str, _tb: str) -> None:
        self._busy = False
        text = message.split(": ", 1)[-1]
        # The previous model (if any) is still loaded and its maps still shown: say so.
        self.model_label.setText(
            f"Still showing {self._loaded.label}." if self._loaded else "No model loaded."
        )
        if message.startswith(PretrainedUnavailable.__name__):
            self.message.show_error(text + "  Use 'Load weights file…' or 'Open untrained'.")
        else:
            self.message.show_error(text)

    def _shade_blocks(self) -> None:
        shade = QBrush(QColor(238, 242, 250))
        previous, flip = None, False
        for r, info in enumerate(self._layers):
            block = block_of(info.name)
            if block != previous:
                flip, previous = not flip, block
            for c in range(self.layer_table.columnCount()):
                item = self.layer_table.item(r, c)
                item.setBackground(shade if flip else QBrush())
                item.setToolTip(f"block {block}")

    def load_weights_dialog(self) -> None:
        key = self.current_key()
        path, _ = QFileDialog.getOpenFileName(
            self, "Weights file", str(Path.home()), "Keras weights (*.h5 *.weights.h5);;All (*)"
        )
        if path:
            self.load_model(key, Path(path))

    def open_model_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Keras model", str(Path.home()), "Keras models (*.keras *.h5);;All (*)"
        )
        if path:
            self.load_user_model_file(Path(path))

    def loaded(self) -> LoadedModel | None:
        return self._loaded

    # -- images ------------------------------------------------------------------------
    def open_image_dialog(self) -> None:
        self.source.open_dialog()

    def load_image_file(self, path: Path) -> None:
        self.source.load_file(path)

    def show_digit(self, digit: np.ndarray) -> None:
        """Explore a digit drawn in the Draw panel (a prepared (28, 28) array in [0, 1])."""
        self.source.select_special(DRAWN_DIGIT)
        self._image = np.asarray(digit, dtype=np.float32)
        if self._loaded is None or self._loaded.key != MNIST:
            if self._tf_ready:
                self.load_model(MNIST)
        else:
            self._recompute()

    def set_image(self, image: np.ndarray) -> None:
        self._image = image
        self._recompute()

    def dragEnterEvent(self, event) -> None:
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:
        path = dropped_path(event)
        if path is not None and path.suffix.lower() in (".keras", ".h5"):
            self.load_user_model_file(path)
        elif path is not None:
            self.load_image_file(path)

    # -- activations -------------------------------------------------------------------
    def _recompute(self) -> None:
        if self._loaded is None or self._probe is None or self._image is None:
            return
        self._busy = True
        loaded, probe, image = self._loaded, self._probe, self._image
        self.progress.setVisible(True)
        self._runner.start(
            compute_activations,
            loaded,
            probe,
            image,
            pool="model",
            on_finished=self._on_computed,
            on_failed=lambda msg, _tb: self._on_compute_failed(msg),
            on_done=lambda: self.progress.setVisible(False),
        )

    def _on_compute_failed(self, message: str) -> None:
        self._busy = False
        self.message.show_error(message.split(": ", 1)[-1])

    def _on_computed(self, computed: Computed) -> None:
        if computed.model is not self._loaded or computed.image is not self._image:
            return  # a newer model or image replaced this one meanwhile
        self._busy = False
        self._computed = computed
        self.top_list.clear()
        suffix = "  (untrained: meaningless)" if not computed.model.trained else ""
        for label, p in computed.top:
            self.top_list.addItem(f"{p:6.1%}  {label}{suffix}")
        shown = computed.image
        if shown.ndim == 2:
            self.detail_input.set_image(shown, levels=(0, 1))
        else:
            self.detail_input.set_image(shown)
        self.activations_ready.emit(computed)
        if self._layer not in computed.activations:
            first = next(
                (i for i, info in enumerate(self._layers) if len(info.output_shape) == 3), 0
            )
            if self.layer_table.currentRow() == first:
                self._on_layer_row(first)
            else:
                self.layer_table.setCurrentCell(first, 0)  # shows it through the table
        else:
            self.show_layer(self._layer)

    def is_ready(self) -> bool:
        return self._computed is not None and not self._busy

    def computed(self) -> Computed | None:
        return self._computed

    def _on_layer_row(self, row: int) -> None:
        if 0 <= row < len(self._layers):
            self.show_layer(self._layers[row].name)

    def show_layer(self, name: str) -> None:
        """Show all feature maps of layer ``name`` (cached activations: no recomputation)."""
        self._layer = name
        self._redraw_grid()
        self._show_filters()

    def current_layer(self) -> str | None:
        return self._layer

    def _layer_maps(self) -> np.ndarray | None:
        if self._computed is None or self._layer not in self._computed.activations:
            return None
        a = self._computed.activations[self._layer]
        if a.ndim == 1:
            return a[None, :, None]  # a dense layer: one row of units, shown as a strip
        return a if a.ndim == 3 else None

    def _redraw_grid(self) -> None:
        maps = self._layer_maps()
        self.grid_view.set_labels()
        if maps is None:
            self.grid_view.image_item.clear()
            return
        norm = NORMALISATIONS[self.norm_combo.currentText()]
        self._settings.setValue("activations/norm", self.norm_combo.currentText())
        raw = self._computed.activations[self._layer]
        if raw.ndim == 1:
            self._mosaic = tile_maps(raw[None, :, None], normalisation=norm)
        else:
            self._mosaic = tile_maps(maps, normalisation=norm, gap=max(1, maps.shape[0] // 12))
        self.grid_view.set_image(self._mosaic.image, levels=(0, 1))
        h, w, c = maps.shape
        trained = "" if self._computed.model.trained else "  [UNTRAINED MODEL]"
        kind = f"{c} maps of {h}x{w}" if raw.ndim == 3 else f"{raw.shape[0]} units"
        self.layer_label.setText(f"{self._layer}: {kind}{trained}")
        self.grid_view.set_title(f"{self._layer} ({kind}){trained}")
        if raw.ndim == 3:
            self.grid_view.set_labels(self._mosaic.origins, self._mosaic.map_shape)
        self.layer_shown.emit(self._layer)

    def grid_image(self) -> np.ndarray | None:
        return None if self._mosaic is None else self._mosaic.image

    def grid_mosaic(self) -> Mosaic | None:
        return self._mosaic

    def _on_cmap_changed(self, name: str) -> None:
        self._settings.setValue("activations/cmap", name)
        cmap = pg.colormap.get(name)
        for view in (self.grid_view, self.detail_map):
            view.colour_bar.setColorMap(cmap)

    def _on_grid_clicked(self, event) -> None:
        if self._mosaic is None:
            return
        pos = self.grid_view.image_item.mapFromScene(event.scenePos())
        index = self._mosaic.index_at(pos.y(), pos.x())
        if index is not None:
            self.select_map(index)

    def select_map(self, index: int) -> None:
        """Enlarge map ``index`` of the current layer beside the input, with statistics."""
        raw = self._computed.activations[self._layer]
        if raw.ndim != 3 or not 0 <= index < raw.shape[2]:
            return
        self._selected_map = index
        a = raw[:, :, index]
        self.detail_map.set_image(a)
        self.detail_map.set_title(f"{self._layer} map {index} ({a.shape[0]}x{a.shape[1]})")
        s = MapStats.of(a)
        untrained = "" if self._computed.model.trained else "  (untrained model)"
        self.stats_label.setText(
            f"Map {index} of {self._layer}: min {s.minimum:.4g}, max {s.maximum:.4g}, "
            f"mean {s.mean:.4g}, zeros {s.zero_fraction:.1%}{untrained}"
        )
        kernel = conv_kernel(self._loaded.model, self._layer)
        if kernel is None:
            self.filter_view.image_item.clear()
            self.filter_view.set_title("No filter (not a convolution)")
        elif kernel.shape[2] == 3:
            self.filter_view.set_image(
                (tile_rgb(kernel[None, :, :, :, index]) * 255).astype(np.uint8)
            )
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
        self.tabs.setCurrentIndex(1)

    def selected_map(self) -> np.ndarray | None:
        if self._selected_map is None or self._computed is None:
            return None
        return self.detail_map.data()

    def _show_filters(self) -> None:
        if self._loaded is None or self._layer is None:
            return
        kernel = conv_kernel(self._loaded.model, self._layer)
        if kernel is None:
            self.filters_view.image_item.clear()
            self.filters_view.set_title("This layer has no filters (not a convolution)")
        elif kernel.shape[2] == 3:
            patches = np.moveaxis(kernel, 3, 0)
            self.filters_view.set_image((tile_rgb(patches, gap=1) * 255).astype(np.uint8))
            self.filters_view.set_title(
                f"{kernel.shape[3]} filters of {kernel.shape[0]}x"
                f"{kernel.shape[1]}x3, drawn as colour patches"
            )
        else:
            # Deeper layers: the mean over input channels of each filter, one tile each.
            m = tile_maps(kernel.mean(axis=2), normalisation="per_map")
            self.filters_view.set_image(m.image, levels=(0, 1))
            self.filters_view.set_title(
                f"{kernel.shape[3]} filters of {kernel.shape[0]}x"
                f"{kernel.shape[1]}x{kernel.shape[2]} "
                "(mean over input channels)"
            )

    # -- export ------------------------------------------------------------------------
    def export_png(self, path: Path, what: str = "grid") -> Path:
        """Write the grid or the enlarged map as a colour PNG (atomically)."""
        if what == "grid":
            data = self.grid_image()
        else:
            data = self.selected_map()
            if data is not None:
                lo, hi = float(data.min()), float(data.max())
                data = (data - lo) / (hi - lo if hi > lo else 1.0)
        if data is None:
            raise ValueError(f"there is no {what} to export yet")
        cmap = pg.colormap.get(self.cmap_combo.currentText())
        lut = cmap.getLookupTable(0.0, 1.0, 256, alpha=False)
        idx = np.clip(np.nan_to_num(data, nan=1.0) * 255, 0, 255).astype(np.uint8)
        rgb = lut[idx]
        rgb[np.isnan(data)] = 255
        with atomic_path(path, suffix=".png") as tmp:
            Image.fromarray(rgb.astype(np.uint8)).save(tmp, format="PNG")
        return path

    def export_npz(self, path: Path) -> Path:
        if self._computed is None:
            raise ValueError("there are no activations to export yet")
        with atomic_path(path, suffix=".npz") as tmp:
            with open(tmp, "wb") as fh:
                np.savez_compressed(fh, **self._computed.activations)
        return path

    def _save_dialog(self, title: str, default: str, filt: str) -> Path | None:
        start = Path(str(self._settings.value("activations/export_dir", str(Path.home()))))
        path, _ = QFileDialog.getSaveFileName(self, title, str(start / default), filt)
        if not path:
            return None
        self._settings.setValue("activations/export_dir", str(Path(path).parent))
        return Path(path)

    def export_png_dialog(self, what: str) -> None:
        path = self._save_dialog(
            f"Export {what} as PNG", f"{self._layer}_{what}.png", "PNG images (*.png)"
        )
        if path is not None:
            try:
                self.export_png(path, what)
                self.message.show_info(f"Saved {path}")
            except (OSError, ValueError) as exc:
                self.message.show_error(f"Could not export: {exc}")

    def export_npz_dialog(self) -> None:
        path = self._save_dialog("Export activations", "activations.npz", "NumPy (*.npz)")
        if path is not None:
            try:
                self.export_npz(path)
                self.message.show_info(f"Saved {path}")
            except (OSError, ValueError) as exc:
                self.message.show_error(f"Could not export: {exc}")

    def prepare_screenshot(self) -> None:
        """Explore a drawn 7 (drawn here with Pillow) through the MNIST CNN's conv2d_2."""
        from PIL import ImageDraw

        from engine.mnist import preprocess_drawing

        canvas = Image.new("L", (280, 280), 0)
        ImageDraw.Draw(canvas).line(
            [(70, 60), (210, 60), (185, 115), (140, 240)], fill=255, width=20, joint="curve"
        )
        self._layer = "conv2d_2"
        self.show_digit(preprocess_drawing(np.asarray(canvas)))


if __name__ == "__main__":
    import sys

    from PySide6.QtWidgets import QApplication

    from engine.runtime import load_tensorflow

    app = QApplication(sys.argv)
    runner = WorkerRunner()
    panel = ActivationsPanel(runner)
    load_tensorflow()
    panel.on_tensorflow_ready()
    panel.resize(1300, 800)
    panel.show()
    code = app.exec()
    runner.shutdown()
    sys.exit(code)
