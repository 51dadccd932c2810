"""Live input: frames from a camera or a video file, newest first, as DVT shows them.

OpenCV (``opencv-python-headless``) reads both with one API, ``cv2.VideoCapture``: a
camera by its index, a video file by its path. It is imported inside the functions that
need it, so ``import engine.imaging.live`` stays instant.

The pieces, none of them Qt:

- ``open_source`` opens a camera or a file as a ``LiveSource``; its ``read`` returns RGB
  uint8 frames (OpenCV decodes BGR), shrunk so the longer side is at most ``max_side``;
  a file starts again at its end, so it behaves like a camera.
- ``read_frames`` is the grab loop: it reads frames until cancelled, a file paced at its
  own frame rate, and hands each to ``on_frame``. A camera must be read continuously or
  its driver queues old frames, so the loop runs on a thread of its own.
- ``LatestFrame`` is the slot between that thread and the consumer: it keeps only the
  newest frame, counting the ones it drops, so a slow model shows frames late never.
- ``FpsMeter`` and ``RollingMedian`` turn event times into robust rates (medians, so one
  slow frame does not swing the figure).

>>> slot = LatestFrame()
>>> for i in range(3):
...     slot.put(np.full((2, 2, 3), i, np.uint8))
>>> frame, index = slot.take()
>>> int(frame[0, 0, 0]), index, slot.counts()
(2, 2, FrameCounts(read=3, dropped=2, taken=1))
"""

from __future__ import annotations

import logging
import math
import statistics
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

#: Frames are shrunk so their longer side is at most this (the models resize anyway).
MAX_SIDE = 640
#: The pace of a video file whose frame rate is missing or implausible.
DEFAULT_FPS = 25.0
#: Camera indices offered (most machines have one or two).
CAMERA_INDICES = range(4)
#: Video file patterns for a file dialog.
VIDEO_PATTERNS = ("*.mp4", "*.avi", "*.mov", "*.mkv", "*.webm", "*.m4v", "*.mpg", "*.mpeg")
#: How long a camera may send nothing before the loop gives up on it.
CAMERA_SILENCE_S = 2.0
#: The longest sleep between two looks at ``cancelled`` (so Stop answers at once).
_SLICE_S = 0.05


class LiveSourceError(ValueError):
    """A camera or a video file could not be opened or stopped sending frames."""


@dataclass(frozen=True)
class FrameCounts:
    """Frames read from the source, dropped (replaced before anyone took them), taken."""

    read: int
    dropped: int
    taken: int


def _cv2() -> ModuleType:
    """OpenCV, imported on first use, quiet (our own messages say what failed) and on
    one thread (the cores are the model's)."""
    import cv2

    if not getattr(_cv2, "configured", False):
        try:
            import cv2.utils.logging as cv_logging

            cv_logging.setLogLevel(cv_logging.LOG_LEVEL_ERROR)
        except (ImportError, AttributeError):  # an OpenCV without its logging module
            pass
        cv2.setNumThreads(1)
        _cv2.configured = True  # type: ignore[attr-defined]
    return cv2


def plausible_fps(fps: float) -> float:
    """A file's frame rate, or ``DEFAULT_FPS`` when it is missing or implausible.

    >>> plausible_fps(29.97), plausible_fps(0.0), plausible_fps(float("nan"))
    (29.97, 25.0, 25.0)
    """
    if not math.isfinite(fps) or not 0.5 <= fps <= 240.0:
        return DEFAULT_FPS
    return float(fps)


