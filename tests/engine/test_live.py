"""Live input from a video file (the tests write their own) through OpenCV: RGB frames,
looping at the file's pace, only the newest frame kept, clear messages."""

from __future__ import annotations

import statistics
import threading

import cv2
import numpy as np
import pytest

from engine.imaging.live import (
    DEFAULT_FPS,
    FpsMeter,
    LatestFrame,
    LiveSource,
    LiveSourceError,
    RollingMedian,
    open_source,
    plausible_fps,
    read_frames,
)


def write_video(path, frames_rgb, fps=10.0):
    """Write RGB frames as an MJPG .avi (OpenCV wants BGR, so the channels are reversed
    here by hand, independently of the code under test)."""
    h, w = frames_rgb[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (w, h))
    assert writer.isOpened()
    for frame in frames_rgb:
        writer.write(np.ascontiguousarray(frame[:, :, ::-1]))
    writer.release()
    return path


def grey_levels(n, size=(32, 48)):
    """Frame i is a flat grey of 20 * i + 10 (distinct after JPEG compression)."""
    return [np.full((*size, 3), 20 * i + 10, np.uint8) for i in range(n)]


class FakeClock:
    """Time that moves only when someone sleeps: pacing without waiting."""

    def __init__(self):
        self.t = 100.0
        self.slept = []

    def __call__(self):
        return self.t

    def sleep(self, s):
        self.slept.append(s)
        self.t += s


def test_frames_are_rgb_in_the_channel_order_written(tmp_path):
    frame = np.zeros((48, 64, 3), np.uint8)
    frame[:, :32] = (255, 0, 0)  # red left half
    frame[:, 32:] = (0, 0, 255)  # blue right half
    path = write_video(tmp_path / "colours.avi", [frame] * 3)
    with open_source(path) as source:
        got = source.read()
    assert got.dtype == np.uint8 and got.shape == (48, 64, 3)
    # Away from the edge, where JPEG's chroma blur cannot reach.
    np.testing.assert_allclose(got[10:38, 4:24].mean(axis=(0, 1)), (255, 0, 0), atol=12)
    np.testing.assert_allclose(got[10:38, 40:60].mean(axis=(0, 1)), (0, 0, 255), atol=12)


def test_a_file_knows_its_name_rate_and_length(tmp_path):
    path = write_video(tmp_path / "clip.avi", grey_levels(7), fps=12.0)
    with open_source(str(path)) as source:
        assert isinstance(source, LiveSource)
        assert (source.name, source.fps, source.frame_count, source.is_file) == (
            "clip.avi",
            12.0,
            7,
            True,
        )


def test_a_big_frame_is_shrunk_to_640_on_its_longer_side(tmp_path):
    frame = np.zeros((200, 800, 3), np.uint8)
    frame[:, 400:] = 255
    path = write_video(tmp_path / "wide.avi", [frame] * 2)
    with open_source(path) as source:
        got = source.read()
    assert got.shape == (160, 640, 3)
    assert got[:, :300].max() < 30 and got[:, 340:].min() > 225  # the edge kept its place
    with open_source(path, max_side=None) as source:
        assert source.read().shape == (200, 800, 3)


def test_a_file_loops_at_its_own_frame_rate(tmp_path):
    path = write_video(tmp_path / "levels.avi", grey_levels(6), fps=10.0)
    clock, frames, times = FakeClock(), [], []

    def on_frame(frame):
        frames.append(frame)
        times.append(clock())

    n = read_frames(path, on_frame, lambda: len(frames) >= 15, clock=clock, sleep=clock.sleep)
    assert n == 15
    levels = [int(round(f.mean())) for f in frames]
    expected = [20 * (i % 6) + 10 for i in range(15)]
    np.testing.assert_allclose(levels, expected, atol=3)
    np.testing.assert_array_equal(frames[6], frames[0])  # the same decoded frame again
    # One frame each tenth of a second, the first at once.
    np.testing.assert_allclose(np.diff(times), 0.1, atol=1e-9)
    assert max(clock.slept) <= 0.05 + 1e-12  # waits in slices, so Stop is heard at once


def test_a_missing_or_implausible_frame_rate_paces_at_the_default():
    assert plausible_fps(0.0) == plausible_fps(float("nan")) == DEFAULT_FPS == 25.0
    assert plausible_fps(float("inf")) == plausible_fps(1000.0) == DEFAULT_FPS
    assert plausible_fps(29.97) == 29.97


def test_cancel_while_waiting_stops_before_the_next_frame(tmp_path):
    path = write_video(tmp_path / "slow.avi", grey_levels(3), fps=1.0)
    clock, frames = FakeClock(), []

    def cancelled():
        return clock() > 100.2  # a fifth of the one-second wait

    n = read_frames(path, frames.append, cancelled, clock=clock, sleep=clock.sleep)
    assert n == len(frames) == 1 and clock() < 100.3


