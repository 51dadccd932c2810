"""The scheduler: interactive requests before batch work, superseded ones dropped, one
bounded cache, a result computed once however often it is asked for."""

import threading
import time

import numpy as np
import pytest

from gui.scheduler import Priority, ResultCache, Scheduler, nbytes_of
from gui.workers import WorkerRunner

TIMEOUT = 10_000


@pytest.fixture
def scheduler(qtbot):
    runner = WorkerRunner()
    s = Scheduler(runner, budget_mb=64)
    yield s
    s.shutdown()
    runner.shutdown()


def _batch(log, steps, gate=None):
    """A batch job of ``steps`` slices; each slice is a yield point (``task.progress``)."""

    def job(task):
        for i in range(steps):
            if gate is not None:
                gate.wait(5)
            log.append(f"batch {i}")
            time.sleep(0.01)
            task.progress((i + 1) / steps, "")
        return "batch done"

    return job


def test_an_interactive_request_waits_for_one_slice_not_the_whole_batch_job(qtbot, scheduler):
    log, gate = [], threading.Event()
    done = []
    scheduler.request(_batch(log, 50, gate), priority=Priority.BATCH, on_result=done.append)
    scheduler.request(lambda task: log.append("input") or "maps", on_result=done.append)
    gate.set()
    qtbot.waitUntil(lambda: len(done) == 2, timeout=TIMEOUT)
    # The input ran after the batch job's first slice, 49 slices before it ended.
    assert log.index("input") == 1, log
    assert done == ["maps", "batch done"]


def test_waiting_requests_run_interactive_first_then_in_order(qtbot, scheduler):
    log, gate = [], threading.Event()
    scheduler.request(lambda task: gate.wait(5), priority=Priority.INTERACTIVE)
    for name, priority in (("b1", Priority.BATCH), ("i1", 0), ("b2", Priority.BATCH), ("i2", 0)):
        scheduler.request(lambda task, n=name: log.append(n), priority=priority)
    gate.set()
    qtbot.waitUntil(lambda: len(log) == 4, timeout=TIMEOUT)
    assert log == ["i1", "i2", "b1", "b2"]


def test_a_newer_request_in_a_slot_drops_the_waiting_one(qtbot, scheduler):
    ran, shown, gate = [], [], threading.Event()
    scheduler.request(lambda task: gate.wait(5))  # keeps the thread busy
    for n in range(5):
        scheduler.request(
            lambda task, n=n: ran.append(n) or n, slot="brush", on_result=shown.append
        )
    gate.set()
    qtbot.waitUntil(lambda: shown == [4], timeout=TIMEOUT)
    qtbot.wait(50)
    assert ran == [4] and shown == [4]


def test_a_superseded_running_batch_job_is_asked_to_stop(qtbot, scheduler):
    log, cancelled = [], []
    scheduler.request(
        _batch(log, 500),
        priority=Priority.BATCH,
        slot="picture",
        cancel_running=True,
        on_cancelled=lambda: cancelled.append(True),
    )
    qtbot.waitUntil(lambda: len(log) > 2, timeout=TIMEOUT)
    result = []
    scheduler.request(
        lambda task: "new", priority=Priority.BATCH, slot="picture", on_result=result.append
    )
    qtbot.waitUntil(lambda: result == ["new"] and bool(cancelled), timeout=TIMEOUT)
    assert len(log) < 500


def test_a_result_is_computed_once_and_handed_back_from_the_cache(qtbot, scheduler):
    runs, got, gate = [], [], threading.Event()

    def job(task):
        gate.wait(5)
        runs.append(1)
        return np.ones(10)

    scheduler.request(job, key=("heat", 1, 2), on_result=got.append)
    scheduler.request(job, key=("heat", 1, 2), on_result=got.append)  # in flight: shared
    gate.set()
    qtbot.waitUntil(lambda: len(got) == 2, timeout=TIMEOUT)
    later = []
    scheduler.request(job, key=("heat", 1, 2), on_result=later.append)
    assert len(later) == 1  # at once, from the cache
    assert runs == [1]
    assert scheduler.cache.nbytes == 80


def test_the_cache_stays_within_its_budget_dropping_the_least_recently_used():
    cache = ResultCache(budget=1000)
    for k in range(5):
        cache.put(k, np.zeros(300, np.uint8))
    assert cache.keys() == [2, 3, 4] and cache.nbytes == 900
    cache.get(2)  # used: now the newest
    cache.put(5, np.zeros(300, np.uint8))
    assert cache.keys() == [4, 2, 5]
    cache.put("huge", np.zeros(2000, np.uint8))  # over the whole budget: not kept
    assert "huge" not in cache and cache.nbytes == 900


def test_sizes_count_arrays_not_shared_models():
    class Model:
        def __init__(self):
            self.weights = np.zeros(1000)

    model = Model()
    result = {"maps": [np.zeros((4, 4), np.float32)], "model": model}
    assert nbytes_of(result) == 64 + 8000
    assert nbytes_of(result, shared=(Model,)) == 64


