"""One scheduler for every derived result: interactive work first, bounded memory.

Every result a view shows that takes work (a model's activations, a heat map, a filter
picture, an ablation order, a test-set run) is asked for here, through
``AppState.request``. A request names

- ``key``: what it computes, e.g. ``("explain", model.serial, input.serial, "grad_cam",
  target)``; equal keys are equal results, so a cached one is handed back at once and a
  second request for one being computed waits for it instead of computing it twice;
- ``priority``: ``INTERACTIVE`` (the input, a layer, the selection, a stroke, the brush: a
  person waits for it) before ``BATCH`` (feature visualisation, a whole layer, an ablation
  order, a test set, triage);
- ``slot``: a newer request in the same slot supersedes an older one: it is dropped if it
  has not started, and a running one (``cancel_running``) is asked to stop.

The pools are the ``WorkerRunner``'s (one thread each). Each pool has one queue, ordered
by priority and then by age. A batch job runs in slices: every ``task.progress`` or
``task.cancelled`` call between two of its steps is a *yield point*, at which the
interactive requests queued behind it run first, on the same thread (a Keras model is
used by one thread at a time, and between two steps nothing of it is half-done). So an
interactive request waits for at most one slice of batch work, never for the whole job,
and no engine function has to be rewritten as a generator.

Results live in one ``ResultCache`` bounded in bytes (``budget``; the oldest used go
first); ``AppState`` counts the models it keeps open against the same budget.
"""

from __future__ import annotations

import dataclasses
import heapq
import itertools
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable, Mapping
from enum import IntEnum
from typing import Any

import numpy as np
from PySide6.QtCore import QObject, Signal

from gui.workers import Cancelled, Worker, WorkerRunner

log = logging.getLogger(__name__)

#: How long after an interactive request a person counts as at work
#: (``Task.people_waiting``: batch jobs cut their steps finer meanwhile).
LATELY_S = 10.0
#: The default result budget: what the cache and the extra open models may hold.
DEFAULT_BUDGET_MB = 1024


class Priority(IntEnum):
    """Lower runs first."""

    INTERACTIVE = 0
    BATCH = 10


# -- sizes ------------------------------------------------------------------------------------
def nbytes_of(value: Any, shared: tuple[type, ...] = (), _seen: set[int] | None = None) -> int:
    """The bytes of the numpy arrays ``value`` holds (in fields, mappings, sequences).

    Instances of ``shared`` types (an open model: it is counted on its own) and
    TensorFlow/Keras objects are not descended into.

    >>> nbytes_of({"a": np.zeros(10, np.float32), "b": [np.zeros(2)]})
    56
    """
    seen = _seen if _seen is not None else set()
    if value is None or isinstance(value, (bool, int, float, complex, str, type)):
        return 0
    if isinstance(value, (bytes, bytearray)):
        return len(value)
    if id(value) in seen:
        return 0
    seen.add(id(value))
    if isinstance(value, np.ndarray):
        return int(value.nbytes)
    if isinstance(value, np.generic):
        return int(value.nbytes)
    if shared and isinstance(value, shared):
        return 0
    module = type(value).__module__ or ""
    if module.startswith(("keras", "tensorflow", "tf_keras", "PySide6", "onnxruntime")):
        return 0
    if isinstance(value, dict):
        return sum(nbytes_of(v, shared, seen) for v in value.values())
    if isinstance(value, Mapping):
        # A lazy mapping (``LayerOutputs``): the most it can hold as it is read, not
        # what reading every key would compute.
        bound = getattr(value, "nbytes_bound", None)
        if callable(bound):
            return int(bound())
        inner = getattr(value, "__dict__", None)
        return nbytes_of(inner, shared, seen) if inner else 0
    if isinstance(value, (list, tuple, set, frozenset)):
        return sum(nbytes_of(v, shared, seen) for v in value)
    if dataclasses.is_dataclass(value):
        return sum(
            nbytes_of(getattr(value, f.name, None), shared, seen) for f in dataclasses.fields(value)
        )
    inner = getattr(value, "__dict__", None)
    return nbytes_of(inner, shared, seen) if isinstance(inner, dict) else 0


