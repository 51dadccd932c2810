"""Smoke tests of the whole window: every panel opens and closes, screenshots render."""

import subprocess
import sys

from PySide6.QtCore import Qt
from PySide6.QtGui import QImage

from gui.main_window import MainWindow, panel_specs
from main import PANELS
from tests.conftest import ROOT


def test_window_opens_every_panel_and_loads_tensorflow(qtbot):
    window = MainWindow()
    qtbot.addWidget(window)
    window.show()
    with qtbot.waitSignal(window.state.tensorflow_ready, timeout=120_000) as blocker:
        pass
    assert "TensorFlow" in blocker.args[0] and "Keras 3" in blocker.args[0]
    assert window.tf_label.text() == blocker.args[0]
    keys = [spec.key for spec in panel_specs()]
    assert set(keys) <= set(PANELS)
    for i, key in enumerate(keys):
        qtbot.keyClick(window, Qt.Key(Qt.Key.Key_1 + i), Qt.KeyboardModifier.ControlModifier)
        assert window.tabs.currentWidget() is window.panels[key]
    window.close()


def test_screenshot_command_writes_a_png(tmp_path):
    out = tmp_path / "kernels.png"
    result = subprocess.run(
        [sys.executable, str(ROOT / "main.py"), "--screenshot", str(out), "--panel", "kernels"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    image = QImage(str(out))
    assert image.width() >= 800 and image.height() >= 500


def test_a_drawn_digit_opens_in_the_activations_panel(qtbot):
    from .helpers import draw_stroke

    window = MainWindow()
    qtbot.addWidget(window)
    window.show()
    draw = window.show_panel("draw")
    activations = window.panels["activations"]
    qtbot.waitUntil(
        lambda: draw.classifier() is not None and activations.loaded() is not None, timeout=120_000
    )
    s = draw.canvas.width() / 280
    draw_stroke(draw.canvas, [(140 * s, 40 * s), (140 * s, 240 * s)])
    qtbot.waitUntil(
        lambda: draw.prediction() is not None and draw.prediction().digit == 1, timeout=60_000
    )
    with qtbot.waitSignal(activations.activations_ready, timeout=60_000) as blocker:
        qtbot.mouseClick(draw.explore_button, Qt.MouseButton.LeftButton)
    assert window.tabs.currentWidget() is activations
    computed = blocker.args[0]
    assert computed.model.key == "mnist" and computed.top[0][0] == "1"
    window.close()


def test_tensorflow_that_cannot_load_is_explained_in_every_panel(qtbot, monkeypatch):
    import gui.main_window as main_window

    def broken(**_kwargs):
        raise ImportError("libtensorflow_framework.so.2: cannot open shared object file")

    monkeypatch.setattr(main_window, "load_tensorflow", broken)
    window = MainWindow()
    qtbot.addWidget(window)
    window.show()
    qtbot.waitUntil(lambda: window.state.tensorflow_error is not None, timeout=30_000)
    assert window.tf_label.text() == "TensorFlow failed to load"
    draw, activations = window.panels["draw"], window.panels["activations"]
    assert draw.guess_label.text() == "Model unavailable"
    assert "cannot open shared object file" in draw.message.text()
    assert "TensorFlow could not be loaded" in activations.model_label.text()
    assert not activations.model_combo.isEnabled()
    lab = window.show_panel("kernels")  # the numpy panels work without TensorFlow
    qtbot.waitUntil(lambda: lab.result() is not None, timeout=10_000)
    window.close()
