"""What a channel wants to see: the "What it wants" tab of the Activations panel.

A view of the application state: it reads the current model and the selected layer and
map (channel), never a copy of them. For the selected channel it shows a synthetic image
that excites it (``engine.explanation.featurevis.maximize``), forming live on the model
thread, and keeps it in a disk cache keyed by the model's weights, the layer, the channel
and the settings (``engine.explanation.featurevis_cache``), so a whole layer's gallery is
made once and browsed instantly later. "Whole layer" fills the gallery in the background;
"Top 9" finds the inputs that excite the channel most (the MNIST test digits the app
ships, or a folder of the person's images) and shows the patch its strongest unit sees,
as the Deep Visualization Toolbox does (``engine.explanation.top_examples``). The jobs
are the engine's; this module starts them on the model thread and shows what they give.
"""

from __future__ import annotations

import bisect
import logging
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QSettings, QSignalBlocker, Qt
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QAbstractSpinBox,
    QApplication,
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
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

from engine.explanation import featurevis, featurevis_cache, top_examples
from engine.explanation.featurevis_cache import PictureSettings, cache_dir, read_cached
from engine.explanation.top_examples import MNIST_SOURCE, FolderScan, TopResult
from engine.inspection.activations import gradients_unavailable, input_shape_of
from engine.util.paths import SAMPLES
from gui.panels.activations.channel_spin import ChannelSpinBox
from gui.panels.activations.unit_gallery import UnitGallery
from gui.scheduler import Priority, Ticket
from gui.state import AppState, InputKind, OpenModel
from gui.theme import theme
from gui.widgets.icons import fit_captions, icon_list, icon_of, to_rgb
from gui.widgets.map_view import MapView
from gui.widgets.message_bar import MessageBar
from gui.workers import Cancelled, Task

log = logging.getLogger(__name__)

DEFAULT_STEPS = 128
DEFAULT_SIZE = 128
#: Top 9 sources (keys stored in settings) and their labels.
FOLDER_SOURCE, CHOOSE_FOLDER = "folder", "choose"
MNIST_LABEL = "MNIST test digits (500)"
CHOOSE_LABEL = "A folder of images…"
GALLERY_ICON = 56
CROP_ICON = 64
#: How much wider than a patch a Top 9 cell is (room for its two-line caption).
TOP_GRID_EXTRA = 48
TOP_HINT = "Find the inputs that excite the selected channel most."
SHOW_TIP = (
    "Make the picture that excites the selected channel most (Enter); a picture made "
    "before comes from the disk cache at once"
)


def spatial_channels(model: OpenModel | None, layer: str | None) -> int | None:
    """How many maps ``layer`` has when its output is (batch, H, W, channels), else None.

    Any model with maps, an ONNX one included: the Top 9 needs forward passes only. The
    pictures need gradients too (``pictures_unavailable``).
    """
    if model is None or layer is None:
        return None
    from engine.inspection.activations import has_maps, input_shape_of, layer_shape

    if not has_maps(model.network, layer) or len(input_shape_of(model.network)) != 3:
        return None
    channels = layer_shape(model.network, layer)[-1]
    return None if channels is None else int(channels)


def pictures_unavailable(model: OpenModel | None) -> str:
    """Why the pictures (a channel's, the layer gallery, Whole layer) cannot be made for
    ``model``, as one sentence; "" when they can (an ONNX model has no gradients to
    climb)."""
    return "" if model is None else gradients_unavailable(model.network, "Feature visualisation")


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

    @property
    def picture_settings(self) -> PictureSettings:
        scaling = self.model.loaded.spec.scaling
        return PictureSettings(self.layer, self.size, self.ask_size, self.steps, scaling)

    def path(self, channel: int, digest: str) -> Path:
        return self.picture_settings.path(channel, digest)


@dataclass(frozen=True)
class Frame:
    """A picture as it forms (a record of a job)."""

    tag: tuple[Any, ...]
    channel: int
    fraction: float
    image: np.ndarray


@dataclass(frozen=True)
class Made:
    """A finished picture (what a job returns); ``seconds`` None: read from the cache."""

    tag: tuple[Any, ...]
    channel: int
    vis: featurevis.Visualisation
    seconds: float | None
    digest: str
    save_error: str = ""


@dataclass
class LayerRun:
    """A "Whole layer" run: the channels of one layer still to make (the UI thread's).

    It goes on while the person looks at other layers (it builds that layer's gallery);
    each channel is a job of its own, so other work on the model thread (a picture of
    another layer, a Top 9, a new input) waits for one picture at most.
    """

    target: Target
    digest: str = ""
    todo: list[int] | None = None  # None: not planned yet (which ones are cached?)
    seconds: list[float] = field(default_factory=list)  # of each picture it made

    @property
    def layer(self) -> str:
        return self.target.layer

    @property
    def made(self) -> int:
        """Channels of the layer with a picture (made before, or by this run)."""
        return 0 if self.todo is None else self.target.channels - len(self.todo)

    def seconds_to_go(self) -> float | None:
        """The mean time of the pictures made so far times those left (None: none yet)."""
        if not self.seconds or self.todo is None:
            return None
        return sum(self.seconds) / len(self.seconds) * len(self.todo)

    def status(self, channel: int | None = None) -> str:
        """'Whole layer of L: 8 of 512 made, 504 to go · making channel 12 · about 48
        min to go'."""
        n = self.target.channels
        if self.todo is None:
            return f"Whole layer of {self.layer}: looking for the pictures made before…"
        text = f"Whole layer of {self.layer}: {self.made} of {n} made, {len(self.todo)} to go"
        if channel is not None:
            text += f" · making channel {channel}"
        left = self.seconds_to_go()
        if left is None:
            text += " · the time to go is known after the first picture"
        else:
            text += f" · about {duration_text(left)} to go"
        return text


