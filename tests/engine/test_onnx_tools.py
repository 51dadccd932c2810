"""The top 9 and the test set for an ONNX model (issue 23), without Qt.

The ONNX graph is the app's trained MNIST CNN written out with ``onnx.helper`` (Conv and
Relu as separate nodes, NCHW, a Transpose before Flatten so that the dense weights read
Keras' channels-last order). The top 9 are checked against a brute force computed with
numpy from the same weights (a sliding-window convolution, no ONNX Runtime, no Keras),
the patches against the receptive fields counted by hand, and the test set against the
Keras model's own evaluation (``surgery.evaluate``) on the digits the app ships.
"""

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from engine.editing.surgery import evaluate, model_inputs
from engine.explanation.featurevis import example_crop, top_examples
from engine.explanation.top_examples import MNIST_SOURCE, find_top
from engine.models.mnist_data import bundled_test_digits
from engine.models.mnist_model import load_trained_mnist_cnn
from engine.models.onnx_model import load_onnx


def mnist_onnx(keras_model, batch="N"):
    """The MNIST CNN (``build_mnist_cnn``'s layers, with their weights) as an ONNX graph
    whose input is (batch, 1, 28, 28); nodes are named by their outputs."""
    init, nodes = [], []

    def const(name, value):
        init.append(numpy_helper.from_array(np.asarray(value, np.float32), name))
        return name

    def node(op, inputs, output, **attrs):
        nodes.append(helper.make_node(op, inputs, [output], output, **attrs))

    def weights(name):
        return keras_model.get_layer(name).get_weights()

    x = "digit"
    for name in ("conv2d_1", "conv2d_2"):
        kernel, bias = weights(name)
        w = const(f"{name}.w", kernel.transpose(3, 2, 0, 1))  # (K, Cin, F, F)
        node("Conv", [x, w, const(f"{name}.b", bias)], name, kernel_shape=[3, 3])
        node("Relu", [name], f"{name}_relu")
        x = f"{name}_relu"
    node("MaxPool", [x], "max_pooling2d", kernel_shape=[2, 2], strides=[2, 2])
    node("Transpose", ["max_pooling2d"], "to_nhwc", perm=[0, 2, 3, 1])
    node("Flatten", ["to_nhwc"], "flatten")
    kernel, bias = weights("dense_1")
    node("Gemm", ["flatten", const("dense_1.w", kernel), const("dense_1.b", bias)], "dense_1")
    node("Relu", ["dense_1"], "dense_1_relu")
    kernel, bias = weights("dense_2")
    node("Gemm", ["dense_1_relu", const("dense_2.w", kernel), const("dense_2.b", bias)], "dense_2")
    node("Softmax", ["dense_2"], "probabilities", axis=1)
    graph = helper.make_graph(
        nodes,
        "mnist_cnn",
        [helper.make_tensor_value_info("digit", TensorProto.FLOAT, [batch, 1, 28, 28])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, [batch, 10])],
        init,
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)


@pytest.fixture(scope="module")
def keras_cnn():
    return load_trained_mnist_cnn()


@pytest.fixture(scope="module")
def onnx_path(keras_cnn, tmp_path_factory):
    path = tmp_path_factory.mktemp("onnx") / "mnist_cnn.onnx"
    onnx.save(mnist_onnx(keras_cnn), path)
    return path


@pytest.fixture(scope="module")
def loaded(onnx_path):
    return load_onnx(onnx_path)


# -- the independent reference: numpy on the same weights ------------------------------
def _conv(x, kernel, bias):
    """'valid' cross-correlation of (N, H, W, Cin) with a Keras kernel (F, F, Cin, K)."""
    f = kernel.shape[0]
    h, w = x.shape[1] - f + 1, x.shape[2] - f + 1
    out = np.zeros((*x.shape[:1], h, w, kernel.shape[3]))
    for i in range(f):  # a sum of F x F shifted matrix products
        for j in range(f):
            out += x[:, i : i + h, j : j + w, :] @ kernel[i, j]
    return out + bias


