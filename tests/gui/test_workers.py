"""Workers report on the UI thread and honour cancel (the newest-only coalescing is the
scheduler's slots: tests/gui/test_scheduler.py)."""

import threading
import time

from gui.workers import WorkerRunner


def test_results_arrive_on_the_ui_thread_and_cancel_works(qtbot):
    runner = WorkerRunner()
    seen = {}

    def job(task):
        seen["worker_thread"] = threading.current_thread().name
        for i in range(200):
            task.progress(i / 200, "working")
            time.sleep(0.005)
        return 42

    finished = []
    runner.start(
        job,
        on_finished=lambda v: finished.append(
            (v, threading.current_thread() is threading.main_thread())
        ),
    )
    qtbot.waitUntil(lambda: bool(finished), timeout=10_000)
    assert finished == [(42, True)] and seen["worker_thread"].startswith("fme-compute")
    cancelled = []
    worker = runner.start(job, on_cancelled=lambda: cancelled.append(True))
    worker.cancel()
    qtbot.waitUntil(lambda: bool(cancelled), timeout=10_000)
    assert cancelled == [True]
    runner.shutdown()


def test_failures_arrive_as_the_exception_itself(qtbot):
    runner = WorkerRunner()

    def boom(_task):
        raise ValueError("bad kernel")

    failures = []
    runner.start(boom, on_failed=failures.append)
    qtbot.waitUntil(lambda: bool(failures), timeout=10_000)
    (exc,) = failures
    assert type(exc) is ValueError and str(exc) == "bad kernel"
    assert exc.__traceback__ is not None  # the details stay with it, for the log
    runner.shutdown()


def test_a_job_gets_only_the_task_handle(qtbot):
    """Progress and cancel are explicit: the job receives one Task, nothing injected."""
    runner = WorkerRunner()
    got, records = [], []

    def job(*args, **kwargs):
        got.append((args, kwargs))
        args[0].record("r1")
        return "ok"

    finished = []
    runner.start(job, on_finished=finished.append, on_record=records.append)
    qtbot.waitUntil(lambda: bool(finished), timeout=10_000)
    ((args, kwargs),) = got
    assert len(args) == 1 and kwargs == {} and type(args[0]).__name__ == "Task"
    assert records == ["r1"] and finished == ["ok"]
    runner.shutdown()


def test_work_asked_for_after_shutdown_is_ignored(qtbot):
    runner = WorkerRunner()
    runner.shutdown()
    ran = []
    worker = runner.start(lambda _t: ran.append(1), on_finished=ran.append)
    qtbot.wait(100)
    assert ran == [] and worker.is_cancelled() and not runner.busy()


def test_many_signals_from_a_worker_thread_leave_python_healthy():
    """PySide6 6.12.0 over-released a bool per cross-thread emission (fatal at exit)."""
    import subprocess
    import sys

    code = """
import threading
from PySide6.QtCore import QCoreApplication, QObject, Signal
app = QCoreApplication([])
class S(QObject):
    ping = Signal(float, str)
    done = Signal()
s = S(); got = []
s.ping.connect(lambda f, m: got.append(f)); s.done.connect(app.quit)
def run():
    for i in range(5000):
        s.ping.emit(i / 5000, "x")
    s.done.emit()
threading.Thread(target=run).start()
app.exec()
assert len(got) == 5000
"""
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        env={**__import__("os").environ, "QT_QPA_PLATFORM": "offscreen"},
    )
    assert result.returncode == 0, result.stderr[-2000:]