def duration_text(seconds: float) -> str:
    """A duration as a person reads it.

    >>> duration_text(42.4), duration_text(2880), duration_text(7500)
    ('42 s', '48 min', '2 h 5 min')
    """
    if seconds < 60:
        return f"{max(1, round(seconds))} s"
    minutes = round(seconds / 60)
    if minutes < 90:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if minutes else f"{hours} h"


def plan_layer(target: Target, task: Task) -> tuple[str, list[int]]:
    """The weights digest and the channels of ``target`` with no picture in the cache
    yet (on the model thread)."""
    loaded, settings = target.model.loaded, target.picture_settings
    plan = featurevis_cache.missing_channels(loaded, settings, target.channels)
    if task.cancelled():
        raise Cancelled()
    return plan


def make_picture(target: Target, channel: int, expect: str | None, task: Task) -> Made | None:
    """``featurevis_cache.make_picture`` on the model thread: the picture goes out as
    ``Frame`` records as it forms, then as a ``Made`` record (delivered even when the job
    is cancelled right after: the picture is in the cache by then). None: the weights are
    no longer ``expect`` (an edit in place since the view asked); the view follows the
    new model."""

    def frame(fraction: float, image: np.ndarray) -> None:
        task.record(Frame(target.tag, channel, fraction, image))

    try:
        picture = featurevis_cache.make_picture(
            target.model.loaded,
            target.picture_settings,
            channel,
            expect,
            frame=frame,
            cancelled=task.cancelled,
            split=task.people_waiting,
        )
    except InterruptedError:
        raise Cancelled() from None
    if picture is None:
        return None
    made = Made(
        target.tag, channel, picture.vis, picture.seconds, picture.digest, picture.save_error
    )
    task.record(made)
    return made


@dataclass(frozen=True)
class Job:
    """What the one picture job in flight makes: a channel of ``target``, for a whole
    layer run (``run``) or alone; ``channel`` None: a run's plan."""

    target: Target
    channel: int | None
    run: bool

    @property
    def key(self) -> tuple[Any, ...]:
        return (self.target.tag, self.channel)


def model_kind(model: OpenModel | None) -> str:
    """'digit' for a model of handwritten digits, else 'other' (a Top 9 source is
    remembered for each kind)."""
    return "digit" if model is not None and model.loaded.spec.digit else "other"


