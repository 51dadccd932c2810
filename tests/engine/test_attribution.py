"""engine.explanation.attribution against independent computations.

Receptive fields: the known figures of VGG16 and ResNet50, a hand count for the lecture's
CNN, and the support of d unit / d input (a tape written here) in a positive linear
model with every layer kind. Grad-CAM and saliency: a ``tf.GradientTape`` written here.
Occlusion: a plain loop calling the model once per position.
"""

import gc
import weakref

import keras
import numpy as np
import pytest
import tensorflow as tf
from keras import layers

from engine.explanation import attribution
from engine.explanation.attribution import (
    Explainer,
    ReceptiveField,
    effective_receptive_field,
    explainer,
    grad_cam,
    occlusion,
    receptive_box,
    receptive_field,
    receptive_field_2d,
    saliency,
)
from engine.models import zoo
from engine.models.mnist_model import build_mnist_cnn, load_trained_mnist_cnn
from tests.shared_models import untrained


# -- fixtures -----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def mnist():
    return load_trained_mnist_cnn()


@pytest.fixture(scope="module")
def untrained_mnist():
    """Random weights: probabilities near 0.1, so occlusion drops are far from zero."""
    keras.utils.set_random_seed(3)
    return build_mnist_cnn(compile=False)


@pytest.fixture(scope="module")
def digits(mnist_npz):
    """Twenty real test digits as the CNN takes them, with their labels."""
    with np.load(mnist_npz) as data:
        x = (data["x_test"][:20] / 255.0).astype(np.float32)[..., None]
        return x, data["y_test"][:20].astype(int)


@pytest.fixture(scope="module")
def vgg16():
    return untrained(zoo.VGG16).model


@pytest.fixture(scope="module")
def resnet50():
    return untrained(zoo.RESNET50).model


def _box(rf, row, col, hw):
    return receptive_box(rf, row, col, hw)


# -- receptive fields ---------------------------------------------------------------------
def test_lecture_cnn_receptive_fields_by_hand(mnist):
    # conv 3x3: 3 px; another 3x3: 3 + 2 = 5 px; 2x2 pool, stride 2: 5 + 1 = 6 px, jump 2.
    # Cell 0 of conv2d_1 is centred on pixel 1, of conv2d_2 on pixel 2, of the pool
    # between pixels 2 and 3.
    assert receptive_field(mnist, "conv2d_1") == ReceptiveField(3, 1, 1.0)
    assert receptive_field(mnist, "conv2d_2") == ReceptiveField(5, 1, 2.0)
    assert receptive_field(mnist, "max_pooling2d") == ReceptiveField(6, 2, 2.5)
    assert receptive_field(mnist, "dropout_1") == ReceptiveField(6, 2, 2.5)
    assert _box(receptive_field(mnist, "conv2d_2"), 10, 10, (28, 28)) == (10, 10, 15, 15)
    assert _box(receptive_field(mnist, "max_pooling2d"), 11, 0, (28, 28)) == (22, 0, 28, 6)


def test_vgg16_receptive_fields(vgg16):
    rf = receptive_field(vgg16, "block5_conv3")
    assert (rf.size, rf.jump) == (196, 16)
    assert (
        receptive_field(vgg16, "block5_pool").size,
        receptive_field(vgg16, "block5_pool").jump,
    ) == (
        212,
        32,
    )
    assert receptive_field(vgg16, "block1_conv1") == ReceptiveField(3, 1, 0.0)  # 'same'
    assert receptive_field(vgg16, "block1_pool") == ReceptiveField(6, 2, 0.5)


def test_resnet50_receptive_field_takes_the_largest_path(resnet50):
    rf = receptive_field(resnet50, "conv5_block3_out")
    assert (rf.size, rf.jump) == (483, 32)
    # ZeroPadding2D(3) then a 7x7 valid conv, stride 2: cell 0 is centred on pixel 0.
    assert receptive_field(resnet50, "conv1_conv") == ReceptiveField(7, 2, 0.0)
    # The Add of a block is as large as its residual branch, not its 1x1 shortcut.
    add = receptive_field(resnet50, "conv2_block1_add")
    assert add == receptive_field(resnet50, "conv2_block1_3_conv")
    assert add.size > receptive_field(resnet50, "conv2_block1_0_conv").size


