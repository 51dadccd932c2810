"""Edit > Preferences: the memory the app may keep results and extra models in."""

from __future__ import annotations

from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from gui.state import AppState


class PreferencesDialog(QDialog):
    """The result budget (MB): what is held now, and the limit, remembered."""

    def __init__(self, state: AppState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._state = state
        self.setWindowTitle("Preferences")
        self.budget_spin = QSpinBox()
        self.budget_spin.setRange(64, 65536)
        self.budget_spin.setSingleStep(64)
        self.budget_spin.setSuffix(" MB")
        self.budget_spin.setValue(state.scheduler.budget >> 20)
        self.budget_spin.setToolTip(
            "The memory for results kept to show again at once (activations of earlier "
            "inputs, heat maps, orders, test-set runs) and for models opened besides the "
            "current one and the digit models. Beyond it the least recently used go first; "
            "they are computed or opened again when asked for."
        )
        explain = QLabel(
            "Results are kept to show again at once: the maps of earlier inputs, heat maps, "
            "channel orders, test-set runs. Models opened besides the current one count "
            "too. Beyond this budget the least recently used go first (a model let go is "
            "opened again when asked for; an untrained one gets the same random weights)."
        )
        explain.setWordWrap(True)
        self.use_label = QLabel()
        self.use_label.setWordWrap(True)
        form = QFormLayout()
        form.addRow("Results and extra models:", self.budget_spin)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(explain)
        layout.addLayout(form)
        layout.addWidget(self.use_label)
        layout.addWidget(buttons)
        state.scheduler.cache_changed.connect(self._show_use)
        self._show_use()

    def _show_use(self, *_args: object) -> None:
        cache = self._state.scheduler.cache
        models = [m for m in self._state.models.values() if m is not self._state.model]
        self.use_label.setText(
            f"Now held: {cache.nbytes / 2**20:,.0f} MB of results ({len(cache)} kept) and "
            f"{len(models)} model{'s' if len(models) != 1 else ''} open besides the current one."
        )

    def accept(self) -> None:
        self._state.set_result_budget(self.budget_spin.value())
        super().accept()
