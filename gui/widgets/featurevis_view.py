"""What a channel wants to see: the "What it wants" tab of the Activations panel.

A view of the application state: it reads the current model and the selected layer and
map (channel), never a copy of them. For the selected channel it shows a synthetic image
that excites it (``engine.featurevis.maximize``), forming live on the model thread, and
keeps it in a disk cache keyed by the model's weights, the layer, the channel and the
settings (``cache_key``), so a whole layer's gallery is made once and browsed instantly
later. "Whole layer" fills the gallery in the background; "Top 9" finds the inputs that
excite the channel most (the MNIST test digits the app ships, or a folder of the
person's images) and shows the patch its strongest unit sees, as the Deep Visualization
Toolbox does.
"""

from __future__ import annotations

import bisect
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QSettings, QSignalBlocker, QSize, Qt
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QAbstractSpinBox,
    QApplication,
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QListView,
    QListWidget,
    QListWidgetItem,
    QProgressBar,
    QPushButton,
    QSizePolicy,
    QSpinBox,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from engine import featurevis
from engine.paths import user_data_dir
from gui.state import AppState, InputKind, OpenModel
from gui.widgets.icons import icon_of, to_rgb
from gui.widgets.map_view import MapView
from gui.widgets.message_bar import MessageBar
from gui.workers import Cancelled, Task, Worker

log = logging.getLogger(__name__)

#: The seed of every picture (part of the cache key): the same picture every time.
SEED = 0
DEFAULT_STEPS = 128
DEFAULT_SIZE = 128
#: Files a folder source reads, and how many of them at most (the first, by name).
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")
MAX_IMAGES = 500
#: Top 9 sources (keys stored in settings) and their labels.
MNIST_SOURCE, FOLDER_SOURCE, CHOOSE_FOLDER = "mnist", "folder", "choose"
MNIST_LABEL = "MNIST test digits (500)"
CHOOSE_LABEL = "A folder of images…"
GALLERY_ICON = 56
CROP_ICON = 64


def cache_dir() -> Path:
    """Where the pictures are kept: ``user_data_dir()/featurevis`` (made on demand)."""
    folder = user_data_dir() / "featurevis"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def spatial_channels(model: OpenModel | None, layer: str | None) -> int | None:
    """How many maps ``layer`` has when its output is (batch, H, W, channels), else None."""
    if model is None or layer is None:
        return None
    try:
        found = model.model.get_layer(layer)
        shape = found.output.shape
    except (ValueError, AttributeError) as exc:
        log.debug("no maps for %s: %s", layer, exc)
        return None
    if type(found).__name__ == "InputLayer":  # the image itself: nothing to maximise
        return None
    if len(shape) != 4 or shape[-1] is None or len(model.model.inputs[0].shape) != 4:
        return None
    return int(shape[-1])


@dataclass(frozen=True)
class Target:
    """What the pictures are made of: a model, a layer of it and the settings.

    ``tag`` identifies it (a result made for another tag is not shown); ``size`` is the
    picture's (height, width); ``ask_size`` what ``maximize`` is given (None: the model's
    own size).
    """

    model: OpenModel
    layer: str
    channels: int
    size: tuple[int, int]
    ask_size: int | None
    steps: int

    @property
    def tag(self) -> tuple[Any, ...]:
        return (self.model.serial, self.layer, self.size, self.steps)

    def settings(self) -> dict[str, Any]:
        return {
            "size": list(self.size),
            "steps": self.steps,
            "seed": SEED,
            "scaling": self.model.loaded.spec.scaling,
        }

    def path(self, channel: int, digest: str) -> Path:
        key = featurevis.cache_key(None, self.layer, channel, self.settings(), digest=digest)
        return cache_dir() / f"{key}.npz"


@dataclass(frozen=True)
class Frame:
    """A picture as it forms (a record of a job)."""

    tag: tuple[Any, ...]
    channel: int
    fraction: float
    image: np.ndarray
    done: int  # channels of the job finished before this one
    total: int  # channels the job makes


@dataclass(frozen=True)
class Made:
    """A finished picture (a record of a job); ``seconds`` None: read from the cache."""

    tag: tuple[Any, ...]
    channel: int
    vis: featurevis.Visualisation
    seconds: float | None
    done: int
    total: int
    save_error: str = ""


@dataclass
class Priority:
    """The channel a running "Whole layer" job makes next (set by the UI thread)."""

    channel: int | None = None

    def pick(self, todo: list[int]) -> int:
        c = self.channel
        return c if c is not None and c in todo else todo[0]


def read_cached(path: Path) -> featurevis.Visualisation | None:
    """The picture in ``path``, or None when there is none or it cannot be read."""
    if not path.is_file():
        return None
    try:
        return featurevis.load_visualisation(path)
    except ValueError as exc:
        log.warning("ignoring a cached picture that cannot be read: %s", exc)
        return None


