"""The architecture of a model: its graph, its cost, its modules, a drawing of it.

Keras models and ONNX models (``engine.models.onnx_model.OnnxNetwork``) alike.

- ``model_graph(model)``: the layers as nodes (name, type, output shape, parameters,
  multiply-accumulates) and the tensors between them as edges, from Keras 3's functional
  graph; a Sequential model is the chain it is, input layer first.
- ``macs(layer)``: the multiply-accumulates of one forward pass of one image.
- ``inception_modules(model)``: GoogLeNet's "let the network choose the filter size",
  read from InceptionV3: each module's parallel branches, labelled by their filters.
- ``residual_blocks(model)``: ResNet's x, F(x), x + F(x): each ``Add`` with its block
  input, residual branch, shortcut (identity or projection) and the activation after.
- ``layout(graph)``: where to draw each node: layers in order down the page, parallel
  branches side by side.
- ``ZOO_FACTS``: year, depth, parameters, ImageNet top-1 and MACs of the zoo's models.

TensorFlow/Keras is imported inside the functions, so importing this module is cheap.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import keras

#: An edge of the graph: (from layer, to layer).
Edge = tuple[str, str]


@dataclass(frozen=True)
class GraphNode:
    """One layer of a model, as the architecture view shows it.

    ``output_shape`` has no batch axis; ``macs`` are the multiply-accumulates of one
    image through the layer (all its calls, for a layer used more than once).
    """

    name: str
    type: str  # the layer's class name, for display
    output_shape: tuple[int | None, ...]
    params: int
    macs: int


@dataclass(frozen=True)
class ModelGraph:
    """A model's layers (``nodes``, in topological order, input layers first) and the
    tensors between them (``edges``: one per input of each call, so an ``Add`` of two
    tensors has two inbound edges).

    >>> g = ModelGraph("m", (GraphNode("a", "InputLayer", (4,), 0, 0),
    ...                      GraphNode("b", "Dense", (2,), 10, 8)), (("a", "b"),))
    >>> g.inbound("b"), g.outbound("a"), g.total_macs, g.total_params
    (['a'], ['b'], 8, 10)
    """

    name: str
    nodes: tuple[GraphNode, ...]
    edges: tuple[Edge, ...]
    _index: dict[str, int] = field(init=False, repr=False, compare=False)
    _in: dict[str, list[str]] = field(init=False, repr=False, compare=False)
    _out: dict[str, list[str]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        index = {n.name: i for i, n in enumerate(self.nodes)}
        inbound: dict[str, list[str]] = {n.name: [] for n in self.nodes}
        outbound: dict[str, list[str]] = {n.name: [] for n in self.nodes}
        for a, b in self.edges:
            if a not in index or b not in index:
                raise ValueError(f"edge ({a!r}, {b!r}) names a layer that is not a node")
            outbound[a].append(b)
            inbound[b].append(a)
        object.__setattr__(self, "_index", index)
        object.__setattr__(self, "_in", inbound)
        object.__setattr__(self, "_out", outbound)

    def node(self, name: str) -> GraphNode:
        return self.nodes[self._index[name]]

    def position(self, name: str) -> int:
        """The node's index in the topological order."""
        return self._index[name]

    def inbound(self, name: str) -> list[str]:
        """The layers whose outputs ``name`` takes, in the order of its inputs."""
        return list(self._in[name])

    def outbound(self, name: str) -> list[str]:
        return list(self._out[name])

    @property
    def total_macs(self) -> int:
        return sum(n.macs for n in self.nodes)

    @property
    def total_params(self) -> int:
        return sum(n.params for n in self.nodes)

    def ancestors(self, name: str) -> set[str]:
        """``name`` and every layer it depends on."""
        seen = {name}
        stack = [name]
        while stack:
            for p in self._in[stack.pop()]:
                if p not in seen:
                    seen.add(p)
                    stack.append(p)
        return seen


