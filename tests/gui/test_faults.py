"""The bad-input corpus fed through the entry points the GUI uses.

Each case must end in a clear message (or a correct load), an app that keeps working,
and no file of the person's damaged.
"""

import re
import threading
import time

import pytest
from PySide6.QtCore import QObject, Qt, Signal

from engine.models import mnist_model, zoo
from engine.models.runtime import load_tensorflow
from gui.errors import ErrorReporter
from gui.main_window import MainWindow
from gui.panels.activations.panel import ActivationsPanel
from gui.panels.draw.train_dialog import FILE_SOURCE, TrainDialog
from gui.panels.kernel_lab.panel import KernelLabPanel
from gui.panels.stride import StridePanel
from gui.state import AppState
from gui.workers import WorkerRunner
from tests.corpus.make_corpus import image_cases, mnist_cases, model_cases

from .helpers import choose, pick

TIMEOUT = 120_000


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    d = tmp_path_factory.mktemp("corpus")
    load_tensorflow()
    return {
        "images": image_cases(d / "images"),
        "mnist": mnist_cases(d / "mnist"),
        "models": model_cases(d / "models"),
    }


@pytest.fixture
def runner():
    r = WorkerRunner()
    yield r
    r.shutdown()


def test_every_image_case_in_the_kernel_lab(qtbot, runner, corpus):
    lab = KernelLabPanel(AppState(runner))
    qtbot.addWidget(lab)
    lab.show()
    qtbot.waitUntil(lambda: lab.result() is not None, timeout=TIMEOUT)
    for case in corpus["images"]:
        lab.message.clear_message()
        before = lab.depth_label.text()
        lab.load_file(case.path)
        if case.error:
            qtbot.waitUntil(lab.message.is_error, timeout=TIMEOUT)
            assert re.search(case.error, lab.message.text()), (case.name, lab.message.text())
            assert lab.depth_label.text() == before  # the previous input stays
        else:
            h, w = case.shape[:2]
            qtbot.waitUntil(lambda: not lab.message.text().startswith("Opening"), timeout=TIMEOUT)
            qtbot.waitUntil(
                lambda h=h, w=w: (
                    f"Input {h}x{w}" in lab.depth_label.text() or lab.message.is_error()
                ),
                timeout=TIMEOUT,
            )
            if lab.message.is_error():  # a 1x1 image is smaller than the 3x3 kernel
                assert "larger than the padded" in lab.message.text(), case.name
    # still working: the lecture's input and kernel give the lecture's number
    choose(qtbot, lab.input_combo, "Lecture 5x5 (binary)")
    qtbot.waitUntil(lambda: lab.result().maps.shape == (3, 3, 1), timeout=TIMEOUT)
    assert lab.result().maps[0, 0, 0] == 4


def test_a_permission_error_is_explained(qtbot, runner, corpus, monkeypatch):
    """As root (CI) chmod 000 cannot stop a read; simulate what a normal user meets."""
    import engine.imaging.images as images

    def denied(*_a, **_k):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(images.Image, "open", denied)
    lab = KernelLabPanel(AppState(runner))
    qtbot.addWidget(lab)
    path = next(c.path for c in corpus["images"] if c.name == "one_pixel.png")
    lab.load_file(path)
    qtbot.waitUntil(lab.message.is_error, timeout=TIMEOUT)
    assert "permission denied" in lab.message.text()


def _activations_panel(qtbot, app_state):
    panel = ActivationsPanel(app_state)
    qtbot.addWidget(panel)
    app_state.start_tensorflow()
    qtbot.waitUntil(lambda: app_state.activations is not None, timeout=TIMEOUT)
    return panel


def _wait_for_input(qtbot, state, name):
    def ready():
        a = state.activations
        return a is not None and a.input.name == name and not state.busy()

    qtbot.waitUntil(ready, timeout=TIMEOUT)
    return state.activations


def test_image_cases_in_the_activations_panel(qtbot, app_state, corpus):
    panel = _activations_panel(qtbot, app_state)
    for name in ("truncated.jpg", "bomb.png", "a_folder", "text.png"):
        case = next(c for c in corpus["images"] if c.name == name)
        panel.message.clear_message()
        panel.source.load_file(case.path)  # what Open…, drops and the image list call
        qtbot.waitUntil(panel.message.is_error, timeout=TIMEOUT)
        assert re.search(case.error, panel.message.text())
    for name in ("strip.png", "animated.gif", "ünïcødé_画像.png", "cmyk.jpg"):
        case = next(c for c in corpus["images"] if c.name == name)
        panel.source.load_file(case.path)
        acts = _wait_for_input(qtbot, app_state, str(case.path))
        assert acts.input.pixels.shape == case.shape