def to_rgb(frame: np.ndarray, max_side: int | None = MAX_SIDE) -> np.ndarray:
    """An OpenCV frame (BGR, BGRA or grey) as RGB uint8 (H, W, 3), its longer side at
    most ``max_side`` (area-averaged, aspect kept; None keeps the size).

    >>> to_rgb(np.zeros((960, 1280, 3), np.uint8)).shape
    (480, 640, 3)
    >>> to_rgb(np.array([[[255, 0, 0]]], np.uint8))[0, 0].tolist()  # blue in BGR
    [0, 0, 255]
    """
    if max_side is not None and max_side < 1:
        raise ValueError(f"max_side must be >= 1 or None. Received: max_side={max_side}")
    cv2 = _cv2()
    a = np.asarray(frame)
    if a.dtype != np.uint8:
        raise ValueError(f"a frame must be uint8. Received dtype {a.dtype}")
    if a.ndim == 2 or (a.ndim == 3 and a.shape[2] == 1):
        rgb = cv2.cvtColor(a, cv2.COLOR_GRAY2RGB)
    elif a.ndim == 3 and a.shape[2] == 3:
        rgb = cv2.cvtColor(a, cv2.COLOR_BGR2RGB)
    elif a.ndim == 3 and a.shape[2] == 4:
        rgb = cv2.cvtColor(a, cv2.COLOR_BGRA2RGB)
    else:
        raise ValueError(f"a frame must be (H, W), (H, W, 3) or (H, W, 4). Received {a.shape}")
    h, w = rgb.shape[:2]
    if max_side is not None and max(h, w) > max_side:
        scale = max_side / max(h, w)
        size = (max(1, round(w * scale)), max(1, round(h * scale)))  # OpenCV: (width, height)
        rgb = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(rgb)


class LiveSource:
    """An open camera or video file; use ``open_source`` to make one.

    Attributes
    ----------
    name : str
        What to call it: ``"camera 0"`` or the file's name.
    fps : float
        The nominal frame rate: a file's own (``DEFAULT_FPS`` when it has none), a
        camera's as its driver reports it (``DEFAULT_FPS`` when it does not).
    is_file : bool
        A file (paced and looped) rather than a camera.
    frame_count : int
        A file's number of frames as its header says (0 for a camera, or unknown).
    """

    def __init__(
        self, spec: int | Path, capture: Any, first: np.ndarray, max_side: int | None
    ) -> None:
        cv2 = _cv2()
        self.spec = spec
        self.is_file = isinstance(spec, Path)
        self.name = spec.name if isinstance(spec, Path) else f"camera {spec}"
        self.fps = plausible_fps(float(capture.get(cv2.CAP_PROP_FPS) or 0.0))
        count = capture.get(cv2.CAP_PROP_FRAME_COUNT) if self.is_file else 0
        self.frame_count = int(count) if count and math.isfinite(count) and count > 0 else 0
        self.max_side = max_side
        self._capture = capture
        self._first: np.ndarray | None = first  # read while opening, returned first
        self._loops = 0

    @property
    def loops(self) -> int:
        """How many times a file started again from its beginning."""
        return self._loops

    def read(self) -> np.ndarray | None:
        """The next frame, RGB uint8 (H, W, 3); a file starts again after its end.

        None when a camera has no frame right now (the caller may try again); raises
        ``LiveSourceError`` when a file has no frame even from its start.
        """
        if self._first is not None:
            frame, self._first = self._first, None
            return frame
        if self._capture is None:
            raise LiveSourceError(f"{self.name} is closed")
        ok, raw = self._capture.read()
        if not ok and self.is_file:
            # The end: open it again rather than seek, which some containers do not do.
            self._capture.release()
            self._capture = _capture(self.spec)
            self._loops += 1
            ok, raw = self._capture.read() if self._capture is not None else (False, None)
            if not ok:
                raise LiveSourceError(f"'{self.name}' stopped giving frames")
        if not ok or raw is None:
            return None
        return to_rgb(raw, self.max_side)

    def close(self) -> None:
        """Release the camera or file (again is harmless)."""
        if self._capture is not None:
            self._capture.release()
            self._capture = None

    def __enter__(self) -> LiveSource:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"LiveSource({self.name!r}, fps={self.fps:g})"


def _capture(spec: int | Path) -> Any:
    """An opened ``cv2.VideoCapture`` of ``spec``, or None."""
    cv2 = _cv2()
    capture = cv2.VideoCapture(spec if isinstance(spec, int) else str(spec))
    if not capture.isOpened():
        capture.release()
        return None
    return capture


