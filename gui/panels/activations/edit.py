"""Change the trained model and watch: the Activations panel's "Edit model" tab.

Scale, switch off or restore the selected channel of the current model (a kernel comes
in from the Kernel lab), see the list of edits with undo, revert all and save as, the
prediction and the test accuracy before and after, and the selected map of the original
and of the edited model side by side with their difference.

A view of the application state: the edits live in ``AppState`` (``edits``,
``original``); this view writes intents (``scale_channel``, ``ablate_channels``,
``restore_channels``, ``undo_edit``, ``revert_edits``) and redraws from the state.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QSettings, Qt
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QDoubleSpinBox,
    QFileDialog,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QProgressBar,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from gui.scheduler import Priority, Ticket
from gui.state import BUNDLED, Activations, AppState, OpenModel, evaluate_bundled, evaluation_key
from gui.theme import theme
from gui.widgets.map_view import MapView
from gui.widgets.message_bar import MessageBar

log = logging.getLogger(__name__)

#: How many MNIST test digits the accuracy is measured on (the ones the app ships).
TEST_DIGITS = 500


def _wrap(label: QLabel) -> QLabel:
    label.setWordWrap(True)
    label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
    return label


def _top(model: OpenModel, maps) -> tuple[str, float] | None:
    """The top class and its probability from a probe run's maps, or None."""
    loaded = model.loaded
    output = maps.get(loaded.output_layer)
    if output is None or not loaded.classifier:
        return None
    reading = loaded.read_output(output, 1)
    return (reading.top[0].label, reading.top[0].probability) if reading.top else None


