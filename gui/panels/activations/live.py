"""Live input, as the Deep Visualization Toolbox has it: a camera, or a video file where
there is none, streams frames into the current model; the maps and the top-5 follow.

A thread of the runner's ``live`` pool drains the source (``engine.imaging.live.read_frames``)
into a ``LatestFrame`` slot, which keeps only the newest frame. A timer on the UI thread
looks at the slot and makes its frame the state's input, but only once the state has
finished the previous live frame (its activations arrived, or failed): frames the model
has no time for are dropped, never queued, so the maps show the present.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

from PySide6.QtCore import QSettings, Qt, QTimer, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from engine.imaging.live import (
    CAMERA_INDICES,
    VIDEO_PATTERNS,
    FpsMeter,
    FrameCounts,
    LatestFrame,
    RollingMedian,
    read_frames,
)
from gui.state import Activations, AppState, InputImage, InputKind
from gui.widgets.image_source import start_folder
from gui.workers import Worker

log = logging.getLogger(__name__)

VIDEO_FILTER = f"Videos ({' '.join(VIDEO_PATTERNS)});;All files (*)"
#: How often the UI thread looks for a new frame (ms): cheap, and well under a frame.
POLL_MS = 10
#: Live input stops after this many frames in a row the model could not take.
MAX_FAILURES = 3


class LiveInput(QWidget):
    """Camera and video-file buttons, Stop, and the live figures, over an ``AppState``.

    Frames become the state's input (``InputKind.LIVE``, named ``"camera 0"`` or the
    file's name) one at a time; the one after is the newest frame once the state has
    the activations of the one before. Live input stops on Stop or Esc, when another
    input is chosen, when the source fails, and when the runner shuts down.

    Signals
    -------
    started(str)
        Live input started from this source ("camera 0", "clip.avi").
    stopped()
        Live input stopped (for whatever reason).
    failed(str)
        The source could not be opened or stopped sending frames, or the model could not
        take them: the message for the person. ``stopped`` is emitted too.
    fps_changed(float)
        Frames shown per second (a rolling median), after each frame shown.
    """

    started = Signal(str)
    stopped = Signal()
    failed = Signal(str)
    fps_changed = Signal(float)

    def __init__(self, state: AppState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._state = state
        self._settings = QSettings()
        self._worker: Worker | None = None
        self._slot: LatestFrame | None = None
        self._name = ""
        self._run = 0  # callbacks of an older run are ignored
        self._pending: InputImage | None = None  # pushed, its activations not yet back
        self._pushed_at = 0.0
        self._pushing = False
        self._failures = 0
        self._shown = FpsMeter()
        self._model_s = RollingMedian()
        self._label_at = 0.0
        self._reason = ""  # why the last run stopped by itself, said by the buttons

        self.camera_button = QPushButton("Camera")
        self.camera_button.setToolTip("Stream the camera's pictures into the model, live")
        self.camera_button.clicked.connect(lambda: self.start_camera())
        self.camera_spin = QSpinBox()
        self.camera_spin.setRange(CAMERA_INDICES.start, CAMERA_INDICES.stop - 1)
        self.camera_spin.setPrefix("#")
        self.camera_spin.setToolTip("Which camera: 0 is the first (remembered)")
        self.camera_spin.setValue(int(self._settings.value("live/camera", 0)))
        self.camera_spin.valueChanged.connect(
            lambda i: self._settings.setValue("live/camera", int(i))
        )
        self.video_button = QPushButton("Video file…")
        self.video_button.setToolTip(
            "Stream a video file into the model instead, looping at its own pace"
        )
        self.video_button.clicked.connect(self.video_dialog)
        self.stop_button = QPushButton("Stop")
        self.stop_button.setToolTip("Stop the live input (Esc)")
        self.stop_button.clicked.connect(self.stop)
        self.status_label = QLabel()
        self.status_label.setWordWrap(True)
        self.status_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.status_label.setVisible(False)
        row = QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.camera_button)
        row.addWidget(self.camera_spin)
        row.addWidget(self.video_button)
        row.addWidget(self.stop_button)
        row.addStretch()
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addLayout(row)
        lay.addWidget(self.status_label)
        # Esc anywhere in the window while live (a shortcut of a hidden widget never fires,
        # so another panel's Esc is untouched; it is off when nothing streams).
        self._esc = QShortcut(QKeySequence(Qt.Key.Key_Escape), self, activated=self.stop)
        self._esc.setContext(Qt.ShortcutContext.WindowShortcut)

        self._timer = QTimer(self)
        self._timer.setInterval(POLL_MS)
        self._timer.timeout.connect(self._poll)
        state.input_changed.connect(self._on_input_changed)
        state.activations_changed.connect(self._on_activations_changed)
        state.activations_failed.connect(self._on_activations_failed)
        self._set_live(False)

    # -- what a panel or a test reads ------------------------------------------------------
    def is_live(self) -> bool:
        return self._worker is not None

    def source_name(self) -> str:
        """The source streaming now ("camera 0", "clip.avi"), or the last one."""
        return self._name

    def counts(self) -> FrameCounts | None:
        """Frames read, dropped and shown of the current (or last) run; None before any."""
        return None if self._slot is None else self._slot.counts()

    def fps(self) -> float | None:
        """Frames shown per second (rolling median), or None before two were shown."""
        return self._shown.fps()

    def model_ms(self) -> float | None:
        """Median milliseconds from a frame's push to its activations, or None."""
        s = self._model_s.median()
        return None if s is None else s * 1000.0

    def status_text(self) -> str:
        return self.status_label.text()

    # -- starting and stopping -------------------------------------------------------------
    def start_camera(self, index: int | None = None) -> None:
        """Stream camera ``index`` (default: the one chosen in the spin box)."""
        if index is None:
            index = self.camera_spin.value()
        self._start(int(index), f"camera {index}")

    def start_video(self, path: str | Path) -> None:
        """Stream the video file at ``path``, looping."""
        path = Path(path)
        self._start(path, path.name)

    def video_dialog(self) -> None:
        """Ask for a video file (starting at the last one) and stream it."""
        last = str(self._settings.value("live/video_path", "") or start_folder("live/video_dir"))
        path, _ = QFileDialog.getOpenFileName(self, "Stream a video file", last, VIDEO_FILTER)
        if path:
            self._settings.setValue("live/video_path", path)
            self.start_video(path)

    def _start(self, spec: int | Path, name: str) -> None:
        self.stop()
        self._run += 1
        run = self._run
        slot = LatestFrame()
        self._slot, self._name = slot, name
        self._pending, self._failures = None, 0
        self._reason = ""
        self._shown.reset()
        self._model_s.clear()
        worker = self._state.request(
            lambda task: read_frames(spec, slot.put, task.cancelled, on_open=slot.opened),
            pool="live",
            on_failed=lambda exc: self._on_source_failed(run, exc),
            on_done=lambda: self._on_source_done(run, slot),
        )
        if worker.is_cancelled():  # the runner is shutting down
            return
        self._worker = worker
        self._set_live(True)
        self._timer.start()
        self._show_figures(force=True)
        log.info("live input from %s", name)
        self.started.emit(name)

    def stop(self) -> None:
        """Stop streaming (nothing happens when nothing streams); the last frame stays the
        input. The grabbing thread ends within a few tens of milliseconds."""
        if self._worker is None:
            return
        self._run += 1
        self._worker.cancel()
        self._worker = None
        self._timer.stop()
        self._pending = None
        if self._slot is not None:
            self._slot.close()
        self._set_live(False)
        self._show_figures(force=True)
        log.info("live input from %s stopped", self._name)
        self.stopped.emit()

    def _on_source_failed(self, run: int, exc: BaseException) -> None:
        if run != self._run:
            return
        self._reason = str(exc)
        self.stop()
        self.failed.emit(f"Live input stopped: {exc}")

    def _on_source_done(self, run: int, slot: LatestFrame) -> None:
        if run == self._run:  # the loop ended by itself (the runner shut down)
            self.stop()
        elif slot is self._slot:  # it ended after Stop: the final counts
            self._show_figures(force=True)

    def _set_live(self, live: bool) -> None:
        for w in (self.camera_button, self.camera_spin, self.video_button):
            w.setEnabled(not live)
        self.stop_button.setEnabled(live)
        self._esc.setEnabled(live)

    # -- the frames ------------------------------------------------------------------------
    def _poll(self) -> None:
        self._show_figures()
        slot = self._slot
        if self._pending is not None or slot is None or self._state.model is None:
            return  # the model is busy with the last frame (or not there yet): drop
        got = slot.take()
        if got is None:
            return
        frame, _index = got
        self._pushing = True
        try:
            self._state.set_input(frame, InputKind.LIVE, self._name)
        finally:
            self._pushing = False
        self._pending = self._state.input
        self._pushed_at = time.monotonic()

    def _on_input_changed(self, image: InputImage) -> None:
        if not self._pushing and self.is_live() and image is not self._pending:
            self.stop()  # the person chose another input
        elif not self.is_live() and image.kind is not InputKind.LIVE:
            self.status_label.setVisible(False)  # the last run's figures are history

    def _on_activations_changed(self, acts: Activations | None) -> None:
        if acts is not None and self._pending is not None and acts.input is self._pending:
            self._failures = 0
            self._frame_done()

    def _on_activations_failed(self, exc: BaseException) -> None:
        if self._pending is None or self._state.input is not self._pending:
            return
        self._failures += 1
        self._frame_done()
        if self._failures >= MAX_FAILURES:
            self._reason = f"the model could not take {MAX_FAILURES} frames in a row"
            self.stop()
            self.failed.emit(
                f"Live input stopped: the model could not take {MAX_FAILURES} frames in a "
                f"row ({exc})"
            )

    def _frame_done(self) -> None:
        now = time.monotonic()
        self._model_s.add(now - self._pushed_at)
        self._shown.tick(now)
        self._pending = None
        self._show_figures(force=True)
        fps = self._shown.fps()
        if fps is not None:
            self.fps_changed.emit(fps)
        # The next frame at once, but after every observer has seen this one.
        QTimer.singleShot(0, self._poll)

    def _show_figures(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._label_at < 0.25:
            return
        self._label_at = now
        counts = self.counts()
        if counts is None:
            self.status_label.setVisible(False)
            return
        fps, ms = self.fps(), self.model_ms()
        parts = [
            f"{fps:.1f} frames/s shown" if fps is not None else "",
            f"model {ms:.0f} ms a frame" if ms is not None else "",
            f"{counts.dropped} of {counts.read} frames dropped" if counts.read else "",
        ]
        if self.is_live() and self._state.model is None:
            parts[0] = "waiting for the model…"
        elif self.is_live() and fps is None:
            parts[0] = f"starting {self._name}…"
        head = "Live" if self.is_live() else "Stopped"
        if not self.is_live() and self._reason:
            parts = [self._reason, *parts]  # why, on the line by the buttons
        self.status_label.setText(f"{head}: " + (" · ".join(p for p in parts if p) or "no frame"))
        nominal = f", {self._slot.fps:g} frames/s" if self._slot and self._slot.fps else ""
        looping = "" if self._name.startswith("camera") else "; a video file plays in a loop"
        self.status_label.setToolTip(f"From {self._name}{nominal}{looping}")
        self.status_label.setVisible(True)


if __name__ == "__main__":
    from gui.preview import preview

    def _panel(state: AppState) -> QWidget:
        from gui.widgets.map_view import MapView

        w = QWidget()
        lay = QVBoxLayout(w)
        live = LiveInput(state)
        view = MapView("Input")
        label = QLabel()
        lay.addWidget(live)
        lay.addWidget(view, 1)
        lay.addWidget(label)
        state.input_changed.connect(
            lambda image: image.kind is InputKind.LIVE and view.set_image(image.pixels)
        )
        state.activations_changed.connect(
            lambda acts: acts and label.setText(" · ".join(f"{n} {p:.0%}" for n, p in acts.top))
        )
        return w

    preview(_panel, size=(700, 600))