class FeatureVisView(QWidget):
    """The "What it wants" tab: a channel's synthetic image, its layer's gallery, and the
    inputs that excite it most.

    Reads ``state.model`` and ``state.selection`` (layer, map); the channel spin box
    writes ``state.select_map``. A channel's picture is made only while the tab is shown
    (it costs the model thread, which other views need); a hidden tab catches up when
    shown. A "Whole layer" run goes on for its layer while the person looks at other
    layers or tabs, one picture (one job) at a time: the selected channel's picture, a
    Top 9 or a new input gets the model thread between two of its pictures.
    """

    def __init__(self, state: AppState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._state = state
        self._settings = QSettings()
        self._digest_pending: int | None = None
        self._digest_make = False  # make the picture once the digest is known
        self._worker: Ticket | None = None  # the one picture job in flight
        self._job: Job | None = None  # what it makes
        self._single: tuple[Target, int] | None = None  # a picture asked for, not started
        self._run: LayerRun | None = None
        self._gallery_tag: tuple[Any, ...] | None = None
        self._gallery_order: list[int] = []  # the channels in the gallery, ascending
        self._gallery_worker: Ticket | None = None
        self._gallery_layer: str | None = None
        self._settings_note = False  # the settings changed: say the other pictures are kept
        self._shown: tuple[tuple[Any, ...], int] | None = None  # (tag, channel) of the image
        self._vis: featurevis.Visualisation | None = None
        self._top_worker: Ticket | None = None
        self._top: TopResult | None = None
        self._top_about: tuple[Any, ...] | None = None  # (serial, layer, channel) asked last
        self._scans: dict[str, FolderScan] = {}
        self._source_kind: str | None = None
        self._stale = False
        self._build_ui()
        state.model_changed.connect(self._on_model_changed)
        state.selection_changed.connect(self._on_selection_changed)
        state.activations_changed.connect(lambda _a: self._update_header())
        self._on_model_changed(state.model)

    # -- the widgets ---------------------------------------------------------------------
    def _build_ui(self) -> None:
        self.header = QLabel()
        theme().style_text(self.header, bold=True)
        self.note = QLabel()
        self.note.setStyleSheet("color: #8a5a00;")
        theme().style_text(self.note)  # a style sheet alone would fix its size
        for label in (self.header, self.note):
            label.setWordWrap(True)
            label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)

        self.channel_spin = ChannelSpinBox()
        self.channel_spin.setRange(-1, 0)
        self.channel_spin.setSpecialValueText("none")
        self.channel_spin.setKeyboardTracking(False)  # a typed number counts when complete
        self.channel_spin.setToolTip(
            "The channel (map) of the selected layer; the same as clicking a map in All maps"
        )
        self.channel_spin.valueChanged.connect(self._on_channel_typed)
        self.channel_spin.out_of_range.connect(self._on_no_such_channel)
        self.steps_spin = QSpinBox()
        self.steps_spin.setRange(1, 4096)
        self.steps_spin.setValue(int(self._settings.value("featurevis/steps", DEFAULT_STEPS)))
        self.steps_spin.setKeyboardTracking(False)
        self.steps_spin.valueChanged.connect(self._on_settings_changed)
        self.size_label = QLabel("Size")
        self.size_spin = QSpinBox()
        self.size_spin.setRange(16, 512)
        self.size_spin.setSuffix(" px")
        self.size_spin.setValue(int(self._settings.value("featurevis/size", DEFAULT_SIZE)))
        self.size_spin.setKeyboardTracking(False)
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
        self.show_button.setToolTip(SHOW_TIP)
        self.show_button.clicked.connect(self.show_channel)
        self.layer_button = QPushButton("Whole layer")
        self.layer_button.clicked.connect(self.make_whole_layer)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip(
            "Stop making pictures, the Whole layer run too (the finished ones are kept)"
        )
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

        # The progress row keeps its place when hidden: nothing under it moves when a
        # picture starts or ends (a click meant for the picture lands on it).
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        theme().style_size(self.progress, maximum_width=160)
        self.progress.setToolTip("How far the picture (or the whole layer) is")
        self.progress_label = QLabel()
        self.progress_label.setWordWrap(True)
        self.progress_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
        self.progress_label.setFixedHeight(2 * self.progress_label.fontMetrics().lineSpacing() + 2)
        progress_row = QHBoxLayout()
        progress_row.setContentsMargins(0, 0, 0, 0)
        progress_row.addWidget(self.progress, 1)
        progress_row.addWidget(self.progress_label, 3)
        self.progress_box = QWidget()
        self.progress_box.setLayout(progress_row)
        keep_place(self.progress_box)
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
        self.gallery = icon_list(GALLERY_ICON, 1, 14)
        self.gallery.setToolTip("The pictures made for this layer: click one to select its channel")
        self.gallery.itemClicked.connect(self._on_gallery_clicked)
        gallery_box = QWidget()
        gl = QVBoxLayout(gallery_box)
        gl.setContentsMargins(4, 4, 4, 4)
        gl.addWidget(self.gallery_label)
        gl.addWidget(self.gallery, 1)

        # Top 9: the inputs that excite the channel most. The source has a row of its
        # own: beside the buttons its name was cut at 1024 px.
        self.source_combo = QComboBox()
        self.source_combo.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
        )
        self.source_combo.setMinimumContentsLength(8)
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
        self.top_progress = QProgressBar()
        self.top_progress.setRange(0, 1000)
        self.top_progress.setToolTip("How far the search is")
        keep_place(self.top_progress)
        self.top_progress.setVisible(False)
        top_row = QHBoxLayout()
        top_row.addWidget(self.top_button)
        top_row.addWidget(self.top_cancel)
        top_row.addWidget(self.top_progress, 1)
        self.top_label = QLabel(TOP_HINT)
        self.top_label.setWordWrap(True)
        self.top_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.top_list = icon_list(CROP_ICON, 2, TOP_GRID_EXTRA)
        # A name the view itself must still cut (a bigger zoom) keeps both its ends too.
        self.top_list.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.top_list.setToolTip("Click a patch to make its image the current input")
        self.top_list.itemClicked.connect(self._on_top_clicked)
        theme().follow(self, self._fit_text_rows)
        top_box = QWidget()
        tl = QVBoxLayout(top_box)
        tl.setContentsMargins(4, 4, 4, 4)
        tl.addWidget(self.source_combo)
        tl.addLayout(top_row)
        tl.addWidget(self.top_label)
        tl.addWidget(self.top_list, 1)

        self.side_tabs = QTabWidget()
        self.side_tabs.addTab(gallery_box, "Layer gallery")
        self.side_tabs.addTab(top_box, "Top 9")
        self.unit_gallery = UnitGallery(self._state)
        self.side_tabs.addTab(self.unit_gallery, "Units")
        self.side_tabs.setTabToolTip(
            2, "Every channel's centre unit at once, each at the size of what it sees (fast)"
        )
        self.side_tabs.currentChanged.connect(lambda _i: self._follow_top())
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(image_box)
        splitter.addWidget(self.side_tabs)
        splitter.setSizes([400, 400])
        splitter.setChildrenCollapsible(False)

        self.message = MessageBar()
        lay = QVBoxLayout(self)
        lay.setContentsMargins(6, 6, 6, 6)  # the whole window fits 1024x640
        lay.setSpacing(4)
        lay.addWidget(self.header)
        lay.addWidget(self.note)
        lay.addLayout(settings_row)
        lay.addLayout(buttons)
        lay.addWidget(self.progress_box)
        lay.addWidget(splitter, 1)
        lay.addWidget(self.message)
        self._update_running()

    def _fit_text_rows(self) -> None:
        """Another zoom: the rows sized by the font (the progress line, the icons'
        captions) follow it."""
        self.progress_label.setFixedHeight(2 * self.progress_label.fontMetrics().lineSpacing() + 2)
        fit_captions(self.gallery, 1)
        fit_captions(self.top_list, 2)

    # -- what is shown -------------------------------------------------------------------
    def target(self) -> Target | None:
        """The current model, selected layer and settings; None when the layer has no maps."""
        model, layer = self._state.model, self._state.selection.layer
        channels = spatial_channels(model, layer)
        if model is None or layer is None or channels is None or pictures_unavailable(model):
            return None
        fixed = input_shape_of(model.network)[:2]
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
        fixed = model is not None and None not in input_shape_of(model.network)[:2]
        self.size_label.setVisible(model is not None and not fixed)
        self.size_spin.setVisible(model is not None and not fixed)
        t = self.target()
        job = self._job
        making = job is not None and t is not None and job.key == (t.tag, channel) and not job.run
        # No pictures without gradients (an ONNX model): the buttons say why; Top 9 works.
        why = pictures_unavailable(model)
        pictures = channels is not None and not why
        self.show_button.setEnabled(pictures and channel is not None and not making)
        self.show_button.setToolTip(why or SHOW_TIP)
        run = self._run
        this_layer = run is not None and t is not None and run.target.tag == t.tag
        self.layer_button.setEnabled(pictures and not this_layer)
        tip = (
            "Make the pictures of every channel of this layer not made yet, in the "
            "background; they fill the gallery as they come and stay on disk. The run "
            "goes on while you look at other layers"
        )
        if run is not None and not this_layer:
            tip += f" (it stops the Whole layer of {run.layer} that runs now)"
        self.layer_button.setToolTip(why or tip)
        self._fill_sources()

    def showEvent(self, event) -> None:
        super().showEvent(event)
        if self._stale:
            self._stale = False
            self._refresh()
        self._follow_top()

    def _on_model_changed(self, model: OpenModel | None) -> None:
        run = self._run
        if run is not None and run.target.model is not model:
            self._stop_run("the model changed")
        if pictures_unavailable(model) and self.side_tabs.currentIndex() == 0:
            self.side_tabs.setCurrentIndex(1)  # no gallery without gradients: the Top 9
        self.cancel_top()
        self._refresh()
        self._follow_top()

    def _on_selection_changed(self, _selection: object) -> None:
        layer = self._state.selection.layer
        if layer != self._gallery_layer:
            self._gallery_layer = layer
            self._settings_note = False
        self._refresh()
        self._follow_top()

    def _on_settings_changed(self, _value: int) -> None:
        self._settings.setValue("featurevis/steps", self.steps_spin.value())
        self._settings.setValue("featurevis/size", self.size_spin.value())
        if self.gallery.count():  # say why they went
            self._settings_note = True
        self._refresh(make=False)

    def _refresh(self, make: bool = True) -> None:
        """Show the selected channel's picture: from the cache, or made now (``make``).

        Only while the view is shown; a hidden view catches up when it is shown. A
        Whole layer run goes on whatever is selected.
        """
        try:
            self._refresh_picture(make)
        finally:
            self._pump()
            self._update_running()

    def _refresh_picture(self, make: bool) -> None:
        self._update_header()
        t = self.target()
        channel = self._state.selection.map
        want = None if t is None or channel is None else (t.tag, channel)
        self._drop_single(want)
        if not self.isVisible():
            self._stale = True
            return
        if t is None:
            why = pictures_unavailable(self._state.model)
            self._show_nothing("Feature visualisation needs gradients" if why else "", why)
            self._clear_gallery(why)
            return
        digest = self._digest_of(t.model.serial)
        if digest is None:
            self._find_digest(t.model, make)
            return
        self._load_gallery(t, digest)
        if channel is None:
            self._show_nothing("Pick a channel to see what it wants.")
            return
        if self._shown == want and self._vis is not None:
            return
        vis = read_cached(t.path(channel, digest))
        if vis is not None:
            self._show_made(t, channel, vis, None)
            return
        if self._job is not None and self._job.key == want:
            if self._shown is not None or self._vis is not None:
                self._show_nothing(f"Channel {channel}: forming…")
            return
        if self._single is not None and (self._single[0].tag, self._single[1]) == want:
            return
        run = self._run
        if run is not None and run.target.tag == t.tag and run.todo and channel in run.todo:
            self._show_waiting(t, channel)
            return
        if make:
            self._request_single(t, channel)
        else:
            self._show_nothing(
                f"Channel {channel} has no picture with these settings yet: press Show "
                "what it wants."
            )

    def _digest_of(self, serial: int) -> str | None:
        """The weights digest of the model with this serial, if it was read."""
        return self._state.scheduler.cached(("weights digest", serial))

    def _know_digest(self, serial: int, digest: str) -> None:
        if self._digest_of(serial) is None:
            self._state.scheduler.cache.put(("weights digest", serial), digest)

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
                make, self._digest_make = self._digest_make, False
                self._refresh(make)

        def failed(exc: BaseException) -> None:
            if self._digest_pending == model.serial:
                self._digest_pending = None
            self.message.show_exception(exc, "Could not read the model's weights: ")

        self._state.request(
            lambda _task: featurevis.weights_digest(model.loaded),
            key=("weights digest", model.serial),
            on_result=done,
            on_failed=failed,
        )

    # -- making pictures -------------------------------------------------------------------
    def show_channel(self) -> None:
        """Show the selected channel's picture, making it if it is not in the cache."""
        self.message.clear_message()
        self._refresh(make=True)

    def _on_enter(self) -> None:
        focus = QApplication.focusWidget()
        if isinstance(focus, ChannelSpinBox) and focus.check_typed():
            return  # a channel that does not exist: said so, nothing shown
        if isinstance(focus, QAbstractSpinBox):
            focus.interpretText()  # a number typed there counts before Enter shows
        if self.show_button.isEnabled():
            self.show_channel()

    def make_whole_layer(self) -> None:
        """Make every channel of the selected layer not cached yet, in the background.

        The run goes on for its layer while other layers are selected; a run for another
        layer stops (a line says where it stopped).
        """
        t = self.target()
        if t is None:
            self.message.show_error("Pick a convolution layer in the list first.")
            return
        run = self._run
        if run is not None and run.target.tag == t.tag:
            return
        self.message.clear_message()
        if run is not None:
            self._stop_run(f"to make {t.layer}'s")
        self._run = LayerRun(t)
        self._pump()
        self._update_running()

    def _request_single(self, t: Target, channel: int) -> None:
        """Make ``channel``'s picture next; a Whole layer picture being made gives way
        (it is made again later), so what is selected never waits for a whole picture."""
        self._single = (t, channel)
        job = self._job
        if self._worker is not None and job is not None and job.run and job.channel is not None:
            self._worker.cancel()
            self._worker = self._job = None
        self._show_nothing(f"Channel {channel}: starting…")

    def _drop_single(self, want: tuple[Any, ...] | None) -> None:
        """Forget a picture asked for (or being made) that is no longer ``want``."""
        if self._single is not None and (self._single[0].tag, self._single[1]) != want:
            self._single = None
        job = self._job
        if self._worker is not None and job is not None and not job.run and job.key != want:
            self._worker.cancel()
            self._worker = self._job = None

    def _pump(self) -> None:
        """Start the next picture job when none runs: the one asked for, else the Whole
        layer run's next channel (the selected one first when it is in the run)."""
        if self._worker is not None:
            return
        if self._single is not None:
            t, channel = self._single
            self._single = None
            self._launch(Job(t, channel, run=False))
            return
        run = self._run
        if run is None:
            self.progress_box.setVisible(False)
            return
        if run.todo is None:
            self._launch(Job(run.target, None, run=True))
            return
        if not run.todo:
            self._run = None
            self.progress_box.setVisible(False)
            t = self.target()
            if t is None or t.tag != run.target.tag:
                self.message.show_info(
                    f"Whole layer of {run.layer} is done: its {run.target.channels} pictures "
                    "are in its gallery."
                )
            elif self._gallery_tag == t.tag:
                self._update_gallery_label(t)
            return
        t = self.target()
        channel = self._state.selection.map
        if t is None or t.tag != run.target.tag or channel not in run.todo:
            channel = run.todo[0]
        self._launch(Job(run.target, channel, run=True))

    def _launch(self, job: Job) -> None:
        t, channel = job.target, job.channel
        if channel is None:
            fn: Callable[[Task], Any] = lambda task: plan_layer(t, task)  # noqa: E731
            finished: Callable[[Any], None] = lambda plan: self._on_plan(job, plan)  # noqa: E731
        else:
            expect = self._run.digest if job.run and self._run else self._digest_of(t.model.serial)
            fn = lambda task: make_picture(t, channel, expect, task)  # noqa: E731
            finished = lambda made: made is None and self._on_weights_changed(job)  # noqa: E731
        # Batch work: the input, a layer or a map clicked meanwhile run between two steps.
        worker = self._state.request(
            fn,
            priority=Priority.BATCH,
            on_record=lambda record: self._on_record(job, record),
            on_result=finished,
            on_failed=lambda exc: self._on_job_failed(job, exc),
            on_done=lambda: self._on_job_done(worker),
        )
        self._worker, self._job = worker, job
        self._show_progress(job, 0.0)
        selected = self.target()
        if (
            channel is not None
            and selected is not None
            and (selected.tag, self._state.selection.map) == job.key
            and self._vis is None
        ):
            self.image_view.set_title(f"Channel {channel}: starting…")

    def _show_progress(self, job: Job, fraction: float) -> None:
        """The progress row for ``job``: the run's counts and time to go, or the steps of
        a picture."""
        run = self._run
        if job.run and run is not None:
            n = run.target.channels
            self.progress.setValue(int(1000 * (run.made + fraction) / max(n, 1)))
            text = run.status(job.channel)
        else:
            steps = job.target.steps
            self.progress.setValue(int(1000 * fraction))
            step = round(fraction * steps)
            text = f"Channel {job.channel} of {job.target.layer}: step {step} of {steps}"
            if run is not None and run.todo is not None:
                text += (
                    f" · then Whole layer of {run.layer} goes on ({run.made} of "
                    f"{run.target.channels} made)"
                )
        self.progress_label.setText(text)
        self.progress_label.setToolTip(text)
        self.progress_box.setVisible(True)

    def _on_plan(self, job: Job, plan: tuple[str, list[int]]) -> None:
        run = self._run
        if run is None or run.target is not job.target:
            return
        run.digest, run.todo = plan
        if self._state.model is job.target.model:
            self._know_digest(job.target.model.serial, run.digest)

    def _on_record(self, job: Job, record: Frame | Made) -> None:
        if isinstance(record, Made):
            self._on_made(job, record)
            return
        if job is not self._job:
            return
        frame = record
        self._show_progress(job, frame.fraction)
        t = self.target()
        if t is None or t.tag != frame.tag or self._state.selection.map != frame.channel:
            return
        self._vis, self._shown = None, None
        self.image_view.set_image(to_rgb(frame.image))
        steps = job.target.steps
        self.image_view.set_title(
            f"Channel {frame.channel} forming: step {round(frame.fraction * steps)} of {steps}"
        )
        self.result_label.setText("")

    def _on_weights_changed(self, job: Job) -> None:
        """The weights changed under ``job`` (an edit in place): nothing was made; the
        view follows the new model when ``model_changed`` comes."""
        if job.run and self._run is not None and self._run.target is job.target:
            self._stop_run("the model changed")

    def _on_made(self, job: Job, made: Made) -> None:
        run = self._run
        t = job.target
        if self._state.model is t.model:
            self._know_digest(t.model.serial, made.digest)
        if job.run and run is not None and run.target is t and run.todo is not None:
            if made.channel in run.todo:
                run.todo.remove(made.channel)
            if made.seconds is not None:
                run.seconds.append(made.seconds)
            if job is self._job:  # the counts at once, as the gallery's
                self._show_progress(replace(job, channel=None), 0.0)
        self._add_to_gallery(t, made.channel, made.vis.image)
        if made.save_error:
            self.message.show_error(
                f"The picture of channel {made.channel} could not be kept in the cache "
                f"({cache_dir()}): {made.save_error}"
            )
        selected = self.target()
        if (
            selected is not None
            and selected.tag == t.tag
            and self._state.selection.map == made.channel
        ):
            self._show_made(t, made.channel, made.vis, made.seconds)

    def _on_job_failed(self, job: Job, exc: BaseException) -> None:
        run = self._run
        if job.run and run is not None and run.target is job.target:
            self._run = None
            self.message.show_exception(
                exc,
                f"Whole layer of {run.layer} stopped at {run.made} of {run.target.channels}: "
                f"could not make the picture of channel {job.channel}: ",
            )
            return
        self.message.show_exception(exc, "Could not make the picture: ")

    def _on_job_done(self, worker: Ticket) -> None:
        if worker is not self._worker:
            return
        self._worker = self._job = None
        self._pump()
        self._update_running()
        if self._worker is None and self._vis is None and self._state.selection.map is not None:
            self._refresh(make=False)  # the selected channel's picture, if it was made

    def _stop_run(self, why: str) -> None:
        """Stop the Whole layer run, saying where it stopped (``why``: 'the model
        changed', "to make conv2d_2's", or '' when the person cancelled)."""
        run = self._run
        self._run = None
        job = self._job
        if self._worker is not None and job is not None and job.run:
            self._worker.cancel()
            self._worker = self._job = None
        if run is None or run.todo == []:
            return
        where = f"Whole layer of {run.layer} stopped"
        if run.todo is not None:
            where += f" at {run.made} of {run.target.channels}"
        if why == "the model changed":
            text = f"{where}: the model changed."
        else:
            text = (
                f"{where}{' ' + why if why else ''}; the pictures made are kept: select "
                f"{run.layer} and press Whole layer again to go on."
            )
        self.message.show_info(text)

    def cancel(self) -> None:
        """Stop making pictures, the Whole layer run too; the ones finished stay in the
        cache and the gallery."""
        self._stop_run("")
        self._single = None
        if self._worker is not None:
            self._worker.cancel()
        self._worker = self._job = None
        self.progress_box.setVisible(False)
        self._update_running()
        if self._vis is None and self._shown is None:
            self.image_view.set_title("Stopped")

    def is_computing(self) -> bool:
        """True while a picture is made (or a Whole layer run goes on)."""
        return self._worker is not None or self._run is not None

    def whole_layer(self) -> str | None:
        """The layer a Whole layer run makes now (None: none runs)."""
        return None if self._run is None else self._run.layer

    def _update_running(self) -> None:
        """Enable the controls for what runs now (a picture, the whole layer, nothing)."""
        self.cancel_button.setEnabled(self._worker is not None or self._run is not None)
        free = self._run is None
        pictures = not pictures_unavailable(self._state.model)
        self.steps_spin.setEnabled(free and pictures)
        self.size_spin.setEnabled(free and pictures)
        fixed = "" if free else " (fixed while Whole layer runs: Cancel to change it)"
        self.steps_spin.setToolTip(
            "Gradient steps per picture: 128 is a good picture, 32 already shows the "
            "pattern" + fixed
        )
        self.size_spin.setToolTip(
            "The picture's side (this model takes images of any size)" + fixed
        )
        self._update_header()

    # -- the picture -----------------------------------------------------------------------
    def _show_nothing(self, title: str, why: str = "") -> None:
        """No picture: ``title`` above the empty view, ``why`` (a sentence that would be
        cut in the title) whole in the wrapping label under it."""
        self._vis, self._shown = None, None
        self.image_view.clear_image()
        self.image_view.set_title(title)
        self.result_label.setText(why)

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
    def _clear_gallery(self, why: str = "") -> None:
        """Empty the gallery; ``why``: the sentence saying why it cannot have pictures."""
        if self._gallery_worker is not None:
            self._gallery_worker.cancel()
            self._gallery_worker = None
        self._gallery_tag = None
        self._gallery_order = []
        self.gallery.clear()
        self.gallery_label.setText(why or "Pick a convolution layer to see its gallery.")

    def _load_gallery(self, t: Target, digest: str) -> None:
        """Show every cached picture of the layer (read from disk off the UI thread)."""
        if self._gallery_tag == t.tag:
            self._update_gallery_label(t)  # the settings note, the run's count
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

        self._gallery_worker = self._state.request(
            job,
            pool="compute",
            on_result=done,
            on_failed=lambda exc: self.message.show_exception(exc, "Could not read the cache: "),
        )

    def _add_to_gallery(self, t: Target, channel: int, image: np.ndarray) -> None:
        if self._gallery_tag != t.tag:
            return
        row = bisect.bisect_left(self._gallery_order, channel)
        if row < len(self._gallery_order) and self._gallery_order[row] == channel:
            return
        self._gallery_order.insert(row, channel)
        item = QListWidgetItem(icon_of(image, GALLERY_ICON, square=True), str(channel))
        item.setData(Qt.ItemDataRole.UserRole, channel)
        item.setToolTip(f"Channel {channel}: click to select it")
        self.gallery.insertItem(row, item)
        self._update_gallery_label(t)

    def _update_gallery_label(self, t: Target) -> None:
        """'conv2d_2: 8 of 64 made with 128 steps, 56 to go': the same counts as the
        progress row; after a change of settings, why the gallery changed."""
        n, total = self.gallery.count(), t.channels
        settings = f"{t.steps} steps"
        if t.ask_size is not None:
            settings += f" at {t.size[1]}x{t.size[0]} px"
        run = self._run
        if n >= total:
            rest = ""
        elif run is not None and run.target.tag == t.tag:
            rest = f", {total - n} to go (Whole layer is making them)"
        else:
            rest = f" (Whole layer makes the other {total - n})"
        if self._settings_note:
            text = (
                f"{t.layer}: the gallery shows pictures made with {settings}; pictures made "
                "with other settings are kept and come back when you choose those settings. "
                f"{n} of {total} made{rest}."
            )
        else:
            text = f"{t.layer}: {n} of {total} made with {settings}{rest}."
        self.gallery_label.setText(text)

    def gallery_channels(self) -> list[int]:
        """The channels whose pictures the gallery shows, in order."""
        return list(self._gallery_order)

    def _on_gallery_clicked(self, item: QListWidgetItem) -> None:
        channel = int(item.data(Qt.ItemDataRole.UserRole))
        if not self._state.select_map(channel):
            self.message.show_info(
                "The layer's maps are still being computed: try again in a moment."
            )

    def _on_no_such_channel(self, typed: int) -> None:
        layer, last = self._state.selection.layer, self.channel_spin.maximum()
        if last < 0:
            self.message.show_error(f"There is no channel {typed}: pick a layer with maps first.")
            return
        self.message.show_error(
            f"There is no channel {typed}: {layer} has {last + 1} channels, 0 to {last}."
        )

    def _on_channel_typed(self, value: int) -> None:
        if self.message.text().startswith("There is no channel"):
            self.message.clear_message()
        if value < 0:
            self._state.select_map(None)
        elif not self._state.select_map(value):
            self.message.show_info(
                "The layer's maps are still being computed: try again in a moment."
            )
            self._update_header()

    # -- Top 9 -----------------------------------------------------------------------------
    def _source_setting(self) -> str:
        return f"featurevis/source/{model_kind(self._state.model)}"

    def _fill_sources(self) -> None:
        """The sources for the current model: the MNIST digits for a digit model, the
        folder chosen before, another folder. The choice is remembered for each kind of
        model (digit models, others): a photo folder chosen for VGG16 is not what the
        MNIST model looks in next."""
        model = self._state.model
        kind = model_kind(model)
        digit = kind == "digit"
        folder = str(self._settings.value("featurevis/folder", ""))
        wanted = [(MNIST_LABEL, MNIST_SOURCE)] if digit else []
        if folder:
            wanted.append((f"Folder: {Path(folder).name}", FOLDER_SOURCE))
        wanted.append((CHOOSE_LABEL, CHOOSE_FOLDER))
        have = [
            (self.source_combo.itemText(i), self.source_combo.itemData(i))
            for i in range(self.source_combo.count())
        ]
        if have == wanted and kind == self._source_kind:
            return
        self._source_kind = kind
        default = MNIST_SOURCE if digit else FOLDER_SOURCE
        chosen = str(self._settings.value(self._source_setting(), default))
        with QSignalBlocker(self.source_combo):
            self.source_combo.clear()
            for text, key in wanted:
                self.source_combo.addItem(text, key)
                self.source_combo.setItemData(
                    self.source_combo.count() - 1, text, Qt.ItemDataRole.ToolTipRole
                )
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
            if self._choose_folder() and self._top_wanted() is not None:
                self.find_top()  # a folder chosen for a channel: look in it at once
            return
        self._settings.setValue(self._source_setting(), key)

    def _choose_folder(self) -> bool:
        """Ask for a folder of images; True when one was chosen (and is now the source)."""
        start = str(self._settings.value("featurevis/folder", "") or SAMPLES)
        folder = QFileDialog.getExistingDirectory(self, "A folder of images", start)
        if not folder:
            self._source_kind = None  # fill again, with the previous choice
            self._fill_sources()
            return False
        self.use_folder(Path(folder))
        return True

    def use_folder(self, folder: Path) -> None:
        """Look for the top 9 in ``folder`` (remembered for next time, for this kind of
        model)."""
        self._settings.setValue("featurevis/folder", str(folder))
        self._settings.setValue(self._source_setting(), FOLDER_SOURCE)
        self._source_kind = None
        self._fill_sources()

    def _top_wanted(self) -> tuple[Any, ...] | None:
        """(serial, layer, channel) of the selected channel, when it has one."""
        model, layer, channel = (
            self._state.model,
            self._state.selection.layer,
            self._state.selection.map,
        )
        channels = spatial_channels(model, layer)
        if model is None or channels is None or channel is None or not 0 <= channel < channels:
            return None
        return (model.serial, layer, channel)

    def _follow_top(self) -> None:
        """Keep the Top 9 about the selected channel: searched again at once when it is
        cheap (the MNIST digits) and the Top 9 is in sight, else cleared with a line that
        says what it was for."""
        about, want = self._top_about, self._top_wanted()
        if about is None or about == want:
            return
        if want is not None and self.source() == MNIST_SOURCE and self.top_list.isVisible():
            self._search(quiet=True)
            return
        self.cancel_top()
        self._top = None
        self.top_list.clear()
        serial, layer, channel = about
        was = f"Top 9 was for {layer} channel {channel}"
        model = self._state.model
        if model is None or model.serial != serial:
            was += " of the model before"
        if want is None:
            self.top_label.setText(f"{was}: pick a channel, then press Find the top 9.")
            return
        now = f"channel {want[2]}" if want[1] == layer else f"{want[1]} channel {want[2]}"
        self.top_label.setText(f"{was}: press Find the top 9 for {now}.")

    def find_top(self) -> None:
        """Find the nine inputs of the chosen source that excite the selected channel most."""
        self._search(quiet=False)

    def _search(self, quiet: bool) -> None:
        """``find_top``; ``quiet``: asked by the view itself (a new channel), so a line
        shown for something else stays."""
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
        elif source != MNIST_SOURCE:  # no folder yet: ask for one, then look in it
            if not quiet and self._choose_folder():
                self._search(quiet)
            return
        self.cancel_top()
        if not quiet:
            self.message.clear_message()
        self._clear_top()
        self._top_about = (model.serial, layer, channel)
        self.top_label.setText(f"Looking for the inputs that excite {layer} channel {channel}…")
        self.top_progress.setValue(0)
        self.top_progress.setVisible(True)
        self.top_button.setEnabled(False)
        self.top_cancel.setEnabled(True)
        scans = self._scans

        def job(task: Task) -> TopResult:
            found = scan
            if source == FOLDER_SOURCE and found is None:
                found = top_examples.scan_folder(folder, task.progress)
                scans[str(folder)] = found
            try:
                return top_examples.find_top(
                    model.loaded,
                    layer,
                    channel,
                    found if source == FOLDER_SOURCE else None,
                    progress=task.progress,
                    cancelled=task.cancelled,
                )
            except InterruptedError:  # stopped: no failure
                raise Cancelled() from None

        def done() -> None:
            if self._top_worker is worker:
                self._top_worker = None
                self.top_progress.setVisible(False)
                self.top_button.setEnabled(True)
                self.top_cancel.setEnabled(False)

        worker = self._state.request(
            job,
            priority=Priority.BATCH,
            on_progress=lambda f, _m: self.top_progress.setValue(int(f * 1000)),
            on_result=lambda result: self._on_top(result, worker),
            on_failed=lambda exc: self._on_top_failed(exc, worker),
            on_done=done,
        )
        self._top_worker = worker

    def _on_top(self, result: TopResult, worker: Ticket) -> None:
        if worker is not self._top_worker:
            return
        layer, channel = result.layer, result.channel
        self._top = result
        self.top_list.clear()
        values = [item.value for item in result.items]
        if values and max(values) <= 0:
            strongest = "0" if max(values) == 0 else f"at most {max(values):.3g}"
            self.top_label.setText(
                f"{layer} channel {channel}: this channel does not fire on these images "
                f"(its strongest unit is {strongest} on all of them: "
                f"{result.description})."
            )
            if result.notes:
                self.message.show_info(" ".join(result.notes))
            return
        metrics = self.top_list.fontMetrics()
        width = self.top_list.gridSize().width() - 16  # the view's own margins
        for rank, item in enumerate(result.items):
            name = metrics.elidedText(item.label or item.name, Qt.TextElideMode.ElideMiddle, width)
            entry = QListWidgetItem(
                icon_of(item.crop, CROP_ICON, square=True), f"{item.value:.3g}\n{name}"
            )
            entry.setData(Qt.ItemDataRole.UserRole, rank)
            entry.setToolTip(
                f"{item.name}: channel {channel} reaches {item.value:.4g} here. Click to make "
                "it the current input."
            )
            self.top_list.addItem(entry)
        self.top_label.setText(
            f"Top {len(result.items)} of {result.description} for {layer} channel {channel}: "
            "the number is the value of its strongest unit, the patch what that unit sees. "
            "Click one to open it."
        )
        if result.notes:
            self.message.show_info(" ".join(result.notes))

    def _on_top_failed(self, exc: BaseException, worker: Ticket) -> None:
        if worker is not self._top_worker:
            return
        self.top_label.setText("No top 9.")
        self.message.show_exception(exc, "Could not find the top 9: ")

    def cancel_top(self) -> None:
        """Stop searching for the top 9."""
        if self._top_worker is not None:
            self._top_worker.cancel()
            self.top_label.setText("Stopped.")
        self._top_worker = None
        self.top_progress.setVisible(False)
        self.top_button.setEnabled(True)
        self.top_cancel.setEnabled(False)

    def _clear_top(self) -> None:
        self._top = None
        self.top_list.clear()
        self.top_label.setText(TOP_HINT)

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
            folder = self._top.source
            self._state.set_input(item.pixels, InputKind.FILE, str(Path(folder) / item.name))


def keep_place(widget: QWidget) -> None:
    """Hidden, ``widget`` keeps its place in the layout: nothing around it moves."""
    policy = widget.sizePolicy()
    policy.setRetainSizeWhenHidden(True)
    widget.setSizePolicy(policy)


if __name__ == "__main__":
    from gui.preview import preview

    def factory(state: AppState) -> FeatureVisView:
        from engine.imaging.images import load_image
        from engine.util.paths import sample_images

        view = FeatureVisView(state)
        path = next(iter(sample_images().values()))
        state.set_input(load_image(path), InputKind.SAMPLE, path.stem)
        return view

    preview(factory, size=(1000, 640))