def test_default_grad_cam_layers(mnist, vgg16, resnet50):
    assert Explainer(mnist).default_layer == "conv2d_2"
    assert Explainer(vgg16).default_layer == "block5_conv3"
    assert Explainer(resnet50).default_layer == "conv5_block3_out"
    assert Explainer(vgg16).head == "dense kernel"


def _positive_linear_model():
    """Every layer kind, linear, positive weights: d unit / d input > 0 on its whole field."""
    inp = keras.Input((33, 29, 2))
    a = layers.ZeroPadding2D(((1, 2), (0, 1)), name="pad")(inp)
    a = layers.Conv2D(3, 3, strides=2, name="conv_s2")(a)
    b = layers.Conv2D(3, 3, dilation_rate=2, padding="same", name="dilated")(a)
    c = layers.DepthwiseConv2D(3, strides=2, padding="same", name="depthwise")(b)
    d = layers.SeparableConv2D(3, 3, padding="same", name="separable")(c)
    short = layers.Conv2D(3, 1, strides=2, name="shortcut")(b)
    e = layers.Add(name="add")([d, short])
    f = layers.AveragePooling2D(3, strides=2, padding="same", name="avg")(e)
    wide = layers.Conv2D(2, (1, 3), padding="same", name="wide")(f)
    g = layers.Concatenate(name="concat")([f, wide])  # the union: wider along columns
    h = layers.Cropping2D(((1, 0), (0, 1)), name="crop")(g)
    t = layers.Conv2DTranspose(3, 3, strides=2, padding="same", name="transpose")(h)
    u = layers.UpSampling2D(2, name="upsample")(t)
    out = layers.Dense(3, activation="softmax")(layers.GlobalAveragePooling2D()(u))
    model = keras.Model(inp, out)
    rng = np.random.default_rng(0)
    for layer in model.layers:
        layer.set_weights(
            [
                rng.uniform(0.5, 1.5, w.shape) if w.ndim > 1 else np.zeros(w.shape)
                for w in layer.get_weights()
            ]
        )
    return model


def _support_box(model, name, row, col):
    """Bounding box (top, left, bottom, right) of d unit / d input != 0, by a plain tape."""
    sub = keras.Model(model.inputs[0], model.get_layer(name).output)
    x = tf.constant(np.ones((1, *model.inputs[0].shape[1:]), np.float32))
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = tf.reduce_sum(sub(x)[0, row, col, :])  # every channel: the cell's whole field
    hit = np.argwhere(np.abs(tape.gradient(y, x).numpy()[0]).max(-1) > 0)
    if not len(hit):  # a cell of zero padding sees no input pixel
        return None
    (top, left), (bottom, right) = hit.min(0), hit.max(0) + 1
    return int(top), int(left), int(bottom), int(right)


