"""Stride & padding: step a window across an N x N input, for convolution and pooling."""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
from PySide6.QtCore import QSettings, QSignalBlocker, Qt, QTimer, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSlider,
    QSpinBox,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from engine.arithmetic.convolution import (
    StrideFit,
    Window,
    conv2d,
    fit_report,
    pool2d,
    resolve_padding,
    window_arithmetic,
    window_positions,
)
from engine.arithmetic.kernels import preset
from engine.teaching import lecture
from engine.teaching.scene import MAX_STRIDE_SIZE as MAX_SIZE
from engine.teaching.scene import OPERATIONS, plain
from gui.panels.base import Panel
from gui.theme import theme
from gui.widgets.cell_grid import CellGrid
from gui.widgets.kernel_grid import KernelGrid

# Keys identify operations and value sources (in code and in QSettings); the labels are
# only for display, so renaming one never breaks a saved set-up.
CONV, MAX, AVG = "conv", "max", "avg"  # engine.arithmetic.convolution's Operation keys
OPERATION_LABELS = {CONV: "Convolution", MAX: "Max pooling", AVG: "Average pooling"}
LECTURE, RANDOM, BINARY, TYPED = "lecture", "random", "binary", "typed"
VALUE_LABELS = {
    LECTURE: "Lecture example",
    RANDOM: "Random small integers",
    BINARY: "0/1 pattern",
    TYPED: "Typed by hand",
}
CUSTOM = "custom"  # the preset combo's entry for a set-up of one's own


@dataclass(frozen=True)
class Preset:
    key: str
    name: str
    op: str
    n: int
    f: int
    stride: int
    padding: str
    values: np.ndarray | None = None  # None: the 7x7 demo grid
    kernel: np.ndarray | None = None


def _demo_7x7() -> np.ndarray:
    return np.random.default_rng(7).integers(0, 4, size=(7, 7))


PRESETS = (
    Preset("stride1", "7x7, F=3, stride 1 -> 5x5", CONV, 7, 3, 1, "0"),
    Preset("stride2", "7x7, F=3, stride 2 -> 3x3", CONV, 7, 3, 2, "0"),
    Preset("stride3", "7x7, F=3, stride 3 -> does not fit", CONV, 7, 3, 3, "0"),
    Preset("pad1", "7x7, F=3, stride 1, pad 1 -> 7x7", CONV, 7, 3, 1, "1"),
    Preset("maxpool", "Max pool 2x2, stride 2 on the 4x4", MAX, 4, 2, 2, "0", lecture.POOL_4X4),
    Preset(
        "xkernel",
        "5x5 binary image with the X kernel",
        CONV,
        5,
        3,
        1,
        "0",
        lecture.BINARY_5X5,
        lecture.X_KERNEL,
    ),
)
PRESET_BY_KEY = {p.key: p for p in PRESETS}


def _select_key(combo: QComboBox, key: str) -> bool:
    """Show the entry whose data is ``key``; False (and no change) if there is none."""
    index = combo.findData(key)
    if index >= 0:
        combo.setCurrentIndex(index)
    return index >= 0


def _grid_to_text(values: np.ndarray) -> str:
    return json.dumps(np.asarray(values, dtype=float).tolist())


def _grid_from_text(text: object, size: int) -> np.ndarray | None:
    """A saved (size, size) grid of finite numbers, or None when it is not one."""
    try:
        grid = np.asarray(json.loads(str(text)), dtype=float)
    except (TypeError, ValueError):
        return None
    if grid.shape != (size, size) or not np.all(np.isfinite(grid)):
        return None
    return grid


