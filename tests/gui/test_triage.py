"""Channel triage in the Activations panel's "All maps" grid: order by mean, max, dead
fraction over a batch or ablation effect, top N, go to a channel; every order checked
against an independent computation with Keras."""

import threading

import numpy as np
import pytest
from PySide6.QtCore import Qt

from engine.models import zoo
from engine.models.mnist_data import bundled_test_digits
from gui.panels.activations import triage as triage_bar
from gui.panels.activations.triage import TriageBar

from .helpers import pick
from .test_activations import click_layer, click_map, wait_for_activations

TIMEOUT = 180_000
_UNSURE: list[int] = []


def unsure_digit(model):
    """The bundled test digit the MNIST CNN is least sure of (top p nearest 0.7): its
    class probability moves visibly when a channel is switched off."""
    if not _UNSURE:
        x, _ = bundled_test_digits()
        p = np.asarray(model(x[..., None].astype(np.float32) / 255.0, training=False))
        _UNSURE.append(int(np.argmin(np.abs(p.max(axis=1) - 0.7))))
    return _UNSURE[0]


@pytest.fixture
def panel(qtbot, app_state, activations_panel):
    p = activations_panel
    wait_for_activations(qtbot, app_state, zoo.MNIST)
    i = unsure_digit(app_state.model.network)
    app_state.open_digit(bundled_test_digits()[0][i], f"test digit {i}")
    qtbot.waitUntil(
        lambda: (
            app_state.activations is not None
            and app_state.activations.input.name == f"test digit {i}"
            and not app_state.busy()
        ),
        timeout=TIMEOUT,
    )
    return p


def type_number(qtbot, spin, value):
    """Select a spin box's text, type a number and press Enter, as a person would."""
    spin.setFocus()
    spin.selectAll()
    qtbot.keyClicks(spin, str(value))
    qtbot.keyClick(spin, Qt.Key.Key_Return)


def choose_order(qtbot, panel, key):
    combo = panel.triage.order_combo
    pick(qtbot, combo, combo.itemText(combo.findData(key)))


def wait_for_order(qtbot, panel, words):
    qtbot.waitUntil(
        lambda: not panel.triage.is_computing() and words in panel.grid_view.title(),
        timeout=TIMEOUT,
    )


def labels(panel):
    return [int(t.split(":")[0]) for t in panel.grid_view.label_texts()]


def test_max_order_top_n_and_go_to_channel(qtbot, panel):
    state = panel._state
    click_layer(qtbot, panel, "conv2d_2")
    raw = state.activations.maps["conv2d_2"]
    assert labels(panel) == list(range(64))  # by channel number to begin with
    choose_order(qtbot, panel, "max")
    expected = np.argsort(-raw.max(axis=(0, 1)), kind="stable")
    assert labels(panel) == expected.tolist() == list(panel.grid_channels())
    # Each tile says its value: the channel's maximum activation.
    first = panel.grid_view.label_texts()[0]
    assert first == f"{expected[0]}: {float(raw.max(axis=(0, 1))[expected[0]]):.3g}", first
    assert "all 64 by max activation" in panel.grid_view.title()
    click_map(qtbot, panel, 0)  # the first tile is the channel with the largest maximum
    assert state.selection.map == int(np.argmax(raw.max(axis=(0, 1))))
    assert panel.tabs.currentIndex() == 1
    np.testing.assert_array_equal(panel.detail_map.data(), raw[:, :, expected[0]])

    panel.tabs.setCurrentIndex(0)
    type_number(qtbot, panel.triage.top_spin, 10)
    assert len(panel.grid_mosaic().origins) == 10
    assert labels(panel) == expected[:10].tolist()
    assert "conv2d_2: top 10 of 64 by max activation" in panel.grid_view.title()
    click_map(qtbot, panel, 9)
    assert state.selection.map == expected[9]

    panel.tabs.setCurrentIndex(0)
    type_number(qtbot, panel.triage.go_spin, 7)
    assert state.selection.map == 7 and panel.tabs.currentIndex() == 1
    np.testing.assert_array_equal(panel.detail_map.data(), raw[:, :, 7])
    assert "map 7" in panel.detail_map.title()
    # A layer of units (Dense) has no maps to order: the row is disabled there.
    click_layer(qtbot, panel, "dense_1")
    assert not panel.triage.order_combo.isEnabled()
    # The order and N are remembered.
    again = TriageBar(state)
    qtbot.addWidget(again)
    assert (again.order_key(), again.top()) == ("max", 10)