# -- the graph ----------------------------------------------------------------------------
def _graph_of(model: Any) -> Any:
    """The Functional object that holds ``model``'s graph (a Sequential keeps one inside)."""
    inner = getattr(model, "_functional", None)
    if inner is not None:
        return inner
    if hasattr(model, "_nodes") and hasattr(model, "operations"):
        return model
    raise ValueError(
        f"model '{getattr(model, 'name', model)}' has no graph of layers yet: build it on "
        "a keras.Input first (a Sequential model needs an Input as its first layer)"
    )


def _shape(tensor: Any) -> tuple[int | None, ...]:
    return tuple(None if d is None else int(d) for d in tensor.shape[1:])


def _calls(op: Any, node_keys: set[str]) -> list[Any]:
    """The calls (Keras nodes) of ``op`` that belong to the graph with ``node_keys``."""
    return [
        node
        for i, node in enumerate(op._inbound_nodes)
        if f"{id(op)}_ib-{i}" in node_keys  # keras.src.ops.function.make_node_key
    ]


def model_graph(model: keras.Model) -> ModelGraph:
    """The model's layers and the tensors between them, inputs included as source nodes.

    A layer inside a nested model is not a node: the nested model is one node (its MACs
    and parameters are its layers' together).

    >>> from engine.models.mnist_model import build_mnist_cnn
    >>> g = model_graph(build_mnist_cnn(compile=False))
    >>> [n.name for n in g.nodes][:3], g.edges[:2]
    (['digit', 'conv2d_1', 'conv2d_2'], (('digit', 'conv2d_1'), ('conv2d_1', 'conv2d_2')))
    >>> g.node("conv2d_1").macs  # 26*26 positions x 32 filters x 3*3*1
    194688
    """
    import keras

    from engine.models.onnx_model import is_onnx

    if is_onnx(model):  # an ONNX model reads its own graph
        return model.graph()  # type: ignore[no-any-return]
    graph = _graph_of(model)
    keys = set(graph._nodes)
    nodes: list[GraphNode] = []
    edges: list[Edge] = []
    for op in graph.operations:
        calls = _calls(op, keys)
        if not calls:
            continue
        total = 0
        for call in calls:
            edges.extend((t._keras_history[0].name, op.name) for t in call.input_tensors)
            total += _macs_of_call(op, call.input_tensors, call.output_tensors)
        nodes.append(
            GraphNode(
                op.name,
                type(op).__name__,
                _shape(calls[0].output_tensors[0]),
                # Not every operation is a layer: ``x + y`` on Keras tensors is an op.
                int(op.count_params()) if isinstance(op, keras.Layer) and op.built else 0,
                total,
            )
        )
    return ModelGraph(model.name, tuple(nodes), tuple(edges))


# -- multiply-accumulates -----------------------------------------------------------------
def _spatial_and_channels(layer: Any, shape: Sequence[int | None]) -> tuple[int, int]:
    """(number of positions, channels) of a shape with its batch axis."""
    dims = [1 if d is None else int(d) for d in shape[1:]]
    if getattr(layer, "data_format", "channels_last") == "channels_first":
        return math.prod(dims[1:]), dims[0]
    return math.prod(dims[:-1]), dims[-1]


def _macs_of_call(layer: Any, inputs: Sequence[Any], outputs: Sequence[Any]) -> int:
    import keras

    L = keras.layers  # noqa: N806 (the usual short name)
    if isinstance(layer, keras.Model):
        return model_graph(layer).total_macs
    if not inputs or not outputs:
        return 0
    in_pos, c_in = _spatial_and_channels(layer, inputs[0].shape)
    out_pos, c_out = _spatial_and_channels(layer, outputs[0].shape)
    if isinstance(layer, (L.SeparableConv1D, L.SeparableConv2D)):
        k = math.prod(layer.kernel_size)
        mid = c_in * layer.depth_multiplier
        return out_pos * mid * k + out_pos * mid * c_out  # depthwise, then pointwise 1x1
    if isinstance(layer, (L.DepthwiseConv1D, L.DepthwiseConv2D)):
        return out_pos * c_in * layer.depth_multiplier * math.prod(layer.kernel_size)
    if isinstance(layer, (L.Conv1DTranspose, L.Conv2DTranspose, L.Conv3DTranspose)):
        # Each input position scatters a kernel-sized patch of every output channel.
        return in_pos * c_in * math.prod(layer.kernel_size) * c_out
    if isinstance(layer, (L.Conv1D, L.Conv2D, L.Conv3D)):
        groups = int(getattr(layer, "groups", 1))
        return out_pos * c_out * math.prod(layer.kernel_size) * c_in // groups
    if isinstance(layer, L.Dense):
        return in_pos * c_in * c_out  # every position of the input, for a Dense on maps
    return 0


