"""The architecture view's engine (engine.inspection.architecture): graph, MACs, modules,
layout, facts.

InceptionV3 and ResNet50 are built once for the session, untrained (no download).
"""

import keras
import pytest

from engine.inspection import architecture as arch
from engine.models import zoo
from engine.models.mnist_model import build_lenet5, build_mnist_cnn
from tests.shared_models import untrained


@pytest.fixture(scope="session")
def inception():
    loaded = untrained(zoo.INCEPTIONV3)
    assert loaded.input_shape == (299, 299, 3) and not loaded.trained
    return loaded.model, arch.model_graph(loaded.model)


@pytest.fixture(scope="session")
def resnet():
    model = untrained(zoo.RESNET50).model
    return model, arch.model_graph(model)


@pytest.fixture(scope="module")
def mnist_cnn():
    model = build_mnist_cnn(compile=False)
    return model, arch.model_graph(model)


# -- graph --------------------------------------------------------------------------------
def test_the_lecture_cnn_is_a_chain(mnist_cnn):
    model, g = mnist_cnn
    names = ["digit", *(layer.name for layer in model.layers)]
    assert [n.name for n in g.nodes] == names
    assert list(g.edges) == list(zip(names, names[1:], strict=False))
    assert g.nodes[0].type == "InputLayer" and g.nodes[0].output_shape == (28, 28, 1)
    assert g.node("flatten").output_shape == (9216,) and g.node("dense_1").params == 1_179_776
    assert g.total_params == model.count_params() == 1_199_882


def test_resnet50_graph_has_its_sixteen_adds(resnet):
    model, g = resnet
    assert [n.name for n in g.nodes] == [layer.name for layer in model.layers]
    assert g.nodes[0].type == "InputLayer" and g.inbound(g.nodes[0].name) == []
    adds = [n.name for n in g.nodes if n.type == "Add"]
    assert len(adds) == 16 and all(len(g.inbound(a)) == 2 for a in adds)
    assert g.inbound("conv2_block1_add") == ["conv2_block1_0_bn", "conv2_block1_3_bn"]
    assert g.inbound("conv2_block2_add") == ["conv2_block1_out", "conv2_block2_3_bn"]
    assert len(g.edges) == sum(len(g.inbound(n.name)) for n in g.nodes)
    assert g.total_params == model.count_params()


def test_inception_concatenates_four_branches(inception):
    model, g = inception
    assert len(g.nodes) == len(model.layers)
    assert len(g.inbound("mixed0")) == 4 and len(g.inbound("mixed3")) == 3
    assert g.node("mixed0").output_shape == (35, 35, 256)


# -- MACs ---------------------------------------------------------------------------------
def test_macs_of_the_lecture_cnn_layer_by_layer(mnist_cnn):
    model, g = mnist_cnn
    expected = {
        "conv2d_1": 26 * 26 * 32 * 3 * 3 * 1,  # 194,688
        "conv2d_2": 24 * 24 * 64 * 3 * 3 * 32,  # 10,616,832
        "max_pooling2d": 0,
        "dropout_1": 0,
        "flatten": 0,
        "dense_1": 9216 * 128,
        "dropout_2": 0,
        "dense_2": 128 * 10,
    }
    assert {layer.name: arch.macs(layer) for layer in model.layers} == expected
    assert expected["conv2d_1"] == 194_688
    assert g.total_macs == arch.total_macs(model) == sum(expected.values()) == 11_992_448
    assert g.node("conv2d_2").macs == 10_616_832


def test_macs_of_depthwise_separable_grouped_and_dense_on_maps():
    x = keras.Input((10, 10, 4))
    depthwise = keras.layers.DepthwiseConv2D(3, depth_multiplier=2)
    separable = keras.layers.SeparableConv2D(16, 3)
    grouped = keras.layers.Conv2D(8, 3, groups=2)
    strided = keras.layers.Conv2D(5, 3, strides=2, padding="same")
    dense = keras.layers.Dense(7)
    pool = keras.layers.MaxPooling2D()
    outs = [depthwise(x), separable(x), grouped(x), strided(x), dense(x), pool(x)]
    keras.Model(x, outs)
    assert arch.macs(depthwise) == 8 * 8 * 4 * 3 * 3 * 2  # per channel, x depth multiplier
    assert arch.macs(separable) == 8 * 8 * 4 * 3 * 3 + 8 * 8 * 4 * 16  # + pointwise 1x1
    assert arch.macs(grouped) == 8 * 8 * 8 * 3 * 3 * 4 // 2
    assert arch.macs(strided) == 5 * 5 * 5 * 3 * 3 * 4
    assert arch.macs(dense) == 10 * 10 * 4 * 7  # a Dense on maps: every position
    assert arch.macs(pool) == 0
    with pytest.raises(ValueError, match="has not been called"):
        arch.macs(keras.layers.Conv2D(2, 3))


