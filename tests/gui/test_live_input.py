"""Live input into the real MNIST CNN from a video file the test writes: the frames reach
the state's activations one by one, the ones the model has no time for are dropped,
and Stop, Esc, another input or a bad source end it cleanly."""

from __future__ import annotations

import re
import threading

import cv2
import keras
import numpy as np
import pytest
from PySide6.QtCore import QSettings, Qt
from PySide6.QtWidgets import QFileDialog

from engine.models.runtime import load_tensorflow
from engine.models.zoo import prepare_image
from gui.panels.activations.live import LiveInput
from gui.state import InputKind

TIMEOUT = 120_000
FIGURES = re.compile(
    r"^(Live|Stopped): \d+\.\d frames/s shown · model \d+ ms a frame · "
    r"(\d+) of (\d+) frames dropped$"
)


def write_bar_video(path, n=40, fps=25.0):
    """``n`` 64x64 frames: a white bar moving right and a fixed white square, so every
    frame is a different picture for MNIST's preprocessing too (the bounding box of the
    ink changes shape). Returns the frames as OpenCV decodes them, in RGB."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (64, 64))
    assert writer.isOpened()
    for i in range(n):
        frame = np.zeros((64, 64, 3), np.uint8)
        frame[10:54, 4 + i : 10 + i] = 255
        frame[2:8, 56:62] = 255
        writer.write(frame)
    writer.release()
    decoded, capture = [], cv2.VideoCapture(str(path))
    while True:
        ok, bgr = capture.read()
        if not ok:
            break
        decoded.append(bgr[:, :, ::-1].copy())
    capture.release()
    assert len(decoded) == n
    return decoded


@pytest.fixture
def live(qtbot, app_state):
    load_tensorflow()
    widget = LiveInput(app_state)
    qtbot.addWidget(widget)
    widget.show()
    qtbot.waitExposed(widget)
    app_state.start_tensorflow()
    qtbot.waitUntil(lambda: app_state.model is not None, timeout=TIMEOUT)
    qtbot.waitUntil(lambda: not app_state.busy(), timeout=TIMEOUT)
    yield widget
    widget.stop()


@pytest.fixture
def video_dialog(monkeypatch):
    """QFileDialog.getOpenFileName answering with ``dialog.path``; the folders it was
    opened at are in ``dialog.starts``."""

    class Dialog:
        path = ""
        starts: list[str] = []

        def __call__(self, _parent, _title, start, *_args, **_kwargs):
            self.starts.append(start)
            return self.path, ""

    dialog = Dialog()
    monkeypatch.setattr(QFileDialog, "getOpenFileName", dialog)
    return dialog


def collect_live(state):
    seen = []
    state.activations_changed.connect(
        lambda a: a is not None and a.input.kind is InputKind.LIVE and seen.append(a)
    )
    return seen


def test_video_frames_stream_into_the_mnist_model_newest_first(
    qtbot, live, app_state, video_dialog, tmp_path
):
    frames = write_bar_video(tmp_path / "bar.avi")
    video_dialog.path = str(tmp_path / "bar.avi")
    seen, rates = collect_live(app_state), []
    live.fps_changed.connect(rates.append)
    # A slow model (its thread held up at first): the frames read meanwhile are dropped,
    # not queued, so the frame shown after the first is the newest, a dozen frames on.
    holding, release = threading.Event(), threading.Event()
    app_state.runner.start(lambda _task: holding.set() or release.wait(60), pool="model")
    qtbot.waitUntil(holding.is_set, timeout=TIMEOUT)
    with qtbot.waitSignal(live.started, timeout=5_000) as started:
        qtbot.mouseClick(live.video_button, Qt.MouseButton.LeftButton)
    assert started.args == ["bar.avi"]
    assert not live.video_button.isEnabled() and not live.camera_button.isEnabled()
    assert live.stop_button.isEnabled()
    qtbot.waitUntil(lambda: live.counts().read >= 13, timeout=TIMEOUT)
    held = live.counts()
    assert held.taken == 1 and held.dropped >= 11 and not seen  # one pushed, none shown
    release.set()
    # More distinct frames than the file has: it loops.
    qtbot.waitUntil(lambda: len({a.input.serial for a in seen}) >= 45, timeout=TIMEOUT)
    assert FIGURES.match(live.status_text()), live.status_text()
    with qtbot.waitSignal(live.stopped, timeout=5_000):
        qtbot.mouseClick(live.stop_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not app_state.runner.busy(), timeout=10_000)  # no thread left
    assert live.video_button.isEnabled() and not live.stop_button.isEnabled()

    serials = [a.input.serial for a in seen]
    assert len(set(serials)) == len(serials)  # each frame shown once, none twice
    counts = live.counts()
    assert counts.taken == len(serials) <= counts.read  # pushed one at a time
    assert counts.read == counts.taken + counts.dropped

    def final_counts_said() -> bool:  # the reading thread's end reaches the UI last
        m = FIGURES.match(live.status_text())
        now = live.counts()
        return bool(m) and (int(m[2]), int(m[3])) == (now.dropped, now.read)

    qtbot.waitUntil(final_counts_said, timeout=10_000)
    assert rates and all(r > 0 for r in rates) and live.fps() == pytest.approx(rates[-1])
    assert all(a.input.name == "bar.avi" for a in seen)

    # Every input shown is a real frame of the file, RGB, in order (looping): the index
    # of each in the file only goes forward modulo its length.
    index = [
        next(i for i, f in enumerate(frames) if np.array_equal(f, a.input.pixels)) for a in seen
    ]
    steps = np.diff(index) % len(frames)
    assert (steps > 0).all()
    assert index[0] == 0 and steps[0] >= 12  # the newest frame after the slow one
    assert len(set(index)) > 10

    # The maps are the model's for that frame: an independent forward pass.
    model = app_state.model.network
    conv = keras.Model(model.inputs[0], model.get_layer("conv2d_1").output)
    for acts in (seen[0], seen[len(seen) // 2], seen[-1]):
        x = prepare_image(acts.input.pixels, app_state.model.loaded.spec)[None]
        np.testing.assert_allclose(acts.maps["conv2d_1"], conv(x)[0], atol=1e-4)
        np.testing.assert_allclose(acts.maps["dense_2"], model(x)[0], atol=1e-5)
    assert not np.allclose(seen[0].maps["conv2d_1"], seen[len(seen) // 2].maps["conv2d_1"])

    # Stopped means stopped: the last frame stays the input, nothing more is pushed.
    last = app_state.input
    qtbot.wait(200)
    assert app_state.input is last and last.kind is InputKind.LIVE
    assert QSettings().value("live/video_path") == str(tmp_path / "bar.avi")


def test_esc_or_another_input_stops_and_a_new_model_keeps_streaming(
    qtbot, live, app_state, video_dialog, tmp_path
):
    write_bar_video(tmp_path / "bar.avi", n=10)
    video_dialog.path = str(tmp_path / "bar.avi")
    seen = collect_live(app_state)
    with qtbot.waitSignal(live.started, timeout=5_000):
        qtbot.mouseClick(live.video_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: len(seen) >= 2, timeout=TIMEOUT)
    with qtbot.waitSignal(live.stopped, timeout=5_000):
        qtbot.keyClick(live, Qt.Key.Key_Escape)
    assert not live.is_live()

    # The dialog opens at the file chosen last time.
    with qtbot.waitSignal(live.started, timeout=5_000):
        qtbot.mouseClick(live.video_button, Qt.MouseButton.LeftButton)
    assert video_dialog.starts[-1] == str(tmp_path / "bar.avi")

    # Another model: the stream goes on into it.
    app_state.open_model("lenet5")
    qtbot.waitUntil(
        lambda: sum(a.model.key == "lenet5" for a in seen) >= 3 and live.is_live(),
        timeout=TIMEOUT,
    )
    # Another input chosen (a picture): live input stops, the picture stays the input.
    with qtbot.waitSignal(live.stopped, timeout=5_000):
        app_state.set_input(np.zeros((28, 28, 3), np.uint8), InputKind.FILE, "black.png")
    qtbot.waitUntil(lambda: not app_state.runner.busy(), timeout=TIMEOUT)
    assert app_state.input.name == "black.png"
    assert app_state.activations is not None and app_state.activations.input.name == "black.png"


def test_a_bad_or_missing_file_or_camera_says_so_and_the_app_keeps_going(
    qtbot, live, app_state, video_dialog, tmp_path
):
    junk = tmp_path / "junk.avi"
    junk.write_text("not a video")
    messages = []
    live.failed.connect(messages.append)
    for path, expected in (
        (junk, "Live input stopped: 'junk.avi' is not a video OpenCV can read"),
        (tmp_path / "gone.avi", "Live input stopped: there is no file 'gone.avi' in "),
    ):
        video_dialog.path = str(path)
        with qtbot.waitSignal(live.stopped, timeout=10_000):
            qtbot.mouseClick(live.video_button, Qt.MouseButton.LeftButton)
        assert messages[-1].startswith(expected)
        assert live.video_button.isEnabled() and not live.stop_button.isEnabled()
    # No camera on a test machine at index 3.
    live.camera_spin.setValue(3)
    with qtbot.waitSignal(live.failed, timeout=10_000) as failed:
        qtbot.mouseClick(live.camera_button, Qt.MouseButton.LeftButton)
    assert failed.args == ["Live input stopped: no camera found at index 3"]
    # Said on the line by the button, not only at the bottom of the column.
    assert live.status_label.isVisible()
    assert live.status_text().startswith("Stopped: no camera found at index 3")
    assert LiveInput(app_state).camera_spin.value() == 3  # remembered
    # ... and a good file streams after all that.
    write_bar_video(tmp_path / "bar.avi", n=8)
    video_dialog.path = str(tmp_path / "bar.avi")
    seen = collect_live(app_state)
    qtbot.mouseClick(live.video_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: len(seen) >= 3, timeout=TIMEOUT)


def test_shutting_the_runner_down_ends_the_stream(qtbot, live, app_state, video_dialog, tmp_path):
    """What the main window does on close: cancel every worker and wait for them."""
    write_bar_video(tmp_path / "bar.avi", n=8)
    video_dialog.path = str(tmp_path / "bar.avi")
    with qtbot.waitSignal(live.started, timeout=5_000):
        qtbot.mouseClick(live.video_button, Qt.MouseButton.LeftButton)
    with qtbot.waitSignal(live.stopped, timeout=10_000):
        app_state.runner.shutdown(timeout_s=10)
    assert not app_state.runner.busy() and not live.is_live()


def test_a_frame_keeps_the_last_frames_maps_shown_until_its_own_arrive(
    qtbot, live, tmp_path, monkeypatch
):
    state = live._state
    frames = write_bar_video(tmp_path / "bar.avi", n=40)
    shown = []
    state.activations_changed.connect(shown.append)
    monkeypatch.setattr(
        QFileDialog, "getOpenFileName", lambda *a, **k: (str(tmp_path / "bar.avi"), "")
    )
    qtbot.mouseClick(live.video_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(
        lambda: len({a.input.serial for a in shown if a is not None}) >= 4, timeout=TIMEOUT
    )
    live.stop()
    first = next(i for i, a in enumerate(shown) if a is not None)
    # From the first frame's maps on, the view is never emptied between frames.
    assert all(a is not None for a in shown[first:])
    assert all(a.input.kind is InputKind.LIVE for a in shown[first:])
    assert len(frames) == 40