def open_source(source: int | str | Path, max_side: int | None = MAX_SIDE) -> LiveSource:
    """Open camera number ``source`` (an int) or the video file at ``source`` (a path).

    The first frame is read at once, so a source that opens but gives nothing fails here,
    with a message for the person, rather than later.

    Raises
    ------
    LiveSourceError
        ``"no camera found at index 0"``, ``"'x.avi' is not a video OpenCV can read"``,
        ``"there is no file 'x.avi'"``.

    Examples
    --------
    >>> open_source("missing.avi")
    Traceback (most recent call last):
    ...
    engine.imaging.live.LiveSourceError: there is no file 'missing.avi'
    """
    if isinstance(source, bool) or not isinstance(source, (int, str, Path)):
        raise TypeError(
            f"source must be a camera index (int) or a video path. Received: {source!r}"
        )
    if isinstance(source, int):
        if source < 0:
            raise LiveSourceError(f"a camera index is 0 or more. Received: {source}")
        spec: int | Path = source
        capture = _capture(spec)
        if capture is None:
            raise LiveSourceError(f"no camera found at index {source}")
    else:
        spec = Path(source)
        if not spec.is_file():
            where = f" in {spec.parent}" if spec.parent != Path() else ""
            raise LiveSourceError(f"there is no file '{spec.name}'{where}")
        capture = _capture(spec)
        if capture is None:
            raise LiveSourceError(f"'{spec.name}' is not a video OpenCV can read")
    ok, raw = capture.read()
    if not ok or raw is None:
        capture.release()
        if isinstance(spec, Path):
            raise LiveSourceError(f"'{spec.name}' is not a video OpenCV can read")
        raise LiveSourceError(f"camera {spec} opened but sends no pictures")
    live = LiveSource(spec, capture, to_rgb(raw, max_side), max_side)
    log.info("opened %r", live)
    return live


