"""The block view: an inception module's branches and a residual block's x, F(x) and sum,
each showing exactly the state's activations of the layers it names."""

import numpy as np
import pytest

from engine.imaging.mosaic import tile_maps
from engine.models import zoo
from engine.models.runtime import load_tensorflow
from gui.panels.activations.blocks import BlockTile, BlockView
from gui.state import InputKind

from .helpers import pick

TIMEOUT = 180_000


@pytest.fixture
def view(qtbot, app_state):
    load_tensorflow()
    v = BlockView(app_state)
    qtbot.addWidget(v)
    v.resize(1300, 600)
    v.show()
    qtbot.waitExposed(v)
    app_state.start_tensorflow()  # opens the lecture's MNIST CNN
    qtbot.waitUntil(lambda: app_state.model is not None, timeout=TIMEOUT)
    return v


def open_with_input(qtbot, state, key):
    state.open_model(key, None)
    qtbot.waitUntil(lambda: state.model is not None and state.model.key == key, timeout=TIMEOUT)
    image = np.random.default_rng(14).integers(0, 256, (224, 224, 3), dtype=np.uint8)
    state.set_input(image, InputKind.SAMPLE, "noise")

    def ready():
        a = state.activations
        return a is not None and a.model.key == key and not state.busy()

    qtbot.waitUntil(ready, timeout=TIMEOUT)
    return state.activations


def assert_shows(tile: BlockTile, acts, layer):
    """The tile shows ``layer``'s activations: the same array, tiled as the grid tiles
    (each map on its own scale, or raw values on the tile's ``levels``)."""
    assert tile.layer == layer
    np.testing.assert_array_equal(tile.maps, acts.maps[layer])
    norm = "per_map" if tile.levels is None else "none"
    expected = tile_maps(
        acts.maps[layer],
        columns=tile.mosaic.columns,
        normalisation=norm,
        gap=max(1, acts.maps[layer].shape[0] // 12),
        max_side=BlockTile.MAX_SIDE,
    )
    np.testing.assert_array_equal(tile.view.data(), expected.image)


def test_no_blocks_in_the_lecture_cnn(view, app_state):
    assert view.block_names() == [] and not view.combo.isEnabled()
    assert view.kind() is None and view.tiles == []
    assert "has no inception modules or residual blocks" in view.message.text()


def test_inception_module_branches_show_their_maps(qtbot, view, app_state):
    acts = open_with_input(qtbot, app_state, zoo.INCEPTIONV3)
    model = app_state.model.network
    assert view.block_names() == [f"mixed{i}" for i in range(11)]

    app_state.select_layer("mixed0")
    assert view.kind() == "inception" and view.current_block().name == "mixed0"
    *branches, concat = view.tiles
    assert len(branches) == 4
    titles = [t.title for t in branches]
    assert titles == ["Branch 1: 1x1", "Branch 2: 5x5", "Branch 3: 3x3→3x3", "Branch 4: pool + 1x1"]
    # Each branch shows the layer the concatenation takes, in the concatenation's order.
    inputs = [t._keras_history[0].name for t in model.get_layer("mixed0").input]
    assert [t.layer for t in branches] == inputs
    for tile in branches:
        assert_shows(tile, acts, tile.layer)
        assert tile.levels is None  # each map on its own scale: patterns, not sizes
    assert_shows(concat, acts, "mixed0")
    assert sum(t.maps.shape[-1] for t in branches) == concat.maps.shape[-1] == 256

    # A layer inside a branch shows its module; the combo follows the selection.
    app_state.select_layer(inputs[2])
    assert view.current_block().name == "mixed0" and view.combo.currentData() == "mixed0"
    # A stem layer is in no module: say so, and choose one by name.
    stem = next(n.name for n in model.layers if n.name.startswith("conv2d"))
    app_state.select_layer(stem)
    assert view.kind() is None and not any(t.isVisible() for t in view._all_tiles)
    assert f"{stem} is in no inception module or residual block" in view.message.text()
    pick(qtbot, view.combo, "mixed9 (inception module)")
    assert app_state.selection.layer == "mixed9" and view.current_block().name == "mixed9"
    assert len(view.tiles) == 5
    assert_shows(view.tiles[-1], acts, "mixed9")


def test_residual_block_x_fx_shortcut_and_sum(qtbot, view, app_state):
    acts = open_with_input(qtbot, app_state, zoo.RESNET50)
    assert len(view.block_names()) == 16

    app_state.select_layer("conv2_block1_2_conv")  # the first block: a projection shortcut
    assert view.kind() == "residual" and view.current_block().name == "conv2_block1"
    x, fx, shortcut, out = view.tiles
    for tile, layer in [
        (x, "pool1_pool"),
        (fx, "conv2_block1_3_bn"),
        (shortcut, "conv2_block1_0_bn"),
        (out, "conv2_block1_out"),
    ]:
        assert_shows(tile, acts, layer)
    np.testing.assert_allclose(out.maps, np.maximum(fx.maps + shortcut.maps, 0), atol=1e-4)
    # One colour scale for the four, so their values compare; its bar shown once.
    arrays = [t.maps for t in view.tiles]
    lo, hi = min(a.min() for a in arrays), max(a.max() for a in arrays)
    assert all(t.levels == pytest.approx((lo, hi)) for t in view.tiles)
    assert [t.view.colour_bar.isVisible() for t in view.tiles] == [False] * 3 + [True]
    expected = np.linalg.norm(acts.maps["conv2_block1_3_bn"].astype(np.float64)) / np.linalg.norm(
        acts.maps["conv2_block1_0_bn"].astype(np.float64)
    )
    assert view.norm_ratio() == pytest.approx(expected, rel=1e-9)
    assert "‖F(x)‖ / ‖shortcut(x)‖" in view.ratio_label.text()

    app_state.select_layer("conv2_block2_add")  # an identity shortcut: shortcut(x) = x
    assert view.current_block().name == "conv2_block2"
    x, fx, shortcut, out = view.tiles
    assert_shows(x, acts, "conv2_block1_out")
    assert_shows(shortcut, acts, "conv2_block1_out")
    assert_shows(fx, acts, "conv2_block2_3_bn")
    assert_shows(out, acts, "conv2_block2_out")
    x_norm = np.linalg.norm(acts.maps["conv2_block1_out"].astype(np.float64))
    f_norm = np.linalg.norm(acts.maps["conv2_block2_3_bn"].astype(np.float64))
    assert view.norm_ratio() == pytest.approx(f_norm / x_norm, rel=1e-9)
    assert "‖F(x)‖ / ‖x‖" in view.ratio_label.text()

    app_state.select_layer("conv1_conv")
    assert view.kind() is None and "conv1_conv is in no" in view.message.text()

    # Hidden (another tab shown), it reads and tiles nothing; shown, it catches up.
    view.hide()
    app_state.select_layer("conv2_block1_2_conv")
    assert view.current_block() is None and view.kind() is None
    view.show()
    qtbot.waitExposed(view)
    assert view.current_block().name == "conv2_block1"
    assert_shows(view.tiles[3], acts, "conv2_block1_out")
    pick(qtbot, view.combo, "conv3_block1 (residual block, projection shortcut)")
    assert app_state.selection.layer == "conv3_block1_out"
    assert view.current_block().name == "conv3_block1"
