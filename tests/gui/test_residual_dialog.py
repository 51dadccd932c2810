"""The residual experiment dialog: Start trains plain and residual nets, curves grow, Stop
and closing stop the run, the settings are remembered.

The dataset is cut to a few dozen digits, and the runs train the depth-8 pair (one block a
stage, offered here besides the paper's depths), so that a run takes seconds.
"""

import pytest
from PySide6.QtCore import QSettings, Qt

import gui.residual_dialog as residual_dialog
from gui.residual_dialog import ResidualDialog

TIMEOUT = 120_000


@pytest.fixture
def dialog(qtbot, app_state, monkeypatch):
    monkeypatch.setattr(residual_dialog, "TRAIN_DIGITS", 48)
    monkeypatch.setattr(residual_dialog, "VALIDATION_DIGITS", 16)
    monkeypatch.setattr(residual_dialog, "BATCH", 16)
    monkeypatch.setattr(residual_dialog, "DEPTHS", (8, *residual_dialog.DEPTHS))
    d = ResidualDialog(app_state)
    qtbot.addWidget(d)
    d.show()
    qtbot.waitExposed(d)
    yield d
    if d.is_running():  # a failing test leaves no run behind
        d.stop()
        qtbot.waitUntil(lambda: not d.is_running(), timeout=TIMEOUT)


def _choose_depth(dialog, depth):
    dialog.depth_combo.setCurrentIndex(dialog.depth_combo.findData(depth))


def test_a_short_run_draws_both_curves(qtbot, dialog):
    _choose_depth(dialog, 20)
    assert not dialog.shallow_check.isEnabled()  # 20 layers: there is no shallower pair
    _choose_depth(dialog, 8)
    dialog.shallow_check.setChecked(False)
    dialog.epochs_spin.setValue(2)
    qtbot.mouseClick(dialog.start_button, Qt.MouseButton.LeftButton)
    assert dialog.is_running() and not dialog.start_button.isEnabled()
    assert dialog.stop_button.isEnabled() and not dialog.depth_combo.isEnabled()
    qtbot.waitUntil(lambda: not dialog.is_running(), timeout=TIMEOUT)
    assert set(dialog.curves) == {"plain-8", "residual-8"}
    qtbot.waitUntil(lambda: dialog.curve_points("residual-8") == 2, timeout=5_000)
    assert dialog.curve_points("plain-8") == 2
    assert [(r.network, r.epoch) for r in dialog.records()] == [
        ("plain-8", 1),
        ("residual-8", 1),
        ("plain-8", 2),
        ("residual-8", 2),
    ]
    assert dialog.status_label.text().startswith("Done: 2 epoch(s)")
    assert "plain-8" in dialog.status_label.text()
    assert dialog.progress_bar.value() == 1000
    assert dialog.start_button.isEnabled() and not dialog.stop_button.isEnabled()
    # What was chosen is remembered for the next time.
    assert int(QSettings().value("residual/depth")) == 8
    assert int(QSettings().value("residual/epochs")) == 2
    assert QSettings().value("residual/with_20") in (False, "false")
    again = ResidualDialog(dialog._state)
    qtbot.addWidget(again)
    assert again.depth() == 8 and again.epochs_spin.value() == 2
    assert not again.shallow_check.isChecked()


def test_the_deeper_pair_and_the_20_layer_pair_get_four_curves(dialog):
    _choose_depth(dialog, 56)
    assert dialog.shallow_check.isEnabled()
    dialog.shallow_check.setChecked(True)
    assert dialog.depths() == (20, 56)
    dialog.shallow_check.setChecked(False)
    assert dialog.depths() == (56,)
    dialog.shallow_check.setChecked(True)
    dialog._make_curves(dialog.depths())
    assert list(dialog.curves) == ["plain-20", "residual-20", "plain-56", "residual-56"]
    assert "plain-56" in dialog.caption.text() and "residual-56" in dialog.caption.text()
    _choose_depth(dialog, 20)
    assert "plain-56" not in dialog.caption.text()


def test_stop_stops_the_run(qtbot, dialog):
    _choose_depth(dialog, 8)
    dialog.shallow_check.setChecked(False)
    dialog.epochs_spin.setValue(50)
    qtbot.mouseClick(dialog.start_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: len(dialog.records()) >= 2, timeout=TIMEOUT)
    qtbot.mouseClick(dialog.stop_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not dialog.is_running(), timeout=TIMEOUT)
    assert dialog.status_label.text().startswith("Stopped")
    assert dialog.start_button.isEnabled() and dialog.depth_combo.isEnabled()
    n = len(dialog.records())
    assert n < 100
    qtbot.wait(300)
    assert len(dialog.records()) == n  # nothing arrives after the stop
    assert dialog.curve_points("plain-8") >= 1


def test_closing_the_dialog_stops_the_run(qtbot, dialog):
    _choose_depth(dialog, 20)
    dialog.epochs_spin.setValue(50)
    qtbot.mouseClick(dialog.start_button, Qt.MouseButton.LeftButton)
    assert dialog.is_running()
    dialog.close()
    assert not dialog.isVisible()
    qtbot.waitUntil(lambda: not dialog.is_running(), timeout=TIMEOUT)
    assert len(dialog.records()) < 100


def test_show_for_reuses_one_dialog(qtbot, app_state):
    from PySide6.QtWidgets import QWidget

    parent = QWidget()
    qtbot.addWidget(parent)
    first = ResidualDialog.show_for(app_state, parent)
    assert ResidualDialog.show_for(app_state, parent) is first
    first.close()
