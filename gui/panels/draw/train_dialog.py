"""Train… dialog for the MNIST CNN: data, epochs, batch size; live curves; cancel."""

from __future__ import annotations

import logging
import math
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QSettings, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QSizePolicy,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from engine.models.mnist_data import load_mnist
from engine.models.mnist_model import DIGIT_MODELS, use_weights, weights_info
from engine.models.training import TrainRecord, TrainResult, train_mnist
from gui.scheduler import Priority, Ticket
from gui.state import AppState
from gui.theme import theme
from gui.widgets.message_bar import MessageBar
from gui.workers import Task

log = logging.getLogger(__name__)

KERAS_SOURCE = "Keras MNIST (download once, then Keras' cache)"
FILE_SOURCE = "An .npz file in Keras' mnist layout"
#: Data source keys (stored in settings) and their labels.
SOURCES = {"keras": KERAS_SOURCE, "file": FILE_SOURCE}


def _train_job(task: Task, key: str, path: str | None, epochs: int, batch_size: int, augment: bool):
    task.progress(0.0, "Loading MNIST…")
    data = load_mnist(path)
    return train_mnist(
        data,
        model_key=key,
        use="never",  # the dialog decides, asking when the run is worse
        epochs=epochs,
        batch_size=batch_size,
        augment=augment,
        progress=task.progress,
        cancelled=task.cancelled,
        on_record=task.record,
    )


class CurveBuffer:
    """Points of one curve, appended in amortised O(1) (no re-filtering per batch)."""

    def __init__(self) -> None:
        self._x = np.empty(256)
        self._y = np.empty(256)
        self.n = 0

    def clear(self) -> None:
        self.n = 0

    def append(self, x: float, y: float) -> None:
        if self.n == len(self._x):
            self._x = np.resize(self._x, 2 * self.n)
            self._y = np.resize(self._y, 2 * self.n)
        self._x[self.n], self._y[self.n] = x, y
        self.n += 1

    def data(self) -> tuple[np.ndarray, np.ndarray]:
        return self._x[: self.n], self._y[: self.n]


def batch_values(previous: TrainRecord | None, r: TrainRecord) -> tuple[float, float]:
    """One batch's own loss and accuracy from Keras' running means over the epoch:
    mean_b = ((b - 1) * mean_(b-1) + value_b) / b (batches of equal size).

    >>> from engine.models.training import TrainRecord
    >>> a = TrainRecord("batch", 1, 1, 1, 2, 2.0, 0.5, 0.5, 1.0)
    >>> b = TrainRecord("batch", 1, 1, 2, 2, 1.5, 0.75, 1.0, 2.0)
    >>> batch_values(a, b)
    (1.0, 1.0)
    """
    if previous is None or previous.epoch != r.epoch or r.batch != previous.batch + 1:
        return r.loss, r.accuracy
    b = r.batch
    return b * r.loss - (b - 1) * previous.loss, b * r.accuracy - (b - 1) * previous.accuracy


def format_seconds(s: float) -> str:
    s = max(0, int(round(s)))
    return f"{s // 60} min {s % 60:02d} s" if s >= 60 else f"{s} s"


