"""Kernel lab: edit kernels by hand and watch the feature maps follow as you type."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image
from PySide6.QtCore import QSettings, QSignalBlocker, Qt, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QSplitter,
    QStackedWidget,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from engine.arithmetic.convolution import conv2d, format_number, resolve_padding, window_arithmetic
from engine.arithmetic.kernels import KERNEL_SIZES, PRESET_NAMES, normalise, preset, sums_to_zero
from engine.imaging.images import to_grey
from engine.imaging.mosaic import tile_maps
from engine.teaching import lecture
from engine.teaching.scene import KERNEL_LAB_TABS, plain
from engine.util.paths import sample_images
from gui.panels.base import Panel
from gui.panels.kernel_lab.flatten_view import FlattenView
from gui.state import AppState
from gui.theme import theme
from gui.widgets.cell_grid import CHANNELS, CellGrid, ChannelGrids
from gui.widgets.colour import colour_map, diverging_map
from gui.widgets.image_source import ImageSource, dropped_path
from gui.widgets.kernel_grid import KernelGrid
from gui.widgets.map_view import MapView
from gui.widgets.message_bar import MessageBar

log = logging.getLogger(__name__)

LECTURE_INPUT = "Lecture 5x5 (binary)"
#: The input a scene (a lecture step) gave as numbers.
SCENE_INPUT = "Numbers from the scene"
#: Inputs up to this size are shown as numbers, with the arithmetic of a chosen cell
#: (the lecture's "what computers see" grid is 20x20).
NUMBERS_MAX_SIDE = 20
#: Maps side by side in the numbers view before the next row starts.
NUMBERS_COLUMNS = 4
#: "What the computer sees" shows a picture up to this side whole, else a region of it
#: (the slide's 32x32x3 picture: 3,072 numbers).
PIXELS_MAX_SIDE = 32
#: The side of the region first shown of a larger picture (R, G and B fit side by side).
PIXELS_REGION_SIDE = 10
# How photos' maps are coloured: keys (stored in QSettings) and their labels.
PER_MAP, SHARED, DIVERGING = "per_map", "shared", "diverging"
SCALE_LABELS = {
    PER_MAP: "Each map its own scale",
    SHARED: "One scale for all maps",
    DIVERGING: "Zero in the middle (blue < 0 < red)",
}
ZERO_SUM_MESSAGE = (
    "This kernel sums to 0, so dividing by its sum is impossible; "
    "edge kernels are meant to sum to 0."
)


@dataclass(frozen=True)
class _Value:
    """Where a colour cell's window lies (padded coordinates) and the value it gives."""

    top: int
    left: int
    value: float


@dataclass(frozen=True)
class LabResult:
    """One computed stack of feature maps and what produced it."""

    maps: np.ndarray  # (H', W', K) after the optional ReLU
    kernels: np.ndarray  # (F, F, D, K): D = 1 (grey) or 3 (colour)
    stride: int
    padding: int
    relu: bool


def compute_maps(
    image: np.ndarray, kernels: list[np.ndarray], stride: int, padding: int, relu: bool
) -> LabResult:
    """The lab's whole computation: one conv2d of the stacked kernels, then ReLU.

    ``image`` is (H, W) or (H, W, D); each kernel (F, F) or (F, F, D), a slice per channel
    of the input (a 5x5x3 kernel on a colour picture gives one map, as on the slide).
    """
    x = image[:, :, None] if image.ndim == 2 else image
    k4 = np.stack([k if k.ndim == 3 else k[:, :, None] for k in kernels], axis=-1)
    maps = conv2d(x, k4, stride=stride, padding=padding)
    if relu:
        maps = np.maximum(maps, 0)
    return LabResult(maps=maps, kernels=k4, stride=stride, padding=padding, relu=relu)


def compute_stack(
    image: np.ndarray, layers: list[list[np.ndarray]], stride: int, paddings: list[int], relu: bool
) -> list[LabResult]:
    """Layers of kernels one after another: each layer's maps are the next one's input,
    with ReLU between (the last layer's ReLU as asked): "a ConvNet is a sequence of
    convolution layers separated by activations".
    """
    results = []
    x = image
    for i, kernels in enumerate(layers):
        last = i == len(layers) - 1
        result = compute_maps(x, kernels, stride, paddings[i], relu or not last)
        results.append(result)
        x = result.maps
    return results


