"""Draw: draw a digit and watch the lecture's MNIST CNN classify it live."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
from PySide6.QtCore import QSettings, QSignalBlocker, Qt, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    QSlider,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from engine.imaging.mosaic import tile_maps
from engine.inspection.activations import layer_summary
from engine.models.digits import (
    DigitClassifier,
    DigitPlacement,
    DigitPrediction,
    PreparedDigit,
    digit_placement,
    digit_to_canvas,
)
from engine.models.mnist_model import LENET5, list_weights, use_weights, weights_info
from engine.models.training import TrainResult
from engine.teaching.scene import plain
from gui.panels.base import Panel
from gui.panels.draw.digit_canvas import DigitCanvas
from gui.panels.draw.layer_table import LayerTable
from gui.panels.draw.prob_bars import ProbabilityBars
from gui.panels.draw.train_dialog import TrainDialog
from gui.state import MNIST_KEY, AppState, OpenModel
from gui.theme import theme
from gui.widgets.map_view import MapView
from gui.widgets.message_bar import MessageBar
from gui.widgets.overlay_view import OverlayView

log = logging.getLogger(__name__)

#: What classifies the drawing (keys stored in settings) and the digit models it needs.
CHOICES = {
    "mnist": ("The lecture's CNN", (MNIST_KEY,)),
    "lenet5": ("LeNet-5 (1998)", (LENET5,)),
    "both": ("Both, side by side", (MNIST_KEY, LENET5)),
}


def too_small(extent: float | None, side: int, share: float = 0.12) -> bool:
    """True for a dot or a speck: strokes whose centre lines span under ``share`` of the
    canvas side (``DigitCanvas.drawn_extent``), so a tap is a dot with any brush."""
    return extent is not None and extent < share * side


def classify(
    classifier: DigitClassifier,
    ink: np.ndarray,
    explain: bool,
    exact: PreparedDigit | None = None,
) -> tuple[DigitPrediction, np.ndarray | None, np.ndarray | None]:
    """The live path: the prediction for the drawing, and its Grad-CAM when asked for,
    of the 28x28 input and taken back onto the canvas (``digit_to_canvas``).

    ``exact``: a ``PreparedDigit`` to classify as it is (a test digit opened and not
    drawn on, spread over the whole canvas) instead of preparing the canvas again, so
    every panel shows one answer.
    """
    prediction = classifier.classify(ink) if exact is None else classifier.classify_prepared(exact)
    if not explain or prediction.probabilities is None:
        return prediction, None, None
    from engine.explanation.attribution import grad_cam

    x = prediction.input.pixels[:, :, None]
    heat = grad_cam(classifier.model, x, prediction.digit)
    placement = DigitPlacement.whole(ink.shape) if exact is not None else digit_placement(ink)
    on_canvas = None if placement is None else digit_to_canvas(heat, placement)
    return prediction, heat, on_canvas


class DrawPanel(Panel):
    """A canvas, the ten probabilities, the 28x28 input and the conv layers' maps.

    A view of the application state: it classifies the drawing live with the MNIST model
    the state holds, and writes the drawn digit to the state.

    Signals
    -------
    prediction_ready(object)
        A ``DigitPrediction`` each time the shown prediction changes.
    classifier_ready()
        The model is loaded; predictions follow the drawing from now on.
    """

    prediction_ready = Signal(object)
    classifier_ready = Signal()

    def __init__(self, state: AppState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._state = state
        self._classifiers: dict[str, tuple[DigitClassifier, OpenModel]] = {}
        self._prediction: DigitPrediction | None = None
        self._shown_primary: DigitClassifier | None = None
        self._second: DigitPrediction | None = None
        self._train_dialog: TrainDialog | None = None
        self._build_ui()
        state.model_opened.connect(self._on_model_opened)
        state.edits_changed.connect(lambda _key: self._show_edited())
        state.tensorflow_ready.connect(lambda _v: self._ensure_models())
        state.model_failed.connect(self._on_model_failed)
        state.digit_opened.connect(self._on_digit_opened)
        state.tensorflow_failed.connect(
            lambda exc: self.show_unavailable(f"TensorFlow could not be loaded: {exc}")
        )
        for key in self._keys():
            if key in state.models:
                self._on_model_opened(key)
        self._ensure_models()
        if state.tensorflow_error is not None:
            self.show_unavailable(f"TensorFlow could not be loaded: {state.tensorflow_error}")

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
        self.clear_button.setToolTip("Clear the canvas (Esc or Delete; Ctrl+Z brings it back)")
        self.clear_button.clicked.connect(self.canvas.clear)
        self.undo_button = QPushButton("Undo stroke")
        self.undo_button.setToolTip("Remove the last stroke (Ctrl+Z)")
        self.undo_button.clicked.connect(self.canvas.undo)
        row.addWidget(self.clear_button)
        row.addWidget(self.undo_button)
        left.addLayout(row)
        self.cover_button = QPushButton("Cover parts (occlusion brush)")
        self.cover_button.setCheckable(True)
        self.cover_button.setToolTip(
            "Strokes hide what is under them from the model (it is fed black there; you see "
            "a blue tint), while the probabilities follow: cover the crossbar of a 7 and "
            "watch what it becomes (Ctrl+Z undoes a stroke)"
        )
        self.cover_button.toggled.connect(lambda on: setattr(self.canvas, "covering", on))
        left.addWidget(self.cover_button)
        self.explore_button = QPushButton("Explore this digit's activations…")
        self.explore_button.setToolTip("Open the drawn digit in the Activations panel")
        self.explore_button.setEnabled(False)
        self.explore_button.clicked.connect(self._on_explore)
        left.addWidget(self.explore_button)
        self.message = MessageBar()
        left.addWidget(self.message)
        left.addStretch()

        middle = QVBoxLayout()
        self.choice_combo = QComboBox()
        for key, (label, _keys) in CHOICES.items():
            self.choice_combo.addItem(label, key)
        self.choice_combo.setToolTip("Which model classifies the drawing, or both side by side")
        index = self.choice_combo.findData(str(QSettings().value("draw/models", "mnist")))
        self.choice_combo.setCurrentIndex(max(index, 0))
        self.choice_combo.currentIndexChanged.connect(self._on_choice_changed)
        middle.addWidget(self.choice_combo)
        self.guess_label = QLabel("Loading the model…")
        theme().style_text(self.guess_label, 32, bold=True)
        self.guess_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        # Side by side, "The lecture's CNN: 9 (94%)" is wider than the column: it wraps
        # rather than losing its first and last characters.
        self.guess_label.setWordWrap(True)
        self.guess_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        middle.addWidget(self.guess_label)
        self.edited_label = QLabel()
        self.edited_label.setWordWrap(True)
        self.edited_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.edited_label.setStyleSheet("color: #b00020;")
        theme().style_text(self.edited_label, bold=True)
        self.edited_label.setToolTip(
            "The model was changed by hand (Kernel lab 'Into a model…' or Activations › "
            "Edit model); its answers are the edited model's"
        )
        self.edited_label.setVisible(False)
        middle.addWidget(self.edited_label)
        self.bars = ProbabilityBars()
        self.bars.setMinimumHeight(120)
        middle.addWidget(self.bars, 2)
        self.second_label = QLabel()
        self.second_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        theme().style_text(self.second_label, 16, bold=True)
        self.second_label.setWordWrap(True)
        self.second_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.second_bars = ProbabilityBars()
        self.second_bars.setMinimumHeight(100)
        middle.addWidget(self.second_label)
        middle.addWidget(self.second_bars, 2)
        self.input_view = OverlayView("What the model sees (28x28)")
        self.input_view.setMinimumHeight(120)
        middle.addWidget(self.input_view, 1)
        self.explain_check = QCheckBox("Show what made it (Grad-CAM)")
        self.explain_check.setToolTip(
            "Colour the regions of the drawing that made the model choose its answer"
        )
        self.explain_check.setChecked(QSettings().value("draw/explain", "false") in (True, "true"))
        self.explain_check.toggled.connect(self._on_explain_toggled)
        middle.addWidget(self.explain_check)

        self.tabs = QTabWidget()
        maps_page = QWidget()
        self._maps_grid = QGridLayout(maps_page)
        self.layer_views: dict[str, MapView] = {}
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
        row = QHBoxLayout()
        row.addWidget(QLabel("Weights"))
        self.weights_combo = QComboBox()
        self.weights_combo.setToolTip(
            "Every set of weights trained here is kept with its test accuracy; choose which "
            "the model uses (the shipped ones are always there)"
        )
        self.weights_combo.activated.connect(self._on_weights_chosen)
        row.addWidget(self.weights_combo, 1)
        ml.addLayout(row)
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

    # -- models --------------------------------------------------------------------------
    def _choice(self) -> str:
        return str(self.choice_combo.currentData())

    def _keys(self) -> tuple[str, ...]:
        """The digit models that classify the drawing, the primary one first."""
        return CHOICES[self._choice()][1]

    def _primary(self) -> DigitClassifier | None:
        entry = self._classifiers.get(self._keys()[0])
        return None if entry is None else entry[0]

    def _ensure_models(self) -> None:
        """Ask the state for the digit models the choice needs (each loaded once)."""
        if self._state.tensorflow_version is None:
            return
        for key in self._keys():
            if key not in self._state.models:
                self._state.load_model(key)

    def _show_edited(self) -> None:
        """Say so when a model classifying the drawing is an edited copy."""
        notes = []
        for key in self._keys():
            n = len(self._state.edits(key))
            if n:
                title = CHOICES[key][0]  # the model keys are choices too
                notes.append(f"{title} is edited ({n} change{'s' if n > 1 else ''})")
        self.edited_label.setText(
            "; ".join(notes) + ": undo in Activations › Edit model." if notes else ""
        )
        self.edited_label.setVisible(bool(notes))

    def _on_choice_changed(self, _index: int) -> None:
        QSettings().setValue("draw/models", self._choice())
        self._show_edited()
        self._ensure_models()
        self._show_primary()
        self._on_canvas_changed()

    def _on_model_opened(self, key: str) -> None:
        """The state (re)loaded a digit model: classify with it from now on."""
        if key not in (MNIST_KEY, LENET5):
            return
        model = self._state.models[key]
        if key == self._keys()[0] and key not in self._classifiers:
            self.guess_label.setText("Loading the model…")
        # A classifier is kept (by the state) per Keras model object: an edit changes
        # the weights of the edited copy in place, and undoing every edit brings back
        # the trained one, so neither builds one again.
        self._state.request(
            lambda _task: DigitClassifier(model.network, model_key=key),
            key=("digit classifier", model.lineage, id(model.network)),
            on_result=lambda c: self._on_classifier(key, c, model),
            on_failed=self._on_model_failed_exc,
        )

    def _on_model_failed(self, key: str, exc: BaseException) -> None:
        if key in (MNIST_KEY, LENET5):
            self._on_model_failed_exc(exc)

    def _on_model_failed_exc(self, exc: BaseException) -> None:
        self.show_unavailable(f"The digit model could not be loaded: {exc}")

    def _on_classifier(self, key: str, classifier: DigitClassifier, model: OpenModel) -> None:
        if self._state.models.get(key) is not model:
            return  # retrained meanwhile: the newer model's classifier follows
        self._classifiers[key] = (classifier, model)
        self.train_button.setEnabled(True)
        self.message.clear_message()
        self._show_primary()
        if key == self._keys()[0]:
            self.classifier_ready.emit()
        self._on_canvas_changed()

    def _show_primary(self) -> None:
        """The summary, the weights and the map views of the primary model."""
        primary = self._primary()
        self.second_label.setVisible(len(self._keys()) > 1)
        self.second_bars.setVisible(len(self._keys()) > 1)
        if primary is None or primary is self._shown_primary:
            return
        self._shown_primary = primary
        self._prediction = None
        self.summary_table.set_layers(layer_summary(primary.model))
        self.total_label.setText(f"Total params: {self.summary_table.total_params():,}")
        self._show_weights_info()
        for view in self.layer_views.values():
            self._maps_grid.removeWidget(view)
            view.deleteLater()
        self.layer_views = {}
        for i, name in enumerate(primary.shown_layers):
            view = MapView(name)
            self.layer_views[name] = view
            self._maps_grid.addWidget(view, i, 0)
        self.guess_label.setText("Draw a digit")

    def show_unavailable(self, message: str) -> None:
        """No model (TensorFlow or the weights failed to load): say why, keep the canvas."""
        self.guess_label.setText("Model unavailable")
        self.message.show_error(message)

    def _on_weights_chosen(self, index: int) -> None:
        path = self.weights_combo.itemData(index)
        key = self._keys()[0]
        if path and Path(path) != weights_info(key).path:
            use_weights(key, path)
            self._state.reload_model(key)  # every view of the model follows

    def _show_weights_info(self) -> None:
        key = self._keys()[0]
        with QSignalBlocker(self.weights_combo):
            self.weights_combo.clear()
            current = weights_info(key).path
            for w in list_weights(key):
                self.weights_combo.addItem(w.label(), str(w.path))
                if w.path == current:
                    self.weights_combo.setCurrentIndex(self.weights_combo.count() - 1)
        info = weights_info(key)
        acc = f", {info.accuracy_text()}" if info.test_accuracy else ""
        who = (
            "your trained weights" if info.source == "yours" else "the weights shipped with the app"
        )
        self.weights_label.setText(f"Using {who} ({info.path}{acc}).")

    # -- scenes --------------------------------------------------------------------------
    def scene(self) -> dict:
        scene: dict = {
            "panel": "draw",
            "model": self._choice(),
            "tab": "model" if self.tabs.currentIndex() == 1 else "maps",
            "explain": self.explain_check.isChecked(),
        }
        digit = self._state.drawn_digit
        if digit is not None:
            scene["digit"] = plain(np.rint(np.asarray(digit.pixels) * 255))
        return scene

    def apply_scene(self, scene: dict) -> None:
        if "model" in scene:
            self.choice_combo.setCurrentIndex(self.choice_combo.findData(scene["model"]))
        if "tab" in scene:
            self.tabs.setCurrentIndex(1 if scene["tab"] == "model" else 0)
        if "explain" in scene:
            self.explain_check.setChecked(scene["explain"])
        if "test_digit" in scene:
            self._state.open_test_digit(scene["test_digit"])
        elif "digit" in scene:
            self._state.open_digit(np.asarray(scene["digit"], dtype=np.uint8), "digit of the scene")

    def is_ready(self) -> bool:
        return self._primary() is not None and (
            self.canvas.is_empty() or self._prediction is not None
        )

    def classifier(self) -> DigitClassifier | None:
        """The primary model's classifier (the first of the choice)."""
        return self._primary()

    # -- live prediction -----------------------------------------------------------------
    def _on_canvas_changed(self) -> None:
        self.explore_button.setEnabled(not self.canvas.is_empty())
        keys = [k for k in self._keys() if k in self._classifiers]
        if not keys or keys[0] != self._keys()[0]:
            return
        classifiers = [self._classifiers[k][0] for k in keys]
        ink, explain = self.canvas.ink(), self.explain_check.isChecked()
        untouched = self.canvas.has_base() and self.canvas.stroke_count() == 0
        exact = self._state.drawn_digit if untouched else None
        # A stroke: only the newest drawing's waiting request runs.
        self._state.request(
            lambda _task: [
                classify(c, ink, explain and i == 0, exact) for i, c in enumerate(classifiers)
            ],
            slot=("draw", id(self)),
            on_result=self._on_prediction,
            on_failed=lambda exc: self.message.show_error(str(exc)),
        )

    def _on_digit_opened(self, pixels: np.ndarray, name: str) -> None:
        """A digit opened elsewhere (a test set's) becomes the drawing, to draw on."""
        try:
            self.canvas.set_ink(pixels)
        except ValueError as exc:
            self.message.show_error(f"Could not open {name}: {exc}")
            return
        self.message.show_info(
            f"Opened {name}: draw on it (Undo takes your strokes back, Clear empties the canvas)."
        )

    def _on_explain_toggled(self, on: bool) -> None:
        QSettings().setValue("draw/explain", on)
        self._on_canvas_changed()

    def _on_prediction(
        self, results: list[tuple[DigitPrediction, np.ndarray | None, np.ndarray | None]]
    ) -> None:
        prediction, heat, on_canvas = results[0]
        self._prediction = prediction
        self._show_second(results[1][0] if len(results) > 1 else None)
        self.input_view.set_heat(heat)
        self.canvas.set_heat(on_canvas)
        # An opened test digit not drawn on: the state holds it exactly already.
        if not (self.canvas.has_base() and self.canvas.stroke_count() == 0):
            self._state.set_drawn_digit(
                None if prediction.probabilities is None else prediction.input
            )
        self.input_view.set_image((prediction.input.pixels * 255).astype(np.uint8))
        if prediction.probabilities is None:
            self.guess_label.setText("Draw a digit")
            self.bars.set_probabilities(None)
            for view in self.layer_views.values():
                view.clear_image()
        else:
            p = prediction.probabilities
            who = f"{CHOICES[self._keys()[0]][0]}: " if len(self._keys()) > 1 else ""
            self.guess_label.setText(f"{who}{prediction.digit}  ({p.max():.0%})")
            if too_small(self.canvas.drawn_extent(), self.canvas.width()):
                self.message.show_info(
                    "So little ink is not a digit: it is blown up to 20x20 like any drawing, "
                    "so the model's confident answer means little. Draw a whole digit."
                )
            elif self.message.text().startswith("So little ink"):
                self.message.clear_message()
            self.bars.set_probabilities(p)
            for name, view in self.layer_views.items():
                maps = prediction.activations[name]
                mosaic = tile_maps(maps, columns=8, normalisation="per_map")
                view.set_image(mosaic.image, levels=(0, 1))
                view.set_title(f"{name}: {maps.shape[2]} maps of {maps.shape[0]}x{maps.shape[1]}")
        self.prediction_ready.emit(prediction)

    def _show_second(self, prediction: DigitPrediction | None) -> None:
        """The second model's answer, beside the first (both side by side)."""
        self._second = prediction
        title = CHOICES[self._keys()[-1]][0] if len(self._keys()) > 1 else ""
        if prediction is None or prediction.probabilities is None:
            self.second_label.setText(title)
            self.second_bars.set_probabilities(None)
            return
        p = prediction.probabilities
        self.second_label.setText(f"{title}: {prediction.digit}  ({p.max():.0%})")
        self.second_bars.set_probabilities(p)

    def second_prediction(self) -> DigitPrediction | None:
        """The second model's prediction when both classify the drawing."""
        return self._second

    def prediction(self) -> DigitPrediction | None:
        return self._prediction

    def _on_explore(self) -> None:
        self._state.explore_drawn_digit()

    # -- training ------------------------------------------------------------------------
    def open_train_dialog(self) -> TrainDialog:
        if self._train_dialog is None:
            self._train_dialog = TrainDialog(self._state, self)
            self._train_dialog.training_finished.connect(self._on_trained)
            self._train_dialog.run_kept.connect(lambda _r: self._show_weights_info())
        self._train_dialog.show()
        self._train_dialog.raise_()
        return self._train_dialog

    def _on_trained(self, _result: TrainResult) -> None:
        # The new weights are in the user's data folder: every view of the model follows.
        self._state.reload_model(self._train_dialog.model_key())

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
    from gui.preview import preview

    preview(DrawPanel, (1200, 750))