def test_every_model_case_in_the_activations_panel(qtbot, app_state, corpus):
    panel = _activations_panel(qtbot, app_state)
    for case in corpus["models"]:
        panel.message.clear_message()
        app_state.open_model_file(case.path)  # what the file dialog and a drop call
        qtbot.waitUntil(panel.message.is_error, timeout=TIMEOUT)
        assert re.search(case.error, panel.message.text()), (case.name, panel.message.text())
        qtbot.waitUntil(lambda: not app_state.busy(), timeout=TIMEOUT)
    # weights of another architecture, through "Load weights file…"'s entry point
    panel.message.clear_message()
    app_state.open_model(zoo.RESNET50, mnist_model.SHIPPED_WEIGHTS)
    qtbot.waitUntil(panel.message.is_error, timeout=TIMEOUT)
    assert "does not hold ResNet50 weights" in panel.message.text()
    assert app_state.model.key == zoo.MNIST  # still usable: the MNIST CNN stays current
    qtbot.waitUntil(lambda: not app_state.busy(), timeout=TIMEOUT)
    assert panel.model_combo.isEnabled() and app_state.activations is not None


def test_kernel_and_arithmetic_cases(qtbot, runner):
    lab = KernelLabPanel(AppState(runner))
    qtbot.addWidget(lab)
    lab.show()
    qtbot.waitUntil(lambda: lab.result() is not None, timeout=TIMEOUT)
    lab.padding_combo.setFocus()
    lab.padding_combo.lineEdit().selectAll()
    qtbot.keyClicks(lab.padding_combo.lineEdit(), "-1")
    assert lab.message.is_error() and "padding must be >= 0" in lab.message.text()
    lab.padding_combo.lineEdit().selectAll()
    qtbot.keyClicks(lab.padding_combo.lineEdit(), "lots")
    assert "padding must be 'valid', 'same' or an integer" in lab.message.text()
    lab.padding_combo.lineEdit().selectAll()
    qtbot.keyClicks(lab.padding_combo.lineEdit(), "0")
    lab.stride_spin.setFocus()
    lab.stride_spin.selectAll()
    qtbot.keyClicks(lab.stride_spin, "0")  # refused by the spin box: stride stays >= 1
    assert lab.stride_spin.value() >= 1
    with qtbot.waitSignal(lab.map_updated, timeout=TIMEOUT):
        lab.stride_spin.setValue(8)  # larger than the 5x5 input: one window fits
    assert lab.result().maps.shape == (1, 1, 1) and lab.result().maps[0, 0, 0] == 4

    stride = StridePanel()
    qtbot.addWidget(stride)
    stride.n_spin.setValue(5)
    stride.s_spin.setValue(8)
    assert "does not fit" in stride.fit_label.text()
    assert stride.formula_label.text().endswith("= 1.25")


def _dialog(qtbot, runner, path, epochs=1):
    dialog = TrainDialog(AppState(runner))
    qtbot.addWidget(dialog)
    dialog.path_edit.setText(str(path))
    dialog.source_combo.setCurrentText(FILE_SOURCE)
    dialog.epochs_spin.setValue(epochs)
    return dialog


@pytest.fixture
def good_weights():
    """A 'last good' weights file of the user's, and its bytes."""
    path = mnist_model.user_weights_path()
    model = mnist_model.build_mnist_cnn(compile=False)
    model.load_weights(mnist_model.SHIPPED_WEIGHTS)
    mnist_model.save_weights(model, path)
    return path, path.read_bytes()


def _assert_intact(good_weights):
    path, before = good_weights
    assert path.read_bytes() == before
    mnist_model.build_mnist_cnn(compile=False).load_weights(path)
    leftovers = [p.name for p in path.parent.iterdir() if p.name.startswith(".")]
    assert leftovers == [], leftovers