class ResultCache:
    """Results by key, least recently used first out once ``budget`` bytes are held.

    Only the UI thread uses it. A result larger than the whole budget is not kept.
    """

    def __init__(self, budget: int, sizer: Callable[[Any], int] = nbytes_of) -> None:
        self.budget = int(budget)
        self._sizer = sizer
        self._items: OrderedDict[Hashable, tuple[Any, int]] = OrderedDict()
        self.nbytes = 0

    def __contains__(self, key: Hashable) -> bool:
        return key in self._items

    def __len__(self) -> int:
        return len(self._items)

    def get(self, key: Hashable) -> Any:
        """The result under ``key`` (now the most recently used), or None."""
        item = self._items.get(key)
        if item is None:
            return None
        self._items.move_to_end(key)
        return item[0]

    def put(self, key: Hashable, value: Any) -> None:
        size = self._sizer(value)
        self.discard(key)
        if size > self.budget:
            log.info("not caching %r: %d MB is over the whole budget", key, size >> 20)
            return
        self._items[key] = (value, size)
        self.nbytes += size
        self.trim(self.budget)

    def discard(self, key: Hashable) -> None:
        item = self._items.pop(key, None)
        if item is not None:
            self.nbytes -= item[1]

    def forget(self, keep: Callable[[Hashable], bool]) -> None:
        """Drop every result whose key ``keep`` refuses."""
        for key in [k for k in self._items if not keep(k)]:
            self.discard(key)

    def trim(self, limit: int) -> None:
        """Drop the least recently used results until at most ``limit`` bytes are held."""
        while self.nbytes > limit and self._items:
            key, (_value, size) = self._items.popitem(last=False)
            self.nbytes -= size

    def keys(self) -> list[Hashable]:
        return list(self._items)


# -- requests ---------------------------------------------------------------------------------
_order = itertools.count()


def _let_go(worker: Worker) -> None:
    """Free what an ended job held: its closure (an input's activations, say) and its
    signals, whose connected callbacks refer back to the request. That cycle passes
    through Qt's connections, which Python's collector cannot see, so it is cut here."""
    worker.job = None
    worker.signals.deleteLater()


class Ticket:
    """A request in the scheduler: cancel it, or ask whether it is still wanted."""

    def __init__(
        self,
        scheduler: Scheduler,
        job: Callable[..., Any],
        key: Hashable | None,
        priority: Priority,
        pool: str,
        slot: Hashable | None,
        cancel_running: bool,
    ) -> None:
        self.scheduler = scheduler
        self.key = key
        self.priority = Priority(priority)
        self.pool = pool
        self.slot = slot
        self.cancel_running = cancel_running
        self.worker = Worker(job)
        self.worker.task.yield_point = lambda: scheduler._yield(self)  # noqa: SLF001
        self.worker.task.people_waiting = lambda: scheduler.interactive_lately(pool)
        self.order = next(_order)
        self.started = False
        self.dropped = False  # superseded or cancelled before its result was taken
        self.followers: list[Ticket] = []  # same key asked again while this one runs

    def __lt__(self, other: Ticket) -> bool:
        return (self.priority, self.order) < (other.priority, other.order)

    @property
    def signals(self) -> Any:
        return self.worker.signals

    def cancel(self) -> None:
        """Forget this request: not run if it has not started, asked to stop if it has;
        its callbacks are not called (but ``on_done``)."""
        self.scheduler._cancel(self)  # noqa: SLF001

    def stop(self) -> None:
        """Ask the running job to stop at its next step; unlike ``cancel``, what it
        returns or raises is still reported (training keeps the epochs it finished)."""
        self.worker.cancel()

    def is_cancelled(self) -> bool:
        return self.dropped or self.worker.is_cancelled()


