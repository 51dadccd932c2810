"""ONNX models (engine.models.onnx_model), checked against Keras as the reference.

Each ONNX graph is built here with ``onnx.helper`` from the weights of a small Keras model
(Conv, Relu, MaxPool, a dilated Conv, BatchNormalization, a residual Add, a strided Conv
with auto_pad, GlobalAveragePool, Flatten, Gemm), so every number the ONNX side gives
(activations, top-k, parameters, MACs, receptive fields, edits, occlusion) is compared
with what Keras computes for the same network. No file is committed.
"""

import json

import keras
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from engine.editing.surgery import ModelEditor
from engine.explanation import attribution
from engine.inspection.activations import (
    ActivationProbe,
    conv_kernel,
    gradients_unavailable,
    inbound_layers,
    layer_summary,
)
from engine.inspection.architecture import model_graph
from engine.inspection.blocks import blocks_of
from engine.models import zoo
from engine.models.onnx_model import (
    NCHW,
    NHWC,
    OnnxEditor,
    OnnxLoadedModel,
    OnnxNetwork,
    edited_copy,
    is_onnx,
    load_onnx,
    occlusion,
)

SIZE = 16


def build_keras(shape=(SIZE, SIZE, 3)):
    """The reference: the same layer names as the ONNX graph's nodes."""
    L = keras.layers  # noqa: N806
    inputs = keras.Input(shape, name="image")
    x = L.Conv2D(4, 3, padding="same", name="conv1")(inputs)
    x = L.ReLU(name="relu1")(x)
    pool = L.MaxPooling2D(2, name="pool")(x)
    x = L.Conv2D(4, 3, padding="same", dilation_rate=2, name="conv2")(pool)
    x = L.BatchNormalization(name="bn")(x)
    x = L.Add(name="add")([pool, x])
    x = L.ReLU(name="relu2")(x)
    x = L.Conv2D(6, 3, strides=2, padding="same", name="conv3")(x)
    x = L.GlobalAveragePooling2D(name="gap")(x)
    outputs = L.Dense(5, name="fc")(x)
    return keras.Model(inputs, outputs, name="reference")


@pytest.fixture(scope="module")
def reference():
    keras.utils.set_random_seed(7)
    model = build_keras()
    bn = model.get_layer("bn")
    rng = np.random.default_rng(3)
    bn.set_weights([rng.uniform(0.5, 1.5, 4), rng.normal(0, 0.3, 4), rng.normal(0, 0.3, 4),
                    rng.uniform(0.5, 2.0, 4)])  # fmt: skip
    fc = model.get_layer("fc")
    fc.set_weights([fc.get_weights()[0] * 4, rng.normal(0, 1, 5)])
    return model


def build_onnx(model, layout=NCHW, dims=("N", 3, "H", "W"), opset=17):
    """The ONNX graph of ``build_keras``'s network, NCHW inside (an NHWC input is
    transposed first, as a TensorFlow export does). Each node is named by its output."""
    init, nodes = [], []

    def const(name, value):
        init.append(numpy_helper.from_array(np.asarray(value, np.float32), name))
        return name

    def node(op, inputs, output, **attrs):
        nodes.append(helper.make_node(op, inputs, [output], output, **attrs))

    def conv(name, x, **attrs):
        kernel, bias = model.get_layer(name).get_weights()
        w = kernel.transpose(3, 2, 0, 1)  # (F, F, Cin, K) -> (K, Cin, F, F)
        node("Conv", [x, const(f"{name}.w", w), const(f"{name}.b", bias)], name, **attrs)

    x = "image"
    if layout == NHWC:
        node("Transpose", [x], "to_nchw", perm=[0, 3, 1, 2])
        x = "to_nchw"
    conv("conv1", x, kernel_shape=[3, 3], pads=[1, 1, 1, 1])
    node("Relu", ["conv1"], "relu1")
    node("MaxPool", ["relu1"], "pool", kernel_shape=[2, 2], strides=[2, 2])
    conv("conv2", "pool", dilations=[2, 2], pads=[2, 2, 2, 2])
    bn = model.get_layer("bn")
    stats = [const(f"bn.{i}", v) for i, v in enumerate(bn.get_weights())]
    node("BatchNormalization", ["conv2", *stats], "bn", epsilon=bn.epsilon)
    node("Add", ["pool", "bn"], "add")
    node("Relu", ["add"], "relu2")
    conv("conv3", "relu2", strides=[2, 2], auto_pad="SAME_UPPER", kernel_shape=[3, 3])
    node("GlobalAveragePool", ["conv3"], "gap")
    node("Flatten", ["gap"], "flatten")
    kernel, bias = model.get_layer("fc").get_weights()
    node("Gemm", ["flatten", const("fc.w", kernel), const("fc.b", bias)], "fc")
    graph = helper.make_graph(
        nodes,
        "tiny",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, list(dims))],
        [helper.make_tensor_value_info("fc", TensorProto.FLOAT, [dims[0], 5])],
        init,
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], ir_version=8)