def macs(layer: keras.Layer) -> int:
    """Multiply-accumulates of one image through ``layer`` (its first call), 0 when the
    layer does no weighted sums (pooling, activations, normalisation, ``Add``).

    - convolution: H'·W'·Cout·F·F·Cin/groups (the output positions times one weighted sum
      of F·F·Cin/groups inputs each);
    - depthwise: H'·W'·C·F·F·depth_multiplier (each channel filtered alone);
    - separable: depthwise, then a pointwise 1x1 convolution, H'·W'·(C·depth_multiplier)·Cout;
    - dense: inputs·units (per position, when applied to maps);
    - a nested model: its layers' sum.

    >>> import keras
    >>> x = keras.Input((9, 9, 8))
    >>> sep = keras.layers.SeparableConv2D(16, 3)
    >>> _ = sep(x)
    >>> macs(sep) == 7 * 7 * 8 * 3 * 3 + 7 * 7 * 8 * 16
    True
    """
    import keras

    if isinstance(layer, keras.Model):
        return model_graph(layer).total_macs
    if not layer._inbound_nodes:
        raise ValueError(f"layer '{layer.name}' has not been called on an input yet")
    call = layer._inbound_nodes[0]
    return _macs_of_call(layer, call.input_tensors, call.output_tensors)


def total_macs(model: keras.Model) -> int:
    """All the multiply-accumulates of one image through ``model``."""
    return model_graph(model).total_macs


# -- modules: inception, residual ---------------------------------------------------------
@dataclass(frozen=True)
class Branch:
    """One parallel path of an inception module.

    ``layers`` in topological order, from the first after the module's input to the last
    before its ``Concatenate`` (not included); ``label`` names its filters
    (``"3x3→3x3"``, ``"pool + 1x1"``, ``"1x3 | 3x1"`` for a path that splits in two).
    """

    label: str
    layers: tuple[str, ...]


@dataclass(frozen=True)
class InceptionModule:
    """One inception module: ``input`` feeds every branch; ``output`` (a
    ``Concatenate``, its name the module's name) stacks their maps."""

    name: str
    input: str
    branches: tuple[Branch, ...]

    @property
    def output(self) -> str:
        return self.name

    @property
    def labels(self) -> tuple[str, ...]:
        return tuple(b.label for b in self.branches)


@dataclass(frozen=True)
class ResidualBlock:
    """One residual block: ``add`` computes x + F(x).

    ``input`` is the layer whose output is x; ``residual`` the layers of F(x) in order;
    ``shortcut`` is empty for an identity shortcut, else the projection's layers (a 1x1
    convolution and its batch normalisation in ResNet50); ``activation`` the layer right
    after the ``Add`` (ResNet's ReLU), if there is one.
    """

    name: str
    input: str
    residual: tuple[str, ...]
    shortcut: tuple[str, ...]
    add: str
    activation: str | None

    @property
    def identity(self) -> bool:
        return not self.shortcut


def _merge_branches(graph: ModelGraph, merge: str) -> tuple[str, list[tuple[str, ...]]] | None:
    """(the nearest common ancestor of ``merge``'s inputs, each input's own layers).

    None if the inputs share no ancestor (a model with several inputs).
    """
    sources = graph.inbound(merge)
    if len(sources) < 2:
        return None
    ancestors = [graph.ancestors(s) for s in sources]
    common = set.intersection(*ancestors)
    if not common:
        return None
    fork = max(common, key=graph.position)
    branches = [
        tuple(sorted(a - common, key=graph.position)) for a in ancestors
    ]  # a branch that is the fork itself (an identity shortcut) is ()
    return fork, branches