# -- modules ------------------------------------------------------------------------------
def test_inceptionv3_has_eleven_modules_with_labelled_branches(inception):
    model, g = inception
    modules = arch.inception_modules(model, g)
    assert [m.name for m in modules] == [f"mixed{i}" for i in range(11)]
    by_name = {m.name: m for m in modules}
    assert by_name["mixed0"].labels == ("1x1", "5x5", "3x3→3x3", "pool + 1x1")
    assert by_name["mixed0"].input == "max_pooling2d_1" and by_name["mixed1"].input == "mixed0"
    assert by_name["mixed3"].labels == ("3x3", "3x3→3x3", "pool")
    assert by_name["mixed4"].labels == ("1x1", "1x7→7x1", "7x1→1x7→7x1→1x7", "pool + 1x1")
    assert by_name["mixed8"].labels == ("3x3", "1x7→7x1→3x3", "pool")
    assert by_name["mixed9"].labels == ("1x1", "1x3 | 3x1", "3x3→(1x3 | 3x1)", "pool + 1x1")
    for m in modules:  # each branch ends where the concatenation takes it
        assert [b.layers[-1] for b in m.branches] == g.inbound(m.name)
        assert all(g.inbound(b.layers[0]) == [m.input] for b in m.branches)
    ones = by_name["mixed0"].branches[0].layers
    assert [g.node(n).type for n in ones] == ["Conv2D", "BatchNormalization", "Activation"]


def test_resnet50_has_sixteen_residual_blocks(resnet):
    model, g = resnet
    blocks = arch.residual_blocks(model, g)
    assert len(blocks) == 16
    assert [b.name for b in blocks if not b.identity] == [
        "conv2_block1",
        "conv3_block1",
        "conv4_block1",
        "conv5_block1",
    ]
    first, second = blocks[0], blocks[1]
    assert first.input == "pool1_pool" and first.shortcut == (
        "conv2_block1_0_conv",
        "conv2_block1_0_bn",
    )
    assert first.residual[0] == "conv2_block1_1_conv" and first.residual[-1] == "conv2_block1_3_bn"
    assert len(first.residual) == 8 and first.add == "conv2_block1_add"
    assert first.activation == "conv2_block1_out"
    assert second.identity and second.input == "conv2_block1_out"
    assert [b.input for b in blocks[1:]] == [b.activation for b in blocks[:-1]]


def test_no_modules_in_a_chain(mnist_cnn):
    model, g = mnist_cnn
    assert arch.inception_modules(model, g) == [] and arch.residual_blocks(model, g) == []


# -- layout -------------------------------------------------------------------------------
def _check_layout(g, lay):
    assert set(lay.positions) == {n.name for n in g.nodes}
    assert len(set(lay.positions.values())) == len(g.nodes)  # no two nodes on one spot
    for a, b in g.edges:
        route = lay.routes[(a, b)]
        assert route[0] == lay.positions[a] and route[-1] == lay.positions[b]
        assert [y for _, y in route] == list(range(route[0][1], route[-1][1] + 1))


def test_layout_of_a_chain_is_a_column(mnist_cnn):
    _, g = mnist_cnn
    lay = arch.layout(g)
    _check_layout(g, lay)
    assert [lay.positions[n.name] for n in g.nodes] == [(0, i) for i in range(len(g.nodes))]
    assert lay.width == 1 and lay.height == len(g.nodes)


def test_layout_puts_branches_side_by_side(inception, resnet):
    g = inception[1]
    lay = arch.layout(g)
    _check_layout(g, lay)
    first = [
        lay.positions[b.layers[0]] for b in arch.inception_modules(inception[0], g)[0].branches
    ]
    assert len({x for x, _ in first}) == 4 and len({y for _, y in first}) == 1
    g = resnet[1]
    lay = arch.layout(g)
    _check_layout(g, lay)
    block = arch.residual_blocks(resnet[0], g)[1]  # an identity shortcut
    lanes = {lay.positions[n][0] for n in block.residual}
    assert lanes == {lay.positions[block.add][0]}  # F(x) runs straight down to the add
    skip = lay.routes[(block.input, block.add)]
    assert all(x not in lanes for x, _ in skip[1:-1])  # x goes round it, not through it


# -- the comparison table -----------------------------------------------------------------
def test_zoo_facts_match_the_models_built_here(inception, resnet, mnist_cnn):
    built = {
        "inceptionv3": inception[1],
        "resnet50": resnet[1],
        "mnist": mnist_cnn[1],
        "lenet5": arch.model_graph(build_lenet5(compile=False)),
    }
    for key, g in built.items():
        facts = arch.ZOO_FACTS[key]
        assert (g.total_params, g.total_macs) == (facts.params, facts.macs), key
        assert g.nodes[0].output_shape[:2] == facts.input_size
    assert (
        arch.ZOO_FACTS["lenet5"].macs
        == 28 * 28 * 6 * 25 + 10 * 10 * 16 * 150 + 400 * 120 + 120 * 84 + 84 * 10
    )
    assert set(arch.ZOO_FACTS) == set(zoo.MODEL_TITLES)
    assert arch.ZOO_FACTS["inceptionv3"].top1 == 0.779 and arch.ZOO_FACTS["resnet50"].depth == 107
    years = [f.year for f in arch.facts_table(["lenet5", "vgg16", "resnet50", "convnext_tiny"])]
    assert years == sorted(years)


def test_newer_models_have_their_facts_and_builders():
    # Built and counted by bench/zoo_facts.py (seconds each): here only what is cheap.
    for key in (zoo.MOBILENETV2, zoo.EFFICIENTNETB0, zoo.CONVNEXT_TINY):
        facts = arch.ZOO_FACTS[key]
        assert facts.input_size == zoo.input_spec(key).size == (224, 224)
        assert 0.7 < facts.top1 < 0.85 and facts.macs < arch.ZOO_FACTS["resnet50"].macs * 2
        assert callable(getattr(keras.applications, zoo.APPLICATIONS[key].function))