@pytest.fixture(scope="module")
def onnx_file(reference, tmp_path_factory):
    path = tmp_path_factory.mktemp("onnx") / "tiny.onnx"
    onnx.save(build_onnx(reference), path)
    return path


@pytest.fixture(scope="module")
def loaded(onnx_file):
    return load_onnx(onnx_file, size=SIZE)


def _image(seed=0, size=SIZE):
    return np.random.default_rng(seed).normal(0, 1, (size, size, 3)).astype(np.float32)


# -- loading and the input ----------------------------------------------------------------
def test_an_onnx_file_opens_as_a_keras_file_does(loaded, onnx_file):
    assert isinstance(loaded, OnnxLoadedModel) and is_onnx(loaded.model)
    net = loaded.model
    assert net.input_layout == NCHW and loaded.input_shape == (None, None, 3)
    assert loaded.spec.free_size and loaded.spec.channels == 3
    # Through the zoo's own entry points too (the Activations panel's list, the CLI).
    via_zoo = zoo.load_user_model(onnx_file)
    assert isinstance(via_zoo, OnnxLoadedModel) and via_zoo.spec == loaded.spec.__class__(
        (None, None), 3, zoo.Scaling.TORCH
    )
    assert isinstance(zoo.load_model(str(onnx_file)), OnnxLoadedModel)
    # A 3-channel float NCHW model: torchvision's mean and std, said to be a guess.
    assert loaded.spec.scaling is zoo.Scaling.TORCH
    assert loaded.scaling_source is zoo.ScalingSource.GUESSED
    assert "a guess" in loaded.scaling_note and "torchvision" in loaded.scaling_note
    assert loaded.with_scaling("unit").spec.scaling is zoo.Scaling.UNIT
    assert loaded.with_scaling("unit").with_scaling(None).spec.scaling is zoo.Scaling.TORCH
    assert loaded.output_layer == "fc" and loaded.classifier
    assert gradients_unavailable(net, "Grad-CAM").startswith("Grad-CAM needs gradients")
    assert gradients_unavailable(keras.Sequential([keras.Input((2,))])) == ""


def test_forward_top_k_and_any_size_match_keras(reference, loaded):
    x = np.stack([_image(1), _image(2)])
    expected = np.asarray(reference(x, training=False))
    np.testing.assert_allclose(loaded.forward(x), expected, rtol=1e-4, atol=1e-5)
    reading = loaded.read_output(loaded.forward(x[:1])[0], k=3)
    assert reading.kind is zoo.OutputKind.LOGITS and zoo.LOGITS_NOTE in reading.note
    probs = zoo.softmax(expected[0])
    assert [p.index for p in reading.top] == np.argsort(probs)[::-1][:3].tolist()
    assert [p.label for p in reading.top] == [f"class {p.index}" for p in reading.top]
    # Another size: a dynamic height and width.
    other = build_keras((20, 24, 3))
    other.set_weights(reference.get_weights())
    y = np.random.default_rng(5).normal(0, 1, (1, 20, 24, 3)).astype(np.float32)
    np.testing.assert_allclose(loaded.forward(y), np.asarray(other(y)), rtol=1e-4, atol=1e-5)
    # A prepared photo goes through the same prepare as a Keras file's.
    photo = np.random.default_rng(0).integers(0, 256, (30, 40, 3), dtype=np.uint8)
    assert loaded.prepare(photo).shape == (SIZE, round(40 * SIZE / 30), 3)