class TrainDialog(QDialog):
    """Train the lecture's CNN off the UI thread, with live loss and accuracy.

    Signals
    -------
    training_finished(object)
        The ``TrainResult`` of a run that ended normally and whose weights are now used.
    run_kept(object)
        The ``TrainResult`` of every run that ended normally (its weights file is kept).
    """

    training_finished = Signal(object)
    run_kept = Signal(object)

    def __init__(self, state: AppState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Train a digit model")
        self.resize(720, 560)
        self._state = state
        self._worker: Ticket | None = None
        self._settings = QSettings()
        lay = QVBoxLayout(self)
        form = QFormLayout()
        self.model_combo = QComboBox()
        for key, model in DIGIT_MODELS.items():
            self.model_combo.addItem(model.title, key)
        self.model_combo.setToolTip("The model to train (each keeps its own weights)")
        index = self.model_combo.findData(str(self._settings.value("train/model", "mnist")))
        self.model_combo.setCurrentIndex(max(index, 0))
        form.addRow("Model", self.model_combo)
        self.source_combo = QComboBox()
        for key, label in SOURCES.items():
            self.source_combo.addItem(label, key)
        self.source_combo.setToolTip("Where the training digits come from")
        form.addRow("Data", self.source_combo)
        row = QHBoxLayout()
        self.path_edit = QLineEdit(str(self._settings.value("train/path", "")))
        self.path_edit.setPlaceholderText("path/to/mnist.npz")
        self.path_edit.setToolTip("An .npz with x_train, y_train, x_test, y_test (as Keras')")
        self.path_edit.textEdited.connect(
            lambda _t: self.source_combo.setCurrentIndex(self.source_combo.findData("file"))
        )
        self.browse_button = QPushButton("Browse…")
        self.browse_button.setToolTip("Choose an .npz file")
        self.browse_button.clicked.connect(self._browse)
        row.addWidget(self.path_edit, 1)
        row.addWidget(self.browse_button)
        form.addRow("File", row)
        index = self.source_combo.findData(str(self._settings.value("train/source", "keras")))
        self.source_combo.setCurrentIndex(max(index, 0))
        self.epochs_spin = QSpinBox()
        self.epochs_spin.setRange(1, 500)
        self.epochs_spin.setValue(int(self._settings.value("train/epochs", 12)))
        self.epochs_spin.setToolTip("Passes over the training set (the lecture uses 12)")
        form.addRow("Epochs", self.epochs_spin)
        self.batch_spin = QSpinBox()
        self.batch_spin.setRange(1, 4096)
        self.batch_spin.setValue(int(self._settings.value("train/batch_size", 128)))
        self.batch_spin.setToolTip("Digits per gradient step")
        form.addRow("Batch size", self.batch_spin)
        self.augment_check = QCheckBox("Random small shifts, turns and zooms (helps drawn digits)")
        self.augment_check.setChecked(
            self._settings.value("train/augment", "true") in (True, "true")
        )
        form.addRow("", self.augment_check)
        lay.addLayout(form)

        self.plot = pg.PlotWidget(background="w")
        self.plot.addLegend(offset=(-10, 10), labelTextSize=f"{theme().px(12)}px")
        self.plot.setLabel("bottom", "epoch")
        self.plot.showGrid(x=True, y=True, alpha=0.3)
        theme().style_plot(self.plot)
        theme().changed.connect(self._on_theme_changed)
        # Per-batch values are each batch's own (Keras reports a running mean over the
        # epoch; the batch's value is recovered from two consecutive means), and the
        # epoch's mean is drawn as what it is: one point per epoch.
        self.loss_curve = self.plot.plot(
            pen=pg.mkPen("#D55E00", width=1), name="training loss (each batch)"
        )
        self.acc_curve = self.plot.plot(
            pen=pg.mkPen("#0072B2", width=1), name="training accuracy (each batch)"
        )
        self.epoch_loss_curve = self.plot.plot(
            pen=pg.mkPen("#D55E00", width=2, style=Qt.PenStyle.DashLine),
            symbol="t",
            symbolBrush="#D55E00",
            name="training loss (epoch mean)",
        )
        self.val_acc_curve = self.plot.plot(
            pen=None, symbol="o", symbolBrush="#009E73", name="test accuracy (epoch)"
        )
        self.val_loss_curve = self.plot.plot(
            pen=None, symbol="s", symbolBrush="#CC79A7", name="test loss (epoch)"
        )
        lay.addWidget(self.plot, 1)
        self.progress_bar = QProgressBar()
        self.progress_bar.setRange(0, 1000)
        self.progress_bar.setTextVisible(False)
        self.status_label = QLabel("Ready.")
        self.status_label.setWordWrap(True)
        # A long status never widens the dialog.
        self.status_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        lay.addWidget(self.progress_bar)
        lay.addWidget(self.status_label)
        self.message = MessageBar()
        lay.addWidget(self.message)
        buttons = QHBoxLayout()
        self.start_button = QPushButton("Start training")
        self.start_button.setDefault(True)
        self.start_button.clicked.connect(self.start)
        self.cancel_button = QPushButton("Cancel training")
        self.cancel_button.setEnabled(False)
        self.cancel_button.setToolTip("Stop after the current batch; your last weights stay")
        self.cancel_button.clicked.connect(self.cancel)
        self.close_button = QPushButton("Close")
        self.close_button.clicked.connect(self.close)
        buttons.addStretch()
        buttons.addWidget(self.start_button)
        buttons.addWidget(self.cancel_button)
        buttons.addWidget(self.close_button)
        lay.addLayout(buttons)
        self._records: list[TrainRecord] = []
        self._last_test: TrainRecord | None = None
        self._buffers = {
            curve: CurveBuffer()
            for curve in (
                self.loss_curve,
                self.acc_curve,
                self.epoch_loss_curve,
                self.val_acc_curve,
                self.val_loss_curve,
            )
        }
        self._previous_mean: TrainRecord | None = None
        # A message about one source (no network, say) does not stay after switching.
        self.source_combo.currentIndexChanged.connect(lambda _i: self.message.clear_message())
        # Curves redraw at most ~10 times a second, however fast batches arrive.
        self._redraw_timer = QTimer(self)
        self._redraw_timer.setSingleShot(True)
        self._redraw_timer.setInterval(100)
        self._redraw_timer.timeout.connect(self._redraw_curves)

    # -- actions -------------------------------------------------------------------------
    def _browse(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "MNIST .npz", self.path_edit.text(), "NumPy archives (*.npz);;All files (*)"
        )
        if path:
            self.path_edit.setText(path)
            self.source_combo.setCurrentIndex(self.source_combo.findData("file"))

    def model_key(self) -> str:
        """The digit model being (or to be) trained."""
        running = getattr(self, "_running_key", None)
        return running if self.is_running() and running else str(self.model_combo.currentData())

    def is_running(self) -> bool:
        return self._worker is not None

    def start(self) -> None:
        if self.is_running():
            self.message.show_error("A training run is already going; cancel it first.")
            return
        path: str | None = None
        if self.source_combo.currentData() == "file":
            path = self.path_edit.text().strip()
            if not path:
                self.message.show_error("Choose an .npz file, or pick the Keras MNIST source.")
                return
            if not Path(path).is_file():
                self.message.show_error(f"'{path}' does not exist or is not a file.")
                return
        s = self._settings
        s.setValue("train/source", self.source_combo.currentData())
        s.setValue("train/model", self.model_key())
        s.setValue("train/path", self.path_edit.text())
        s.setValue("train/epochs", self.epochs_spin.value())
        s.setValue("train/batch_size", self.batch_spin.value())
        s.setValue("train/augment", self.augment_check.isChecked())
        self.message.clear_message()
        self._records.clear()
        self._last_test = None
        self._previous_mean = None
        for buffer in self._buffers.values():
            buffer.clear()
        self._redraw_curves()
        self.progress_bar.setValue(0)
        self.status_label.setText("Starting…")
        self._set_running(True)
        key = self._running_key = self.model_key()
        epochs, batch, augment = (
            self.epochs_spin.value(),
            self.batch_spin.value(),
            self.augment_check.isChecked(),
        )
        self._worker = self._state.request(
            lambda task: _train_job(task, key, path, epochs, batch, augment),
            pool="train",
            priority=Priority.BATCH,
            on_record=self._on_record,
            on_progress=self._on_progress,
            on_result=self._on_finished,
            on_failed=self._on_failed,
            on_cancelled=self._on_cancelled,
            on_done=lambda: self._set_running(False),
        )

    def cancel(self) -> None:
        if self._worker is not None:
            self._worker.stop()
            self.status_label.setText("Cancelling after the current batch…")

    def _set_running(self, running: bool) -> None:
        if not running:
            self._worker = None
        self.start_button.setEnabled(not running)
        self.cancel_button.setEnabled(running)
        for w in (
            self.model_combo,
            self.source_combo,
            self.path_edit,
            self.browse_button,
            self.epochs_spin,
            self.batch_spin,
            self.augment_check,
        ):
            w.setEnabled(not running)

    # -- worker reports ------------------------------------------------------------------
    def records(self) -> list[TrainRecord]:
        return list(self._records)

    def _on_progress(self, fraction: float, message: str) -> None:
        if fraction == 0.0:
            self.status_label.setText(message)

    def _on_record(self, r: TrainRecord) -> None:
        self._records.append(r)
        self.progress_bar.setValue(int(r.fraction * 1000))
        if r.kind == "batch":
            t = (r.epoch - 1) + r.batch / r.batches
            loss, accuracy = batch_values(self._previous_mean, r)
            self._previous_mean = r
            self._buffers[self.loss_curve].append(t, loss)
            self._buffers[self.acc_curve].append(t, accuracy)
        else:
            self._buffers[self.epoch_loss_curve].append(r.epoch, r.loss)
            if r.val_accuracy is not None and not math.isnan(r.val_accuracy):
                self._buffers[self.val_acc_curve].append(r.epoch, r.val_accuracy)
                self._buffers[self.val_loss_curve].append(r.epoch, r.val_loss)
                self._last_test = r
        if not self._redraw_timer.isActive():
            self._redraw_timer.start()
        text = (
            f"Epoch {r.epoch}/{r.epochs}, batch {r.batch}/{r.batches}: loss {r.loss:.3f}, "
            f"accuracy {r.accuracy:.3f}; about {format_seconds(r.seconds_left)} left"
        )
        if self._last_test is not None:
            text += (
                f"; test accuracy after epoch {self._last_test.epoch}: "
                f"{self._last_test.val_accuracy:.2%}"
            )
        self.status_label.setText(text)

    def _redraw_curves(self) -> None:
        for curve, buffer in self._buffers.items():
            curve.setData(*buffer.data())

    def _on_finished(self, result: TrainResult) -> None:
        self._redraw_curves()
        self.progress_bar.setValue(1000)
        acc = f"{result.test_accuracy:.2%}" if result.test_accuracy is not None else "n/a"
        used = self._decide(result)
        self.run_kept.emit(result)
        self.status_label.setText(
            f"Done: {result.epochs_done} epoch(s), test accuracy {acc}. Kept as "
            f"{result.weights_path.name}; "
            + ("every panel uses them now." if used else "the weights in use stay in use.")
        )
        if used:
            self.training_finished.emit(result)

    def _decide(self, result: TrainResult) -> bool:
        """Use the new weights, asking first when they are worse than those in use."""
        key = self.model_key()
        in_use = weights_info(key)
        new, old = result.test_accuracy or 0.0, in_use.test_accuracy or 0.0
        if new < old:
            answer = QMessageBox.question(
                self,
                "Use the new weights?",
                f"This run reached {new:.2%} on its test digits, less than the {old:.2%} of "
                f"the weights in use ({in_use.label()}). Use the new ones anyway? Both are "
                "kept; you can switch in the Draw panel's Model tab.",
                QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
                QMessageBox.StandardButton.No,
            )
            if answer != QMessageBox.StandardButton.Yes:
                return False
        use_weights(key, result.weights_path)
        return True

    def _on_failed(self, exc: BaseException) -> None:
        self.status_label.setText("Training failed; your previous weights are unchanged.")
        self.message.show_error(str(exc))

    def _on_cancelled(self) -> None:
        self.status_label.setText("Cancelled. Your previous weights are unchanged.")

    def _on_theme_changed(self) -> None:
        """The legend's labels in the zoom's size (the axes follow ``style_plot``)."""
        legend = self.plot.getPlotItem().legend
        if legend is not None:
            legend.setLabelTextSize(f"{theme().px(12)}px")
            for _sample, label in legend.items:
                label.setText(label.text)

    def closeEvent(self, event) -> None:
        # Closing the dialog during a run asks first: a run can take minutes.
        if self.is_running():
            answer = QMessageBox.question(
                self,
                "Stop training?",
                "A training run is going. Stop it and close? The weights in use stay as they are.",
                QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
                QMessageBox.StandardButton.No,
            )
            if answer != QMessageBox.StandardButton.Yes:
                event.ignore()
                return
            self.cancel()
        super().closeEvent(event)
