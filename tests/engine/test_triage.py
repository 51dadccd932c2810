"""engine.editing.triage without Qt: the orders of a layer's channels.

``dead_over_batch`` is checked against a Keras sub-model and numpy counting zeros, over
inputs of one size and of several; ``channel_order`` against a plain sort.
"""

import keras
import numpy as np
import pytest
from keras import layers

from engine.editing.triage import (
    CHANNEL,
    DEAD,
    DIGIT_BATCH,
    MAX,
    ChannelOrder,
    channel_order,
    dead_over_batch,
    digit_batch,
    photo_batch,
)
from engine.imaging.images import load_image
from engine.models import zoo
from engine.models.mnist_data import bundled_test_digits
from engine.util.paths import sample_images

LAYER = "conv2d_2"


@pytest.fixture(scope="module")
def loaded():
    return zoo.load_zoo_model(zoo.MNIST)


def dead_by_hand(model, layer, xs):
    """Per channel, the fraction of ``xs`` whose map is zero everywhere: one call each."""
    sub = keras.Model(model.inputs[0], model.get_layer(layer).output)
    maps = [np.asarray(sub(x[None], training=False))[0] for x in xs]
    return np.mean([(m == 0).all(axis=(0, 1)) for m in maps], axis=0)


def test_the_digit_batch_is_the_first_bundled_digits_prepared(loaded):
    batch = digit_batch(loaded)
    digits, _ = bundled_test_digits()
    assert batch.shape == (DIGIT_BATCH, 28, 28, 1) and batch.dtype == np.float32
    np.testing.assert_allclose(batch[..., 0], digits[:DIGIT_BATCH] / 255.0, atol=1e-7)


def test_dead_over_the_digit_batch_counts_the_all_zero_maps(loaded):
    batch = digit_batch(loaded)
    fractions = []
    dead = dead_over_batch(loaded.model, LAYER, batch, progress=lambda f, _m: fractions.append(f))
    expected = dead_by_hand(loaded.model, LAYER, batch)
    np.testing.assert_array_equal(dead, expected)
    assert dead.shape == (64,) and dead.dtype == np.float64
    assert len(set(dead.tolist())) > 3  # a real spread, not every channel alike
    assert fractions == sorted(fractions) and fractions[-1] == pytest.approx(1.0)


def test_inputs_of_several_sizes_are_weighted_by_their_counts():
    keras.utils.set_random_seed(3)
    inputs = keras.Input((None, None, 1))
    model = keras.Model(inputs, layers.Conv2D(6, 3, activation="relu", name="conv")(inputs))
    rng = np.random.default_rng(0)
    xs = [rng.normal(size=(8, 8, 1)).astype(np.float32) for _ in range(3)]
    xs += [rng.normal(size=(5, 7, 1)).astype(np.float32) for _ in range(2)]
    xs += [np.full((6, 6, 1), -1.0, np.float32)]  # a map dead everywhere on most channels
    fractions = []
    dead = dead_over_batch(model, "conv", xs, progress=lambda f, _m: fractions.append(f))
    np.testing.assert_allclose(dead, dead_by_hand(model, "conv", xs), atol=1e-12)
    assert fractions[-1] == pytest.approx(1.0)
    with pytest.raises(InterruptedError):
        dead_over_batch(model, "conv", xs, cancelled=lambda: True)
    with pytest.raises(ValueError, match="at least one input"):
        dead_over_batch(model, "conv", [])


def test_the_photo_batch_is_the_samples_and_the_current_input_once(loaded):
    samples = sample_images()
    current = np.zeros((28, 28, 1), np.float32)
    batch = photo_batch(loaded, current)
    assert len(batch) == len(samples) + 1 and batch[-1] is current
    first = next(iter(samples))
    np.testing.assert_array_equal(batch[0], loaded.prepare(load_image(samples[first])))
    # The current input is one of the samples: it is not counted twice.
    assert len(photo_batch(loaded, current, current_sample=first)) == len(samples)


def test_channel_order_is_a_stable_sort_cut_to_the_top():
    values = np.array([0.2, 0.9, 0.2, 0.5, 0.9, 0.0])
    order = channel_order(6, 3, values, MAX, "max activation")
    expected = sorted(range(6), key=lambda c: (-values[c], c))[:3]
    assert order == ChannelOrder((1, 4, 3), 6, MAX, "top 3 of 6 by max activation")
    assert list(order.channels) == expected and order.values is values
    every = channel_order(6, 0, values, DEAD, "dead fraction over 200 test digits")
    assert every.channels == tuple(sorted(range(6), key=lambda c: (-values[c], c)))
    assert every.title == "all 6 by dead fraction over 200 test digits"
    assert channel_order(6, 99, values, MAX, "x").channels == every.channels


def test_channel_order_by_number():
    assert channel_order(5) == ChannelOrder((0, 1, 2, 3, 4), 5, CHANNEL, "")
    assert channel_order(5, 2).title == "first 2 of 5 by channel number"
    noted = channel_order(5, 2, note="(dead fraction: computing…)")
    assert noted.title == "first 2 of 5 by channel number (dead fraction: computing…)"
    assert channel_order(5, note="(x)").title == "(x)" and noted.values is None
    with pytest.raises(ValueError, match="one per channel"):
        channel_order(5, 0, [1.0, 2.0], MAX)
    with pytest.raises(ValueError, match=">= 0"):
        channel_order(5, -1)
