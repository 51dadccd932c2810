"""engine.explanation.incremental against full re-inference.

Every expected heat map here is computed independently: the occluded copies are made by
hand and run through the whole model (``model(batch)``), or through ``occlusion``'s plain
loop. Small VGG-like and ResNet-like models cover every layer kind the incremental pass
crops (strides, dilation, both paddings at odd and even sizes, pooling, merges); VGG16 and
ResNet50 (random weights) are checked on a few positions, corners included.
"""

import keras
import numpy as np
import pytest
from keras import layers

from engine.explanation import incremental
from engine.explanation.attribution import Explainer, occlusion, occlusion_map

TOLERANCE = 1e-4  # on probabilities; the passes agree to about 1e-7


def _randomise_batch_norms(model: keras.Model, seed: int) -> keras.Model:
    """Moving statistics away from (0, 1), so batch normalisation does something."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, layers.BatchNormalization):
            layer.moving_mean.assign(rng.normal(0, 0.3, layer.moving_mean.shape))
            layer.moving_variance.assign(rng.uniform(0.5, 2, layer.moving_variance.shape))
    return model


def _vgg_like() -> keras.Model:
    keras.utils.set_random_seed(1)
    inp = keras.Input((33, 30, 3))  # odd and even sides: 'same' pads differently
    h = layers.Rescaling(1.0 / 2)(inp)
    h = layers.Conv2D(8, 3, padding="same", activation="relu")(h)
    h = layers.Conv2D(8, (3, 5), padding="same")(h)
    h = layers.BatchNormalization()(h)
    h = layers.Activation("relu")(h)
    h = layers.MaxPooling2D(2)(h)
    h = layers.ZeroPadding2D(((1, 2), (0, 1)))(h)
    h = layers.Conv2D(12, 3, dilation_rate=2, activation="relu")(h)
    h = layers.Dropout(0.5)(h)
    h = layers.Conv2D(12, 3, strides=2, padding="same")(h)
    h = layers.ReLU()(h)
    h = layers.MaxPooling2D(3, strides=2, padding="same")(h)
    h = layers.Flatten()(h)
    h = layers.Dense(16, activation="relu")(h)
    out = layers.Dense(5, activation="softmax")(h)
    return _randomise_batch_norms(keras.Model(inp, out), 1)


def _resnet_like() -> keras.Model:
    keras.utils.set_random_seed(2)
    inp = keras.Input((40, 40, 3))
    h = layers.ZeroPadding2D(3)(inp)
    h = layers.Conv2D(8, 7, strides=2)(h)
    h = layers.BatchNormalization()(h)
    h = layers.Activation("relu")(h)
    h = layers.ZeroPadding2D(1)(h)
    h = layers.MaxPooling2D(3, strides=2)(h)
    for filters, stride in ((8, 1), (16, 2)):
        shortcut = layers.Conv2D(filters, 1, strides=stride)(h)  # 1x1, stride 2: skips cells
        shortcut = layers.BatchNormalization()(shortcut)
        m = layers.Conv2D(filters, 1, strides=stride, activation="relu")(h)
        m = layers.Conv2D(filters, 3, padding="same")(m)
        m = layers.BatchNormalization()(m)
        h = layers.Activation("relu")(layers.Add()([shortcut, m]))
        m = layers.DepthwiseConv2D(3, padding="same", activation="relu")(h)
        m = layers.Conv2D(filters, 1)(m)
        h = layers.Add()([h, m])
    wide = layers.SeparableConv2D(8, 3, padding="same")(h)
    h = layers.Concatenate()([h, wide])
    h = layers.AveragePooling2D(2)(h)
    h = layers.GlobalAveragePooling2D()(h)
    out = layers.Dense(5, activation="softmax")(h)
    return _randomise_batch_norms(keras.Model(inp, out), 2)


def _occluded_reference(model, x, c, patch, stride, fill, positions):
    """p(c | x) - p(c | x occluded), one hand-made occluded copy per position."""
    (ph, pw), (sr, sc) = patch, stride
    cols = (x.shape[1] - pw) // sc + 1
    batch = np.repeat(x[None], len(positions), axis=0)
    for j, p in enumerate(positions):
        r, q = divmod(int(p), cols)
        batch[j, r * sr : r * sr + ph, q * sc : q * sc + pw, :] = fill
    base = model(x[None], training=False).numpy()[0, c]
    return base - model(batch, training=False).numpy()[:, c]


def _input(shape, seed, scale=1.0):
    return (np.random.default_rng(seed).normal(0, scale, shape)).astype(np.float32)


# -- small models, every position -----------------------------------------------------------
@pytest.mark.parametrize("build", [_vgg_like, _resnet_like])
def test_small_models_match_full_reinference(build):
    model = build()
    x = _input(model.inputs[0].shape[1:], 0)
    c = 3
    expected = occlusion(model, x, c, (6, 5), (3, 4), fill=0.25)
    got = occlusion_map(model, x, c, (6, 5), (3, 4), fill=0.25)
    assert got.method == "incremental" and got.exact and "exact" in got.note
    assert got.drops.shape == expected.shape and got.drops.dtype == np.float32
    assert np.abs(expected).max() > 1e-3  # the comparison means something
    assert np.abs(got.drops - expected).max() <= TOLERANCE
    # And against occluded copies made here.
    positions = np.arange(expected.size)
    ref = _occluded_reference(model, x, c, (6, 5), (3, 4), 0.25, positions)
    assert np.abs(got.drops.ravel() - ref).max() <= TOLERANCE


def test_the_plan_crops_early_layers_and_runs_late_ones_whole():
    ex = Explainer(_resnet_like())
    plan = ex._occlusion_plan((6, 6), (3, 3), (12, 12), None)
    modes = [(type(s.node.operation).__name__, s.mode) for s in plan.steps]
    first_conv = plan.steps[1]
    assert first_conv.mode == "crop" and (first_conv.crop.h, first_conv.crop.w) == (6, 6)
    assert modes[-2:] == [("GlobalAveragePooling2D", "batch"), ("Dense", "batch")]
    assert [m for _, m in modes].count("crop") >= 10


def test_a_patch_at_every_border_and_a_one_pixel_patch():
    model = _vgg_like()
    x = _input(model.inputs[0].shape[1:], 1)
    for patch, stride in (((1, 1), (4, 4)), ((7, 4), (13, 13)), ((30, 29), (3, 1))):
        expected = occlusion(model, x, 0, patch, stride, fill=-1.0)
        got = occlusion_map(model, x, 0, patch, stride, fill=-1.0)
        assert got.method == "incremental", got.note
        assert np.abs(got.drops - expected).max() <= TOLERANCE, patch


def test_a_patch_the_size_of_the_input_leaves_nothing_to_crop():
    model = _vgg_like()
    x = _input(model.inputs[0].shape[1:], 1)
    got = occlusion_map(model, x, 0, (33, 30), 1)
    assert got.method == "full" and "no layer" in got.note
    np.testing.assert_allclose(got.drops, occlusion(model, x, 0, (33, 30), 1), atol=1e-6)


def test_positions_computes_only_those():
    model = _resnet_like()
    x = _input(model.inputs[0].shape[1:], 2)
    got = occlusion_map(model, x, 1, 8, 4)
    part = Explainer(model).occlusion_map(x, 1, 8, 4, positions=[0, 5, 80])
    assert np.isnan(part.drops).sum() == part.drops.size - 3
    np.testing.assert_allclose(part.drops.ravel()[[0, 5, 80]], got.drops.ravel()[[0, 5, 80]])


# -- the big models, a few positions ---------------------------------------------------------
@pytest.mark.parametrize("name", ["VGG16", "ResNet50"])
def test_applications_match_full_reinference_on_a_few_positions(name):
    keras.utils.set_random_seed(0)
    model = getattr(keras.applications, name)(weights=None)
    if name == "VGG16":  # random VGG16 is nearly uniform over 1000 classes: sharpen it
        head = model.get_layer("predictions")
        head.kernel.assign(head.kernel * 200.0)
    x = _input((224, 224, 3), 3, scale=60.0)  # about the range of a preprocessed photo
    ex = Explainer(model)
    c = int(np.argmax(ex.probabilities(x)))
    # 27 x 27 positions of patch 16, stride 8: the four corners, an edge, the middle.
    positions = [0, 26, 364, 702, 728, 13]
    got = ex.occlusion_map(x, c, 16, 8, positions=positions)
    assert got.method == "incremental"
    ref = _occluded_reference(model, x, c, (16, 16), (8, 8), 0.0, positions)
    assert np.abs(ref).max() > 1e-4
    # Within the tolerance, and small beside the drops themselves.
    tolerance = min(TOLERANCE, 1e-2 * np.abs(ref).max())
    assert np.abs(got.drops.ravel()[positions] - ref).max() <= tolerance
    steps = ex._occlusion_plan((16, 16), (8, 8), (27, 27), None).steps
    assert sum(s.mode == "crop" for s in steps) >= (15 if name == "VGG16" else 100)


# -- fallback -------------------------------------------------------------------------------
def test_an_unsupported_layer_falls_back_to_full_reinference_and_says_so():
    keras.utils.set_random_seed(4)
    inp = keras.Input((16, 16, 2))
    h = layers.Conv2D(4, 3, padding="same", activation="relu")(inp)
    h = layers.UpSampling2D(2, name="upsample")(h)
    h = layers.Conv2D(4, 3, strides=2, padding="same", activation="relu")(h)
    out = layers.Dense(3, activation="softmax")(layers.Flatten()(h))
    model = keras.Model(inp, out)
    x = _input((16, 16, 2), 5)
    got = occlusion_map(model, x, 2, 4, 2)
    assert got.method == "full" and got.exact
    assert "Full re-inference" in got.note and "upsample" in got.note
    np.testing.assert_allclose(got.drops, occlusion(model, x, 2, 4, 2), atol=1e-6)


def test_a_layer_after_the_region_covers_the_map_needs_no_fallback():
    keras.utils.set_random_seed(5)
    inp = keras.Input((12, 12, 1))
    h = layers.Conv2D(4, 5, padding="same", activation="relu")(inp)
    h = layers.Conv2D(4, 5, padding="same", activation="relu")(h)  # whole map from here
    h = layers.UpSampling2D(2)(h)
    out = layers.Dense(3, activation="softmax")(layers.GlobalMaxPooling2D()(h))
    model = keras.Model(inp, out)
    x = _input((12, 12, 1), 6)
    got = occlusion_map(model, x, 0, 4, 4)
    assert got.method == "incremental"
    assert np.abs(got.drops - occlusion(model, x, 0, 4, 4)).max() <= TOLERANCE


def test_full_mode_is_the_plain_loop():
    model = _vgg_like()
    x = _input(model.inputs[0].shape[1:], 7)
    got = occlusion_map(model, x, 4, 8, 8, mode="full")
    assert got.method == "full" and "Full re-inference" in got.note
    np.testing.assert_array_equal(got.drops, occlusion(model, x, 4, 8, 8))


# -- approximate ----------------------------------------------------------------------------
def test_approximate_is_labelled_and_close():
    model = _vgg_like()
    x = _input(model.inputs[0].shape[1:], 8)
    exact = occlusion_map(model, x, 1, 4, 2).drops
    got = occlusion_map(model, x, 1, 4, 2, mode="approximate", tau=0.8)
    assert got.method in ("approximate", "incremental")  # "incremental": the check failed
    if got.method == "approximate":
        assert not got.exact and got.tau == 0.8 and "Approximate" in got.note
        assert got.agreement >= incremental.AGREEMENT
        assert np.corrcoef(got.drops.ravel(), exact.ravel())[0, 1] >= 0.9
    # tau = 1 never cuts a region: the same values as the exact pass.
    whole = occlusion_map(model, x, 1, 4, 2, mode="approximate", tau=1.0)
    assert whole.method == "approximate" and whole.agreement == 1.0
    assert np.abs(whole.drops - exact).max() <= 1e-6
    # A sweep hardly longer than the check is run exactly.
    few = occlusion_map(model, x, 1, 8, 4, mode="approximate")
    assert few.method == "incremental" and "too few" in few.note


def test_approximate_runs_exact_where_it_disagrees(monkeypatch):
    model = _resnet_like()
    x = _input(model.inputs[0].shape[1:], 9)
    exact = occlusion_map(model, x, 0, 6, 3).drops
    monkeypatch.setattr(incremental, "AGREEMENT", 1.5)  # no approximation is good enough
    got = occlusion_map(model, x, 0, 6, 3, mode="approximate", tau=0.3)
    assert got.method == "incremental" and got.exact and got.tau is None
    assert "so the exact pass ran" in got.note
    assert np.abs(got.drops - exact).max() <= 1e-6


# -- progress, cancelling, arguments --------------------------------------------------------
@pytest.mark.parametrize("mode", ["exact", "approximate"])
def test_progress_runs_from_0_to_1_and_cancelling_stops(mode):
    model = _vgg_like()
    x = _input(model.inputs[0].shape[1:], 10)
    calls = []
    occlusion_map(
        model, x, 0, 4, 2, mode=mode, batch_size=40, progress=lambda f, m: calls.append((f, m))
    )
    fractions = [f for f, _ in calls]
    assert fractions[0] == 0.0 and fractions[-1] == pytest.approx(1.0)
    assert fractions == sorted(fractions) and all(m for _, m in calls)
    seen = []
    with pytest.raises(InterruptedError, match="cancelled"):
        occlusion_map(
            model,
            x,
            0,
            4,
            2,
            mode=mode,
            batch_size=8,
            progress=lambda f, m: seen.append(f),
            cancelled=lambda: len(seen) >= 3,
        )
    assert len(seen) == 3


def test_arguments_are_checked():
    model = _vgg_like()
    x = _input(model.inputs[0].shape[1:], 11)
    with pytest.raises(ValueError, match="mode"):
        occlusion_map(model, x, 0, 4, 2, mode="fast")
    with pytest.raises(ValueError, match="tau"):
        occlusion_map(model, x, 0, 4, 2, mode="approximate", tau=0.0)
    with pytest.raises(ValueError, match="positions"):
        Explainer(model).occlusion_map(x, 0, 4, 2, positions=[10_000])
    with pytest.raises(ValueError, match="patch"):
        occlusion_map(model, x, 0, 40, 2)
    with pytest.raises(ValueError, match="class_index"):
        occlusion_map(model, x, 5, 4, 2)
