"""GUI tests run offscreen with settings of their own.

PySide6 is imported at module level on purpose: if it cannot be imported (a machine
without libEGL.so.1, say) the suite fails loudly instead of skipping the GUI tests.
"""

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest  # noqa: E402
from PySide6.QtCore import QCoreApplication, QSettings  # noqa: E402

import gui  # noqa: E402, F401  (binds pyqtgraph to PySide6 and configures it)


@pytest.fixture(autouse=True)
def _isolated_settings(tmp_path):
    QCoreApplication.setOrganizationName("feature-map-explorer-tests")
    QCoreApplication.setApplicationName("feature-map-explorer-tests")
    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(tmp_path / "ini"))
    yield
    QSettings().clear()


@pytest.fixture
def app_state(qtbot):
    """A fresh application state with its worker threads (TensorFlow not yet asked for)."""
    from gui.state import AppState
    from gui.workers import WorkerRunner

    runner = WorkerRunner()
    state = AppState(runner)
    yield state
    runner.shutdown()


@pytest.fixture
def activations_panel(qtbot, app_state):
    """An Activations panel on screen, TensorFlow loaded, with the MNIST CNN's activations
    of the first sample photo."""
    from engine.models.runtime import load_tensorflow
    from gui.panels.activations.panel import ActivationsPanel

    load_tensorflow()
    p = ActivationsPanel(app_state)
    qtbot.addWidget(p)
    p.resize(1300, 850)
    p.show()
    qtbot.waitExposed(p)
    app_state.start_tensorflow()
    qtbot.waitUntil(lambda: app_state.activations is not None, timeout=180_000)
    return p


_OPENED: dict = {}


@pytest.fixture(autouse=True)
def _build_untrained_models_once(monkeypatch):
    """Untrained ImageNet models (and their probes) are built once per test worker.

    Building ResNet50 and tracing its probe costs seconds each time; the tests only read
    these models, so sharing them (``tests.shared_models``) keeps ``make test`` short.
    """
    import engine.models.zoo
    import gui.state
    from tests.shared_models import is_shared, untrained

    build, open_ = engine.models.zoo.load_zoo_model, gui.state._open

    def load_zoo_model(key, weights="imagenet", progress=lambda f, m: None):
        if weights is not None or key == engine.models.zoo.MNIST:
            return build(key, weights, progress)
        return untrained(key)

    def opened(loaded):
        if not is_shared(loaded):
            return open_(loaded)
        if loaded.key not in _OPENED:
            _OPENED[loaded.key] = open_(loaded)
        return _OPENED[loaded.key]

    monkeypatch.setattr(engine.models.zoo, "load_zoo_model", load_zoo_model)
    monkeypatch.setattr(gui.state, "_open", opened)


@pytest.fixture(autouse=True)
def _questions(monkeypatch):
    """A modal question would wait for ever offscreen: every test must say its answer.

    ``questions.answer(button)`` answers the next questions with ``button`` and records
    them in ``questions.asked``; a question nobody expected fails the test at once.
    """
    from PySide6.QtWidgets import QMessageBox

    class Questions:
        def __init__(self) -> None:
            self.asked: list[str] = []
            self.reply: QMessageBox.StandardButton | None = None

        def answer(self, button: QMessageBox.StandardButton) -> None:
            self.reply = button

        def __call__(self, _parent, title, text, *args, **kwargs):
            self.asked.append(text)
            if self.reply is None:
                raise AssertionError(f"an unexpected question: {title}: {text}")
            return self.reply

    questions = Questions()
    monkeypatch.setattr(QMessageBox, "question", questions)
    return questions
