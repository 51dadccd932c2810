"""Train… dialog for the MNIST CNN: data, epochs, batch size; live curves; cancel."""

from __future__ import annotations

import logging
import math
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QSettings, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from engine.mnist import TrainRecord, TrainResult, load_mnist, train_mnist
from gui.widgets.message_bar import MessageBar
from gui.workers import Worker, WorkerRunner

log = logging.getLogger(__name__)

KERAS_SOURCE = "Keras MNIST (download once, then Keras' cache)"
FILE_SOURCE = "An .npz file in Keras' mnist layout"


def _train_job(path, epochs, batch_size, augment, progress, cancelled, on_record):
    progress(0.0, "Loading MNIST…")
    data = load_mnist(path)
    return train_mnist(
        data,
        epochs=epochs,
        batch_size=batch_size,
        augment=augment,
        progress=progress,
        cancelled=cancelled,
        on_record=on_record,
    )


def format_seconds(s: float) -> str:
    s = max(0, int(round(s)))
    return f"{s // 60} min {s % 60:02d} s" if s >= 60 else f"{s} s"


class TrainDialog(QDialog):
    """Train the lecture's CNN off the UI thread, with live loss and accuracy.

    Signals
    -------
    training_finished(object)
        The ``TrainResult`` of a run that ended normally (not cancelled or failed).
    """

    training_finished = Signal(object)

    def __init__(self, runner: WorkerRunner, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Train the MNIST CNN")
        self.resize(720, 560)
        self._runner = runner
        self._worker: Worker | None = None
        self._settings = QSettings()
        lay = QVBoxLayout(self)
        form = QFormLayout()
        self.source_combo = QComboBox()
        self.source_combo.addItems([KERAS_SOURCE, FILE_SOURCE])
        self.source_combo.setToolTip("Where the training digits come from")
        form.addRow("Data", self.source_combo)
        row = QHBoxLayout()
        self.path_edit = QLineEdit(str(self._settings.value("train/path", "")))
        self.path_edit.setPlaceholderText("path/to/mnist.npz")
        self.path_edit.setToolTip("An .npz with x_train, y_train, x_test, y_test (as Keras')")
        self.path_edit.textEdited.connect(lambda _t: self.source_combo.setCurrentText(FILE_SOURCE))
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        row.addWidget(self.path_edit, 1)
        row.addWidget(browse)
        form.addRow("File", row)
        self.source_combo.setCurrentText(str(self._settings.value("train/source", KERAS_SOURCE)))
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
        self.plot.addLegend(offset=(-10, 10))
        self.plot.setLabel("bottom", "epoch")
        self.plot.showGrid(x=True, y=True, alpha=0.3)
        self.loss_curve = self.plot.plot(pen=pg.mkPen("#D55E00", width=1.5), name="loss (batch)")
        self.acc_curve = self.plot.plot(pen=pg.mkPen("#0072B2", width=1.5), name="accuracy (batch)")
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

    # -- actions -------------------------------------------------------------------------
    def _browse(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "MNIST .npz", self.path_edit.text(), "NumPy archives (*.npz);;All files (*)"
        )
        if path:
            self.path_edit.setText(path)
            self.source_combo.setCurrentText(FILE_SOURCE)

    def is_running(self) -> bool:
        return self._worker is not None

    def start(self) -> None:
        if self.is_running():
            self.message.show_error("A training run is already going; cancel it first.")
            return
        path: str | None = None
        if self.source_combo.currentText() == FILE_SOURCE:
            path = self.path_edit.text().strip()
            if not path:
                self.message.show_error("Choose an .npz file, or pick the Keras MNIST source.")
                return
            if not Path(path).is_file():
                self.message.show_error(f"'{path}' does not exist or is not a file.")
                return
        s = self._settings
        s.setValue("train/source", self.source_combo.currentText())
        s.setValue("train/path", self.path_edit.text())
        s.setValue("train/epochs", self.epochs_spin.value())
        s.setValue("train/batch_size", self.batch_spin.value())
        s.setValue("train/augment", self.augment_check.isChecked())
        self.message.clear_message()
        self._records.clear()
        for curve in (self.loss_curve, self.acc_curve, self.val_acc_curve, self.val_loss_curve):
            curve.setData([], [])
        self.progress_bar.setValue(0)
        self.status_label.setText("Starting…")
        self._set_running(True)
        self._worker = self._runner.start(
            _train_job,
            path,
            self.epochs_spin.value(),
            self.batch_spin.value(),
            self.augment_check.isChecked(),
            pool="train",
            on_record=self._on_record,
            on_progress=self._on_progress,
            on_finished=self._on_finished,
            on_failed=self._on_failed,
            on_cancelled=self._on_cancelled,
            on_done=lambda: self._set_running(False),
        )

    def cancel(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
            self.status_label.setText("Cancelling after the current batch…")

    def _set_running(self, running: bool) -> None:
        if not running:
            self._worker = None
        self.start_button.setEnabled(not running)
        self.cancel_button.setEnabled(running)
        for w in (
            self.source_combo,
            self.path_edit,
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
        batches = [x for x in self._records if x.kind == "batch"]
        epochs = [x for x in self._records if x.kind == "epoch"]
        t = np.array([(x.epoch - 1) + x.batch / x.batches for x in batches])
        self.loss_curve.setData(t, np.array([x.loss for x in batches]))
        self.acc_curve.setData(t, np.array([x.accuracy for x in batches]))
        ev = [x for x in epochs if x.val_accuracy is not None and not math.isnan(x.val_accuracy)]
        self.val_acc_curve.setData([x.epoch for x in ev], [x.val_accuracy for x in ev])
        self.val_loss_curve.setData([x.epoch for x in ev], [x.val_loss for x in ev])
        text = (
            f"Epoch {r.epoch}/{r.epochs}, batch {r.batch}/{r.batches}: loss {r.loss:.3f}, "
            f"accuracy {r.accuracy:.3f}; about {format_seconds(r.seconds_left)} left"
        )
        if ev:
            text += f"; test accuracy after epoch {ev[-1].epoch}: {ev[-1].val_accuracy:.2%}"
        self.status_label.setText(text)

    def _on_finished(self, result: TrainResult) -> None:
        self.progress_bar.setValue(1000)
        acc = f"{result.test_accuracy:.2%}" if result.test_accuracy is not None else "n/a"
        self.status_label.setText(
            f"Done: {result.epochs_done} epoch(s), test accuracy {acc}. "
            f"Weights saved to {result.weights_path}; drawing now uses them."
        )
        self.training_finished.emit(result)

    def _on_failed(self, message: str, _tb: str) -> None:
        self.status_label.setText("Training failed; your previous weights are unchanged.")
        self.message.show_error(message.split(": ", 1)[-1])

    def _on_cancelled(self) -> None:
        self.status_label.setText("Cancelled. Your previous weights are unchanged.")

    def closeEvent(self, event) -> None:
        # Closing the dialog does not stop the run silently: it is cancelled, and said so.
        if self.is_running():
            self.cancel()
        super().closeEvent(event)
