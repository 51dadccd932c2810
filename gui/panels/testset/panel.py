"""Test set: a digit model on real MNIST test digits: its accuracy, a confusion matrix
whose cells are clickable, and its mistakes as a gallery, most confident first. A digit
clicked there opens in the Draw panel (as a drawing to edit) and in Activations.

The models: the shipped MNIST CNN and LeNet-5, and, while it is the current model, a
model file of the person's own (Keras or ONNX) that takes digits
(``engine.models.mnist_data.fits_test_digits``: 28x28x1 in, 10 out).

A view of the application state: it evaluates ``state.models[key]``, whichever object
that is now. When the model is replaced (retrained, or edited by model surgery) the new
one is measured again in the background and a running evaluation cancelled. An edited
model is compared with the trained one it came from (``state.original(key)``, measured
too when it is not yet): both accuracies, and the digits the edits broke (right when
trained, wrong now) and mended, which the gallery can show alone. A retrained model is
compared with the weights it replaced. Results are the state's (``gui.scheduler``), kept
per (model serial, test set), like the digits they were measured on.

The evaluation is batch work on the model thread: the other panels' work there (live
drawing, activations) runs between two of its batches, never after the whole 10,000.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PySide6.QtCore import QSettings, QSignalBlocker, QSize, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QFont, QIcon
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QFileDialog,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QListView,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSizePolicy,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from engine.editing.surgery import Evaluation, evaluate
from engine.models.mnist_data import (
    bundled_test_digits,
    fits_test_digits,
    keras_mnist_cache,
    load_test_split,
)
from engine.models.zoo import LENET5, MODEL_TITLES
from gui.panels.base import Panel
from gui.scheduler import Priority, Ticket
from gui.state import MNIST_KEY, AppState, OpenModel, evaluation_key
from gui.theme import theme
from gui.widgets.icons import icon_of
from gui.widgets.message_bar import MessageBar
from gui.widgets.progress_row import ProgressRow
from gui.workers import Cancelled, Task

log = logging.getLogger(__name__)

#: The digit models the panel evaluates (keys) and their short names.
MODELS = {MNIST_KEY: "MNIST CNN", LENET5: "LeNet-5"}
#: The key of a model file (the state's): offered while it is current and takes digits.
FILE_MODEL = "file"
#: Test sets: the shipped digits, Keras' cache, the person's file, and choosing one.
BUNDLED, KERAS, FILE, CHOOSE = "bundled", "keras", "file", "choose"
DATA_LABELS = {
    BUNDLED: "500 MNIST test digits (shipped)",
    KERAS: "MNIST test set (10,000, Keras cache)",
    CHOOSE: "A .npz file…",
}
#: Digits per model-thread job.
#: The most digits the gallery shows at once (the most confident ones).
GALLERY_LIMIT = 500
#: A digit's icon side in the gallery (28 px enlarged, nearest neighbour).
ICON = 56
CELL_W, CELL_H = 38, 26
DIAGONAL = QColor(197, 225, 165)  # light green: the digits read right
MISTAKE = QColor(211, 47, 47)  # red, paler for fewer mistakes
#: Item data: the digit's index in its test set.
INDEX_ROLE = Qt.ItemDataRole.UserRole


@dataclass(frozen=True)
class TestResult:
    """One evaluation as the panel shows it.

    ``dataset`` is the test set's id (``"bundled"``, ``"keras"``, ``"file:<path>"``).
    ``original`` is the trained model an edited one came from (None: not edited) and
    ``trained`` its evaluation on the same digits (None: not measured yet). ``previous``
    is the accuracy of the trained weights a retrained (reloaded) model replaced, on the
    same digits (None: none, or the model is edited).
    """

    __test__ = False  # not a pytest class, despite its name

    model: OpenModel
    dataset: str
    evaluation: Evaluation
    previous: float | None = None
    original: OpenModel | None = None
    trained: Evaluation | None = None
    #: The test digits (x uint8 (N, 28, 28), y (N,)) the evaluation was measured on.
    digits: tuple[np.ndarray, np.ndarray] | None = None

    @property
    def accuracy(self) -> float:
        return self.evaluation.accuracy

    def broken(self) -> np.ndarray:
        """A mask of the digits the edits broke: right when trained, wrong now."""
        if self.trained is None:
            return np.zeros(len(self.evaluation.labels), bool)
        return self.evaluation.broken_since(self.trained)

    def mended(self) -> np.ndarray:
        """A mask of the digits the edits mended: wrong when trained, right now."""
        if self.trained is None:
            return np.zeros(len(self.evaluation.labels), bool)
        return self.evaluation.mended_since(self.trained)


@dataclass(eq=False)
class _Run:
    """One evaluation in flight: reading the digits, then the model on them (batch work
    on the model thread: a new input or layer runs between two of its batches)."""

    model: OpenModel
    dataset: str
    ticket: Ticket | None = None


def digits_key(dataset: str) -> tuple[str, str]:
    """The scheduler's key of a test set's digits."""
    return ("test digits", dataset)


def read_test_set(dataset: str) -> tuple[np.ndarray, np.ndarray]:
    """The (x uint8 (N, 28, 28), y (N,)) of a test set id; ``MnistDataError`` says why not."""
    if dataset == BUNDLED:
        return bundled_test_digits()
    if dataset == KERAS:
        return load_test_split(keras_mnist_cache())
    if dataset.startswith(f"{FILE}:"):
        return load_test_split(dataset.split(":", 1)[1])
    raise ValueError(f"unknown test set {dataset!r}")


def percent(fraction: float) -> str:
    """``0.988`` -> ``"98.8 %"``."""
    return f"{100 * fraction:.1f} %"


def _points(change: float) -> str:
    """A change of accuracy in percentage points, with a true minus sign.

    >>> _points(-0.262), _points(0.05)
    ('−26.2 points', '+5.0 points')
    """
    return f"{100 * change:+.1f} points".replace("-", "\u2212")


def _s(n: int) -> str:
    return "" if n == 1 else "s"


def digit_icon(pixels: np.ndarray, side: int = ICON) -> QIcon:
    """A (28, 28) uint8 digit enlarged without smoothing (each pixel a square)."""
    return icon_of(pixels, side)


def _blend(colour: QColor, t: float) -> QColor:
    """``colour`` over white with opacity ``t`` (0: white)."""
    return QColor(
        round(255 + (colour.red() - 255) * t),
        round(255 + (colour.green() - 255) * t),
        round(255 + (colour.blue() - 255) * t),
    )


class TestSetPanel(Panel):
    """A digit model on a labelled test set: accuracy, confusion matrix, mistakes.

    Signals
    -------
    evaluated(object)
        A ``TestResult`` is shown (just measured, or from the cache; an edited model's
        again once the trained model it is compared with is measured).
    digit_chosen(int)
        A gallery digit (its index in the test set) was opened in Draw and Activations.
    """

    __test__ = False

    evaluated = Signal(object)
    digit_chosen = Signal(int)

    def __init__(self, state: AppState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._state = state
        self._settings = QSettings()
        # Per (model key, test set): the lineage and accuracy of the trained (not edited)
        # model last shown, for "was … now" after retraining.
        self._last: dict[tuple[str, str], tuple[int, float]] = {}
        self._was: dict[tuple[int, str], float | None] = {}
        self._run: _Run | None = None
        self._shown: TestResult | None = None
        self._cell: tuple[int, int] | None = None  # the confusion cell the gallery shows
        self._opened: tuple[str, int, object] | None = None  # (test set, index, its input)
        self._active = False  # nothing is evaluated before the panel is first shown
        self._failed = False
        self._npz: Path | None = None  # the person's test file
        self._build_ui()
        state.model_opened.connect(self._on_model_opened)
        state.model_failed.connect(self._on_model_failed)
        state.model_changed.connect(self._on_current_model_changed)
        state.tensorflow_ready.connect(self._on_tensorflow_ready)
        state.input_changed.connect(self._on_input_changed)
        state.tensorflow_failed.connect(self._on_tensorflow_failed)
        self._fill_model_combo()
        self._show_nothing()

    # -- building ------------------------------------------------------------------------
    def _build_ui(self) -> None:
        top = QHBoxLayout()
        self.model_combo = QComboBox()
        for key in MODELS:
            self.model_combo.addItem(MODEL_TITLES[key], key)
        self.model_combo.setToolTip(
            "The digit model to test: the shipped ones, or your own model file (Keras or "
            "ONNX, 28x28x1 in, 10 out) while it is open in Activations"
        )
        index = self.model_combo.findData(str(self._settings.value("testset/model", MNIST_KEY)))
        self.model_combo.setCurrentIndex(max(index, 0))
        self.model_combo.currentIndexChanged.connect(self._on_model_chosen)
        self.data_combo = QComboBox()
        self.data_combo.setToolTip(
            "The labelled digits to test it on: the 500 shipped with the app, the full MNIST "
            "test set from Keras' cache, or an .npz file in Keras' mnist layout "
            "(x_test, y_test)"
        )
        self._fill_data_combo()
        self.data_combo.activated.connect(self._on_data_chosen)
        for combo in (self.model_combo, self.data_combo):
            combo.setSizeAdjustPolicy(
                QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
            )
            combo.setMinimumContentsLength(12)
        self.evaluate_button = QPushButton("Evaluate")
        self.evaluate_button.clicked.connect(self.evaluate)  # its tooltip says when
        top.addWidget(QLabel("Model"))
        top.addWidget(self.model_combo, 1)
        top.addWidget(QLabel("Digits"))
        top.addWidget(self.data_combo, 1)
        top.addWidget(self.evaluate_button)

        self.progress_box = ProgressRow("Stop the evaluation", self.cancel)
        self.progress, self.cancel_button = (
            self.progress_box.progress,
            self.progress_box.cancel_button,
        )

        self.accuracy_label = QLabel()
        theme().style_text(self.accuracy_label, 17, bold=True)
        self.accuracy_label.setWordWrap(True)
        self.accuracy_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.change_label = QLabel()
        self.change_label.setWordWrap(True)
        self.change_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.message = MessageBar()

        # The confusion matrix.
        self.table = QTableWidget(10, 10)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectItems)
        self.table.setHorizontalHeaderLabels([str(d) for d in range(10)])
        self.table.setVerticalHeaderLabels([str(d) for d in range(10)])
        for header in (self.table.horizontalHeader(), self.table.verticalHeader()):
            header.setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
            header.setMinimumSectionSize(10)
            header.setHighlightSections(True)
        for d in range(10):
            self.table.horizontalHeaderItem(d).setToolTip(f"The model said {d}")
        self.table.setToolTip(
            "Rows: the true digit; columns: what the model said. Click a cell (or move to "
            "it with the arrow keys) to see its digits"
        )
        self.table.cellClicked.connect(self._on_cell_chosen)
        self.table.currentCellChanged.connect(lambda r, c, _r, _c: self._on_cell_chosen(r, c))
        self._size_table()
        theme().follow(self, self._size_table)  # bigger text, bigger cells
        table_box = QGroupBox("Confusion matrix")
        tl = QVBoxLayout(table_box)
        axes = QLabel("Rows: the true digit · columns: the model's answer")
        axes.setWordWrap(True)
        axes.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        tl.addWidget(axes)
        tl.addWidget(self.table)
        self.class_label = QLabel()
        self.class_label.setWordWrap(True)
        self.class_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.class_label.setToolTip("Of each true digit, the share the model read right")
        tl.addWidget(self.class_label)
        tl.addStretch(1)

        # The gallery.
        self.gallery_label = QLabel()
        self.gallery_label.setWordWrap(True)
        self.gallery_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.all_mistakes_button = QPushButton("Show all mistakes")
        self.all_mistakes_button.setToolTip("Show every misread digit again, not one cell's")
        self.all_mistakes_button.clicked.connect(lambda: self.show_all_mistakes())
        # An edited model: only the digits its edits broke, or mended (one at a time).
        self.broken_box = QCheckBox("Only digits the edits broke")
        self.broken_box.setToolTip(
            "Show only the digits the trained model read right and the edited one reads "
            "wrong (in the chosen cell, if one is)"
        )
        self.mended_box = QCheckBox("Only digits the edits mended")
        self.mended_box.setToolTip(
            "Show only the digits the trained model read wrong and the edited one reads "
            "right (in the chosen cell, if one is)"
        )
        for box, other in ((self.broken_box, self.mended_box), (self.mended_box, self.broken_box)):
            box.toggled.connect(lambda on, other=other: self._on_filter_toggled(on, other))
        filter_row = QHBoxLayout()
        filter_row.setContentsMargins(0, 0, 0, 0)
        filter_row.addWidget(self.broken_box)
        filter_row.addWidget(self.mended_box)
        filter_row.addStretch(1)
        self.filter_box = QWidget()
        self.filter_box.setLayout(filter_row)
        self.filter_box.setVisible(False)
        self.gallery = QListWidget()
        self.gallery.setViewMode(QListView.ViewMode.IconMode)
        self.gallery.setResizeMode(QListView.ResizeMode.Adjust)
        self.gallery.setMovement(QListView.Movement.Static)
        self.gallery.setIconSize(QSize(ICON, ICON))
        self.gallery.setGridSize(QSize(ICON + 48, ICON + 40))  # two lines of caption
        self.gallery.setUniformItemSizes(True)
        self.gallery.setWordWrap(True)
        self.gallery.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.gallery.setToolTip(
            "Click a digit (or press Enter) to open it in Draw and Activations; "
            "double-click to go to Activations"
        )
        self.gallery.itemClicked.connect(self._on_item_clicked)
        self.gallery.itemActivated.connect(self._on_item_clicked)
        self.gallery.itemDoubleClicked.connect(self._on_item_double_clicked)
        self.opened_label = QLabel()
        self.opened_label.setWordWrap(True)
        self.opened_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.draw_button = QPushButton("Go to Draw")
        self.draw_button.setToolTip("Show the Draw panel, with the digit on its canvas to edit")
        self.draw_button.clicked.connect(lambda: self._state.panel_requested.emit("draw"))
        self.activations_button = QPushButton("Go to Activations")
        self.activations_button.setToolTip("Show the digit's feature maps in Activations")
        self.activations_button.clicked.connect(
            lambda: self._state.panel_requested.emit("activations")
        )
        opened_row = QHBoxLayout()
        opened_row.setContentsMargins(0, 0, 0, 0)
        opened_row.addWidget(self.opened_label, 1)
        opened_row.addWidget(self.draw_button)
        opened_row.addWidget(self.activations_button)
        self.opened_box = QWidget()
        self.opened_box.setLayout(opened_row)
        self.opened_box.setVisible(False)
        gallery_box = QGroupBox("Gallery")
        gl = QVBoxLayout(gallery_box)
        head = QHBoxLayout()
        head.addWidget(self.gallery_label, 1)
        head.addWidget(self.all_mistakes_button)
        gl.addLayout(head)
        gl.addWidget(self.filter_box)
        gl.addWidget(self.gallery, 1)
        gl.addWidget(self.opened_box)

        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.addWidget(table_box)
        self.splitter.addWidget(gallery_box)
        self.splitter.setStretchFactor(0, 0)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setChildrenCollapsible(False)

        lay = QVBoxLayout(self)
        lay.addLayout(top)
        lay.addWidget(self.progress_box)
        lay.addWidget(self.accuracy_label)
        lay.addWidget(self.change_label)
        lay.addWidget(self.message)
        lay.addWidget(self.splitter, 1)

    def _fill_data_combo(self) -> None:
        chosen = str(self._settings.value("testset/data", BUNDLED))
        path = self._settings.value("testset/npz")
        with QSignalBlocker(self.data_combo):
            self.data_combo.clear()
            self.data_combo.addItem(DATA_LABELS[BUNDLED], BUNDLED)
            if keras_mnist_cache().is_file():
                self.data_combo.addItem(DATA_LABELS[KERAS], KERAS)
                self.data_combo.setItemData(
                    1, str(keras_mnist_cache()), Qt.ItemDataRole.ToolTipRole
                )
            if path:
                self._set_file_item(Path(str(path)))
            self.data_combo.addItem(DATA_LABELS[CHOOSE], CHOOSE)
            index = self.data_combo.findData(chosen)
            self.data_combo.setCurrentIndex(max(index, 0))
        self._data_index = self.data_combo.currentIndex()

    def _set_file_item(self, path: Path) -> None:
        """The person's file as an entry of its own (before "A .npz file…")."""
        index = self.data_combo.findData(FILE)
        if index < 0:
            at = self.data_combo.findData(CHOOSE)
            index = at if at >= 0 else self.data_combo.count()
            self.data_combo.insertItem(index, "", FILE)
        self.data_combo.setItemText(index, f"{path.name} (your file)")
        self.data_combo.setItemData(index, str(path), Qt.ItemDataRole.ToolTipRole)
        self._npz = path

    # -- what is chosen ------------------------------------------------------------------
    def model_key(self) -> str:
        return str(self.model_combo.currentData())

    def _file_model(self) -> OpenModel | None:
        """The current model when it is a model file that takes digits (the state holds
        a model file only while it is current), else None."""
        model = self._state.model
        if model is None or model.key != FILE_MODEL or not fits_test_digits(model.network):
            return None
        return model

    def _model(self, key: str) -> OpenModel | None:
        """The open model under ``key``: a shipped digit model, or the model file."""
        return self._file_model() if key == FILE_MODEL else self._state.models.get(key)

    def _fill_model_combo(self) -> None:
        """Offer the model file while it is current and takes digits; when it goes, the
        shipped model chosen last is tested again."""
        file_model = self._file_model()
        index = self.model_combo.findData(FILE_MODEL)
        if file_model is not None:
            text = f"Your model: {file_model.loaded.title}"
            if index < 0:
                self.model_combo.addItem(text, FILE_MODEL)
                index = self.model_combo.count() - 1
            self.model_combo.setItemText(index, text)
            self.model_combo.setItemData(index, text, Qt.ItemDataRole.ToolTipRole)
        elif index >= 0:
            chosen = self.model_key() == FILE_MODEL
            with QSignalBlocker(self.model_combo):
                self.model_combo.removeItem(index)
                if chosen:
                    saved = str(self._settings.value("testset/model", MNIST_KEY))
                    self.model_combo.setCurrentIndex(max(self.model_combo.findData(saved), 0))
            if chosen:
                self._request()

    def dataset(self) -> str:
        """The chosen test set's id: ``"bundled"``, ``"keras"`` or ``"file:<path>"``."""
        choice = str(self.data_combo.currentData())
        return f"{FILE}:{self._npz}" if choice == FILE else choice

    def _dataset_label(self, dataset: str) -> str:
        if dataset.startswith(f"{FILE}:"):
            return Path(dataset.split(":", 1)[1]).name
        return DATA_LABELS.get(dataset, dataset)

    def _on_model_chosen(self, _index: int) -> None:
        if self.model_key() in MODELS:  # a model file is offered only while it is open
            self._settings.setValue("testset/model", self.model_key())
        self._request()

    def _on_data_chosen(self, index: int) -> None:
        if self.data_combo.itemData(index) == CHOOSE:
            with QSignalBlocker(self.data_combo):
                self.data_combo.setCurrentIndex(self._data_index)  # until a file is chosen
            self.npz_dialog()
            return
        self._data_index = index
        self._settings.setValue("testset/data", str(self.data_combo.currentData()))
        self._request()

    def npz_dialog(self) -> None:
        """Ask for an .npz of test digits (Keras' mnist layout) and test on it."""
        start = str(self._settings.value("testset/npz", "") or Path.home())
        path, _ = QFileDialog.getOpenFileName(
            self, "Test digits (Keras' mnist layout)", start, "NumPy archives (*.npz);;All (*)"
        )
        if path:
            self.use_npz_file(Path(path))

    def use_npz_file(self, path: Path) -> None:
        """Test on ``path`` (x_test, y_test as Keras' mnist.npz has them); remembered."""
        path = Path(path).resolve()
        self._settings.setValue("testset/npz", str(path))
        # Read it again, it may have changed: its digits and every result measured on
        # them go together (a result kept without its digits could not be drawn).
        dataset = f"{FILE}:{path}"
        self._state.scheduler.forget(
            lambda k: k != digits_key(dataset) and not (k[0] == "evaluation" and k[2] == dataset)
        )
        if self._shown is not None and self._shown.dataset == dataset:
            self._show_nothing()
        with QSignalBlocker(self.data_combo):
            self._set_file_item(path)
            self.data_combo.setCurrentIndex(self.data_combo.findData(FILE))
        self._data_index = self.data_combo.currentIndex()
        self._settings.setValue("testset/data", FILE)
        self._request()

    # -- evaluating ----------------------------------------------------------------------
    def showEvent(self, event) -> None:
        super().showEvent(event)
        if not self._active:
            self._active = True  # from now on it measures in the background too
            self._request()

    def _on_model_opened(self, key: str) -> None:
        if key == self.model_key():
            self._request()

    def _on_current_model_changed(self, _model: object) -> None:
        """A model file opened, edited or gone: offered while it is current."""
        self._fill_model_combo()
        if self.model_key() == FILE_MODEL:
            self._request()

    def _on_model_failed(self, key: str, exc: BaseException) -> None:
        if key == self.model_key() and key in MODELS:  # a file that failed is not offered
            self._failed = True
            self.accuracy_label.setText(f"{MODELS[key]} could not be loaded")
            self.message.show_exception(exc)
            self._update_evaluate_button()

    def _on_tensorflow_ready(self, _versions: str) -> None:
        self._update_evaluate_button()
        self._request()

    def _on_tensorflow_failed(self, exc: BaseException) -> None:
        self._failed = True
        self.accuracy_label.setText("No model to test")
        self.message.show_error(f"TensorFlow could not be loaded: {exc}")
        self._update_evaluate_button()

    def _on_input_changed(self, image: object) -> None:
        if self._opened is not None and image is not self._opened[2]:
            self._hide_opened()  # something else is open now

    def evaluate(self) -> None:
        """Measure the chosen model on the chosen test set (from the cache if done), and
        the trained model an edited one came from."""
        self._active = True
        self._request()

    def _request(self) -> None:
        if not self._active:
            return
        key, dataset = self.model_key(), self.dataset()
        model = self._model(key)
        if model is None:
            self._stop_run()
            self._show_nothing()
            if key not in MODELS:  # the model file was closed meanwhile
                self._fill_model_combo()
            elif self._state.tensorflow_error is not None:
                self._on_tensorflow_failed(self._state.tensorflow_error)
            elif self._state.tensorflow_version is None:
                self.accuracy_label.setText("Waiting for TensorFlow…")
            else:
                self.accuracy_label.setText(f"Loading {MODELS[key]}…")
                self._state.load_model(key)
            return
        cached = self._evaluation(model, dataset)
        original = self._state.original(key)
        if cached is not None and (original is None or self._evaluation(original, dataset)):
            self._stop_run()
            self._show_result(model, dataset, cached)
            return
        # The edited model first (shown at once), then the trained one to compare with.
        need = model if cached is None else original
        run = self._run
        if run is not None and run.dataset == dataset:
            if run.model is need:
                return  # being measured
            if original is not None and run.model is original:
                return  # every edit is compared with it: it ends, then the edited one runs
        if cached is not None:
            self._stop_run()
            self._show_result(model, dataset, cached)
        self._start(need, dataset)

    def _start(self, model: OpenModel, dataset: str) -> None:
        self._stop_run()
        shown = self._shown
        if shown is None or shown.model.key != model.key or shown.dataset != dataset:
            self._show_nothing()  # keep the old model's results only while its successor runs
        self._failed = False
        self.message.clear_message()
        run = _Run(model, dataset)
        self._run = run
        self._set_running(True)
        self.progress.setValue(0)
        self.progress.setFormat("Reading the test digits…")
        run.ticket = self._state.request(
            lambda _task: read_test_set(dataset),
            key=digits_key(dataset),
            pool="compute",
            on_result=lambda data: self._on_data(run, data),
            on_failed=lambda exc: self._on_run_failed(run, exc),
        )

    def _evaluation(self, model: OpenModel, dataset: str) -> Evaluation | None:
        """``model``'s result on ``dataset`` if the state's scheduler holds it."""
        return self._state.scheduler.cached(evaluation_key(model, dataset))

    def _digits(self, dataset: str) -> tuple[np.ndarray, np.ndarray] | None:
        shown = self._shown
        if shown is not None and shown.dataset == dataset and shown.digits is not None:
            return shown.digits
        return self._state.scheduler.cached(digits_key(dataset))

    def _on_data(self, run: _Run, data: tuple[np.ndarray, np.ndarray]) -> None:
        if run is not self._run:
            return
        x, y = data
        n = len(x)
        if n == 0:
            self._on_run_failed(
                run, ValueError(f"{self._dataset_label(run.dataset)} holds no test digits")
            )
            return
        model = run.model.network
        name = MODELS.get(run.model.key, run.model.loaded.title)
        if run.model is self._state.original(run.model.key):
            name += " as trained"  # to compare the edited one with

        def job(task: Task) -> Evaluation:
            def progress(fraction: float, _message: str) -> None:
                done = round(fraction * n)
                task.progress(fraction, f"{name}: {done:,} of {n:,} digits")

            try:
                return evaluate(model, x, y, progress=progress, cancelled=task.cancelled)
            except InterruptedError:
                raise Cancelled() from None

        self.progress.setFormat(f"{name}: 0 of {n:,} digits")
        run.ticket = self._state.request(
            job,
            key=evaluation_key(run.model, run.dataset),
            priority=Priority.BATCH,
            on_progress=lambda fraction, message: self._on_progress(run, fraction, message),
            on_result=lambda evaluation: self._on_evaluated(run, evaluation),
            on_failed=lambda exc: self._on_run_failed(run, exc),
        )

    def _on_progress(self, run: _Run, fraction: float, message: str) -> None:
        if run is self._run:
            self.progress.setValue(round(1000 * fraction))
            self.progress.setFormat(message)

    def _on_evaluated(self, run: _Run, evaluation: Evaluation) -> None:
        if run is not self._run:
            return
        self._run = None
        self._set_running(False)
        log.info(
            "%s on %s: %.4f",
            run.model.loaded.title,
            self._dataset_label(run.dataset),
            evaluation.accuracy,
        )
        if run.model.key == self.model_key() and run.dataset == self.dataset():
            self._request()  # shows it, or measures the trained model to compare with

    def _keeps_shown(self, run: _Run) -> bool:
        """True when ``run`` measures the trained original of the edited model shown,
        whose own result stays whatever becomes of the run."""
        shown = self._shown
        return (
            shown is not None
            and run.model is shown.original
            and shown.model is self._model(shown.model.key)
        )

    def _on_run_failed(self, run: _Run, exc: BaseException) -> None:
        if run is not self._run:
            return
        self._run = None
        self._set_running(False)
        self._failed = True
        if self._keeps_shown(run):
            self._show_change()
        else:
            self._show_nothing()
            self.accuracy_label.setText(f"No result on {self._dataset_label(run.dataset)}")
        if isinstance(exc, ValueError):  # MnistDataError included: says what to do
            self.message.show_error(str(exc))
        else:
            self.message.show_exception(exc, "The evaluation failed: ")

    def cancel(self) -> None:
        """Stop the running evaluation; Evaluate starts it again."""
        run = self._run
        if run is None:
            return
        keep = self._keeps_shown(run)
        self._stop_run()
        if keep:  # only the comparison with the trained model is missing
            self._show_change()
            return
        self._show_nothing()  # what was shown meanwhile was the replaced model's
        self.accuracy_label.setText("Cancelled: press Evaluate to measure")

    def _stop_run(self) -> None:
        run, self._run = self._run, None
        if run is not None and run.ticket is not None:
            run.ticket.cancel()  # it stops at its next batch; its results are ignored
        self._set_running(False)

    def _set_running(self, running: bool) -> None:
        self.progress_box.setVisible(running)
        self._update_evaluate_button()
        self._show_change()

    def is_up_to_date(self) -> bool:
        """True when the result shown is the chosen model's on the chosen digits, with
        the trained model's to compare with when it is edited."""
        shown = self._shown
        key = self.model_key()
        return (
            shown is not None
            and shown.model is self._model(key)
            and shown.dataset == self.dataset()
            and (shown.original is None or shown.trained is not None)
            and shown.original is self._state.original(key)
        )

    def _update_evaluate_button(self) -> None:
        """Evaluate is offered when nothing runs and the result shown is not up to date;
        its tooltip says why it is not."""
        button = self.evaluate_button
        if self._state.tensorflow_error is not None:
            button.setEnabled(False)
            button.setToolTip("No model can be tested: TensorFlow could not be loaded")
        elif self._state.tensorflow_version is None:
            button.setEnabled(False)
            button.setToolTip("Evaluate is offered once TensorFlow is loaded")
        elif self._run is not None:
            button.setEnabled(False)
            button.setToolTip("Being measured now (Cancel stops it)")
        elif self.is_up_to_date():
            button.setEnabled(False)
            button.setToolTip(
                "The result shown is up to date; Evaluate runs again after a change or a cancel"
            )
        else:
            button.setEnabled(True)
            button.setToolTip(
                "Run the test digits through the model: the result shown is not up to date "
                "(cancelled, failed or not measured yet)"
            )

    def is_running(self) -> bool:
        return self._run is not None

    # -- showing -------------------------------------------------------------------------
    def _title(self, model: OpenModel) -> str:
        """The short name, with what the state says of an edited model."""
        name = MODELS.get(model.key, model.loaded.title)
        base = MODEL_TITLES.get(model.key, "")
        title = model.loaded.title
        if base and title.startswith(base) and title != base:
            return f"{name}{title[len(base) :]}"
        return name

    def _show_nothing(self) -> None:
        self._shown = None
        self._cell = None
        self.accuracy_label.setText("")
        self.change_label.setVisible(False)
        with QSignalBlocker(self.table):
            self.table.clearContents()
            self.table.setCurrentCell(-1, -1)
        self.class_label.setText("")
        self.gallery.clear()
        self.gallery_label.setText("")
        self.all_mistakes_button.setEnabled(False)
        self._show_filters()
        self._hide_opened()
        self._update_evaluate_button()

    def _show_result(self, model: OpenModel, dataset: str, evaluation: Evaluation) -> None:
        mark = (model.serial, dataset)
        original = self._state.original(model.key)
        if original is None:  # as trained: compared with the weights retraining replaced
            last = self._last.get((model.key, dataset))
            if last is not None and last[0] != model.lineage:
                self._was[mark] = last[1]
            self._last[(model.key, dataset)] = (model.lineage, evaluation.accuracy)
        trained = None if original is None else self._evaluation(original, dataset)
        previous = self._was.get(mark) if original is None else None
        digits = self._digits(dataset)
        result = TestResult(model, dataset, evaluation, previous, original, trained, digits)
        # The chosen cell stays while the digits do (a model replaced, another chosen).
        same_digits = self._shown is not None and self._shown.dataset == dataset
        self._shown = result
        self._failed = False
        n = len(evaluation.labels)
        right = int(np.trace(evaluation.confusion))
        self.accuracy_label.setText(
            f"{self._title(model)}: {right:,} of {n:,} right, {percent(evaluation.accuracy)}"
        )
        self.accuracy_label.setToolTip(f"On {self._dataset_label(dataset)}")
        self._show_change()
        self._show_filters()
        self._update_evaluate_button()
        self._fill_table(evaluation)
        cell = self._cell if same_digits else None
        if cell is not None and max(cell) < evaluation.confusion.shape[0]:
            if evaluation.confusion[cell]:
                with QSignalBlocker(self.table):
                    self.table.setCurrentCell(*cell)
                self.show_cell(*cell)  # the same cell, of the model that replaced the last
            else:  # none there now: every mistake, saying so
                self.show_all_mistakes(f"No {cell[0]} is read as {cell[1]} now. ")
        else:
            self.show_all_mistakes()
        self.evaluated.emit(result)

    def _show_change(self) -> None:
        """The line under the accuracy: an edited model against the trained one, or a
        retrained one against the weights it replaced."""
        result = self._shown
        label = self.change_label
        if result is None or (result.original is None and result.previous is None):
            label.setVisible(False)
            return
        now = result.accuracy
        if result.original is None:
            delta = _points(now - result.previous)
            label.setText(f"was {percent(result.previous)}, now {percent(now)} ({delta})")
            label.setToolTip(
                "The accuracy of the weights this model replaced (before retraining or "
                "loading it again), on the same digits"
            )
        elif result.trained is not None:
            delta = _points(now - result.trained.accuracy)
            broken, mended = int(result.broken().sum()), int(result.mended().sum())
            label.setText(
                f"trained {percent(result.trained.accuracy)}, edited {percent(now)} "
                f"({delta}): {broken:,} digit{_s(broken)} broken, {mended:,} mended"
            )
            label.setToolTip(
                "The trained model's accuracy on the same digits, and the edited one's. "
                "Broken: read right when trained, wrong now; mended: the other way round"
            )
        else:
            run = self._run
            measuring = run is not None and run.model is result.original
            trained = "measuring…" if measuring else "not measured (Evaluate measures it)"
            label.setText(f"trained {trained}, edited {percent(now)}")
            label.setToolTip("The trained model is measured on the same digits to compare")
        label.setVisible(True)

    def _show_filters(self) -> None:
        """The broken / mended check boxes, with their counts, for an edited model."""
        result = self._shown
        offered = result is not None and result.trained is not None
        if offered:
            broken, mended = int(result.broken().sum()), int(result.mended().sum())
            self.broken_box.setText(f"Only digits the edits broke ({broken:,})")
            self.mended_box.setText(f"Only digits the edits mended ({mended:,})")
        elif result is None or result.original is None:  # not edited: the choice goes
            for box in (self.broken_box, self.mended_box):
                with QSignalBlocker(box):
                    box.setChecked(False)
        self.filter_box.setVisible(offered)

    def _fill_table(self, evaluation: Evaluation) -> None:
        c = evaluation.confusion
        k = c.shape[0]
        off = c.copy()
        np.fill_diagonal(off, 0)
        worst = max(int(off.max()), 1)
        totals = c.sum(axis=1)
        per_class = evaluation.class_accuracy()
        self.class_label.setText(
            "Right per digit: "
            + ", ".join(
                f"{d}\u00a0{100 * a:.3g}\u00a0%" for d, a in enumerate(per_class) if totals[d]
            )
        )
        with QSignalBlocker(self.table):
            self.table.setRowCount(k)
            self.table.setColumnCount(k)
            for i in range(k):
                right = "no digits" if totals[i] == 0 else f"{percent(per_class[i])} right"
                header = self.table.verticalHeaderItem(i) or QTableWidgetItem(str(i))
                header.setToolTip(f"True {i}: {totals[i]:,} digits, {right}")
                self.table.setVerticalHeaderItem(i, header)
                for j in range(k):
                    count = int(c[i, j])
                    item = QTableWidgetItem(str(count))
                    item.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
                    item.setData(INDEX_ROLE, count)
                    share = f" ({count / totals[i]:.1%} of the {i}s)" if totals[i] else ""
                    if i == j:
                        item.setBackground(QBrush(DIAGONAL))
                        bold = QFont(item.font())
                        bold.setBold(True)
                        item.setFont(bold)
                        item.setToolTip(f"True {i}, read as {i}: {count:,} right{share}")
                    else:
                        t = 0.0 if count == 0 else 0.15 + 0.85 * np.sqrt(count / worst)
                        item.setBackground(QBrush(_blend(MISTAKE, t)))
                        if t > 0.6:
                            item.setForeground(QBrush(QColor("white")))
                        elif count == 0:
                            item.setForeground(QBrush(QColor(170, 170, 170)))
                        item.setToolTip(f"True {i}, read as {j}: {count:,} digits{share}")
                    self.table.setItem(i, j, item)
            self.table.setCurrentCell(-1, -1)

    def _size_table(self) -> None:
        """The whole matrix, no scrolling, in cells that hold the zoom's text."""
        t = theme()
        self.table.horizontalHeader().setDefaultSectionSize(t.size(CELL_W))
        self.table.verticalHeader().setDefaultSectionSize(t.size(CELL_H))
        self.table.verticalHeader().setFixedWidth(t.size(26))
        frame = 2 * self.table.frameWidth() + 2
        self.table.setFixedSize(
            t.size(26) + 10 * t.size(CELL_W) + frame,
            self.table.horizontalHeader().sizeHint().height() + 10 * t.size(CELL_H) + frame,
        )

    def _on_cell_chosen(self, row: int, col: int) -> None:
        if self._shown is None or row < 0 or col < 0 or (row, col) == self._cell:
            return
        self.show_cell(row, col)

    def _on_filter_toggled(self, on: bool, other: QCheckBox) -> None:
        if on and other.isChecked():
            with QSignalBlocker(other):
                other.setChecked(False)  # one at a time
        self._refresh_gallery()

    def _refresh_gallery(self) -> None:
        if self._cell is not None:
            self.show_cell(*self._cell)
        else:
            self.show_all_mistakes()

    def _edit_filter(self) -> tuple[str, np.ndarray] | None:
        """The check box ticked, as (what, mask of the digits it keeps), or None."""
        result = self._shown
        if result is None or result.trained is None:
            return None
        if self.broken_box.isChecked():
            return "broken by the edits", result.broken()
        if self.mended_box.isChecked():
            return "mended by the edits", result.mended()
        return None

    def show_cell(self, true: int, predicted: int) -> None:
        """The gallery shows the digits of class ``true`` read as ``predicted`` (those the
        edits broke or mended, when that box is ticked)."""
        if self._shown is None:
            return
        ev = self._shown.evaluation
        self._cell = (true, predicted)
        in_cell = ev.cell(true, predicted)
        n = int(in_cell.sum())
        what = "right" if true == predicted else "wrong"
        caption = f"True {true}, read as {predicted}: "
        chosen, only = in_cell, self._edit_filter()
        if n == 0:
            caption += "no digits in this cell now"
        elif only is None:
            caption += f"{n:,} ({what})"
        else:
            chosen = in_cell & only[1]
            kept = int(chosen.sum())
            caption += f"{kept:,} of its {n:,} {only[0]}" if kept else f"none {only[0]}"
        self._fill_gallery(ev.by_confidence(chosen), caption)
        self.all_mistakes_button.setEnabled(True)

    def show_all_mistakes(self, note: str = "") -> None:
        """The gallery shows every misread digit (or every digit the edits broke or
        mended, when that box is ticked); the cell choice is cleared. ``note`` goes
        before the caption."""
        self._cell = None
        with QSignalBlocker(self.table):
            self.table.clearSelection()
            self.table.setCurrentCell(-1, -1)
        self.all_mistakes_button.setEnabled(False)
        if self._shown is None:
            return
        ev = self._shown.evaluation
        n = len(ev.labels)
        only = self._edit_filter()
        if only is None:
            wrong = ev.mistakes()
            self._fill_gallery(wrong, f"{note}Mistakes: {len(wrong):,} of {n:,}")
            return
        chosen = ev.by_confidence(only[1])
        what = only[0][0].upper() + only[0][1:]
        self._fill_gallery(chosen, f"{note}{what}: {len(chosen):,} of {n:,}")

    def _fill_gallery(self, indices: np.ndarray, caption: str) -> None:
        self._hide_opened()  # what it said was of the digits shown before
        result = self._shown
        ev = result.evaluation
        x = result.digits[0]
        shown = indices[:GALLERY_LIMIT]
        more = f", the {len(shown):,} most confident shown" if len(indices) > len(shown) else ""
        order = ", most confident first" if len(indices) > 1 else ""
        self.gallery_label.setText(f"{caption}{order}{more}")
        self.gallery.setUpdatesEnabled(False)
        self.gallery.clear()
        for i in shown:
            i = int(i)
            true, said, p = int(ev.labels[i]), int(ev.predictions[i]), float(ev.confidence[i])
            item = QListWidgetItem(digit_icon(x[i]), f"true {true} → {said}\n{100 * p:.0f}\u00a0%")
            item.setData(INDEX_ROLE, i)
            before = ""
            if result.trained is not None:
                was = int(result.trained.predictions[i])
                before = f" (the trained model said {was} with {result.trained.confidence[i]:.1%})"
            item.setToolTip(
                f"Test digit #{i}: a {true}; the model says {said} with {p:.1%}{before}. "
                "Click to open it in Draw and Activations"
            )
            self.gallery.addItem(item)
        self.gallery.setUpdatesEnabled(True)

    def gallery_indices(self) -> list[int]:
        """The test-set indices the gallery shows, in its order."""
        return [int(self.gallery.item(r).data(INDEX_ROLE)) for r in range(self.gallery.count())]

    def result(self) -> TestResult | None:
        """What the panel shows now (None: nothing measured yet for the choice)."""
        return self._shown

    # -- opening a digit -----------------------------------------------------------------
    def _on_item_clicked(self, item: QListWidgetItem) -> None:
        self.open_digit(int(item.data(INDEX_ROLE)))

    def _on_item_double_clicked(self, item: QListWidgetItem) -> None:
        self.open_digit(int(item.data(INDEX_ROLE)))
        self._state.panel_requested.emit("activations")

    def open_digit(self, index: int) -> None:
        """Open test digit ``index`` in Draw (to edit) and Activations; stay here."""
        if self._shown is None:
            return
        dataset = self._shown.dataset
        if (
            self._opened is not None
            and self._opened[:2] == (dataset, index)
            and self._opened[2] is self._state.input
        ):
            return  # a click and its double-click open it once
        x, y = self._shown.digits
        name = f"test digit #{index} (a {int(y[index])})"
        self._state.open_digit(np.array(x[index]), name)
        self._opened = (dataset, index, self._state.input)
        self.opened_label.setText(f"Opened {name} in Draw and Activations.")
        self.opened_box.setVisible(True)
        self.digit_chosen.emit(index)

    def _hide_opened(self) -> None:
        """The line saying which digit was opened goes (the gallery, the model or the
        input changed since)."""
        self._opened = None
        self.opened_box.setVisible(False)

    # -- Panel ---------------------------------------------------------------------------
    def is_ready(self) -> bool:
        return self._run is None and (self._shown is not None or self._failed)

    def prepare_screenshot(self) -> None:
        self.evaluate()

    def confirm_close(self) -> bool:
        self._stop_run()
        return True


if __name__ == "__main__":
    from gui.preview import preview

    preview(TestSetPanel, (1100, 700))