def make_pictures(
    target: Target, channels: list[int] | None, priority: Priority, task: Task
) -> str:
    """Make (or read from the cache) the pictures of ``channels`` (None: every channel not
    cached yet), on the model thread; each one goes out as records. Returns the digest.

    The digest is computed here, in the same job as the pictures: no edit of the model's
    weights can come between the two (one thread uses the model).
    """
    loaded = target.model.loaded
    digest = featurevis.weights_digest(loaded)
    if channels is None:
        todo = [c for c in range(target.channels) if not target.path(c, digest).is_file()]
    else:
        todo = list(channels)
    total, done = len(todo), 0
    every = max(1, min(8, target.steps // 16))
    while todo:
        if task.cancelled():
            raise Cancelled()
        c = priority.pick(todo)
        todo.remove(c)
        path = target.path(c, digest)
        vis = read_cached(path)
        if vis is not None:
            done += 1
            task.record(Made(target.tag, c, vis, None, done, total))
            continue

        def progress(fraction: float, image: np.ndarray, c: int = c, done: int = done) -> None:
            task.record(Frame(target.tag, c, fraction, image, done, total))

        start = time.perf_counter()
        try:
            vis = featurevis.maximize(
                loaded,
                target.layer,
                c,
                size=target.ask_size,
                steps=target.steps,
                seed=SEED,
                progress=progress,
                cancelled=task.cancelled,
                every=every,
            )
        except InterruptedError:
            raise Cancelled() from None
        seconds = time.perf_counter() - start
        error = ""
        try:
            featurevis.save_visualisation(path, vis)
        except OSError as exc:
            log.warning("could not keep the picture in the cache %s: %s", path, exc)
            error = f"{type(exc).__name__}: {exc}"
        done += 1
        task.record(Made(target.tag, c, vis, seconds, done, total, error))
    return digest


# -- Top 9 ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class TopItem:
    """One of the inputs that excite a channel most: its value, name and patch."""

    index: int
    value: float
    name: str
    crop: np.ndarray  # (h, w, 3) uint8: what the strongest unit sees
    box: tuple[int, int, int, int]  # of that crop, in ``pixels``
    pixels: np.ndarray  # the image to make the current input
    digit: bool  # an MNIST digit (opened with ``open_digit``) or a file
    label: str = ""  # a short name under the patch


@dataclass(frozen=True)
class TopResult:
    tag: tuple[Any, ...]  # (model serial, layer, channel, source)
    items: list[TopItem]
    searched: int
    description: str  # "the 500 MNIST test digits", "12 images in photos"
    notes: list[str] = field(default_factory=list)  # skipped files, a cap


@dataclass(frozen=True)
class FolderScan:
    """The images of a folder that can be read (the first ``MAX_IMAGES`` by name)."""

    folder: Path
    stamp: float
    paths: list[Path]
    unreadable: list[tuple[str, str]]  # (file name, why)
    found: int  # image files in the folder (more than read when capped)


def scan_folder(folder: Path, progress: Callable[[float, str], None]) -> FolderScan:
    """Read every image file of ``folder`` once to know which ones can be read."""
    from engine.images import load_image

    if not folder.is_dir():
        raise ValueError(f"'{folder}' is not a folder (moved or deleted?)")
    try:
        files = sorted(
            (p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()),
            key=lambda p: p.name.lower(),
        )
    except OSError as exc:
        raise ValueError(f"the folder '{folder}' cannot be read: {exc}") from exc
    found = len(files)
    files = files[:MAX_IMAGES]
    readable, unreadable = [], []
    for i, p in enumerate(files):
        progress(0.3 * i / max(len(files), 1), f"checking image {i + 1} of {len(files)}")
        try:
            load_image(p)
        except ValueError as exc:  # ImageLoadError: its message says why
            unreadable.append((p.name, str(exc)))
            continue
        readable.append(p)
    return FolderScan(folder, folder.stat().st_mtime, readable, unreadable, found)


def crop_box_to(
    box: tuple[int, int, int, int], pixels: np.ndarray, min_side: int = 3
) -> np.ndarray:
    top, left, bottom, right = box
    crop = pixels[top : max(bottom, top + 1), left : max(right, left + 1)]
    if crop.size == 0 or min(crop.shape[:2]) < 1:
        crop = pixels
    return to_rgb(crop)


def find_top(
    model: OpenModel,
    layer: str,
    channel: int,
    source: str,
    scan: FolderScan | None,
    task: Task,
) -> TopResult:
    """The nine inputs of ``source`` that excite ``channel`` of ``layer`` most, with the
    patch each one's strongest unit sees (on the model thread)."""
    from engine.display import input_to_pixels
    from engine.images import load_image

    loaded = model.loaded
    spec = loaded.spec
    tag = (model.serial, layer, channel, source if scan is None else str(scan.folder))
    fixed = None not in tuple(loaded.model.inputs[0].shape[1:3])

    def run(images: Any, prepare: Any, start: float, batch: int) -> list[featurevis.Example]:
        def progress(fraction: float, message: str) -> None:
            task.progress(start + (1 - start) * fraction, message)

        return featurevis.top_examples(
            loaded,
            layer,
            channel,
            images,
            k=9,
            batch_size=batch,
            prepare=prepare,
            progress=progress,
            cancelled=task.cancelled,
        )

    def patch_of_input(x: np.ndarray, e: featurevis.Example) -> tuple[np.ndarray, Any]:
        pixels = input_to_pixels(x, spec.scaling)
        box = featurevis.example_crop(x.shape[:2], loaded, layer, e.row, e.col)
        return pixels, box

    items: list[TopItem] = []
    notes: list[str] = []
    if source == MNIST_SOURCE:
        from engine.mnist_data import bundled_test_digits

        digits, labels = bundled_test_digits()
        xs = loaded.prepare_digits(digits)
        for e in run(xs, None, 0.0, 64):
            pixels, box = patch_of_input(xs[e.index], e)
            name = f"test digit #{e.index} (a {labels[e.index]})"
            crop = crop_box_to(box, pixels)
            short = f"#{e.index} ({labels[e.index]})"
            items.append(TopItem(e.index, e.value, name, crop, box, digits[e.index], True, short))
        return TopResult(tag, items, len(digits), "the 500 MNIST test digits the app ships")
    if scan is None:
        raise ValueError("choose a folder of images first")
    if not scan.paths:
        raise ValueError(
            f"no readable images ({', '.join(s.lstrip('.') for s in IMAGE_SUFFIXES)}) in "
            f"'{scan.folder}'"
        )
    # Images of different sizes cannot share a batch for a model that takes any size.
    examples = run(scan.paths, lambda p: loaded.prepare(load_image(p)), 0.3, 32 if fixed else 1)
    for e in examples:
        path = scan.paths[e.index]
        photo = load_image(path)
        if fixed and not spec.digit:
            box = featurevis.example_crop(photo, loaded, layer, e.row, e.col)
            pixels = photo
        else:  # the model sees a prepared digit, or a resized photo: crop what it sees
            pixels, box = patch_of_input(loaded.prepare(photo), e)
        items.append(
            TopItem(
                e.index, e.value, path.name, crop_box_to(box, pixels), box, photo, False, path.name
            )
        )
    if scan.unreadable:
        names = ", ".join(f"{n} ({why})" for n, why in scan.unreadable[:3])
        more = "" if len(scan.unreadable) <= 3 else f" and {len(scan.unreadable) - 3} more"
        notes.append(
            f"{len(scan.unreadable)} of {len(scan.unreadable) + len(scan.paths)} files could "
            f"not be read and were skipped: {names}{more}."
        )
    if scan.found > MAX_IMAGES:
        notes.append(
            f"Only the first {MAX_IMAGES} of the folder's {scan.found} images (by name) were "
            "searched."
        )
    what = f"{len(scan.paths)} images in '{scan.folder.name}'"
    return TopResult(tag, items, len(scan.paths), what, notes)


class FeatureVisView(QWidget):
    """The "What it wants" tab: a channel's synthetic image, its layer's gallery, and the
    inputs that excite it most.

    Reads ``state.model`` and ``state.selection`` (layer, map); the channel spin box
    writes ``state.select_map``. Pictures are made only while the tab is shown (they
    cost the model thread, which other views need); a hidden tab catches up when shown.
    """

    def __init__(self, state: AppState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._state = state
        self._settings = QSettings()
        self._digests: dict[int, str] = {}  # OpenModel.serial -> weights digest
        self._digest_pending: int | None = None
        self._digest_make = False  # make the picture once the digest is known
        self._worker: Worker | None = None
        self._job_tag: tuple[Any, ...] | None = None
        self._job_channels: tuple[int, ...] | None = None  # None: the whole layer
        self._priority = Priority()
        self._gallery_tag: tuple[Any, ...] | None = None
        self._gallery_order: list[int] = []  # the channels in the gallery, ascending
        self._gallery_worker: Worker | None = None
        self._shown: tuple[tuple[Any, ...], int] | None = None  # (tag, channel) of the image
        self._vis: featurevis.Visualisation | None = None
        self._top_worker: Worker | None = None
        self._top: TopResult | None = None
        self._scans: dict[str, FolderScan] = {}
        self._stale = False
        self._build_ui()
        state.model_changed.connect(self._on_model_changed)
        state.selection_changed.connect(lambda _s: self._refresh())
        state.activations_changed.connect(lambda _a: self._update_header())
        self._on_model_changed(state.model)

    # -- the widgets ---------------------------------------------------------------------
    def _build_ui(self) -> None:
        self.header = QLabel()
        self.header.setStyleSheet("font-weight: bold;")
        self.note = QLabel()
        self.note.setStyleSheet("color: #8a5a00;")
        for label in (self.header, self.note):
            label.setWordWrap(True)
            label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)

        self.channel_spin = QSpinBox()
        self.channel_spin.setRange(-1, 0)
        self.channel_spin.setSpecialValueText("none")
        self.channel_spin.setKeyboardTracking(False)  # a typed number counts when complete
        self.channel_spin.setToolTip(
            "The channel (map) of the selected layer; the same as clicking a map in All maps"
        )
        self.channel_spin.valueChanged.connect(self._on_channel_typed)
        self.steps_spin = QSpinBox()
        self.steps_spin.setRange(1, 4096)
        self.steps_spin.setValue(int(self._settings.value("featurevis/steps", DEFAULT_STEPS)))
        self.steps_spin.setKeyboardTracking(False)
        self.steps_spin.setToolTip(
            "Gradient steps per picture: 128 is a good picture, 32 already shows the pattern"
        )
        self.steps_spin.valueChanged.connect(self._on_settings_changed)
        self.size_label = QLabel("Size")
        self.size_spin = QSpinBox()
        self.size_spin.setRange(16, 512)
        self.size_spin.setSuffix(" px")
        self.size_spin.setValue(int(self._settings.value("featurevis/size", DEFAULT_SIZE)))
        self.size_spin.setKeyboardTracking(False)
        self.size_spin.setToolTip("The picture's side (this model takes images of any size)")
        self.size_spin.valueChanged.connect(self._on_settings_changed)
        settings_row = QHBoxLayout()
        for label, spin in (
            (QLabel("Channel"), self.channel_spin),
            (QLabel("Steps"), self.steps_spin),
            (self.size_label, self.size_spin),
        ):
            settings_row.addWidget(label)
            settings_row.addWidget(spin)
        settings_row.addStretch(1)

        self.show_button = QPushButton("Show what it wants")
        self.show_button.setToolTip(
            "Make the picture that excites the selected channel most (Enter); a picture "
            "made before comes from the disk cache at once"
        )
        self.show_button.clicked.connect(self.show_channel)
        self.layer_button = QPushButton("Whole layer")
        self.layer_button.setToolTip(
            "Make the pictures of every channel of this layer not made yet, in the "
            "background; they fill the gallery as they come and stay on disk"
        )
        self.layer_button.clicked.connect(self.make_whole_layer)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Stop making pictures (the finished ones are kept)")
        self.cancel_button.clicked.connect(self.cancel)
        buttons = QHBoxLayout()
        buttons.addWidget(self.show_button)
        buttons.addWidget(self.layer_button)
        buttons.addWidget(self.cancel_button)
        buttons.addStretch(1)
        for key in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            shortcut = QShortcut(QKeySequence(key), self)
            shortcut.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            shortcut.activated.connect(self._on_enter)

        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setToolTip("How far the picture (or the whole layer) is")
        self.progress_label = QLabel()
        self.progress_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        progress_row = QHBoxLayout()
        progress_row.setContentsMargins(0, 0, 0, 0)
        progress_row.addWidget(self.progress, 1)
        progress_row.addWidget(self.progress_label, 1)
        self.progress_box = QWidget()
        self.progress_box.setLayout(progress_row)
        self.progress_box.setVisible(False)

        self.image_view = MapView("", colour_bar=False)
        self.image_view.setToolTip("The picture that excites the channel most: wheel zooms")
        self.result_label = QLabel()
        self.result_label.setWordWrap(True)
        self.result_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        image_box = QWidget()
        il = QVBoxLayout(image_box)
        il.setContentsMargins(0, 0, 0, 0)
        il.addWidget(self.image_view, 1)
        il.addWidget(self.result_label)

        # The layer's gallery: every cached picture; a click selects that channel.
        self.gallery_label = QLabel()
        self.gallery_label.setWordWrap(True)
        self.gallery_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.gallery = self._icon_list(GALLERY_ICON, 22)
        self.gallery.setToolTip("The pictures made for this layer: click one to select its channel")
        self.gallery.itemClicked.connect(self._on_gallery_clicked)
        gallery_box = QWidget()
        gl = QVBoxLayout(gallery_box)
        gl.addWidget(self.gallery_label)
        gl.addWidget(self.gallery, 1)

        # Top 9: the inputs that excite the channel most.
        self.source_combo = QComboBox()
        self.source_combo.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
        )
        self.source_combo.setMinimumContentsLength(12)
        self.source_combo.setToolTip("Where to look for the inputs that excite the channel most")
        self.source_combo.activated.connect(self._on_source_chosen)
        self.top_button = QPushButton("Find the top 9")
        self.top_button.setToolTip(
            "Run every input of the source through the model and keep the nine whose "
            "channel is strongest somewhere; each shows the patch that unit sees"
        )
        self.top_button.clicked.connect(self.find_top)
        self.top_cancel = QPushButton("Cancel")
        self.top_cancel.setToolTip("Stop searching")
        self.top_cancel.clicked.connect(self.cancel_top)
        self.top_cancel.setEnabled(False)
        top_row = QHBoxLayout()
        top_row.addWidget(self.source_combo, 1)
        top_row.addWidget(self.top_button)
        top_row.addWidget(self.top_cancel)
        self.top_progress = QProgressBar()
        self.top_progress.setRange(0, 1000)
        self.top_progress.setVisible(False)
        self.top_label = QLabel("Find the inputs that excite the selected channel most.")
        self.top_label.setWordWrap(True)
        self.top_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.top_list = self._icon_list(CROP_ICON, 40)
        self.top_list.setToolTip("Click a patch to make its image the current input")
        self.top_list.itemClicked.connect(self._on_top_clicked)
        top_box = QWidget()
        tl = QVBoxLayout(top_box)
        tl.addLayout(top_row)
        tl.addWidget(self.top_progress)
        tl.addWidget(self.top_label)
        tl.addWidget(self.top_list, 1)

        self.side_tabs = QTabWidget()
        self.side_tabs.addTab(gallery_box, "Layer gallery")
        self.side_tabs.addTab(top_box, "Top 9")
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(image_box)
        splitter.addWidget(self.side_tabs)
        splitter.setSizes([400, 400])
        splitter.setChildrenCollapsible(False)

        self.message = MessageBar()
        lay = QVBoxLayout(self)
        lay.addWidget(self.header)
        lay.addWidget(self.note)
        lay.addLayout(settings_row)
        lay.addLayout(buttons)
        lay.addWidget(self.progress_box)
        lay.addWidget(splitter, 1)
        lay.addWidget(self.message)
        self._update_running()

    @staticmethod
    def _icon_list(side: int, text_height: int) -> QListWidget:
        w = QListWidget()
        w.setViewMode(QListView.ViewMode.IconMode)
        w.setIconSize(QSize(side, side))
        w.setGridSize(QSize(side + 14, side + text_height))
        w.setResizeMode(QListView.ResizeMode.Adjust)
        w.setMovement(QListView.Movement.Static)
        w.setWordWrap(True)
        w.setUniformItemSizes(True)
        w.setMinimumWidth(side + 40)
        return w

    # -- what is shown -------------------------------------------------------------------
    def target(self) -> Target | None:
        """The current model, selected layer and settings; None when the layer has no maps."""
        model, layer = self._state.model, self._state.selection.layer
        channels = spatial_channels(model, layer)
        if model is None or layer is None or channels is None:
            return None
        fixed = tuple(model.model.inputs[0].shape[1:3])
        if None in fixed:
            side = self.size_spin.value()
            size, ask = (side, side), side
        else:
            size, ask = (int(fixed[0]), int(fixed[1])), None
        return Target(model, layer, channels, size, ask, self.steps_spin.value())

    def _update_header(self) -> None:
        state = self._state
        model, layer, channel = state.model, state.selection.layer, state.selection.map
        channels = spatial_channels(model, layer)
        if model is None:
            self.header.setText("What a channel wants to see: waiting for a model…")
        elif channels is None:
            self.header.setText(
                f"{layer or 'No layer'}: pick a convolution layer in the list (one with "
                "maps) to see what its channels want to see."
            )
        elif channel is None:
            self.header.setText(
                f"{layer}: pick a channel (click a map in All maps, a picture in the "
                f"gallery, or type its number); it has {channels}."
            )
        else:
            self.header.setText(f"{layer}, channel {channel} of {channels}")
        notes = []
        if model is not None and not model.loaded.trained:
            notes.append(
                f"{model.loaded.title} is untrained (random weights): what its channels "
                "want is noise-like, meaningless patterns. Load trained weights to see "
                "real features."
            )
        self.note.setText(" ".join(notes))
        self.note.setVisible(bool(notes))
        with QSignalBlocker(self.channel_spin):
            self.channel_spin.setRange(-1, max((channels or 0) - 1, -1))
            self.channel_spin.setValue(-1 if channel is None else channel)
        self.channel_spin.setEnabled(channels is not None)
        fixed = model is not None and None not in tuple(model.model.inputs[0].shape[1:3])
        self.size_label.setVisible(model is not None and not fixed)
        self.size_spin.setVisible(model is not None and not fixed)
        running = self._worker is not None
        self.show_button.setEnabled(channels is not None and channel is not None and not running)
        self.layer_button.setEnabled(
            channels is not None and not (running and self._job_channels is None)
        )
        self._fill_sources()

    def showEvent(self, event) -> None:
        super().showEvent(event)
        if self._stale:
            self._stale = False
            self._refresh()

    def _on_model_changed(self, _model: OpenModel | None) -> None:
        self.cancel()
        self.cancel_top()
        self._clear_top()
        self._refresh()

    def _on_settings_changed(self, _value: int) -> None:
        self._settings.setValue("featurevis/steps", self.steps_spin.value())
        self._settings.setValue("featurevis/size", self.size_spin.value())
        self._refresh(make=False)

    def _refresh(self, make: bool = True) -> None:
        """Show the selected channel's picture: from the cache, or made now (``make``).

        Only while the view is shown; a hidden view catches up when it is shown.
        """
        self._update_header()
        t = self.target()
        if self._worker is not None and (t is None or t.tag != self._job_tag):
            self.cancel()  # made for another model, layer or settings
        if not self.isVisible():
            self._stale = True
            return
        if t is None:
            self._show_nothing("")
            self._clear_gallery()
            return
        digest = self._digests.get(t.model.serial)
        if digest is None:
            self._find_digest(t.model, make)
            return
        self._load_gallery(t, digest)
        channel = self._state.selection.map
        self._priority.channel = channel
        if channel is None:
            self._show_nothing("Pick a channel to see what it wants.")
            return
        if self._shown == (t.tag, channel) and self._vis is not None:
            return
        vis = read_cached(t.path(channel, digest))
        if vis is not None:
            if self._worker is not None and self._job_channels is not None:
                self.cancel()  # a single picture for another channel
            self._show_made(t, channel, vis, None)
            return
        if self._worker is not None:
            if self._job_channels is None:  # the whole layer makes this channel next
                self._show_waiting(t, channel)
                return
            if self._job_channels == (channel,):
                return
            self.cancel()
        if make:
            self._start(t, [channel])
        else:
            self._show_nothing(
                f"Channel {channel} has no picture with these settings yet: press Show "
                "what it wants."
            )

    def _find_digest(self, model: OpenModel, make: bool) -> None:
        """The weights digest of ``model``, once per model (VGG16's reads 138M weights)."""
        self._digest_make = self._digest_make or make
        if self._digest_pending == model.serial:
            return
        self._digest_pending = model.serial
        self._show_nothing("Reading the model's weights…")

        def done(digest: str) -> None:
            if self._digest_pending != model.serial:
                return
            self._digest_pending = None
            if self._state.model is model:  # still the weights it was computed from
                self._digests[model.serial] = digest
                make, self._digest_make = self._digest_make, False
                self._refresh(make)

        def failed(exc: BaseException) -> None:
            if self._digest_pending == model.serial:
                self._digest_pending = None
            self.message.show_exception(exc, "Could not read the model's weights: ")

        self._state.runner.start(
            lambda _task: featurevis.weights_digest(model.loaded),
            pool="model",
            on_finished=done,
            on_failed=failed,
        )

    # -- making pictures -------------------------------------------------------------------
    def show_channel(self) -> None:
        """Show the selected channel's picture, making it if it is not in the cache."""
        self.message.clear_message()
        self._refresh(make=True)

    def _on_enter(self) -> None:
        focus = QApplication.focusWidget()
        if isinstance(focus, QAbstractSpinBox):
            focus.interpretText()  # a number typed there counts before Enter shows
        if self.show_button.isEnabled():
            self.show_channel()

    def make_whole_layer(self) -> None:
        """Make every channel of the selected layer not cached yet, in the background."""
        t = self.target()
        if t is None:
            self.message.show_error("Pick a convolution layer in the list first.")
            return
        if self._worker is not None:
            if self._job_channels is None:
                return
            self.cancel()
        self.message.clear_message()
        self._priority.channel = self._state.selection.map
        self._start(t, None)

    def _start(self, t: Target, channels: list[int] | None) -> None:
        priority = self._priority
        self._job_tag = t.tag
        self._job_channels = None if channels is None else tuple(channels)
        self.progress.setValue(0)
        self.progress_label.setText("Starting…")
        self.progress_box.setVisible(True)
        if channels is not None:
            self._show_nothing("")
            self.image_view.set_title(f"Channel {channels[0]}: starting…")
        worker = self._state.runner.start(
            lambda task: make_pictures(t, channels, priority, task),
            pool="model",
            on_record=self._on_record,
            on_finished=lambda digest: self._on_job_finished(t, digest),
            on_failed=self._on_job_failed,
            on_done=lambda: self._on_job_done(worker),
        )
        self._worker = worker
        self._update_running()

    def _on_record(self, record: Frame | Made) -> None:
        t = self.target()
        if t is None or record.tag != t.tag:
            return
        whole = self._job_channels is None
        share = (record.done + (record.fraction if isinstance(record, Frame) else 0)) / max(
            record.total, 1
        )
        self.progress.setValue(int(share * 1000))
        if whole:
            self.progress_label.setText(
                f"Whole layer: {record.done} of {record.total} pictures made (channel "
                f"{record.channel} now)"
                if record.total
                else "Whole layer: every picture is made"
            )
        selected = self._state.selection.map
        if isinstance(record, Frame):
            if not whole:
                self.progress_label.setText(f"step {round(record.fraction * t.steps)} of {t.steps}")
            if record.channel == selected:
                self._vis, self._shown = None, None
                self.image_view.set_image(to_rgb(record.image))
                self.image_view.set_title(
                    f"Channel {record.channel} forming: step "
                    f"{round(record.fraction * t.steps)} of {t.steps}"
                )
                self.result_label.setText("")
            return
        self._add_to_gallery(t, record.channel, record.vis.image)
        if record.save_error:
            self.message.show_error(
                f"The picture of channel {record.channel} could not be kept in the cache "
                f"({cache_dir()}): {record.save_error}"
            )
        if record.channel == selected:
            self._show_made(t, record.channel, record.vis, record.seconds)

    def _on_job_finished(self, t: Target, digest: str) -> None:
        if self._state.model is t.model:
            self._digests.setdefault(t.model.serial, digest)

    def _on_job_failed(self, exc: BaseException) -> None:
        self.message.show_exception(exc, "Could not make the picture: ")

    def _on_job_done(self, worker: Worker) -> None:
        if worker is not self._worker:
            return
        self._worker = None
        self._job_tag = self._job_channels = None
        self.progress_box.setVisible(False)
        self._update_running()
        if self._vis is None and self._state.selection.map is not None:
            self._refresh(make=False)  # the selected channel's picture, if it was made

    def cancel(self) -> None:
        """Stop making pictures; the ones finished stay in the cache and the gallery."""
        if self._worker is not None:
            self._worker.cancel()
        self._worker = None
        self._job_tag = self._job_channels = None
        self.progress_box.setVisible(False)
        self._update_running()
        if self._vis is None and self._shown is None:
            self.image_view.set_title("Stopped")

    def is_computing(self) -> bool:
        return self._worker is not None

    def _update_running(self) -> None:
        """Enable the controls for what runs now (a picture, the whole layer, nothing)."""
        running = self._worker is not None
        self.cancel_button.setEnabled(running)
        settings_free = not running or self._job_channels is not None
        self.steps_spin.setEnabled(settings_free)
        self.size_spin.setEnabled(settings_free)
        self._update_header()

    # -- the picture -----------------------------------------------------------------------
    def _show_nothing(self, why: str) -> None:
        self._vis, self._shown = None, None
        self.image_view.clear_image()
        self.image_view.set_title(why)
        self.result_label.setText("")

    def _show_waiting(self, t: Target, channel: int) -> None:
        self._vis, self._shown = None, None
        self.image_view.clear_image()
        self.image_view.set_title(f"Channel {channel}: Whole layer makes it next…")
        self.result_label.setText("")

    def _show_made(
        self, t: Target, channel: int, vis: featurevis.Visualisation, seconds: float | None
    ) -> None:
        self._vis, self._shown = vis, (t.tag, channel)
        self.image_view.set_image(to_rgb(vis.image))
        h, w = vis.image.shape[:2]
        self.image_view.set_title(f"Channel {channel} ({w}x{h})")
        where = "from the disk cache" if seconds is None else f"made in {seconds:.1f} s"
        self.result_label.setText(
            f"Activation {vis.activation:.4g} (the mean of map {channel} on this picture) · "
            f"{vis.steps} steps, {where}"
        )

    def visualisation(self) -> featurevis.Visualisation | None:
        """The finished picture shown (None while one forms, or none)."""
        return self._vis

    # -- the gallery -----------------------------------------------------------------------
    def _clear_gallery(self) -> None:
        if self._gallery_worker is not None:
            self._gallery_worker.cancel()
            self._gallery_worker = None
        self._gallery_tag = None
        self._gallery_order = []
        self.gallery.clear()
        self.gallery_label.setText("Pick a convolution layer to see its gallery.")

    def _load_gallery(self, t: Target, digest: str) -> None:
        """Show every cached picture of the layer (read from disk off the UI thread)."""
        if self._gallery_tag == t.tag:
            return
        self._clear_gallery()
        self._gallery_tag = t.tag
        self.gallery_label.setText(f"Reading the pictures of {t.layer} from the cache…")

        def job(task: Task) -> list[tuple[int, np.ndarray]]:
            found = []
            for c in range(t.channels):
                if task.cancelled():
                    raise Cancelled()
                vis = read_cached(t.path(c, digest))
                if vis is not None:
                    found.append((c, vis.image))
            return found

        def done(found: list[tuple[int, np.ndarray]]) -> None:
            if self._gallery_tag != t.tag:
                return
            for c, image in found:
                self._add_to_gallery(t, c, image)
            self._update_gallery_label(t)

        self._gallery_worker = self._state.runner.start(
            job,
            pool="compute",
            on_finished=done,
            on_failed=lambda exc: self.message.show_exception(exc, "Could not read the cache: "),
        )

    def _add_to_gallery(self, t: Target, channel: int, image: np.ndarray) -> None:
        if self._gallery_tag != t.tag:
            return
        row = bisect.bisect_left(self._gallery_order, channel)
        if row < len(self._gallery_order) and self._gallery_order[row] == channel:
            return
        self._gallery_order.insert(row, channel)
        item = QListWidgetItem(icon_of(image, GALLERY_ICON), str(channel))
        item.setData(Qt.ItemDataRole.UserRole, channel)
        item.setToolTip(f"Channel {channel}: click to select it")
        self.gallery.insertItem(row, item)
        self._update_gallery_label(t)

    def _update_gallery_label(self, t: Target) -> None:
        n = self.gallery.count()
        self.gallery_label.setText(
            f"{t.layer}: {n} of {t.channels} channels made with these settings"
            + ("" if n == t.channels else " (Whole layer makes the rest)")
        )

    def gallery_channels(self) -> list[int]:
        """The channels whose pictures the gallery shows, in order."""
        return list(self._gallery_order)

    def _on_gallery_clicked(self, item: QListWidgetItem) -> None:
        channel = int(item.data(Qt.ItemDataRole.UserRole))
        if not self._state.select_map(channel):
            self.message.show_info(
                "The layer's maps are still being computed: try again in a moment."
            )

    def _on_channel_typed(self, value: int) -> None:
        if value < 0:
            self._state.select_map(None)
        elif not self._state.select_map(value):
            self.message.show_info(
                "The layer's maps are still being computed: try again in a moment."
            )
            self._update_header()

    # -- Top 9 -----------------------------------------------------------------------------
    def _fill_sources(self) -> None:
        model = self._state.model
        digit = model is not None and bool(model.loaded.spec.digit)
        folder = str(self._settings.value("featurevis/folder", ""))
        wanted = [(MNIST_LABEL, MNIST_SOURCE)] if digit else []
        if folder:
            wanted.append((f"Folder: {Path(folder).name}", FOLDER_SOURCE))
        wanted.append((CHOOSE_LABEL, CHOOSE_FOLDER))
        have = [
            (self.source_combo.itemText(i), self.source_combo.itemData(i))
            for i in range(self.source_combo.count())
        ]
        if have == wanted:
            return
        chosen = str(self._settings.value("featurevis/source", MNIST_SOURCE))
        with QSignalBlocker(self.source_combo):
            self.source_combo.clear()
            for text, key in wanted:
                self.source_combo.addItem(text, key)
            index = self.source_combo.findData(chosen)
            if index < 0 or chosen == CHOOSE_FOLDER:
                index = 0
            self.source_combo.setCurrentIndex(index)
        if folder:
            i = self.source_combo.findData(FOLDER_SOURCE)
            self.source_combo.setItemData(i, folder, Qt.ItemDataRole.ToolTipRole)

    def source(self) -> str:
        return str(self.source_combo.currentData())

    def _on_source_chosen(self, index: int) -> None:
        key = self.source_combo.itemData(index)
        if key == CHOOSE_FOLDER:
            start = str(self._settings.value("featurevis/folder", str(Path.home())))
            folder = QFileDialog.getExistingDirectory(self, "A folder of images", start)
            if not folder:
                self._fill_sources()
                previous = str(self._settings.value("featurevis/source", MNIST_SOURCE))
                self.source_combo.setCurrentIndex(max(self.source_combo.findData(previous), 0))
                return
            self.use_folder(Path(folder))
            return
        self._settings.setValue("featurevis/source", key)

    def use_folder(self, folder: Path) -> None:
        """Look for the top 9 in ``folder`` (remembered for next time)."""
        self._settings.setValue("featurevis/folder", str(folder))
        self._settings.setValue("featurevis/source", FOLDER_SOURCE)
        self._fill_sources()
        self.source_combo.setCurrentIndex(self.source_combo.findData(FOLDER_SOURCE))

    def find_top(self) -> None:
        """Find the nine inputs of the chosen source that excite the selected channel most."""
        model, layer, channel = (
            self._state.model,
            self._state.selection.layer,
            self._state.selection.map,
        )
        if spatial_channels(model, layer) is None or channel is None:
            self.message.show_error("Pick a convolution layer and one of its channels first.")
            return
        source = self.source()
        scan = None
        folder = None
        if source == FOLDER_SOURCE:
            folder = Path(str(self._settings.value("featurevis/folder", "")))
            scan = self._scans.get(str(folder))
            try:
                if scan is not None and folder.stat().st_mtime != scan.stamp:
                    scan = None  # files came or went
            except OSError:
                scan = None
        elif source != MNIST_SOURCE:
            self.message.show_error("Choose where to look: a folder of images.")
            return
        self.cancel_top()
        self.message.clear_message()
        self._clear_top()
        self.top_label.setText(f"Looking for the inputs that excite {layer} channel {channel}…")
        self.top_progress.setValue(0)
        self.top_progress.setVisible(True)
        self.top_button.setEnabled(False)
        self.top_cancel.setEnabled(True)
        scans = self._scans

        def job(task: Task) -> TopResult:
            found = scan
            if source == FOLDER_SOURCE and found is None:
                found = scan_folder(folder, task.progress)
                scans[str(folder)] = found
            return find_top(model, layer, channel, source, found, task)

        def done() -> None:
            if self._top_worker is worker:
                self._top_worker = None
                self.top_progress.setVisible(False)
                self.top_button.setEnabled(True)
                self.top_cancel.setEnabled(False)

        worker = self._state.runner.start(
            job,
            pool="model",
            on_progress=lambda f, _m: self.top_progress.setValue(int(f * 1000)),
            on_finished=lambda result: self._on_top(result, worker),
            on_failed=lambda exc: self._on_top_failed(exc, worker),
            on_cancelled=lambda: self.top_label.setText("Stopped."),
            on_done=done,
        )
        self._top_worker = worker

    def _on_top(self, result: TopResult, worker: Worker) -> None:
        if worker is not self._top_worker:
            return
        _serial, layer, channel = result.tag[:3]
        self._top = result
        self.top_list.clear()
        for rank, item in enumerate(result.items):
            text = f"{item.value:.3g}\n{item.label or item.name}"
            entry = QListWidgetItem(icon_of(item.crop, CROP_ICON), text)
            entry.setData(Qt.ItemDataRole.UserRole, rank)
            entry.setToolTip(
                f"{item.name}: channel {channel} reaches {item.value:.4g} here. Click to make "
                "it the current input."
            )
            self.top_list.addItem(entry)
        self.top_label.setText(
            f"Top {len(result.items)} of {result.description} for {layer} channel {channel}: "
            "the number is its strongest unit, the patch what that unit sees. Click one to "
            "open it."
        )
        if result.notes:
            self.message.show_info(" ".join(result.notes))

    def _on_top_failed(self, exc: BaseException, worker: Worker) -> None:
        if worker is not self._top_worker:
            return
        self.top_label.setText("No top 9.")
        self.message.show_exception(exc, "Could not find the top 9: ")

    def cancel_top(self) -> None:
        """Stop searching for the top 9."""
        if self._top_worker is not None:
            self._top_worker.cancel()
        self._top_worker = None
        self.top_progress.setVisible(False)
        self.top_button.setEnabled(True)
        self.top_cancel.setEnabled(False)

    def _clear_top(self) -> None:
        self._top = None
        self.top_list.clear()
        self.top_label.setText("Find the inputs that excite the selected channel most.")

    def top_result(self) -> TopResult | None:
        """The top 9 shown (None: none)."""
        return self._top

    def _on_top_clicked(self, entry: QListWidgetItem) -> None:
        if self._top is None:
            return
        item = self._top.items[int(entry.data(Qt.ItemDataRole.UserRole))]
        if item.digit:
            self._state.open_digit(item.pixels, item.name)
        else:
            folder = self._top.tag[3]
            self._state.set_input(item.pixels, InputKind.FILE, str(Path(folder) / item.name))


if __name__ == "__main__":
    from gui.preview import preview

    def factory(state: AppState) -> FeatureVisView:
        from engine.images import load_image
        from engine.paths import sample_images

        view = FeatureVisView(state)
        path = next(iter(sample_images().values()))
        state.set_input(load_image(path), InputKind.SAMPLE, path.stem)
        return view

    preview(factory, size=(1000, 640))
