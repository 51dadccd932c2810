"""Smoke tests of the whole window: every panel opens and closes, screenshots render."""

import subprocess
import sys
from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtGui import QImage

from gui.main_window import MainWindow, panel_specs
from main import PANELS

ROOT = Path(__file__).resolve().parents[2]


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
    state = window.state
    qtbot.waitUntil(
        lambda: draw.classifier() is not None and state.activations is not None, timeout=120_000
    )
    s = draw.canvas.width() / 280
    draw_stroke(draw.canvas, [(140 * s, 40 * s), (140 * s, 240 * s)])
    qtbot.waitUntil(
        lambda: draw.prediction() is not None and draw.prediction().digit == 1, timeout=60_000
    )
    qtbot.mouseClick(draw.explore_button, Qt.MouseButton.LeftButton)
    assert window.tabs.currentWidget() is activations
    qtbot.waitUntil(
        lambda: (
            state.activations is not None and state.activations.input.kind.value == "drawn_digit"
        ),
        timeout=60_000,
    )
    acts = state.activations
    assert acts.model is state.models["mnist"] and acts.top[0][0] == "1"
    assert activations.image_combo.currentText().startswith("The digit drawn")
    window.close()


def test_a_kernel_put_into_the_model_shows_its_edit(qtbot):
    from PySide6.QtWidgets import QDialogButtonBox

    window = MainWindow()
    qtbot.addWidget(window)
    window.show()
    state = window.state
    qtbot.waitUntil(lambda: state.activations is not None, timeout=120_000)
    lab = window.show_panel("kernels")
    qtbot.mouseClick(lab.put_button, Qt.MouseButton.LeftButton)
    dialog = lab.put_dialog
    qtbot.waitUntil(dialog.isVisible, timeout=5_000)
    ok = dialog.buttons.button(QDialogButtonBox.StandardButton.Ok)
    qtbot.mouseClick(ok, Qt.MouseButton.LeftButton)
    activations = window.panels["activations"]
    qtbot.waitUntil(
        lambda: len(state.edits("mnist")) == 1 and state.selection.layer == "conv2d_1",
        timeout=120_000,
    )
    assert window.current_panel_key() == "activations"
    assert activations.tabs.currentWidget() is activations.edit_view  # its edit, shown
    assert "edited (1 change)" in activations.model_label.text()


def test_tensorflow_that_cannot_load_is_explained_in_every_panel(qtbot, monkeypatch):
    import engine.models.runtime

    def broken(**_kwargs):
        raise ImportError("libtensorflow_framework.so.2: cannot open shared object file")

    monkeypatch.setattr(engine.models.runtime, "load_tensorflow", broken)
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