def test_dead_over_a_batch_is_a_keras_sub_models(qtbot, panel, monkeypatch):
    import keras

    state = panel._state
    calls = []
    real = triage_bar.dead_over_batch

    def counted(*args, **kwargs):
        calls.append(args[1])
        return real(*args, **kwargs)

    monkeypatch.setattr(triage_bar, "dead_over_batch", counted)
    click_layer(qtbot, panel, "conv2d_2")
    choose_order(qtbot, panel, "dead")
    wait_for_order(qtbot, panel, "by dead fraction over 200 test digits")
    model = state.model.network
    x = bundled_test_digits()[0][:200, :, :, None].astype(np.float32) / 255.0
    out = keras.Model(model.inputs, model.get_layer("conv2d_2").output).predict(x, verbose=0)
    dead = (out.reshape(200, -1, 64) == 0).all(axis=1).mean(axis=0)
    assert len(set(dead.tolist())) > 3  # a real spread, not every channel alike
    np.testing.assert_array_equal(panel.triage.values(), dead)
    assert labels(panel) == np.argsort(-dead, kind="stable").tolist()
    # Cached per model and layer: another order and back computes nothing.
    choose_order(qtbot, panel, "mean")
    choose_order(qtbot, panel, "dead")
    assert not panel.triage.is_computing() and calls == ["conv2d_2"]
    # Model surgery replaces the model: the order is computed again for the edited one,
    # where the channel switched off is dead on every digit.
    off = int(np.flatnonzero(dead == 0)[-1])
    original = state.model
    state.ablate_channels(zoo.MNIST, "conv2d_2", [off])
    qtbot.waitUntil(lambda: calls == ["conv2d_2"] * 2, timeout=TIMEOUT)
    wait_for_order(qtbot, panel, "by dead fraction")
    edited = dead.copy()
    edited[off] = 1.0
    np.testing.assert_array_equal(panel.triage.values(), edited)
    assert labels(panel)[0] == off
    # Every edit undone: the original model again, its order from the cache.
    state.revert_edits(zoo.MNIST)
    qtbot.waitUntil(lambda: state.model is original and not state.busy(), timeout=TIMEOUT)
    wait_for_order(qtbot, panel, "by dead fraction")
    np.testing.assert_array_equal(panel.triage.values(), dead)
    assert calls == ["conv2d_2"] * 2


def test_ablation_order_is_a_zeroed_clones(qtbot, panel):
    import keras

    state = panel._state
    acts = state.activations
    c = state.explained_class()
    click_layer(qtbot, panel, "conv2d_2")
    choose_order(qtbot, panel, "ablation")
    combo = panel.triage.order_combo
    assert combo.currentText() == f"Ablation effect on '{c}'"
    wait_for_order(qtbot, panel, f"by ablation effect on p('{c}')")
    # Independently: zero each filter's kernel and bias in a clone and predict.
    clone = keras.models.clone_model(acts.model.network)
    clone.set_weights(acts.model.network.get_weights())
    layer = clone.get_layer("conv2d_2")
    kernel, bias = layer.get_weights()
    x = acts.x[None]
    base = float(np.asarray(clone(x, training=False))[0, c])
    drops = np.empty(64)
    for ch in range(64):
        k, b = kernel.copy(), bias.copy()
        k[..., ch], b[ch] = 0, 0
        layer.set_weights([k, b])
        drops[ch] = base - float(np.asarray(clone(x, training=False))[0, c])
    assert np.ptp(drops) > 1e-3  # an unsure digit: channels matter visibly
    np.testing.assert_allclose(panel.triage.values(), drops, atol=2e-6)
    shown = labels(panel)
    assert sorted(shown) == list(range(64))
    assert np.all(np.diff(drops[shown]) <= 4e-6)  # strongest effect first
    assert shown[0] == int(np.argmax(drops))
    # Another class explained: ordered again for that class.
    other = int(np.argsort(acts.maps["dense_2"])[-2])
    state.set_target_class(other)
    wait_for_order(qtbot, panel, f"on p('{other}')")
    assert combo.currentText() == f"Ablation effect on '{other}'"


def test_cancel_stops_an_order_until_it_is_chosen_again(qtbot, panel, monkeypatch):
    gate = threading.Event()
    real = triage_bar.dead_over_batch

    def held(model, layer, inputs, progress, cancelled):
        while not gate.wait(0.02):
            progress(0.0, "waiting")  # the task's: raises Cancelled once cancelled
        return real(model, layer, inputs, progress=progress, cancelled=cancelled)

    monkeypatch.setattr(triage_bar, "dead_over_batch", held)
    click_layer(qtbot, panel, "conv2d_2")
    bar = panel.triage
    choose_order(qtbot, panel, "dead")
    qtbot.waitUntil(bar.progress_box.isVisible, timeout=TIMEOUT)
    assert "computing" in panel.grid_view.title() and labels(panel) == list(range(64))
    qtbot.mouseClick(bar.cancel_button, Qt.MouseButton.LeftButton)
    assert not bar.is_computing() and not bar.progress_box.isVisible()
    assert "cancelled: choose the order again" in panel.grid_view.title()
    qtbot.waitUntil(lambda: not panel._state.runner.busy(), timeout=TIMEOUT)  # it stopped
    gate.set()
    choose_order(qtbot, panel, "dead")  # chosen again: computed
    wait_for_order(qtbot, panel, "by dead fraction")


