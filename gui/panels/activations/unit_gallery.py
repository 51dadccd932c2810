"""The "Units" side tab of "What it wants": every channel's centre unit, painted at once.

Each picture is the input one unit at the centre of a channel's map likes best, on a
canvas the size of what that unit sees (its receptive field), as the Deep Visualization
Toolbox showed a layer (``engine.explanation.featurevis.maximize_layer``). The channels
are painted in batches, as one batch request: a new input or layer runs between two of
its steps, and the pictures fill the list as each batch ends. The full-size picture of
one channel (the main view) shows something else: the pattern its whole map answers to.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QListWidgetItem,
    QProgressBar,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from gui.scheduler import Priority, Ticket
from gui.state import AppState
from gui.theme import theme
from gui.widgets.icons import fit_captions, icon_list, icon_of
from gui.workers import Cancelled, Task

ICON = 64
STEPS = 128
BATCH = 16


def paint_units(model: Any, layer: str, task: Task) -> list[Any]:
    """Every channel's centre unit of ``layer`` (on the model thread); each picture goes
    out as a record as its batch ends."""
    from engine.explanation.featurevis import maximize_layer

    try:
        return maximize_layer(
            model.loaded,
            layer,
            steps=STEPS,
            batch=BATCH,
            progress=task.progress,
            cancelled=task.cancelled,
            on_picture=task.record,
        )
    except InterruptedError:
        raise Cancelled() from None


class UnitGallery(QWidget):
    """A button, a progress bar and the pictures of the selected layer's centre units."""

    def __init__(self, state: AppState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._state = state
        self._ticket: Ticket | None = None
        self._for: tuple[int, str] | None = None  # (model serial, layer) shown
        self.paint_button = QPushButton("Paint every unit")
        self.paint_button.setToolTip(
            f"For each channel of the layer, the input its centre unit likes best, on a "
            f"canvas the size of what that unit sees ({STEPS} steps, {BATCH} channels at a "
            "time); far faster than a full-size picture per channel"
        )
        self.paint_button.clicked.connect(self.paint)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Stop painting (the pictures made so far stay)")
        self.cancel_button.clicked.connect(self.cancel)
        self.cancel_button.setEnabled(False)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setVisible(False)
        self.label = QLabel()
        self.label.setWordWrap(True)
        self.label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.list = icon_list(ICON, 1, 14)
        theme().follow(self, lambda: fit_captions(self.list, 1))
        self.list.setToolTip("Each channel's centre unit: click one to select its channel")
        self.list.itemClicked.connect(self._on_clicked)
        row = QHBoxLayout()
        row.addWidget(self.paint_button)
        row.addWidget(self.cancel_button)
        row.addWidget(self.progress, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(row)
        layout.addWidget(self.label)
        layout.addWidget(self.list, 1)
        state.selection_changed.connect(lambda _s: self._follow())
        state.model_changed.connect(lambda _m: self._follow())
        self._follow()

    def _target(self) -> tuple[Any, str] | None:
        from engine.inspection.activations import gradients_unavailable, has_maps

        model, layer = self._state.model, self._state.selection.layer
        if model is None or layer is None or gradients_unavailable(model.network):
            return None
        return (model, layer) if has_maps(model.network, layer) else None

    def _key(self, model: Any, layer: str) -> tuple[Any, ...]:
        return ("unit gallery", model.serial, layer, STEPS)

    def _follow(self) -> None:
        """Show the selected layer's pictures when they were painted before."""
        target = self._target()
        self.paint_button.setEnabled(target is not None)
        if target is None:
            self._for = None
            self.list.clear()
            model = self._state.model
            self.label.setText(
                "Select a layer with maps."
                if model is None or getattr(model.network, "has_gradients", True)
                else "Painting needs gradients: open the model as a Keras file."
            )
            return
        model, layer = target
        if self._for == (model.serial, layer):
            return
        self._for = (model.serial, layer)
        self.list.clear()
        done = self._state.scheduler.cached(self._key(model, layer))
        if done is not None:
            for vis in done:
                self._add(vis)
            self._say_done(layer, len(done))
        elif self._ticket is None:
            self.label.setText(f"Press Paint every unit to see what {layer}'s units want.")

    def paint(self) -> None:
        target = self._target()
        if target is None or self._ticket is not None:
            return
        model, layer = target
        self._for = (model.serial, layer)
        self.list.clear()
        self.label.setText(f"Painting the units of {layer}…")
        self.progress.setValue(0)
        self.progress.setVisible(True)
        self.cancel_button.setEnabled(True)
        self.paint_button.setEnabled(False)
        self._ticket = self._state.request(
            lambda task: paint_units(model, layer, task),
            key=self._key(model, layer),
            priority=Priority.BATCH,
            on_record=lambda vis: self._on_picture(model, layer, vis),
            on_progress=lambda f, _m: self.progress.setValue(int(f * 1000)),
            on_result=lambda pictures: self._say_done(layer, len(pictures)),
            on_failed=lambda exc: self.label.setText(f"Could not paint {layer}: {exc}"),
            on_done=self._on_done,
        )

    def _on_picture(self, model: Any, layer: str, vis: Any) -> None:
        if self._for == (model.serial, layer):
            self._add(vis)

    def _add(self, vis: Any) -> None:
        image = np.asarray(vis.image)
        item = QListWidgetItem(icon_of(image, ICON, square=True), str(vis.channel))
        item.setData(Qt.ItemDataRole.UserRole, int(vis.channel))
        h, w = image.shape[:2]
        item.setToolTip(f"Channel {vis.channel}: its centre unit's favourite {h}x{w} input")
        self.list.addItem(item)

    def _say_done(self, layer: str, n: int) -> None:
        self.label.setText(
            f"{layer}: {n} channels, each its centre unit's favourite input at the size of "
            "what it sees. Click one to select its channel."
        )

    def _on_done(self) -> None:
        self._ticket = None
        self.progress.setVisible(False)
        self.cancel_button.setEnabled(False)
        self.paint_button.setEnabled(self._target() is not None)

    def cancel(self) -> None:
        if self._ticket is not None:
            self._ticket.stop()
            self.label.setText("Stopped: the pictures made so far stay until the layer changes.")

    def _on_clicked(self, item: QListWidgetItem) -> None:
        self._state.select_map(int(item.data(Qt.ItemDataRole.UserRole)))

    def is_painting(self) -> bool:
        return self._ticket is not None