def test_retraining_updates_every_view_of_the_one_mnist_model(
    qtbot, small_mnist_npz, monkeypatch, _questions
):
    from PySide6.QtWidgets import QMessageBox

    _questions.answer(QMessageBox.StandardButton.Yes)  # a short run: worse, used anyway
    import engine.models.mnist_model
    from gui.panels.draw.train_dialog import FILE_SOURCE

    builds = []
    real = engine.models.mnist_model.load_trained_mnist_cnn

    def counted():
        builds.append(1)
        return real()

    monkeypatch.setattr(engine.models.mnist_model, "load_trained_mnist_cnn", counted)
    window = MainWindow()
    qtbot.addWidget(window)
    window.show()
    state, draw = window.state, window.panels["draw"]
    activations = window.show_panel("activations")
    qtbot.waitUntil(
        lambda: draw.classifier() is not None and state.activations is not None, timeout=120_000
    )
    first = state.models["mnist"]
    assert len(builds) == 1  # one MNIST model, shared by Draw and Activations
    assert draw.classifier().model is first.network and state.activations.model is first
    dialog = draw.open_train_dialog()
    dialog.source_combo.setCurrentText(FILE_SOURCE)
    dialog.path_edit.setText(str(small_mnist_npz))
    dialog.epochs_spin.setValue(1)
    dialog.batch_spin.setValue(64)
    qtbot.mouseClick(dialog.start_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: state.models["mnist"] is not first, timeout=240_000)
    new = state.models["mnist"]
    qtbot.waitUntil(
        lambda: state.activations is not None and state.activations.model is new, timeout=60_000
    )
    qtbot.waitUntil(lambda: draw.classifier().model is new.network, timeout=60_000)
    # The new weights are the ones just written, in every view.
    import numpy as np

    saved = real()
    for a, b in zip(new.network.get_weights(), saved.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    assert activations.model_label.text().startswith("MNIST")
    assert "your trained weights" in draw.weights_label.text()
    dialog.close()
    window.close()


def test_settings_live_in_the_data_folder_and_survive_a_restart(qtbot, tmp_path, monkeypatch):
    from PySide6.QtCore import QSettings

    from gui.settings import configure_settings

    monkeypatch.setenv("FME_DATA_DIR", str(tmp_path / "data"))
    assert configure_settings() == tmp_path / "data" / "settings"
    assert QSettings().fileName().startswith(str(tmp_path / "data" / "settings"))
    window = MainWindow(load_tf=False)
    qtbot.addWidget(window)
    window.show()
    qtbot.waitExposed(window)
    window.resize(1400, 900)
    bar = window.tabs.tabBar()
    qtbot.mouseClick(bar, Qt.MouseButton.LeftButton, pos=bar.tabRect(1).center())
    closed_size = window.size()
    window.close()
    assert QSettings().value("main_window/tab") == "stride"  # a key, not an index
    again = MainWindow(load_tf=False)
    qtbot.addWidget(again)
    again.show()
    assert again.tabs.currentWidget() is again.panels["stride"]
    # The geometry is restored (the offscreen screen may shrink it to fit, so the
    # size is compared with the default one the window takes without settings).
    assert QSettings().value("main_window/geometry") is not None
    assert closed_size.width() == 1400 and again.size().toTuple() != (1280, 820)
    again.close()


def test_each_panel_runs_alone(tmp_path):
    """``python -m gui.panels.NAME`` for every panel (in one interpreter: one import of
    TensorFlow, not four), each window shown and closed by itself."""
    import os

    code = (
        "import runpy\n"
        "codes = []\n"
        "for name in ('kernel_lab', 'stride', 'draw', 'activations'):\n"
        "    try:\n"
        "        runpy.run_module(f'gui.panels.{name}', run_name='__main__')\n"
        "        codes.append((name, 'returned without exiting'))\n"
        "    except SystemExit as exc:\n"
        "        codes.append((name, exc.code))\n"
        "print(codes)\n"
    )
    env = {
        **os.environ,
        "QT_QPA_PLATFORM": "offscreen",
        "FME_PREVIEW_QUIT": "ready",
        "FME_DATA_DIR": str(tmp_path),
    }
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    last = result.stdout.strip().splitlines()[-1]
    expected = [("kernel_lab", 0), ("stride", 0), ("draw", 0), ("activations", 0)]
    assert last == str(expected), result.stderr[-2000:]
    # Each quit once it showed what it shows (the digit models loaded), not after a while.
    ready = [line for line in result.stdout.splitlines() if line.startswith("ready ")]
    assert ready == [
        "ready KernelLabPanel",
        "ready StridePanel",
        "ready DrawPanel",
        "ready ActivationsPanel",
    ]


def _fully_visible(widget) -> bool:
    """Shown, and not cut by its window or by any parent's edge (a scroll area's too)."""
    from PySide6.QtCore import QPoint, QRect
    from PySide6.QtWidgets import QWidget

    if not widget.isVisible() or widget.width() < 4 or widget.height() < 4:
        return False
    window = QWidget.window(widget)  # pyqtgraph's PlotWidget has a window() of its own
    rect = QRect(widget.mapTo(window, QPoint(0, 0)), widget.size())
    parent = widget.parentWidget()
    while parent is not None:
        if not QRect(parent.mapTo(window, QPoint(0, 0)), parent.size()).contains(rect):
            return False
        parent = parent.parentWidget()
    return True


def test_every_panel_works_in_a_small_window(qtbot):
    """1024x640: a small laptop with scaling. The controls a person needs are whole."""
    window = MainWindow(load_tf=False)
    qtbot.addWidget(window)
    window.resize(1024, 640)
    window.show()
    qtbot.waitExposed(window)
    key_widgets = {
        "kernels": ["kernel_grid", "stride_spin", "padding_combo", "relu_check", "add_button"],
        "stride": [
            "op_combo",
            "n_spin",
            "formula_label",
            "input_grid",
            "output_grid",
            "play_button",
            "next_button",
        ],
        "draw": ["canvas", "guess_label", "bars", "clear_button", "explore_button"],
        "activations": [
            "model_combo",
            "image_combo",
            "layer_table",
            "norm_combo",
            "cmap_combo",
            "export_grid_button",
            "export_map_button",
            "export_npz_button",
            "tabs",
            "live",
            "triage.order_combo",
            "triage.top_spin",
            "triage.go_spin",
        ],
        "testset": ["model_combo", "data_combo", "table", "gallery"],
    }
    clipped = []
    for key, names in key_widgets.items():
        panel = window.show_panel(key)
        qtbot.wait(50)
        assert window.width() <= 1024 and window.height() <= 640, (key, window.size())
        for name in names:
            widget = panel
            for part in name.split("."):
                widget = getattr(widget, part)
            if not _fully_visible(widget):
                clipped.append(f"{key}.{name}")
    assert clipped == []
    window.close()


def test_the_model_comparison_opens_a_model(qtbot, monkeypatch):
    window = MainWindow(load_tf=False)
    qtbot.addWidget(window)
    window.show()
    opened = []
    monkeypatch.setattr(window.state, "open_model", opened.append)
    dialog = window.show_model_comparison()
    from gui.zoo_table import ZooTable

    table = dialog.findChild(ZooTable)
    assert "resnet50" in table.keys()
    table.model_activated.emit("resnet50")  # what a double-click on its row emits
    assert opened == ["resnet50"] and window.tabs.currentWidget() is window.panels["activations"]
    dialog.close()
    window.close()


def test_a_test_digit_has_one_probability_in_draw_and_activations(qtbot):
    """A digit opened from the test set is the same 28x28 array in Draw and Activations,
    and both show the model's probabilities for exactly it (Draw prepared its canvas
    again and showed 88% where Activations showed 98.7%)."""
    from engine.models.mnist_data import bundled_test_digits

    window = MainWindow()
    qtbot.addWidget(window)
    window.show()
    draw, state = window.panels["draw"], window.state
    qtbot.waitUntil(
        lambda: draw.classifier() is not None and state.activations is not None, timeout=120_000
    )
    x, _y = bundled_test_digits()
    for index in (0, 7, 33):
        state.open_test_digit(index)
        name = state.input.name
        qtbot.waitUntil(
            lambda n=name: (
                state.activations is not None
                and state.activations.input.name == n
                and draw.prediction() is not None
                and np.array_equal(draw.prediction().input.pixels, state.drawn_digit.pixels)
            ),
            timeout=60_000,
        )
        exact = x[index].astype(np.float32) / 255.0
        np.testing.assert_array_equal(state.activations.x[:, :, 0], exact)
        np.testing.assert_array_equal(draw.prediction().input.pixels, exact)
        expected = state.model.network(exact[None, :, :, None], training=False).numpy()[0]
        np.testing.assert_allclose(draw.prediction().probabilities, expected, atol=1e-5)
        np.testing.assert_allclose(state.activations.probabilities(), expected, atol=1e-5)
        # The Activations panel's image box names the test digit, not "the digit drawn".
        assert window.panels["activations"].source.current_text() == name
    window.close()
