"""Draw: draw a digit and watch the lecture's MNIST CNN classify it live."""

from __future__ import annotations

import logging

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFont, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSlider,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from engine.activations import layer_summary
from engine.mnist import DigitClassifier, DigitPrediction, TrainResult, weights_info
from engine.mosaic import tile_maps
from gui.panels.train_dialog import TrainDialog
from gui.widgets.digit_canvas import DigitCanvas
from gui.widgets.layer_table import LayerTable
from gui.widgets.map_view import MapView
from gui.widgets.message_bar import MessageBar
from gui.widgets.prob_bars import ProbabilityBars
from gui.workers import LatestOnly, WorkerRunner

log = logging.getLogger(__name__)

SHOWN_CONV_LAYERS = ("conv2d_1", "conv2d_2", "max_pooling2d")


class DrawPanel(QWidget):
    """A canvas, the ten probabilities, the 28x28 input and the conv layers' maps.

    Signals
    -------
    prediction_ready(object)
        A ``DigitPrediction`` each time the shown prediction changes.
    classifier_ready()
        The model is loaded; predictions follow the drawing from now on.
    open_in_activations(object)
        The person asked to explore the drawn digit (a (28, 28) float array).
    """

    prediction_ready = Signal(object)
    classifier_ready = Signal()
    open_in_activations = Signal(object)

    def __init__(self, runner: WorkerRunner, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._runner = runner
        self._classifier: DigitClassifier | None = None
        self._prediction: DigitPrediction | None = None
        self._latest = LatestOnly(runner, pool="model")
        self._latest.result.connect(self._on_prediction)
        self._latest.failed.connect(lambda m: self.message.show_error(m))
        self._train_dialog: TrainDialog | None = None
        self._build_ui()

    def _build_ui(self) -> None:
        left = QVBoxLayout()
        self.canvas = DigitCanvas(308)
        self.canvas.changed.connect(self._on_canvas_changed)
        left.addWidget(self.canvas)
        row = QHBoxLayout()
        row.addWidget(QLabel("Brush"))
        self.brush_slider = QSlider(Qt.Orientation.Horizontal)
        self.brush_slider.setRange(6, 40)
        self.brush_slider.setValue(int(self.canvas.brush_size))
        self.brush_slider.setToolTip("Brush size in canvas pixels")
        self.brush_slider.valueChanged.connect(lambda v: setattr(self.canvas, "brush_size", v))
        row.addWidget(self.brush_slider, 1)
        left.addLayout(row)
        row = QHBoxLayout()
        self.clear_button = QPushButton("Clear")
        self.clear_button.setToolTip("Clear the canvas (Esc or Delete)")
        self.clear_button.clicked.connect(self.canvas.clear)
        self.undo_button = QPushButton("Undo stroke")
        self.undo_button.setToolTip("Remove the last stroke (Ctrl+Z)")
        self.undo_button.clicked.connect(self.canvas.undo)
        row.addWidget(self.clear_button)
        row.addWidget(self.undo_button)
        left.addLayout(row)
        self.explore_button = QPushButton("Explore this digit's activations…")
        self.explore_button.setToolTip("Open the drawn digit in the Activations panel")
        self.explore_button.setEnabled(False)
        self.explore_button.clicked.connect(self._on_explore)
        left.addWidget(self.explore_button)
        self.message = MessageBar()
        left.addWidget(self.message)
        left.addStretch()

        middle = QVBoxLayout()
        self.guess_label = QLabel("Loading the model…")
        font = QFont(self.font())
        font.setPointSize(30)
        font.setBold(True)
        self.guess_label.setFont(font)
        self.guess_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        middle.addWidget(self.guess_label)
        self.bars = ProbabilityBars()
        self.bars.setMinimumHeight(200)
        middle.addWidget(self.bars, 2)
        self.input_view = MapView("What the model sees (28x28)", colour_bar=False)
        self.input_view.setMinimumHeight(180)
        middle.addWidget(self.input_view, 1)

        self.tabs = QTabWidget()
        maps_page = QWidget()
        grid = QGridLayout(maps_page)
        self.layer_views: dict[str, MapView] = {}
        for i, name in enumerate(SHOWN_CONV_LAYERS):
            view = MapView(name)
            self.layer_views[name] = view
            grid.addWidget(view, i, 0)
        self.tabs.addTab(maps_page, "Conv layer activations")
        model_page = QWidget()
        ml = QVBoxLayout(model_page)
        self.summary_table = LayerTable()
        ml.addWidget(self.summary_table, 1)
        self.total_label = QLabel()
        ml.addWidget(self.total_label)
        self.weights_label = QLabel()
        self.weights_label.setWordWrap(True)
        ml.addWidget(self.weights_label)
        self.train_button = QPushButton("Train…")
        self.train_button.setToolTip("Train or retrain the model on MNIST, with live curves")
        self.train_button.clicked.connect(self.open_train_dialog)
        self.train_button.setEnabled(False)
        ml.addWidget(self.train_button)
        self.tabs.addTab(model_page, "Model")

        outer = QHBoxLayout(self)
        outer.addLayout(left)
        box = QGroupBox("Prediction")
        box.setLayout(middle)
        outer.addWidget(box, 2)
        outer.addWidget(self.tabs, 3)

        for keys, slot in (
            ("Esc", self.canvas.clear),
            ("Delete", self.canvas.clear),
            (QKeySequence.StandardKey.Undo, self.canvas.undo),
        ):
            QShortcut(QKeySequence(keys), self, activated=slot)

    # -- model ---------------------------------------------------------------------------
    def start_loading(self) -> None:
        """Build the model on the model thread (call once TensorFlow is imported)."""
        self.guess_label.setText("Loading the model…")
        self._runner.start(
            DigitClassifier,
            pool="model",
            on_finished=self._on_classifier,
            on_failed=lambda msg, _tb: self._on_classifier_failed(msg),
        )

    def _on_classifier(self, classifier: DigitClassifier) -> None:
        self._classifier = classifier
        self.summary_table.set_layers(layer_summary(classifier.model))
        self.total_label.setText(f"Total params: {self.summary_table.total_params():,}")
        self._show_weights_info()
        self.train_button.setEnabled(True)
        self.guess_label.setText("Draw a digit")
        self.classifier_ready.emit()
        self._on_canvas_changed()

    def _on_classifier_failed(self, message: str) -> None:
        self.show_unavailable(f"The MNIST model could not be loaded: {message}")

    def show_unavailable(self, message: str) -> None:
        """No model (TensorFlow or the weights failed to load): say why, keep the canvas."""
        self.guess_label.setText("Model unavailable")
        self.message.show_error(message)

    def _show_weights_info(self) -> None:
        info = weights_info()
        acc = f", {info.test_accuracy:.2%} on its test digits" if info.test_accuracy else ""
        who = (
            "your trained weights" if info.source == "yours" else "the weights shipped with the app"
        )
        self.weights_label.setText(f"Using {who} ({info.path}{acc}).")

    def is_ready(self) -> bool:
        return self._classifier is not None and (
            self.canvas.is_empty() or self._prediction is not None
        )

    def classifier(self) -> DigitClassifier | None:
        return self._classifier

    # -- live prediction -----------------------------------------------------------------
    def _on_canvas_changed(self) -> None:
        self.explore_button.setEnabled(not self.canvas.is_empty())
        if self._classifier is None:
            return
        classifier, ink = self._classifier, self.canvas.ink()
        self._latest.submit(lambda: classifier.classify(ink))

    def _on_prediction(self, prediction: DigitPrediction) -> None:
        self._prediction = prediction
        self.input_view.set_image(prediction.input, levels=(0, 1))
        if prediction.probabilities is None:
            self.guess_label.setText("Draw a digit")
            self.bars.set_probabilities(None)
            for view in self.layer_views.values():
                view.image_item.clear()
        else:
            p = prediction.probabilities
            self.guess_label.setText(f"{prediction.digit}  ({p.max():.0%})")
            self.bars.set_probabilities(p)
            for name, view in self.layer_views.items():
                maps = prediction.activations[name]
                mosaic = tile_maps(maps, columns=8, normalisation="per_map")
                view.set_image(mosaic.image, levels=(0, 1))
                view.set_title(f"{name}: {maps.shape[2]} maps of {maps.shape[0]}x{maps.shape[1]}")
        self.prediction_ready.emit(prediction)

    def prediction(self) -> DigitPrediction | None:
        return self._prediction

    def _on_explore(self) -> None:
        if self._prediction is not None:
            self.open_in_activations.emit(self._prediction.input)

    # -- training ------------------------------------------------------------------------
    def open_train_dialog(self) -> TrainDialog:
        if self._train_dialog is None:
            self._train_dialog = TrainDialog(self._runner, self)
            self._train_dialog.training_finished.connect(self._on_trained)
        self._train_dialog.show()
        self._train_dialog.raise_()
        return self._train_dialog

    def _on_trained(self, _result: TrainResult) -> None:
        self.start_loading()  # the new weights are in the user's data folder

    def confirm_close(self) -> bool:
        if self._train_dialog is not None and self._train_dialog.is_running():
            self._train_dialog.cancel()
        return True

    def prepare_screenshot(self) -> None:
        """Draw a 7 so the screenshot shows a live prediction."""
        s = self.canvas.width() / 280
        stroke = [(70, 60), (210, 60), (190, 110), (160, 170), (135, 230)]
        self.canvas.add_stroke([(x * s, y * s) for x, y in stroke])


if __name__ == "__main__":
    import sys

    from PySide6.QtWidgets import QApplication

    from engine.runtime import load_tensorflow

    app = QApplication(sys.argv)
    runner = WorkerRunner()
    panel = DrawPanel(runner)
    load_tensorflow()
    panel.start_loading()
    panel.resize(1200, 750)
    panel.show()
    code = app.exec()
    runner.shutdown()
    sys.exit(code)