def test_every_layer_in_one_run_matches_keras(reference, loaded):
    net = loaded.model
    names = [row.name for row in layer_summary(net)]
    assert names == ["conv1", "relu1", "pool", "conv2", "bn", "add", "relu2", "conv3", "gap",
                     "flatten", "fc"]  # fmt: skip
    probe = ActivationProbe(net)
    assert probe.derived == {"relu1": ("conv1",), "bn": ("conv2",), "add": ("pool", "bn"),
                             "relu2": ("add",)}  # fmt: skip
    x = _image(3)
    acts = probe.run(x)
    expected = ActivationProbe(reference).run(x)
    assert list(acts) == names
    for name in names:
        if name in ("gap", "flatten"):
            continue
        assert acts[name].shape == expected[name].shape, name
        np.testing.assert_allclose(acts[name], expected[name], rtol=1e-4, atol=1e-5, err_msg=name)
    assert acts["gap"].shape == (1, 1, 6)  # a 4-D ONNX tensor: maps, 1 x 1
    np.testing.assert_allclose(acts["flatten"], expected["gap"], rtol=1e-4, atol=1e-5)
    # A few layers only: what they derive from is fetched, not shown.
    few = ActivationProbe(net, ["relu2", "fc"]).run(x)
    assert list(few) == ["relu2", "fc"]
    np.testing.assert_allclose(few["relu2"], expected["relu2"], rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match="no layer named 'nope'"):
        ActivationProbe(net, ["nope"])


def test_the_table_graph_and_filters_match_keras(reference, loaded):
    net = loaded.model
    rows = {r.name: r for r in layer_summary(net)}
    keras_rows = {r.name: r for r in layer_summary(reference)}
    for name in ("conv1", "conv2", "bn", "conv3", "fc"):
        assert rows[name].params == keras_rows[name].params, name
    assert rows["conv1"].output_shape == (None, None, 4)  # any size
    assert rows["flatten"].output_shape == (6,) and rows["conv1"].type == "Conv"
    assert net.count_params() == reference.count_params()
    graph, keras_graph = model_graph(net), model_graph(reference)
    for name in ("conv1", "conv2", "conv3", "fc"):
        assert graph.node(name).macs == keras_graph.node(name).macs, name
    assert graph.total_macs == keras_graph.total_macs
    assert graph.node("conv1").output_shape == (SIZE, SIZE, 4)
    assert inbound_layers(net)["add"] == ["pool", "bn"]
    assert inbound_layers(net)["conv1"] == ["image"]
    assert graph.nodes[0].type == "InputLayer"
    np.testing.assert_array_equal(conv_kernel(net, "conv2"), conv_kernel(reference, "conv2"))
    assert conv_kernel(net, "relu1") is None


def test_receptive_fields_match_keras(reference, loaded):
    net = loaded.model
    fields = net.receptive_fields()
    assert set(fields) == {"conv1", "relu1", "pool", "conv2", "bn", "add", "relu2", "conv3"}
    for name in fields:
        assert net.receptive_field_2d(name) == attribution.receptive_field_2d(reference, name), name
    assert fields["conv3"].jump == 4
    for name in ("gap", "fc"):  # global pooling, as Keras': each value sees the whole input
        with pytest.raises(ValueError, match="no spatial map"):
            net.receptive_field(name)


def test_blocks_of_an_onnx_graph(loaded):
    blocks = blocks_of(loaded.model)
    assert [b.name for b in blocks] == ["block 1", "block 2", "top"]
    assert blocks[1].layers[:3] == ("conv2", "bn", "add") and blocks[1].branched
    assert blocks[-1].layers == ("flatten", "fc")


def test_a_tensorflow_style_nhwc_input_with_a_fixed_size(reference, tmp_path):
    path = tmp_path / "nhwc.onnx"
    onnx.save(build_onnx(reference, layout=NHWC, dims=(1, SIZE, SIZE, 3)), path)
    loaded = load_onnx(path)
    net = loaded.model
    assert net.input_layout == NHWC and loaded.input_shape == (SIZE, SIZE, 3)
    assert loaded.spec.scaling is zoo.Scaling.UNIT and "a guess" in loaded.scaling_note
    x = np.stack([_image(4), _image(5), _image(6)])  # the graph's batch is 1: three runs
    np.testing.assert_allclose(loaded.forward(x), np.asarray(reference(x)), rtol=1e-4, atol=1e-5)
    acts = ActivationProbe(net).run(x[0])
    np.testing.assert_allclose(acts["conv1"], ActivationProbe(reference).run(x[0])["conv1"],
                               rtol=1e-4, atol=1e-5)  # fmt: skip
    assert acts["to_nchw"].shape == (SIZE, SIZE, 3)  # read as maps whichever way it is held
    np.testing.assert_allclose(acts["to_nchw"], x[0])
    with pytest.raises(ValueError, match="expects input of shape"):
        loaded.forward(np.zeros((1, 8, 8, 3), np.float32))


