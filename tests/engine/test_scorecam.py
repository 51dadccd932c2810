"""engine.explanation.scorecam against independent computations.

The reference is written here with explicit loops: each map up-sampled by
``tf.image.resize`` (bilinear), min-max normalised, the masked input predicted one at a
time, the weighted sum summed cell by cell. A model built by hand (one channel that
measures brightness, a class score that is its mean) says where the map must peak.
"""

import keras
import numpy as np
import pytest
import tensorflow as tf
from keras import layers

from engine.explanation.scorecam import (
    bilinear_matrix,
    default_layer,
    score_cam,
    upsample_maps,
)
from engine.models.zoo import softmax

SIZE = 16


# -- models -------------------------------------------------------------------------------
def _tiny_cnn(final_activation):
    keras.utils.set_random_seed(7)
    inputs = keras.Input((SIZE, SIZE, 3))
    h = layers.Conv2D(4, 3, activation="relu", name="conv1")(inputs)
    h = layers.Conv2D(6, 3, strides=2, activation="relu", name="maps")(h)
    h = layers.GlobalAveragePooling2D()(h)
    outputs = layers.Dense(3, activation=final_activation, name="head")(h)
    return keras.Model(inputs, outputs)


@pytest.fixture(scope="module")
def tiny():
    return _tiny_cnn("softmax")


@pytest.fixture(scope="module")
def image():
    return np.random.default_rng(3).uniform(0, 1, (SIZE, SIZE, 3)).astype(np.float32)


def _forward(model):
    return lambda batch: np.asarray(model(batch, training=False))


def _maps(model, x, layer="maps"):
    sub = keras.Model(model.input, model.get_layer(layer).output)
    return np.asarray(sub(x[None], training=False))[0]


def _brightness_model():
    """maps: channel 0 = mean brightness of a 3x3 patch (stride 2), channel 1 = darkness;
    logits: [40 * mean(channel 0), 1]: class 0 is "there is something bright"."""
    inputs = keras.Input((SIZE, SIZE, 3))
    conv = layers.Conv2D(2, 3, strides=2, padding="same", activation="relu", name="maps")
    h = conv(inputs)
    kernel = np.zeros((3, 3, 3, 2), np.float32)
    kernel[..., 0] = 1 / 27
    kernel[..., 1] = -1 / 27
    conv.set_weights([kernel, np.array([0.0, 0.5], np.float32)])
    head = layers.Dense(2, name="head")
    outputs = layers.Softmax()(head(layers.GlobalAveragePooling2D()(h)))
    model = keras.Model(inputs, outputs)
    head.set_weights([np.array([[40.0, 0.0], [0.0, 0.0]], np.float32), np.array([0.0, 1.0])])
    return model


# -- the reference ------------------------------------------------------------------------
def _reference(model, x, maps, c, baseline, probabilities=True, weighting="increase"):
    def score(inp):
        out = np.asarray(model(inp[None].astype(np.float32), training=False), np.float64)[0]
        if probabilities and not (out.min() >= 0 and abs(out.sum() - 1) <= 0.01):
            out = np.exp(out - out.max()) / np.exp(out - out.max()).sum()
        return out[c]

    h, w, k = maps.shape
    x = x.astype(np.float64)
    base = np.broadcast_to(np.asarray(baseline, np.float64), x.shape)
    p_base = score(base)
    scores, used = [], []
    for i in range(k):
        a = maps[:, :, i]
        if a.max() == a.min():
            continue
        up = tf.image.resize(a[:, :, None], (x.shape[0], x.shape[1]), method="bilinear")
        up = np.asarray(up, np.float64)[:, :, 0]
        mask = (up - up.min()) / (up.max() - up.min())
        masked = base + (x - base) * mask[:, :, None]
        scores.append(score(masked) - p_base)
        used.append(i)
    weights = np.zeros(k)
    if used:
        s = np.array(scores)
        weights[used] = (
            np.exp(s - s.max()) / np.exp(s - s.max()).sum() if weighting == "softmax" else s
        )
    cam = np.zeros((h, w))
    for r in range(h):
        for q in range(w):
            cam[r, q] = max(sum(weights[i] * maps[r, q, i] for i in range(k)), 0.0)
    return cam


