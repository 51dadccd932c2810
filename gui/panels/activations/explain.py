"""Explain a prediction: which regions (Grad-CAM) or pixels (saliency, SmoothGrad) made
it, what hiding patches does (an occlusion sweep), and a brush that hides parts of the
input while the probabilities follow.

A view of the application state: it explains the current model's prediction for the
current input, for the class the state names (the top one unless the person picks
another). Results are cached per (model, input, class, method); the slow ones run off
the UI thread with progress and a cancel button.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any

import numpy as np
from PySide6.QtCore import QSettings, QSignalBlocker, Qt
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QPushButton,
    QSizePolicy,
    QSlider,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from engine.explanation.attribution import HeatMap
from engine.imaging.display import input_to_pixels
from engine.models.zoo import prepare_image
from gui.scheduler import Priority, Ticket
from gui.state import Activations, AppState, keeps_results
from gui.theme import theme
from gui.widgets.message_bar import MessageBar
from gui.widgets.overlay_view import OverlayView
from gui.widgets.progress_row import ProgressRow
from gui.workers import Task

log = logging.getLogger(__name__)

#: Method keys (stored in settings) and their labels.
METHODS = {
    "gradcam": "Grad-CAM: which regions made it",
    "saliency": "Saliency: which pixels matter most",
    "smoothgrad": "SmoothGrad: saliency averaged over noisy copies",
    "occlusion": "Occlusion: hide patches, see the probability drop",
    "scorecam": "Score-CAM: which maps raise the class (no gradients)",
    "none": "No overlay",
}
SLOW = ("smoothgrad", "occlusion", "scorecam")
#: Methods that need no gradients: they serve ONNX models too.
GRADIENT_FREE = ("none", "occlusion", "scorecam")
#: The grey and black a brush covers with (pixel values).
FILLS = {"grey": 128, "black": 0}


def occlusion_patch(hw: tuple[int, int]) -> tuple[int, int]:
    """(patch, stride) for a sweep: a seventh of the shorter side, half of it as stride
    (32 and 16 at 224 px, 4 and 2 for a 28 px digit)."""
    patch = max(2, round(min(hw) / 7))
    return patch, max(1, patch // 2)


def compute_heat(acts: Activations, method: str, class_index: int, task: Task) -> HeatMap:
    """One explanation of ``acts``' prediction as a heat map with its real values.

    Grad-CAM is relative to its peak; saliency and SmoothGrad are gradient sizes (the
    sign dropped), on a robust scale (a few extreme pixels would leave the rest dark);
    occlusion is the drop in probability, in percentage points, from 0 to its largest.
    """
    from engine.explanation import attribution
    from engine.inspection.activations import gradients_unavailable
    from engine.models.onnx_model import is_onnx

    model, x = acts.model.network, acts.x
    p = f"p({acts.model.loaded.class_name(class_index)})"
    if method not in GRADIENT_FREE:
        why = gradients_unavailable(model, METHODS[method].split(":")[0])
        if why:
            raise ValueError(f"{why} Occlusion works on any model.")
    if method == "gradcam":
        return attribution.scaled_heat(
            attribution.grad_cam(model, x, class_index),
            "how much each region raised the class's score (Grad-CAM, its positive part)",
            "(1 = the strongest region)",
            axis="share of the peak",
        )
    if method in ("saliency", "smoothgrad"):
        samples = 24 if method == "smoothgrad" else 0
        task.progress(0.1, "SmoothGrad: 24 noisy copies…" if samples else "")
        heat = attribution.saliency(model, x, class_index, samples=samples)
        return attribution.scaled_heat(
            heat,
            f"how fast {p} changes with each pixel, |∂p/∂x| (the gradient's size, its sign "
            "dropped; the largest over the colour channels"
            + (", averaged over 24 noisy copies)" if samples else ")"),
            "per unit of the model's input",
            axis="|∂p/∂x|",
            robust=True,
        )
    if method == "scorecam":
        from engine.explanation.scorecam import default_layer, score_cam, upsample_maps
        from engine.inspection.activations import has_maps, layer_shape

        names = list(acts.maps)
        layer = default_layer(
            names, lambda n: has_maps(model, n), lambda n: layer_shape(model, n)
        )
        if layer is None:
            raise ValueError("Score-CAM needs a layer with maps; this model has none.")
        base = fill_values(acts, FILLS["grey"])
        cam = score_cam(
            acts.model.loaded.forward, x, acts.maps[layer], class_index,
            baseline=np.broadcast_to(base, x.shape).astype(np.float32),
            progress=task.progress, cancelled=task.cancelled,
        )  # fmt: skip
        heat = upsample_maps(cam[:, :, None], x.shape[:2])[:, :, 0]
        peak = float(heat.max())
        return attribution.scaled_heat(
            (heat / peak if peak > 0 else heat).astype(np.float32),
            f"how much the maps of {layer} raise {p} when each alone lights up the input "
            "(Score-CAM, Wang et al. 2020: one forward pass per map, no gradients)",
            "(1 = the strongest region)",
            axis="share of the peak",
        )
    if method == "occlusion":
        patch, stride = occlusion_patch(x.shape[:2])
        fill = float(fill_values(acts, FILLS["grey"]).mean())
        how = ""
        if is_onnx(model):  # ONNX Runtime runs the patches
            from engine.models.onnx_model import occlusion as onnx_occlusion

            drops = onnx_occlusion(
                model, x, class_index, patch, stride, fill=fill,
                progress=task.progress, cancelled=task.cancelled,
            )  # fmt: skip
        else:  # only what each patch can reach is computed again (exact)
            result = attribution.occlusion_map(
                model, x, class_index, patch, stride, fill=fill, mode="exact",
                progress=task.progress, cancelled=task.cancelled,
            )  # fmt: skip
            drops = result.drops
            if result.method == "full":
                how = " " + result.note
        heat = attribution.occlusion_heat(np.maximum(drops, 0), patch, stride, x.shape[:2])
        return attribution.scaled_heat(
            heat,
            f"how much {p} drops when a {patch}x{patch} patch around the pixel is hidden "
            f"(a rise counts as 0){how}",
            "percentage points",
            axis="drop in p (% points)",
            scale=100.0,
        )
    raise ValueError(f"unknown method {method!r}")


def fill_values(acts: Activations, level: int) -> np.ndarray:
    """What a pixel of value ``level`` becomes in the model's input, per channel."""
    spec = acts.model.loaded.spec
    flat = replace(spec, size=(1, 1), digit=False)
    return prepare_image(np.full((1, 1, 3), level, np.uint8), flat)[0, 0]


