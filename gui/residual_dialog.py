"""The lecture's ResNet slide as an experiment: plain against residual networks, trained
side by side, their training error drawn live (He et al. 2016, figure 1)."""

from __future__ import annotations

import logging
import math

import pyqtgraph as pg
from PySide6.QtCore import QSettings, Qt, QTimer
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QSizePolicy,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from engine.models.residual import (
    DEPTHS,
    PLAIN,
    RESIDUAL,
    PairRecord,
    PairResult,
    bundled_split,
    network_name,
    train_pair,
)
from gui.panels.draw.train_dialog import CurveBuffer, format_seconds
from gui.scheduler import Priority, Ticket
from gui.state import AppState
from gui.theme import theme
from gui.widgets.message_bar import MessageBar
from gui.workers import Task

log = logging.getLogger(__name__)

#: The shipped digits the experiment trains and validates on (500 ship with the app).
TRAIN_DIGITS = 400
VALIDATION_DIGITS = 100
#: Digits per step: 400 / 25 = 16 whole batches an epoch.
BATCH = 25
#: Epochs by default: on 2 CPU cores the 56- and 20-layer pairs take 2.5 to 3 minutes
#: and plain-56's training error is far above the others' from the fourth epoch on.
DEFAULT_EPOCHS = 15
DEFAULT_DEPTH = 56

#: A colour per depth (Okabe-Ito, readable by colour-blind people); plain is dashed.
DEPTH_COLOURS = {20: "#0072B2", 56: "#D55E00", 110: "#CC79A7"}

EXPLANATION = (
    "He et al. (2016) trained plain networks of 20 and 56 layers and found the deeper one "
    "worse, even on its own training digits. Identity shortcuts (each block computes "
    "F(x) + x) made the deep network train. Here both kinds, built alike (3x3 convs, "
    "BatchNorm, ReLU), train on the same digits in the same order."
)
CAPTION = (
    "What to look for: the dashed plain-{deep} curve stays above plain-20 and above "
    "residual-{deep}. Its error is high on the digits it trains on, so this is not "
    "overfitting (that would be low training error, high test error): the deeper plain "
    "network is harder to optimise, which is the degradation the shortcuts remove."
)


def _experiment_job(task: Task, depths: tuple[int, ...], epochs: int) -> PairResult:
    task.progress(0.0, "Loading the shipped digits…")
    data = bundled_split(TRAIN_DIGITS, VALIDATION_DIGITS)
    return train_pair(
        depths,
        data,
        epochs=epochs,
        batch=BATCH,
        progress=task.progress,
        cancelled=task.cancelled,
        on_record=task.record,
    )