@dataclass(frozen=True)
class _Role:
    """What the module finders need to know of a layer, for Keras and ONNX alike:
    ``merge`` "concat" or "add" (else None); ``activation``; ``token`` the filter's name
    in a branch label ("3x3" for a convolution, "pool" for pooling)."""

    merge: str | None = None
    activation: bool = False
    token: str | None = None


def _roles(model: Any) -> dict[str, _Role]:
    """Each layer's ``_Role``, by ``isinstance`` for Keras, by operator for ONNX."""
    from engine.models.onnx_model import is_onnx

    if is_onnx(model):
        return {layer.name: _onnx_role(model, layer) for layer in model.layers}
    import keras

    L = keras.layers  # noqa: N806
    convs = (L.Conv2D, L.DepthwiseConv2D, L.SeparableConv2D)
    roles = {}
    for layer in _graph_of(model).operations:
        token = None
        if isinstance(layer, convs):
            token = "x".join(str(k) for k in layer.kernel_size)
        elif isinstance(layer, (L.AveragePooling2D, L.MaxPooling2D)):
            token = "pool"
        merge = (
            "concat"
            if isinstance(layer, L.Concatenate)
            else "add"
            if isinstance(layer, L.Add)
            else None
        )
        roles[layer.name] = _Role(merge, isinstance(layer, (L.Activation, L.ReLU)), token)
    return roles


#: ONNX operators that are activations (the layer after a residual Add).
_ONNX_ACTIVATIONS = {"Relu", "Clip", "LeakyRelu", "Sigmoid", "Tanh", "Elu", "Selu", "Gelu",
                     "HardSigmoid", "HardSwish", "Softplus", "Mish", "PRelu"}  # fmt: skip


def _onnx_role(model: Any, layer: Any) -> _Role:
    window = model.window(layer.name)
    token = None
    if window is not None:
        token = "x".join(str(k) for k in window) if layer.type == "Conv" else "pool"
    merge = {"Concat": "concat", "Add": "add", "Sum": "add"}.get(layer.type)
    return _Role(merge, layer.type in _ONNX_ACTIVATIONS, token)


def _describe(graph: ModelGraph, layers: dict[str, _Role], members: Sequence[str]) -> list[str]:
    """The filter tokens along a branch, a split written "(a | b)"."""
    inside = set(members)

    def kids(name: str) -> list[str]:
        return [c for c in graph.outbound(name) if c in inside]

    def is_merge(name: str) -> bool:
        return sum(p in inside for p in graph.inbound(name)) > 1

    def walk(start: str) -> tuple[list[str], str | None]:
        tokens: list[str] = []
        name: str | None = start
        while name is not None:
            t = layers[name].token if name in layers else None
            if t:
                tokens.append(t)
            nxt = kids(name)
            if len(nxt) == 1:
                if is_merge(nxt[0]):
                    return tokens, nxt[0]
                name = nxt[0]
            elif len(nxt) > 1:
                name = split(nxt, tokens)
            else:
                name = None
        return tokens, None

    def split(starts: list[str], tokens: list[str]) -> str | None:
        parts = [walk(s) for s in starts]
        tokens.append("(" + " | ".join("→".join(p) for p, _ in parts) + ")")
        return parts[0][1]

    heads = [m for m in members if not any(p in inside for p in graph.inbound(m))]
    tokens: list[str] = []
    if len(heads) == 1:
        tokens, _ = walk(heads[0])
    elif heads:
        after = split(heads, tokens)
        if after is not None:
            more, _ = walk(after)
            tokens += more
    return tokens