def test_wide_untrained_vgg16_layer_top_16_by_mean(qtbot, panel):
    state = panel._state
    state.open_model(zoo.VGG16, None)
    wait_for_activations(qtbot, state, zoo.VGG16)
    click_layer(qtbot, panel, "block4_conv1")
    raw = state.activations.maps["block4_conv1"]
    assert raw.shape[2] == 512
    choose_order(qtbot, panel, "mean")
    type_number(qtbot, panel.triage.top_spin, 16)
    expected = np.argsort(-raw.mean(axis=(0, 1), dtype=np.float64), kind="stable")[:16]
    assert len(panel.grid_mosaic().origins) == 16
    assert labels(panel) == expected.tolist()
    assert "top 16 of 512 by mean activation" in panel.grid_view.title()
    click_map(qtbot, panel, 5)
    assert state.selection.map == expected[5]
    np.testing.assert_array_equal(panel.selected_map(), raw[:, :, expected[5]])
    assert panel.triage.ablation_available()  # VGG16 is one chain of layers
    # The row fits the right side of a 1024 px window.
    assert panel.triage.minimumSizeHint().width() <= 560


def test_a_photo_model_with_a_branch(qtbot, panel, tmp_path):
    """Ablation is refused inside a branch; dead maps are counted over the photos."""
    import keras

    from engine.imaging.images import load_image
    from engine.util.paths import sample_images

    inputs = keras.Input((16, 16, 3))
    conv = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="a")
    a = conv(inputs)
    b = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="b")(a)
    x = keras.layers.Add(name="join")([a, b])  # a feeds two layers: a branch
    x = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(x))
    kernel, bias = conv.get_weights()
    kernel[..., :2], bias[:2] = 0, [-1, 1]  # channel 0 dead on every input, 1 never
    conv.set_weights([kernel, bias])
    path = tmp_path / "branch.keras"
    model.save(path)
    state = panel._state
    choose_order(qtbot, panel, "ablation")  # remembered for any layer
    panel.open_model_file(path)
    qtbot.waitUntil(lambda: state.model is not None and state.model.key == "file", timeout=TIMEOUT)
    wait_for_activations(qtbot, state, "file")
    click_layer(qtbot, panel, "a")
    combo = panel.triage.order_combo
    index = combo.findData("ablation")
    assert not panel.triage.ablation_available()
    assert "single chain" in combo.itemData(index, Qt.ItemDataRole.ToolTipRole)
    assert "no ablation effect: a does not feed one chain" in panel.grid_view.title()
    assert labels(panel) == [0, 1, 2, 3]
    click_layer(qtbot, panel, "join")  # after the join, one chain to the output
    assert panel.triage.ablation_available()
    wait_for_order(qtbot, panel, "by ablation effect")

    click_layer(qtbot, panel, "a")
    choose_order(qtbot, panel, "dead")
    wait_for_order(qtbot, panel, "by dead fraction over the sample photos")
    acts, loaded = state.activations, state.model.loaded
    batch = [loaded.prepare(load_image(p)) for p in sample_images().values()] + [acts.x]
    head = keras.Model(state.model.network.inputs, state.model.network.get_layer("a").output)
    out = head.predict(np.stack(batch), verbose=0)
    dead = (out.reshape(len(batch), -1, 4) == 0).all(axis=1).mean(axis=0)
    assert dead[0] == 1.0 and dead[1] == 0.0
    np.testing.assert_array_equal(panel.triage.values(), dead)
    assert labels(panel) == np.argsort(-dead, kind="stable").tolist()


def test_live_frames_keep_the_order_of_the_first_frame(qtbot, panel, tmp_path, monkeypatch):
    from PySide6.QtWidgets import QFileDialog

    from .test_live_input import write_bar_video

    state = panel._state
    click_layer(qtbot, panel, "conv2d_1")
    choose_order(qtbot, panel, triage_bar.MAX)
    type_number(qtbot, panel.triage.top_spin, 8)
    write_bar_video(tmp_path / "bar.avi", n=40)
    monkeypatch.setattr(
        QFileDialog, "getOpenFileName", lambda *a, **k: (str(tmp_path / "bar.avi"), "")
    )
    shown = []
    panel.layer_shown.connect(lambda _layer: shown.append(tuple(labels(panel))))
    serials = set()
    state.activations_changed.connect(lambda a: a is not None and serials.add(a.input.serial))
    qtbot.mouseClick(panel.live.video_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: len(serials) >= 5, timeout=TIMEOUT)
    panel.live.stop()
    live = shown[-4:]
    assert len(set(live)) == 1 and len(live[0]) == 8  # each tile keeps its channel
    assert triage_bar.LIVE_NOTE in panel.grid_view.title()
    # A still image again: ranked on it.
    i = unsure_digit(state.model.network)
    state.open_digit(bundled_test_digits()[0][i], "still")
    qtbot.waitUntil(
        lambda: state.activations is not None and state.activations.input.name == "still",
        timeout=TIMEOUT,
    )
    raw = state.activations.maps["conv2d_1"]
    expected = np.argsort(-raw.max(axis=(0, 1)), kind="stable")[:8].tolist()
    qtbot.waitUntil(lambda: labels(panel) == expected, timeout=TIMEOUT)
    assert triage_bar.LIVE_NOTE not in panel.grid_view.title()
