"""The rules that connect a layer to the one before it (engine.inspection.links),
checked against what Keras and ONNX Runtime compute: the window a pooled pixel comes
from, the map pixel a flatten index is, a Dense unit's weights laid on the maps."""

import keras
import numpy as np
import onnx
import pytest

from engine.inspection.activations import ActivationProbe, inbound_layers
from engine.inspection.links import (
    AVERAGE_POOL,
    FLATTEN,
    IDENTITY,
    MAX_POOL,
    FlatSource,
    PoolWindow,
    dense_source,
    dense_unit_weights,
    flat_source,
    layer_kind,
    map_before,
    pool_window,
    window_arithmetic,
)
from engine.models.onnx_model import load_onnx
from tests.engine.test_onnx_model import build_keras, build_onnx


def pooled(pool, size, stride, padding, shape=(11, 10, 3)):
    """A conv layer, then ``pool``; every layer's values for one random input."""
    keras.utils.set_random_seed(5)
    L = keras.layers  # noqa: N806
    inputs = keras.Input(shape)
    x = L.Conv2D(shape[2], 3, padding="same", name="c")(inputs)
    x = pool(pool_size=size, strides=stride, padding=padding, name="p")(x)
    x = L.Dropout(0.5, name="drop")(x)
    x = L.Flatten(name="flat")(x)
    model = keras.Model(inputs, L.Dense(4, name="d")(x))
    image = np.random.default_rng(1).normal(0, 1, shape).astype(np.float32)
    return model, ActivationProbe(model).run(image)


@pytest.mark.parametrize(
    ("pool", "reduce", "kind"),
    [
        (keras.layers.MaxPooling2D, np.max, MAX_POOL),
        (keras.layers.AveragePooling2D, np.mean, AVERAGE_POOL),
    ],
)
@pytest.mark.parametrize(
    ("size", "stride", "padding"),
    [(2, 2, "valid"), (3, 2, "same"), (3, 1, "valid"), (2, 3, "valid"), ((3, 2), (2, 1), "same")],
)
def test_each_pooled_pixel_is_its_window_of_the_same_map(pool, reduce, kind, size, stride, padding):
    model, maps = pooled(pool, size, stride, padding)
    inbound = inbound_layers(model)
    assert layer_kind(model, "p") == kind and map_before(model, maps, inbound, "p") == "c"
    window = pool_window(model, "c", "p")
    pair = lambda v: tuple(v) if isinstance(v, tuple) else (v, v)  # noqa: E731
    assert window.size == pair(size) and window.stride == pair(stride)  # the layer's own
    before, after = maps["c"], maps["p"]
    for row in range(after.shape[0]):
        for col in range(after.shape[1]):
            top, left, h, w = window.of(row, col, before.shape)
            assert h > 0 and w > 0
            patch = before[top : top + h, left : left + w]
            # TensorFlow's 'same' pooling leaves the padding out (of the max and the mean).
            np.testing.assert_allclose(
                after[row, col], reduce(patch, axis=(0, 1)), rtol=1e-5, atol=1e-6
            )
    # A convolution mixes the maps: no "same map" before it.
    assert map_before(model, maps, inbound, "c") is None
    assert layer_kind(model, "drop") == IDENTITY
    assert map_before(model, maps, inbound, "drop") == "p"


def test_a_flatten_index_is_a_pixel_of_a_map_and_a_dense_unit_reads_them():
    model, maps = pooled(keras.layers.MaxPooling2D, 2, 2, "valid")
    inbound = inbound_layers(model)
    assert layer_kind(model, "flat") == FLATTEN
    source = flat_source(model, maps, inbound, "flat")
    h, w, c = maps["p"].shape
    assert source == FlatSource("p", (h, w, c))  # through the Dropout, to the maps
    flat = maps["flat"]
    for i in range(flat.size):
        row, col, ch = source.position(i)
        assert flat[i] == maps["p"][row, col, ch] and source.index(row, col, ch) == i
    with pytest.raises(ValueError, match="index must be in"):
        source.position(flat.size)
    # A Dense unit: its weight column laid on the maps, times the maps, is its value.
    assert dense_source(model, maps, inbound, "d") == ("flat", source)
    kernel, bias = (np.asarray(w) for w in model.get_layer("d").get_weights())
    for unit in range(4):
        column, b = dense_unit_weights(model, "d", unit)
        np.testing.assert_array_equal(column, kernel[:, unit])
        assert b == pytest.approx(float(bias[unit]))
        on_maps = source.on_maps(column)
        assert on_maps.shape == (h, w, c)
        value = float(np.sum(on_maps * maps["p"]) + b)
        assert value == pytest.approx(float(maps["d"][unit]), rel=1e-5, abs=1e-5)
    assert flat_source(model, maps, inbound, "d") is None
    assert dense_source(model, maps, inbound, "flat") is None


def test_channels_first_order_of_an_onnx_flatten():
    s = FlatSource("m", (2, 3, 4), channels_first=True)
    maps = np.arange(24).reshape(2, 3, 4)
    flat = maps.transpose(2, 0, 1).ravel()  # what Flatten of an NCHW tensor gives
    for i in range(24):
        row, col, ch = s.position(i)
        assert maps[row, col, ch] == flat[i] and s.index(row, col, ch) == i
    np.testing.assert_array_equal(s.on_maps(flat), maps)


def test_an_onnx_graph_pools_and_flattens_the_same_way(tmp_path):
    reference = build_keras()
    path = tmp_path / "tiny.onnx"
    onnx.save(build_onnx(reference), path)
    net = load_onnx(path, size=16).model
    image = np.random.default_rng(2).normal(0, 1, (16, 16, 3)).astype(np.float32)
    maps = ActivationProbe(net).run(image)
    inbound = inbound_layers(net)
    assert layer_kind(net, "pool") == MAX_POOL
    assert map_before(net, maps, inbound, "pool") == "relu1"
    assert map_before(net, maps, inbound, "conv2") is None  # a Conv node
    window = pool_window(net, "relu1", "pool")
    assert window == PoolWindow((2, 2), (2, 2), (0, 0))
    before, after = maps["relu1"], maps["pool"]
    np.testing.assert_allclose(
        after, before.reshape(8, 2, 8, 2, -1).max(axis=(1, 3)), rtol=1e-5, atol=1e-6
    )
    # Flatten of the NCHW global average: channels first; Gemm weights are not read.
    source = flat_source(net, maps, inbound, "flatten")
    assert source == FlatSource("gap", (1, 1, 6), channels_first=True)
    np.testing.assert_allclose(maps["flatten"], source.on_maps(maps["flatten"]).ravel())
    assert dense_source(net, maps, inbound, "fc") == ("flatten", source)
    assert dense_unit_weights(net, "fc", 0) is None
    # A layer without maps has no field: no window rather than a wrong one.
    assert pool_window(net, "relu1", "flatten") is None


def test_the_arithmetic_of_a_window():
    window = np.array([[1.0, 1.0, 2.0], [5.0, 6.0, 7.0]])
    assert window_arithmetic(MAX_POOL, window, 7.0) == "max(1, 1, 2, 5, 6, 7) = 7"
    assert window_arithmetic(AVERAGE_POOL, window[:, :2], 3.25) == "mean(1, 1, 5, 6) = 3.25"
    assert window_arithmetic(MAX_POOL, np.ones((4, 4)), 1.0) == "max of the 4x4 window = 1"
    assert window_arithmetic(None, window, 1.0) == ""
