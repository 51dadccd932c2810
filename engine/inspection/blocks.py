"""The blocks of a model, read from its graph: single-entry, single-exit regions.

One rule for every model the app opens (a Keras model, an ONNX graph, a model of the
person's own): ``blocks_of(model)`` groups the layers into blocks, in order, for the
layer tree, the architecture view and ``summary --json``'s ``"block"``.

How:

1. **Regions.** A layer is a *cut* when every path from the input to the output passes
   through it: in the graph's topological order, no edge leaps over it. The layers after
   one cut up to and including the next form a region with one entry and one exit: a
   single layer in a chain (VGG16), a whole module where paths branch and merge
   (InceptionV3's ``mixed3``, ResNet50's ``conv2_block1`` up to its ``Add``, an
   EfficientNet squeeze-and-excite). Extra inputs and outputs hang from a virtual source
   and sink, so a side output keeps the layers after it in one region.
2. **Names from the model.** A layer's *key* is the block its name says it is in:
   Keras' ``block3_conv2`` -> ``block3``, ``conv4_block2_add`` -> ``conv4_block2``,
   ``block2a_se_excite`` -> ``block2a``, ``block_3_pad`` -> ``block_3``,
   ``convnext_tiny_stage_0_block_1_gelu`` -> ``convnext_tiny_stage_0_block_1``; a
   PyTorch export's scope ``/layer1/layer1.0/conv1/Conv`` -> ``layer1.0``. A region of
   several layers is named by the key its layers share, else by the layer that closes
   it when that name means something (``mixed3``; not Keras' ``concatenate_4`` or
   ONNX's ``Add_12``), else by the words its layers' names begin with; a single layer
   only by its key. Neighbouring regions of one name are one block.
3. **The rest.** Where the model names blocks, unnamed layers before the first are the
   ``stem``, those after the last the ``top``, and those between join the block before
   them; an unnamed region of several layers is a ``block N`` of its own. Where it
   names none (a plain model of one's own, the lecture's MNIST CNN), the layers after
   the last map (Flatten, Dense) are the ``top`` and the maps are cut into ``block 1``,
   ``block 2``, ... after each layer that halves the map (pooling, a stride of 2), as
   VGG's blocks end at their pooling.

>>> from engine.inspection.architecture import GraphNode, ModelGraph
>>> names = ["in", "conv", "relu", "pool", "flatten", "dense"]
>>> shapes = [(8, 8, 1), (8, 8, 4), (8, 8, 4), (4, 4, 4), (64,), (10,)]
>>> nodes = tuple(GraphNode(n, "InputLayer" if n == "in" else "X", s, 1, 0)
...               for n, s in zip(names, shapes))
>>> graph = ModelGraph("m", nodes, tuple(zip(names, names[1:])))
>>> [(b.name, b.layers) for b in blocks_of(graph)]
[('block 1', ('conv', 'relu', 'pool')), ('top', ('flatten', 'dense'))]
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from engine.inspection.architecture import ModelGraph

STEM, TOP = "stem", "top"

#: Graph nodes that are the model's inputs, not layers (Keras' and the ONNX graph's).
INPUT_TYPES = ("InputLayer",)


@dataclass(frozen=True)
class Block:
    """A run of layers the app shows as one group.

    ``name`` is the model's own where it has one (``mixed3``, ``conv2_block1``,
    ``block2a``, ``layer1.0``), else ``stem``, ``top`` or ``block N``; ``layers`` in the
    graph's order, input layers excluded; ``branched``: it holds a region where paths
    split and merge (a module, a residual block).
    """

    name: str
    layers: tuple[str, ...]
    branched: bool = False


# -- keys: the block a layer's name says it is in ----------------------------------------
_KERAS_BLOCK = re.compile(r"block\d+[a-z]?")  # block3, block2a; not blocks, not block
_DIGITS = re.compile(r"\d+")


def block_key(layer_name: str) -> str | None:
    """The block a layer's name puts it in, or None when the name says none.

    >>> block_key("block3_conv2"), block_key("conv4_block2_add"), block_key("block_1_pad")
    ('block3', 'conv4_block2', 'block_1')
    >>> block_key("block2a_se_excite"), block_key("/layer2/layer2.0/relu_1/Relu")
    ('block2a', 'layer2.0')
    >>> block_key("flatten"), block_key("/conv1/Conv"), block_key("mixed3")
    (None, None, None)
    """
    if "/" in layer_name:
        # A PyTorch export: /scope/.../module/Op; the block is the scope around the module.
        scope = [p for p in layer_name.split("/") if p][:-1]
        return scope[-2] if len(scope) >= 2 else None
    tokens = layer_name.split("_")
    for i, token in enumerate(tokens):
        if _KERAS_BLOCK.fullmatch(token):
            return "_".join(tokens[: i + 1])
        if token == "block" and i + 1 < len(tokens) and _DIGITS.fullmatch(tokens[i + 1]):
            return "_".join(tokens[: i + 2])
    return None


def _common_scope(names: Sequence[str]) -> str | None:
    """The innermost scope all of a PyTorch export's node names share (``layer1.0`` for
    ``/layer1/layer1.0/conv1/Conv`` and ``/layer1/layer1.0/Add``), else None."""
    scopes = [[p for p in n.split("/") if p][:-1] for n in names]
    common: list[str] = []
    for parts in zip(*scopes, strict=False):
        if any(p != parts[0] for p in parts):
            break
        common.append(parts[0])
    return common[-1] if common else None


def _snake(type_name: str) -> str:
    """Keras' default name stem of a layer class: ``BatchNormalization`` ->
    ``batch_normalization``, ``Conv2D`` -> ``conv2d``."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", type_name).lower()