def test_on_open_gets_the_source_and_an_open_source_stays_open(tmp_path):
    path = write_video(tmp_path / "levels.avi", grey_levels(4), fps=20.0)
    slot, clock = LatestFrame(), FakeClock()
    read_frames(
        path,
        slot.put,
        lambda: slot.counts().read >= 2,
        on_open=slot.opened,
        clock=clock,
        sleep=clock.sleep,
    )
    assert (slot.name, slot.fps) == ("levels.avi", 20.0)
    with open_source(path) as source:
        read_frames(source, lambda f: None, iter([False, True]).__next__, sleep=clock.sleep)
        assert source.read() is not None  # still open: the caller owns it


def test_the_slot_keeps_only_the_newest_frame_and_counts_the_rest():
    slot = LatestFrame()
    for i in range(5):
        slot.put(np.full((2, 2, 3), i, np.uint8))
    frame, index = slot.take()
    assert index == 4 and frame[0, 0, 0] == 4
    assert slot.take() is None
    slot.put(np.zeros((2, 2, 3), np.uint8))
    slot.close()  # the consumer stopped: the waiting frame, and later ones, are dropped
    slot.put(np.zeros((2, 2, 3), np.uint8))
    assert slot.take() is None
    counts = slot.counts()
    assert (counts.read, counts.dropped, counts.taken) == (7, 6, 1)


def test_the_slot_between_two_threads_loses_nothing_uncounted(tmp_path):
    """A grabbing thread (the real loop over a real file) and a slow consumer: each frame
    read was either taken or dropped, and the consumer sees indices only go up."""
    path = write_video(tmp_path / "levels.avi", grey_levels(6), fps=200.0)
    slot, stop = LatestFrame(), threading.Event()
    thread = threading.Thread(target=read_frames, args=(path, slot.put, stop.is_set))
    thread.start()
    seen = []
    try:
        while len(seen) < 20:
            got = slot.take()
            if got is not None:
                seen.append(got[1])
            stop.wait(0.02)  # a consumer slower than the file
    finally:
        stop.set()
        thread.join(10)
    assert not thread.is_alive()
    slot.close()
    counts = slot.counts()
    assert counts.taken == 20 and counts.read == counts.taken + counts.dropped
    assert (np.diff(seen) > 0).all()


def test_clear_messages_for_sources_that_cannot_be_read(tmp_path):
    with pytest.raises(LiveSourceError, match=r"^there is no file 'gone\.avi' in "):
        open_source(tmp_path / "gone.avi")
    bad = tmp_path / "notes.avi"
    bad.write_text("not a video at all")
    with pytest.raises(LiveSourceError, match=r"^'notes\.avi' is not a video OpenCV can read$"):
        open_source(bad)
    with pytest.raises(LiveSourceError, match=r"^no camera found at index 97$"):
        open_source(97)
    with pytest.raises(LiveSourceError, match="0 or more"):
        open_source(-1)
    with pytest.raises(TypeError):
        open_source(1.5)
    assert issubclass(LiveSourceError, ValueError)
    # The loop reports the same, from the thread it runs on.
    with pytest.raises(LiveSourceError, match="not a video OpenCV can read"):
        read_frames(bad, lambda f: None, lambda: False)


def test_a_silent_camera_ends_the_loop_with_a_message():
    class SilentCamera(LiveSource):
        def __init__(self):  # no device: a camera that never has a frame
            self.name, self.fps, self.is_file = "camera 3", 30.0, False

        def read(self):
            return None

        def close(self):
            pass

    clock = FakeClock()
    with pytest.raises(LiveSourceError, match="^camera 3 stopped sending pictures$"):
        read_frames(SilentCamera(), lambda f: None, lambda: False, clock=clock, sleep=clock.sleep)
    assert 2.0 < sum(clock.slept) < 2.1


def test_rolling_median_and_fps_meter_match_statistics():
    rng = np.random.default_rng(1)
    values = rng.uniform(0.01, 0.2, 50).tolist()
    m = RollingMedian(30)
    assert m.median() is None
    for v in values:
        m.add(v)
    assert m.median() == statistics.median(values[-30:]) and len(m) == 30
    meter = FpsMeter(window=30)
    assert meter.fps() is None
    times = np.cumsum([0.0, *values])
    for t in times:
        meter.tick(float(t))
    assert meter.fps() == pytest.approx(1.0 / statistics.median(np.diff(times)[-30:].tolist()))
    meter.reset()
    assert meter.fps() is None
    with pytest.raises(ValueError, match="window must be >= 1"):
        RollingMedian(0)
