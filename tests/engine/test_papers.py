"""AlexNet and GoogLeNet built from their papers: the papers' shapes, parameters and
modules, counted here independently of Keras' own count; opened untrained, said so."""

import numpy as np
import pytest

from engine.inspection import architecture as arch
from engine.models import zoo
from engine.models.papers import GOOGLENET_MODULES, build_alexnet, build_googlenet


@pytest.fixture(scope="module")
def alexnet():
    return build_alexnet()


@pytest.fixture(scope="module")
def googlenet():
    return build_googlenet()


def _conv_params(f, c_in, c_out, groups=1):
    return f * f * (c_in // groups) * c_out + c_out


def test_alexnet_has_the_papers_shapes_and_about_60_million_parameters(alexnet):
    shapes = {
        n: alexnet.get_layer(n).output.shape[1:]
        for n in ("conv1", "pool1", "conv2", "pool2", "conv3", "conv5", "pool5", "fc6", "fc8")
    }
    assert shapes == {
        "conv1": (55, 55, 96),
        "pool1": (27, 27, 96),
        "conv2": (27, 27, 256),
        "pool2": (13, 13, 256),
        "conv3": (13, 13, 384),
        "conv5": (13, 13, 256),
        "pool5": (6, 6, 256),
        "fc6": (4096,),
        "fc8": (1000,),
    }
    # Counted from the paper's layers (conv2, 4, 5 split over two GPUs: groups of 2).
    expected = (
        _conv_params(11, 3, 96)
        + _conv_params(5, 96, 256, 2)
        + _conv_params(3, 256, 384)
        + _conv_params(3, 384, 384, 2)
        + _conv_params(3, 384, 256, 2)
        + (6 * 6 * 256 * 4096 + 4096)
        + (4096 * 4096 + 4096)
        + (4096 * 1000 + 1000)
    )
    assert alexnet.count_params() == expected == arch.ZOO_FACTS["alexnet"].params
    weighted = [layer for layer in alexnet.layers if layer.weights]
    assert len(weighted) == arch.ZOO_FACTS["alexnet"].depth == 8
    g = arch.model_graph(alexnet)
    assert g.total_macs == arch.ZOO_FACTS["alexnet"].macs
    # conv1's multiply-accumulates, by hand: 55 x 55 outputs x 96 filters x 11 x 11 x 3.
    assert next(n for n in g.nodes if n.name == "conv1").macs == 55 * 55 * 96 * 11 * 11 * 3


def test_googlenet_has_nine_inception_modules_as_its_table_gives(googlenet):
    modules = arch.inception_modules(googlenet)
    assert [m.name for m in modules] == [row[0] for row in GOOGLENET_MODULES]
    sizes = {"3": 28, "4": 14, "5": 7}
    for name, n1, _r3, n3, _r5, n5, proj in GOOGLENET_MODULES:
        shape = googlenet.get_layer(name).output.shape[1:]
        assert shape == (sizes[name[10]], sizes[name[10]], n1 + n3 + n5 + proj), name
    m = next(m for m in modules if m.name == "inception_3a")
    assert len(m.branches) == 4
    assert googlenet.get_layer("inception_5b").output.shape[1:] == (7, 7, 1024)
    assert googlenet.count_params() == arch.ZOO_FACTS["googlenet"].params
    assert arch.total_macs(googlenet) == arch.ZOO_FACTS["googlenet"].macs
    weighted_depth = 3 + 2 * len(GOOGLENET_MODULES) + 1  # conv1, conv2 pair, 2 per module, fc
    assert weighted_depth == arch.ZOO_FACTS["googlenet"].depth == 22


def test_the_zoo_opens_them_untrained_and_says_so():
    for key, size in ((zoo.ALEXNET, 227), (zoo.GOOGLENET, 224)):
        loaded = zoo.load_zoo_model(key)  # "imagenet" cannot be had: untrained, said
        assert not loaded.trained and "built from its paper" in loaded.note
        assert zoo.input_spec(key).size == (size, size)
        x = loaded.prepare(np.full((300, 400, 3), 128, np.uint8))
        assert x.shape == (size, size, 3)
        p = np.asarray(loaded.model(x[None], training=False))[0]
        assert p.shape == (1000,) and abs(float(p.sum()) - 1) < 1e-4
