"""Put the Kernel lab's kernel into a filter of a trained model's convolution layer.

The lecture's point: a CNN learns the kernels a person would otherwise design by hand.
This dialog lets the person put their own (the lecture's X, a vertical edge, Sobel...)
into the MNIST CNN's ``conv2d_1``, LeNet-5's C1 or a matching layer of the current
model, and then watch the prediction, the maps and the test accuracy follow.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PySide6.QtCore import QSettings, Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QSizePolicy,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from engine.models.mnist_model import LENET5, MNIST
from gui.state import AppState
from gui.theme import theme

#: The digit models' first convolution: the layer a hand-made kernel goes into.
FIRST_CONV = {MNIST: "conv2d_1", LENET5: "c1"}


@dataclass(frozen=True)
class Target:
    """A conv layer a kernel can go into: its model key, layer, filter count and size."""

    key: str
    title: str
    layer: str
    filters: int
    size: tuple[int, int]
    depth: int  # input channels: 1, or 3 (the kernel is used on R, G and B alike)

    def describe(self) -> str:
        rgb = ", the same kernel on R, G and B" if self.depth == 3 else ""
        return (
            f"{self.title}: {self.layer} ({self.filters} filters of "
            f"{self.size[0]}x{self.size[1]}{rgb})"
        )


def targets(state: AppState) -> list[Target]:
    """The conv layers of the open models a 2-D kernel can go into (input depth 1 or 3):
    the digit models' first convolution, then every such layer of the current model."""
    from engine.inspection.activations import conv_layer_kind

    found: list[Target] = []
    models = [state.models[k] for k in (MNIST, LENET5) if k in state.models]
    if state.model is not None and state.model.key not in (MNIST, LENET5):
        models.append(state.model)
    for model in models:
        original = state.original(model.key) or model
        title = original.loaded.title
        for layer in model.network.layers:
            if model.key in FIRST_CONV and layer.name != FIRST_CONV[model.key]:
                continue
            if conv_layer_kind(layer) != "conv":
                continue
            fh, fw, depth, filters = (int(d) for d in layer.kernel.shape)
            if depth in (1, 3):
                found.append(Target(model.key, title, layer.name, filters, (fh, fw), depth))
    return found