def test_bad_mnist_files_in_the_train_dialog(qtbot, runner, corpus, good_weights):
    for case in corpus["mnist"]:
        dialog = _dialog(qtbot, runner, case.path)
        qtbot.mouseClick(dialog.start_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(dialog.message.is_error, timeout=TIMEOUT)
        assert re.search(case.error, dialog.message.text()), (case.name, dialog.message.text())
        qtbot.waitUntil(dialog.start_button.isEnabled, timeout=TIMEOUT)
    _assert_intact(good_weights)


def test_a_second_training_cannot_start_and_disk_full_keeps_weights(
    qtbot, runner, mnist_npz, good_weights, monkeypatch
):
    import keras

    def disk_full(self, path, *a, **k):
        with open(path, "wb") as fh:
            fh.write(b"half a file")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(keras.Model, "save_weights", disk_full)
    dialog = _dialog(qtbot, runner, mnist_npz)
    dialog.batch_spin.setValue(512)
    qtbot.mouseClick(dialog.start_button, Qt.MouseButton.LeftButton)
    assert not dialog.start_button.isEnabled()
    qtbot.mouseClick(dialog.start_button, Qt.MouseButton.LeftButton)  # disabled: ignored
    dialog.start()  # and if it were reached anyway
    assert "already going" in dialog.message.text()
    qtbot.waitUntil(lambda: dialog.start_button.isEnabled(), timeout=240_000)
    assert "No space left on device" in dialog.message.text()
    assert "previous weights are unchanged" in dialog.status_label.text()
    monkeypatch.undo()
    _assert_intact(good_weights)


def test_closing_the_window_during_training(qtbot, mnist_npz, good_weights):
    window = MainWindow()
    qtbot.addWidget(window)
    window.show()
    qtbot.waitUntil(lambda: window.state.tensorflow_version is not None, timeout=TIMEOUT)
    draw = window.show_panel("draw")
    qtbot.waitUntil(lambda: draw.classifier() is not None, timeout=TIMEOUT)
    dialog = draw.open_train_dialog()
    dialog.path_edit.setText(str(mnist_npz))
    dialog.source_combo.setCurrentText(FILE_SOURCE)
    dialog.epochs_spin.setValue(5)
    qtbot.mouseClick(dialog.start_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: len(dialog.records()) >= 2, timeout=TIMEOUT)
    started = time.monotonic()
    window.close()
    assert time.monotonic() - started < 30
    assert not window.runner.busy()
    _assert_intact(good_weights)


def test_closing_the_window_during_a_weights_download(qtbot, monkeypatch):
    from keras.src.utils import file_utils

    entered, release = threading.Event(), threading.Event()

    def slow_offline(*_a, **_k):
        entered.set()
        release.wait(10)  # the download hangs until the window is closing
        raise OSError("network is unreachable")

    monkeypatch.setattr(file_utils, "get_file", slow_offline)
    window = MainWindow()
    qtbot.addWidget(window)
    window.show()
    panel = window.show_panel("activations")
    qtbot.waitUntil(lambda: window.state.model is not None, timeout=TIMEOUT)
    qtbot.waitUntil(lambda: not window.state.busy(), timeout=TIMEOUT)
    pick(qtbot, panel.model_combo, zoo.MODEL_TITLES[zoo.VGG16])
    # The download is under way: the state is busy and the panel says what it loads.
    assert entered.wait(60)
    assert window.state.busy() and panel.progress.isVisible()
    assert "VGG16" in panel.model_label.text()
    started = time.monotonic()
    threading.Timer(0.2, release.set).start()  # the network answers while it closes
    window.close()
    assert time.monotonic() - started < 30 and not window.runner.busy()


class _Boom(QObject):
    fire = Signal()


def test_an_exception_in_a_slot_shows_a_dialog_and_the_app_goes_on(qtbot, tmp_path):
    window = MainWindow(load_tf=False)
    qtbot.addWidget(window)
    window.show()
    reporter = ErrorReporter(window, str(tmp_path / "app.log")).install()
    try:
        boom = _Boom()

        def broken_slot():
            raise RuntimeError("a bug in a slot")

        boom.fire.connect(broken_slot)
        boom.fire.emit()
        qtbot.waitUntil(
            lambda: reporter.dialog is not None and reporter.dialog.isVisible(), timeout=5_000
        )
        assert "a bug in a slot" in reporter.dialog.text()
        assert str(tmp_path / "app.log") in reporter.dialog.informativeText()
        reporter.dialog.close()
        lab = window.show_panel("kernels")
        assert lab.isVisible()
    finally:
        reporter.uninstall()
