"""The only place that starts threads.

``Worker`` runs a plain function on a worker thread and reports through Qt signals;
the function gets a ``progress(fraction, message)`` callback and a ``cancelled()``
check, so engine code stays Qt-free. ``WorkerRunner`` owns three pools:

- ``model``: one thread, for everything that touches TensorFlow/Keras (import, build,
  train, predict), since a Keras model must be used by one thread at a time;
- ``compute``: one thread, for numpy work such as convolving a large photo.

``LatestOnly`` coalesces a stream of requests (a person typing into a kernel cell) so
that only the newest one runs once the current one ends.
"""

from __future__ import annotations

import inspect
import logging
import threading
import traceback
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_futures
from typing import Any

from PySide6.QtCore import QObject, Signal

log = logging.getLogger(__name__)


class Cancelled(Exception):
    """Raised inside a worker function to stop early; reported as ``cancelled``."""


class WorkerSignals(QObject):
    """Signals of a ``Worker``.

    Signals
    -------
    progress(float, str)
        Fraction done in [0, 1] and a message.
    finished(object)
        The function's return value.
    failed(str, str)
        A one-line message and the traceback.
    cancelled()
        The work stopped early at the person's request.
    record(object)
        A structured progress record (e.g. a training batch's loss and accuracy).
    done()
        Emitted last, whatever the outcome.
    """

    progress = Signal(float, str)
    record = Signal(object)
    finished = Signal(object)
    failed = Signal(str, str)
    cancelled = Signal()
    done = Signal()


class Worker:
    """Run ``fn(*args, **kwargs)`` off the UI thread.

    ``fn`` also gets ``progress=``, ``cancelled=`` and ``on_record=`` when its signature
    names them.
    """

    def __init__(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        self.fn = fn
        self.args = args
        self.kwargs = kwargs
        self.signals = WorkerSignals()
        self._cancel = threading.Event()

    def cancel(self) -> None:
        self._cancel.set()

    def is_cancelled(self) -> bool:
        return self._cancel.is_set()

    def _progress(self, fraction: float, message: str = "") -> None:
        if self._cancel.is_set():
            raise Cancelled()
        self.signals.progress.emit(float(fraction), message)

    def _hooks(self) -> dict[str, Any]:
        """The progress/cancel hooks the function declares (plain engine functions may not)."""
        try:
            params = inspect.signature(self.fn).parameters
        except (TypeError, ValueError):
            return {}
        takes_any = any(p.kind is p.VAR_KEYWORD for p in params.values())
        hooks = {
            "progress": self._progress,
            "cancelled": self.is_cancelled,
            "on_record": self.signals.record.emit,
        }
        return {k: v for k, v in hooks.items() if takes_any or k in params}

    def run(self) -> None:
        try:
            result = self.fn(*self.args, **self._hooks(), **self.kwargs)
        except Cancelled:
            self.signals.cancelled.emit()
        except Exception as exc:  # reported to the UI, which shows it
            name = getattr(self.fn, "__name__", self.fn)
            if isinstance(exc, ValueError):  # bad input, explained to the person
                log.warning("worker %s: %s: %s", name, type(exc).__name__, exc)
            else:
                log.exception("worker %s failed", name)
            self.signals.failed.emit(f"{type(exc).__name__}: {exc}", traceback.format_exc())
        else:
            if self._cancel.is_set():
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

    POOLS = ("model", "compute", "train")

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._pools = {
            name: ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"fme-{name}")
            for name in self.POOLS
        }
        self._active: dict[Worker, Future] = {}
        self._closed = False

    def start(
        self,
        fn: Callable[..., Any],
        *args: Any,
        pool: str = "compute",
        on_finished: Callable[[Any], None] | None = None,
        on_failed: Callable[[str, str], None] | None = None,
        on_progress: Callable[[float, str], None] | None = None,
        on_cancelled: Callable[[], None] | None = None,
        on_done: Callable[[], None] | None = None,
        on_record: Callable[[Any], None] | None = None,
        **kwargs: Any,
    ) -> Worker:
        if pool not in self._pools:
            raise ValueError(
                f"pool must be one of {', '.join(self.POOLS)}. Received: pool={pool!r}"
            )
        worker = Worker(fn, *args, **kwargs)
        if self._closed:
            # The window is closing: results still queued (an image that finished
            # loading, say) may ask for more work; there is nobody left to show it to.
            log.debug("not starting %s: the runner is shut down", fn)
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
        s.done.connect(lambda w=worker: self._active.pop(w, None))
        self._active[worker] = self._pools[pool].submit(worker.run)
        return worker

    def busy(self) -> bool:
        """True while any worker's function is still running."""
        return any(not future.done() for future in self._active.values())

    def shutdown(self, timeout_s: float = 60.0) -> None:
        """Cancel every worker and wait for the threads to finish (on window close).

        Later ``start`` calls are ignored.
        """
        self._closed = True
        for worker in list(self._active):
            worker.cancel()
        wait_futures(list(self._active.values()), timeout=timeout_s)
        for executor in self._pools.values():
            executor.shutdown(wait=False, cancel_futures=True)


class LatestOnly(QObject):
    """Run at most one job at a time and, after it, only the newest request.

    Signals
    -------
    result(object)
        The value of the newest finished job.
    failed(str)
        A job raised; the message.
    """

    result = Signal(object)
    failed = Signal(str)

    def __init__(self, runner: WorkerRunner, pool: str = "compute") -> None:
        super().__init__(runner)
        self._runner = runner
        self._pool = pool
        self._running = False
        self._pending: Callable[[], Any] | None = None

    def submit(self, job: Callable[[], Any]) -> None:
        if self._running:
            self._pending = job
            return
        self._launch(job)

    def _launch(self, job: Callable[[], Any]) -> None:
        self._running = True
        self._runner.start(
            job,
            pool=self._pool,
            on_finished=self._on_finished,
            on_failed=lambda msg, _tb: self._on_job_failed(msg),
            on_done=self._on_done,
        )

    def _on_finished(self, value: Any) -> None:
        if self._pending is None:  # a newer request supersedes this result
            self.result.emit(value)

    def _on_job_failed(self, message: str) -> None:
        if self._pending is None:
            self.failed.emit(message)

    def _on_done(self) -> None:
        self._running = False
        if self._pending is not None:
            job, self._pending = self._pending, None
            self._launch(job)