class PutKernelDialog(QDialog):
    """Choose the model, layer and filter; the edit itself is the state's intent."""

    def __init__(
        self, state: AppState, kernel: np.ndarray, name: str, parent: QWidget | None = None
    ):
        super().__init__(parent)
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.setWindowTitle("Put this kernel into a trained model")
        self._state = state
        self._kernel = np.asarray(kernel, dtype=np.float64)
        self._name = name
        self._settings = QSettings()
        layout = QVBoxLayout(self)
        intro = QLabel(
            f"The {name} kernel ({self._kernel.shape[0]}x{self._kernel.shape[1]}) replaces one "
            "filter the network learned; its bias stays. Undo it in Activations > Edit model."
        )
        intro.setWordWrap(True)
        intro.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        layout.addWidget(intro)
        form = QFormLayout()
        self.target_combo = QComboBox()
        self.target_combo.setToolTip("The convolution layer whose filter is replaced")
        self.target_combo.currentIndexChanged.connect(self._on_target_chosen)
        form.addRow("Layer", self.target_combo)
        self.filter_spin = QSpinBox()
        self.filter_spin.setToolTip("Which of the layer's filters (output channels) to replace")
        form.addRow("Filter", self.filter_spin)
        layout.addLayout(form)
        self.match_check = QCheckBox("At the strength of the filter it replaces")
        self.match_check.setToolTip(
            "Scale the kernel so its size (L2 norm) is the learned filter's: the same "
            "pattern, at the strength the layers after it were trained on. Unticked, the "
            "kernel goes in with its own numbers (a ±1 edge is far stronger than what "
            "conv2d_1 learned, and the model's answers change a lot)."
        )
        self.match_check.setChecked(
            self._settings.value("put_kernel/match", "false") in (True, "true")
        )
        layout.addWidget(self.match_check)
        self.show_check = QCheckBox("Show it in Activations")
        self.show_check.setToolTip("Select that layer and filter there, with the drawn digit")
        self.show_check.setChecked(
            self._settings.value("put_kernel/show", "true") in (True, "true")
        )
        layout.addWidget(self.show_check)
        self.note_label = QLabel()
        self.note_label.setWordWrap(True)
        self.note_label.setStyleSheet("color: #8a4b00;")
        theme().style_text(self.note_label)  # a style sheet alone would fix its size
        layout.addWidget(self.note_label)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Put it in")
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout.addWidget(self.buttons)
        self._targets: list[Target] = []
        self._fill()
        state.model_opened.connect(self._fill)
        self.finished.connect(lambda _result: state.model_opened.disconnect(self._fill))
        for key in FIRST_CONV:  # LeNet-5 may not be open yet: it loads in a second
            state.load_model(key)

    def _fill(self, *_args) -> None:
        chosen = self.target() or _stored(self._settings)
        self._targets = targets(self._state)
        self.target_combo.blockSignals(True)
        self.target_combo.clear()
        for t in self._targets:
            self.target_combo.addItem(t.describe())
            if t.size != self._kernel.shape:
                item = self.target_combo.model().item(self.target_combo.count() - 1)
                item.setEnabled(False)
                item.setToolTip(
                    f"{t.layer}'s filters are {t.size[0]}x{t.size[1]}: set the kernel's size to "
                    f"{t.size[0]}x{t.size[1]} in the Kernel lab"
                )
        fits = [i for i, t in enumerate(self._targets) if t.size == self._kernel.shape]
        index = next(
            (
                i
                for i in fits
                if chosen and (self._targets[i].key, self._targets[i].layer) == chosen
            ),
            fits[0] if fits else -1,
        )
        self.target_combo.setCurrentIndex(index)
        self.target_combo.blockSignals(False)
        self._on_target_chosen(index)

    def target(self) -> tuple[str, str] | None:
        i = self.target_combo.currentIndex()
        if not 0 <= i < len(self._targets):
            return None
        return self._targets[i].key, self._targets[i].layer

    def _on_target_chosen(self, index: int) -> None:
        ok = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        if not 0 <= index < len(self._targets) or self._targets[index].size != self._kernel.shape:
            sizes = sorted({f"{t.size[0]}x{t.size[1]}" for t in self._targets})
            self.note_label.setText(
                f"No open model has {self._kernel.shape[0]}x{self._kernel.shape[1]} filters"
                + (f" (they have {', '.join(sizes)}): change the kernel's size." if sizes else ".")
            )
            self.filter_spin.setEnabled(False)
            ok.setEnabled(False)
            return
        t = self._targets[index]
        self.filter_spin.setEnabled(True)
        self.filter_spin.setRange(0, t.filters - 1)
        self.filter_spin.setValue(
            min(int(self._settings.value("put_kernel/filter", 0)), t.filters - 1)
        )
        self.note_label.setText("")
        ok.setEnabled(True)

    def accept(self) -> None:
        i = self.target_combo.currentIndex()
        if not 0 <= i < len(self._targets):
            return
        t = self._targets[i]
        kernel = self._kernel if t.depth == 1 else np.repeat(self._kernel[:, :, None], 3, axis=2)
        s = self._settings
        s.setValue("put_kernel/target", f"{t.key}/{t.layer}")
        s.setValue("put_kernel/filter", self.filter_spin.value())
        s.setValue("put_kernel/show", self.show_check.isChecked())
        s.setValue("put_kernel/match", self.match_check.isChecked())
        state, index = self._state, self.filter_spin.value()
        match = self.match_check.isChecked()
        state.set_filter(t.key, t.layer, index, kernel, name=self._name, match_norm=match)
        if self.show_check.isChecked():
            show_in_activations(state, t.key, t.layer, index)
        super().accept()


def _stored(settings: QSettings) -> tuple[str, str] | None:
    value = str(settings.value("put_kernel/target", ""))
    key, _, layer = value.partition("/")
    return (key, layer) if layer else None


def show_in_activations(state: AppState, key: str, layer: str, index: int) -> None:
    """Make ``key`` current (with the drawn digit if there is one), select ``layer`` and
    map ``index`` once its activations are there, and bring the Activations panel up."""

    connected = [True]

    def stop() -> None:
        if connected[0]:
            connected[0] = False
            state.activations_changed.disconnect(select)
            state.edit_failed.disconnect(failed)

    def select(acts) -> None:
        if acts is None or acts.model.key != key or layer not in acts.maps:
            return
        stop()
        state.select_layer(layer)
        state.select_map(index)

    def failed(failed_key: str, _exc: BaseException) -> None:
        if failed_key == key:
            stop()  # nothing to show: a later, unrelated result must not move the selection

    state.activations_changed.connect(select)
    state.edit_failed.connect(failed)
    if state.drawn_digit is not None and state.model is not None and key in FIRST_CONV:
        if state.input is None or state.input.pixels is not state.drawn_digit:
            state.use_drawn_digit()
    if state.model is None or state.model.key != key:
        state.open_model(key)
    state.panel_requested.emit("activations/edit")  # the edit, its maps before and after