# -- class names and conventions --------------------------------------------------------------
def test_class_names_from_metadata_or_a_labels_file(reference, tmp_path):
    model = build_onnx(reference)
    helper.set_model_props(model, {"classes": json.dumps(list("abcde")), "scaling": "unit"})
    path = tmp_path / "named.onnx"
    onnx.save(model, path)
    loaded = load_onnx(path)
    assert loaded.class_names == list("abcde")
    assert loaded.spec.scaling is zoo.Scaling.UNIT
    assert loaded.scaling_source is zoo.ScalingSource.DETECTED
    assert "metadata says 'unit'" in loaded.scaling_note
    (tmp_path / "named.labels.txt").write_text("v\nw\nx\ny\nz\n")
    assert load_onnx(path).class_names == list("vwxyz")  # the file beside wins
    helper.set_model_props(model, {"names": "{0: 'p', 1: 'q', 2: 'r', 3: 's', 4: 't'}"})
    onnx.save(model, tmp_path / "yolo.onnx")
    assert load_onnx(tmp_path / "yolo.onnx").class_names == list("pqrst")
    with pytest.raises(zoo.ModelLoadError, match="has 2 labels but 'named.onnx''s output has 5"):
        load_onnx(path, labels=["one", "two"])


def _save(tmp_path, name, nodes, inputs, outputs, opsets=(("", 17),), initializers=()):
    graph = helper.make_graph(nodes, "bad", inputs, outputs, list(initializers))
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid(d, v) for d, v in opsets], ir_version=8
    )
    path = tmp_path / name
    onnx.save(model, path)
    return path


def test_a_1000_way_output_is_named_by_imagenet(tmp_path):
    f = TensorProto.FLOAT
    nodes = [
        helper.make_node("GlobalAveragePool", ["x"], ["g"], "gap"),
        helper.make_node("Flatten", ["g"], ["h"], "flatten"),
        helper.make_node("Gemm", ["h", "w"], ["y"], "fc"),
        helper.make_node("Softmax", ["y"], ["p"], "softmax"),
    ]
    w = numpy_helper.from_array(np.zeros((3, 1000), np.float32), "w")
    path = _save(
        tmp_path,
        "imagenet.onnx",
        nodes,
        [helper.make_tensor_value_info("x", f, [1, 3, 224, 224])],
        [helper.make_tensor_value_info("p", f, [1, 1000])],
        initializers=[w],
    )
    loaded = load_onnx(path)
    assert loaded.class_names == zoo.imagenet_class_names() and loaded.input_shape == (224, 224, 3)
    reading = loaded.read_output(loaded.forward(np.zeros((1, 224, 224, 3), np.float32))[0])
    assert reading.kind is zoo.OutputKind.PROBABILITIES and not reading.note
    assert reading.top[0].probability == pytest.approx(0.001)


# -- bad files: one sentence each -------------------------------------------------------------
def test_bad_onnx_files_say_why_in_one_sentence(tmp_path):
    f = TensorProto.FLOAT
    image = helper.make_tensor_value_info("x", f, [1, 3, 8, 8])
    out = helper.make_tensor_value_info("y", f, None)
    text = tmp_path / "text.onnx"
    text.write_text("this is not a model\n")
    cases = {
        text: "'text.onnx' is not an ONNX model file",
        _save(
            tmp_path,
            "custom.onnx",
            [helper.make_node("Frobnicate", ["x"], ["y"], domain="my.ops")],
            [image],
            [out],
            (("", 17), ("my.ops", 1)),
        ): "'custom.onnx' uses the operator my.ops:Frobnicate",
        _save(
            tmp_path,
            "unknown.onnx",
            [helper.make_node("Frobnicate", ["x"], ["y"])],
            [image],
            [out],
        ): "'unknown.onnx' uses the operator Frobnicate (opset 17), which ONNX Runtime",
        _save(
            tmp_path,
            "two.onnx",
            [helper.make_node("Add", ["x", "z"], ["y"])],
            [image, helper.make_tensor_value_info("z", f, [1, 3, 8, 8])],
            [out],
        ): "'two.onnx' takes 2 inputs ('x' (1, 3, 8, 8), 'z' (1, 3, 8, 8)); the app shows",
        _save(
            tmp_path,
            "tokens.onnx",
            [helper.make_node("Cast", ["t"], ["y"], to=f)],
            [helper.make_tensor_value_info("t", TensorProto.INT64, ["N", 128])],
            [out],
        ): "'tokens.onnx' takes input 't' of shape (?, 128) (int64); the app shows models",
        tmp_path / "missing.onnx": "does not exist",
    }
    for path, fragment in cases.items():
        with pytest.raises(zoo.ModelLoadError) as info:
            zoo.load_user_model(path)
        message = str(info.value)
        assert fragment in message, message
        assert "\n" not in message