def read_frames(
    source: int | str | Path | LiveSource,
    on_frame: Callable[[np.ndarray], None],
    cancelled: Callable[[], bool],
    *,
    on_open: Callable[[LiveSource], None] = lambda _source: None,
    max_side: int | None = MAX_SIDE,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """Read frames from ``source`` and hand each to ``on_frame`` until ``cancelled()``.

    Blocking: run it on a thread of its own. A camera is read as fast as it sends (it
    must be drained, or its driver hands out old frames); a file is paced at its frame
    rate and starts again at its end. A source given as an index or a path is opened
    here (``on_open`` hears of it) and closed at the end; a ``LiveSource`` stays open.

    Parameters
    ----------
    source : int, str, Path or LiveSource
        A camera index, a video path or an open source.
    on_frame : callable
        Called with each RGB uint8 (H, W, 3) frame, on this thread
        (``LatestFrame.put``).
    cancelled : callable
        Asked between frames (and while waiting); True stops the loop.
    on_open : callable, optional
        Called once with the open ``LiveSource`` (its name and frame rate).
    max_side : int or None
        The longer side of the frames at most (for a source opened here).
    clock, sleep : callable
        Time and waiting, replaceable in tests.

    Returns
    -------
    int
        The number of frames handed to ``on_frame``.

    Raises
    ------
    LiveSourceError
        The source cannot be opened, a camera sent nothing for ``CAMERA_SILENCE_S``, or a
        file gives no frame even from its start.
    """
    own = not isinstance(source, LiveSource)
    live = open_source(source, max_side) if not isinstance(source, LiveSource) else source
    try:
        on_open(live)
        period = 1.0 / live.fps
        due = clock()
        silent_since: float | None = None
        count = 0
        while not cancelled():
            if live.is_file:
                # Wait for this frame's time, in slices so a cancel is heard at once.
                while (left := due - clock()) > 0:
                    if cancelled():
                        return count
                    sleep(min(left, _SLICE_S))
            frame = live.read()
            now = clock()
            if frame is None:  # a camera with nothing right now
                silent_since = now if silent_since is None else silent_since
                if now - silent_since > CAMERA_SILENCE_S:
                    raise LiveSourceError(f"{live.name} stopped sending pictures")
                sleep(0.01)
                continue
            silent_since = None
            on_frame(frame)
            count += 1
            # The next frame is one period after this one's due time; far behind (a
            # stalled machine), the pace starts again from now instead of racing.
            due = due + period if now - due < period else now + period
        return count
    finally:
        if own:
            live.close()


class LatestFrame:
    """A one-frame slot between a grabbing thread and its consumer: only the newest frame
    is kept; a frame replaced before anyone took it counts as dropped. Thread-safe.

    Attributes
    ----------
    name : str
        The source's name, once ``opened`` (``""`` before).
    fps : float or None
        The source's nominal frame rate, once ``opened``.

    Examples
    --------
    >>> slot = LatestFrame()
    >>> slot.take() is None
    True
    >>> slot.put(np.zeros((2, 2, 3), np.uint8)); slot.put(np.ones((2, 2, 3), np.uint8))
    >>> slot.take()[1], slot.counts().dropped
    (1, 1)
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._frame: np.ndarray | None = None
        self._index = -1
        self._read = 0
        self._dropped = 0
        self._taken = 0
        self._closed = False
        self.name = ""
        self.fps: float | None = None

    def opened(self, source: LiveSource) -> None:
        """Note the source's name and frame rate (``read_frames``' ``on_open``)."""
        with self._lock:
            self.name, self.fps = source.name, source.fps

    def put(self, frame: np.ndarray) -> None:
        """Keep ``frame`` as the newest, dropping one nobody took."""
        with self._lock:
            if self._frame is not None or self._closed:
                self._dropped += 1
            if not self._closed:
                self._frame, self._index = frame, self._read
            self._read += 1

    def take(self) -> tuple[np.ndarray, int] | None:
        """The newest frame and its index (0 = the first read), once; None if none is new."""
        with self._lock:
            if self._frame is None:
                return None
            frame, self._frame = self._frame, None
            self._taken += 1
            return frame, self._index

    def close(self) -> None:
        """The consumer stopped: a frame still waiting, and any put after this (the
        grabbing thread may be mid-frame), count as dropped."""
        with self._lock:
            self._closed = True
            if self._frame is not None:
                self._frame = None
                self._dropped += 1

    def counts(self) -> FrameCounts:
        """Frames read, dropped and taken so far (one consistent snapshot)."""
        with self._lock:
            return FrameCounts(self._read, self._dropped, self._taken)


class RollingMedian:
    """The median of the last ``window`` values added.

    >>> m = RollingMedian(3)
    >>> for v in (1.0, 100.0, 2.0, 3.0):
    ...     m.add(v)
    >>> m.median(), len(m)
    (3.0, 3)
    """

    def __init__(self, window: int = 30) -> None:
        if window < 1:
            raise ValueError(f"window must be >= 1. Received: window={window}")
        self._values: deque[float] = deque(maxlen=window)

    def add(self, value: float) -> None:
        self._values.append(float(value))

    def median(self) -> float | None:
        """The median, or None before the first value."""
        return statistics.median(self._values) if self._values else None

    def clear(self) -> None:
        self._values.clear()

    def __len__(self) -> int:
        return len(self._values)


class FpsMeter:
    """Events per second from the rolling median of the intervals between ``tick``s.

    >>> meter = FpsMeter()
    >>> for t in (0.0, 0.1, 0.2, 0.5, 0.6):  # one late frame does not swing it
    ...     meter.tick(t)
    >>> round(meter.fps(), 6)
    10.0
    """

    def __init__(self, window: int = 30, clock: Callable[[], float] = time.monotonic) -> None:
        self._intervals = RollingMedian(window)
        self._clock = clock
        self._last: float | None = None

    def tick(self, t: float | None = None) -> None:
        """An event happened now (or at ``t``, the clock's seconds)."""
        t = self._clock() if t is None else t
        if self._last is not None and t > self._last:
            self._intervals.add(t - self._last)
        self._last = t

    def fps(self) -> float | None:
        """Events per second, or None before two ticks."""
        interval = self._intervals.median()
        return None if not interval else 1.0 / interval

    def reset(self) -> None:
        self._intervals.clear()
        self._last = None