def is_meaningful_name(name: str, type_name: str) -> bool:
    """False for a name a framework made up from the layer's type (Keras' ``add_3``,
    ``concatenate``; ONNX's ``Add_12``, ``node_Concat_4``; no name), True otherwise.

    >>> is_meaningful_name("mixed3", "Concatenate"), is_meaningful_name("add_3", "Add")
    (True, False)
    >>> is_meaningful_name("Concat_12", "Concat"), is_meaningful_name("conv2d_4", "Conv2D")
    (False, False)
    """
    bare = re.sub(r"^(node|onnx)[_:]", "", name.strip("/").split("/")[-1], flags=re.I)
    bare = re.sub(r"[_:.\d]+$", "", bare)
    if not bare:
        return False
    return bare.lower() not in {_snake(type_name), type_name.lower(), "tf.op", "op"}


_SUFFIXES = ("_add", "_out", "_concat", "_merge", "_output")


def _closer_name(name: str) -> str:
    """A block named by the layer that closes it: ``block2b_add`` -> ``block2b``."""
    for suffix in _SUFFIXES:
        if name.endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)]
    return name


def _common_words(names: Sequence[str]) -> str | None:
    """The whole words (split at ``_``) all names begin with, if any.

    >>> _common_words(["stage1_unit2_conv", "stage1_unit2_bn", "stage1_unit2_sum"])
    'stage1_unit2'
    """
    split = [n.split("_") for n in names]
    common: list[str] = []
    for parts in zip(*split, strict=False):
        if any(p != parts[0] for p in parts):
            break
        common.append(parts[0])
    if not common or all(_DIGITS.fullmatch(p) for p in common):
        return None
    if len(common) == min(len(s) for s in split):  # one name is all of it: a layer's name
        return None
    return "_".join(common)


def _region_name(layers: Sequence[str], closer: str, closer_type: str) -> str | None:
    """The model's own name for a region of several layers, or None."""
    if all("/" in n for n in layers):
        return _common_scope(layers)
    keys = {k for n in layers if (k := block_key(n))}
    if len(keys) == 1:
        return keys.pop()
    if keys and block_key(closer):
        return block_key(closer)
    if is_meaningful_name(closer, closer_type):
        return _closer_name(closer)
    return _common_words(layers)


# -- regions ------------------------------------------------------------------------------
@dataclass
class _Region:
    layers: list[str]
    name: str | None
    branched: bool
    maps: bool  # every layer's output is a map (H, W, C)
    halves: bool  # a layer halves the map (pooling, stride 2)
    weights: bool  # a layer has parameters


def _regions(graph: ModelGraph) -> list[_Region]:
    nodes = graph.nodes
    n = len(nodes)
    sources = [i for i, node in enumerate(nodes) if not graph.inbound(node.name)]
    reach = max(sources, default=0)  # virtual edges from one source to every input
    regions: list[_Region] = []
    current: list[int] = []
    for i, node in enumerate(nodes):
        current.append(i)
        outs = [graph.position(o) for o in graph.outbound(node.name)]
        if reach <= i:  # no edge leaps over node i: a cut, closing a region
            _close(graph, current, regions)
            current = []
        reach = max(reach, max(outs) if outs else n)  # a sink: a virtual edge to the end
    _close(graph, current, regions)  # after a side output: one region to the end
    return regions