def _label(tokens: list[str]) -> str:
    """Branch label from its filter tokens: the 1x1 reduction before a bigger filter is
    left out, as GoogLeNet's figure names its branches.

    >>> _label(["1x1", "3x3", "3x3"]), _label(["pool", "1x1"]), _label(["1x1", "(1x3 | 3x1)"])
    ('3x3→3x3', 'pool + 1x1', '1x3 | 3x1')
    """
    if tokens[:1] == ["pool"] and tokens[1:] == ["1x1"]:
        return "pool + 1x1"
    if len(tokens) > 1 and tokens[0] == "1x1":
        tokens = tokens[1:]
    if len(tokens) == 1 and tokens[0].startswith("(") and tokens[0].endswith(")"):
        return tokens[0][1:-1]
    return "→".join(tokens) if tokens else "identity"


def inception_modules(model: keras.Model, graph: ModelGraph | None = None) -> list[InceptionModule]:
    """The inception modules of a model: every ``Concatenate`` that joins branches from
    one common input, except those inside another module's branch (InceptionV3's
    ``mixed9_0`` joins the 1x3 and 3x1 halves of one branch of ``mixed9``).

    InceptionV3 has eleven, ``mixed0`` … ``mixed10``: 1x1, 5x5, 3x3→3x3 and pool + 1x1
    branches first, then 7x7 factorised as 1x7→7x1, and 3x3 split into 1x3 | 3x1 last.
    """
    graph = graph or model_graph(model)
    layers = _roles(model)
    found: list[InceptionModule] = []
    for node in graph.nodes:
        if node.name not in layers or layers[node.name].merge != "concat":
            continue
        split = _merge_branches(graph, node.name)
        if split is None:
            continue
        fork, members = split
        branches = tuple(Branch(_label(_describe(graph, layers, m)), m) for m in members)
        found.append(InceptionModule(node.name, fork, branches))
    inner = {name for m in found for b in m.branches for name in b.layers}
    return [m for m in found if m.name not in inner]


def residual_blocks(model: keras.Model, graph: ModelGraph | None = None) -> list[ResidualBlock]:
    """The residual blocks of a model: every ``Add`` of two paths from one common input x,
    the longer path being F(x) and the other the shortcut.

    ResNet50 has sixteen (3 + 4 + 6 + 3); the first of each stage projects x with a
    1x1 convolution (and batch normalisation), the others add x as it is.
    """
    graph = graph or model_graph(model)
    layers = _roles(model)
    found: list[ResidualBlock] = []
    for node in graph.nodes:
        if node.name not in layers or layers[node.name].merge != "add":
            continue
        split = _merge_branches(graph, node.name)
        if split is None or len(split[1]) != 2:
            continue
        fork, (a, b) = split
        residual, shortcut = (a, b) if len(a) >= len(b) else (b, a)
        after = graph.outbound(node.name)
        activation = None
        if len(after) == 1 and after[0] in layers and layers[after[0]].activation:
            activation = after[0]
        name = node.name.removesuffix("_add")
        found.append(ResidualBlock(name, fork, residual, shortcut, node.name, activation))
    return found


# -- layout -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Layout:
    """Where to draw a graph: ``positions[name] = (x, y)``, y the layer's rank down the
    page (0: the inputs), x its lane (0, 1, …: parallel branches side by side).

    ``routes[(a, b)]`` are the points of the edge from a to b, from a's position to b's:
    an edge that skips ranks bends into a lane of its own, so that a shortcut never runs
    through the layers of the branch beside it. ``width`` lanes, ``height`` ranks.
    """

    positions: dict[str, tuple[int, int]]
    routes: dict[Edge, tuple[tuple[int, int], ...]]
    width: int
    height: int


def _ranks(graph: ModelGraph) -> dict[str, int]:
    """Longest path from a source: every layer one rank below all its inputs."""
    rank: dict[str, int] = {}
    for n in graph.nodes:  # topological order
        rank[n.name] = max((rank[p] + 1 for p in graph.inbound(n.name)), default=0)
    return rank