class Scheduler(QObject):
    """Runs requests by priority on the runner's pools and keeps their results.

    Signals
    -------
    cache_changed(int, int)
        Bytes held by the cache and its budget.
    """

    cache_changed = Signal(int, int)

    def __init__(
        self,
        runner: WorkerRunner,
        budget_mb: int = DEFAULT_BUDGET_MB,
        shared: tuple[type, ...] = (),
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.runner = runner
        self._shared = shared
        self.cache = ResultCache(budget_mb << 20, lambda v: nbytes_of(v, self._shared))
        self._lock = threading.Lock()
        self._queues: dict[str, list[Ticket]] = {pool: [] for pool in runner.POOLS}
        self._draining: dict[str, bool] = dict.fromkeys(runner.POOLS, False)
        self._running: dict[Hashable, Ticket] = {}  # key -> its ticket, UI thread
        self._slots: dict[Hashable, Ticket] = {}  # slot -> newest ticket, UI thread
        self._started: set[Ticket] = set()  # running now, on any pool
        self._closed = False
        self._last_interactive: dict[str, float] = {}  # pool -> monotonic time, UI thread
        runner.on_shutdown(self.shutdown)

    # -- budget ---------------------------------------------------------------------------
    @property
    def budget(self) -> int:
        return self.cache.budget

    def set_budget_mb(self, mb: int) -> None:
        if mb < 64:
            raise ValueError(f"the result budget must be at least 64 MB. Received: {mb}")
        self.cache.budget = int(mb) << 20
        self.cache.trim(self.cache.budget)
        self.cache_changed.emit(self.cache.nbytes, self.cache.budget)

    def cached(self, key: Hashable) -> Any:
        """The cached result under ``key``, or None."""
        return self.cache.get(key)

    def memo(self, key: Hashable, compute: Callable[[], Any], latest_only: bool = False) -> Any:
        """A result quick enough for the UI thread (a graph walk, a mean per channel):
        from the cache, else ``compute()`` now, cached under ``key``.

        ``latest_only``: of the results whose keys start as this tuple key does (its
        first item, the kind), only this one is kept: a result that is cheap to make
        again but large (a layer's filters: ResNet50's, layer after layer, would take
        all its weights again) stays for the layer shown, not for every layer visited.
        """
        hit = self.cache.get(key)
        if hit is None:
            hit = compute()
            if latest_only and isinstance(key, tuple) and key:
                kind = key[0]
                self.cache.forget(lambda k: not (isinstance(k, tuple) and k[:1] == (kind,)))
            self.cache.put(key, hit)
        return hit

    def forget(self, keep: Callable[[Hashable], bool]) -> None:
        """Drop every cached result whose key ``keep`` refuses (a closed model's)."""
        self.cache.forget(keep)
        self.cache_changed.emit(self.cache.nbytes, self.cache.budget)

    # -- requests -------------------------------------------------------------------------
    def request(
        self,
        job: Callable[..., Any],
        *,
        key: Hashable | None = None,
        priority: Priority = Priority.INTERACTIVE,
        pool: str = "model",
        slot: Hashable | None = None,
        cancel_running: bool = False,
        cache: bool = True,
        on_result: Callable[[Any], None] | None = None,
        on_failed: Callable[[BaseException], None] | None = None,
        on_progress: Callable[[float, str], None] | None = None,
        on_record: Callable[[Any], None] | None = None,
        on_cancelled: Callable[[], None] | None = None,
        on_done: Callable[[], None] | None = None,
    ) -> Ticket:
        """Ask for ``job(task)``'s result; the ``on_*`` callbacks run on the UI thread.

        With a ``key`` and ``cache``, a cached result is handed to ``on_result`` at once
        (before this returns) and nothing runs; one being computed is shared.
        """
        ticket = Ticket(self, job, key, priority, pool, slot, cancel_running)
        if ticket.priority == Priority.INTERACTIVE:
            self._last_interactive[pool] = time.monotonic()
        s = ticket.signals
        # The scheduler's own handlers first: a view told of a result finds it cached.
        if key is not None and cache:
            s.finished.connect(lambda value, t=ticket: self._on_finished(t, value))
            s.failed.connect(lambda exc, t=ticket: self._on_failed(t, exc))
        wanted = lambda fn: lambda *a: None if ticket.dropped else fn(*a)  # noqa: E731
        if on_result is not None:
            s.finished.connect(wanted(on_result))
        if on_failed is not None:
            s.failed.connect(wanted(on_failed))
        if on_progress is not None:
            s.progress.connect(wanted(on_progress))
        if on_record is not None:
            s.record.connect(wanted(on_record))
        if on_cancelled is not None:
            s.cancelled.connect(on_cancelled)
        if on_done is not None:
            s.done.connect(on_done)
        s.done.connect(lambda t=ticket: self._on_done(t))
        if slot is not None:
            older = self._slots.get(slot)
            if older is not None and older is not ticket:
                self._supersede(older)
            self._slots[slot] = ticket
        if key is not None and cache:
            hit = self.cache.get(key)
            if hit is not None:
                ticket.dropped = False
                s.finished.emit(hit)
                s.done.emit()
                self._release_slot(ticket)
                return ticket
            running = self._running.get(key)
            if running is not None and not running.is_cancelled():
                running.followers.append(ticket)
                return ticket
        if self._closed:
            ticket.dropped = True
            ticket.worker.cancel()
            return ticket
        if key is not None and cache:
            self._running[key] = ticket
        with self._lock:
            heapq.heappush(self._queues[pool], ticket)
            start = not self._draining[pool]
            self._draining[pool] = True
        if start:
            self.runner.start(lambda _task, p=pool: self._drain(p), pool=pool)
        return ticket

    def _supersede(self, ticket: Ticket) -> None:
        if ticket.started:
            if ticket.cancel_running:
                ticket.worker.cancel()
            ticket.dropped = True
        else:
            self._cancel(ticket)

    def _cancel(self, ticket: Ticket) -> None:
        ticket.dropped = True
        ticket.worker.cancel()
        removed = False
        with self._lock:
            queue = self._queues.get(ticket.pool, [])
            if ticket in queue:
                queue.remove(ticket)
                heapq.heapify(queue)
                removed = True
        if removed:  # it never ran: say it ended
            ticket.signals.cancelled.emit()
            ticket.signals.done.emit()
        for follower in ticket.followers:  # they still want the result: run it anew
            if not follower.dropped:
                self._rerun(follower)
        ticket.followers = []

    def _rerun(self, follower: Ticket) -> None:
        job = follower.worker.job
        again = self.request(job, key=follower.key, priority=follower.priority, pool=follower.pool)
        again.signals.finished.connect(follower.signals.finished.emit)
        again.signals.failed.connect(follower.signals.failed.emit)
        again.signals.done.connect(follower.signals.done.emit)

    def _release_slot(self, ticket: Ticket) -> None:
        if ticket.slot is not None and self._slots.get(ticket.slot) is ticket:
            del self._slots[ticket.slot]

    # -- results (UI thread) --------------------------------------------------------------
    def _on_finished(self, ticket: Ticket, value: Any) -> None:
        fresh = ticket.key is not None and self.cache.get(ticket.key) is not value
        if fresh and not ticket.worker.is_cancelled():
            self.cache.put(ticket.key, value)
            self.cache_changed.emit(self.cache.nbytes, self.cache.budget)
        for follower in ticket.followers:
            if not follower.dropped:
                follower.signals.finished.emit(value)

    def _on_failed(self, ticket: Ticket, exc: BaseException) -> None:
        for follower in ticket.followers:
            if not follower.dropped:
                follower.signals.failed.emit(exc)

    def _on_done(self, ticket: Ticket) -> None:
        if ticket.key is not None and self._running.get(ticket.key) is ticket:
            del self._running[ticket.key]
        followers, ticket.followers = ticket.followers, []
        for follower in followers:
            follower.signals.done.emit()
        self._release_slot(ticket)
        _let_go(ticket.worker)

    # -- the pool threads -----------------------------------------------------------------
    def _pop(self, pool: str, below: Priority | None = None) -> Ticket | None:
        with self._lock:
            queue = self._queues[pool]
            while queue:
                if below is not None and queue[0].priority >= below:
                    return None
                ticket = heapq.heappop(queue)
                if not ticket.dropped:
                    ticket.started = True
                    return ticket
                ticket.signals.cancelled.emit()
                ticket.signals.done.emit()
            if below is None:
                self._draining[pool] = False
            return None

    def _drain(self, pool: str) -> None:
        """The pool thread's loop: run the queue's tickets, most urgent first."""
        while True:
            ticket = self._pop(pool)
            if ticket is None:
                return
            self._run(ticket)

    def _run(self, ticket: Ticket) -> None:
        with self._lock:
            self._started.add(ticket)
        try:
            ticket.worker.run()
        finally:
            with self._lock:
                self._started.discard(ticket)

    def _yield(self, ticket: Ticket) -> None:
        """A yield point of ``ticket``'s job (its pool's thread): run what is more urgent."""
        if ticket.priority == Priority.INTERACTIVE:
            return
        while True:
            urgent = self._pop(ticket.pool, below=ticket.priority)
            if urgent is None:
                break
            self._run(urgent)
        if ticket.dropped and ticket.cancel_running:
            raise Cancelled()

    def interactive_lately(self, pool: str = "model") -> bool:
        """True when an interactive request was made for ``pool`` within the last
        ``LATELY_S`` seconds (any thread): a person is at work, batch jobs cut finer."""
        last = self._last_interactive.get(pool)
        return last is not None and time.monotonic() - last < LATELY_S

    def pending(self, pool: str = "model") -> int:
        """Requests waiting on ``pool`` (for tests and benches)."""
        with self._lock:
            return sum(not t.dropped for t in self._queues[pool])

    def shutdown(self) -> None:
        """Drop every waiting request and ask the running ones to stop (the window
        closes; the runner calls it first thing in its own ``shutdown``)."""
        if self._closed:
            return
        self._closed = True
        with self._lock:
            waiting = [t for q in self._queues.values() for t in q]
            for queue in self._queues.values():
                queue.clear()
            running = list(self._started)
        for ticket in waiting:
            ticket.dropped = True
            ticket.worker.cancel()
        for ticket in running:
            ticket.worker.cancel()