class KernelLabPanel(Panel):
    """Pick an input, edit one or more kernels, choose stride/padding/ReLU, see the maps.

    Small inputs (the lecture's 5x5) show every kernel's map as numbers, side by side;
    clicking a cell of any map writes its arithmetic. A small colour picture in colour
    mode shows its red, green and blue as three grids of 0..255. Photos show the maps as
    images, each on its own colour scale or all on one (a choice that is remembered);
    hovering one reads a pixel's values. "What the computer sees" shows the picture (or
    a region of it up to 32x32) as its numbers: three grids of 0..255 in colour.

    Signals
    -------
    map_updated(object)
        A ``LabResult`` each time the shown maps change.
    """

    map_updated = Signal(object)
    opens_images = True

    def __init__(self, state: AppState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAcceptDrops(True)
        self._state = state
        self._settings = QSettings()
        self._image_rgb: np.ndarray | None = None
        self._grey = lecture.BINARY_5X5.astype(np.float64)
        # Layers of kernels. The first layer's are (F, F) on the grey picture, (F, F, 3)
        # in colour (a slice per channel); a later layer's are (F, F, K), a slice for each
        # of the K maps of the layer before. ``_layer`` is the layer edited and shown.
        self._layers: list[list[np.ndarray]] = [[preset("Lecture X")]]
        self._layer = 0
        self._colour = False
        self._current = 0
        self._result: LabResult | None = None
        self._results: list[LabResult] = []
        self._selected_cell: tuple[int, int] = (0, 0)
        # What the input is, as a scene writes it ({"input": rows} or {"image": name}).
        self._input_scene: dict = {"input": plain(lecture.BINARY_5X5)}
        self._scene_numbers: np.ndarray | None = None  # SCENE_INPUT's numbers
        self._scene_size: int | None = None  # the side the next loaded image is scaled to
        self._awaiting_scene = False
        self.output_grids: list[CellGrid] = []
        self._region = (0, 0, 0)  # top, left, side of the picture's pixels shown as numbers
        self._build_ui()
        self._update_colour_controls()
        self._restore_settings()
        self._on_special_chosen(LECTURE_INPUT)

    @property
    def _kernels(self) -> list[np.ndarray]:
        """The kernels of the layer edited."""
        return self._layers[self._layer]

    @_kernels.setter
    def _kernels(self, kernels: list[np.ndarray]) -> None:
        self._layers[self._layer] = kernels

    # -- construction ------------------------------------------------------------------
    def _build_ui(self) -> None:
        controls = QWidget()
        form = QVBoxLayout(controls)

        box = QGroupBox("Input")
        lay = QHBoxLayout(box)
        self.source = ImageSource(self._state, "kernel_lab", specials=[LECTURE_INPUT])
        self.source.special_chosen.connect(self._on_special_chosen)
        self.source.image_loaded.connect(self._on_image_loaded)
        self.source.loading.connect(lambda name: self.message.show_info(f"Opening {name}…"))
        self.source.failed.connect(lambda text: self.source.show_failure(self.message, text))
        self.input_combo = self.source.combo
        self.open_button = self.source.open_button
        lay.addWidget(self.source)
        self.colour_check = QCheckBox("x 3 (colour)")
        self.colour_check.setToolTip(
            "Keep the picture's red, green and blue: each kernel gets a slice per channel "
            "(5x5x3 on a 32x32x3 image) and still gives one map. Off: the grey picture, "
            "F x F kernels."
        )
        self.colour_check.toggled.connect(self.set_colour)
        form.addWidget(box)

        box = QGroupBox("Kernels")
        lay = QVBoxLayout(box)
        row = QHBoxLayout()
        self.kernel_list = QListWidget()
        theme().style_size(self.kernel_list, maximum_height=90)
        self.kernel_list.setToolTip("Each kernel gives one feature map; together they stack")
        self.kernel_list.currentRowChanged.connect(self._on_kernel_selected)
        buttons = QVBoxLayout()
        self.add_button = QPushButton("Add")
        self.add_button.setToolTip("Add a kernel (Ctrl+Shift+N): one more map in the stack")
        self.add_button.clicked.connect(self.add_kernel)
        self.remove_button = QPushButton("Remove")
        self.remove_button.setToolTip("Remove the selected kernel")
        self.remove_button.clicked.connect(self.remove_kernel)
        self.put_button = QPushButton("Into a model…")
        self.put_button.setToolTip(
            "Put this kernel into a trained model: replace a filter of the MNIST CNN's "
            "conv2d_1 (or LeNet-5's C1, or a matching layer of the current model) and "
            "watch the prediction, the maps and the test accuracy follow"
        )
        self.put_button.clicked.connect(self.put_kernel_dialog)
        buttons.addWidget(self.add_button)
        buttons.addWidget(self.remove_button)
        buttons.addWidget(self.put_button)
        buttons.addStretch()
        row.addWidget(self.kernel_list, 1)
        row.addLayout(buttons)
        lay.addLayout(row)
        sub = QFormLayout()
        self.preset_combo = QComboBox()
        self.preset_combo.addItems(["(custom)", *PRESET_NAMES])
        self.preset_combo.setToolTip("Fill the selected kernel with a classic filter")
        self.preset_combo.activated.connect(self._on_preset_chosen)
        sub.addRow("Preset", self.preset_combo)
        self.size_combo = QComboBox()
        self.size_combo.addItems([f"{s}x{s}" for s in KERNEL_SIZES])
        self.size_combo.setToolTip("Kernel size F (all kernels of a stack share it)")
        self.size_combo.activated.connect(self._on_size_chosen)
        size_row = QHBoxLayout()
        size_row.addWidget(self.size_combo, 1)
        size_row.addWidget(self.colour_check)  # beside the size: F x F, or F x F x 3
        sub.addRow("Size", size_row)
        self.slice_combo = QComboBox()
        self.slice_combo.addItems(["Red (R)", "Green (G)", "Blue (B)"])
        self.slice_combo.setToolTip("The channel whose F x F slice of the kernel is edited below")
        self.slice_combo.currentIndexChanged.connect(lambda _i: self._show_current_kernel())
        self.slice_label = QLabel("Slice")
        sub.addRow(self.slice_label, self.slice_combo)
        self.normalise_button = QPushButton("Normalise (sum = 1)")
        self.normalise_button.setToolTip("Divide the weights by their sum, keeping brightness")
        self.normalise_button.clicked.connect(self._on_normalise)
        sub.addRow("", self.normalise_button)
        lay.addLayout(sub)
        self.kernel_grid = KernelGrid(3)
        theme().style_size(self.kernel_grid, minimum_height=150)
        self.kernel_grid.kernel_changed.connect(self._on_kernel_edited)
        self.kernel_grid.validity_changed.connect(self._on_validity_changed)
        lay.addWidget(self.kernel_grid)
        form.addWidget(box)

        box = QGroupBox("Convolution")
        sub = QFormLayout(box)
        self.stride_spin = QSpinBox()
        self.stride_spin.setRange(1, 8)
        self.stride_spin.setToolTip("Stride S: how many pixels the kernel moves per step")
        self.stride_spin.valueChanged.connect(self._recompute)
        sub.addRow("Stride", self.stride_spin)
        self.padding_combo = QComboBox()
        self.padding_combo.setEditable(True)
        self.padding_combo.addItems(["valid", "same", "0", "1", "2", "3"])
        self.padding_combo.setToolTip(
            "Padding P: zero rows/columns around the input; 'same' is (F-1)/2, 'valid' is 0"
        )
        self.padding_combo.currentTextChanged.connect(self._recompute)
        sub.addRow("Padding", self.padding_combo)
        self.relu_check = QCheckBox("ReLU (max(0, x))")
        self.relu_check.setToolTip("Apply the ReLU activation to the maps")
        self.relu_check.toggled.connect(self._recompute)
        sub.addRow("", self.relu_check)
        self.scale_combo = QComboBox()
        for key, label in SCALE_LABELS.items():
            self.scale_combo.addItem(label, key)
        self.scale_combo.setToolTip(
            "Photos: stretch each map over the whole colour scale (shows the pattern of a "
            "weak map), colour all maps alike (shows which map answers strongest), or "
            "white at zero, blue below and red above (shows an edge kernel's negative "
            "answers)"
        )
        self.scale_combo.activated.connect(self._on_scale_chosen)
        # Narrower than its longest entry (its list still shows it): the form keeps its width.
        self.scale_combo.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
        )
        self.scale_combo.setMinimumContentsLength(16)
        sub.addRow("Colour scale", self.scale_combo)
        form.addWidget(box)
        box = QGroupBox("Layers")
        lay = QVBoxLayout(box)
        row = QHBoxLayout()
        self.layer_combo = QComboBox()
        self.layer_combo.setToolTip(
            "The layer whose kernels are edited and whose maps are shown: each layer's maps "
            "are the next layer's input, with ReLU between"
        )
        self.layer_combo.activated.connect(self.show_layer)
        self.add_layer_button = QPushButton("Add layer")
        self.add_layer_button.setToolTip(
            "Stack a convolution layer on the last one: its kernels have one slice for each "
            "of the maps before (10 kernels 5x5x6 on 28x28x6 give 24x24x10)"
        )
        self.add_layer_button.clicked.connect(self.add_layer)
        self.remove_layer_button = QPushButton("Remove layer")
        self.remove_layer_button.setToolTip("Remove the last layer")
        self.remove_layer_button.clicked.connect(self.remove_layer)
        lay.addWidget(self.layer_combo)
        row.addWidget(self.add_layer_button)
        row.addWidget(self.remove_layer_button)
        lay.addLayout(row)
        form.addWidget(box)
        self.message = MessageBar()
        form.addWidget(self.message)
        form.addStretch()

        # Output: images for photos, numbers for small inputs, and the MLP view.
        self.input_view = MapView("Input", colour_bar=False)
        self.input_view.setToolTip("Hover a pixel to read its row, column and value(s)")
        self.map_view = MapView("Feature map")
        images_page = QSplitter(Qt.Orientation.Horizontal)
        images_page.addWidget(self.input_view)
        images_page.addWidget(self.map_view)
        images_page.setSizes([400, 600])

        numbers_page = QWidget()
        nl = QVBoxLayout(numbers_page)
        grids_box = QWidget()
        grids = QHBoxLayout(grids_box)
        grids.setContentsMargins(0, 0, 0, 0)
        # One grid for a grey input; R, G and B side by side for a colour one.
        self.input_grids = ChannelGrids()
        self.input_grid = self.input_grids.grids[0]
        self.input_grid.set_title("Input")
        self.maps_box = QWidget()
        self.maps_layout = QGridLayout(self.maps_box)
        self.maps_layout.setContentsMargins(0, 0, 0, 0)
        grids.addWidget(self.input_grids, 3)
        grids.addWidget(self.maps_box, 4)
        self._grids_row = grids
        # Where the grids need more room than the window has (three channels beside
        # their maps, zoomed in), they scroll instead of shrinking their numbers.
        grids_scroll = QScrollArea()
        grids_scroll.setWidget(grids_box)
        grids_scroll.setWidgetResizable(True)
        grids_scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        nl.addWidget(grids_scroll, 1)
        self.arithmetic_label = QLabel()
        self.arithmetic_label.setWordWrap(True)
        self.arithmetic_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        theme().style_text(self.arithmetic_label, 13, mono=True)
        nl.addWidget(self.arithmetic_label)

        self.output_stack = QStackedWidget()
        self.output_stack.addWidget(images_page)
        self.output_stack.addWidget(numbers_page)

        mlp_page = QWidget()
        ml = QVBoxLayout(mlp_page)
        self.flatten_view = FlattenView()
        self.flatten_view.set_image(lecture.FLATTEN_3X3)
        self.flatten_label = QLabel()
        self.flatten_label.setWordWrap(True)
        self.flatten_view.pixel_selected.connect(
            lambda *_: self.flatten_label.setText(self.flatten_view.explanation())
        )
        self.flatten_label.setText(self.flatten_view.explanation())
        ml.addWidget(self.flatten_view, 1)
        ml.addWidget(self.flatten_label)

        self.tabs = QTabWidget()
        self.tabs.addTab(self.output_stack, "Feature maps")
        self.tabs.addTab(mlp_page, "Why not an MLP?")
        self.tabs.addTab(self._build_pixels_page(), "What the computer sees")
        self.depth_label = QLabel()
        theme().style_text(self.depth_label, 14, bold=True)
        # A stack of layers writes a long chain: it wraps instead of widening the window.
        self.depth_label.setWordWrap(True)
        right = QWidget()
        rl = QVBoxLayout(right)
        rl.setContentsMargins(0, 0, 0, 0)
        rl.addWidget(self.depth_label)
        rl.addWidget(self.tabs, 1)

        # The controls scroll in a small window instead of setting its minimum height.
        scroll = QScrollArea()
        scroll.setWidget(controls)
        scroll.setWidgetResizable(True)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        self._controls_page, self._controls_scroll = controls, scroll
        self._fit_controls()
        theme().follow(self, self._fit_controls)  # wider with bigger text
        self.controls = scroll
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(scroll)
        splitter.addWidget(right)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([330, 870])
        outer = QHBoxLayout(self)
        outer.addWidget(splitter)

        QShortcut(QKeySequence("Ctrl+Shift+N"), self, activated=self.add_kernel)
        self._refresh_kernel_list()

    def _build_pixels_page(self) -> QWidget:
        """The slide "what we see / what computers see": the picture as its numbers."""
        page = QWidget()
        lay = QVBoxLayout(page)
        self.pixels_label = QLabel()
        self.pixels_label.setWordWrap(True)
        lay.addWidget(self.pixels_label)
        self.region_box = QWidget()
        row = QHBoxLayout(self.region_box)
        row.setContentsMargins(0, 0, 0, 0)
        self.region_top_spin = QSpinBox()
        self.region_top_spin.setToolTip("The first row of the picture shown as numbers")
        self.region_left_spin = QSpinBox()
        self.region_left_spin.setToolTip("The first column of the picture shown as numbers")
        self.region_size_spin = QSpinBox()
        self.region_size_spin.setRange(2, PIXELS_MAX_SIDE)
        self.region_size_spin.setToolTip(
            f"How many rows and columns are shown (up to {PIXELS_MAX_SIDE})"
        )
        for text, spin in (
            ("From row", self.region_top_spin),
            ("column", self.region_left_spin),
            ("size", self.region_size_spin),
        ):
            row.addWidget(QLabel(text))
            row.addWidget(spin)
            spin.valueChanged.connect(self._on_region_edited)
        row.addStretch()
        lay.addWidget(self.region_box)
        # What we see beside what the computer sees: the picture, its region framed.
        self.pixels_view = MapView("What we see", colour_bar=False)
        self.pixels_view.set_colour_map(colour_map("grey"))
        self.pixels_view.setToolTip(
            "Click a place to show the pixels around it as numbers; hover to read one"
        )
        self.pixels_view.pixel_clicked.connect(self._on_picture_clicked)
        self.pixel_grids = ChannelGrids()
        self.pixel_grids.set_readable(True)  # the area scrolls; the numbers stay readable
        scroll = QScrollArea()
        scroll.setWidget(self.pixel_grids)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        body = QSplitter(Qt.Orientation.Horizontal)
        body.addWidget(self.pixels_view)
        body.addWidget(scroll)
        body.setStretchFactor(1, 3)
        body.setSizes([200, 800])
        lay.addWidget(body, 1)
        return page

    def _fit_controls(self) -> None:
        """The control column as wide as its widgets need (they grow with the zoom)."""
        width = self._controls_page.minimumSizeHint().width() + 16
        self._controls_scroll.setMinimumWidth(width)

    # -- settings ----------------------------------------------------------------------
    def _restore_settings(self) -> None:
        s = self._settings
        with (
            QSignalBlocker(self.stride_spin),
            QSignalBlocker(self.padding_combo),
            QSignalBlocker(self.relu_check),
        ):
            self.stride_spin.setValue(int(s.value("kernel_lab/stride", 1)))
            self.padding_combo.setCurrentText(str(s.value("kernel_lab/padding", "valid")))
            self.relu_check.setChecked(s.value("kernel_lab/relu", "false") in (True, "true"))
        index = self.scale_combo.findData(str(s.value("kernel_lab/map_scale", PER_MAP)))
        self.scale_combo.setCurrentIndex(max(index, 0))  # an unknown key: the default

    def _save_settings(self) -> None:
        s = self._settings
        s.setValue("kernel_lab/stride", self.stride_spin.value())
        s.setValue("kernel_lab/padding", self.padding_combo.currentText())
        s.setValue("kernel_lab/relu", self.relu_check.isChecked())
        s.setValue("kernel_lab/map_scale", self.map_scale())

    # -- input -------------------------------------------------------------------------
    def _on_special_chosen(self, name: str) -> None:
        numbers = self._scene_numbers if name == SCENE_INPUT else None
        self._set_numbers(lecture.BINARY_5X5 if numbers is None else numbers)

    def _set_numbers(self, values: np.ndarray) -> None:
        """Numbers as the input (rows of values, or rows of [r, g, b] 0..255)."""
        a = np.asarray(values, dtype=np.float64)
        if a.ndim == 3:
            self._image_rgb = a.astype(np.uint8)
            self._grey = to_grey(self._image_rgb) / 255.0
        else:
            self._image_rgb = None
            self._grey = a
        self._input_scene = {"input": plain(a)}
        self._input_changed()

    def open_image_dialog(self) -> None:
        self.source.open_dialog()

    def load_file(self, path: Path) -> None:
        """Decode ``path`` off the UI thread; a bad file shows a message, nothing else."""
        self.source.load_file(path)

    def _on_image_loaded(self, image: np.ndarray) -> None:
        self.message.clear_message()
        self._input_scene = {"image": self.source.current_text()}
        if self._scene_size is not None:  # a scene's small photo: 32x32, say
            size, self._scene_size = self._scene_size, None
            image = np.asarray(
                Image.fromarray(image).resize((size, size), Image.Resampling.LANCZOS)
            )
            self._input_scene["size"] = size
        self._image_rgb = image
        self._grey = to_grey(image) / 255.0
        self._input_changed()

    def _input_changed(self) -> None:
        """A new input: colour needs a colour picture (a grid of numbers turns it off)."""
        self._update_colour_controls()
        h, w = self._grey.shape
        if max(h, w) <= PIXELS_MAX_SIDE:
            self._region = (0, 0, max(h, w))  # the whole picture
        else:  # its middle, until the person picks a place
            side = min(PIXELS_REGION_SIDE, h, w)
            self._region = ((h - side) // 2, (w - side) // 2, side)
        if self._colour and self._image_rgb is None:
            self.set_colour(False)  # recomputes
        else:
            self._recompute()
        self._show_picture()

    def dragEnterEvent(self, event) -> None:
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:
        path = dropped_path(event)
        if path is not None and path.suffix.lower() == ".json":
            self._state.open_scene_file(path)
        elif path is not None:
            self.load_file(path)

    # -- kernels -----------------------------------------------------------------------
    def kernel_size(self) -> int:
        return self._kernels[0].shape[0]

    def _depth(self, layer: int) -> int:
        """How many slices a kernel of ``layer`` has: the channels of its input."""
        if layer == 0:
            return 3 if self._colour else 1
        return len(self._layers[layer - 1])

    def _deep(self, kernel: np.ndarray) -> np.ndarray:
        """An F x F kernel as the edited layer holds it: a slice per channel of its input
        (the grey picture's first layer keeps F x F)."""
        if self._layer == 0 and not self._colour:
            return kernel
        return np.repeat(kernel[:, :, None], self._depth(self._layer), axis=2)

    def _update_slices(self) -> None:
        """The slice box names the edited layer's input channels (hidden for F x F)."""
        depth = self._kernels[0].shape[2] if self._kernels[0].ndim == 3 else 1
        if self._layer == 0:
            names = ["Red (R)", "Green (G)", "Blue (B)"][:depth]
        else:
            names = [f"Map {i + 1} of layer {self._layer}" for i in range(depth)]
        index = self.slice_combo.currentIndex()
        with QSignalBlocker(self.slice_combo):
            self.slice_combo.clear()
            self.slice_combo.addItems(names)
            self.slice_combo.setCurrentIndex(min(max(index, 0), depth - 1))
        shown = self._kernels[0].ndim == 3
        self.slice_combo.setVisible(shown)
        self.slice_label.setVisible(shown)

    def _update_layers(self) -> None:
        with QSignalBlocker(self.layer_combo):
            self.layer_combo.clear()
            for i, kernels in enumerate(self._layers):
                self.layer_combo.addItem(f"Layer {i + 1}: {len(kernels)} kernel(s)")
            self.layer_combo.setCurrentIndex(self._layer)
        self.remove_layer_button.setEnabled(len(self._layers) > 1)
        self._update_slices()

    def layer_count(self) -> int:
        return len(self._layers)

    def show_layer(self, index: int) -> None:
        """Edit and show layer ``index`` (from 0)."""
        if not 0 <= index < len(self._layers):
            return
        self._layer = index
        self._current = min(self._current, len(self._kernels) - 1)
        self._update_colour_controls()
        self._update_layers()
        self._refresh_kernel_list()
        self._recompute()

    def add_layer(self) -> None:
        """Stack a layer of one kernel (a vertical edge on every map before) on the last."""
        size = self._layers[-1][0].shape[0]
        depth = len(self._layers[-1])
        k = np.repeat(preset("Vertical edge", size)[:, :, None], depth, axis=2)
        self._layers.append([k])
        self.show_layer(len(self._layers) - 1)

    def remove_layer(self) -> None:
        if len(self._layers) > 1:
            self._layers.pop()
            self.show_layer(min(self._layer, len(self._layers) - 1))

    def _follow_in_next_layer(self, added: bool, index: int) -> None:
        """The next layer's kernels get a slice for a new map (zeros) or lose the slice of
        a removed one, so every kernel keeps one slice per input channel."""
        if self._layer + 1 >= len(self._layers):
            return
        nxt = self._layers[self._layer + 1]
        for i, k in enumerate(nxt):
            f = k.shape[0]
            nxt[i] = (
                np.concatenate([k, np.zeros((f, f, 1))], axis=2)
                if added
                else np.delete(k, index, axis=2)
            )
        self._update_layers()

    def _slice(self, kernel: np.ndarray) -> np.ndarray:
        """The F x F part of ``kernel`` the grid edits (the chosen channel's in colour)."""
        return kernel[:, :, self.slice_combo.currentIndex()] if kernel.ndim == 3 else kernel

    def colour(self) -> bool:
        """True when kernels are F x F x 3 on the colour picture."""
        return self._colour

    def set_colour(self, on: bool) -> None:
        """Colour (kernels F x F x 3 on the picture's R, G, B) or grey (F x F)."""
        on = bool(on) and self._image_rgb is not None
        with QSignalBlocker(self.colour_check):
            self.colour_check.setChecked(on)
        if on == self._colour:
            return
        self._colour = on
        # Each slice starts as the grey kernel; back to grey, the slices' mean.
        self._layers[0] = [
            np.repeat(k[:, :, None], 3, axis=2) if on else k.mean(axis=2) for k in self._layers[0]
        ]
        self._update_colour_controls()
        self._show_current_kernel()
        self._recompute()
        self._show_picture()

    def _update_colour_controls(self) -> None:
        self.colour_check.setEnabled(self._image_rgb is not None)
        self._update_layers()
        grey = not self._colour and self._layer == 0
        self.put_button.setEnabled(grey)
        self.put_button.setToolTip(
            "A model's first layer here takes grey pictures: put an F x F kernel of the "
            "first layer, Colour off, into it"
            if not grey
            else "Put this kernel into a trained model: replace a filter of the MNIST CNN's "
            "conv2d_1 (or LeNet-5's C1, or a matching layer of the current model) and "
            "watch the prediction, the maps and the test accuracy follow"
        )

    def add_kernel(self) -> None:
        size = self.kernel_size()
        names = [n for n in PRESET_NAMES if n not in ("Identity",)]
        self._kernels.append(self._deep(preset(names[len(self._kernels) % len(names)], size)))
        self._current = len(self._kernels) - 1
        self._follow_in_next_layer(added=True, index=self._current)
        self._refresh_kernel_list()
        self._recompute()

    def remove_kernel(self) -> None:
        if len(self._kernels) <= 1:
            self.message.show_info("A stack needs at least one kernel.")
            return
        del self._kernels[self._current]
        self._follow_in_next_layer(added=False, index=self._current)
        self._current = min(self._current, len(self._kernels) - 1)
        self._refresh_kernel_list()
        self._recompute()

    def kernels(self) -> list[np.ndarray]:
        """The edited layer's kernels (copies)."""
        return [k.copy() for k in self._kernels]

    def _refresh_kernel_list(self) -> None:
        with QSignalBlocker(self.kernel_list):
            self.kernel_list.clear()
            for i, _k in enumerate(self._kernels):
                self.kernel_list.addItem(f"Kernel {i + 1}")
            self.kernel_list.setCurrentRow(self._current)
        self.remove_button.setEnabled(len(self._kernels) > 1)
        self._show_current_kernel()

    def _show_current_kernel(self) -> None:
        with QSignalBlocker(self.kernel_grid):
            self.kernel_grid.set_kernel(self._slice(self._kernels[self._current]))
        with QSignalBlocker(self.size_combo):
            self.size_combo.setCurrentText(f"{self.kernel_size()}x{self.kernel_size()}")
        name = self.kernel_name()
        name = "(custom)" if name == "custom" else name
        with QSignalBlocker(self.preset_combo):
            self.preset_combo.setCurrentText(name)

    def kernel_name(self) -> str:
        """The preset the selected kernel is (``"Vertical edge"``), else "custom"."""
        k = self._kernels[self._current]
        return next(
            (n for n in PRESET_NAMES if np.array_equal(self._deep(preset(n, k.shape[0])), k)),
            "custom",
        )

    def put_kernel_dialog(self) -> None:
        """Ask where the selected kernel goes in a trained model, then put it there."""
        from gui.panels.kernel_lab.put_kernel_dialog import PutKernelDialog

        if self._state.tensorflow_version is None:
            self.message.show_info("TensorFlow is still loading: try again in a moment.")
            return
        dialog = PutKernelDialog(
            self._state, self._kernels[self._current], self.kernel_name(), self
        )
        dialog.open()
        self.put_dialog = dialog

    def _on_kernel_selected(self, row: int) -> None:
        if 0 <= row < len(self._kernels):
            self._current = row
            self._show_current_kernel()
            self._update_numbers()

    def _on_preset_chosen(self, index: int) -> None:
        name = self.preset_combo.itemText(index)
        if name == "(custom)":
            return
        self._kernels[self._current] = self._deep(preset(name, self.kernel_size()))
        self._show_current_kernel()
        self._recompute()

    def _on_size_chosen(self, index: int) -> None:
        size = KERNEL_SIZES[index]
        resized = []
        for k in self._kernels:
            new = np.zeros((size, size, *k.shape[2:]))
            old = k.shape[0]
            n = min(size, old)
            a, b = (size - n) // 2, (old - n) // 2
            new[a : a + n, a : a + n] = k[b : b + n, b : b + n]
            resized.append(new)
        self._kernels = resized
        self._show_current_kernel()
        self._recompute()

    def _on_normalise(self) -> None:
        if sums_to_zero(self._kernels[self._current]):
            self.message.show_info(ZERO_SUM_MESSAGE)
            return
        self._kernels[self._current] = normalise(self._kernels[self._current])
        self._show_current_kernel()
        self._recompute()

    def _on_kernel_edited(self, kernel: np.ndarray) -> None:
        if self._kernels[self._current].ndim == 3:  # the chosen channel's slice
            deep = self._kernels[self._current].copy()
            deep[:, :, self.slice_combo.currentIndex()] = kernel
            kernel = deep
        self._kernels[self._current] = kernel
        with QSignalBlocker(self.preset_combo):
            self.preset_combo.setCurrentText("(custom)")
        self._recompute()

    def _on_validity_changed(self, valid: bool) -> None:
        if not valid:
            self.message.show_error(
                "The kernel has cells that are not numbers from -1,000,000 to 1,000,000 "
                "(marked red); "
                "the map shows the last valid kernel."
            )
        else:
            self.message.clear_message()

    # -- computation -------------------------------------------------------------------
    def _recompute(self, *_args: object) -> None:
        try:
            paddings = [
                resolve_padding(self.padding_combo.currentText(), layer[0].shape[0])
                for layer in self._layers
            ]
        except ValueError as exc:
            self.message.show_error(f"Padding: {exc}")
            return
        if not self.kernel_grid.is_valid():
            return
        if self._colour and self._image_rgb is None:
            return  # a scene's colour picture is still loading
        self._save_settings()
        image = self._image_rgb / 255.0 if self._colour else self._grey
        layers = [[k.copy() for k in layer] for layer in self._layers]
        stride, relu = self.stride_spin.value(), self.relu_check.isChecked()
        # Typing into a kernel cell: only the newest waiting request runs (numpy, on
        # the compute thread, so the model thread's work does not hold it up).
        self._state.request(
            lambda _task: compute_stack(image, layers, stride, paddings, relu),
            pool="compute",
            slot=("kernel lab", id(self)),
            on_result=self._on_result,
            on_failed=self._on_compute_failed,
        )

    def _on_compute_failed(self, exc: BaseException) -> None:
        self.message.show_error(str(exc))

    def _on_result(self, results: list[LabResult]) -> None:
        self._awaiting_scene = False
        if self.kernel_grid.is_valid():  # else keep saying which cells are wrong
            self.message.clear_message()
        if len(results) != len(self._layers):
            return  # a layer was added or removed meanwhile: its result follows
        self._results = results
        result = self._result = results[self._layer]
        self.depth_label.setText(self._chain_text(results))
        small = self._shows_numbers()
        self.output_stack.setCurrentIndex(1 if small else 0)
        if self._layer > 0:  # a later layer: its input is the maps of the one before
            before = results[self._layer - 1].maps
            columns = min(before.shape[2], 4)
            mosaic = tile_maps(before, columns=columns, gap=2)
            self.input_view.set_image(mosaic.image, levels=(0.0, 1.0))
            # Numbered as the slices of this layer's kernels ("Map 2 of layer 1"); the
            # readout says their real values, not the 0..1 each is drawn on.
            self.input_view.set_labels(
                mosaic.origins, mosaic.map_shape, [i + 1 for i in range(before.shape[2])]
            )
            raw = tile_maps(before, columns=columns, normalisation="none", gap=2)
            self.input_view.set_readout_values(raw.image)
            self.input_view.set_title(
                f"Input: layer {self._layer}'s maps {'x'.join(map(str, before.shape))} (ReLU)"
            )
            self._show_map_images()
            self.map_updated.emit(result)
            return
        self.input_view.set_title("Input")
        self.scale_combo.setEnabled(not small)
        if small:
            self.flatten_view.set_image(
                self._grey if max(self._grey.shape) <= 6 else lecture.FLATTEN_3X3
            )
            self.flatten_label.setText(self.flatten_view.explanation())
            self._update_numbers()
        else:
            shown = self._image_rgb if self._image_rgb is not None else self._grey
            self.input_view.set_image(shown)
            self.input_view.set_labels()  # a later layer's numbered maps no more
            self._show_map_images()
        self.map_updated.emit(result)

    def result(self) -> LabResult | None:
        """The shown layer's maps and kernels."""
        return self._result

    def results(self) -> list[LabResult]:
        """Every layer's, first to last."""
        return list(self._results)

    def _chain_text(self, results: list[LabResult]) -> str:
        """Input 32x32x3 -> 6 kernel(s) 5x5x3 -> 28x28x6 -> ReLU -> 10 kernel(s) 5x5x6 -> …"""
        side = f"{self._grey.shape[0]}x{self._grey.shape[1]}"
        if self._colour:
            parts = [f"Input {side}x3"]
        else:
            parts = ["Input " + side + (" (grey)" if self._image_rgb is not None else "")]
        for i, r in enumerate(results):
            f, depth = r.kernels.shape[0], r.kernels.shape[2]
            kernel = f"{f}x{f}x{depth}" if depth > 1 or i > 0 else f"{f}x{f}"
            h, w, k = r.maps.shape
            step = f"{k} kernel(s) {kernel}"
            if len(results) == 1:
                step += f", stride {r.stride}, padding {r.padding}"
            maps = f"{h}x{w}x{k}" if len(results) > 1 else f"feature maps {h}x{w}x{k}"
            if len(results) > 1 and i == self._layer:
                maps = f"[{maps}]"
            parts += [step, maps + (" -> ReLU" if i < len(results) - 1 else "")]
        return "  ->  ".join(parts)

    def map_scale(self) -> str:
        """How photos' maps are coloured: ``PER_MAP`` or ``SHARED``."""
        return str(self.scale_combo.currentData())

    def _shows_numbers(self) -> bool:
        """Small inputs as numbers (a colour one as its R, G and B grids)."""
        return self._layer == 0 and max(self._grey.shape) <= NUMBERS_MAX_SIDE

    def _on_scale_chosen(self, _index: int) -> None:
        self._save_settings()
        if self._result is not None and not self._shows_numbers():
            self._show_map_images()

    def _show_map_images(self) -> None:
        r = self._result
        if r is None:
            return
        h, w, k = r.maps.shape
        self.map_view.set_colour_map(
            diverging_map() if self.map_scale() == DIVERGING else colour_map("viridis")
        )
        if self.map_scale() == PER_MAP:
            mosaic = tile_maps(r.maps, columns=min(k, 4), normalisation="per_map", gap=2)
            self.map_view.set_image(mosaic.image, levels=(0.0, 1.0))
            # Drawn 0 to 1 each, read out as they are.
            raw = tile_maps(r.maps, columns=min(k, 4), normalisation="none", gap=2)
            self.map_view.set_readout_values(raw.image)
            scale = "each on its own scale, 0 to 1"
        elif self.map_scale() == DIVERGING:
            mosaic = tile_maps(r.maps, columns=min(k, 4), normalisation="none", gap=2)
            peak = float(np.nanmax(np.abs(mosaic.image))) if np.isfinite(mosaic.image).any() else 0
            peak = peak if peak > 0 else 1.0
            self.map_view.set_image(mosaic.image, levels=(-peak, peak))  # 0 is white
            scale = "white at 0, blue below, red above"
        else:
            mosaic = tile_maps(r.maps, columns=min(k, 4), normalisation="none", gap=2)
            self.map_view.set_image(mosaic.image)
            scale = "one scale for all"
        # Each map numbered as its kernel in the list (Kernel 1, Kernel 2, …).
        self.map_view.set_labels(mosaic.origins, mosaic.map_shape, [i + 1 for i in range(k)])
        layer = f"Layer {self._layer + 1}: " if len(self._layers) > 1 else ""
        self.map_view.set_title(f"{layer}feature maps {h}x{w}x{k} ({scale})")

    # -- numbers view ------------------------------------------------------------------
    @property
    def output_grid(self) -> CellGrid:
        """The map of the selected kernel in the numbers view."""
        return self.output_grids[min(self._current, len(self.output_grids) - 1)]

    def _ensure_map_grids(self, count: int) -> None:
        """One CellGrid per kernel, side by side (wrapping after ``NUMBERS_COLUMNS``)."""
        while len(self.output_grids) < count:
            index = len(self.output_grids)
            # No minimum of its own: its hint keeps the numbers readable at every zoom
            # (the grids scroll where they do not fit).
            grid = CellGrid()
            grid.setToolTip("Click a cell to see the arithmetic that produced it")
            grid.cell_clicked.connect(
                lambda row, col, i=index: self._on_output_cell_clicked(i, row, col)
            )
            self.output_grids.append(grid)
        while len(self.output_grids) > count:
            grid = self.output_grids.pop()
            self.maps_layout.removeWidget(grid)
            grid.deleteLater()
        for i, grid in enumerate(self.output_grids):
            self.maps_layout.addWidget(grid, i // NUMBERS_COLUMNS, i % NUMBERS_COLUMNS)
            grid.show()  # a child added to a shown widget would appear only later

    def _update_numbers(self) -> None:
        if self._result is None or not self._shows_numbers():
            return
        r = self._result
        h, w, k = r.maps.shape
        self._ensure_map_grids(k)
        # The width shared by the cells of both sides: one cell is as wide in the input
        # as in the maps (a 20x20 input beside its 20x20 map gets half, not 3/7).
        colour = self._numbers_in_colour(r)
        channels = len(CHANNELS) if colour else 1
        self._grids_row.setStretch(0, channels * (self._grey.shape[1] + 2 * r.padding))
        self._grids_row.setStretch(1, w * min(k, NUMBERS_COLUMNS))
        # In colour the picture's own integers 0..255, a grid per channel.
        pixels = self._image_rgb if colour else self._grey
        self.input_grids.set_pixels(pixels, pad=r.padding, title="Input")
        for i, grid in enumerate(self.output_grids):
            grid.set_values(r.maps[:, :, i])
            marker = " (selected)" if i == min(self._current, k - 1) and k > 1 else ""
            grid.set_title(f"Kernel {i + 1}: map {h}x{w}{marker}")
        row, col = self._selected_cell
        if row >= h or col >= w:
            row, col = 0, 0
        self._select_output_cell(row, col)

    def _numbers_in_colour(self, r: LabResult) -> bool:
        """The numbers view shows R, G and B: colour mode, and ``r`` is of its kernels (a
        result of the grey kernels may arrive while a scene's colour picture loads)."""
        return self._colour and self._image_rgb is not None and r.kernels.shape[2] == 3

    def _on_output_cell_clicked(self, index: int, row: int, col: int) -> None:
        self._selected_cell = (row, col)
        if index != self._current:
            self.kernel_list.setCurrentRow(index)  # shows that kernel and its arithmetic
        else:
            self._select_output_cell(row, col)

    def _select_output_cell(self, row: int, col: int) -> None:
        r = self._result
        if r is None or not self.output_grids:
            return
        self._selected_cell = (row, col)
        idx = min(self._current, r.maps.shape[2] - 1)
        for i, grid in enumerate(self.output_grids):
            grid.set_active_cell(row if i == idx else None, col)
        if self._numbers_in_colour(r):
            text, cell = self._colour_arithmetic(idx, row, col)
        else:
            cell = window_arithmetic(
                self._grey, r.kernels[:, :, 0, idx], "conv", r.stride, r.padding, row, col
            )
            text = cell.text()
        self.input_grids.set_window(cell.top, cell.left, r.kernels.shape[0])
        if r.relu:
            text += (
                f"\nReLU: max(0, {format_number(cell.value)}) = {format_number(max(cell.value, 0))}"
            )
        self.arithmetic_label.setText(f"Kernel {idx + 1}, output cell ({row}, {col}):\n{text}")

    def _colour_arithmetic(self, idx: int, row: int, col: int) -> tuple[str, _Value]:
        """A colour cell's arithmetic on the grids' own integers: each channel's window
        times that channel's slice, then the three sums added and divided by 255 (the
        kernels get the pixels as 0..1). Returns the text and a cell with the window's
        place and the value (before ReLU)."""
        r = self._result
        rgb = self._image_rgb.astype(np.float64)
        cells = [
            window_arithmetic(
                rgb[:, :, ch], r.kernels[:, :, ch, idx], "conv", r.stride, r.padding, row, col
            )
            for ch in range(len(CHANNELS))
        ]
        lines = [
            f"{letter}: {c.text()}" for (_n, letter, _c), c in zip(CHANNELS, cells, strict=True)
        ]
        sums = [format_number(c.value) for c in cells]
        sums = [f"({t})" if t.startswith("-") else t for t in sums]
        value = sum(c.value for c in cells) / 255.0
        lines.append(
            f"(R + G + B) / 255 = ({' + '.join(sums)}) / 255 = {format_number(value)}"
            "   (the kernels get the pixels / 255: 0..1)"
        )
        return "\n".join(lines), _Value(cells[0].top, cells[0].left, value)

    def arithmetic_text(self) -> str:
        return self.arithmetic_label.text()

    # -- the picture as numbers ----------------------------------------------------------
    def region(self) -> tuple[int, int, int, int]:
        """The (top, left, height, width) of the picture shown as numbers."""
        h, w = self._grey.shape
        top, left, side = self._region
        return top, left, min(side, h - top), min(side, w - left)

    def _show_picture(self) -> None:
        """A new picture, or colour mode changed: the picture and its numbers."""
        colour = self._colour and self._image_rgb is not None
        self.pixels_view.set_image(self._image_rgb if colour else self._grey)
        self._show_pixels()

    def _show_pixels(self) -> None:
        """'What the computer sees': the picture's numbers, whole or a region; in colour
        mode its integers 0..255, a grid per channel, in grey mode one grid as the
        kernels see it."""
        h, w = self._grey.shape
        top, left, rows, cols = self.region()
        colour = self._colour and self._image_rgb is not None
        pixels = self._image_rgb if colour else self._grey
        part = pixels[top : top + rows, left : left + cols]
        title = "" if colour else ("Grey" if self._image_rgb is not None else "Input")
        self.pixel_grids.set_pixels(part, title=title)
        whole = (rows, cols) == (h, w)
        self.region_box.setVisible(max(h, w) > PIXELS_MAX_SIDE or not whole)
        self.pixels_view.set_mark(None if whole else (top, left, rows, cols))
        with (
            QSignalBlocker(self.region_top_spin),
            QSignalBlocker(self.region_left_spin),
            QSignalBlocker(self.region_size_spin),
        ):
            self.region_size_spin.setMaximum(min(PIXELS_MAX_SIDE, h, w))
            self.region_size_spin.setValue(self._region[2])
            self.region_top_spin.setRange(0, max(h - self._region[2], 0))
            self.region_left_spin.setRange(0, max(w - self._region[2], 0))
            self.region_top_spin.setValue(top)
            self.region_left_spin.setValue(left)
        if colour:
            what = f"{rows} x {cols} x 3 = {rows * cols * 3:,} integers from 0 to 255"
            how = "a grid per channel: red, green and blue (the kernels get them / 255)"
        elif self._image_rgb is not None:
            what = f"{rows} x {cols} = {rows * cols:,} grey values from 0 (black) to 1 (white)"
            how = "as the kernels see it; tick 'x 3 (colour)' for the red, green and blue 0..255"
        else:
            what = f"{rows} x {cols} = {rows * cols:,} numbers"
            how = "the input as the kernels see it"
        if whole:
            where = "The picture as the computer sees it"
        else:
            where = (
                f"Rows {top}-{top + rows - 1}, columns {left}-{left + cols - 1} of the "
                f"{h} x {w} picture (click the picture to move)"
            )
        self.pixels_label.setText(f"{where}: {what}, {how}.")

    def _on_region_edited(self, *_args: object) -> None:
        side = self.region_size_spin.value()
        h, w = self._grey.shape
        top = min(self.region_top_spin.value(), max(h - side, 0))
        left = min(self.region_left_spin.value(), max(w - side, 0))
        self._region = (top, left, side)
        self._show_pixels()

    def _on_picture_clicked(self, row: int, col: int) -> None:
        """A click on the picture centres the numbers' region there."""
        h, w = self._grey.shape
        side = self._region[2]
        top = min(max(row - side // 2, 0), max(h - side, 0))
        left = min(max(col - side // 2, 0), max(w - side, 0))
        self._region = (top, left, side)
        self._show_pixels()

    # -- scenes ------------------------------------------------------------------------
    def scene(self) -> dict:
        padding = self.padding_combo.currentText().strip()
        return {
            "panel": "kernels",
            **self._input_scene,
            "kernels": [plain(k) for k in self._layers[0]],
            "stride": self.stride_spin.value(),
            "padding": int(padding) if padding.isdigit() else padding,
            "relu": self.relu_check.isChecked(),
            "colour": self._colour,
            "tab": KERNEL_LAB_TABS[self.tabs.currentIndex()],
            "cell": list(self._selected_cell),
            "selected": self._current,
            **(
                {"layers": [[plain(k) for k in layer] for layer in self._layers[1:]]}
                if len(self._layers) > 1
                else {}
            ),
            "layer_shown": self._layer,
        }

    def apply_scene(self, scene: dict) -> None:
        if "kernels" in scene:
            first = [np.asarray(k, dtype=np.float64) for k in scene["kernels"]]
            later = scene.get("layers", [])
            self._layers = [first, *([np.asarray(k, dtype=np.float64) for k in ks] for ks in later)]
            self._layer = min(scene.get("layer_shown", 0), len(self._layers) - 1)
            self._current = min(scene.get("selected", 0), len(self._kernels) - 1)
            # Kernels F x F x 3 are colour (their picture may still be loading).
            self._colour = first[0].ndim == 3
            with QSignalBlocker(self.colour_check):
                self.colour_check.setChecked(self._colour)
            self._update_colour_controls()
            self._refresh_kernel_list()
        with (
            QSignalBlocker(self.stride_spin),
            QSignalBlocker(self.padding_combo),
            QSignalBlocker(self.relu_check),
        ):
            if "stride" in scene:
                self.stride_spin.setValue(scene["stride"])
            if "padding" in scene:
                self.padding_combo.setCurrentText(str(scene["padding"]))
            if "relu" in scene:
                self.relu_check.setChecked(scene["relu"])
        if "cell" in scene:
            self._selected_cell = (scene["cell"][0], scene["cell"][1])
        if "tab" in scene:
            self.tabs.setCurrentIndex(KERNEL_LAB_TABS.index(scene["tab"]))
        self._awaiting_scene = True
        if "input" in scene and np.array_equal(scene["input"], lecture.BINARY_5X5):
            self.source.select_special(LECTURE_INPUT)  # named as the lecture's own
            self._set_numbers(lecture.BINARY_5X5)
        elif "input" in scene:
            self._scene_numbers = np.asarray(scene["input"], dtype=np.float64)
            self.source.select_special(SCENE_INPUT)
            self._set_numbers(self._scene_numbers)
        elif "image" in scene:
            self._scene_size = scene.get("size")
            name = scene["image"]
            samples = {k.lower(): v for k, v in sample_images().items()}
            self.source.load_file(samples.get(name.lower()) or Path(name))
        else:
            self._recompute()

    def is_ready(self) -> bool:
        return self._result is not None and not self._awaiting_scene


if __name__ == "__main__":
    from gui.preview import preview

    preview(KernelLabPanel, (1200, 750), tensorflow=False)
