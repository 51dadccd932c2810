"""The main window: menus, status bar, one tab per panel; owns the worker runner."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from PySide6.QtCore import QEventLoop, QSettings, QTimer, Signal
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence
from PySide6.QtWidgets import (
    QApplication,
    QDialog,
    QLabel,
    QMainWindow,
    QMessageBox,
    QProgressBar,
    QTabWidget,
    QVBoxLayout,
)

from gui.panels.base import Panel
from gui.state import AppState
from gui.workers import WorkerRunner

ABOUT = """<h3>Feature-map explorer</h3>
<p>See how convolutional neural networks see images, following the lecture:</p>
<ol>
<li>Why not an MLP: flattening loses each pixel's neighbourhood</li>
<li>Kernels (filters, feature extractors) and feature maps</li>
<li>Volumes: 32x32x3 input, 5x5x3 filters, stacked maps</li>
<li>Hand-designed filters (edges) versus learnt ones</li>
<li>Stride and the output size (N - F + 2P)/S + 1</li>
<li>Padding and 'same' convolution</li>
<li>Pooling</li>
<li>Feature visualisation</li>
<li>Flatten, dense layers and the classification head</li>
<li>The MNIST CNN</li>
<li>VGG16 and ResNet50</li>
</ol>"""


@dataclass(frozen=True)
class PanelSpec:
    key: str  # the --panel name
    title: str
    factory: Callable[[AppState], Panel]


def panel_specs() -> list[PanelSpec]:
    """The panels, in tab order; imported here so main.py stays light."""
    from gui.panels.activations import ActivationsPanel
    from gui.panels.draw import DrawPanel
    from gui.panels.kernel_lab import KernelLabPanel
    from gui.panels.stride import StridePanel
    from gui.panels.test_set import TestSetPanel

    return [
        PanelSpec("kernels", "Kernel lab", lambda st: KernelLabPanel(st.runner, st)),
        PanelSpec("stride", "Stride && padding", lambda _st: StridePanel()),
        PanelSpec("draw", "Draw", DrawPanel),
        PanelSpec("activations", "Activations", ActivationsPanel),
        PanelSpec("testset", "Test set", TestSetPanel),
    ]


class MainWindow(QMainWindow):
    """One tab per lecture topic; TensorFlow loads in the background after the window shows.

    Signals
    -------
    shown()
        The window has been shown (for the start-up benchmark).
    """

    shown = Signal()

    def __init__(self, load_tf: bool = True, remember: bool = True) -> None:
        super().__init__()
        self._remember = remember  # False for --screenshot/--timing runs: leave settings be
        self.setWindowTitle("Feature-map explorer")
        self.runner = WorkerRunner(self)
        self.state = AppState(self.runner, self)
        self.tabs = QTabWidget()
        self.tabs.setDocumentMode(True)
        self.panels: dict[str, Panel] = {}
        for spec in panel_specs():
            panel = spec.factory(self.state)
            self.panels[spec.key] = panel
            self.tabs.addTab(panel, spec.title)
        self.setCentralWidget(self.tabs)
        self.state.panel_requested.connect(self.show_panel)
        self.state.tensorflow_ready.connect(self._on_tensorflow_ready)
        self.state.tensorflow_failed.connect(self._on_tensorflow_failed)
        self._build_menus()
        self.tf_label = QLabel("TensorFlow: not loaded")
        self.tf_progress = QProgressBar()
        self.tf_progress.setMaximumWidth(140)
        self.tf_progress.setRange(0, 0)
        self.tf_progress.setVisible(False)
        self.statusBar().addPermanentWidget(self.tf_label)
        self.statusBar().addPermanentWidget(self.tf_progress)
        settings = QSettings()
        geometry = settings.value("main_window/geometry")
        if geometry is not None:
            self.restoreGeometry(geometry)
        else:
            self.resize(1280, 820)
        tab = self.panels.get(str(settings.value("main_window/tab", "kernels")))
        if tab is not None:
            self.tabs.setCurrentWidget(tab)
        self._shown_once = False
        if load_tf:
            QTimer.singleShot(0, self.start_tensorflow)

    # -- menus -------------------------------------------------------------------------
    def _build_menus(self) -> None:
        file_menu = self.menuBar().addMenu("&File")
        open_action = QAction("&Open image…", self)
        open_action.setShortcut(QKeySequence.StandardKey.Open)
        open_action.triggered.connect(self._open_in_current_panel)
        file_menu.addAction(open_action)
        file_menu.addSeparator()
        quit_action = QAction("&Quit", self)
        quit_action.setShortcut(QKeySequence.StandardKey.Quit)
        quit_action.triggered.connect(self.close)
        file_menu.addAction(quit_action)

        view_menu = self.menuBar().addMenu("&View")
        for i in range(self.tabs.count()):
            action = QAction(self.tabs.tabText(i), self)
            action.setShortcut(QKeySequence(f"Ctrl+{i + 1}"))
            action.triggered.connect(lambda _checked=False, i=i: self.tabs.setCurrentIndex(i))
            view_menu.addAction(action)

        view_menu.addSeparator()
        compare = QAction("&Compare the models…", self)
        compare.setToolTip("Year, depth, parameters, MACs and ImageNet accuracy of every model")
        compare.triggered.connect(self.show_model_comparison)
        view_menu.addAction(compare)

        help_menu = self.menuBar().addMenu("&Help")
        about = QAction("&About", self)
        about.triggered.connect(lambda: QMessageBox.about(self, "About", ABOUT))
        help_menu.addAction(about)

    def _open_in_current_panel(self) -> None:
        panel = self.tabs.currentWidget()
        if isinstance(panel, Panel) and panel.opens_images:
            panel.open_image_dialog()
        else:
            self.statusBar().showMessage("This panel does not open images", 3000)

    def show_model_comparison(self) -> QDialog:
        """The zoo's models side by side; a double-click opens one in Activations."""
        from gui.widgets.zoo_table import ZooTable

        dialog = QDialog(self)
        dialog.setWindowTitle("The models, compared")
        dialog.resize(860, 420)
        table = ZooTable(dialog)
        if self.state.model is not None:
            table.highlight(self.state.model.key)

        def open_model(key: str) -> None:
            self.state.open_model(key)
            self.show_panel("activations")

        table.model_activated.connect(open_model)
        QVBoxLayout(dialog).addWidget(table)
        dialog.show()
        self._comparison = dialog
        return dialog

    def current_panel_key(self) -> str:
        return next(k for k, p in self.panels.items() if p is self.tabs.currentWidget())

    def show_panel(self, key: str) -> Panel:
        """Bring panel ``key`` to the front; ``"panel/part"`` also shows that part of it
        (``"activations/edit"``: the Edit model tab)."""
        key, _, part = key.partition("/")
        if key not in self.panels:
            raise ValueError(f"unknown panel {key!r}; choose one of {', '.join(self.panels)}")
        panel = self.panels[key]
        self.tabs.setCurrentWidget(panel)
        if part:
            panel.show_part(part)
        return panel

    # -- TensorFlow --------------------------------------------------------------------
    def start_tensorflow(self) -> None:
        self.tf_label.setText("TensorFlow: loading…")
        self.tf_progress.setVisible(True)
        self.state.start_tensorflow()

    def _on_tensorflow_ready(self, versions: str) -> None:
        self.tf_label.setText(versions)
        self.tf_progress.setVisible(False)

    def _on_tensorflow_failed(self, exc: BaseException) -> None:
        self.tf_label.setText("TensorFlow failed to load")
        self.tf_label.setToolTip(str(exc))
        self.tf_progress.setVisible(False)
        self.statusBar().showMessage(f"TensorFlow could not be imported: {exc}")

    # -- window events -----------------------------------------------------------------
    def showEvent(self, event) -> None:
        super().showEvent(event)
        if not self._shown_once:
            self._shown_once = True
            self.shown.emit()

    def closeEvent(self, event: QCloseEvent) -> None:
        for panel in self.panels.values():
            if not panel.confirm_close():
                event.ignore()
                return
        if self._remember:
            settings = QSettings()
            settings.setValue("main_window/geometry", self.saveGeometry())
            settings.setValue("main_window/tab", self.current_panel_key())
        self.statusBar().showMessage("Stopping background work…")
        self.runner.shutdown()
        super().closeEvent(event)

    # -- screenshots -------------------------------------------------------------------
    def wait_until_ready(self, panel: Panel, timeout_s: float = 120.0) -> None:
        """Process events until ``panel.is_ready()``."""
        deadline = time.monotonic() + timeout_s
        app = QApplication.instance()
        while not panel.is_ready() and time.monotonic() < deadline:
            app.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 50)
            time.sleep(0.02)
        end = time.monotonic() + 0.5  # let the last results paint
        while time.monotonic() < end:
            app.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 50)
            time.sleep(0.02)

    def save_screenshot(self, path: str, panel_key: str) -> None:
        self.resize(1280, 820)  # the same size every time, for the README
        panel = self.show_panel(panel_key)
        panel.prepare_screenshot()
        self.wait_until_ready(panel)
        if not self.grab().save(path):
            raise OSError(f"could not write the screenshot to {path}")
