"""engine.inspection.activations: the probe returns every layer exactly, layer kinds by
isinstance."""

import keras
import numpy as np
import pytest
from keras import layers

from engine.inspection.activations import (
    ActivationProbe,
    LayerOutputs,
    conv_kernel,
    conv_layer_kind,
    layer_summary,
)
from engine.models.mnist_model import build_mnist_cnn


def _reference(model, x):
    """Every non-input layer's output from a plain Keras model, batch axis removed."""
    probed = [layer for layer in model.layers if not isinstance(layer, layers.InputLayer)]
    ref = keras.Model(model.inputs[0], [layer.output for layer in probed])
    outs = ref(x[None], training=False)
    return {layer.name: np.asarray(o)[0] for layer, o in zip(probed, outs, strict=True)}


def _assert_every_layer_exact(probe, model, x):
    acts = probe.run(x)
    ref = _reference(model, x)
    assert list(acts) == list(ref) == probe.layer_names
    for name, expected in ref.items():
        got = acts[name]
        assert got.shape == expected.shape, name
        assert np.allclose(got, expected, atol=1e-4), (name, np.abs(got - expected).max())


def _randomise_batch_norms(model, seed=0):
    """Non-trivial statistics, so the numpy batch normalisation is really tested."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, layers.BatchNormalization):
            shapes = [w.shape for w in layer.get_weights()]
            layer.set_weights(
                [
                    rng.uniform(0.5, 1.5, s)
                    if w.path.endswith(("gamma", "variance"))
                    else rng.normal(0, 0.2, s)
                    for w, s in zip(layer.weights, shapes, strict=True)
                ]
            )


@pytest.fixture(scope="module")
def resnet():
    model = keras.applications.ResNet50(weights=None, input_shape=(64, 64, 3))
    _randomise_batch_norms(model)
    return model


def test_resnet50_probe_gives_every_layer_exactly(resnet):
    probe = ActivationProbe(resnet)
    assert len(probe.layer_names) == 176
    # BatchNormalization, ReLU, Add and ZeroPadding2D layers come from numpy, the rest
    # from the one pass
    assert probe.derived["conv1_bn"] == ("conv1_conv",)
    assert probe.derived["conv1_relu"] == ("conv1_bn",)
    assert probe.derived["pool1_pad"] == ("conv1_relu",)
    assert probe.derived["conv2_block1_add"] == ("conv2_block1_0_bn", "conv2_block1_3_bn")
    assert probe.derived["conv2_block1_out"] == ("conv2_block1_add",)
    assert "conv1_pad" not in probe.derived  # its input is the model's input
    assert len(probe.derived) == 53 + 49 + 16 + 1
    x = np.random.default_rng(1).normal(0, 50, (64, 64, 3)).astype(np.float32)
    _assert_every_layer_exact(probe, resnet, x)


def test_mnist_cnn_probe_gives_every_layer_exactly():
    model = build_mnist_cnn(compile=False)
    probe = ActivationProbe(model)
    x = np.random.default_rng(0).random((28, 28, 1)).astype(np.float32)
    _assert_every_layer_exact(probe, model, x)
    acts = probe.run(x)
    assert acts["conv2d_1"].shape == (26, 26, 32) and acts["dense_2"].shape == (10,)
    with pytest.raises(ValueError, match="expects input of shape"):
        probe.run(np.zeros((32, 32, 1)))


def test_derived_layer_kinds_match_keras():
    inp = keras.Input((6, 5, 4))
    c = layers.Conv2D(4, 1, name="conv")(inp)
    b1 = layers.BatchNormalization(name="bn_last", epsilon=0.01)(c)
    b2 = layers.BatchNormalization(axis=1, name="bn_axis1")(b1)  # the rows axis
    b3 = layers.BatchNormalization(center=False, scale=False, name="bn_plain")(b2)
    r1 = layers.ReLU(name="relu")(b3)
    r2 = layers.ReLU(max_value=0.5, name="relu_capped")(b3)
    r3 = layers.ReLU(negative_slope=0.1, name="leaky")(b3)  # probed, not derived
    a1 = layers.Activation("linear", name="linear")(b3)
    a2 = layers.Activation("sigmoid", name="sigmoid")(b3)  # probed, not derived
    added = layers.Add(name="add")([r1, r2, r3, a1, a2])
    padded = layers.ZeroPadding2D(((1, 2), (0, 3)), name="pad")(added)
    padded_cf = layers.ZeroPadding2D((2, 1), data_format="channels_first", name="pad_cf")(added)
    row = layers.Conv2D(4, (6, 1), name="row")(b3)  # (1, 5, 4): broadcasts in the sum
    broadcast = layers.Add(name="add_broadcast")([b3, row])  # probed, not derived
    model = keras.Model(inp, [padded, padded_cf, broadcast])
    _randomise_batch_norms(model, seed=3)
    probe = ActivationProbe(model)
    assert probe.derived == {
        "bn_last": ("conv",),
        "bn_axis1": ("bn_last",),
        "bn_plain": ("bn_axis1",),
        "relu": ("bn_plain",),
        "relu_capped": ("bn_plain",),
        "linear": ("bn_plain",),
        "add": ("relu", "relu_capped", "leaky", "linear", "sigmoid"),
        "pad": ("add",),
        "pad_cf": ("add",),
    }
    x = np.random.default_rng(2).normal(0, 2, (6, 5, 4)).astype(np.float32)
    _assert_every_layer_exact(probe, model, x)
    acts = probe.run(x)
    assert acts["pad"].shape == (9, 8, 4) and acts["pad_cf"].shape == (6, 9, 6)
    assert acts["add_broadcast"].shape == (6, 5, 4)


def test_a_layer_whose_input_is_not_probed_is_probed_itself():
    inp = keras.Input((4, 4, 2))
    c = layers.Conv2D(2, 1, name="conv")(inp)
    b = layers.BatchNormalization(name="bn")(c)
    model = keras.Model(inp, layers.ReLU(name="relu")(b))
    probe = ActivationProbe(model, ["conv", "relu"])
    assert probe.derived == {} and probe.layer_names == ["conv", "relu"]
    x = np.random.default_rng(0).normal(size=(4, 4, 2)).astype(np.float32)
    np.testing.assert_allclose(probe.run(x)["relu"], model(x[None]).numpy()[0], atol=1e-5)


def test_activations_read_like_an_ordered_dict(resnet):
    probe = ActivationProbe(resnet)
    acts = probe.run(np.zeros((64, 64, 3), np.float32))
    assert isinstance(acts, LayerOutputs) and len(acts) == 176
    assert next(reversed(acts)) == "predictions" == next(reversed(acts.keys()))
    assert next(reversed(acts.values())).shape == (1000,)
    assert next(reversed(acts.items()))[0] == "predictions"
    assert "conv1_relu" in acts and "nope" not in acts and acts.get("nope") is None
    with pytest.raises(KeyError):
        acts["nope"]
    first = acts["conv1_relu"]
    assert acts["conv1_relu"] is first  # computed once, then kept
    assert first.dtype == np.float32 and first.shape == (32, 32, 64)
    everything = dict(acts)
    assert list(everything) == probe.layer_names


def test_derived_layers_read_one_after_another_are_kept_within_a_bound(resnet, monkeypatch):
    """Clicking through every layer keeps only the most recently read derived values:
    what an ``Activations`` holds never passes ``nbytes_bound``, which the result cache
    counts."""
    from engine.inspection import activations as module

    probe = ActivationProbe(resnet)
    acts = probe.run(np.zeros((64, 64, 3), np.float32))
    probed = sum(v.nbytes for v in acts._values.values())
    monkeypatch.setattr(module, "DERIVED_KEEP_BYTES", 2 * 2**20)
    assert acts.nbytes_bound() == probed + 2 * 2**20  # ResNet50's derived layers: more
    for name in probe.derived:
        value = acts[name]
        held = sum(v.nbytes for v in acts._kept.values())
        assert held <= 2 * 2**20
        assert acts[name] is value  # the one just read is kept
    assert 0 < len(acts._kept) < len(probe.derived)
    # One read anew is computed again, equal to what it was.
    first = next(iter(probe.derived))
    np.testing.assert_array_equal(acts[first], dict(acts)[first])


def test_layer_kinds_are_told_by_isinstance_not_by_name():
    class InputLayer(layers.Layer):  # not Keras' InputLayer, whatever its name
        def call(self, x):
            return x

    class MyConv(layers.Conv2D):  # a subclass of Keras' Conv2D is still a convolution
        pass

    inp = keras.Input((8, 8, 3))
    h = InputLayer(name="fake_input")(inp)
    h = MyConv(4, 3, name="my_conv")(h)
    model = keras.Model(inp, h)
    rows = layer_summary(model)
    assert [r.name for r in rows] == ["fake_input", "my_conv"]
    assert rows[1].type == "MyConv" and rows[1].output_shape == (6, 6, 4)
    assert conv_layer_kind(model.get_layer("my_conv")) == "conv"
    assert conv_kernel(model, "my_conv").shape == (3, 3, 3, 4)
    assert conv_kernel(model, "fake_input") is None
    assert list(ActivationProbe(model).run(np.zeros((8, 8, 3)))) == ["fake_input", "my_conv"]


@pytest.mark.parametrize(
    ("layer", "kind", "shape"),
    [
        (layers.Conv2D(5, 3), "conv", (3, 3, 3, 5)),
        (layers.DepthwiseConv2D(3, depth_multiplier=2), "depthwise", (3, 3, 3, 2)),
        (layers.SeparableConv2D(5, 3, depth_multiplier=2), "separable", (3, 3, 3, 2)),
        (layers.Conv2DTranspose(5, 3), "transpose", (3, 3, 3, 5)),
        (layers.Conv1D(5, 3), None, None),
        (layers.Dense(5), None, None),
    ],
)
def test_conv_kernel_of_each_kind(layer, kind, shape):
    inp = keras.Input((9, 9, 3)) if not isinstance(layer, layers.Conv1D) else keras.Input((9, 3))
    model = keras.Model(inp, layer(inp))
    name = layer.name
    assert conv_layer_kind(layer) == kind
    k = conv_kernel(model, name)
    if shape is None:
        assert k is None
        return
    assert k.shape == shape
    if kind == "separable":
        np.testing.assert_array_equal(k, layer.depthwise_kernel.numpy())
    elif kind == "transpose":
        stored = layer.kernel.numpy()  # Keras keeps (F, F, filters, C_in)
        assert stored.shape == (3, 3, 5, 3)
        np.testing.assert_array_equal(k, stored.transpose(0, 1, 3, 2))
        np.testing.assert_array_equal(k[:, :, 2, 4], stored[:, :, 4, 2])
    else:
        np.testing.assert_array_equal(k, layer.kernel.numpy())