def test_receptive_field_is_where_the_gradient_reaches():
    model = _positive_linear_model()
    hw = (33, 29)
    exact = ["pad", "conv_s2", "dilated", "depthwise", "separable", "shortcut", "add", "avg"]
    exact += ["concat", "crop"]
    for name in [*exact, "transpose", "upsample"]:
        rows, cols = receptive_field_2d(model, name)
        _, h, w, _ = model.get_layer(name).output.shape
        for r, c in {(0, 0), (h // 2, w // 2), (h - 1, w - 1), (1, w - 2), (h // 3, 1)}:
            box = _box((rows, cols), r, c, hw)
            got = _support_box(model, name, r, c)
            if got is None:
                assert box[0] == box[2] or box[1] == box[3], (name, r, c, box)
                continue
            inside = got[0] >= box[0] and got[1] >= box[1] and got[2] <= box[2]
            assert inside and got[3] <= box[3], (name, r, c, got, box)
            theory_inside = (
                rows.centre(r) - (rows.size - 1) / 2 >= 0
                and cols.centre(c) - (cols.size - 1) / 2 >= 0
                and rows.centre(r) + (rows.size - 1) / 2 <= hw[0] - 1
                and cols.centre(c) + (cols.size - 1) / 2 <= hw[1] - 1
            )
            if name in exact and theory_inside:  # not clipped: the field is exact
                assert got == box, (name, r, c, got, box)
    assert receptive_field_2d(model, "transpose")[0].jump == 4  # 8 / 2
    assert receptive_field_2d(model, "upsample")[0].jump == 2


def test_a_non_square_field_is_given_per_axis():
    model = keras.Sequential([keras.Input((20, 20, 1)), layers.Conv2D(1, (3, 5), name="c")])
    rows, cols = receptive_field_2d(model, "c")
    assert (rows.size, cols.size) == (3, 5)
    with pytest.raises(ValueError, match="receptive_field_2d"):
        receptive_field(model, "c")


def test_receptive_field_errors(mnist):
    with pytest.raises(ValueError, match="no spatial map"):
        receptive_field(mnist, "dense_1")
    with pytest.raises(ValueError, match="no layer named 'nope'"):
        receptive_field(mnist, "nope")
    with pytest.raises(ValueError, match="keras.Model"):
        receptive_field("model", "conv2d_1")
    with pytest.raises(ValueError, match="input_hw"):
        receptive_box(ReceptiveField(3, 1, 1.0), 0, 0, (0, 5))
    with pytest.raises(ValueError, match="ReceptiveField"):
        receptive_box((3, 1, 1.0), 0, 0, (5, 5))


def test_receptive_box_is_clipped_at_the_border():
    rf = ReceptiveField(196, 16, 7.5)  # VGG16 block5_conv3 on 224x224
    assert receptive_box(rf, 0, 0, (224, 224)) == (0, 0, 106, 106)
    assert receptive_box(rf, 6, 6, (224, 224)) == (6, 6, 202, 202)
    assert receptive_box(rf, 13, 13, (224, 224)) == (118, 118, 224, 224)


# -- Grad-CAM -----------------------------------------------------------------------------
def _reference_cam(model, x, layer_name, class_index=None):
    """Selvaraju et al. with a plain tape; the score is the softmax Dense's logit."""
    dense = model.layers[-1]
    sub = keras.Model(model.inputs[0], [model.get_layer(layer_name).output, dense.input])
    with tf.GradientTape() as tape:
        maps, h = sub(x[None], training=False)
        logits = tf.matmul(h, dense.kernel) + dense.bias
        c = int(np.argmax(logits[0])) if class_index is None else class_index
        y = logits[0, c]
    grads = tape.gradient(y, maps).numpy()[0]
    weights = grads.mean(axis=(0, 1))
    cam = np.maximum((maps.numpy()[0] * weights).sum(-1), 0)
    up = _on_input(cam, x.shape[:2])
    return up / up.max() if up.max() > 0 else up


def _on_input(cam, hw):
    """A 'valid' map of stride 1 placed on the input by hand: its cell i is centred on
    input pixel i + (F-1)/2, and the border beyond the outer cells takes their values."""
    s = (hw[0] - cam.shape[0]) // 2  # (F-1)/2 for one valid FxF convolution, or a stack
    return np.pad(cam, ((s, hw[0] - cam.shape[0] - s), (s, hw[1] - cam.shape[1] - s)), "edge")


def test_grad_cam_matches_a_tape(mnist, digits):
    x, labels = digits
    for i in (0, 1, 2):
        got = grad_cam(mnist, x[i])
        assert got.shape == (28, 28) and got.dtype == np.float32
        assert 0.0 <= got.min() and got.max() == pytest.approx(1.0)
        np.testing.assert_allclose(got, _reference_cam(mnist, x[i], "conv2d_2"), atol=1e-4)
    other = (int(labels[0]) + 3) % 10
    np.testing.assert_allclose(
        grad_cam(mnist, x[0], other, "conv2d_1"),
        _reference_cam(mnist, x[0], "conv2d_1", other),
        atol=1e-4,
    )


def test_grad_cam_heads_other_than_a_softmax_dense(digits):
    x = digits[0][0]
    keras.utils.set_random_seed(1)
    inp = keras.Input((28, 28, 1))
    maps = layers.Conv2D(4, 3, activation="relu", name="maps")(inp)
    logits = layers.Dense(3, name="logits")(layers.Flatten()(maps))
    for model, head in (
        (keras.Model(inp, layers.Softmax()(logits)), "activation input"),
        (keras.Model(inp, logits), "output"),
    ):
        assert Explainer(model).head == head
        sub = keras.Model(inp, [model.get_layer("maps").output, logits])
        with tf.GradientTape() as tape:
            m, z = sub(x[None])
            y = z[0, 1]
        w = tape.gradient(y, m).numpy()[0].mean(axis=(0, 1))
        cam = np.maximum((m.numpy()[0] * w).sum(-1), 0)
        up = _on_input(cam, (28, 28))
        expected = up / up.max() if up.max() > 0 else up
        np.testing.assert_allclose(grad_cam(model, x, 1, "maps"), expected, atol=1e-4)


def test_grad_cam_of_a_map_that_does_not_fire_is_zero():
    model = keras.Sequential(
        [
            keras.Input((8, 8, 1)),
            layers.Conv2D(2, 3, activation="relu", name="c", kernel_initializer="zeros"),
            layers.Flatten(),
            layers.Dense(2, activation="softmax"),
        ]
    )
    cam = grad_cam(model, np.ones((8, 8, 1), np.float32))
    assert cam.shape == (8, 8) and not cam.any()


# -- saliency -----------------------------------------------------------------------------
def _reference_gradient(model, xs, c):
    x = tf.constant(xs)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = tf.reduce_sum(model(x, training=False)[:, c])
    return tape.gradient(y, x).numpy()


def test_saliency_and_smoothgrad_match_a_tape(untrained_mnist, digits):
    x = digits[0][4]
    expected = np.abs(_reference_gradient(untrained_mnist, x[None], 2)[0]).max(-1)
    got = saliency(untrained_mnist, x, 2)
    assert got.shape == (28, 28) and got.dtype == np.float32
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-9)

    sigma = 0.2 * (x.max() - x.min())
    noisy = x[None] + sigma * np.random.default_rng(7).standard_normal((20, *x.shape), np.float32)
    grads = np.stack([_reference_gradient(untrained_mnist, n[None], 2)[0] for n in noisy])
    expected = np.abs(grads.mean(0)).max(-1)
    got = saliency(untrained_mnist, x, 2, samples=20, noise=0.2, seed=7)  # two batches
    np.testing.assert_allclose(got, expected, rtol=1e-3, atol=1e-8)


def test_attribution_lies_on_the_ink(mnist, digits):
    """Measured on these 20 digits (ink = pixels > 0.1, 18% of the pixels on average):
    saliency puts 32% of its mass on the ink, 2.2x the density it has off the ink (the
    rest is mostly next to the strokes, where more ink would change the class); Grad-CAM
    puts 92% in the ink's bounding box grown by 2 px. Asserted a bit below."""
    x, labels = digits
    on_ink, density, cam_in_box = [], [], []
    for xi, y in zip(x, labels, strict=True):
        ink = xi[..., 0] > 0.1
        rows, cols = np.flatnonzero(ink.any(1)), np.flatnonzero(ink.any(0))
        box = np.zeros_like(ink)
        box[max(rows[0] - 2, 0) : rows[-1] + 3, max(cols[0] - 2, 0) : cols[-1] + 3] = True
        s = saliency(mnist, xi, int(y))
        on_ink.append(s[ink].sum() / s.sum())
        density.append(s[ink].mean() / s[~ink].mean())
        cam = grad_cam(mnist, xi, int(y))
        cam_in_box.append(cam[box].sum() / cam.sum())
    assert np.mean(on_ink) > 0.27
    assert np.mean(density) > 1.8
    assert np.mean(cam_in_box) > 0.88


# -- occlusion ----------------------------------------------------------------------------
def test_occlusion_matches_a_loop_over_positions(untrained_mnist, digits):
    x, c = digits[0][5], 4
    base = untrained_mnist(x[None], training=False).numpy()[0, c]
    expected = np.zeros((6, 9), np.float32)
    for r in range(6):
        for q in range(9):
            hidden = x.copy()
            hidden[r * 4 : r * 4 + 6, q * 3 : q * 3 + 4] = 0.5
            expected[r, q] = base - untrained_mnist(hidden[None], training=False).numpy()[0, c]
    calls = []
    got = occlusion(
        untrained_mnist,
        x,
        c,
        patch=(6, 4),
        stride=(4, 3),
        fill=0.5,
        batch_size=8,
        progress=lambda f, m: calls.append(f),
    )
    assert got.shape == (6, 9) and got.dtype == np.float32
    np.testing.assert_allclose(got, expected, atol=2e-6)
    assert np.abs(expected).max() > 1e-3  # the comparison means something
    assert calls[0] == 0.0 and calls[-1] == 1.0 and len(calls) == 1 + 7  # 54 in batches of 8
    assert calls == sorted(calls)


def test_occlusion_is_cancelled_between_batches(untrained_mnist, digits):
    seen = []

    def cancelled():
        return len(seen) >= 3

    with pytest.raises(InterruptedError, match="cancelled"):
        occlusion(
            untrained_mnist,
            digits[0][0],
            0,
            3,
            1,
            batch_size=16,
            progress=lambda f, m: seen.append(f),
            cancelled=cancelled,
        )
    assert len(seen) == 3  # the start and two batches, then it stopped


# -- effective receptive field ------------------------------------------------------------
def test_effective_receptive_field_stays_in_the_theoretical_box(mnist, digits):
    x = digits[0][0]
    acts = keras.Model(mnist.inputs[0], mnist.get_layer("conv2d_2").output)(x[None]).numpy()[0]
    channel = int(np.argmax(acts[10, 10]))  # a unit that fires, so the gradient is not 0
    erf = effective_receptive_field(mnist, x, "conv2d_2", channel, 10, 10)
    assert erf.shape == (28, 28) and erf.any()
    outside = erf.copy()
    outside[10:15, 10:15] = 0
    assert not outside.any()
    ref = _reference_unit_gradient(mnist, x, "conv2d_2", (10, 10, channel))
    np.testing.assert_allclose(erf, ref, rtol=1e-5, atol=1e-9)


def _reference_unit_gradient(model, x, name, unit):
    sub = keras.Model(model.inputs[0], model.get_layer(name).output)
    t = tf.constant(x[None])
    with tf.GradientTape() as tape:
        tape.watch(t)
        y = sub(t)[0, unit[0], unit[1], unit[2]]
    return np.abs(tape.gradient(y, t).numpy()[0]).max(-1)


# -- arguments and the cache --------------------------------------------------------------
def test_arguments_are_checked(mnist, digits):
    x = digits[0][0]
    with pytest.raises(ValueError, match=r"Received shape \(1, 28, 28, 1\)"):
        grad_cam(mnist, x[None])
    with pytest.raises(ValueError, match="Received dtype uint8"):
        saliency(mnist, (x * 255).astype(np.uint8), 0)
    with pytest.raises(ValueError, match="class_index=10"):
        grad_cam(mnist, x, 10)
    with pytest.raises(ValueError, match="output shape"):
        grad_cam(mnist, x, 0, "dense_1")
    with pytest.raises(ValueError, match="score"):
        grad_cam(mnist, x, 0, score="soft")
    with pytest.raises(ValueError, match="patch"):
        occlusion(mnist, x, 0, patch=29, stride=1)
    with pytest.raises(ValueError, match="stride"):
        occlusion(mnist, x, 0, patch=3, stride=0)
    with pytest.raises(ValueError, match="samples"):
        saliency(mnist, x, 0, samples=-1)
    with pytest.raises(ValueError, match="row"):
        effective_receptive_field(mnist, x, "conv2d_2", 0, 24, 0)
    with pytest.raises(ValueError, match="finite"):
        saliency(mnist, np.full_like(x, np.nan), 0)


def test_one_explainer_per_model_released_with_it(digits):
    model = keras.Sequential(
        [keras.Input((28, 28, 1)), layers.Conv2D(2, 3), layers.Flatten(), layers.Dense(3)]
    )
    ex = explainer(model)
    assert explainer(model) is ex
    grad_cam(model, digits[0][0])
    alive = weakref.ref(model)
    del model
    gc.collect()
    assert alive() is None  # the cached explainer did not keep its model alive
    assert all(e is not ex for e in list(attribution._EXPLAINERS.values()))