def covered(acts: Activations, mask: np.ndarray, level: int) -> np.ndarray:
    """The model input with the masked pixels set to a pixel value ``level``."""
    m = mask[:, :, None]
    return (acts.x * (1 - m) + fill_values(acts, level) * m).astype(np.float32)


class ExplainView(QWidget):
    """Heat-map overlays and the occlusion brush for the current input and model."""

    def __init__(self, state: AppState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._state = state
        self._settings = QSettings()
        self._ticket: Ticket | None = None
        self._pending_key: tuple[Any, ...] | None = None
        self._stale = False  # something changed while hidden
        self._build_ui()
        state.activations_changed.connect(self._on_activations_changed)
        state.target_class_changed.connect(lambda _c: (self._refresh(), self._on_mask_changed()))
        self._on_activations_changed(state.activations)

    def _build_ui(self) -> None:
        row = QHBoxLayout()
        self.method_combo = QComboBox()
        for key, label in METHODS.items():
            self.method_combo.addItem(label, key)
        self.method_combo.setToolTip("How to explain the prediction")
        index = self.method_combo.findData(str(self._settings.value("explain/method", "gradcam")))
        self.method_combo.setCurrentIndex(max(index, 0))
        self.method_combo.currentIndexChanged.connect(self._on_method_changed)
        self.class_combo = QComboBox()
        self.class_combo.setToolTip("The class to explain (the most likely one by default)")
        self.class_combo.activated.connect(self._on_class_chosen)
        self.opacity = QSlider(Qt.Orientation.Horizontal)
        self.opacity.setRange(0, 100)
        self.opacity.setValue(int(self._settings.value("explain/opacity", 60)))
        self.opacity.setToolTip("Opacity of the heat map over the input")
        self.opacity.valueChanged.connect(self._on_opacity_changed)
        for combo in (self.method_combo, self.class_combo):
            combo.setSizeAdjustPolicy(
                QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
            )
            combo.setMinimumContentsLength(12)
        row.addWidget(QLabel("Explain"))
        row.addWidget(self.method_combo, 2)
        row.addWidget(QLabel("class"))
        row.addWidget(self.class_combo, 1)
        second = QHBoxLayout()
        second.addWidget(QLabel("Heat-map opacity"))
        second.addWidget(self.opacity, 1)

        self.progress_box = ProgressRow("Stop the explanation being computed", self.cancel)
        self.progress, self.cancel_button = (
            self.progress_box.progress,
            self.progress_box.cancel_button,
        )

        self.view = OverlayView("Input")
        self.view.set_opacity(self.opacity.value() / 100)
        self.view.mask_changed.connect(self._on_mask_changed)

        brush = QHBoxLayout()
        self.brush_button = QPushButton("Cover parts (brush)")
        self.brush_button.setCheckable(True)
        self.brush_button.setToolTip(
            "Paint over the input to hide parts of it; the probabilities follow (Ctrl+Z undoes)"
        )
        self.brush_button.toggled.connect(self._on_brush_toggled)
        self.fill_combo = QComboBox()
        self.fill_combo.addItem("with grey", "grey")
        self.fill_combo.addItem("with black", "black")
        self.fill_combo.setToolTip("What hides the covered parts")
        self.fill_combo.currentIndexChanged.connect(self._on_fill_changed)
        self.brush_spin = QSpinBox()
        self.brush_spin.setRange(1, 64)
        self.brush_spin.setValue(3)
        self.brush_spin.setSuffix(" px")
        self.brush_spin.setToolTip("Brush size in the model's input pixels")
        self.brush_spin.valueChanged.connect(lambda v: self.view.set_brush(self.view.brush_on, v))
        self.undo_button = QPushButton("Undo")
        self.undo_button.clicked.connect(self.view.undo)
        self.clear_button = QPushButton("Uncover all")
        self.clear_button.clicked.connect(self.view.clear_mask)
        for w in (self.brush_button, self.fill_combo, self.brush_spin):
            brush.addWidget(w)
        brush.addWidget(self.undo_button)
        brush.addWidget(self.clear_button)
        # Like the Draw panel's Ctrl+Z: a hidden tab's shortcut is not active.
        QShortcut(QKeySequence.StandardKey.Undo, self, activated=self.view.undo)

        self.scale_label = QLabel()
        self.scale_label.setWordWrap(True)
        self.scale_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.scale_label.setToolTip("What the heat map's colours measure (the bar beside it)")

        self.probability_label = QLabel()
        self.probability_label.setWordWrap(True)
        theme().style_text(self.probability_label, 14, bold=True)
        self.probability_label.setSizePolicy(
            QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred
        )
        self.covered_list = QListWidget()
        theme().style_size(self.covered_list, maximum_height=110)
        self.covered_list.setToolTip("The top-5 with the covered parts hidden")
        self.message = MessageBar()

        lay = QVBoxLayout(self)
        lay.addLayout(row)
        lay.addLayout(second)
        lay.addWidget(self.progress_box)
        lay.addWidget(self.view, 1)
        lay.addWidget(self.scale_label)
        lay.addLayout(brush)
        lay.addWidget(self.probability_label)
        lay.addWidget(self.covered_list)
        lay.addWidget(self.message)

    # -- what is explained -----------------------------------------------------------------
    def method(self) -> str:
        return str(self.method_combo.currentData())

    def _on_method_changed(self, _index: int) -> None:
        self._settings.setValue("explain/method", self.method())
        self._refresh()

    def _on_opacity_changed(self, value: int) -> None:
        self._settings.setValue("explain/opacity", value)
        self.view.set_opacity(value / 100)

    def _on_class_chosen(self, index: int) -> None:
        self._state.set_target_class(self.class_combo.itemData(index))

    def _on_activations_changed(self, acts: Activations | None) -> None:
        self.cancel()
        if acts is None:
            return
        self.view.set_image(input_to_pixels(acts.x, acts.model.loaded.spec.scaling))
        # Hiding a stroke of a digit (light on black) means painting black; on a photo,
        # grey is the neutral choice.
        with QSignalBlocker(self.fill_combo):
            self.fill_combo.setCurrentIndex(
                self.fill_combo.findData("black" if acts.model.loaded.spec.digit else "grey")
            )
        self.view.set_cover_level(FILLS[str(self.fill_combo.currentData())])
        self._offer_methods(acts)
        self._fill_classes(acts)
        self._refresh()
        self._on_mask_changed()

    def _fill_classes(self, acts: Activations) -> None:
        last = acts.output
        with QSignalBlocker(self.class_combo):
            self.class_combo.clear()
            self.class_combo.addItem("the most likely class", None)
            if last.ndim == 1:
                order = np.argsort(last)[::-1][:10]
                for i, (label, p) in zip(order, acts.model.loaded.decode(last, 10), strict=True):
                    self.class_combo.addItem(f"{label} ({p:.1%})", int(i))
            chosen = self.class_combo.findData(self._state.target_class)
            self.class_combo.setCurrentIndex(max(chosen, 0))

    def showEvent(self, event) -> None:
        super().showEvent(event)
        if self._stale:
            self._stale = False
            self._refresh()
            self._on_mask_changed()

    def _refresh(self) -> None:
        """Show the heat map for the current (model, input, class, method).

        Only while the view is shown: explanations cost a gradient pass or more on the
        model thread, which other views need too; a hidden view catches up when shown.
        """
        if not self.isVisible():
            self._stale = True
            return
        acts, method = self._state.activations, self.method()
        c = self._state.explained_class()
        if acts is None or c is None or method == "none":
            self.cancel()
            self._show(None)
            self.view.set_title("Input" if acts is None else "Input (no overlay)")
            return
        key = ("explain", acts.model.serial, acts.input.serial, c, method)
        name = acts.model.loaded.decode(np.eye(self._classes(acts))[c], 1)[0][0]
        self._title = f"{METHODS[method].split(':')[0]} for class {name}"
        if method == "gradcam" and getattr(acts.model.network, "has_gradients", True):
            from engine.explanation.attribution import explainer

            layer = explainer(acts.model.network).default_layer
            self._title += f" (maps of {layer}, the last convolution)"
        if key == self._pending_key:
            return
        self.cancel()
        self._pending_key = key
        self._show(None)  # no heat map of another method, class or input under this title
        self.view.set_title(f"{self._title}: computing…")
        self.progress.setValue(0)
        self.progress_box.setVisible(method in SLOW)
        # The slow methods (occlusion, SmoothGrad) are batch work: a new input or layer
        # runs between two of their steps. A newer explanation stops this one.
        self._ticket = self._state.request(
            lambda task: compute_heat(acts, method, c, task),
            key=key,
            cache=keeps_results(acts.input),
            priority=Priority.BATCH if method in SLOW else Priority.INTERACTIVE,
            slot=("explain", id(self)),
            cancel_running=True,
            on_progress=lambda f, _m: self.progress.setValue(int(f * 1000)),
            on_result=lambda heat: self._on_heat(key, heat),
            on_failed=self._on_heat_failed,
            on_done=lambda: self._on_heat_done(key),
        )

    @staticmethod
    def _classes(acts: Activations) -> int:
        return int(acts.output.shape[-1])

    def _show(self, heat: HeatMap | None) -> None:
        self.view.set_heat(heat)
        self.scale_label.setText("" if heat is None else heat.describe())

    def _on_heat(self, key: tuple[Any, ...], heat: HeatMap) -> None:
        if key == self._pending_key:
            self._show(heat)
            self.view.set_title(self._title)

    def _on_heat_failed(self, exc: BaseException) -> None:
        if isinstance(exc, InterruptedError):
            return
        self._show(None)
        self.view.set_title(f"{self._title}: not available")
        self.message.show_exception(exc, "Could not explain this prediction: ")

    def _offer_methods(self, acts: Activations) -> None:
        """The gradient methods only where there are gradients (not an ONNX model)."""
        from engine.inspection.activations import gradients_unavailable

        combo = self.method_combo
        for i in range(combo.count()):
            method = str(combo.itemData(i))
            why = ""
            if method not in GRADIENT_FREE:
                why = gradients_unavailable(acts.model.network, METHODS[method].split(":")[0])
            item = combo.model().item(i)
            item.setEnabled(not why)
            item.setToolTip(why)
        if not combo.model().item(combo.currentIndex()).isEnabled():
            with QSignalBlocker(combo):  # the person's choice stays remembered
                combo.setCurrentIndex(combo.findData("occlusion"))

    def _on_heat_done(self, key: tuple[Any, ...]) -> None:
        if key == self._pending_key:
            self._pending_key = None
            self._ticket = None
            self.progress_box.setVisible(False)

    def cancel(self) -> None:
        """Stop the explanation being computed (its result is dropped)."""
        if self._ticket is not None:
            self._ticket.cancel()
        self._ticket = None
        self._pending_key = None
        self.progress_box.setVisible(False)

    def is_computing(self) -> bool:
        return self._pending_key is not None

    # -- the occlusion brush ---------------------------------------------------------------
    def _on_brush_toggled(self, on: bool) -> None:
        self.view.set_brush(on, self.brush_spin.value())

    def _on_fill_changed(self, _index: int) -> None:
        self.view.set_cover_level(FILLS[str(self.fill_combo.currentData())])
        self._on_mask_changed()

    def _on_mask_changed(self) -> None:
        if not self.isVisible():
            self._stale = True
            return
        acts, mask = self._state.activations, self.view.mask()
        if acts is None or mask is None or mask.shape != acts.x.shape[:2]:
            return
        level = FILLS[str(self.fill_combo.currentData())]
        c = self._state.explained_class()

        def job(_task: Task) -> tuple[Activations, np.ndarray, float]:
            from engine.explanation.attribution import explainer
            from engine.models.onnx_model import is_onnx

            x = covered(acts, mask, level) if mask.any() else acts.x
            if is_onnx(acts.model.network):
                probs = acts.model.loaded.forward(x[None])[0]
            else:
                probs = explainer(acts.model.network).probabilities(x)
            return acts, probs, float(mask.mean())

        if c is not None:  # a stroke: only the newest mask's waiting request runs
            self._state.request(
                job,
                slot=("brush", id(self)),
                on_result=self._on_covered_probabilities,
                on_failed=lambda exc: self.message.show_exception(exc),
            )

    def _on_covered_probabilities(self, result: tuple[Activations, np.ndarray, float]) -> None:
        acts, probs, share = result
        if acts is not self._state.activations:
            return
        c = self._state.explained_class()
        loaded = acts.model.loaded
        name = loaded.class_name(c)
        # Both read by the engine's one rule: a logits model's through softmax, as the
        # top-5 beside it ("1504.6%" was a logit printed as a probability).
        was, now = acts.probabilities(), loaded.read_output(probs, 1).probabilities
        if was is None or now is None:
            before, after, fmt = float(acts.output[c]), float(probs[c]), ".4g"
        else:
            before, after, fmt = float(was[c]), float(now[c]), ".1%"
        if share == 0:
            text = f"p({name}) = {before:{fmt}}. Paint over the input to hide parts of it."
        else:
            text = (
                f"p({name}): {before:{fmt}} → {after:{fmt}} with {share:.0%} of the input covered"
            )
        self.probability_label.setText(text)
        self.covered_list.clear()
        for label, p in acts.model.loaded.decode(probs, 5):
            self.covered_list.addItem(f"{p:6.1%}  {label}")

    def covered_probabilities(self) -> list[str]:
        return [self.covered_list.item(i).text() for i in range(self.covered_list.count())]
