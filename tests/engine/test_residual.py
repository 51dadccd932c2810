"""Plain against residual networks (engine.models.residual): He et al.'s section 4.2 nets.

Building is checked at the real depths; training on a few dozen digits and depth 8
(one block a stage), so that the tests stay fast.
"""

import numpy as np
import pytest

from engine.models.mnist_data import load_mnist
from engine.models.residual import (
    _zero_pad_shortcut_class,
    blocks_per_stage,
    build_plain,
    build_residual,
    bundled_split,
    train_pair,
)


def _count(model, kind):
    return sum(type(layer).__name__ == kind for layer in model.layers)


@pytest.fixture(scope="module")
def tiny(mnist_npz):
    (xa, ya), (xb, yb) = load_mnist(mnist_npz)
    return (xa[:64], ya[:64]), (xb[:32], yb[:32])


@pytest.mark.parametrize("depth", [20, 56])
def test_both_have_depth_minus_one_convs_and_one_dense(depth):
    plain, residual = build_plain(depth), build_residual(depth)
    for model in (plain, residual):
        assert _count(model, "Conv2D") == depth - 1
        assert _count(model, "Dense") == 1
        assert _count(model, "BatchNormalization") == depth - 1
        assert model.output_shape == (None, 10)
    # Option A shortcuts add no weights: the same parameters, layer for layer.
    assert plain.count_params() == residual.count_params()
    n = blocks_per_stage(depth)
    assert _count(residual, "Add") == 3 * n
    assert _count(plain, "Add") == 0
    # The stages run at 28, 14 and 7 pixels with 8, 16 and 32 channels.
    assert plain.get_layer(f"stage3_block{n}_2_conv").output.shape == (None, 7, 7, 32)


def test_widths_are_followed():
    model = build_residual(8, (4, 6, 10))
    assert model.get_layer("stage1_block1_2_conv").output.shape[-1] == 4
    assert model.get_layer("stage3_block1_add").output.shape == (None, 7, 7, 10)


@pytest.mark.parametrize("depth", [7, 19, 0, 21.0, True])
def test_a_depth_not_6n_plus_2_is_refused(depth):
    with pytest.raises(ValueError, match="6n \\+ 2"):
        build_plain(depth)


def test_the_shortcut_subsamples_and_pads_with_zero_channels():
    x = np.arange(2 * 4 * 4 * 3, dtype="float32").reshape(2, 4, 4, 3)
    y = np.asarray(_zero_pad_shortcut_class()(7, 2)(x))
    assert y.shape == (2, 2, 2, 7)
    # 4 extra channels, 2 before and 2 after the 3 of x.
    np.testing.assert_array_equal(y[..., 2:5], x[:, ::2, ::2, :])
    assert not y[..., :2].any() and not y[..., 5:].any()


def test_bundled_split_uses_the_shipped_digits():
    (xa, ya), (xb, yb) = bundled_split(400, 100)
    assert xa.shape == (400, 28, 28) and xb.shape == (100, 28, 28)
    assert len(ya) == 400 and len(yb) == 100
    with pytest.raises(ValueError, match="at most 500"):
        bundled_split(450, 100)


@pytest.fixture(scope="module")
def four_epochs(tiny):
    """A run of 4 epochs of the depth-8 pair (seed 0): its result, records, fractions."""
    records, fractions = [], []
    result = train_pair(
        (8,),
        tiny,
        epochs=4,
        batch=16,
        on_record=records.append,
        progress=lambda f, m: fractions.append(f),
    )
    return result, records, fractions


def test_a_short_training_lowers_the_loss_and_reports_in_order(four_epochs):
    result, records, fractions = four_epochs
    assert not result.cancelled and result.epochs_done == 4
    assert list(result.final) == ["plain-8", "residual-8"]
    # One record per network after each epoch, in training order.
    assert [(r.epoch, r.network) for r in records] == [
        (e, n) for e in range(1, 5) for n in ("plain-8", "residual-8")
    ]
    assert [r.step for r in records[::2]] == [4, 8, 12, 16]
    assert fractions == sorted(fractions) and fractions[-1] == pytest.approx(1.0)
    for name in ("plain-8", "residual-8"):
        losses = [r.loss for r in records if r.network == name]
        assert losses[-1] < losses[0], (name, losses)
        r = result.final[name]
        assert 0.0 <= r.error <= 1.0 and 0.0 <= r.val_error <= 1.0


def test_same_seed_same_start_and_same_run(tiny, four_epochs):
    # The plain and residual nets of one depth start from the same weights.
    import keras

    keras.utils.set_random_seed(0)
    plain = build_plain(8)
    keras.utils.set_random_seed(0)
    residual = build_residual(8)
    for name in ("stem_conv", "stage2_block1_1_conv", "digits"):
        for a, b in zip(
            plain.get_layer(name).weights, residual.get_layer(name).weights, strict=True
        ):
            np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    # And two runs with one seed give the same figures: a run of one epoch is the
    # first epoch of the four-epoch run.
    again = train_pair((8,), tiny, epochs=1, batch=16).final
    _, records, _ = four_epochs
    first = {r.network: r for r in records if r.epoch == 1}
    for name in ("plain-8", "residual-8"):
        assert again[name].loss == pytest.approx(first[name].loss, rel=1e-4)
        assert again[name].val_error == pytest.approx(first[name].val_error, abs=1e-6)


def test_cancel_stops_between_batches(tiny):
    calls, records = [], []

    def cancel_in_the_second_epoch():  # 4 batches x 2 networks an epoch
        calls.append(1)
        return len(calls) > 10

    result = train_pair(
        (8,),
        tiny,
        epochs=5,
        batch=16,
        cancelled=cancel_in_the_second_epoch,
        on_record=records.append,
    )
    assert result.cancelled and result.epochs_done == 1
    assert len(calls) == 11
    assert [r.epoch for r in records] == [1, 1]
    assert set(result.final) == {"plain-8", "residual-8"}


def test_arguments_are_checked(tiny):
    with pytest.raises(ValueError, match="epochs"):
        train_pair((8,), tiny, epochs=0)
    with pytest.raises(ValueError, match="batch"):
        train_pair((8,), tiny, batch=0)
    with pytest.raises(ValueError, match="depths"):
        train_pair((), tiny)
    with pytest.raises(ValueError, match="6n"):
        train_pair((9,), tiny)