# -- against the reference ----------------------------------------------------------------
@pytest.mark.parametrize("weighting", ["increase", "softmax"])
@pytest.mark.parametrize("baseline", [None, 0.5])
def test_score_cam_matches_a_loop_reference(tiny, image, weighting, baseline):
    maps = _maps(tiny, image)
    assert maps.shape == (6, 6, 6)
    for c in range(3):
        cam = score_cam(
            _forward(tiny), image, maps, c, baseline=baseline, batch_size=4, weighting=weighting
        )
        want = _reference(
            tiny, image, maps, c, 0.0 if baseline is None else baseline, weighting=weighting
        )
        assert cam.shape == (6, 6) and cam.dtype == np.float32
        np.testing.assert_allclose(cam, want, atol=1e-5, rtol=1e-5)
    assert np.abs(want).max() > 1e-4  # not a vacuous all-zero comparison


def test_model_predict_works_as_forward(tiny, image):
    maps = _maps(tiny, image)
    cam = score_cam(lambda b: tiny.predict(b, verbose=0), image, maps, 1, batch_size=64)
    want = _reference(tiny, image, maps, 1, 0.0)
    np.testing.assert_allclose(cam, want, atol=1e-5, rtol=1e-5)


def test_upsampling_is_tf_bilinear():
    rng = np.random.default_rng(0)
    for (h, w), size in [((3, 5), (16, 16)), ((5, 7), (7, 9)), ((7, 4), (3, 2)), ((1, 1), (4, 4))]:
        maps = rng.normal(size=(h, w, 3))
        want = np.asarray(tf.image.resize(maps, size, method="bilinear"), np.float64)
        np.testing.assert_allclose(upsample_maps(maps, size), want, atol=1e-6)
    np.testing.assert_allclose(bilinear_matrix(5, 11).sum(axis=1), 1.0)


def test_constant_maps_are_skipped(tiny, image):
    maps = _maps(tiny, image)
    with_constant = np.concatenate([maps, np.full((6, 6, 2), 3.0, np.float32)], axis=-1)
    seen = []

    def forward(batch):
        seen.append(batch.shape[0])
        return _forward(tiny)(batch)

    cam = score_cam(forward, image, with_constant, 0, batch_size=100)
    assert seen == [1, 6]  # the baseline, then the 6 usable maps only
    np.testing.assert_allclose(cam, score_cam(_forward(tiny), image, maps, 0), atol=1e-7)
    zeros = score_cam(forward, image, np.ones((6, 6, 2)), 0)
    assert zeros.shape == (6, 6) and not zeros.any()


