"""Channel triage for wide layers: the controls row above the "All maps" grid.

A layer of 512 maps is too many to read one by one. This row orders the grid by a
measure of each channel, keeps the top N and jumps to a channel by its number:

- channel number (the layer's own order);
- mean or maximum activation for the current input (``engine.editing.surgery.channel_stats``,
  numpy on the UI thread: a (H, W, C) array's means are instant);
- dead over a batch: the fraction of inputs for which the channel's map is all zero
  (``engine.editing.surgery.dead_fraction``): 200 real MNIST test digits for a digit model, the
  shipped sample photos and the current input for any other;
- ablation effect: how much the explained class's probability drops when that channel
  alone is switched off (``engine.editing.surgery.ablation_effect``), for every channel.

The orders and their arithmetic are the engine's (``engine.editing.triage``); this row
runs the last two on the model thread with progress and Cancel. Results are cached per
``OpenModel`` object (the state replaces it whenever its weights change, so an edited
model is ordered again), layer, and, where they depend on them, input and class.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any

import numpy as np
from PySide6.QtCore import QSettings, QSignalBlocker, Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from engine.editing.surgery import ablation_refusal
from engine.editing.triage import (
    ABLATION,
    CHANNEL,
    DEAD,
    DIGIT_BATCH,
    MAX,
    MEAN,
    SLOW,
    ChannelOrder,
    channel_order,
    dead_over_batch,
    digit_batch,
    photo_batch,
)
from gui.scheduler import Priority, Ticket
from gui.state import Activations, AppState, InputKind, OpenModel, Selection
from gui.widgets.progress_row import ProgressRow
from gui.workers import Task

log = logging.getLogger(__name__)

#: Order keys (stored in settings) and their labels; the ablation label names the class.
ORDERS = {
    CHANNEL: "Channel number",
    MEAN: "Mean activation",
    MAX: "Max activation",
    DEAD: "Dead over a batch",
    ABLATION: "Ablation effect on the class",
}
TIPS = {
    CHANNEL: "The layer's own order: channel 0, 1, 2, …",
    MEAN: "Strongest first: each map's mean activation for this input",
    MAX: "Strongest first: each map's largest activation for this input",
    DEAD: (
        "Most often dead first: the fraction of a batch of inputs (200 MNIST test digits "
        "for a digit model, the sample photos and this input otherwise) for which the "
        "channel's map is zero everywhere. Computed once per model and layer"
    ),
    ABLATION: (
        "Most needed first: how much the explained class's probability drops when that "
        "channel alone is switched off (its output set to 0), tried for every channel"
    ),
}

ResultKey = tuple[Any, ...]


#: Said of an order kept while live frames come (see ``TriageBar.order_for``).
LIVE_NOTE = "(ranked on the first live frame; kept while live)"


class ChannelSpin(QSpinBox):
    """A spin box that says when Enter is pressed in it.

    Signals
    -------
    entered(int)
        Enter or Return was pressed; the value.
    """

    entered = Signal(int)

    def keyPressEvent(self, event) -> None:
        super().keyPressEvent(event)
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            self.entered.emit(self.value())


class TriageBar(QWidget):
    """Order, top N and "go to channel" for the Activations panel's grid of maps.

    The panel asks ``order_for(acts, layer)`` whenever it draws the grid and tiles the
    channels it gets back; slow orders are computed off the UI thread and announced by
    ``order_changed``.

    Signals
    -------
    order_changed()
        What ``order_for`` returns changed (a choice, a finished computation): redraw.
    channel_chosen(int)
        The person asked to see this channel (typed its number and pressed Enter).
    failed(object)
        Computing an order failed; the exception.
    """

    order_changed = Signal()
    channel_chosen = Signal(int)
    failed = Signal(object)

    def __init__(self, state: AppState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._state = state
        self._settings = QSettings()
        # Results are the state's (its scheduler), under ("triage", model serial, kind,
        # layer, input serial or None, class or None).
        # Cancelled or failed: not started again until chosen again.
        self._stopped: dict[ResultKey, str] = {}  # key -> "cancelled" or "failed"
        self._ticket: Ticket | None = None
        self._pending: ResultKey | None = None
        self._pending_model: OpenModel | None = None
        self._generation = 0  # bumped whenever a result arrives, fails or is cancelled
        # The last answer of order_for: (acts, what else it depended on, the order).
        self._memo: tuple[Activations, tuple[Any, ...], ChannelOrder] | None = None
        self._context: tuple[OpenModel, str, int | None] | None = None  # what the combo shows
        self._build_ui()
        state.target_class_changed.connect(self._on_class_changed)
        state.selection_changed.connect(self._on_selection_changed)
        state.model_changed.connect(lambda _m: self._forget_closed_models())
        state.model_opened.connect(lambda _k: self._forget_closed_models())
        self.set_available(False)

    def _build_ui(self) -> None:
        row = QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        self.order_combo = QComboBox()
        for key, label in ORDERS.items():
            self.order_combo.addItem(label, key)
            self.order_combo.setItemData(
                self.order_combo.count() - 1, TIPS[key], Qt.ItemDataRole.ToolTipRole
            )
        self.order_combo.setToolTip("The order of the maps in the grid (hover an entry: why)")
        index = self.order_combo.findData(
            str(self._settings.value("activations/triage/order", CHANNEL))
        )
        self.order_combo.setCurrentIndex(max(index, 0))
        self.order_combo.activated.connect(self._on_order_chosen)
        self.order_combo.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
        )
        self.order_combo.setMinimumContentsLength(10)
        self.top_spin = QSpinBox()
        self.top_spin.setRange(0, 100_000)
        self.top_spin.setSpecialValueText("all")
        self.top_spin.setValue(int(self._settings.value("activations/triage/top", 0)))
        self.top_spin.setToolTip("Show only the first N maps of that order (0: all of them)")
        self.top_spin.valueChanged.connect(self._on_top_changed)
        self.go_spin = ChannelSpin()
        self.go_spin.setRange(0, 9999)
        self.go_spin.setMinimumWidth(self.go_spin.sizeHint().width())  # no jump per layer
        self.go_spin.setRange(0, 0)
        self.go_spin.setToolTip("Type a channel number and press Enter to enlarge that map")
        self.go_spin.entered.connect(self._on_go)
        self.order_label = QLabel("Order")
        self.top_label = QLabel("Show")
        self.go_label = QLabel("Go to channel")
        row.addWidget(self.order_label)
        row.addWidget(self.order_combo, 1)
        row.addWidget(self.top_label)
        row.addWidget(self.top_spin)
        row.addWidget(self.go_label)
        row.addWidget(self.go_spin)

        self.progress_box = ProgressRow(
            "Stop computing this order (the grid stays by channel)", self.cancel, with_label=True
        )
        self.progress_label = self.progress_box.label
        self.progress, self.cancel_button = (
            self.progress_box.progress,
            self.progress_box.cancel_button,
        )

        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addLayout(row)
        lay.addWidget(self.progress_box)

    # -- what the person chose -------------------------------------------------------------
    def order_key(self) -> str:
        """The chosen order's key (``"channel"``, ``"mean"``, ``"max"``, ``"dead"``, …)."""
        return str(self.order_combo.currentData())

    def top(self) -> int:
        """How many maps to show (0: all)."""
        return self.top_spin.value()

    def set_available(self, available: bool) -> None:
        """Enable the controls (a layer of maps is shown) or not (units, nothing)."""
        for w in (self.order_combo, self.top_spin, self.go_spin):
            w.setEnabled(available)

    def _on_order_chosen(self, _index: int) -> None:
        self._settings.setValue("activations/triage/order", self.order_key())
        self._stopped.clear()  # chosen again: compute what was cancelled or failed
        self._changed()

    def _on_top_changed(self, value: int) -> None:
        self._settings.setValue("activations/triage/top", value)
        self._changed()

    def _on_go(self, channel: int) -> None:
        if self.go_spin.isEnabled():
            self.channel_chosen.emit(channel)

    def _on_selection_changed(self, selection: Selection) -> None:
        if selection.map is not None and selection.map <= self.go_spin.maximum():
            with QSignalBlocker(self.go_spin):
                self.go_spin.setValue(selection.map)

    def _on_class_changed(self, _c: int | None) -> None:
        if self.order_key() == ABLATION:
            self._changed()

    def _changed(self) -> None:
        self._generation += 1
        self.order_changed.emit()

    def showEvent(self, event) -> None:
        super().showEvent(event)
        self._changed()  # a slow order waits until the grid is seen

    # -- the order ---------------------------------------------------------------------------
    def order_for(self, acts: Activations | None, layer: str | None) -> ChannelOrder | None:
        """The channels of ``layer`` to tile, in order, for ``acts``; None when the layer
        has no maps (H, W, C). A slow order not computed yet starts computing (only
        while this row is visible) and the channels come in their own order meanwhile."""
        raw = None if acts is None else acts.layer(layer)
        if raw is None or raw.ndim != 3:
            self.set_available(False)
            self._cancel_unless(None)
            self._memo = None
            return None
        c = self._state.explained_class()
        memo_key = (layer, self.order_key(), self.top(), c, self._generation)
        if self._memo is not None and self._memo[0] is acts and self._memo[1] == memo_key:
            return self._memo[2]
        self.set_available(True)
        self.go_spin.setRange(0, raw.shape[2] - 1)
        self._update_combo(acts, layer, c)
        before = self._memo
        order = self._order(acts, layer, raw, c)
        if (
            order.by in (MEAN, MAX)
            and acts.input.kind is InputKind.LIVE
            and before is not None
            and before[1] == memo_key
            and before[0].input.kind is InputKind.LIVE
            and before[0].model is acts.model
        ):
            # Live frames: ranked once, on the first frame, so each tile keeps its channel
            # while the frames change (re-ranked every frame, no map could be followed).
            order = before[2]
            if LIVE_NOTE not in order.title:
                order = replace(order, title=f"{order.title} {LIVE_NOTE}")
        self._memo = (acts, memo_key, order)
        return order

    def _order(self, acts: Activations, layer: str, raw: np.ndarray, c: int | None) -> ChannelOrder:
        by, total = self.order_key(), raw.shape[2]
        note = ""
        values = None
        if by in (MEAN, MAX):
            from engine.editing.surgery import channel_stats

            stats = self._state.scheduler.memo(
                ("channel stats", acts.model.serial, acts.input.serial, layer),
                lambda: channel_stats(raw),
            )
            values = stats.mean if by == MEAN else stats.maximum
            self._cancel_unless(None)
        elif by in SLOW:
            key = self._key(acts, layer, by, c)
            refusal = ""
            if by == ABLATION and c is None:
                refusal = "the model's output is not class scores"
            elif by == ABLATION and self._refusal(acts.model, layer):
                refusal = (
                    f"{layer} does not feed one chain of layers to the output (a branch: "
                    "residual or inception block)"
                )
            elif by == ABLATION and acts.input.kind is InputKind.LIVE:
                refusal = (
                    "not for live frames, each replaced before it is measured; stop the live input"
                )
            if refusal:
                self._cancel_unless(None)
                note = f"(no ablation effect: {refusal})"
            elif self._state.scheduler.cached(key) is not None:
                self._cancel_unless(None)
                values = self._state.scheduler.cached(key)
            elif key in self._stopped:
                self._cancel_unless(None)
                word = self._stopped[key]
                note = f"({self._measure(acts, by, c)} {word}: choose the order again to compute)"
            else:
                note = f"({self._measure(acts, by, c)}: computing…)"
                if self.isVisible():
                    self._start(acts, layer, by, c, key)
        else:
            self._cancel_unless(None)
        if values is None:
            return channel_order(total, self.top(), note=note)
        return channel_order(total, self.top(), values, by, self._measure(acts, by, c))

    def _measure(self, acts: Activations, by: str, c: int | None) -> str:
        if by == DEAD:
            over = (
                f"{DIGIT_BATCH} test digits"
                if acts.model.loaded.spec.digit
                else "the sample photos and this input"
            )
            return f"dead fraction over {over}"
        if by == ABLATION:
            name = "?" if c is None else acts.model.loaded.class_name(c)
            return f"ablation effect on p('{name}')"
        return {MEAN: "mean activation", MAX: "max activation"}.get(by, "channel number")

    @staticmethod
    def _key(acts: Activations, layer: str, by: str, c: int | None) -> ResultKey:
        model = acts.model
        if by == DEAD:  # a digit model's batch does not depend on the input
            serial = None if model.loaded.spec.digit else acts.input.serial
            return ("triage", model.serial, DEAD, layer, serial, None)
        return ("triage", model.serial, ABLATION, layer, acts.input.serial, c)

    def _refusal(self, model: OpenModel, layer: str) -> str:
        return self._state.scheduler.memo(
            ("ablation refusal", model.serial, layer),
            lambda: ablation_refusal(model.network, layer),
        )

    def _update_combo(self, acts: Activations, layer: str, c: int | None) -> None:
        """Name the class in the ablation entry; disable it where the engine refuses."""
        old = self._context
        if old is not None and old[0] is acts.model and old[1:] == (layer, c):
            return
        self._context = (acts.model, layer, c)
        index = self.order_combo.findData(ABLATION)
        refusal = self._refusal(acts.model, layer)
        if c is None:
            refusal = refusal or "the model's output is not class scores"
        name = "the class" if c is None else f"'{acts.model.loaded.class_name(c)}'"
        self.order_combo.setItemText(index, f"Ablation effect on {name}")
        item = self.order_combo.model().item(index)
        item.setEnabled(not refusal)
        tip = TIPS[ABLATION] if not refusal else f"Not for {layer}: {refusal}"
        self.order_combo.setItemData(index, tip, Qt.ItemDataRole.ToolTipRole)

    def ablation_available(self) -> bool:
        """Whether the ablation order can be chosen for the layer shown."""
        index = self.order_combo.findData(ABLATION)
        return self.order_combo.model().item(index).isEnabled()

    # -- computing ---------------------------------------------------------------------------
    def _start(self, acts: Activations, layer: str, by: str, c: int | None, key: ResultKey) -> None:
        if key == self._pending:
            return
        self._cancel_unless(None)
        model = acts.model
        if by == DEAD:
            digit = model.loaded.spec.digit

            shown = acts.input.name if acts.input.kind is InputKind.SAMPLE else None

            def measure(task: Task) -> np.ndarray:
                loaded = model.loaded
                inputs = digit_batch(loaded) if digit else photo_batch(loaded, acts.x, shown)
                return dead_over_batch(
                    model.network, layer, inputs, progress=task.progress, cancelled=task.cancelled
                )

        else:

            def measure(task: Task) -> np.ndarray:
                from engine.editing.surgery import ablation_effect

                return ablation_effect(
                    model.network,
                    layer,
                    acts.x[None],
                    c,
                    progress=task.progress,
                    cancelled=task.cancelled,
                )

        self._pending, self._pending_model = key, model
        self.progress.setValue(0)
        self.progress_label.setText(f"Ordering {layer} by {self._measure(acts, by, c)}…")
        self.progress_box.setVisible(True)
        def job(task: Task) -> np.ndarray:
            v = np.asarray(measure(task), np.float64)
            v.setflags(write=False)
            return v

        # Batch work: a new input or layer runs between two of its steps.
        self._ticket = self._state.request(
            job,
            key=key,
            priority=Priority.BATCH,
            on_progress=lambda f, _m: self._on_progress(key, f),
            on_result=lambda _values: self._changed(),
            on_failed=lambda exc: self._on_failed(key, exc),
            on_done=lambda: self._on_done(key),
        )

    def _on_progress(self, key: ResultKey, fraction: float) -> None:
        if key == self._pending:
            self.progress.setValue(int(fraction * 1000))

    def _on_failed(self, key: ResultKey, exc: BaseException) -> None:
        # InterruptedError is the engine's word for cancelled; a computation superseded
        # meanwhile (another layer, input or order) is of no interest any more.
        if isinstance(exc, InterruptedError) or key != self._pending:
            return
        self._stopped[key] = "failed"
        self.failed.emit(exc)
        self._changed()

    def _on_done(self, key: ResultKey) -> None:
        if key == self._pending:
            self._pending = self._pending_model = self._ticket = None
            self.progress_box.setVisible(False)

    def _cancel_unless(self, key: ResultKey | None) -> None:
        """Stop the running computation unless it computes ``key`` (its result is
        dropped: a later request starts it again)."""
        if self._pending is None or self._pending == key:
            return
        # A computation superseded is not "stopped": asked for again, it starts again.
        ticket, self._ticket, self._pending = self._ticket, None, None
        self._pending_model = None
        if ticket is not None:
            ticket.cancel()
        self.progress_box.setVisible(False)

    def cancel(self) -> None:
        """Stop the order being computed; the grid shows the channels by number until the
        order is chosen again."""
        key, ticket = self._pending, self._ticket
        self._ticket = self._pending = None
        self.progress_box.setVisible(False)
        if ticket is not None:
            ticket.cancel()
        if key is not None and self._pending_model is not None:
            self._stopped[key] = "cancelled"
        self._pending_model = None
        self._changed()

    def is_computing(self) -> bool:
        return self._pending is not None

    def values(self) -> np.ndarray | None:
        """The measure of every channel in the order shown last (None by number)."""
        return None if self._memo is None else self._memo[2].values

    # -- the caches follow the open models ---------------------------------------------------
    def _forget_closed_models(self) -> None:
        """Drop what was computed for models no longer open (a replaced, edited one)."""
        alive = {m.serial for m in self._state.in_use()}
        self._stopped = {k: v for k, v in self._stopped.items() if k[1] in alive}
        self._memo = None
        self._context = None