def layout(graph: ModelGraph) -> Layout:
    """A layered drawing of a model's graph (our own, for these mostly linear graphs).

    Ranks (y) are the longest path from the inputs, so a merge sits below all its
    branches. An edge that spans several ranks gets a dummy point on each rank between
    (as in Sugiyama's method). Lanes (x) are assigned rank by rank, like the lanes of a
    ``git log --graph``: the consumer of a layer on the longest path onward continues its
    lane (so ResNet's F(x) runs straight down and the shortcut beside it); the other
    consumers of a fork open the nearest free lane to its right, in the graph's order; a
    lane frees when its path merges. No crossing minimisation: these graphs have few
    crossings (none in ResNet50 or InceptionV3).

    >>> g = ModelGraph("m", tuple(GraphNode(n, "X", (), 0, 0) for n in "xabc"),
    ...                (("x", "a"), ("a", "b"), ("b", "c"), ("x", "c")))
    >>> lay = layout(g)
    >>> lay.positions
    {'x': (0, 0), 'a': (0, 1), 'b': (0, 2), 'c': (0, 3)}
    >>> lay.routes[("x", "c")]
    ((0, 0), (1, 1), (1, 2), (0, 3))
    """
    rank = _ranks(graph)
    # Dummy points for long edges: ("~", edge index, step) stands between two ranks.
    chain_of: dict[int, list[Any]] = {}
    order: list[Any] = [n.name for n in graph.nodes]
    children: dict[Any, list[Any]] = {n: [] for n in order}
    parents: dict[Any, list[Any]] = {n: [] for n in order}
    node_rank: dict[Any, int] = dict(rank)
    for i, (a, b) in enumerate(graph.edges):
        points: list[Any] = [a]
        for r in range(rank[a] + 1, rank[b]):
            d = ("~", i, r)
            node_rank[d] = r
            children[d], parents[d] = [], []
            points.append(d)
        points.append(b)
        chain_of[i] = points
        for u, v in zip(points, points[1:], strict=False):
            if v not in children[u]:
                children[u].append(v)
            if u not in parents[v]:
                parents[v].append(u)
    topo = {n: i for i, n in enumerate(order)}

    def sort_key(v: Any) -> tuple[int, int, int]:
        if isinstance(v, tuple):  # a dummy after the real layers of its rank
            return (node_rank[v], 1, v[1])
        return (node_rank[v], 0, topo[v])

    # Real layers still to come on the longest path onward, to pick the main path.
    height: dict[Any, int] = {}
    for name in reversed(order):
        height[name] = max((height[c] + 1 for c in graph.outbound(name)), default=0)
    for chain in chain_of.values():
        for d in chain[1:-1]:
            height[d] = height[chain[-1]] + 1

    def heir(u: Any) -> Any:
        """The consumer that continues ``u``'s lane: the one on the longest path onward
        (ResNet's F(x), InceptionV3's deepest branch), a real layer before a dummy."""
        kids = sorted(children[u], key=lambda k: (-height[k], isinstance(k, tuple), sort_key(k)))
        return kids[0] if kids else None

    heirs = {u: heir(u) for u in children}
    lane: dict[Any, int] = {}
    owner: list[Any] = []  # owner[i]: the last point placed in lane i, None when free
    pending = {u: len(children[u]) for u in children}

    def free_lane(at_least: int) -> int:
        for i in range(at_least, len(owner)):
            if owner[i] is None:
                return i
        for i in range(at_least):
            if owner[i] is None:
                return i
        owner.append(None)
        return len(owner) - 1

    for v in sorted(children, key=sort_key):
        mine = [lane[p] for p in parents[v] if heirs[p] == v and owner[lane[p]] == p]
        if mine:
            lane[v] = min(mine)
        elif parents[v]:
            lane[v] = free_lane(min(lane[p] for p in parents[v]) + 1)
        else:
            lane[v] = free_lane(0)
        owner[lane[v]] = v
        for p in parents[v]:
            pending[p] -= 1
            if pending[p] == 0 and owner[lane[p]] == p:
                owner[lane[p]] = None
        if not children[v]:
            owner[lane[v]] = None

    positions = {n: (lane[n], rank[n]) for n in order}
    routes = {
        (chain[0], chain[-1]): tuple((lane[p], node_rank[p]) for p in chain)
        for chain in chain_of.values()
    }
    return Layout(
        positions,
        routes,
        width=len(owner),
        height=max(rank.values(), default=-1) + 1,
    )