def test_a_latest_only_memo_keeps_one_result_of_its_kind(scheduler):
    made = []

    def filters(layer):
        made.append(layer)
        return np.zeros(1000, np.float32)

    a = scheduler.memo(("filters", 1, "a"), lambda: filters("a"), latest_only=True)
    assert scheduler.memo(("filters", 1, "a"), lambda: filters("a"), latest_only=True) is a
    scheduler.memo(("other", 1), lambda: np.zeros(10))
    scheduler.memo(("filters", 1, "b"), lambda: filters("b"), latest_only=True)
    assert made == ["a", "b"]  # "a" came from the cache the second time
    assert scheduler.cached(("filters", 1, "a")) is None  # one of its kind: the latest
    assert scheduler.cached(("filters", 1, "b")) is not None
    assert scheduler.cached(("other", 1)) is not None  # other kinds stay
    assert scheduler.cache.nbytes == 4000 + 80


def test_a_batch_job_hears_when_a_person_is_at_work(qtbot, scheduler, monkeypatch):
    """``task.people_waiting()``: True for a while after an interactive request on the
    job's pool, so a batch job may cut its steps finer meanwhile."""
    import gui.scheduler as module

    heard = []

    def batch(task):
        heard.append(task.people_waiting())
        return None

    scheduler.request(batch, priority=Priority.BATCH)
    qtbot.waitUntil(lambda: len(heard) == 1, timeout=TIMEOUT)
    scheduler.request(lambda task: None)  # interactive (the default priority)
    scheduler.request(batch, priority=Priority.BATCH)
    qtbot.waitUntil(lambda: len(heard) == 2, timeout=TIMEOUT)
    monkeypatch.setattr(module, "LATELY_S", 0.0)  # long ago
    scheduler.request(batch, priority=Priority.BATCH)
    qtbot.waitUntil(lambda: len(heard) == 3, timeout=TIMEOUT)
    assert heard == [False, True, False]


def test_a_cancelled_waiting_request_never_runs(qtbot, scheduler):
    ran, ended, gate = [], [], threading.Event()
    scheduler.request(lambda task: gate.wait(5))
    ticket = scheduler.request(lambda task: ran.append(1), on_done=lambda: ended.append(1))
    ticket.cancel()
    gate.set()
    qtbot.waitUntil(lambda: ended == [1], timeout=TIMEOUT)
    qtbot.wait(50)
    assert ran == []


def test_the_budget_is_set_in_preferences_and_lets_extra_models_go(qtbot, app_state):
    """Edit > Preferences sets the budget (remembered); over it, an extra open model is
    let go, least recently current first, never the current one."""
    from PySide6.QtCore import QSettings

    from gui.preferences import PreferencesDialog
    from gui.state import OpenModel

    class Weights:
        def count_params(self):
            return 40 << 20  # 160 MB of float32

    class Loaded:
        def __init__(self, key):
            self.key, self.model, self.spec = key, Weights(), type("S", (), {"digit": False})

    released = []
    app_state.model_released.connect(released.append)
    for key in ("vgg16", "resnet50", "inceptionv3"):
        model = OpenModel(Loaded(key), probe=None)
        app_state.models[key] = model
        app_state._make_current(model) if key == "inceptionv3" else None  # noqa: B018
        app_state._model_use[key] = len(app_state._model_use)
    dialog = PreferencesDialog(app_state)
    qtbot.addWidget(dialog)
    assert "2 models open besides the current one" in dialog.use_label.text()
    dialog.budget_spin.clear()
    qtbot.keyClicks(dialog.budget_spin, "200")
    dialog.accept()
    assert app_state.scheduler.budget == 200 << 20
    assert int(QSettings().value("results/budget_mb")) == 200
    assert released == ["vgg16"] and set(app_state.models) == {"resnet50", "inceptionv3"}


def test_ended_requests_hold_nothing(qtbot, scheduler):
    """A request's job (its closure: an input's activations, say) and its signals go once
    it ends: the memory a long session uses stays what the cache holds."""
    import gc
    import weakref

    got, refs, tickets = [], [], []
    for _ in range(20):
        big = np.ones(250_000, np.float32)
        refs.append(weakref.ref(big))
        ticket = scheduler.request(lambda _task, big=big: float(big[0]), on_result=got.append)
        tickets.append(weakref.ref(ticket))
        del big, ticket
    qtbot.waitUntil(lambda: len(got) == 20, timeout=TIMEOUT)

    def freed() -> bool:
        gc.collect()
        return all(r() is None for r in refs) and all(t() is None for t in tickets)

    qtbot.waitUntil(freed, timeout=TIMEOUT)  # deleteLater runs in the event loop


def test_live_frames_are_not_kept(qtbot, app_state):
    """A live frame is never shown again: its activations are not kept in the cache (a
    video would fill the budget for nothing), a photo's are."""
    from engine.models.runtime import load_tensorflow
    from gui.state import InputKind

    load_tensorflow()
    app_state.start_tensorflow()
    qtbot.waitUntil(lambda: app_state.model is not None, timeout=180_000)
    frame = np.zeros((64, 64, 3), np.uint8)
    for kind in (InputKind.LIVE, InputKind.SAMPLE):
        app_state.set_input(frame, kind, kind.value)
        qtbot.waitUntil(
            lambda k=kind: (
                app_state.activations is not None and app_state.activations.input.kind is k
            ),
            timeout=180_000,
        )
    kept = [k for k in app_state.scheduler.cache.keys() if k[0] == "activations"]
    assert kept == [("activations", app_state.model.serial, app_state.input.serial)]
