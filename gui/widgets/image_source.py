"""Choose an input image: the shipped samples, special entries, or a file of your own.

A combo box and an "Open…" button; files are decoded off the UI thread, and a file
that is still loading never replaces a choice made after it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtCore import QSettings, QSignalBlocker, Signal
from PySide6.QtWidgets import QComboBox, QFileDialog, QHBoxLayout, QPushButton, QWidget

from engine.imaging.images import ImageTooLarge, load_image
from engine.util.paths import SAMPLES, sample_images
from gui.widgets.message_bar import MessageBar

if TYPE_CHECKING:
    from gui.state import AppState

IMAGE_FILTER = "Images (*.png *.jpg *.jpeg *.bmp *.gif *.tif *.tiff *.webp);;All files (*)"


def start_folder(settings_key: str, default: Path = SAMPLES) -> str:
    """Where a file dialog opens: the folder remembered under ``settings_key`` (the last
    one a file was chosen in) while it exists, else ``default`` (the samples folder)."""
    last = QSettings().value(settings_key, "")
    folder = Path(str(last)) if last else default
    if not folder.is_dir():
        folder = default if default.is_dir() else Path.home()
    return str(folder)


def remember_folder(settings_key: str, path: str | Path) -> None:
    """Remember the folder of a chosen file (or a chosen folder) under ``settings_key``."""
    p = Path(path)
    QSettings().setValue(settings_key, str(p if p.is_dir() else p.parent))


def dropped_path(event) -> Path | None:
    """The first local file of a drag-and-drop event (accepting it), or None."""
    urls = [u for u in event.mimeData().urls() if u.isLocalFile()]
    if not urls:
        return None
    event.acceptProposedAction()
    return Path(urls[0].toLocalFile())


class ImageSource(QWidget):
    """The samples and ``specials`` (entries the panel fills itself) in a combo box.

    Signals
    -------
    loading(str)
        A file started loading (its name).
    image_loaded(object)
        An (H, W, 3) uint8 array, from a sample or a file.
    special_chosen(str)
        One of the special entries was chosen.
    failed(str)
        A file could not be read: the message for the person.
    """

    loading = Signal(str)
    image_loaded = Signal(object)
    special_chosen = Signal(str)
    failed = Signal(str)

    def __init__(
        self,
        state: AppState,
        settings_key: str,
        specials: Sequence[str] = (),
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self._state = state
        self._settings_key = settings_key
        self._specials = list(specials)
        self._token = 0
        self._reducible: Path | None = None  # the too large file that failed last
        self.combo = QComboBox()
        self.combo.addItems([*self._specials, *sample_images()])
        self._show_tip(self.combo.currentText())
        self.combo.currentTextChanged.connect(lambda _t: self.choose_current())
        # The whole name where a narrow box cuts it (a long path, "The digit drawn…").
        self.combo.currentTextChanged.connect(self._show_tip)
        self.open_button = QPushButton("Open…")
        self.open_button.setToolTip("Open an image file (Ctrl+O); you can also drop one here")
        self.open_button.clicked.connect(self.open_dialog)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.combo, 1)
        lay.addWidget(self.open_button)

    def _show_tip(self, text: str) -> None:
        self.combo.setToolTip(
            f"{text}\n\nThe input image: a sample, or open your own (Ctrl+O, or drop it)"
        )

    def current_text(self) -> str:
        return self.combo.currentText()

    def choose_current(self) -> None:
        """(Re)load what the combo box shows."""
        name = self.combo.currentText()
        self._token += 1  # a file still loading no longer replaces this choice
        if name in self._specials:
            self.special_chosen.emit(name)
        else:
            self.load_file(sample_images().get(name) or Path(name))

    def add_special(self, name: str) -> None:
        """Offer special entry ``name`` after the samples (choosing it emits
        ``special_chosen``)."""
        if name not in self._specials:
            self._specials.append(name)
            with QSignalBlocker(self.combo):
                self.combo.addItem(name)

    def select_special(self, name: str) -> None:
        """Show special entry ``name`` (added if new) without emitting anything."""
        if name not in self._specials:
            self._specials.append(name)
            self.combo.addItem(name)
        self._token += 1
        with QSignalBlocker(self.combo):
            self.combo.setCurrentText(name)
        self._show_tip(self.combo.currentText())

    def show_name(self, name: str) -> None:
        """Show an input chosen elsewhere (a sample's name, a file's path) without
        loading it again or emitting anything."""
        samples = {k.lower(): k for k in sample_images()}
        label = samples.get(name.lower(), name)
        self._token += 1  # a file still loading no longer replaces it
        if self.combo.findText(label) < 0:
            self.combo.addItem(label)
        with QSignalBlocker(self.combo):
            self.combo.setCurrentText(label)
        self._show_tip(self.combo.currentText())

    def open_dialog(self) -> None:
        key = f"{self._settings_key}/last_dir"
        path, _ = QFileDialog.getOpenFileName(
            self, "Open an image", start_folder(key), IMAGE_FILTER
        )
        if path:
            remember_folder(key, path)
            self.load_file(Path(path))

    def load_file(self, path: Path, reduce: bool = False) -> None:
        """Decode ``path`` off the UI thread; the newest request wins. ``reduce``: open
        an image over the pixel limit downscaled to it (``load_image(reduce=True)``)."""
        self._token += 1
        token = self._token
        self.loading.emit(path.name)
        self._state.request(
            lambda _task: load_image(path, reduce=reduce),
            pool="compute",
            slot=("image", id(self)),
            on_result=lambda img: token == self._token and self._on_loaded(path, img),
            on_failed=lambda exc: token == self._token and self._on_failed(path, exc),
        )

    def _on_failed(self, path: Path, exc: BaseException) -> None:
        self._reducible = path if isinstance(exc, ImageTooLarge) and exc.reducible else None
        self.failed.emit(str(exc))

    def reducible_path(self) -> Path | None:
        """The file that failed last when it is too large but opens reduced, else None."""
        return self._reducible

    def open_reduced(self) -> None:
        """Open the too large file that failed last, downscaled to the limit."""
        if self._reducible is not None:
            self.load_file(self._reducible, reduce=True)

    def show_failure(self, message: MessageBar, text: str) -> None:
        """Say why a file failed on ``message``, offering to open a too large one
        reduced."""
        offer = ("Open it reduced", self.open_reduced) if self._reducible is not None else None
        message.show_error(text, action=offer)

    def _on_loaded(self, path: Path, image: np.ndarray) -> None:
        self._reducible = None
        label = {v: k for k, v in sample_images().items()}.get(path, str(path))
        if self.combo.findText(label) < 0:
            self.combo.addItem(label)
        with QSignalBlocker(self.combo):
            self.combo.setCurrentText(label)
        self._show_tip(self.combo.currentText())
        self.image_loaded.emit(image)