def _close(graph: ModelGraph, members: list[int], regions: list[_Region]) -> None:
    nodes = [graph.nodes[j] for j in members]
    layers = [m for m in nodes if m.type not in INPUT_TYPES]
    if not layers:
        return
    names = [m.name for m in layers]
    closer = nodes[-1]
    name = block_key(names[0]) if len(names) == 1 else _region_name(names, closer.name, closer.type)
    regions.append(
        _Region(
            names,
            name,
            len(names) > 1 and _branches(graph, names),
            all(len(m.output_shape) == 3 for m in layers),
            any(_halves(graph, m.name) for m in layers),
            any(m.params > 0 for m in layers),
        )
    )


def _branches(graph: ModelGraph, names: Sequence[str]) -> bool:
    """True when paths merge inside the region (an ``Add``, a ``Concatenate``)."""
    return any(len(graph.inbound(m)) > 1 for m in names)


def _halves(graph: ModelGraph, name: str) -> bool:
    """True when the layer's map is at most half as high as its input's."""
    out = graph.node(name).output_shape
    ins = [graph.node(p).output_shape for p in graph.inbound(name)]
    if len(out) != 3 or not ins or len(ins[0]) != 3 or out[0] is None or ins[0][0] is None:
        return False
    return 2 * out[0] <= ins[0][0] + 1


# -- blocks -------------------------------------------------------------------------------
def _graph_of(model: Any) -> ModelGraph:
    from engine.inspection.architecture import ModelGraph, model_graph

    return model if isinstance(model, ModelGraph) else model_graph(model)


def blocks_of(model: Any) -> list[Block]:
    """The model's layers grouped into blocks, in order (see the module's notes).

    Parameters
    ----------
    model : keras.Model, OnnxNetwork or ModelGraph
        Any model the app opens, or its graph (``architecture.model_graph``).

    Returns
    -------
    list of Block
        Every layer but the inputs in exactly one block; block names are unique.
        InceptionV3: ``stem``, ``mixed0`` ... ``mixed10``, ``top``; VGG16: ``block1`` ...
        ``block5``, ``top``; ResNet50: ``stem``, ``conv2_block1`` ... ``conv5_block3``,
        ``top``.

    Raises
    ------
    ValueError
        A Keras model without a graph of layers (subclassed, or never built on an input).
    """
    graph = _graph_of(model)
    regions = _regions(graph)
    if any(r.name for r in regions):
        _name_around_model_names(regions)
    else:
        _name_by_stages(regions)
    blocks: list[Block] = []
    for region in regions:
        name = region.name or "?"
        if blocks and blocks[-1].name == name:
            last = blocks.pop()
            region_layers = (*last.layers, *region.layers)
            blocks.append(Block(name, region_layers, last.branched or region.branched))
        else:
            blocks.append(Block(name, tuple(region.layers), region.branched))
    return _unique(blocks)


def _name_around_model_names(regions: list[_Region]) -> None:
    named = [i for i, r in enumerate(regions) if r.name]
    first, last = named[0], named[-1]
    count = 0
    for i, region in enumerate(regions):
        if region.name:
            continue
        if len(region.layers) > 1 and first < i < last:
            count += 1
            region.name = f"block {count}"
        elif i < first:
            region.name = STEM
        elif i > last:
            region.name = TOP
        else:
            region.name = regions[i - 1].name  # a transition joins the block before it


def _name_by_stages(regions: list[_Region]) -> None:
    head = len(regions)
    while head > 0 and not regions[head - 1].maps:
        head -= 1
    if head == 0:  # no maps at all (a plain MLP): one block
        head = len(regions)
    stage = 1
    for i in range(head):
        regions[i].name = f"block {stage}"
        later_weights = any(r.weights for r in regions[i + 1 : head])
        if regions[i].halves and later_weights:
            stage += 1
    for region in regions[head:]:
        region.name = TOP


def _unique(blocks: list[Block]) -> list[Block]:
    """Names made unique: a name that comes back later gets " (2)", " (3)", ..."""
    seen: dict[str, int] = {}
    out = []
    for block in blocks:
        seen[block.name] = seen.get(block.name, 0) + 1
        if seen[block.name] > 1:
            block = Block(f"{block.name} ({seen[block.name]})", block.layers, block.branched)
        out.append(block)
    return out


def block_names(model: Any) -> dict[str, str]:
    """Each layer's block name (input layers excluded), from ``blocks_of``.

    >>> from engine.models.mnist_model import build_mnist_cnn
    >>> names = block_names(build_mnist_cnn(compile=False))
    >>> names["conv2d_1"], names["max_pooling2d"], names["dense_2"]
    ('block 1', 'block 1', 'top')
    """
    return {layer: block.name for block in blocks_of(model) for layer in block.layers}