# -- facts for a comparison table ---------------------------------------------------------
@dataclass(frozen=True)
class ModelFacts:
    """One row of the comparison table.

    ``year`` of the paper (its first arXiv version; LeNet-5: Proc. IEEE 1998; the MNIST
    CNN: the Keras example, 2015); ``depth`` as the Keras applications table gives it
    (None where it gives none), for the digit models the layers with weights (the 5 of
    LeNet-5); ``top1`` ImageNet top-1 accuracy from the same table (None for the digit
    models); ``macs`` computed with ``macs`` at ``input_size`` (``bench/zoo_facts.py``
    computes them again).
    """

    key: str
    title: str
    year: int
    depth: int | None
    params: int
    top1: float | None
    macs: int
    input_size: tuple[int, int]
    source: str


_K = "keras.io/api/applications, the 'Available models' table"
_A = "Krizhevsky, Sutskever and Hinton 2012, table 2; built here from the paper"
_G = "Szegedy et al. 2014, table 1; built here from the paper (no auxiliary classifiers)"
_L = "github.com/tensorflow/tpu, models/official/efficientnet/lite (2020); weights converted here"
_224 = (224, 224)

# key, title, year, depth, parameters, ImageNet top-1, MACs, input size, source
_FACTS = (
    ("lenet5", "LeNet-5", 1998, 5, 61_706, None, 416_520, (32, 32), "LeCun et al. 1998"),
    ("mnist", "MNIST CNN", 2015, 4, 1_199_882, None, 11_992_448, (28, 28), "Keras mnist_cnn.py"),
    # Built from the papers (engine.models.papers); AlexNet's top-1 is its paper's one
    # CNN on ILSVRC-2012 validation (40.7% error); GoogLeNet's paper gives no single
    # model's top-1.
    ("alexnet", "AlexNet", 2012, 8, 60_965_224, 0.593, 724_406_816, (227, 227), _A),
    ("vgg16", "VGG16", 2014, 16, 138_357_544, 0.713, 15_470_264_320, _224, _K),
    ("vgg19", "VGG19", 2014, 19, 143_667_240, 0.713, 19_632_062_464, _224, _K),
    ("googlenet", "GoogLeNet", 2014, 22, 6_998_552, None, 1_582_671_872, _224, _G),
    ("resnet50", "ResNet50", 2015, 107, 25_636_712, 0.749, 3_857_973_248, _224, _K),
    ("inceptionv3", "InceptionV3", 2015, 189, 23_851_784, 0.779, 5_713_216_096, (299, 299), _K),
    ("mobilenetv2", "MobileNetV2", 2018, 105, 3_538_984, 0.713, 300_774_272, _224, _K),
    ("efficientnetb0", "EfficientNetB0", 2019, 132, 5_330_571, 0.771, 385_814_752, _224, _K),
    # Layers with weights counted here; top-1 from the TensorFlow repository's table.
    ("efficientnet_lite0", "EfficientNet-Lite0", 2020, 50, 4_694_024, 0.751, 385_187_552, _224, _L),
    ("convnext_tiny", "ConvNeXt-Tiny", 2022, None, 28_589_128, 0.813, 4_455_531_264, _224, _K),
)

#: The zoo's models side by side, by zoo key. Parameters are the Keras models'
#: ``count_params()`` (the same as the Keras table's, rounded there); the depth and top-1
#: of the ImageNet models are the Keras table's (ConvNeXt-Tiny: no depth given there);
#: the digit models' depth counts their layers with weights.
ZOO_FACTS: dict[str, ModelFacts] = {row[0]: ModelFacts(*row) for row in _FACTS}


def facts_table(keys: Iterable[str] | None = None) -> list[ModelFacts]:
    """The rows of ``ZOO_FACTS`` for ``keys`` (all, in order, by default)."""
    return [ZOO_FACTS[k] for k in (keys if keys is not None else ZOO_FACTS)]
