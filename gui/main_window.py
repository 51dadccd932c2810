"""The main window: menus, status bar, one tab per panel; owns the worker runner."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QEventLoop, QSettings, QSignalBlocker, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QCloseEvent, QImage, QKeySequence
from PySide6.QtWidgets import (
    QApplication,
    QDialog,
    QFileDialog,
    QLabel,
    QMainWindow,
    QMessageBox,
    QProgressBar,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from engine.models.zoo import MODEL_TITLES
from engine.teaching.scene import Lecture, SceneError, check_scene, read_file, write_scene
from engine.util.files import atomic_path
from gui.panels.base import Panel
from gui.state import AppState
from gui.theme import theme
from gui.workers import WorkerRunner

log = logging.getLogger(__name__)

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
    from gui.panels.activations.panel import ActivationsPanel
    from gui.panels.draw.panel import DrawPanel
    from gui.panels.kernel_lab.panel import KernelLabPanel
    from gui.panels.stride import StridePanel
    from gui.panels.testset.panel import TestSetPanel

    return [
        PanelSpec("kernels", "Kernel lab", KernelLabPanel),
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
    figure_exported(object)
        A figure was written (its ``Path``), off the UI thread.
    """

    shown = Signal()
    figure_exported = Signal(object)

    def __init__(self, load_tf: bool = True, remember: bool = True) -> None:
        super().__init__()
        self._remember = remember  # False for --screenshot/--timing runs: leave settings be
        self.setWindowTitle("Feature-map explorer")
        theme().restore(remember)
        self.runner = WorkerRunner(self)
        self.state = AppState(self.runner, self)
        self.tabs = QTabWidget()
        self.tabs.setDocumentMode(True)
        self.panels: dict[str, Panel] = {}
        for spec in panel_specs():
            panel = spec.factory(self.state)
            self.panels[spec.key] = panel
            self.tabs.addTab(panel, spec.title)
        self._build_lecture()
        central = QWidget()
        lay = QVBoxLayout(central)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(0)
        lay.addWidget(self.caption_bar)
        lay.addWidget(self.message)
        lay.addWidget(self.tabs, 1)
        self.setCentralWidget(central)
        self.setAcceptDrops(True)
        self.state.panel_requested.connect(self.show_panel)
        self.state.scene_file_requested.connect(self.open_scene_file)
        self.state.tensorflow_ready.connect(self._on_tensorflow_ready)
        self.state.model_released.connect(
            lambda key: self.statusBar().showMessage(
                f"{MODEL_TITLES.get(key, key)} was let go to stay within the memory budget "
                "(Edit > Preferences); it opens again when chosen.",
                8000,
            )
        )
        self.state.tensorflow_failed.connect(self._on_tensorflow_failed)
        self._build_menus()
        self.tf_label = QLabel("TensorFlow: not loaded")
        self.tf_progress = QProgressBar()
        theme().style_size(self.tf_progress, maximum_width=140)
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
        self._fit_screen()
        tab = self.panels.get(str(settings.value("main_window/tab", "kernels")))
        if tab is not None:
            self.tabs.setCurrentWidget(tab)
        self._shown_once = False
        if remember and settings.value("lecture/offered", "false") not in (True, "true"):
            self.lecture_offer.show()
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
        for text, keys, tip, slot in (
            (
                "&Open scene or lecture…",
                "Ctrl+Shift+O",
                "Put the app into a saved scene (a .json file; dropping one works too)",
                self.open_scene_dialog,
            ),
            (
                "&Save scene…",
                "Ctrl+S",
                "Save what this panel shows (input, kernels, set-up, model, layer) as a "
                "small .json file",
                self.save_scene_dialog,
            ),
            (
                "&Export figure…",
                "Ctrl+E",
                "Save what this panel shows as a PNG at twice the screen's resolution",
                self.export_figure_dialog,
            ),
        ):
            action = QAction(text, self)
            action.setShortcut(QKeySequence(keys))
            action.setToolTip(tip)
            action.triggered.connect(slot)
            file_menu.addAction(action)
        file_menu.addSeparator()
        quit_action = QAction("&Quit", self)
        quit_action.setShortcut(QKeySequence.StandardKey.Quit)
        quit_action.triggered.connect(self.close)
        file_menu.addAction(quit_action)

        edit_menu = self.menuBar().addMenu("&Edit")
        copy_action = QAction("&Copy figure", self)
        copy_action.setShortcut(QKeySequence.StandardKey.Copy)
        copy_action.setToolTip("Copy what this panel shows, at 2x, for a slide or a document")
        copy_action.triggered.connect(self.copy_figure)
        edit_menu.addAction(copy_action)
        edit_menu.addSeparator()
        prefs_action = QAction("&Preferences…", self)
        prefs_action.setShortcut(QKeySequence("Ctrl+,"))
        prefs_action.setMenuRole(QAction.MenuRole.PreferencesRole)
        prefs_action.setToolTip("How much memory results and extra models may keep")
        prefs_action.triggered.connect(self.show_preferences)
        edit_menu.addAction(prefs_action)

        view_menu = self.menuBar().addMenu("&View")
        self.lecture_action = QAction("&Lecture", self)
        self.lecture_action.setCheckable(True)
        self.lecture_action.setShortcut(QKeySequence("Ctrl+L"))
        self.lecture_action.setToolTip(
            "The lecture's slides as steps: each sets the app up as its slide "
            "(Page Down / Page Up step)"
        )
        self.lecture_action.toggled.connect(self.set_lecture_mode)
        view_menu.addAction(self.lecture_action)
        self.steps_action = steps = self.lecture_dock.toggleViewAction()
        steps.setText("Lecture &steps")
        steps.setShortcut(QKeySequence("Ctrl+Shift+L"))
        steps.setToolTip("Show or hide the list of the lecture's steps")
        view_menu.addAction(steps)
        go_to = QAction("&Go to step…", self)
        go_to.setShortcut(QKeySequence("Ctrl+G"))
        go_to.setToolTip("Show a step of the lecture by its number")
        go_to.triggered.connect(self.go_to_step_dialog)
        view_menu.addAction(go_to)
        view_menu.addSeparator()
        for i in range(self.tabs.count()):
            action = QAction(self.tabs.tabText(i), self)
            action.setShortcut(QKeySequence(f"Ctrl+{i + 1}"))
            action.triggered.connect(lambda _checked=False, i=i: self.tabs.setCurrentIndex(i))
            view_menu.addAction(action)

        view_menu.addSeparator()
        self.presenter_action = QAction("&Presenter mode", self)
        self.presenter_action.setCheckable(True)
        self.presenter_action.setShortcut(QKeySequence("F11"))
        self.presenter_action.setToolTip(
            "Full screen, every text at least 24 px and stronger lines, for a projector "
            "(F11 again to leave)"
        )
        self.presenter_action.toggled.connect(self.set_presenter)
        view_menu.addAction(self.presenter_action)
        self.controls_action = QAction("&Hide the controls", self)
        self.controls_action.setCheckable(True)
        self.controls_action.setShortcut(QKeySequence("Ctrl+Shift+H"))
        self.controls_action.setToolTip("Give the whole width to what a panel shows")
        self.controls_action.toggled.connect(self.hide_controls)
        view_menu.addAction(self.controls_action)
        for text, keys, slot in (
            (
                "Zoom &in",
                (QKeySequence.StandardKey.ZoomIn, QKeySequence("Ctrl+=")),
                theme().zoom_in,
            ),
            ("Zoom &out", (QKeySequence.StandardKey.ZoomOut,), theme().zoom_out),
            ("&Actual size", (QKeySequence("Ctrl+0"),), theme().reset_zoom),
        ):
            action = QAction(text, self)
            action.setShortcuts([QKeySequence(k) for k in keys])
            action.triggered.connect(slot)
            view_menu.addAction(action)
        view_menu.addSeparator()
        compare = QAction("&Compare the models…", self)
        compare.setToolTip("Year, depth, parameters, MACs and ImageNet accuracy of every model")
        compare.triggered.connect(self.show_model_comparison)
        view_menu.addAction(compare)
        residual = QAction("&Residual experiment: plain vs ResNet…", self)
        residual.setToolTip("Train plain and residual networks of 20 and 56 layers side by side")
        residual.triggered.connect(self.show_residual_experiment)
        view_menu.addAction(residual)

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

    def show_residual_experiment(self) -> QDialog:
        """View > Residual experiment (one dialog a window: its last curves stay)."""
        from gui.residual_dialog import ResidualDialog

        return ResidualDialog.show_for(self.state, self)

    def show_preferences(self) -> QDialog:
        """Edit > Preferences (the result budget)."""
        from gui.preferences import PreferencesDialog

        dialog = PreferencesDialog(self.state, self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.open()
        return dialog

    def show_model_comparison(self) -> QDialog:
        """The zoo's models side by side; a double-click opens one in Activations."""
        from gui.zoo_table import ZooTable

        old = getattr(self, "_comparison", None)
        if old is not None:  # one comparison at a time: a step opens it again
            old.close()
        dialog = QDialog(self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.setWindowTitle("The models, compared")
        table = ZooTable(dialog)
        if self.state.model is not None:
            table.highlight(self.state.model.key)
        # The model in use, also when a step's model is still loading as it opens (a
        # bound method: the connection goes with the table).
        self.state.model_changed.connect(table.show_current)
        dialog.destroyed.connect(lambda: setattr(self, "_comparison", None))
        # Every column (the ImageNet accuracy too) at the zoom in force, within the screen.
        screen = self.screen().availableGeometry() if self.screen() else None
        width = table.wanted_width()  # the table and the chart beside it
        height = theme().size(420)
        if screen is not None:
            width, height = min(width, screen.width() - 40), min(height, screen.height() - 80)
        dialog.resize(max(width, theme().size(600)), height)

        def open_model(key: str) -> None:
            self.state.open_model(key)
            self.show_panel("activations")

        table.model_activated.connect(open_model)
        QVBoxLayout(dialog).addWidget(table)
        dialog.show()
        # Below the lecture's caption, at the window's bottom right: the caption stays
        # readable on a projector.
        frame = self.frameGeometry()
        dialog.move(
            max(frame.left(), frame.right() - dialog.frameGeometry().width()),
            max(frame.top(), frame.bottom() - dialog.frameGeometry().height()),
        )
        self._comparison = dialog
        return dialog

    # -- lecture mode and scenes ---------------------------------------------------------
    def _build_lecture(self) -> None:
        from gui.lecture import CaptionBar, LectureDock, LectureKeys, LectureModel, LectureOffer
        from gui.widgets.message_bar import MessageBar

        try:
            self.lecture = LectureModel.shipped(self)
        except SceneError as exc:  # a damaged install: the app works without its lecture
            log.error("the shipped lecture cannot be read: %s", exc)
            self.lecture = LectureModel(Lecture("(the lecture could not be read)"), None, self)
        self.caption_bar = CaptionBar(self.lecture)
        self.lecture_offer = LectureOffer()
        self.lecture_offer.start_requested.connect(lambda: self.set_lecture_mode(True))
        self.lecture_offer.offer_declined.connect(self._decline_lecture)
        self.menuBar().setCornerWidget(self.lecture_offer, Qt.Corner.TopRightCorner)
        self.lecture_offer.hide()
        self.message = MessageBar()
        self.lecture_keys = LectureKeys(self.lecture, self)
        QApplication.instance().installEventFilter(self.lecture_keys)
        self.lecture_dock = LectureDock(self.lecture, self)
        self.lecture_dock.add_requested.connect(self.add_step)
        self.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, self.lecture_dock)
        self.lecture_dock.hide()
        self.lecture.step_changed.connect(self._on_step)

    def set_lecture_mode(self, on: bool) -> None:
        """Lecture mode: the steps beside the panels, the caption above them, Page Down /
        Page Up stepping; it starts at the step last shown."""
        self.lecture_keys.active = on
        # Presenter mode gives the projector the whole width: the steps' list waits
        # (Page Down / Page Up and Go to step still work).
        self.lecture_dock.setVisible(on and not theme().presenter() and self._room_for_steps())
        self.caption_bar.setVisible(on)
        with QSignalBlocker(self.lecture_action):
            self.lecture_action.setChecked(on)
        if on:
            self._decline_lecture()  # asked once: the offer is not made again
            if self.lecture.index < 0:
                saved = _int_setting("lecture/step", 0) if self._remember else 0
                self.lecture.go(saved if 0 <= saved < len(self.lecture) else 0)

    def _room_for_steps(self) -> bool:
        """Whether the list of steps fits beside the panels on this screen (not on a
        1024 px laptop: there the caption's arrows, Page Down and Ctrl+G step)."""
        screen = self.screen()
        return screen is None or screen.availableGeometry().width() >= 1400

    def go_to_step_dialog(self) -> None:
        from PySide6.QtWidgets import QInputDialog

        n = len(self.lecture)
        number, ok = QInputDialog.getInt(
            self, "Go to step", f"Step (1 to {n}):", max(self.lecture.index + 1, 1), 1, n
        )
        if ok:
            self.go_to_step(number)

    def go_to_step(self, number: int) -> None:
        """Show lecture step ``number`` (from 1), lecture mode on."""
        if not self.lecture_keys.active:
            self.set_lecture_mode(True)
        self.lecture.go(number - 1)

    def _decline_lecture(self) -> None:
        if self._remember:
            QSettings().setValue("lecture/offered", True)
        self.lecture_offer.hide()

    def _on_step(self, index: int) -> None:
        step = self.lecture.step(index)
        if step is None:
            return
        if self._remember:
            QSettings().setValue("lecture/step", index)
        self.caption_bar.show_step()
        self.caption_bar.setVisible(True)
        if self.apply_scene(step):
            # The keys go to the panel now: the Stride panel's Left / Right step its
            # window at once, and Page Down still steps the lecture.
            self.panels[step["panel"]].setFocus()

    def add_step(self) -> None:
        """Add what the window shows now to the lecture, after the current step."""
        panel = self.tabs.tabText(self.tabs.currentIndex()).replace("&&", "&")
        index = self.lecture.insert(self.current_scene(), f"My step: {panel}")
        self.lecture.step_changed.emit(index)

    def current_scene(self) -> dict:
        """What the panel in front shows, as a scene (with the step's title and caption
        while the lecture shows it)."""
        key = self.current_panel_key()
        scene = {"panel": key, **self.panels[key].scene()}
        step = self.lecture.step() if self.lecture_keys.active else None
        if step is not None and step.get("panel") == key:
            scene = {"title": step.get("title", ""), "caption": step.get("caption", ""), **scene}
        return scene

    def apply_scene(self, scene: dict) -> bool:
        """Put the app into ``scene``; a scene that cannot be used changes nothing and
        is named in one sentence above the panels."""
        try:
            scene = check_scene(scene)
        except SceneError as exc:
            self.message.show_error(str(exc))
            return False
        self.message.clear_message()
        panel = self.show_panel(scene["panel"])
        # A scene may give its panel the whole width ("controls": false), for a grid of
        # numbers big enough to read at the back of a room; the next scene gives the
        # controls back unless the person hid them.
        if scene.get("controls") is False:
            self._scene_hid_controls = not self.controls_action.isChecked()
            self.hide_controls(True)
        elif getattr(self, "_scene_hid_controls", False):
            self._scene_hid_controls = False
            self.hide_controls(False)
        panel.apply_scene(scene)
        if scene.get("dialog") == "compare":
            self.show_model_comparison()
        elif getattr(self, "_comparison", None) is not None:
            self._comparison.close()
            self._comparison = None
        from gui.residual_dialog import ResidualDialog

        residual = self.findChild(ResidualDialog)
        if scene.get("dialog") == "residual":
            self.show_residual_experiment()
        elif residual is not None and residual.isVisible() and not residual.is_running():
            residual.hide()  # a run in progress stays in sight
        return True

    def open_scene_file(self, path: Path) -> bool:
        """Open a scene file, or a lecture file (then teach it from its first step); a
        file that is neither changes nothing and is named in one sentence."""
        try:
            item = read_file(path)
        except SceneError as exc:
            self.message.show_error(str(exc))
            return False
        if not isinstance(item, Lecture):
            return self.apply_scene(item)
        if not item.steps:
            self.message.show_error(f"The lecture in {Path(path).name} has no steps.")
            return False
        self.lecture.use(item, Path(path))
        self.lecture.go(0)
        self.set_lecture_mode(True)
        return True

    def open_scene_dialog(self) -> None:
        start = str(QSettings().value("scenes/dir", str(Path.home())))
        path, _ = QFileDialog.getOpenFileName(
            self, "Open a scene or a lecture", start, "Scenes and lectures (*.json)"
        )
        if path:
            QSettings().setValue("scenes/dir", str(Path(path).parent))
            self.open_scene_file(Path(path))

    def save_scene_dialog(self) -> None:
        start = Path(str(QSettings().value("scenes/dir", str(Path.home()))))
        path, _ = QFileDialog.getSaveFileName(
            self,
            "Save the scene",
            str(start / f"{self.current_panel_key()}.json"),
            "Scene (*.json)",
        )
        if path:
            QSettings().setValue("scenes/dir", str(Path(path).parent))
            self.save_scene(Path(path))

    def save_scene(self, path: Path) -> bool:
        try:
            write_scene(path, self.current_scene())
        except (OSError, SceneError) as exc:
            self.message.show_error(f"Could not save the scene: {exc}")
            return False
        self.statusBar().showMessage(f"Saved the scene to {path}", 5000)
        return True

    # -- figures -------------------------------------------------------------------------
    def figure(self, scale: float = 2.0) -> QImage:
        """What the panel in front shows, rendered at ``scale`` x the screen's pixels."""
        widget = self.panels[self.current_panel_key()].figure_widget()
        size = widget.size()
        image = QImage(
            int(size.width() * scale), int(size.height() * scale), QImage.Format.Format_RGB32
        )
        image.setDevicePixelRatio(scale)
        image.fill(Qt.GlobalColor.white)
        widget.render(image)
        return image

    def export_figure_dialog(self) -> None:
        start = Path(str(QSettings().value("figures/dir", str(Path.home()))))
        path, _ = QFileDialog.getSaveFileName(
            self, "Export the figure", str(start / f"{self.current_panel_key()}.png"), "PNG (*.png)"
        )
        if path:
            QSettings().setValue("figures/dir", str(Path(path).parent))
            self.export_figure(Path(path))

    def export_figure(self, path: Path) -> None:
        """Write the figure as a PNG (whole or not at all); ``figure_exported`` says when.

        The panel is drawn here (widgets paint on the UI thread only, ~30 ms); encoding
        the PNG (~130 ms at 3200x1850) runs on a worker, so the window never stalls.
        """
        image = self.figure()
        path = Path(path)

        def write(_task) -> Path:
            with atomic_path(path, suffix=".png") as tmp:
                if not image.save(str(tmp), "PNG"):
                    raise OSError(f"{path.name} could not be written")
            return path

        def done(written: Path) -> None:
            self.statusBar().showMessage(
                f"Saved {written} ({image.width()}x{image.height()})", 5000
            )
            self.figure_exported.emit(written)

        self.state.request(
            write,
            pool="compute",
            on_result=done,
            on_failed=lambda exc: self.message.show_error(f"Could not export the figure: {exc}"),
        )

    def copy_figure(self) -> None:
        image = self.figure()
        QApplication.clipboard().setImage(image)
        self.statusBar().showMessage(
            f"Copied the figure ({image.width()}x{image.height()} pixels)", 3000
        )

    # -- drag and drop -------------------------------------------------------------------
    def dragEnterEvent(self, event) -> None:
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:
        from gui.widgets.image_source import dropped_path

        path = dropped_path(event)
        if path is not None and path.suffix.lower() == ".json":
            self.open_scene_file(path)
        elif path is not None:
            panel = self.panels[self.current_panel_key()]
            if panel.opens_images and hasattr(panel, "load_file"):
                panel.load_file(path)
            else:
                self.statusBar().showMessage(
                    "Drop a scene (.json) or, on an image panel, an image", 4000
                )

    # -- presenter mode ----------------------------------------------------------------
    def set_presenter(self, on: bool) -> None:
        """Presenter mode: full screen and presenter zoom (every text >= 24 px at its
        default), strong pens; off: the window and zoom as they were."""
        if on == theme().presenter():
            return
        if on:
            self._geometry_before = self.saveGeometry()
            self._steps_before = self.lecture_dock.isVisible()
        theme().set_presenter(on)
        # The projector's whole width and height go to the panel (a 20x20 grid of numbers
        # at 24 px): the list of steps and TensorFlow's status are for the desk.
        self.lecture_dock.setVisible(not on and getattr(self, "_steps_before", False))
        self.statusBar().setVisible(not on)
        if on:
            self.showFullScreen()
        else:
            self.setWindowState(self.windowState() & ~Qt.WindowState.WindowFullScreen)
            self.showNormal()
            # Once the small fonts are laid out again, the window as it was.
            geometry = getattr(self, "_geometry_before", None)
            if geometry is not None:
                QTimer.singleShot(0, lambda: self.restoreGeometry(geometry))
        with QSignalBlocker(self.presenter_action):
            self.presenter_action.setChecked(on)

    def hide_controls(self, hidden: bool) -> None:
        """Hide (or show again) every panel's control column."""
        for panel in self.panels.values():
            panel.set_controls_visible(not hidden)
        with QSignalBlocker(self.controls_action):
            self.controls_action.setChecked(hidden)

    def _fit_screen(self) -> None:
        """No larger than the screen's free area (a 1024x640 laptop: the window, and the
        lecture's offer beside its menus, fit at the first start)."""
        screen = self.screen()
        if screen is None:
            return
        free = screen.availableGeometry()
        # ``resize`` sizes the inside; the window manager adds a title bar and borders
        # (not known before the window is shown): room is kept for them.
        frame_w, frame_h = 8, 40
        width = min(self.width(), free.width() - frame_w)
        height = min(self.height(), free.height() - frame_h)
        if (width, height) != (self.width(), self.height()):
            self.resize(width, height)
            self.move(free.topLeft())

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
        QApplication.instance().removeEventFilter(self.lecture_keys)
        self.statusBar().showMessage("Stopping background work…")
        self.runner.shutdown()  # the scheduler's jobs too
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

    def save_slide_screenshot(self, path: str, number: int, presenter: bool = False) -> None:
        """Render lecture step ``number`` (from 1) to ``path``."""
        if not 1 <= number <= len(self.lecture):
            raise ValueError(
                f"the lecture has steps 1 to {len(self.lecture)}; there is no {number}"
            )
        if presenter:
            theme().set_presenter(True)
            self.statusBar().setVisible(False)
            self.resize(1920, 1080)
        else:
            self.resize(1280, 820)
        self.set_lecture_mode(True)
        self.lecture.go(number - 1)
        self.wait_until_ready(self.panels[self.current_panel_key()])
        if not self.grab().save(path):
            raise OSError(f"could not write the screenshot to {path}")

    def save_screenshot(self, path: str, panel_key: str) -> None:
        self.resize(1280, 820)  # the same size every time, for the README
        panel = self.show_panel(panel_key)
        panel.prepare_screenshot()
        self.wait_until_ready(panel)
        if not self.grab().save(path):
            raise OSError(f"could not write the screenshot to {path}")


def _int_setting(key: str, default: int) -> int:
    try:
        return int(str(QSettings().value(key, default)))
    except ValueError:
        return default