class ResidualDialog(QDialog):
    """Train a plain and a residual network of the same depth side by side; draw their
    training error per epoch live in one plot. Closing the dialog stops the run.

    The work runs on the state's ``train`` pool (``AppState.request``); the dialog only
    draws what it reports.
    """

    def __init__(self, state: AppState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Residual connections: plain against residual networks")
        self.resize(820, 640)
        self._state = state
        self._worker: Ticket | None = None
        self._settings = QSettings()
        lay = QVBoxLayout(self)

        self.explanation = QLabel(EXPLANATION)
        self.explanation.setWordWrap(True)
        theme().style_text(self.explanation, 13)
        lay.addWidget(self.explanation)

        form = QFormLayout()
        self.depth_combo = QComboBox()
        for depth in DEPTHS:
            self.depth_combo.addItem(f"{depth} layers ({(depth - 2) // 6} blocks a stage)", depth)
        self.depth_combo.setToolTip(
            "Layers with weights, 6n + 2: a 3x3 conv, three stages of n blocks of two 3x3 "
            "convs (8, 16, 32 channels), and the dense layer. 110 layers take about twice "
            "as long as 56."
        )
        index = self.depth_combo.findData(
            int(self._settings.value("residual/depth", DEFAULT_DEPTH))
        )
        self.depth_combo.setCurrentIndex(max(index, 0))
        form.addRow("Depth", self.depth_combo)
        self.shallow_check = QCheckBox("Also train the 20-layer pair (the paper's baseline)")
        self.shallow_check.setToolTip(
            "Plain-20 and residual-20 as well: the deeper plain network's curve should stay "
            "above plain-20's"
        )
        self.shallow_check.setChecked(
            self._settings.value("residual/with_20", "true") in (True, "true")
        )
        form.addRow("", self.shallow_check)
        self.epochs_spin = QSpinBox()
        self.epochs_spin.setRange(1, 200)
        self.epochs_spin.setValue(int(self._settings.value("residual/epochs", DEFAULT_EPOCHS)))
        self.epochs_spin.setToolTip(
            f"Passes over the {TRAIN_DIGITS} training digits ({TRAIN_DIGITS // BATCH} steps "
            "each); the gap shows from about the fourth"
        )
        form.addRow("Epochs", self.epochs_spin)
        lay.addLayout(form)
        self.depth_combo.currentIndexChanged.connect(self._on_depth_changed)
        self._on_depth_changed()

        self.plot = pg.PlotWidget(background="w")
        legend = self.plot.addLegend(
            labelTextSize=f"{theme().px(12)}px",
            labelTextColor=theme().text_colour(),
            brush=pg.mkBrush(255, 255, 255, 220),
        )
        # Middle right: where the curves are not (plain-deep high, the others low by then).
        legend.anchor(itemPos=(1, 0.5), parentPos=(1, 0.5), offset=(-10, 0))
        self.plot.setLabel("bottom", "epoch")
        self.plot.setLabel("left", "training error")
        self.plot.setYRange(0, 1)
        self.plot.showGrid(x=True, y=True, alpha=0.3)
        self.plot.getPlotItem().setToolTip(
            "Each network's share of training digits misclassified during each epoch; "
            "dashed: plain, solid: residual"
        )
        theme().style_plot(self.plot)
        theme().changed.connect(self._on_theme_changed)
        lay.addWidget(self.plot, 1)
        self.curves: dict[str, pg.PlotDataItem] = {}
        self._buffers: dict[str, CurveBuffer] = {}

        self.caption = QLabel()
        self.caption.setWordWrap(True)
        theme().style_text(self.caption, 13)
        lay.addWidget(self.caption)
        self.progress_bar = QProgressBar()
        self.progress_bar.setRange(0, 1000)
        self.progress_bar.setTextVisible(False)
        lay.addWidget(self.progress_bar)
        self.status_label = QLabel(
            f"Ready: trains on {TRAIN_DIGITS} of the shipped MNIST digits, validates on "
            f"{VALIDATION_DIGITS} others."
        )
        self.status_label.setWordWrap(True)
        # A long status never widens the dialog.
        self.status_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        lay.addWidget(self.status_label)
        self.message = MessageBar()
        lay.addWidget(self.message)

        buttons = QHBoxLayout()
        self.start_button = QPushButton("Start")
        self.start_button.setDefault(True)
        self.start_button.setToolTip("Build the networks and train them side by side")
        self.start_button.clicked.connect(self.start)
        self.stop_button = QPushButton("Stop")
        self.stop_button.setEnabled(False)
        self.stop_button.setToolTip("Stop after the current batch; the curves stay")
        self.stop_button.clicked.connect(self.stop)
        self.close_button = QPushButton("Close")
        self.close_button.setToolTip("Close (a run going is stopped)")
        self.close_button.clicked.connect(self.close)
        buttons.addStretch()
        buttons.addWidget(self.start_button)
        buttons.addWidget(self.stop_button)
        buttons.addWidget(self.close_button)
        lay.addLayout(buttons)

        self._records: list[PairRecord] = []
        self._last: dict[str, PairRecord] = {}
        self._update_caption(self.depth())
        # Curves redraw at most ~10 times a second.
        self._redraw_timer = QTimer(self)
        self._redraw_timer.setSingleShot(True)
        self._redraw_timer.setInterval(100)
        self._redraw_timer.timeout.connect(self._redraw_curves)

    @classmethod
    def show_for(cls, state: AppState, parent: QWidget) -> ResidualDialog:
        """Show ``parent``'s dialog, made the first time (a menu action's slot): one run
        at a time, and its curves stay when the dialog is closed and opened again."""
        dialog = parent.findChild(cls)
        if dialog is None:
            dialog = cls(state, parent)
        dialog.show()
        dialog.raise_()
        dialog.activateWindow()
        return dialog

    # -- choices -------------------------------------------------------------------------
    def depth(self) -> int:
        return int(self.depth_combo.currentData())

    def depths(self) -> tuple[int, ...]:
        """The depths a run trains, each plain and residual: 20 first when asked for."""
        depth = self.depth()
        if depth != 20 and self.shallow_check.isChecked():
            return (20, depth)
        return (depth,)

    def _on_depth_changed(self, _index: int = 0) -> None:
        self.shallow_check.setEnabled(self.depth() != 20 and self.depth_combo.isEnabled())
        if self.depth_combo.isEnabled() and hasattr(self, "caption"):
            self._update_caption(self.depth())

    def _update_caption(self, deep: int) -> None:
        text = CAPTION.format(deep=deep)
        if deep == 20:
            text = (
                "At 20 layers the plain and residual curves stay close: the plain network "
                "still trains. Choose 56 or 110 layers to see the deeper plain network fall "
                "behind (degradation, not overfitting: its training error itself is high)."
            )
        self.caption.setText(text)

    # -- actions -------------------------------------------------------------------------
    def is_running(self) -> bool:
        return self._worker is not None

    def start(self) -> None:
        if self.is_running():
            return
        depths, epochs = self.depths(), self.epochs_spin.value()
        s = self._settings
        s.setValue("residual/depth", self.depth())
        s.setValue("residual/with_20", self.shallow_check.isChecked())
        s.setValue("residual/epochs", epochs)
        self.message.clear_message()
        self._records.clear()
        self._last.clear()
        self._make_curves(depths)
        self._update_caption(depths[-1])
        self.plot.setXRange(1, max(epochs, 2))
        self.progress_bar.setValue(0)
        self.status_label.setText("Starting…")
        self._set_running(True)
        self._worker = self._state.request(
            lambda task: _experiment_job(task, depths, epochs),
            pool="train",
            priority=Priority.BATCH,
            on_record=self._on_record,
            on_progress=self._on_progress,
            on_result=self._on_finished,
            on_failed=self._on_failed,
            on_cancelled=self._on_cancelled,
            on_done=lambda: self._set_running(False),
        )

    def stop(self) -> None:
        if self._worker is not None:
            self._worker.stop()
            self.status_label.setText("Stopping after the current batch…")

    def _set_running(self, running: bool) -> None:
        if not running:
            self._worker = None
        self.start_button.setEnabled(not running)
        self.stop_button.setEnabled(running)
        self.depth_combo.setEnabled(not running)
        self.epochs_spin.setEnabled(not running)
        self._on_depth_changed()

    def _make_curves(self, depths: tuple[int, ...]) -> None:
        self.plot.clear()  # the legend's entries go with the items
        legend = self.plot.getPlotItem().legend
        if legend is not None:
            legend.clear()
        self.curves.clear()
        self._buffers.clear()
        width = theme().line_width(2.5)
        for depth in depths:
            colour = DEPTH_COLOURS.get(depth, "#000000")
            for kind, style, symbol in (
                (PLAIN, Qt.PenStyle.DashLine, "t"),
                (RESIDUAL, Qt.PenStyle.SolidLine, "o"),
            ):
                name = network_name(kind, depth)
                self.curves[name] = self.plot.plot(
                    pen=pg.mkPen(colour, width=width, style=style),
                    symbol=symbol,
                    symbolSize=7,
                    symbolBrush=colour,
                    symbolPen=None,
                    name=name,
                )
                self._buffers[name] = CurveBuffer()

    # -- worker reports ------------------------------------------------------------------
    def records(self) -> list[PairRecord]:
        return list(self._records)

    def curve_points(self, name: str) -> int:
        """How many points the curve of network ``name`` draws now."""
        x, _y = self.curves[name].getData()
        return 0 if x is None else len(x)

    def _on_progress(self, fraction: float, message: str) -> None:
        self.progress_bar.setValue(int(fraction * 1000))
        if not self._records:  # before the first epoch's figures: say what is going on
            first = (
                " (the first batches build each network's training step: about half a minute)"
                if fraction < 0.05
                else ""
            )
            self.status_label.setText(f"{message}{first}")

    def _on_record(self, r: PairRecord) -> None:
        self._records.append(r)
        self._last[r.network] = r
        buffer = self._buffers.get(r.network)
        if buffer is not None:
            buffer.append(r.epoch, r.error)
        if not self._redraw_timer.isActive():
            self._redraw_timer.start()
        self.status_label.setText(
            f"Epoch {r.epoch}/{r.epochs}: " + self._summary() + f"; about "
            f"{format_seconds(r.seconds_left)} left"
        )

    def _summary(self) -> str:
        """Each network's last training error (and validation error)."""
        parts = []
        for name, r in self._last.items():
            val = "" if math.isnan(r.val_error) else f" (validation {r.val_error:.0%})"
            parts.append(f"{name} {r.error:.1%}{val}")
        return "training error " + ", ".join(parts)

    def _redraw_curves(self) -> None:
        for name, buffer in self._buffers.items():
            self.curves[name].setData(*buffer.data())

    def _on_finished(self, result: PairResult) -> None:
        self._redraw_curves()
        self.progress_bar.setValue(1000)
        self.status_label.setText(
            f"Done: {result.epochs_done} epoch(s) in {format_seconds(result.seconds)}; "
            + self._summary()
            + "."
        )

    def _on_failed(self, exc: BaseException) -> None:
        self._redraw_curves()
        self.status_label.setText("The experiment failed.")
        self.message.show_error(str(exc))

    def _on_cancelled(self) -> None:
        self._redraw_curves()
        done = f" after epoch {self._records[-1].epoch}" if self._records else ""
        self.status_label.setText(f"Stopped{done}. Start runs the experiment again.")

    def _on_theme_changed(self) -> None:
        """The legend's labels in the zoom's size (the axes follow ``style_plot``)."""
        legend = self.plot.getPlotItem().legend
        if legend is not None:
            legend.setLabelTextSize(f"{theme().px(12)}px")
            legend.setLabelTextColor(theme().text_colour())
            for _sample, label in legend.items:
                label.setText(label.text)

    def done(self, result: int) -> None:
        # Close, Escape and the window's close button all end here: the run stops.
        self.stop()
        super().done(result)


if __name__ == "__main__":
    from gui.preview import preview

    preview(ResidualDialog, size=(820, 640), tensorflow=False)
