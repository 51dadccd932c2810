"""The only place that starts threads.

A job is a plain function of one argument, a ``Task``: it reports progress with
``task.progress(fraction, message)``, structured records with ``task.record(obj)`` and
asks ``task.cancelled()`` between steps. Callers hand engine functions exactly the hooks
they take, e.g. ``runner.start(lambda task: train(data, progress=task.progress,
cancelled=task.cancelled))``: nothing is injected by inspecting signatures, and engine
code stays Qt-free. A failure reaches the UI thread as the exception object itself
(superqt's ``errored``), its traceback attached.

``WorkerRunner`` owns four pools:

- ``model``: one thread, for everything that touches TensorFlow/Keras (import, build,
  predict), since a Keras model must be used by one thread at a time (tensorflow#61298);
- ``compute``: one thread, for numpy work such as convolving a large photo;
- ``train``: one thread; training builds its own model, so drawing keeps predicting;
- ``live``: one thread, draining a camera or video file (``engine.imaging.live.read_frames``).

Views do not start jobs here themselves: they ask ``AppState.request``, whose scheduler
(``gui.scheduler``) orders them by priority, drops superseded ones and keeps results.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_futures
from typing import Any

from PySide6.QtCore import QObject, Signal

log = logging.getLogger(__name__)


class Cancelled(Exception):
    """Raised inside a job to stop early; reported as ``cancelled``."""


class WorkerSignals(QObject):
    """Signals of a ``Worker``.

    Signals
    -------
    progress(float, str)
        Fraction done in [0, 1] and a message.
    record(object)
        A structured progress record (e.g. a training batch's loss and accuracy).
    finished(object)
        The job's return value.
    failed(object)
        The exception the job raised (with its ``__traceback__``).
    cancelled()
        The work stopped early at the person's request.
    done()
        Emitted last, whatever the outcome.
    """

    progress = Signal(float, str)
    record = Signal(object)
    finished = Signal(object)
    failed = Signal(object)
    cancelled = Signal()
    done = Signal()


class Task:
    """The handle a job gets: progress, records and cancellation, nothing Qt."""

    def __init__(self, signals: WorkerSignals) -> None:
        self._signals = signals
        self._cancel = threading.Event()
        #: Called at every ``progress`` and ``cancelled`` (on the job's thread): the
        #: scheduler runs more urgent requests there (``gui.scheduler``).
        self.yield_point: Callable[[], None] | None = None
        #: True while a person is at work (interactive requests came lately): a batch
        #: job may then cut its steps finer, at some cost in speed (the scheduler sets it).
        self.people_waiting: Callable[[], bool] = lambda: False

    def cancel(self) -> None:
        self._cancel.set()

    def stop_requested(self) -> bool:
        """True once cancel was asked for (any thread; no yield point)."""
        return self._cancel.is_set()

    def cancelled(self) -> bool:
        if self.yield_point is not None:
            self.yield_point()
        return self._cancel.is_set()

    def progress(self, fraction: float, message: str = "") -> None:
        """Report progress; raises ``Cancelled`` once cancel was asked for."""
        if self.yield_point is not None:
            self.yield_point()
        if self._cancel.is_set():
            raise Cancelled()
        self._signals.progress.emit(float(fraction), message)

    def record(self, value: Any) -> None:
        self._signals.record.emit(value)


class Worker:
    """Runs ``job(task)`` on a pool thread and reports through ``signals``."""

    def __init__(self, job: Callable[[Task], Any]) -> None:
        self.job = job
        self.signals = WorkerSignals()
        self.task = Task(self.signals)

    def cancel(self) -> None:
        self.task.cancel()

    def is_cancelled(self) -> bool:
        return self.task.stop_requested()

    def run(self) -> None:
        try:
            result = self.job(self.task)
        except Cancelled:
            self.signals.cancelled.emit()
        except Exception as exc:  # reported to the UI, which shows it
            name = getattr(self.job, "__qualname__", self.job)
            from engine.models.zoo import ModelLoadError

            if isinstance(exc, (ValueError, OSError, ModelLoadError)):  # explained to the person
                log.warning("job %s: %s: %s", name, type(exc).__name__, exc)
            else:
                log.exception("job %s failed", name)
            self.signals.failed.emit(exc)
        else:
            if self.task.stop_requested():
                self.signals.cancelled.emit()
            else:
                self.signals.finished.emit(result)
        finally:
            self.signals.done.emit()


class WorkerRunner(QObject):
    """Owns the worker threads; the main window creates one and stops it on close.

    The threads are Python threads (``ThreadPoolExecutor(max_workers=1)`` each, as
    Orange does), not ``QThreadPool`` ones: TensorFlow keeps per-thread state in Python
    thread-locals, and PySide6 drops a QThreadPool thread's Python state after every
    task, which made the next TensorFlow call on that thread crash (seen here: a
    segmentation fault loading weights after importing TensorFlow in an earlier task).
    """

    POOLS = ("model", "compute", "train", "live")

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._pools = {
            name: ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"fme-{name}")
            for name in self.POOLS
        }
        self._active: dict[Worker, Future] = {}
        self._closed = False
        self._on_shutdown: list[Callable[[], None]] = []

    def on_shutdown(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` first thing in ``shutdown`` (the scheduler stops its jobs)."""
        self._on_shutdown.append(callback)

    def start(
        self,
        job: Callable[[Task], Any],
        *,
        pool: str = "compute",
        on_finished: Callable[[Any], None] | None = None,
        on_failed: Callable[[BaseException], None] | None = None,
        on_progress: Callable[[float, str], None] | None = None,
        on_cancelled: Callable[[], None] | None = None,
        on_done: Callable[[], None] | None = None,
        on_record: Callable[[Any], None] | None = None,
    ) -> Worker:
        """Run ``job(task)`` on ``pool``; the ``on_*`` callbacks run on the UI thread."""
        if pool not in self._pools:
            raise ValueError(
                f"pool must be one of {', '.join(self.POOLS)}. Received: pool={pool!r}"
            )
        worker = Worker(job)
        if self._closed:
            # The window is closing: results still queued (an image that finished
            # loading, say) may ask for more work; there is nobody left to show it to.
            log.debug("not starting %s: the runner is shut down", job)
            worker.cancel()
            return worker
        s = worker.signals
        for signal, slot in (
            (s.finished, on_finished),
            (s.failed, on_failed),
            (s.progress, on_progress),
            (s.cancelled, on_cancelled),
            (s.done, on_done),
            (s.record, on_record),
        ):
            if slot is not None:
                signal.connect(slot)
        s.done.connect(lambda w=worker: self._ended(w))
        self._active[worker] = self._pools[pool].submit(worker.run)
        return worker

    def _ended(self, worker: Worker) -> None:
        """Forget an ended job and free what it held (its closure; its signals, whose
        connected callbacks refer back to it through Qt, out of the collector's sight)."""
        self._active.pop(worker, None)
        worker.job = None
        worker.signals.deleteLater()

    def busy(self) -> bool:
        """True while any job is still running."""
        return any(not future.done() for future in self._active.values())

    def shutdown(self, timeout_s: float = 60.0) -> None:
        """Cancel every worker and wait for the threads to finish (on window close).

        Later ``start`` calls are ignored.
        """
        self._closed = True
        for callback in self._on_shutdown:
            callback()
        for worker in list(self._active):
            worker.cancel()
        wait_futures(list(self._active.values()), timeout=timeout_s)
        for executor in self._pools.values():
            executor.shutdown(wait=False, cancel_futures=True)