def numpy_maps(keras_cnn, xs):
    """Every layer the tests search, for inputs (N, 28, 28, 1), by numpy alone."""
    out = {}
    out["conv2d_1"] = _conv(xs.astype(np.float64), *keras_cnn.get_layer("conv2d_1").get_weights())
    out["conv2d_1_relu"] = np.maximum(out["conv2d_1"], 0)
    out["conv2d_2"] = _conv(out["conv2d_1_relu"], *keras_cnn.get_layer("conv2d_2").get_weights())
    out["conv2d_2_relu"] = relu = np.maximum(out["conv2d_2"], 0)
    n, h, w, c = relu.shape
    out["max_pooling2d"] = relu.reshape(n, h // 2, 2, w // 2, 2, c).max(axis=(2, 4))
    return out


def brute_force(maps, channel, k=9):
    """(index, value, row, col) of the k inputs whose map of ``channel`` peaks highest."""
    found = []
    for i, m in enumerate(maps[..., channel]):
        r, c = np.unravel_index(np.argmax(m), m.shape)
        found.append((i, float(m[r, c]), int(r), int(c)))
    found.sort(key=lambda e: (-e[1], e[0]))
    return found[:k]


def hand_box(layer, r, c):
    """The input box of map pixel (r, c), counted by hand: two 3x3 'valid' convolutions
    see a 5x5 window at (r, c); a 2x2 pool of them sees 6x6 at (2r, 2c)."""
    if layer == "max_pooling2d":
        return (2 * r, 2 * c, 2 * r + 6, 2 * c + 6)
    size = 3 if layer.startswith("conv2d_1") else 5
    return (r, c, r + size, c + size)


@pytest.fixture(scope="module")
def digits_and_maps(loaded, keras_cnn):
    digits, labels = bundled_test_digits()
    xs = loaded.prepare_digits(digits)
    return digits, labels, xs, numpy_maps(keras_cnn, xs)


# -- the top 9 ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("layer", "channel"),
    [("conv2d_1", 3), ("conv2d_2_relu", 17), ("max_pooling2d", 40)],
)
def test_top_examples_of_an_onnx_model_is_the_numpy_brute_force(
    loaded, digits_and_maps, layer, channel
):
    # A layer ONNX Runtime gives, one numpy derives (the Relu), and one after a pooling.
    _digits, _labels, xs, maps = digits_and_maps
    fractions = []
    found = top_examples(
        loaded, layer, channel, xs, batch_size=64, progress=lambda f, _m: fractions.append(f)
    )
    expected = brute_force(maps[layer], channel)
    assert [(e.index, e.row, e.col) for e in found] == [(i, r, c) for i, _v, r, c in expected]
    np.testing.assert_allclose([e.value for e in found], [e[1] for e in expected], rtol=1e-4)
    assert fractions and fractions[-1] == pytest.approx(1.0)
    # The bare network gives the same, in batches of another size.
    again = top_examples(loaded.model, layer, channel, xs, batch_size=37)
    assert [e.index for e in again] == [e.index for e in found]
    for e in found:
        box = example_crop((28, 28), loaded, layer, e.row, e.col)
        assert box == hand_box(layer, e.row, e.col)
        assert example_crop(xs[e.index], loaded.model, layer, e.row, e.col) == box
        # A picture twice the size: the box scaled to it, as the image is to the model.
        assert example_crop((56, 56), loaded, layer, e.row, e.col) == tuple(2 * v for v in box)


def test_find_top_of_the_shipped_digits_on_an_onnx_model(loaded, digits_and_maps):
    digits, labels, _xs, maps = digits_and_maps
    result = find_top(loaded, "conv2d_2", 5)
    expected = brute_force(maps["conv2d_2"], 5)
    assert [it.index for it in result.items] == [e[0] for e in expected]
    assert (result.source, result.searched) == (MNIST_SOURCE, 500)
    for item, (i, _v, r, c) in zip(result.items, expected, strict=True):
        assert item.box == (r, c, r + 5, c + 5) and item.digit
        patch = digits[i][r : r + 5, c : c + 5]
        np.testing.assert_array_equal(item.crop, np.repeat(patch[:, :, None], 3, axis=2))
        assert item.label == f"#{i} ({labels[i]})"


def test_a_graph_with_a_fixed_batch_size_gives_the_same_top_9(keras_cnn, tmp_path, loaded):
    # Batch 4 in the graph: the inputs go through in runs of 4, the last one padded.
    path = tmp_path / "batch4.onnx"
    onnx.save(mnist_onnx(keras_cnn, batch=4), path)
    fixed = load_onnx(path)
    xs = loaded.prepare_digits(bundled_test_digits()[0][:50])
    want = top_examples(loaded, "conv2d_2_relu", 9, xs)
    got = top_examples(fixed, "conv2d_2_relu", 9, xs, batch_size=10)
    assert [(e.index, e.row, e.col) for e in got] == [(e.index, e.row, e.col) for e in want]
    np.testing.assert_allclose([e.value for e in got], [e.value for e in want], rtol=1e-5)


def test_a_layer_without_maps_and_a_channel_out_of_range_say_why(loaded):
    xs = np.zeros((2, 28, 28, 1), np.float32)
    with pytest.raises(ValueError, match="no spatial maps"):
        top_examples(loaded, "dense_1", 0, xs)
    with pytest.raises(ValueError, match="channel"):
        top_examples(loaded, "conv2d_1", 32, xs)
    with pytest.raises(ValueError, match="no spatial map"):
        example_crop((28, 28), loaded, "flatten", 0, 0)
    with pytest.raises(InterruptedError):
        top_examples(loaded, "conv2d_1", 0, xs, cancelled=lambda: True)


# -- the test set ---------------------------------------------------------------------------
def test_the_onnx_digit_model_scores_what_the_keras_one_does(loaded, keras_cnn):
    x, y = bundled_test_digits()
    fractions = []
    got = evaluate(loaded.model, x, y, batch_size=128, progress=lambda f, _m: fractions.append(f))
    want = evaluate(keras_cnn, x, y)
    assert got.accuracy == want.accuracy > 0.9
    np.testing.assert_array_equal(got.predictions, want.predictions)
    np.testing.assert_array_equal(got.confusion, want.confusion)
    np.testing.assert_allclose(got.probabilities, want.probabilities, atol=1e-5)
    assert fractions[-1] == pytest.approx(1.0) and len(fractions) == 4
    with pytest.raises(InterruptedError):
        evaluate(loaded.model, x, y, cancelled=lambda: True)


def test_model_inputs_follow_an_onnx_models_input(loaded):
    x = np.full((3, 28, 28), 255, np.uint8)
    batch = model_inputs(loaded.model, x)
    assert batch.shape == (3, 28, 28, 1) and batch.dtype == np.float32 and batch.max() == 1.0
    with pytest.raises(ValueError, match=r"\(N, 28, 28, 1\)"):
        model_inputs(loaded.model, np.zeros((3, 32, 32), np.uint8))
    with pytest.raises(ValueError, match="empty"):
        model_inputs(loaded.model, np.zeros((0, 28, 28), np.uint8))
