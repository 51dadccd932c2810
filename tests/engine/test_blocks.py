"""Blocks from the graph (engine.inspection.blocks): single-entry regions, named from the
model, for the zoo's networks, a model of one's own and bare graphs.

The zoo's networks are built untrained (no download), once for the test worker.
"""

import keras
import pytest

from engine.inspection.activations import layer_summary
from engine.inspection.architecture import GraphNode, ModelGraph
from engine.inspection.blocks import Block, block_key, block_names, blocks_of
from engine.models import zoo
from engine.models.mnist_model import build_mnist_cnn
from tests.shared_models import untrained


def _names(blocks):
    return [b.name for b in blocks]


def _check_partition(model, blocks):
    """Every layer but the inputs in exactly one block, in the model's order."""
    layers = [row.name for row in layer_summary(model)]
    assert [name for b in blocks for name in b.layers] == layers
    assert len(set(_names(blocks))) == len(blocks)


@pytest.fixture(scope="module")
def applications():
    keys = {"VGG16": zoo.VGG16, "ResNet50": zoo.RESNET50, "InceptionV3": zoo.INCEPTIONV3}
    return {name: untrained(key).model for name, key in keys.items()}


def test_inceptionv3_is_its_stem_eleven_modules_and_top(applications):
    model = applications["InceptionV3"]
    blocks = blocks_of(model)
    _check_partition(model, blocks)
    assert _names(blocks) == ["stem", *(f"mixed{i}" for i in range(11)), "top"]
    mixed0 = blocks[1]
    assert mixed0.branched and mixed0.layers[-1] == "mixed0"
    assert "mixed9_0" in blocks[10].layers  # a concatenation inside a module stays inside
    assert blocks[-1].layers == ("avg_pool", "predictions")
    assert not blocks[0].branched


def test_vgg16_is_its_five_blocks_and_top(applications):
    model = applications["VGG16"]
    blocks = blocks_of(model)
    _check_partition(model, blocks)
    assert _names(blocks) == ["block1", "block2", "block3", "block4", "block5", "top"]
    assert blocks[0].layers == ("block1_conv1", "block1_conv2", "block1_pool")
    assert blocks[-1].layers == ("flatten", "fc1", "fc2", "predictions")
    assert not any(b.branched for b in blocks)


def test_resnet50_is_its_sixteen_residual_blocks(applications):
    model = applications["ResNet50"]
    blocks = blocks_of(model)
    _check_partition(model, blocks)
    depths = ((2, 3), (3, 4), (4, 6), (5, 3))
    stages = [f"conv{s}_block{b}" for s, n in depths for b in range(1, n + 1)]
    assert _names(blocks) == ["stem", *stages, "top"]
    first = blocks[1]
    assert first.layers[0] == "conv2_block1_1_conv" and first.layers[-1] == "conv2_block1_out"
    assert all(b.branched for b in blocks[1:-1])
    assert blocks[0].layers[-1] == "pool1_pool"


def test_the_lecture_cnn_is_cut_at_its_pooling():
    names = block_names(build_mnist_cnn(compile=False))
    assert names == {
        **dict.fromkeys(["conv2d_1", "conv2d_2", "max_pooling2d", "dropout_1"], "block 1"),
        **dict.fromkeys(["flatten", "dense_1", "dropout_2", "dense_2"], "top"),
    }


def test_a_model_of_ones_own_with_unnamed_residuals_and_a_named_module():
    """Auto-named layers: stages between the map-halving layers; a region of several
    layers whose closing layer has a real name is named by it."""
    inputs = keras.Input((16, 16, 3))
    x = keras.layers.Conv2D(4, 3, padding="same")(inputs)
    y = keras.layers.Conv2D(4, 3, padding="same")(x)
    x = keras.layers.Add()([x, y])
    x = keras.layers.MaxPooling2D()(x)
    x = keras.layers.Conv2D(8, 3, padding="same")(x)
    x = keras.layers.MaxPooling2D()(x)
    a = keras.layers.Conv2D(4, 1)(x)
    b = keras.layers.Conv2D(4, 3, padding="same")(x)
    x = keras.layers.Concatenate(name="fork_join")([a, b])
    x = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inputs, keras.layers.Dense(3)(x))
    blocks = blocks_of(model)
    _check_partition(model, blocks)
    assert _names(blocks) == ["stem", "fork_join", "top"]
    assert blocks[1].branched and len(blocks[1].layers) == 3

    plain = keras.Model(inputs, keras.layers.Dense(3)(keras.layers.Flatten()(y)))
    blocks = blocks_of(plain)
    assert _names(blocks) == ["block 1", "top"]


def _graph(names, edges, types=None, shapes=None):
    types = types or {}
    shapes = shapes or {}
    nodes = tuple(
        GraphNode(n, types.get(n, "InputLayer" if i == 0 else "Op"), shapes.get(n, (8, 8, 4)), 1, 0)
        for i, n in enumerate(names)
    )
    return ModelGraph("g", nodes, tuple(edges))


def test_pytorch_scopes_name_the_blocks():
    """A torchvision ResNet's export: /layer1/layer1.0/... names its residual block."""
    x = "input"
    names = [
        x,
        "/conv1/Conv",
        "/relu/Relu",
        "/maxpool/MaxPool",
        "/layer1/layer1.0/conv1/Conv",
        "/layer1/layer1.0/relu/Relu",
        "/layer1/layer1.0/conv2/Conv",
        "/layer1/layer1.0/Add",
        "/layer1/layer1.0/relu_1/Relu",
        "/avgpool/GlobalAveragePool",
        "/Flatten",
        "/fc/Gemm",
    ]
    edges = list(zip(names, names[1:], strict=False))
    edges += [("/maxpool/MaxPool", "/layer1/layer1.0/Add")]  # the identity shortcut
    types = {n: n.rsplit("/", 1)[-1] for n in names[1:]}
    shapes = {"/avgpool/GlobalAveragePool": (4, 1, 1), "/Flatten": (4,), "/fc/Gemm": (10,)}
    blocks = blocks_of(_graph(names, edges, types, shapes))
    assert [(b.name, len(b.layers)) for b in blocks] == [("stem", 3), ("layer1.0", 5), ("top", 3)]
    assert blocks[1].branched


def test_a_side_output_keeps_what_follows_in_one_region():
    names = ["x", "a", "b", "side", "c", "d"]
    edges = [("x", "a"), ("a", "b"), ("b", "side"), ("b", "c"), ("c", "d")]
    blocks = blocks_of(_graph(names, edges))
    # The region closed by d holds the side output; it is named by the layer closing it.
    assert blocks == [Block("stem", ("a", "b")), Block("d", ("side", "c", "d"))]


def test_keys():
    assert block_key("convnext_tiny_stage_0_block_1_gelu") == "convnext_tiny_stage_0_block_1"
    assert block_key("blocks_conv") is None and block_key("block") is None
    assert block_key("/features/features.0/Conv") == "features"  # torchvision VGG's Sequential
    assert block_key("/fc/Gemm") is None
