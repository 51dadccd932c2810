"""A progress bar with its Cancel button (and an optional line saying what runs): the row
every view shows while its long work runs off the UI thread."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QPushButton, QSizePolicy, QWidget


class ProgressRow(QWidget):
    """Hidden until the view shows it; ``progress`` counts in thousandths (0..1000).

    Parameters
    ----------
    cancel_tip : str
        The Cancel button's tooltip: what stops and what is kept.
    on_cancel : callable
        Called when Cancel is clicked.
    with_label : bool
        A line before the bar (``label``) for what is running.
    """

    def __init__(
        self,
        cancel_tip: str,
        on_cancel: Callable[[], None],
        with_label: bool = False,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        self.label: QLabel | None = None
        if with_label:
            self.label = QLabel()
            self.label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
            row.addWidget(self.label, 2)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip(cancel_tip)
        self.cancel_button.clicked.connect(on_cancel)
        row.addWidget(self.progress, 1)
        row.addWidget(self.cancel_button)
        self.setVisible(False)