# -- what works, what does not ---------------------------------------------------------------
def test_edits_match_keras_and_undo_exactly(reference, loaded, tmp_path):
    net = loaded.model
    editor, keras_editor = OnnxEditor(net), ModelEditor(reference)
    assert editor.editable_layers() == ("conv1", "conv2", "conv3", "fc")
    probe = ActivationProbe(editor.model)  # made before the edits: stays valid
    x = _image(8)
    before = np.asarray(probe.run(x)["fc"])
    kernel = np.stack([np.eye(3)] * 3, axis=2)
    for ed in (editor, keras_editor):
        ed.set_filter("conv1", 1, kernel, name="diagonal", bias=0.5)
        ed.ablate("conv2", [0, 2])
        ed.scale("fc", 3, -2.0)
    assert [e.describe() for e in editor.edits] == [e.describe() for e in keras_editor.edits]
    acts = probe.run(x)
    expected = ActivationProbe(keras_editor.model).run(x)
    for name in ("conv1", "conv2", "add", "fc"):
        np.testing.assert_allclose(acts[name], expected[name], rtol=1e-4, atol=1e-5, err_msg=name)
    assert not acts["conv2"][..., [0, 2]].any()
    np.testing.assert_array_equal(net.forward(x[None]), loaded.forward(x[None]))  # untouched
    # The same edits again on a copy; saved and opened again.
    copy = edited_copy(net, editor.edits)
    np.testing.assert_array_equal(copy.forward(x[None]), editor.model.forward(x[None]))
    saved = editor.save(tmp_path / "edited.onnx")
    np.testing.assert_allclose(load_onnx(saved).forward(x[None])[0], acts["fc"], rtol=1e-6)
    editor.restore("conv2", [2])
    assert probe.run(x)["conv2"][..., 2].any()
    assert len(editor.revert(0)) == 4 and editor.edits == ()
    np.testing.assert_array_equal(probe.run(x)["fc"], before)
    with pytest.raises(ValueError, match="must be a Conv, Gemm or MatMul layer"):
        editor.ablate("relu1", 0)
    with pytest.raises(ValueError, match="kernel must have that shape"):
        editor.set_filter("conv2", 0, np.eye(3))


def test_occlusion_matches_keras(reference, loaded):
    x = _image(9)
    expected = attribution.occlusion(reference, x, 2, patch=6, stride=5)
    found = occlusion(loaded.model, x, 2, patch=6, stride=5, probabilities=False)
    np.testing.assert_allclose(found, expected, rtol=1e-4, atol=1e-5)
    drops = occlusion(loaded.model, x, 2, patch=6, stride=5, batch_size=2)
    assert drops.shape == (3, 3) and np.isfinite(drops).all()


def test_an_onnx_network_is_its_own_object(onnx_file):
    net = OnnxNetwork(onnx.load(onnx_file), "tiny", (SIZE, SIZE))
    assert net.name == "tiny" and not net.has_gradients
    assert [layer.name for layer in net.layers if layer.maps][:3] == ["conv1", "relu1", "pool"]
    with pytest.raises(ValueError, match="has no layer named"):
        net.layer("nope")
    assert net(np.zeros((1, SIZE, SIZE, 3), np.float32), training=False).shape == (1, 5)