class StridePanel(Panel):
    """Step (or play) the window; see the padded border, the window, the output cell,
    the arithmetic of that cell and the output-size formula with its numbers.

    Home / End / Left / Right / Space step (and play) wherever the focus is in the
    panel, a drop-down included; only a field being typed into (a spin box's text, the
    padding box, a grid cell) keeps those keys for moving its text cursor or its cell.
    Rows, columns and cells are counted from 0 in every text. The whole set-up is
    remembered (QSettings, by key).

    Signals
    -------
    step_changed(int)
        The index of the window now shown.
    """

    step_changed = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self._settings = QSettings()
        self._remember = True
        self._values = _demo_7x7().astype(float)
        self._kernel = preset("Lecture X")
        self._windows: list[Window] = []
        self._output = np.zeros((0, 0))
        self._fit: StrideFit | None = None
        self._step = 0
        self._timer = QTimer(self)
        self._timer.timeout.connect(self._on_tick)
        self._build_ui()
        self._restore_settings()

    # -- construction ------------------------------------------------------------------
    def _build_ui(self) -> None:
        controls = QVBoxLayout()
        box = QGroupBox("Set-up")
        form = QFormLayout(box)
        self.preset_combo = QComboBox()
        self.preset_combo.addItem("(custom)", CUSTOM)
        for p in PRESETS:
            self.preset_combo.addItem(p.name, p.key)
        self.preset_combo.setToolTip("Replay a slide of the lecture")
        self.preset_combo.activated.connect(
            lambda i: self.apply_preset(self.preset_combo.itemData(i))
        )
        form.addRow("Lecture slide", self.preset_combo)
        self.op_combo = QComboBox()
        for key, label in OPERATION_LABELS.items():
            self.op_combo.addItem(label, key)
        self.op_combo.setToolTip("Slide a kernel (weighted sum) or pool (max / average)")
        form.addRow("Operation", self.op_combo)
        self.n_spin = self._spin(3, MAX_SIZE, "Input size N (an N x N grid)")
        form.addRow("Input N", self.n_spin)
        self.f_spin = self._spin(1, 7, "Window (filter) size F")
        form.addRow("Filter F", self.f_spin)
        self.s_spin = self._spin(1, 8, "Stride S: how far the window moves per step")
        form.addRow("Stride S", self.s_spin)
        self.p_combo = QComboBox()
        self.p_combo.setEditable(True)
        self.p_combo.addItems(["0", "1", "2", "3", "same"])
        self.p_combo.setToolTip("Padding P: zero rows and columns around the input, or 'same'")
        form.addRow("Padding P", self.p_combo)
        self.values_combo = QComboBox()
        for key, label in VALUE_LABELS.items():
            self.values_combo.addItem(label, key)
        self.values_combo.setToolTip("The numbers in the input grid")
        form.addRow("Input values", self.values_combo)
        controls.addWidget(box)
        for w in (self.op_combo, self.values_combo):
            w.activated.connect(self._on_setup_changed)
        for w in (self.n_spin, self.f_spin, self.s_spin):
            w.valueChanged.connect(self._on_setup_changed)
        self.p_combo.currentTextChanged.connect(self._on_setup_changed)

        self.edit_tabs = QTabWidget()
        self.kernel_grid = KernelGrid(3)
        self.kernel_grid.kernel_changed.connect(self._on_kernel_typed)
        self.values_grid = KernelGrid(7)
        self.values_grid.setToolTip("Type the input's numbers here")
        self.values_grid.kernel_changed.connect(self._on_values_typed)
        self.edit_tabs.addTab(self.kernel_grid, "Kernel")
        self.edit_tabs.addTab(self.values_grid, "Input values")
        controls.addWidget(self.edit_tabs, 1)

        nav = QHBoxLayout()
        self.first_button = self._button("|<", "First window (Home)", self.first)
        self.back_button = self._button("<", "Step back (Left)", self.step_back)
        self.play_button = self._button("Play", "Play / pause (Space)", self.toggle_play)
        self.next_button = self._button(">", "Step forward (Right)", self.step_forward)
        self.last_button = self._button(">|", "Last window (End)", self.last)
        for b in (
            self.first_button,
            self.back_button,
            self.play_button,
            self.next_button,
            self.last_button,
        ):
            nav.addWidget(b)
        controls.addLayout(nav)
        row = QHBoxLayout()
        row.addWidget(QLabel("Speed"))
        self.speed_slider = QSlider(Qt.Orientation.Horizontal)
        self.speed_slider.setRange(1, 10)
        self.speed_slider.setValue(4)
        self.speed_slider.setToolTip("Steps per second when playing")
        self.speed_slider.valueChanged.connect(self._on_speed_changed)
        row.addWidget(self.speed_slider, 1)
        controls.addLayout(row)

        right = QVBoxLayout()
        self.formula_label = QLabel()
        theme().style_text(self.formula_label, 15, bold=True)
        self.formula_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        right.addWidget(self.formula_label)
        self.fit_label = QLabel()
        self.fit_label.setWordWrap(True)
        theme().style_text(self.fit_label)  # its colour style sheet would fix its size
        right.addWidget(self.fit_label)
        self.suggestion_row = QHBoxLayout()
        right.addLayout(self.suggestion_row)
        grids = QHBoxLayout()
        self.input_grid = CellGrid()
        self.output_grid = CellGrid()
        self.output_grid.cell_clicked.connect(self._on_output_clicked)
        self.output_grid.setToolTip("Click a cell to jump to the window that produces it")
        grids.addWidget(self.input_grid, 3)
        grids.addWidget(self.output_grid, 2)
        right.addLayout(grids, 1)
        self.step_label = QLabel()
        self.step_label.setWordWrap(True)
        right.addWidget(self.step_label)
        self.arithmetic_label = QLabel()
        self.arithmetic_label.setWordWrap(True)
        theme().style_text(self.arithmetic_label, 14, mono=True)
        self.arithmetic_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        right.addWidget(self.arithmetic_label)

        outer = QHBoxLayout(self)
        left = QWidget()
        left.setLayout(controls)
        theme().style_size(left, maximum_width=360)  # wider with bigger text
        self.controls = left
        outer.addWidget(left)
        outer.addLayout(right, 1)

        # Window-level shortcuts, not keyPressEvent: they reach the stepper from any
        # child (a drop-down, a button) without the panel itself having the focus. A
        # text field being edited claims Left/Right/Home/End first (ShortcutOverride),
        # so typing a number keeps its cursor keys.
        for key, slot in (
            (Qt.Key.Key_Right, self.step_forward),
            (Qt.Key.Key_Left, self.step_back),
            (Qt.Key.Key_Home, self.first),
            (Qt.Key.Key_End, self.last),
            (Qt.Key.Key_Space, self.toggle_play),
        ):
            shortcut = QShortcut(QKeySequence(key), self)
            shortcut.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            shortcut.activated.connect(slot)

    def _spin(self, lo: int, hi: int, tip: str) -> QSpinBox:
        spin = QSpinBox()
        spin.setRange(lo, hi)
        spin.setToolTip(tip)
        return spin

    def _button(self, text: str, tip: str, slot) -> QPushButton:
        b = QPushButton(text)
        b.setToolTip(tip)
        b.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # keys stay with the panel
        b.clicked.connect(slot)
        return b

    # -- set-up --------------------------------------------------------------------------
    def apply_preset(self, key: str) -> None:
        """Load one of the lecture's slides by its key (``PRESETS[i].key``); the custom
        entry (or an unknown key) leaves the set-up as it is."""
        match = PRESET_BY_KEY.get(key)
        if match is None:
            return
        values = match.values if match.values is not None else _demo_7x7()
        scene = {
            "operation": next(k for k, v in OPERATIONS.items() if v == match.op),
            "filter": match.f,
            "stride": match.stride,
            "padding": match.padding,
            "input": np.asarray(values).tolist(),
        }
        if match.kernel is not None:
            scene["kernel"] = np.asarray(match.kernel).tolist()
        self._apply(scene, LECTURE)

    def _default_kernel(self, f: int) -> np.ndarray:
        return preset("Lecture X") if f == 3 else np.ones((f, f))

    def operation(self) -> str:
        """The operation's key: ``CONV``, ``MAX`` or ``AVG``."""
        return str(self.op_combo.currentData())

    def values_source(self) -> str:
        """The input values' key: ``LECTURE``, ``RANDOM``, ``BINARY`` or ``TYPED``."""
        return str(self.values_combo.currentData())

    def preset_key(self) -> str:
        """The lecture slide shown (a ``PRESETS`` key), or ``CUSTOM``."""
        return str(self.preset_combo.currentData())

    def _on_setup_changed(self, *_args: object) -> None:
        with QSignalBlocker(self.preset_combo):
            _select_key(self.preset_combo, CUSTOM)
        n, f = self.n_spin.value(), self.f_spin.value()
        source = self.values_source()
        rng = np.random.default_rng(n * 100 + f)
        if source == RANDOM or (source == LECTURE and self._values.shape != (n, n)):
            self._values = rng.integers(0, 10, size=(n, n)).astype(float)
        elif source == BINARY:
            self._values = rng.integers(0, 2, size=(n, n)).astype(float)
        elif self._values.shape != (n, n):  # typed: keep what fits, zeros elsewhere
            new = np.zeros((n, n))
            m = min(n, self._values.shape[0])
            new[:m, :m] = self._values[:m, :m]
            self._values = new
        if self._kernel.shape != (f, f):
            self._kernel = self._default_kernel(f)
        self._rebuild()

    def _on_kernel_typed(self, kernel: np.ndarray) -> None:
        self._kernel = kernel
        with QSignalBlocker(self.preset_combo):  # no longer the slide's kernel
            _select_key(self.preset_combo, CUSTOM)
        self._rebuild(keep_step=True)

    def _on_values_typed(self, values: np.ndarray) -> None:
        self._values = values
        with QSignalBlocker(self.values_combo), QSignalBlocker(self.preset_combo):
            _select_key(self.values_combo, TYPED)
            _select_key(self.preset_combo, CUSTOM)
        self._rebuild(keep_step=True)

    # -- settings ------------------------------------------------------------------------
    def _restore_settings(self) -> None:
        """Rebuild the saved set-up (a lecture slide, or the controls one by one)."""
        s = self._settings
        with QSignalBlocker(self.speed_slider):
            self.speed_slider.setValue(_int(s.value("stride/speed"), 4, 1, 10))
        saved = str(s.value("stride/preset", PRESETS[1].key))
        if saved in PRESET_BY_KEY:
            self.apply_preset(saved)
            return
        widgets = (self.op_combo, self.n_spin, self.f_spin, self.s_spin, self.p_combo)
        blockers = [QSignalBlocker(w) for w in (*widgets, self.values_combo)]
        _select_key(self.op_combo, str(s.value("stride/op", CONV)))
        self.n_spin.setValue(_int(s.value("stride/n"), 7, 3, MAX_SIZE))
        self.f_spin.setValue(_int(s.value("stride/f"), 3, 1, 7))
        self.s_spin.setValue(_int(s.value("stride/stride"), 1, 1, 8))
        self.p_combo.setCurrentText(str(s.value("stride/padding", "0")))
        source = str(s.value("stride/values", LECTURE))
        if not _select_key(self.values_combo, source):
            _select_key(self.values_combo, LECTURE)
        del blockers
        n, f = self.n_spin.value(), self.f_spin.value()
        kernel = _grid_from_text(s.value("stride/kernel"), f)
        typed = _grid_from_text(s.value("stride/typed_values"), n)
        if source == TYPED and typed is not None:
            self._values = typed
        self._on_setup_changed()
        if kernel is not None:
            self._kernel = kernel
            self._rebuild()

    def _save_settings(self) -> None:
        if not self._remember:
            return
        s = self._settings
        s.setValue("stride/preset", self.preset_key())
        s.setValue("stride/op", self.operation())
        s.setValue("stride/n", self.n_spin.value())
        s.setValue("stride/f", self.f_spin.value())
        s.setValue("stride/stride", self.s_spin.value())
        s.setValue("stride/padding", self.p_combo.currentText())
        s.setValue("stride/values", self.values_source())
        s.setValue("stride/kernel", _grid_to_text(self._kernel))
        if self.values_source() == TYPED:
            s.setValue("stride/typed_values", _grid_to_text(self._values))

    # -- computation ---------------------------------------------------------------------
    def padding(self) -> int:
        return resolve_padding(self.p_combo.currentText(), self.f_spin.value())

    def _rebuild(self, keep_step: bool = False) -> None:
        self.stop()
        self._save_settings()
        n, f, s = self.n_spin.value(), self.f_spin.value(), self.s_spin.value()
        op = self.operation()
        with QSignalBlocker(self.values_grid):
            self.values_grid.set_kernel(self._values)
        with QSignalBlocker(self.kernel_grid):
            self.kernel_grid.set_kernel(self._kernel)
        self.edit_tabs.setTabEnabled(0, op == CONV)
        self._clear_suggestions()
        try:
            p = self.padding()
            fit = fit_report(n, f, s, p)
        except ValueError as exc:
            self._show_problem(str(exc))
            return
        self._fit = fit
        x = self._values
        if op == CONV:
            self._output = conv2d(x, self._kernel, stride=s, padding=p)
        else:
            self._output = pool2d(x, size=f, stride=s, mode=op, padding=p)
        self._windows = window_positions(n, f, s, p)
        self.input_grid.set_values(x, pad=p, missed=fit.missed)
        self._show_formula(fit)
        self._step = min(self._step, len(self._windows) - 1) if keep_step else 0
        self._show_step()

    def _show_problem(self, message: str) -> None:
        self._fit = None
        self._windows = []
        self._output = np.zeros((0, 0))
        self.input_grid.set_values(self._values)
        self.output_grid.set_values(np.zeros((0, 0)))
        self.formula_label.setText("(N - F + 2P)/S + 1 = ?")
        self.fit_label.setStyleSheet("color: #b00020;")
        self.fit_label.setText(message)
        self.arithmetic_label.setText("")
        self.step_label.setText("")

    def _show_formula(self, fit: StrideFit) -> None:
        self.formula_label.setText(fit.formula())
        lines = []
        if self.p_combo.currentText().strip().lower() == "same":
            same = f"'Same' padding: P = (F - 1)/2 = ({fit.f} - 1)/2 = {fit.padding}; "
            if fit.stride == 1:
                same += f"the output keeps the input's size {fit.n}x{fit.n}."
            else:
                same += f"it keeps the input's size only at stride 1 (here stride {fit.stride})."
            lines.append(same)
        if fit.fits:
            self.fit_label.setStyleSheet("")
            lines.append(
                f"The window fits {fit.size} times across and down: output {fit.size}x{fit.size}."
            )
        else:
            self.fit_label.setStyleSheet("color: #b00020;")
            padded = fit.n + 2 * fit.padding
            start = (fit.size - 1) * fit.stride
            lines.append(
                f"Stride {fit.stride} does not fit: {fit.exact:.2f} is not a whole number. "
                f"The last window covers columns {start} to {start + fit.f - 1} of the padded "
                f"input's 0 to {padded - 1} (counting from 0), so the last {fit.missed} "
                f"row(s) and column(s) (shaded) are never covered; frameworks drop them and "
                f"give {fit.size}x{fit.size}."
            )
            for stride, padding, size in fit.suggestions:
                self._add_suggestion(stride, padding, size)
        self.fit_label.setText("\n".join(lines))

    def _clear_suggestions(self) -> None:
        while self.suggestion_row.count():
            item = self.suggestion_row.takeAt(0)
            if item.widget():
                item.widget().deleteLater()

    def _add_suggestion(self, stride: int, padding: int, size: int) -> None:
        text = (
            f"Use stride {stride}" if stride != self.s_spin.value() else f"Use padding {padding}"
        ) + f" ({size}x{size} output)"
        button = QPushButton(text)
        button.setToolTip("A stride or padding that fits exactly")
        button.setFocusPolicy(Qt.FocusPolicy.NoFocus)

        def apply() -> None:
            with QSignalBlocker(self.s_spin), QSignalBlocker(self.p_combo):
                self.s_spin.setValue(stride)
                self.p_combo.setCurrentText(str(padding))
            self._on_setup_changed()

        button.clicked.connect(apply)
        self.suggestion_row.addWidget(button)

    def suggestions(self) -> list[str]:
        return [
            self.suggestion_row.itemAt(i).widget().text()
            for i in range(self.suggestion_row.count())
        ]

    # -- stepping ------------------------------------------------------------------------
    def _show_step(self) -> None:
        if not self._windows:
            return
        w = self._windows[self._step]
        f = self.f_spin.value()
        shown = np.full(self._output.shape, np.nan)
        flat = shown.reshape(-1)
        flat[: self._step + 1] = self._output.reshape(-1)[: self._step + 1]
        self.output_grid.set_values(shown)
        self.output_grid.set_title(f"Output {self._output.shape[0]}x{self._output.shape[1]}")
        self.input_grid.set_title(
            f"Input {self.n_spin.value()}x{self.n_spin.value()} + padding {self._fit.padding}"
        )
        self.output_grid.set_active_cell(w.row, w.col)
        self.input_grid.set_window(w.top, w.left, f)
        self.step_label.setText(
            f"Step {self._step + 1} of {len(self._windows)}: window at row {w.top}, column "
            f"{w.left} of the padded input -> output cell ({w.row}, {w.col}) "
            "(rows and columns count from 0)"
        )
        self.arithmetic_label.setText(self.arithmetic_for(w))
        self.step_changed.emit(self._step)

    def arithmetic_for(self, w: Window) -> str:
        """The arithmetic of window ``w``'s output cell, written by the engine."""
        op = self.operation()
        kernel = self._kernel if op == CONV else None
        padding = self._fit.padding if self._fit is not None else 0
        return window_arithmetic(
            self._values,
            kernel,
            op,
            self.s_spin.value(),
            padding,
            w.row,
            w.col,
            size=self.f_spin.value(),
        ).text()

    def step(self) -> int:
        return self._step

    def window_count(self) -> int:
        return len(self._windows)

    def go_to(self, index: int) -> None:
        if self._windows:
            self._step = max(0, min(index, len(self._windows) - 1))
            self._show_step()

    def step_forward(self) -> None:
        self.go_to(self._step + 1)

    def step_back(self) -> None:
        self.go_to(self._step - 1)

    def first(self) -> None:
        self.go_to(0)

    def last(self) -> None:
        self.go_to(len(self._windows) - 1)

    def _on_output_clicked(self, row: int, col: int) -> None:
        for i, w in enumerate(self._windows):
            if (w.row, w.col) == (row, col):
                self.go_to(i)
                return

    def is_playing(self) -> bool:
        return self._timer.isActive()

    def toggle_play(self) -> None:
        if self.is_playing():
            self.stop()
            return
        if self._step >= len(self._windows) - 1:
            self.first()
        self._timer.start(int(1000 / self.speed_slider.value()))
        self.play_button.setText("Pause")

    def stop(self) -> None:
        self._timer.stop()
        self.play_button.setText("Play")

    def _on_tick(self) -> None:
        if self._step >= len(self._windows) - 1:
            self.stop()
        else:
            self.step_forward()

    def _on_speed_changed(self, value: int) -> None:
        if self._remember:
            self._settings.setValue("stride/speed", value)
        if self.is_playing():
            self._timer.setInterval(int(1000 / value))

    # -- scenes --------------------------------------------------------------------------
    def scene(self) -> dict:
        padding = self.p_combo.currentText().strip().lower()
        scene = {
            "panel": "stride",
            "operation": next(k for k, v in OPERATIONS.items() if v == self.operation()),
            "size": self.n_spin.value(),
            "filter": self.f_spin.value(),
            "stride": self.s_spin.value(),
            "padding": int(padding) if padding.isdigit() else padding,
            "input": plain(self._values),
            "step": self._step,
        }
        if self.operation() == CONV:
            scene["kernel"] = plain(self._kernel)
        return scene

    def apply_scene(self, scene: dict) -> None:
        self._apply(scene, TYPED if "input" in scene else LECTURE)

    def _apply(self, scene: dict, source: str) -> None:
        """Set the panel up as ``scene`` says; ``source`` names where its values come
        from (the lecture's own, or typed)."""
        kernel = scene.get("kernel")
        values = scene.get("input")
        f = len(kernel) if kernel is not None else scene.get("filter", self.f_spin.value())
        n = len(values) if values is not None else scene.get("size", self.n_spin.value())
        padding = str(scene.get("padding", 0)).replace("valid", "0")
        widgets = (
            self.preset_combo,
            self.op_combo,
            self.n_spin,
            self.f_spin,
            self.s_spin,
            self.p_combo,
            self.values_combo,
        )
        blockers = [QSignalBlocker(w) for w in widgets]
        _select_key(self.op_combo, OPERATIONS[scene.get("operation", "convolution")])
        self.n_spin.setValue(n)
        self.f_spin.setValue(f)
        if "stride" in scene:
            self.s_spin.setValue(scene["stride"])
        self.p_combo.setCurrentText(padding)
        _select_key(self.values_combo, source)
        _select_key(self.preset_combo, CUSTOM)
        del blockers
        self._kernel = (
            np.asarray(kernel, dtype=float) if kernel is not None else self._default_kernel(f)
        )
        if values is not None:
            self._values = np.asarray(values, dtype=float)
        else:
            self._on_setup_changed()
        # The lecture's own set-up is named as such in the Lecture slide box.
        for p in PRESETS:
            if (
                (p.op, p.n, p.f, p.stride, p.padding)
                == (self.operation(), n, f, self.s_spin.value(), padding)
                and (p.values is None or np.array_equal(p.values, self._values))
                and (p.op != CONV or p.kernel is None or np.array_equal(p.kernel, self._kernel))
            ):
                with QSignalBlocker(self.preset_combo):
                    _select_key(self.preset_combo, p.key)
                break
        self.edit_tabs.setCurrentIndex(0 if self.operation() == CONV else 1)
        self._rebuild()
        self.go_to(scene.get("step", 0))

    def prepare_screenshot(self) -> None:
        self._remember = False  # a screenshot run leaves the person's set-up alone
        self.apply_preset(PRESETS[1].key)
        self.go_to(1)


def _int(value: object, default: int, lo: int, hi: int) -> int:
    """A saved integer within [lo, hi], or ``default`` when it is not one."""
    try:
        number = int(str(value))
    except ValueError:
        return default
    return number if lo <= number <= hi else default


if __name__ == "__main__":
    from gui.preview import preview

    preview(lambda _state: StridePanel(), (1200, 750), tensorflow=False)