class EditView(QWidget):
    """Edit the current model's selected channel; undo, revert, save; see the effect."""

    def __init__(self, state: AppState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._state = state
        self._settings = QSettings()
        # Derived from the state, never the truth: the original model's maps for an
        # input, and test accuracies per model object.
        # The original model's activations shown beside the edited ones (what is on
        # screen; the state's scheduler keeps results).
        self._shown_original: Activations | None = None
        self._original_ticket: Ticket | None = None
        self._eval_failed: set[int] = set()  # serials whose measurement failed
        self._eval_ticket: Ticket | None = None
        self._eval_model: OpenModel | None = None
        self._build_ui()
        state.model_changed.connect(lambda _m: self._refresh())
        state.activations_changed.connect(lambda _a: self._refresh())
        state.selection_changed.connect(lambda _s: self._refresh())
        state.edits_changed.connect(self._on_edits_changed)
        state.edit_failed.connect(lambda _k, exc: self.message.show_exception(exc))
        self._refresh()

    # -- construction ------------------------------------------------------------------
    def _build_ui(self) -> None:
        outer = QVBoxLayout(self)
        top = QHBoxLayout()  # the channel's controls beside the list: room for the maps
        box = QGroupBox("The selected channel")
        bl = QVBoxLayout(box)
        self.channel_label = _wrap(QLabel())
        bl.addWidget(self.channel_label)
        self.factor_spin = QDoubleSpinBox()
        self.factor_spin.setRange(-10.0, 10.0)
        self.factor_spin.setDecimals(2)
        self.factor_spin.setSingleStep(0.25)
        self.factor_spin.setValue(float(self._settings.value("edit/factor", 0.5)))
        self.factor_spin.setPrefix("× ")
        self.factor_spin.setToolTip("The factor its kernel and bias are multiplied by")
        self.scale_button = QPushButton("Scale")
        self.scale_button.setToolTip("Multiply this channel's kernel and bias by the factor")
        self.scale_button.clicked.connect(self.scale_selected)
        self.off_button = QPushButton("Switch off")
        self.off_button.setToolTip(
            "Zero this channel's kernel and bias: its map is exactly 0 from now on (Del)"
        )
        self.off_button.clicked.connect(self.switch_off_selected)
        self.restore_button = QPushButton("Restore")
        self.restore_button.setToolTip("Put this channel's trained weights back")
        self.restore_button.clicked.connect(self.restore_selected)
        grid = QGridLayout()
        grid.addWidget(self.factor_spin, 0, 0)
        grid.addWidget(self.scale_button, 0, 1)
        grid.addWidget(self.off_button, 1, 0)
        grid.addWidget(self.restore_button, 1, 1)
        bl.addLayout(grid)
        bl.addStretch()
        top.addWidget(box, 1)

        box = QGroupBox("Edits of this model")
        bl = QVBoxLayout(box)
        self.edit_list = QListWidget()
        self.edit_list.setToolTip("Every change, oldest first; select one and 'Undo to here'")
        self.edit_list.setWordWrap(True)  # "conv2d_2 filters 4, 8, 10-12, …" whole
        self.edit_list.setMinimumHeight(44)
        theme().style_size(self.edit_list, maximum_height=130)
        row = QHBoxLayout()
        row.addWidget(self.edit_list, 1)
        col = QVBoxLayout()
        self.undo_button = QPushButton("Undo")
        self.undo_button.setToolTip("Undo the last edit (Ctrl+Z)")
        self.undo_button.clicked.connect(self.undo)
        self.undo_to_button = QPushButton("Undo to here")
        self.undo_to_button.setToolTip("Undo the selected edit and every edit after it")
        self.undo_to_button.clicked.connect(self.undo_to_selected)
        self.revert_button = QPushButton("Revert all")
        self.revert_button.setToolTip("Every weight back to the trained model's, bit for bit")
        self.revert_button.clicked.connect(self.revert_all)
        self.save_button = QPushButton("Save as…")
        self.save_button.setToolTip("Write the edited model as a .keras file")
        self.save_button.clicked.connect(self.save_dialog)
        for b in (self.undo_button, self.undo_to_button, self.revert_button, self.save_button):
            col.addWidget(b)
        col.addStretch()
        row.addLayout(col)
        bl.addLayout(row)
        for layout in (outer, bl, col):
            layout.setSpacing(4)
        top.addWidget(box, 2)
        outer.addLayout(top)

        self.prediction_label = _wrap(QLabel())
        theme().style_text(self.prediction_label, bold=True)
        outer.addWidget(self.prediction_label)
        row = QHBoxLayout()
        self.accuracy_label = _wrap(QLabel())
        row.addWidget(self.accuracy_label, 1)
        self.accuracy_progress = QProgressBar()
        self.accuracy_progress.setRange(0, 100)
        theme().style_size(self.accuracy_progress, maximum_width=140)
        self.accuracy_progress.setVisible(False)
        row.addWidget(self.accuracy_progress)
        self.browser_button = QPushButton("Test-set browser")
        self.browser_button.setToolTip("See which digits the model gets wrong now")
        self.browser_button.clicked.connect(lambda: self._state.panel_requested.emit("testset"))
        row.addWidget(self.browser_button)
        outer.addLayout(row)

        row = QHBoxLayout()
        self.original_view = MapView("Original")
        self.edited_view = MapView("Edited")
        self.diff_view = MapView("Difference (edited − original)")
        self.diff_view.set_colour_map(pg.colormap.get("CET-D1"))
        for view in (self.original_view, self.edited_view, self.diff_view):
            view.setMinimumSize(90, 90)
            row.addWidget(view)
        outer.addLayout(row, 1)
        self.diff_label = _wrap(QLabel())
        outer.addWidget(self.diff_label)
        self.message = MessageBar()
        outer.addWidget(self.message)

        undo = QShortcut(QKeySequence.StandardKey.Undo, self)
        undo.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        undo.activated.connect(self.undo)
        off = QShortcut(QKeySequence(Qt.Key.Key_Delete), self)
        off.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        off.activated.connect(self.switch_off_selected)

    # -- what is selected --------------------------------------------------------------
    def _key(self) -> str | None:
        return None if self._state.model is None else self._state.model.key

    def editable(self) -> tuple[str, int] | None:
        """(layer, channel) when the selection is a channel of a Conv2D or Dense layer."""
        from engine.editing.surgery import layer_edit_kind  # the model is loaded already

        state = self._state
        layer, channel = state.selection.layer, state.selection.map
        if state.model is None or layer is None:
            return None
        kind = layer_edit_kind(state.model.network, layer)
        return None if kind is None or channel is None else (layer, channel)

    # -- intents -----------------------------------------------------------------------
    def scale_selected(self) -> None:
        target = self.editable()
        if target is not None:
            self._settings.setValue("edit/factor", self.factor_spin.value())
            self.message.clear_message()
            self._state.scale_channel(self._key(), *target, self.factor_spin.value())

    def switch_off_selected(self) -> None:
        target = self.editable()
        if target is not None:
            self.message.clear_message()
            self._state.ablate_channels(self._key(), target[0], [target[1]])

    def restore_selected(self) -> None:
        target = self.editable()
        if target is not None:
            self.message.clear_message()
            self._state.restore_channels(self._key(), target[0], [target[1]])

    def undo(self) -> None:
        if self._key() is not None and self._state.edits():
            self._state.undo_edit(self._key())

    def undo_to_selected(self) -> None:
        row = self.edit_list.currentRow()
        if self._key() is not None and 0 <= row < len(self._state.edits()):
            self._state.undo_edit(self._key(), row)

    def revert_all(self) -> None:
        if self._key() is not None and self._state.edits():
            self._state.revert_edits(self._key())

    def save_dialog(self) -> None:
        key = self._key()
        if key is None or self._state.editor(key) is None:
            return
        start = Path(str(self._settings.value("edit/save_dir", str(Path.home()))))
        name = f"{key}_edited.keras"
        path, _ = QFileDialog.getSaveFileName(
            self, "Save the edited model", str(start / name), "Keras models (*.keras)"
        )
        if path:
            self._settings.setValue("edit/save_dir", str(Path(path).parent))
            self.save(Path(path) if path.endswith(".keras") else Path(path + ".keras"))

    def save(self, path: Path) -> None:
        """Write the edited model to ``path`` (.keras, atomically) off the UI thread."""
        editor = self._state.editor(self._key()) if self._key() else None
        if editor is None:
            self.message.show_error("Nothing to save: this model has no edits.")
            return
        self.save_button.setEnabled(False)
        names = self._state.model.loaded.class_names

        def job(_task):
            from engine.models.zoo import labels_file_for
            from engine.util.files import atomic_path

            saved = editor.save(path)
            if names:  # read by itself when the file is opened: NAME.labels.txt
                labels = labels_file_for(path)
                with atomic_path(labels, suffix=".txt") as tmp:
                    Path(tmp).write_text("\n".join(names) + "\n", encoding="utf-8")
            return saved

        self._state.request(
            job,
            on_result=lambda p: self.message.show_info(
                f"Saved {p}: open it with 'A model file (Keras, ONNX)…'"
            ),
            on_failed=lambda exc: self.message.show_error(f"Could not save {path.name}: {exc}"),
            on_done=lambda: self.save_button.setEnabled(True),
        )

    # -- views -------------------------------------------------------------------------
    def _on_edits_changed(self, key: str) -> None:
        if key == self._key():
            self._refresh()

    def _refresh(self) -> None:
        state = self._state
        key = self._key()
        edits = state.edits() if key else ()
        target = self.editable()
        layer, channel = state.selection.layer, state.selection.map
        if state.model is None:
            self.channel_label.setText("No model yet.")
        elif target is None:
            self.channel_label.setText(
                "Pick a channel of a convolution layer (click a map in 'All maps') to scale "
                "it, switch it off or restore it."
                if channel is None
                else f"{layer} is not a Conv2D or Dense layer: its channels have no weights "
                "of their own to edit."
            )
        else:
            touched = [e for e in edits if e.layer == layer and channel in e.channels]
            state_text = touched[-1].describe() if touched else "as trained"
            self.channel_label.setText(f"{layer}, channel {channel}: {state_text}.")
        for w in (self.scale_button, self.off_button, self.restore_button, self.factor_spin):
            w.setEnabled(target is not None)
        self.edit_list.clear()
        for e in edits:
            self.edit_list.addItem(e.describe())
        if not edits:
            self.edit_list.addItem("No edits: the model is as trained.")
        for b in (self.undo_button, self.undo_to_button, self.revert_button, self.save_button):
            b.setEnabled(bool(edits))
        self._show_accuracy()
        self._show_comparison()

    # -- the original beside the edited ------------------------------------------------
    def _show_comparison(self) -> None:
        state = self._state
        acts = state.activations
        original = state.original(self._key()) if self._key() else None
        if acts is None or original is None:
            self._clear_maps()
            trained = acts is None or acts.model.loaded.trained
            self.prediction_label.setText(
                ""
                if acts is None
                else "No edits yet: the model is "
                + ("as trained." if trained else "as built (untrained).")
            )
            self.diff_label.setText("")
            return
        shown = self._shown_original
        if shown is None or shown.model is not original or shown.input is not acts.input:
            self.prediction_label.setText("Computing the original model's answer…")
            self._compute_original(original, acts)  # shows it at once when it is cached
            return
        maps = shown.maps
        before, after = _top(original, maps), _top(acts.model, acts.maps)
        if before is not None and after is not None:
            changed = "" if before[0] == after[0] else "  (the answer changed)"
            self.prediction_label.setText(
                f"Original: {before[0]} ({before[1]:.1%}) → edited: {after[0]} "
                f"({after[1]:.1%}){changed}"
            )
        else:
            self.prediction_label.setText("")
        layer, index = state.selection.layer, state.selection.map
        a, b = maps.get(layer) if layer else None, acts.layer(layer)
        if a is None or b is None or a.ndim != 3 or index is None or index >= a.shape[2]:
            self._clear_maps()
            self.diff_label.setText("Click a map in 'All maps' to compare it.")
            return
        m0, m1 = a[:, :, index], b[:, :, index]
        lo = float(min(m0.min(), m1.min()))
        hi = float(max(m0.max(), m1.max()))
        levels = (lo, hi if hi > lo else lo + 1.0)
        self.original_view.set_image(m0, levels=levels)
        self.original_view.set_title(f"Original: {layer} map {index}")
        self.edited_view.set_image(m1, levels=levels)
        self.edited_view.set_title(f"Edited: {layer} map {index}")
        diff = m1.astype(np.float64) - m0
        peak = float(np.abs(diff).max())
        self.diff_view.set_image(diff, levels=(-peak, peak) if peak > 0 else (-1.0, 1.0))
        self.diff_label.setText(
            f"Largest change {peak:.4g}; {np.count_nonzero(diff) / diff.size:.0%} of the map's "
            "pixels changed. Same colour scale for original and edited."
        )

    def _clear_maps(self) -> None:
        for view, title in (
            (self.original_view, "Original"),
            (self.edited_view, "Edited"),
            (self.diff_view, "Difference (edited − original)"),
        ):
            view.clear_image()
            view.set_title(title)

    def _compute_original(self, original: OpenModel, acts: Activations) -> None:
        """The original model's activations for the same input, through the state (from
        its cache when they were computed before, e.g. before the first edit)."""

        def done(result: Activations) -> None:
            self._shown_original = result
            self._show_comparison()

        if self._original_ticket is not None:
            self._original_ticket.cancel()
        self._original_ticket = self._state.request_activations(
            original, acts.input, on_result=done, on_failed=self.message.show_exception
        )

    # -- test accuracy -----------------------------------------------------------------
    def _show_accuracy(self) -> None:
        state = self._state
        model = state.model
        if model is None or not model.loaded.spec.digit:
            self.accuracy_label.setText(
                "" if model is None else "Test accuracy is measured for the digit models."
            )
            self.browser_button.setVisible(False)
            return
        self.browser_button.setVisible(True)
        original = state.original(model.key) or model
        missing = [
            m
            for m in (original, model)
            if self._accuracy_of(m) is None and m.serial not in self._eval_failed
        ]
        if missing:
            self._evaluate(missing[0])
        a0, a1 = self._accuracy_of(original), self._accuracy_of(model)
        text = "…" if a0 is None else f"{a0:.1%}"
        if model is not original:
            text = f"trained {text} → edited {'…' if a1 is None else f'{a1:.1%}'}"
            if a0 is not None and a1 is not None:
                text += f" ({(a1 - a0) * 100:+.1f} points)".replace("-", "−")
        self.accuracy_label.setText(f"Test accuracy on {TEST_DIGITS} MNIST test digits: {text}")

    def _accuracy_of(self, model: OpenModel) -> float | None:
        found = self._state.scheduler.cached(evaluation_key(model, BUNDLED))
        return None if found is None else float(found.accuracy)

    def _evaluate(self, model: OpenModel) -> None:
        """Measure ``model``'s test accuracy in the background (one at a time)."""
        if self._eval_ticket is not None:
            if self._eval_model is model:
                return  # already being measured
            self._eval_ticket.cancel()

        def failed(exc: BaseException) -> None:
            self._eval_failed.add(model.serial)  # not asked again for this model
            self.message.show_error(f"Could not measure the test accuracy: {exc}")

        def ended() -> None:
            if self._eval_model is model:
                self._eval_ticket = self._eval_model = None
                self.accuracy_progress.setVisible(False)
                self._show_accuracy()  # the next one, if another edit came meanwhile

        self.accuracy_progress.setValue(0)
        self.accuracy_progress.setVisible(True)
        self._eval_model = model
        self._eval_ticket = self._state.request(
            lambda task: evaluate_bundled(model, task),
            key=evaluation_key(model, BUNDLED),
            priority=Priority.BATCH,
            on_failed=failed,
            on_progress=lambda f, _m: self.accuracy_progress.setValue(int(f * 100)),
            on_done=ended,
        )