# -- known evidence -----------------------------------------------------------------------
@pytest.mark.parametrize("weighting", ["increase", "softmax"])
@pytest.mark.parametrize("corner", [(0, 0), (0, 1), (1, 0), (1, 1)])
def test_the_map_peaks_where_the_bright_square_is(weighting, corner):
    model = _brightness_model()
    x = np.zeros((SIZE, SIZE, 3), np.float32)
    rows = slice(0, 5) if corner[0] == 0 else slice(SIZE - 5, SIZE)
    cols = slice(0, 5) if corner[1] == 0 else slice(SIZE - 5, SIZE)
    x[rows, cols] = 1.0
    maps = _maps(model, x)
    assert maps.shape == (8, 8, 2)
    cam = score_cam(_forward(model), x, maps, 0, weighting=weighting)
    r, c = np.unravel_index(np.argmax(cam), cam.shape)
    # the square covers map cells 0..2 (or 5..7) on each axis
    assert (r <= 2) == (corner[0] == 0) and (r >= 5) == (corner[0] == 1)
    assert (c <= 2) == (corner[1] == 0) and (c >= 5) == (corner[1] == 1)
    np.testing.assert_allclose(
        cam, _reference(model, x, maps, 0, 0.0, weighting=weighting), atol=1e-5
    )
    if weighting == "increase":
        # the other class loses where the square is: nothing of the square shows for it
        other = score_cam(_forward(model), x, maps, 1)
        assert other[rows.start // 2 + 1, cols.start // 2 + 1] == 0.0


# -- logits and probabilities -------------------------------------------------------------
def test_logits_model_equals_the_same_model_with_softmax(image):
    logits = _tiny_cnn(None)
    probs = keras.Model(logits.input, layers.Softmax()(logits.output))
    maps = _maps(logits, image)
    np.testing.assert_allclose(maps, _maps(probs, image))
    for c in range(3):
        a = score_cam(_forward(logits), image, maps, c)
        b = score_cam(_forward(probs), image, maps, c)
        np.testing.assert_allclose(a, b, atol=1e-6, rtol=1e-5)
    # without the softmax, the raw outputs are scored: a different map, the loop's
    raw = score_cam(_forward(logits), image, maps, 2, probabilities=False)
    np.testing.assert_allclose(
        raw, _reference(logits, image, maps, 2, 0.0, probabilities=False), atol=1e-5
    )
    assert not np.allclose(raw, score_cam(_forward(logits), image, maps, 2), atol=1e-4)
    np.testing.assert_allclose(softmax(np.zeros(3)), 1 / 3)


# -- progress, cancel, arguments ----------------------------------------------------------
def test_progress_per_batch(tiny, image):
    maps = _maps(tiny, image)
    calls = []
    score_cam(
        _forward(tiny), image, maps, 0, batch_size=4, progress=lambda f, m: calls.append((f, m))
    )
    assert [f for f, _ in calls] == [0.0, 0.5, 1.0]
    assert calls[-1][1] == "Score-CAM: 6 of 6 masks"


def test_cancel_between_batches(tiny, image):
    maps = _maps(tiny, image)
    fractions = []
    with pytest.raises(InterruptedError, match="cancelled"):
        score_cam(
            _forward(tiny),
            image,
            maps,
            0,
            batch_size=2,
            progress=lambda f, m: fractions.append(f),
            cancelled=lambda: len(fractions) >= 2,
        )
    assert fractions == [0.0, pytest.approx(1 / 3)]


def test_bad_arguments(tiny, image):
    maps = _maps(tiny, image)
    fwd = _forward(tiny)
    with pytest.raises(
        ValueError, match=r"maps must be \(h, w, K\). Received: maps.shape=\(6, 6\)"
    ):
        score_cam(fwd, image, maps[:, :, 0], 0)
    with pytest.raises(
        ValueError, match=r"x must be one input .* Received: x.shape=\(1, 16, 16, 3\)"
    ):
        score_cam(fwd, image[None], maps, 0)
    with pytest.raises(
        ValueError, match=r"class_index must be in \[0, 3\). Received: class_index=3"
    ):
        score_cam(fwd, image, maps, 3)
    with pytest.raises(ValueError, match="class_index must be an int"):
        score_cam(fwd, image, maps, 1.0)
    with pytest.raises(ValueError, match="batch_size must be >= 1. Received: batch_size=0"):
        score_cam(fwd, image, maps, 0, batch_size=0)
    with pytest.raises(
        ValueError, match=r"baseline must broadcast .* Received: baseline.shape=\(2,\)"
    ):
        score_cam(fwd, image, maps, 0, baseline=np.zeros(2))
    with pytest.raises(ValueError, match="weighting must be one of"):
        score_cam(fwd, image, maps, 0, weighting="raw")
    with pytest.raises(ValueError, match=r"forward must return \(N, classes\)"):
        score_cam(lambda b: np.zeros(len(b)), image, maps, 0)
    with pytest.raises(ValueError, match="finite"):
        score_cam(fwd, image, np.full((2, 2, 1), np.nan), 0)


def test_default_layer():
    shapes = {
        "input": (16, 16, 3),
        "conv1": (14, 14, 4),
        "conv2": (None, None, 8),
        "pool": (1, 1, 8),
        "flatten": (8,),
        "dense": (3,),
    }
    has = lambda n: len(shapes[n]) == 3 and n != "input"  # noqa: E731
    assert default_layer(list(shapes), has, shapes.__getitem__) == "conv2"
    assert default_layer(list(shapes), has) == "pool"
    assert (
        default_layer(["conv1", "pool"], has, {"conv1": (1, 1, 4), "pool": (1, 1, 8)}.get) is None
    )
    assert default_layer(["flatten", "dense"], has) is None