def test_modules_of_an_onnx_graph(loaded):
    """The Blocks tab's engine: residual blocks and inception modules from ONNX operators."""
    from engine.inspection.architecture import inception_modules, residual_blocks

    [block] = residual_blocks(loaded.model)
    assert (block.input, block.residual, block.shortcut) == ("pool", ("conv2", "bn"), ())
    assert block.add == "add" and block.activation == "relu2" and block.identity

    f = TensorProto.FLOAT
    w = {"a.w": np.ones((2, 3, 1, 1)), "b.w": np.ones((2, 3, 1, 1)), "c.w": np.ones((2, 2, 3, 3))}
    nodes = [
        helper.make_node("Conv", ["x", "a.w"], ["a"], "branch_1x1"),
        helper.make_node("Conv", ["x", "b.w"], ["b"], "reduce"),
        helper.make_node("Conv", ["b", "c.w"], ["c"], "branch_3x3", pads=[1, 1, 1, 1]),
        helper.make_node("MaxPool", ["x"], ["p"], "pool", kernel_shape=[3, 3], pads=[1] * 4),
        helper.make_node("Concat", ["a", "c", "p"], ["y"], "mixed", axis=1),
    ]
    graph = helper.make_graph(
        nodes,
        "inception",
        [helper.make_tensor_value_info("x", f, [1, 3, 8, 8])],
        [helper.make_tensor_value_info("y", f, None)],
        [numpy_helper.from_array(v.astype(np.float32), k) for k, v in w.items()],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    net = OnnxNetwork(model, "inception")
    [module] = inception_modules(net)
    assert module.name == "mixed" and module.input == "x"
    assert module.labels == ("1x1", "3x3", "pool")
    assert [b.name for b in blocks_of(net)] == ["mixed"]
    assert net.layer("mixed").output_shape == (8, 8, 7)


def test_a_free_size_that_only_runs_square_is_fixed_and_a_run_error_is_one_sentence(tmp_path):
    """A graph with free H and W whose Flatten and Gemm are sized for 8x8 (as a PyTorch
    export of a VGG without its adaptive pooling): opened at size 8, its input is fixed
    at 8x8, so a photo of another shape is resized to it and runs; a wrong input gets
    one sentence, not ONNX Runtime's raw text."""
    f = TensorProto.FLOAT
    rng = np.random.default_rng(0)
    w_conv = rng.normal(0, 0.3, (2, 3, 3, 3)).astype(np.float32)
    w_fc = rng.normal(0, 0.3, (2 * 8 * 8, 4)).astype(np.float32)
    nodes = [
        helper.make_node("Conv", ["image", "w"], ["conv"], "conv", pads=[1, 1, 1, 1]),
        helper.make_node("Flatten", ["conv"], ["flatten"], "flatten"),
        helper.make_node("Gemm", ["flatten", "fc.w"], ["fc"], "fc"),
    ]
    path = _save(
        tmp_path,
        "fixed_inside.onnx",
        nodes,
        [helper.make_tensor_value_info("image", f, ["N", 3, "H", "W"])],
        [helper.make_tensor_value_info("fc", f, ["N", 4])],
        initializers=[numpy_helper.from_array(w_conv, "w"), numpy_helper.from_array(w_fc, "fc.w")],
    )
    loaded = load_onnx(path, size=8)
    assert loaded.model.input_shape == (8, 8, 3)
    photo = rng.integers(0, 256, (30, 50, 3), dtype=np.uint8)
    x = loaded.prepare(photo)
    assert x.shape == (8, 8, 3)
    out = loaded.model.forward(x[None])
    # The same arithmetic in numpy: the convolution (cross-correlation, zero padding 1),
    # flattened in NCHW order, times the Gemm's weights.
    padded = np.pad(x.transpose(2, 0, 1), ((0, 0), (1, 1), (1, 1)))
    conv = np.zeros((2, 8, 8), np.float64)
    for k in range(2):
        for r in range(8):
            for c in range(8):
                conv[k, r, c] = np.sum(padded[:, r : r + 3, c : c + 3] * w_conv[k])
    np.testing.assert_allclose(out[0], conv.reshape(-1) @ w_fc, rtol=1e-4, atol=1e-4)
    assert "(None = any)" in _message(lambda: loaded.model.forward(np.zeros((1, 8, 12, 3))))
    # Before the size is settled, ONNX Runtime itself refuses: one sentence.
    free = OnnxNetwork(onnx.load(path), "fixed_inside.onnx", (8, 8))
    assert free.input_shape == (None, None, 3)
    said = _message(lambda: free.forward(np.zeros((1, 8, 12, 3), np.float32)))
    assert said.startswith("ONNX Runtime could not run 'fixed_inside.onnx' on an input of shape ")
    assert "1x3x8x12" in said and "[ONNXRuntimeError]" not in said and "\n" not in said


def _message(call) -> str:
    with pytest.raises(ValueError) as info:
        call()
    return str(info.value)
