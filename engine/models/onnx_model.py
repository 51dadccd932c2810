"""ONNX models (PyTorch, timm, torchvision exports) wherever a Keras model goes.

``load_onnx(path)`` opens a ``.onnx`` file as a ``LoadedModel`` (``OnnxLoadedModel``)
whose ``model`` is an ``OnnxNetwork``: the graph read with ``onnx``, run by ONNX Runtime.
The inspection functions take either kind of model (``engine.inspection.activations``:
``layer_summary``, ``ActivationProbe``, ``conv_kernel``, ``inbound_layers``;
``engine.inspection.architecture.model_graph``; ``engine.inspection.blocks.blocks_of``),
so a view never asks which kind it holds.

- **Layers.** Every node that computes a floating-point tensor from the image is a layer,
  named by the node (or its output when the node has no name of its own). Maps are
  returned channels-last, (H, W, C) without the batch axis, as Keras' are: an NCHW
  tensor is read as C maps of H x W. Which axis holds the channels is followed through
  the graph (ONNX's Conv, pooling and normalisation are NCHW by definition; a
  ``Transpose`` moves the axes), so a TensorFlow export's NHWC input is read right too.
- **One run gives every layer.** The probe's session is built once from the graph with
  every layer's output added as a graph output. Layers that are cheap exact functions of
  other layers' values (Relu, Clip, LeakyRelu, Identity, Dropout, inference
  BatchNormalization, a same-shape Add) are not graph outputs: numpy computes them from
  their inputs' values when they are first read, as ``ActivationProbe`` does for Keras.
- **The input** comes from the graph: NCHW or NHWC, its size (a dynamic batch, height or
  width is allowed), its convention chosen like a Keras file's (``Scaling``); with no
  word in the file's metadata (``metadata_props`` ``"scaling"``), a 3-channel float NCHW
  model is taken to want torchvision's ImageNet mean and std (``Scaling.TORCH``) and the
  app says it is a guess.
- **The output**: the first graph output, read as Keras' is (logits through softmax,
  said); class names from ``NAME.labels.txt``, the file's ``metadata_props``
  (``classes``, ``class_names``, ``labels`` or ``names``: JSON, a Python dict or list,
  one a line, or comma-separated) or ImageNet's for a 1000-way output.
- **The graph**: parameters and multiply-accumulates per node, receptive fields from
  Conv and pooling attributes (kernel, strides, pads, dilations, auto_pad), blocks.
- **Edits** (``OnnxEditor``, the ``ModelEditor`` of an ONNX model): a filter set, a
  channel scaled or switched off, by changing a copy's initializers; the copy's sessions
  are rebuilt at its next run.
- **No gradients**: Grad-CAM, saliency and feature visualisation need a Keras model
  (``GRADIENTS_NOTE``); occlusion needs only forward passes (``occlusion``), and so do
  the top 9 of a channel (``featurevis.top_examples`` runs batches through the probe's
  session: ``OnnxProbe.run_batch``) and a labelled test set (``evaluate``, the ONNX
  side of ``surgery.evaluate``).

``onnx`` and ``onnxruntime`` are imported inside the functions that use them.
"""

from __future__ import annotations

import ast
import json
import logging
import math
import re
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from engine.models.zoo import (
    SCALING_LABELS,
    LoadedModel,
    ModelLoadError,
    Scaling,
    ScalingSource,
    imagenet_class_names,
    labels_file_for,
    read_labels,
)
from engine.util.progress import CancelCheck, ProgressCallback, never_cancelled, no_progress

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from engine.editing.surgery import Edit
    from engine.explanation.attribution import ReceptiveField
    from engine.inspection.activations import LayerOutputs
    from engine.inspection.architecture import ModelGraph

ONNX_SUFFIX = ".onnx"
NCHW, NHWC = "NCHW", "NHWC"

#: What a tool that needs gradients says about an ONNX model.
GRADIENTS_NOTE = (
    "needs gradients, which ONNX Runtime does not give: open the model as a Keras file "
    "(.keras) for Grad-CAM, saliency and feature visualisation"
)

_FLOAT_TYPES = {1: np.float32, 10: np.float16, 11: np.float64, 16: np.float32}  # 16: bfloat16
#: Nodes that compute shapes and indices, never pictures.
_SHAPE_OPS = {"Shape", "Size", "NonZero", "ArgMax", "ArgMin", "TopK", "ConstantOfShape"}
#: Nodes whose NCHW output is fixed by the operator's definition.
_NCHW_OPS = {
    "Conv",
    "ConvTranspose",
    "MaxPool",
    "AveragePool",
    "LpPool",
    "GlobalAveragePool",
    "GlobalMaxPool",
    "BatchNormalization",
    "InstanceNormalization",
    "LRN",
    "DepthToSpace",
    "SpaceToDepth",
    "MaxRoiPool",
}
_WINDOW_OPS = {"Conv", "MaxPool", "AveragePool", "LpPool"}
#: Metadata keys that may hold the class names, and the input convention.
_LABEL_KEYS = ("classes", "class_names", "labels", "names")
_SCALING_KEYS = ("scaling", "input_scaling", "preprocessing")


def is_onnx(model: Any) -> bool:
    """True for an ``OnnxNetwork`` (an ONNX model), False for a Keras model or others."""
    return isinstance(model, OnnxNetwork)


def _ort() -> Any:
    import onnxruntime as ort

    ort.set_default_logger_severity(3)  # errors only: no warnings on the command line
    return ort


# -- layers ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class OnnxLayer:
    """One node of the graph as the app shows it.

    ``output_shape`` has no batch axis and maps are (H, W, C), as a Keras layer's;
    None for a size that depends on the input. ``raw_shape`` is the tensor's own shape
    (batch included) at the size the network was measured at; ``layout`` NCHW or NHWC
    for a 4-D tensor, else None; ``inbound`` the layers (or the input) it takes, in
    order; ``macs`` at that size, for one image.
    """

    name: str
    type: str
    output: str
    output_shape: tuple[int | None, ...]
    raw_shape: tuple[int, ...] | None
    layout: str | None
    params: int
    macs: int
    inbound: tuple[str, ...]
    index: int  # the node's index in the graph

    @property
    def maps(self) -> bool:
        """True when the output is maps (H, W, C)."""
        return self.layout is not None


def _dims(value_info: Any) -> tuple[int | None, ...] | None:
    """A tensor's shape from its type, None for a dimension without a fixed value."""
    t = value_info.type.tensor_type
    if not t.HasField("shape"):
        return None
    return tuple(d.dim_value if d.HasField("dim_value") else None for d in t.shape.dim)


def _attr(node: Any, name: str, default: Any = None) -> Any:
    from onnx import helper

    for a in node.attribute:
        if a.name == name:
            return helper.get_attribute_value(a)
    return default


def _to_hwc(shape: Sequence[Any], layout: str | None) -> tuple[Any, ...]:
    """A shape without its batch axis, maps as (H, W, C)."""
    if layout == NCHW and len(shape) == 4:
        return (shape[2], shape[3], shape[1])
    return tuple(shape[1:])


def _hw(shape: Sequence[Any], layout: str | None) -> tuple[Any, Any]:
    if layout == NHWC:
        return shape[1], shape[2]
    return shape[2], shape[3]


class _Graph:
    """What the network needs from the ONNX graph, read once."""

    def __init__(self, model: Any, size: tuple[int, int], name: str) -> None:
        from onnx import numpy_helper

        graph = model.graph
        self.model = model
        self.name = name
        self.initializers = {t.name: t for t in graph.initializer}
        self.constants: dict[str, Any] = {}  # Constant nodes' tensors, by output
        for node in graph.node:
            if node.op_type == "Constant" and node.output:
                value = _attr(node, "value")
                if value is not None:
                    self.constants[node.output[0]] = value
        inputs = [i for i in graph.input if i.name not in self.initializers]
        if len(inputs) != 1:
            listed = ", ".join(f"'{i.name}' {_shape_text(_dims(i))}" for i in inputs)
            raise ModelLoadError(
                f"takes {len(inputs)} inputs ({listed or 'none'}); the app shows models with "
                "one image input"
                if inputs
                else "takes no input; the app shows models with one image input"
            )
        self.input = inputs[0]
        self.input_name = self.input.name
        self.input_dtype = _FLOAT_TYPES.get(self.input.type.tensor_type.elem_type)
        dims = _dims(self.input)
        self.input_layout = _image_layout(dims) if self.input_dtype is not None else None
        if dims is None or self.input_layout is None:
            kind = _elem_name(self.input.type.tensor_type.elem_type)
            raise ModelLoadError(
                f"takes input '{self.input_name}' of shape {_shape_text(dims)} ({kind}); the "
                "app shows models whose input is an image: float (N, 1 or 3, H, W) or "
                "(N, H, W, 1 or 3)"
            )
        self.input_dims = dims
        h, w = _hw(dims, self.input_layout)
        self.fixed_hw = (h, w)
        self.measured_hw = (h or size[0], w or size[1])
        self.numpy_cache: dict[str, np.ndarray] = {}
        self._numpy_helper = numpy_helper
        self.lock = threading.RLock()  # the model is changed while a session is made
        self._read_layers()

    # -- constants ------------------------------------------------------------------------
    def tensor(self, name: str) -> Any:
        """The TensorProto of an initializer or a Constant node's output, else None."""
        tensor = self.initializers.get(name)
        return self.constants.get(name) if tensor is None else tensor

    def const(self, name: str) -> np.ndarray | None:
        """The value of an initializer or a Constant node's output, else None."""
        if name in self.numpy_cache:
            return self.numpy_cache[name]
        tensor = self.tensor(name)
        if tensor is None:
            return None
        value = self._numpy_helper.to_array(tensor)
        self.numpy_cache[name] = value
        return value

    def const_size(self, name: str) -> int | None:
        """The number of elements of a float constant (no data read), else None."""
        tensor = self.tensor(name)
        if tensor is None or tensor.data_type not in _FLOAT_TYPES:
            return None
        return math.prod(tensor.dims)

    def const_dims(self, name: str) -> tuple[int, ...] | None:
        tensor = self.tensor(name)
        return None if tensor is None else tuple(int(d) for d in tensor.dims)

    # -- layers ---------------------------------------------------------------------------
    def _read_layers(self) -> None:
        nodes = list(self.model.graph.node)
        shown = _infer(self.model, self.initializers, None)
        measured = _infer(self.model, self.initializers, self._measured_dims())
        types = {**shown[1], **measured[1]}
        depends = {self.input_name}
        producer: dict[str, int] = {}  # tensor -> index of the node making it
        for i, node in enumerate(nodes):
            if any(t in depends for t in node.input if t):
                depends.update(t for t in node.output if t)
            for t in node.output:
                if t:
                    producer[t] = i
        layout: dict[str, str | None] = {self.input_name: self.input_layout}
        used: set[str] = {self.input_name}
        layer_of: dict[int, str] = {}
        layers: list[OnnxLayer] = []
        self.data_inputs: dict[str, tuple[str, ...]] = {}  # layer -> its input tensors
        self.nodes: dict[str, Any] = {}
        self.unknown_shapes: list[str] = []
        for i, node in enumerate(nodes):
            out = node.output[0] if node.output else ""
            if not out or out not in depends:
                continue
            data = tuple(t for t in node.input if t in depends)
            raw = measured[0].get(out)
            rank = len(raw) if raw is not None else None
            layout[out] = _layout_after(node, [layout.get(t) for t in data], rank)
            elem = types.get(out)
            if node.op_type in _SHAPE_OPS or (elem is not None and elem not in _FLOAT_TYPES):
                continue
            name = _unique_name(node, i, used)
            used.add(name)
            layer_of[i] = name
            inbound: list[str] = []
            for t in data:
                for parent in self._layer_parents(t, producer, layer_of, nodes):
                    if parent not in inbound:
                        inbound.append(parent)
            params = sum(s for t in node.input if t and (s := self.const_size(t)) is not None)
            if raw is None:
                self.unknown_shapes.append(name)
            shape_shown = shown[0].get(out)
            if shape_shown is None and raw is not None:
                shape_shown = tuple(None for _ in raw)
            lay = layout[out] if rank == 4 else None
            layers.append(
                OnnxLayer(
                    name,
                    node.op_type,
                    out,
                    _to_hwc(shape_shown, lay) if shape_shown is not None else (),
                    None if raw is None else tuple(int(d or 1) for d in raw),
                    lay,
                    int(params),
                    0,
                    tuple(inbound),
                    i,
                )
            )
            self.data_inputs[name] = data
            self.nodes[name] = node
        self.raw_shapes = {k: v for k, v in measured[0].items()}
        self.layouts = layout
        self.layers = [replace(layer, macs=self.macs(layer)) for layer in layers]
        self.by_name = {layer.name: layer for layer in self.layers}
        self.by_output = {layer.output: layer.name for layer in self.layers}
        self.output_names = [o.name for o in self.model.graph.output]
        first = self.output_names[0] if self.output_names else ""
        self.output_layer = self.by_output.get(first)
        out_info = next(iter(self.model.graph.output), None)
        self.output_dims = _dims(out_info) if out_info is not None else None

    def _layer_parents(
        self, tensor: str, producer: dict[str, int], layer_of: dict[int, str], nodes: list[Any]
    ) -> list[str]:
        """The layers (or the input) a tensor comes from, through nodes that are not
        layers (shape computations)."""
        if tensor == self.input_name:
            return [self.input_name]
        found: list[str] = []
        stack = [tensor]
        seen = set()
        while stack:
            t = stack.pop()
            if t in seen:
                continue
            seen.add(t)
            if t == self.input_name:
                found.append(t)
                continue
            j = producer.get(t)
            if j is None:
                continue
            if j in layer_of:
                found.append(layer_of[j])
            else:
                stack.extend(x for x in nodes[j].input if x)
        return found

    def _measured_dims(self) -> list[int]:
        dims = [d if d is not None else 1 for d in self.input_dims]
        h, w = self.measured_hw
        if self.input_layout == NHWC:
            dims[1], dims[2] = h, w
        else:
            dims[2], dims[3] = h, w
        dims[0] = self.input_dims[0] or 1
        return dims

    # -- multiply-accumulates -------------------------------------------------------------
    def macs(self, layer: OnnxLayer) -> int:
        """Multiply-accumulates of one image through the node (0 where it adds none)."""
        node = self.nodes[layer.name]
        out = layer.raw_shape
        if out is None or not node.input:
            return 0
        batch = max(int(out[0]), 1) if len(out) else 1
        if node.op_type in ("Conv", "ConvTranspose") and len(node.input) > 1:
            w = self.const_dims(node.input[1]) or self.raw_shapes.get(node.input[1])
            if w is None:
                return 0
            if node.op_type == "Conv":
                positions = math.prod(out[2:]) if layer.layout != NHWC else math.prod(out[1:-1])
                return positions * int(math.prod(w))
            src = self.raw_shapes.get(node.input[0])
            positions = math.prod(src[2:]) if src else 0
            return positions * int(math.prod(w))
        if node.op_type == "Gemm" and len(node.input) > 1:
            b = self.const_dims(node.input[1]) or self.raw_shapes.get(node.input[1])
            return int(math.prod(b)) * math.prod(out[:-1]) // batch if b else 0  # K x N a row
        if node.op_type == "MatMul" and len(node.input) > 1:
            a = self.raw_shapes.get(node.input[0])
            if not a:
                return 0
            return math.prod(out) // batch * int(a[-1] or 0)
        return 0


def _image_layout(dims: tuple[int | None, ...] | None) -> str | None:
    """NCHW or NHWC for a 4-D image input with 1 or 3 channels, else None."""
    if dims is None or len(dims) != 4:
        return None
    first, last = dims[1] in (1, 3), dims[3] in (1, 3)
    if first and (not last or dims[2] not in (1, 3)):
        return NCHW  # ONNX's own convention wins a tie
    if last:
        return NHWC
    return None


def _layout_after(node: Any, inputs: list[str | None], rank: int | None) -> str | None:
    """Where the channels are in a node's 4-D output, from the operator and its inputs."""
    if rank is not None and rank != 4:
        return None
    op = node.op_type
    if op in _NCHW_OPS:
        return NCHW
    known = next((x for x in inputs if x is not None), None)
    if op == "Transpose":
        perm = list(_attr(node, "perm", []) or [])
        if known == NHWC and perm == [0, 3, 1, 2]:
            return NCHW
        if known == NCHW and perm == [0, 2, 3, 1]:
            return NHWC
        return None if perm else known
    if op in ("Reshape", "Flatten", "Squeeze", "Unsqueeze", "Gemm", "MatMul"):
        return known if rank == 4 and op in ("Reshape", "Unsqueeze", "Squeeze") else None
    if known is None and rank == 4:
        return NCHW  # ONNX's convention, for a 4-D tensor with nothing else to go by
    return known


def _unique_name(node: Any, index: int, used: set[str]) -> str:
    for candidate in (node.name, node.output[0], f"{node.op_type}_{index}"):
        if candidate and candidate not in used:
            return str(candidate)
    return f"{node.op_type}_{index}_{len(used)}"


def _elem_name(elem: int) -> str:
    from onnx import helper

    try:
        return str(helper.tensor_dtype_to_np_dtype(elem))
    except Exception:  # an unknown or undefined type
        return f"element type {elem}"


def _shape_text(dims: Sequence[int | None] | None) -> str:
    if dims is None:
        return "(unknown)"
    return "(" + ", ".join("?" if d is None else str(d) for d in dims) + ")"


def _infer(
    model: Any, initializers: dict[str, Any], input_dims: list[int] | None
) -> tuple[dict[str, tuple[int | None, ...]], dict[str, int]]:
    """Shapes and element types of every tensor, by ONNX's shape inference on a copy of
    the graph without its weights' values (``input_dims``: a fixed input size)."""
    import onnx
    from onnx import helper

    skeleton = onnx.ModelProto()
    skeleton.ir_version = model.ir_version
    skeleton.opset_import.extend(model.opset_import)
    skeleton.functions.extend(model.functions)
    g = skeleton.graph
    g.node.extend(model.graph.node)
    g.output.extend(model.graph.output)
    for tensor in initializers.values():
        if tensor.data_type in _FLOAT_TYPES and math.prod(tensor.dims) > 64:
            g.input.append(
                helper.make_tensor_value_info(tensor.name, tensor.data_type, tensor.dims)
            )
        else:  # shapes, axes, scales: their values matter to the inference
            g.initializer.append(tensor)
    for value in model.graph.input:
        if value.name in initializers:
            continue
        copy = g.input.add()
        copy.CopyFrom(value)
        if input_dims is not None:
            for d, size in zip(copy.type.tensor_type.shape.dim, input_dims, strict=False):
                d.Clear()
                d.dim_value = size
    try:
        inferred = onnx.shape_inference.infer_shapes(skeleton, strict_mode=False, data_prop=True)
    except Exception:  # an operator it does not know: what it found before stays unknown
        inferred = skeleton
    shapes: dict[str, tuple[int | None, ...]] = {}
    types: dict[str, int] = {}
    for info in (*inferred.graph.value_info, *inferred.graph.output, *inferred.graph.input):
        types[info.name] = info.type.tensor_type.elem_type
        dims = _dims(info)
        if dims is not None:
            shapes[info.name] = dims
    for tensor in initializers.values():
        types[tensor.name] = tensor.data_type
        shapes[tensor.name] = tuple(int(d) for d in tensor.dims)
    return shapes, types


# -- the network ----------------------------------------------------------------------------
def run_session(
    session: Any,
    outputs: Sequence[str],
    feed: dict[str, np.ndarray],
    name: str,
    quiet: bool = False,
) -> Any:
    """``session.run``, its failure one sentence (a ``ValueError``): what ONNX Runtime
    said, without its error-code prefix, and the input's size.

    An ONNX Runtime error (a Gemm sized for 224x224 fed another size, say) would
    otherwise reach a person as a raw traceback.
    """
    options = None
    if quiet:  # a trial run: its failure is an answer, not an error to log
        import onnxruntime

        options = onnxruntime.RunOptions()
        options.log_severity_level = 4
    try:
        return session.run(list(outputs), feed, options)
    except Exception as exc:  # onnxruntime's own exception types (RuntimeException, …)
        if type(exc).__module__.split(".")[0] != "onnxruntime":
            raise
        text = next((line for line in str(exc).splitlines() if line.strip()), type(exc).__name__)
        text = re.sub(r"^\[ONNXRuntimeError\]\s*:\s*\d+\s*:\s*[A-Z_]+\s*:\s*", "", text.strip())
        shape = "x".join(str(d) for d in next(iter(feed.values())).shape)
        raise ValueError(
            f"ONNX Runtime could not run '{name}' on an input of shape {shape}: {text[:240]}"
        ) from None


class OnnxNetwork:
    """An ONNX model, its layers and the sessions that run it.

    Parameters
    ----------
    model : onnx.ModelProto
        The model, as ``onnx.load`` reads it (weights included).
    name : str
        What to call it (the file's name).
    size : (int, int)
        For a model of any input size: the (height, width) its layers' shapes, MACs and
        receptive fields are measured at (default 224 x 224).

    Attributes
    ----------
    name : str
    layers : tuple of OnnxLayer
        The graph's layers in its order (the input excluded).
    input_name : str
    input_layout : str
        ``"NCHW"`` or ``"NHWC"``.
    input_shape : tuple
        (H, W, C) as a Keras model's input, None for a free size.
    output_layer : str or None
        The layer whose output is the model's (first) output.
    has_gradients : bool
        False: ONNX Runtime gives no gradients (``GRADIENTS_NOTE``).

    Not thread-safe for edits; ``forward`` and ``probe`` runs may come from any thread
    (ONNX Runtime's ``run`` is thread-safe), one edit at a time.

    Examples
    --------
    >>> net = OnnxNetwork(tiny_onnx_model(), "tiny")  # doctest: +SKIP
    >>> [layer.name for layer in net.layers]  # doctest: +SKIP
    ['conv', 'relu', 'pool', 'flatten', 'fc']
    """

    has_gradients = False

    def __init__(self, model: Any, name: str, size: tuple[int, int] = (224, 224)) -> None:
        self._g = _Graph(model, size, name)
        self._overrides: dict[str, np.ndarray] = {}
        self._lock = threading.RLock()
        self._plain: Any = None
        self._probe: Any = None
        self._probe_outputs: tuple[str, ...] = ()

    # -- what it is -----------------------------------------------------------------------
    @property
    def name(self) -> str:
        return self._g.name

    @property
    def proto(self) -> Any:
        """The ``onnx.ModelProto`` as loaded (without this network's edits)."""
        return self._g.model

    @property
    def layers(self) -> tuple[OnnxLayer, ...]:
        return tuple(self._g.layers)

    def layer(self, name: str) -> OnnxLayer:
        """The layer called ``name``; ValueError naming a few layers if there is none."""
        layer = self._g.by_name.get(name)
        if layer is None:
            names = ", ".join(x.name for x in self._g.layers[:8])
            raise ValueError(
                f"the model '{self.name}' has no layer named {name!r} (its layers: {names}, …)"
            )
        return layer

    @property
    def input_name(self) -> str:
        return self._g.input_name

    @property
    def input_layout(self) -> str:
        return str(self._g.input_layout)

    @property
    def input_shape(self) -> tuple[int | None, ...]:
        return _to_hwc(self._g.input_dims, self._g.input_layout)

    @property
    def output_layer(self) -> str | None:
        return self._g.output_layer

    @property
    def output_shape(self) -> tuple[int | None, ...] | None:
        """The first output's shape without its batch axis (as the graph says it)."""
        dims = self._g.output_dims
        return None if dims is None else tuple(dims[1:])

    @property
    def metadata(self) -> dict[str, str]:
        """The file's ``metadata_props``."""
        return {p.key: p.value for p in self._g.model.metadata_props}

    def count_params(self) -> int:
        return sum(layer.params for layer in self._g.layers)

    def inbound_layers(self) -> dict[str, list[str]]:
        """Each layer's inputs (layer names, or the input's name), in order."""
        return {layer.name: list(layer.inbound) for layer in self._g.layers}

    def graph(self) -> ModelGraph:
        """The layers as ``architecture.ModelGraph`` nodes, the input first (type
        ``InputLayer``), with their parameters and MACs. Shapes and MACs are at the size
        the network was measured at (for a model of any size: ``size``, 224 x 224 by
        default), so that the drawing and the costs agree."""
        from engine.inspection.architecture import GraphNode, ModelGraph

        measured = _to_hwc(self._g._measured_dims(), self._g.input_layout)
        nodes = [GraphNode(self.input_name, "InputLayer", measured, 0, 0)]
        edges = []
        for layer in self._g.layers:
            shape = (
                layer.output_shape
                if layer.raw_shape is None
                else _to_hwc(layer.raw_shape, layer.layout)
            )
            nodes.append(GraphNode(layer.name, layer.type, shape, layer.params, layer.macs))
            edges.extend((parent, layer.name) for parent in layer.inbound)
        return ModelGraph(self.name, tuple(nodes), tuple(edges))

    # -- weights --------------------------------------------------------------------------
    def weight(self, tensor: str) -> np.ndarray:
        """An initializer's values as this network has them (edits included), read-only."""
        value = self._overrides.get(tensor)
        if value is None:
            value = self._g.const(tensor)
        if value is None:
            raise ValueError(f"'{tensor}' is not a weight of '{self.name}'")
        value = value.view()
        value.flags.writeable = False
        return value

    def set_weights(self, values: dict[str, np.ndarray]) -> None:
        """Replace initializers (same shapes and dtypes), in place: the sessions are
        rebuilt at the next run. Used by ``OnnxEditor``."""
        for tensor, value in values.items():
            old = self._g.const(tensor)
            if old is None or tensor not in self._g.initializers:
                raise ValueError(f"'{tensor}' is not an initializer of '{self.name}'")
            a = np.asarray(value)
            if a.shape != old.shape:
                raise ValueError(f"'{tensor}' has shape {old.shape}. Received shape {a.shape}")
            self._overrides[tensor] = np.array(a, dtype=old.dtype)
        with self._lock:
            self._plain = None
            self._probe = None

    def clone(self) -> OnnxNetwork:
        """A network that shares this one's graph and starts with its weights; edits of
        either do not show in the other."""
        twin = object.__new__(OnnxNetwork)
        twin._g = self._g
        twin._overrides = dict(self._overrides)
        twin._lock = threading.RLock()
        twin._plain = None
        twin._probe = None
        twin._probe_outputs = ()
        return twin

    def to_proto(self) -> Any:
        """A copy of the model with this network's weights (edits included)."""
        import onnx
        from onnx import numpy_helper

        model = onnx.ModelProto()
        with self._g.lock:
            model.CopyFrom(self._g.model)
        for tensor in model.graph.initializer:
            if tensor.name in self._overrides:
                tensor.CopyFrom(numpy_helper.from_array(self._overrides[tensor.name], tensor.name))
        return model

    def save(self, path: str | Path) -> Path:
        """Write the model with its edits as an ``.onnx`` file, atomically."""
        import onnx

        from engine.util.files import atomic_path

        target = Path(path)
        if target.suffix.lower() != ONNX_SUFFIX:
            raise ValueError(f"the file name must end in .onnx. Received: {str(path)!r}")
        with atomic_path(target, suffix=ONNX_SUFFIX) as tmp:
            onnx.save(self.to_proto(), str(tmp))
        return target

    # -- sessions -------------------------------------------------------------------------
    def _serialized(self, extra_outputs: Sequence[str] = ()) -> bytes:
        """The model's bytes with this network's weights and ``extra_outputs`` as graph
        outputs; the loaded model is changed while it is written, then put back."""
        from onnx import helper, numpy_helper

        graph = self._g.model.graph
        saved: dict[int, Any] = {}
        count = len(graph.output)
        with self._g.lock:
            try:
                for i, tensor in enumerate(graph.initializer):
                    if tensor.name in self._overrides:
                        saved[i] = type(tensor)()
                        saved[i].CopyFrom(tensor)
                        tensor.CopyFrom(
                            numpy_helper.from_array(self._overrides[tensor.name], tensor.name)
                        )
                present = {o.name for o in graph.output}
                for name in extra_outputs:
                    if name not in present:
                        graph.output.append(helper.ValueInfoProto(name=name))
                return bytes(self._g.model.SerializeToString())
            finally:
                del graph.output[count:]
                for i, tensor in saved.items():
                    graph.initializer[i].CopyFrom(tensor)

    def _session(self, extra_outputs: Sequence[str] = ()) -> Any:
        ort = _ort()
        options = ort.SessionOptions()
        options.log_severity_level = 3
        # No busy-waiting between runs: a network has two sessions (plain, probe) and the
        # app runs TensorFlow beside them; spinning threads of one slow the others.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        return ort.InferenceSession(
            self._serialized(extra_outputs), options, providers=["CPUExecutionProvider"]
        )

    def plain_session(self) -> Any:
        """The session that runs the model as it is (built at first use)."""
        with self._lock:
            if self._plain is None:
                self._plain = self._session()
            return self._plain

    def _probe_session(self) -> tuple[Any, tuple[str, ...]]:
        with self._lock:
            if self._probe is None:
                derived = _derivations(self, None)
                outputs = tuple(
                    layer.output for layer in self._g.layers if layer.name not in derived
                )
                self._probe = self._session(outputs)
                self._probe_outputs = outputs
            return self._probe, self._probe_outputs

    # -- running --------------------------------------------------------------------------
    def _feed(self, batch: np.ndarray) -> np.ndarray:
        """(N, H, W, C) images -> the input tensor, in the model's layout and dtype."""
        a = np.asarray(batch)
        if a.ndim != 4:
            raise ValueError(f"a batch must be (N, H, W, C). Received shape {a.shape}")
        expected = self.input_shape
        if any(e is not None and e != g for e, g in zip(expected, a.shape[1:], strict=True)):
            raise ValueError(
                f"the model expects input of shape {expected} (None = any). "
                f"Received shape {tuple(a.shape[1:])}"
            )
        if self.input_layout == NCHW:
            a = a.transpose(0, 3, 1, 2)
        return np.ascontiguousarray(a, dtype=self._g.input_dtype)

    def _runs(self, x: np.ndarray) -> Iterable[tuple[int, np.ndarray]]:
        """The feed cut into the batch size the graph fixes (most often none)."""
        fixed = self._g.input_dims[0]
        if fixed is None or fixed == len(x):
            yield len(x), x
            return
        for start in range(0, len(x), fixed):
            part = x[start : start + fixed]
            n = len(part)
            if n < fixed:
                part = np.concatenate([part, np.zeros((fixed - n, *part.shape[1:]), part.dtype)])
            yield n, part

    def forward(self, batch: np.ndarray, quiet: bool = False) -> np.ndarray:
        """The first output for a batch of prepared inputs (N, H, W, C), as numpy
        (``quiet``: a trial, ONNX Runtime logs nothing of a failure).

        >>> out = net.forward(np.zeros((2, 224, 224, 3), np.float32))  # doctest: +SKIP
        """
        session = self.plain_session()
        feed = self._feed(batch)
        parts = []
        for n, x in self._runs(feed):
            names = [self._g.output_names[0]]
            out = run_session(session, names, {self.input_name: x}, self.name, quiet)[0]
            parts.append(np.asarray(out)[:n])
        return parts[0] if len(parts) == 1 else np.concatenate(parts)

    def __call__(self, batch: Any, training: bool = False) -> np.ndarray:
        """``forward``, called as a Keras model is (``model(x, training=False)``)."""
        return self.forward(np.asarray(batch))

    def settle_size(self) -> tuple[int, int] | None:
        """For a graph whose height and width are free: run it on a non-square input
        and, if that fails where the square measuring size runs (a Flatten and a Gemm
        sized for 224x224: a free size that is not free), fix the input to that square
        size, so images are resized to it. Returns the size fixed, or None."""
        h, w, c = self.input_shape
        if h is not None and w is not None:
            return None
        mh, mw = self._g.measured_hw
        channels = int(c or 3)
        try:
            self.forward(np.zeros((1, mh, mw + max(8, mw // 4), channels), np.float32), True)
            return None
        except ValueError:
            pass
        try:
            self.forward(np.zeros((1, mh, mw, channels), np.float32), True)
        except ValueError:
            return None  # neither runs: what is wrong shows when it is used
        dims = list(self._g.input_dims)
        hi, wi = (2, 3) if self._g.input_layout == NCHW else (1, 2)
        dims[hi], dims[wi] = mh, mw
        self._g.input_dims = dims
        self._g.fixed_hw = (mh, mw)
        log.info("%s: its free input size runs only at %dx%d: fixed at that", self.name, mh, mw)
        return mh, mw

    def probe(self, layer_names: Sequence[str] | None = None) -> OnnxProbe:
        """An ``OnnxProbe`` of every layer (or of ``layer_names``)."""
        return OnnxProbe(self, layer_names)

    # -- filters --------------------------------------------------------------------------
    def window(self, layer_name: str) -> tuple[int, int] | None:
        """The (rows, cols) window of a 2-D Conv or pooling node, else None."""
        node = self._g.nodes[self.layer(layer_name).name]
        if node.op_type not in _WINDOW_OPS:
            return None
        kernel = _attr(node, "kernel_shape")
        if kernel is None and node.op_type == "Conv" and len(node.input) > 1:
            w = self._g.const_dims(node.input[1]) or self._g.raw_shapes.get(node.input[1])
            kernel = None if w is None else list(w[2:])
        if kernel is None or len(kernel) != 2:
            return None
        return int(kernel[0]), int(kernel[1])

    def conv_kernel(self, layer_name: str) -> np.ndarray | None:
        """A 2-D ``Conv``'s filters as (F, F, C_in/group, K), as Keras stores a kernel
        (ONNX's weight is (K, C_in/group, F, F)); None for other layers, or for a
        weight that is not a constant of the file."""
        layer = self.layer(layer_name)
        node = self._g.nodes[layer.name]
        if node.op_type != "Conv" or len(node.input) < 2:
            return None
        if node.input[1] not in self._g.initializers and node.input[1] not in self._g.constants:
            return None
        w = self.weight(node.input[1])
        if w.ndim != 4:
            return None
        return np.ascontiguousarray(w.transpose(2, 3, 1, 0))

    # -- receptive fields -----------------------------------------------------------------
    def receptive_field_2d(self, layer_name: str) -> tuple[ReceptiveField, ReceptiveField]:
        """The receptive field of one cell of ``layer_name``'s maps, along rows and
        columns, from the Conv and pooling attributes (see ``receptive_fields``).

        Raises ValueError for a layer without maps (Flatten, Gemm, global pooling) or a
        node of unknown geometry on the way.
        """
        field = self._fields().get(self.layer(layer_name).output)
        if isinstance(field, str):
            raise ValueError(f"cannot follow the receptive field in '{self.name}': {field}")
        if field is None:
            raise ValueError(
                f"layer {layer_name!r} has output shape {self.layer(layer_name).output_shape}: "
                "no spatial map, so each of its values sees the whole input"
            )
        return field[0].public(), field[1].public()

    def receptive_field(self, layer_name: str) -> ReceptiveField:
        """As ``receptive_field_2d``, for a field that is the same along both axes."""
        rows, cols = self.receptive_field_2d(layer_name)
        if rows != cols:
            raise ValueError(
                f"layer {layer_name!r}'s receptive field differs between rows ({rows}) and "
                f"columns ({cols}); use receptive_field_2d"
            )
        return rows

    def receptive_fields(self) -> dict[str, ReceptiveField]:
        """The receptive field of each layer with maps whose field is square.

        Each node maps (size, jump, start) along rows and columns as
        ``attribution.receptive_field`` does for Keras: Conv and Max/Average/LpPool by
        their ``kernel_shape`` (a Conv's from its weight if absent), ``strides``,
        ``dilations`` and ``pads`` (``auto_pad`` SAME_UPPER puts the extra padding at the
        end, SAME_LOWER at the start, VALID none); ConvTranspose divides the jump; Pad
        shifts the start; Resize and Upsample by an integer factor divide the jump; a node
        keeping the map size changes nothing, and where paths merge the union is taken.
        """
        out = {}
        for layer in self._g.layers:
            field = self._fields().get(layer.output)
            if field is None or isinstance(field, str) or field[0] != field[1]:
                continue
            out[layer.name] = field[0].public()
        return out

    def _fields(self) -> dict[str, Any]:
        cached = getattr(self._g, "fields", None)
        if cached is None:
            cached = _receptive_fields(self._g)
            self._g.fields = cached  # type: ignore[attr-defined]
        return cached


# -- the probe ------------------------------------------------------------------------------
def _derivations(network: OnnxNetwork, wanted: set[str] | None) -> dict[str, Any]:
    """The layers numpy computes from other layers' values: name -> (sources, function)."""
    g = network._g
    out: dict[str, Any] = {}
    for layer in g.layers:
        node = g.nodes[layer.name]
        data = g.data_inputs[layer.name]
        sources = tuple(g.by_output.get(t) for t in data)
        if not data or None in sources or layer.raw_shape is None:
            continue
        if any(g.raw_shapes.get(t) != layer.raw_shape for t in data):
            continue  # broadcasting or a changed shape: ONNX Runtime's own result
        if any(g.layouts.get(t) != g.layouts.get(layer.output) for t in data):
            continue
        derive = _derivation(node, g, len(data), layer)
        if derive is not None:
            out[layer.name] = (sources, derive)
    return out


def _derivation(node: Any, g: _Graph, count: int, layer: OnnxLayer) -> Any:
    op = node.op_type
    if op == "Add":
        return _add if count >= 2 and len(node.input) == count else None
    if count != 1 or node.input[0] != g.data_inputs[layer.name][0]:
        return None
    if op == "Relu":
        return _relu
    if op in ("Identity", "Dropout"):
        return np.array
    if op == "LeakyRelu":
        alpha = np.float32(_attr(node, "alpha", 0.01))
        return lambda x: np.where(x >= 0, x, x * alpha)
    if op == "Clip":
        low = _attr(node, "min") if len(node.input) < 2 else None
        high = _attr(node, "max") if len(node.input) < 2 else None
        if len(node.input) >= 2:
            bounds = [g.const(t) if t else None for t in node.input[1:3]]
            if any(t and b is None for t, b in zip(node.input[1:3], bounds, strict=False)):
                return None
            low = None if not bounds or bounds[0] is None else float(bounds[0])
            high = None if len(bounds) < 2 or bounds[1] is None else float(bounds[1])
        lo = None if low is None else np.float32(low)
        hi = None if high is None else np.float32(high)
        return lambda x: np.clip(x, lo, hi)
    if op == "BatchNormalization" and len(node.input) == 5:
        if layer.raw_shape is None or len(layer.raw_shape) not in (2, 4):
            return None
        consts = [g.const(t) for t in node.input[1:5]]
        if any(c is None for c in consts) or _attr(node, "training_mode", 0):
            return None
        eps = np.float32(_attr(node, "epsilon", 1e-5))
        names = node.input[1:5]

        def derive(x: np.ndarray) -> np.ndarray:
            return _batch_norm(x, [g.const(t) for t in names], eps)

        return derive
    return None


def _relu(x: np.ndarray) -> np.ndarray:
    return np.maximum(x, np.float32(0.0))


def _add(*xs: np.ndarray) -> np.ndarray:
    out = xs[0] + xs[1]
    for x in xs[2:]:
        out += x
    return out


def _batch_norm(x: np.ndarray, consts: list[Any], eps: np.float32) -> np.ndarray:
    """Inference batch normalisation on channels-last values (maps (H, W, C), or (C,))."""
    scale, bias, mean, var = (np.asarray(c, np.float32) for c in consts)
    inv = scale / np.sqrt(var + eps)
    return x * inv + (bias - mean * inv)


class OnnxProbe:
    """Every layer's output of an ``OnnxNetwork`` for one input, from ONE session run.

    The same interface as ``ActivationProbe`` (which hands an ``OnnxNetwork`` to this):
    ``layer_names``, ``derived``, ``input_shape``, ``run(x) -> LayerOutputs`` with maps
    as (H, W, C) and no batch axis. The network's probe session (every layer a graph
    output but the derived ones) is built once and shared by its probes; an edit of the
    network's weights shows at the next ``run``.
    """

    def __init__(self, network: OnnxNetwork, layer_names: Sequence[str] | None = None) -> None:
        self.model = network
        layers = list(network.layers)
        if layer_names is not None:
            wanted = set(layer_names)
            unknown = wanted - {layer.name for layer in layers}
            if unknown:
                network.layer(sorted(unknown)[0])  # raises, naming the layers
            layers = [layer for layer in layers if layer.name in wanted]
        if not layers:
            raise ValueError("the model has no layers to probe")
        self.layer_names = [layer.name for layer in layers]
        self._derived_all = _derivations(network, None)
        self.derived = {
            name: tuple(sources)
            for name, (sources, _) in self._derived_all.items()
            if name in set(self.layer_names)
        }
        # Layers fetched from the session: the wanted ones not derived, and what the
        # derived ones are computed from.
        needed: list[str] = []
        stack = list(self.layer_names)
        seen: set[str] = set()
        while stack:
            name = stack.pop()
            if name in seen:
                continue
            seen.add(name)
            if name in self._derived_all:
                stack.extend(self._derived_all[name][0])
            else:
                needed.append(name)
        order = {layer.name: i for i, layer in enumerate(network.layers)}
        self._fetched = tuple(sorted(needed, key=order.__getitem__))
        self._derived = {n: d for n, d in self._derived_all.items() if n in seen}
        self.input_shape = network.input_shape

    def run(self, x: np.ndarray) -> LayerOutputs:
        """Activations by layer name (in layer order), batch axis removed; maps (H, W, C).

        ``x`` is one input (H, W, C), with or without its batch axis.
        """
        from engine.inspection.activations import LayerOutputs

        a = np.asarray(x, dtype=np.float32)
        if a.ndim == 3:
            a = a[None]
        if a.ndim != 4 or a.shape[0] != 1:
            raise ValueError(
                f"the model expects input of shape {self.input_shape} (None = any). "
                f"Received shape {tuple(np.shape(x))}"
            )
        values = {name: value[0] for name, value in self._fetch(a).items()}
        return LayerOutputs(tuple(self.layer_names), values, dict(self._derived))

    def run_batch(self, batch: np.ndarray) -> LayerOutputs:
        """As ``run``, for a batch of inputs (N, H, W, C): each value keeps its batch
        axis, maps as (N, H, W, C). The same session run (every layer a graph output);
        derived layers are computed from their inputs' batches when read.

        >>> acts = net.probe(["conv"]).run_batch(np.zeros((8, 28, 28, 1)))  # doctest: +SKIP
        >>> acts["conv"].shape  # doctest: +SKIP
        (8, 26, 26, 4)
        """
        from engine.inspection.activations import LayerOutputs

        a = np.asarray(batch, dtype=np.float32)
        if a.ndim != 4 or len(a) == 0:
            raise ValueError(
                f"a batch must be (N, H, W, C) with N >= 1. Received shape {tuple(np.shape(batch))}"
            )
        return LayerOutputs(tuple(self.layer_names), self._fetch(a), dict(self._derived))

    def _fetch(self, a: np.ndarray) -> dict[str, np.ndarray]:
        """The fetched layers' values for a batch (N, H, W, C) from one session run (a
        batch size the graph fixes: several), each (N, ...), maps channels last."""
        network = self.model
        feed = network._feed(a)
        session, _ = network._probe_session()
        g = network._g
        tensors = [g.by_name[name].output for name in self._fetched]
        parts: dict[str, list[np.ndarray]] = {name: [] for name in self._fetched}
        for n, part in network._runs(feed):
            outputs = run_session(session, tensors, {network.input_name: part}, network.name)
            for name, out in zip(self._fetched, outputs, strict=True):
                parts[name].append(np.asarray(out)[:n])
        values = {}
        for name, chunks in parts.items():
            value = chunks[0] if len(chunks) == 1 else np.concatenate(chunks)
            if g.by_name[name].layout == NCHW:
                value = value.transpose(0, 2, 3, 1)  # a view: C maps of H x W, channels last
            values[name] = value
        return values


# -- receptive fields -------------------------------------------------------------------------
def _receptive_fields(g: _Graph) -> dict[str, Any]:
    """Per tensor: (rows, cols) ``attribution._Axis`` fields, None (no map) or a message."""
    from engine.explanation.attribution import _PIXEL

    fields: dict[str, Any] = {g.input_name: (_PIXEL, _PIXEL)}
    for layer in g.layers:
        node = g.nodes[layer.name]
        parents = [fields.get(t) for t in g.data_inputs[layer.name]]
        bad = next((p for p in parents if isinstance(p, str)), None)
        if bad is not None:
            result: Any = bad
        elif layer.raw_shape is None:
            result = f"the shape of '{layer.name}' ({node.op_type}) is not known"
        elif (
            len(layer.raw_shape) != 4
            or layer.layout is None
            or node.op_type in ("GlobalAveragePool", "GlobalMaxPool", "GlobalLpPool")
            or any(p is None for p in parents)
        ):
            result = None  # no spatial map: each value sees the whole input
        else:
            result = _node_field(node, g, layer, parents)
        for t in node.output:
            if t:
                fields[t] = result
    return fields


def _pads(node: Any, g: _Graph, layer: OnnxLayer, k_eff: list[int], s: list[int]) -> list[int]:
    """The padding before the first row and column (ONNX's pads, or auto_pad's)."""
    auto = _attr(node, "auto_pad", b"NOTSET")
    auto = auto.decode() if isinstance(auto, bytes) else str(auto)
    if auto in ("SAME_UPPER", "SAME_LOWER"):
        src = g.raw_shapes.get(node.input[0])
        n_in = _hw(src, g.layouts.get(node.input[0])) if src else (None, None)
        out = []
        for axis in (0, 1):
            n = n_in[axis]
            if n is None:
                total = max(k_eff[axis] - s[axis], 0)
            else:
                target = math.ceil(n / s[axis])
                total = max((target - 1) * s[axis] + k_eff[axis] - n, 0)
            out.append(total // 2 if auto == "SAME_UPPER" else total - total // 2)
        return out
    if auto == "VALID":
        return [0, 0]
    pads = list(_attr(node, "pads", []) or [0, 0, 0, 0])
    return [int(pads[0]), int(pads[1])]


def _node_field(node: Any, g: _Graph, layer: OnnxLayer, parents: list[Any]) -> Any:
    from engine.explanation.attribution import _Axis, _union, _window

    op = node.op_type
    merged = tuple(_union([p[axis] for p in parents]) for axis in (0, 1))
    src = g.raw_shapes.get(node.input[0])
    n_in = _hw(src, g.layouts.get(node.input[0])) if src and len(src) == 4 else (None, None)
    n_out = _hw(layer.raw_shape, layer.layout)  # type: ignore[arg-type]
    if op in _WINDOW_OPS or op == "ConvTranspose":
        kernel = _attr(node, "kernel_shape")
        if kernel is None and len(node.input) > 1:
            w = g.const_dims(node.input[1]) or g.raw_shapes.get(node.input[1])
            kernel = None if w is None else list(w[2:])
        if kernel is None or len(kernel) != 2:
            return f"'{layer.name}' ({op}) is not a 2-D window"
        k = [int(v) for v in kernel]
        s = [int(v) for v in (_attr(node, "strides") or [1, 1])]
        d = [int(v) for v in (_attr(node, "dilations") or [1, 1])]
        k_eff = [d[i] * (k[i] - 1) + 1 for i in (0, 1)]
        if op == "ConvTranspose":
            auto = _attr(node, "auto_pad", b"NOTSET")
            auto = auto.decode() if isinstance(auto, bytes) else str(auto)
            if auto.startswith("SAME"):
                pad = []
                for i in (0, 1):
                    n, o = n_in[i] or 1, n_out[i] or 1
                    total = max((n - 1) * s[i] + k_eff[i] - o, 0)
                    pad.append(total // 2 if auto == "SAME_UPPER" else total - total // 2)
            else:
                pads = list(_attr(node, "pads", []) or [0, 0, 0, 0])
                pad = [int(pads[0]), int(pads[1])]
            return tuple(
                _Axis(
                    a.size + Fraction(k_eff[i] - 1, s[i]) * a.jump,
                    a.jump / s[i],
                    a.start + (pad[i] - Fraction(k_eff[i] - 1, 2)) / s[i] * a.jump,
                )
                for i, a in enumerate(merged)
            )
        pad = _pads(node, g, layer, k_eff, s)
        return tuple(_window(merged[i], k[i], s[i], d[i], pad[i]) for i in (0, 1))
    if op == "Pad":
        pads = _attr(node, "pads")
        if pads is None and len(node.input) > 1:
            value = g.const(node.input[1])
            pads = None if value is None else [int(v) for v in value.ravel()]
        if pads is None or len(pads) != 8 or (len(node.input) > 3 and node.input[3]):
            return (
                f"'{layer.name}' (Pad) pads in a way the receptive-field arithmetic does not know"
            )
        axes = (2, 3) if g.layouts.get(node.input[0]) != NHWC else (1, 2)
        return tuple(
            _Axis(a.size, a.jump, a.start - int(pads[axes[i]]) * a.jump)
            for i, a in enumerate(merged)
        )
    if op in ("Resize", "Upsample"):
        result = []
        mode = _attr(node, "mode", b"nearest")
        mode = mode.decode() if isinstance(mode, bytes) else str(mode)
        for i in (0, 1):
            a = merged[i]
            if not n_in[i] or not n_out[i] or n_out[i] % n_in[i]:
                return f"'{layer.name}' ({op}) resizes by a factor that is not a whole number"
            f = n_out[i] // n_in[i]
            if mode == "nearest":
                reach, centre = Fraction(f - 1, f), -Fraction(f - 1, 2 * f)
            else:
                reach, centre = Fraction(1), Fraction(1, 2 * f) - Fraction(1, 2)
            result.append(_Axis(a.size + reach * a.jump, a.jump / f, a.start + centre * a.jump))
        return result[0], result[1]
    if n_in == n_out or src is None:
        return merged
    return (
        f"'{layer.name}' ({op}) changes the map size from {n_in} to {n_out} in a way the "
        "receptive-field arithmetic does not know"
    )


# -- occlusion ----------------------------------------------------------------------------------
def occlusion(
    network: OnnxNetwork,
    x: np.ndarray,
    class_index: int,
    patch: int | tuple[int, int],
    stride: int | tuple[int, int],
    fill: float = 0.0,
    batch_size: int = 32,
    probabilities: bool = True,
    progress: ProgressCallback = no_progress,
    cancelled: CancelCheck = never_cancelled,
) -> np.ndarray:
    """The drop in p(class) when a patch is hidden, one value per patch position, for an
    ONNX model: the same positions and values as ``attribution.occlusion`` gives a Keras
    model, ((H - ph) // sr + 1, (W - pw) // sc + 1) float32.

    ``probabilities``: the model's output is read through softmax first when it is not
    a distribution (logits), as the app reads it; False: the output as it is.
    """
    from engine.explanation.attribution import _check_pair
    from engine.models.zoo import is_distribution, softmax
    from engine.util.checks import check_int

    a = np.asarray(x, dtype=np.float32)
    if a.ndim != 3:
        raise ValueError(f"x must be one input (H, W, C). Received shape {a.shape}")
    h, w = a.shape[:2]
    ph, pw = _check_pair("patch", patch, (h, w))
    sr, sc = _check_pair("stride", stride, (h, w))
    batch_size = check_int("batch_size", batch_size, 1)

    def scores(batch: np.ndarray) -> np.ndarray:
        out = np.asarray(network.forward(batch), dtype=np.float64).reshape(len(batch), -1)
        if probabilities and not is_distribution(out):
            out = softmax(out)
        return out[:, class_index]

    rows, cols = (h - ph) // sr + 1, (w - pw) // sc + 1
    total = rows * cols
    base = float(scores(a[None])[0])
    drops = np.empty(total, np.float32)
    progress(0.0, f"occlusion: 0 of {total} positions")
    for first in range(0, total, batch_size):
        if cancelled():
            raise InterruptedError("cancelled")
        index = np.arange(first, min(first + batch_size, total))
        batch = np.repeat(a[None], len(index), axis=0)
        for j, p in enumerate(index):
            r, q = divmod(int(p), cols)
            batch[j, r * sr : r * sr + ph, q * sc : q * sc + pw, :] = fill
        drops[index] = base - scores(batch)
        done = int(index[-1]) + 1
        progress(done / total, f"occlusion: {done} of {total} positions")
    return drops.reshape(rows, cols)


# -- edits ----------------------------------------------------------------------------------
def edit_kind(network: OnnxNetwork, layer_name: str) -> str | None:
    """What ``OnnxEditor`` can do to a node: ``"conv"`` for a plain ``Conv`` with constant
    weights (every edit), ``"dense"`` for ``Gemm`` / ``MatMul`` (scale, ablate, restore),
    else None."""
    g = network._g  # noqa: SLF001 (this module's own graph)
    node = g.nodes.get(layer_name)
    if node is None or len(node.input) < 2 or node.input[1] not in g.initializers:
        return None
    if node.op_type == "Conv" and int(_attr(node, "group", 1)) == 1:
        return "conv"
    if node.op_type in ("Gemm", "MatMul") and len(g.const_dims(node.input[1]) or ()) == 2:
        return "dense"
    return None


class OnnxEditor:
    """``ModelEditor`` for an ONNX model: the same methods, by editing initializers.

    ``model`` is a clone of the network (``OnnxNetwork.clone``) whose weights each edit
    replaces in place; its sessions are rebuilt at the next run (a probe made on it stays
    valid). Editable: ``Conv`` with a constant weight (filters: ``set_filter``, ``scale``,
    ``ablate``, ``restore``) and ``Gemm`` / ``MatMul`` with a constant weight (units:
    ``scale``, ``ablate``, ``restore``). "Ablated" is the node's own output exactly 0 in
    that channel (its weights and bias zeroed), before any activation after it.

    >>> editor = OnnxEditor(net)  # doctest: +SKIP
    >>> editor.ablate("conv", [0, 1]).describe()  # doctest: +SKIP
    'conv filters 0, 1 off'
    """

    def __init__(self, network: OnnxNetwork) -> None:
        if not is_onnx(network):
            raise ValueError(f"OnnxEditor needs an OnnxNetwork. Received {type(network).__name__}")
        self.source = network
        self.model = network.clone()
        self._edits: list[Edit] = []
        self._undo: list[dict[str, np.ndarray]] = []

    @property
    def edits(self) -> tuple[Edit, ...]:
        return tuple(self._edits)

    def _kind(self, layer: OnnxLayer) -> str | None:
        return edit_kind(self.model, layer.name)

    def editable_layers(self) -> tuple[str, ...]:
        return tuple(layer.name for layer in self.model.layers if self._kind(layer))

    def _where(self, layer_name: str, conv_only: bool = False) -> tuple[Any, str]:
        layer = self.model._g.by_name.get(layer_name)
        kind = None if layer is None else self._kind(layer)
        if kind is None or (conv_only and kind != "conv"):
            wanted = "Conv" if conv_only else "Conv, Gemm or MatMul"
            what = "no such layer" if layer is None else f"a {layer.type}"
            names = [n for n in self.editable_layers() if not conv_only or "conv" in n.lower()]
            raise ValueError(
                f"{layer_name!r} must be a {wanted} layer with constant weights of "
                f"{self.model.name} ({', '.join(names[:8]) or 'none'}). Received {what}"
            )
        return self.model._g.nodes[layer_name], kind

    def _axis(self, node: Any, kind: str) -> int:
        """The weight's axis of output channels."""
        if kind == "conv":
            return 0
        if node.op_type == "Gemm":
            return 0 if int(_attr(node, "transB", 0)) else 1
        return 1

    def _channels(self, node: Any, kind: str, channels: int | Iterable[int]) -> list[int]:
        from engine.editing.surgery import _check_channel

        count = self.model.weight(node.input[1]).shape[self._axis(node, kind)]
        items = [channels] if isinstance(channels, (int, np.integer)) else list(channels)
        if not items:
            raise ValueError("give at least one channel. Received none")
        return sorted({_check_channel(int(count), node.name or node.output[0], c) for c in items})

    def _write(self, node: Any, kind: str, chosen: list[int], weight_fn: Any, bias_fn: Any) -> None:
        axis = self._axis(node, kind)
        w_name = node.input[1]
        b_name = node.input[2] if len(node.input) > 2 and node.input[2] else None
        if b_name is not None and b_name not in self.model._g.initializers:
            b_name = None
        before = {w_name: np.array(self.model.weight(w_name))}
        w = np.moveaxis(np.array(before[w_name]), axis, 0)
        w[chosen] = weight_fn(w[chosen], chosen)
        new = {w_name: np.moveaxis(w, 0, axis)}
        if b_name is not None and bias_fn is not None:
            before[b_name] = np.array(self.model.weight(b_name))
            b = np.array(before[b_name])
            b[chosen] = bias_fn(b[chosen], chosen)
            new[b_name] = b
        self.model.set_weights(new)
        self._undo.append(before)

    def set_filter(
        self,
        layer_name: str,
        index: int,
        kernel: Any,
        name: str | None = None,
        bias: float | None = None,
        match_norm: bool = False,
    ) -> Edit:
        """Put ``kernel`` ((F, F) or (F, F, C_in), as ``ModelEditor.set_filter``) into
        filter ``index`` of a Conv."""
        from engine.editing.surgery import SET_FILTER, Edit, _readonly

        node, kind = self._where(layer_name, conv_only=True)
        [channel] = self._channels(node, kind, index)
        w = self.model.weight(node.input[1])
        _, c_in, fh, fw = w.shape
        k = np.asarray(kernel, dtype=np.float64)
        if k.ndim == 2 and c_in == 1:
            k = k[:, :, None]
        if k.shape != (fh, fw, c_in):
            raise ValueError(
                f"{layer_name}'s filters are ({fh}, {fw}, {c_in}): kernel must have that shape"
                f"{' or (F, F)' if c_in == 1 else ''}. Received shape {np.shape(kernel)}"
            )
        if not np.isfinite(k).all():
            raise ValueError("kernel must hold finite numbers. Received NaN or infinity")
        if bias is not None and not np.isfinite(bias):
            raise ValueError(f"bias must be a finite number. Received: bias={bias}")
        factor = None
        if match_norm:
            trained = self.source.weight(node.input[1])[channel]
            norm = float(np.linalg.norm(k))
            if norm > 0:
                factor = float(np.linalg.norm(trained)) / norm
                k = k * factor
        stored = _readonly(k.astype(w.dtype))
        onnx_kernel = stored.transpose(2, 0, 1)[None]  # (1, C_in, F, F)
        self._write(
            node,
            kind,
            [channel],
            lambda _old, _c: onnx_kernel,
            None if bias is None else (lambda old, _c: np.full_like(old, bias)),
        )
        edit = Edit(
            SET_FILTER,
            layer_name,
            (channel,),
            kernel=stored,
            bias=None if bias is None else float(bias),
            factor=factor,
            name=name,
        )
        self._edits.append(edit)
        return edit

    def scale(self, layer_name: str, index: int, factor: float) -> Edit:
        """Multiply output channel ``index``'s weights and bias by ``factor``."""
        from engine.editing.surgery import SCALE, Edit

        if isinstance(factor, bool) or not np.isfinite(factor):
            raise ValueError(f"factor must be a finite number. Received: factor={factor!r}")
        node, kind = self._where(layer_name)
        chosen = self._channels(node, kind, index)
        f = np.float32(factor)
        self._write(node, kind, chosen, lambda old, _c: old * f, lambda old, _c: old * f)
        unit = "filter" if kind == "conv" else "unit"
        edit = Edit(SCALE, layer_name, tuple(chosen), factor=float(factor), unit=unit)
        self._edits.append(edit)
        return edit

    def ablate(self, layer_name: str, channels: int | Iterable[int]) -> Edit:
        """Switch output channels off: the node's output is exactly 0 there."""
        from engine.editing.surgery import ABLATE, Edit

        node, kind = self._where(layer_name)
        chosen = self._channels(node, kind, channels)
        zero = lambda old, _c: np.zeros_like(old)  # noqa: E731
        self._write(node, kind, chosen, zero, zero)
        unit = "filter" if kind == "conv" else "unit"
        edit = Edit(ABLATE, layer_name, tuple(chosen), unit=unit)
        self._edits.append(edit)
        return edit

    def restore(self, layer_name: str, channels: int | Iterable[int]) -> Edit:
        """Put the source network's weights back into output channels of ``layer_name``."""
        from engine.editing.surgery import RESTORE, Edit

        node, kind = self._where(layer_name)
        chosen = self._channels(node, kind, channels)
        axis = self._axis(node, kind)
        w0 = np.moveaxis(self.source.weight(node.input[1]), axis, 0)
        b_name = node.input[2] if len(node.input) > 2 and node.input[2] else None
        b0 = self.source.weight(b_name) if b_name in self.source._g.initializers else None
        self._write(
            node,
            kind,
            chosen,
            lambda _old, c: w0[c],
            None if b0 is None else (lambda _old, c: b0[c]),
        )
        unit = "filter" if kind == "conv" else "unit"
        edit = Edit(RESTORE, layer_name, tuple(chosen), unit=unit)
        self._edits.append(edit)
        return edit

    def revert(self, step: int | None = None) -> tuple[Edit, ...]:
        """Undo the last edit (``step=None``) or every edit from ``step`` on; returns the
        edits undone, newest first."""
        if step is None:
            step = max(len(self._edits) - 1, 0)
        if isinstance(step, bool) or not isinstance(step, (int, np.integer)):
            raise ValueError(f"step must be an int or None. Received: step={step!r}")
        if not 0 <= step <= len(self._edits):
            raise ValueError(
                f"step must be in 0..{len(self._edits)} (the number of edits). "
                f"Received: step={step}"
            )
        undone: list[Edit] = []
        while len(self._edits) > step:
            undone.append(self._edits.pop())
            self.model.set_weights(self._undo.pop())
        return tuple(undone)

    def save(self, path: str | Path) -> Path:
        """Write the edited model as an ``.onnx`` file, atomically."""
        return self.model.save(path)


def edited_copy(network: OnnxNetwork, edits: Sequence[Edit]) -> OnnxNetwork:
    """A copy of ``network`` with ``edits`` (``surgery.Edit`` records, as an editor
    returns them) made again, in order; ``network`` is not changed."""
    from engine.editing.surgery import ABLATE, RESTORE, SCALE, SET_FILTER

    editor = OnnxEditor(network)
    for edit in edits:
        if edit.kind == SET_FILTER:
            if len(edit.channels) != 1 or edit.kernel is None:
                raise ValueError(f"a set_filter edit has one channel and a kernel: {edit!r}")
            # The kernel as it was put in (already scaled when match_norm was asked).
            editor.set_filter(edit.layer, edit.channels[0], edit.kernel, edit.name, edit.bias)
        elif edit.kind == SCALE:
            for c in edit.channels:
                editor.scale(edit.layer, c, float(edit.factor or 0.0))
        elif edit.kind == ABLATE:
            editor.ablate(edit.layer, edit.channels)
        elif edit.kind == RESTORE:
            editor.restore(edit.layer, edit.channels)
        else:
            raise ValueError(f"unknown edit kind {edit.kind!r}")
    return editor.model


# -- loading --------------------------------------------------------------------------------
@dataclass(frozen=True)
class OnnxLoadedModel(LoadedModel):
    """A ``LoadedModel`` whose ``model`` is an ``OnnxNetwork``: fed and read like a Keras
    model file's (``prepare``, ``forward``, ``read_output``, ``with_scaling``, ...).

    ``default_scaling``: the convention the file says or the guess for it, with its
    source and reason, to go back to with ``with_scaling(None)``.
    """

    default_scaling: tuple[Scaling, ScalingSource, str] = (
        Scaling.UNIT,
        ScalingSource.GUESSED,
        "the model does not say",
    )

    @property
    def input_shape(self) -> tuple[int | None, ...]:
        return self.model.input_shape

    @property
    def output_layer(self) -> str:
        return str(self.model.output_layer or self.model.layers[-1].name)

    @property
    def scaling_note(self) -> str:
        if self.scaling_source is ScalingSource.GUESSED:
            label = SCALING_LABELS[self.spec.scaling]
            return f"input: {label} (a guess: {self.scaling_reason}; choose its convention)"
        return super().scaling_note

    def forward(self, batch: np.ndarray) -> np.ndarray:
        return self.model.forward(np.asarray(batch, dtype=np.float32))

    def with_scaling(self, scaling: Scaling | str | None) -> OnnxLoadedModel:
        from engine.models.zoo import _scaling

        if scaling is None:
            chosen, source, reason = self.default_scaling
        else:
            chosen, source = _scaling(scaling), ScalingSource.CHOSEN
            said = self.default_scaling
            reason = ""
            if said[1] is ScalingSource.DETECTED and said[0] is not chosen:
                reason = (
                    f"{said[2]}, which takes {SCALING_LABELS[said[0]]}: fed "
                    f"{SCALING_LABELS[chosen]}, it sees other pixels than it was made for"
                )
        return replace(
            self,
            spec=replace(self.spec, scaling=chosen),
            scaling_source=source,
            scaling_reason=reason,
        )

    def with_class_names(self, names: list[str] | None) -> OnnxLoadedModel:
        if names is None:
            return replace(self, class_names=None)
        names = [str(n) for n in names]
        units = _units(self.model)
        if units != len(names):
            raise ValueError(
                f"{len(names)} class names for an output of {units} values; give one "
                "name per output unit"
            )
        return replace(self, class_names=names, classifier=True)


def _units(network: OnnxNetwork) -> int | None:
    shape = network.output_shape
    if shape is None or len(shape) != 1 or shape[0] is None:
        layer = network._g.by_name.get(network.output_layer or "")
        raw = None if layer is None else layer.raw_shape
        if raw is not None and len(raw) == 2 and (shape is None or len(shape) == 1):
            return int(raw[1])
        return None
    return int(shape[0])


def _ends_in_class_scores(network: OnnxNetwork) -> bool:
    """The first output comes from Gemm, MatMul or a (log-)softmax, through reshapes."""
    name = network.output_layer
    g = network._g
    for _ in range(50):
        if name is None or name not in g.by_name:
            return False
        layer = g.by_name[name]
        if layer.type in ("Gemm", "MatMul", "Softmax", "LogSoftmax"):
            return True
        if layer.type not in ("Flatten", "Reshape", "Squeeze", "Identity", "Dropout", "Add"):
            return False
        name = layer.inbound[0] if layer.inbound else None
    return False


def _parse_names(text: str) -> list[str] | None:
    """Class names from a metadata value: JSON or a Python literal (a list, or a dict by
    index), else one a line, else comma-separated."""
    text = text.strip()
    if not text:
        return None
    value: Any = None
    for parse in (json.loads, ast.literal_eval):
        try:
            value = parse(text)
            break
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            continue
    if isinstance(value, dict):
        try:
            items = sorted(((int(k), str(v)) for k, v in value.items()))
        except (TypeError, ValueError):
            return None
        if [k for k, _ in items] != list(range(len(items))):
            return None
        return [v for _, v in items]
    if isinstance(value, (list, tuple)):
        return [str(v) for v in value]
    if "\n" in text:
        return [line.strip() for line in text.splitlines() if line.strip()]
    if "," in text:
        return [part.strip() for part in text.split(",")]
    return None


def _scaling_guess(network: OnnxNetwork) -> tuple[Scaling, ScalingSource, str]:
    meta = network.metadata
    for key in _SCALING_KEYS:
        value = meta.get(key, "").strip().lower()
        if value in {s.value for s in Scaling}:
            return Scaling(value), ScalingSource.DETECTED, f"the file's metadata says '{value}'"
    if network.input_layout == NCHW and network.input_shape[-1] == 3:
        return (
            Scaling.TORCH,
            ScalingSource.GUESSED,
            "torchvision's ImageNet mean and std, the usual for a 3-channel NCHW (PyTorch) model",
        )
    return Scaling.UNIT, ScalingSource.GUESSED, "the model does not say"


_NOT_SUPPORTED = (
    re.compile(r"No Op registered for (\w+) with domain_version of (\d+)"),
    re.compile(r"Could not find an implementation for (\w+)\((\d+)\)"),
    re.compile(r"([\w.]*:?\w+)\((-?\d+)\) is not a registered function/op"),
)


def _session_problem(exc: Exception, path: Path) -> str:
    """One sentence for a model ONNX Runtime would not open."""
    import onnxruntime

    text = str(exc)
    for pattern in _NOT_SUPPORTED:
        found = pattern.search(text)
        if found:
            op, version = found.group(1), found.group(2)
            opset = (
                f" (opset {version})" if version.lstrip("-").isdigit() and int(version) > 0 else ""
            )
            return (
                f"'{path.name}' uses the operator {op}{opset}, which ONNX Runtime "
                f"{onnxruntime.__version__} does not support"
            )
    first = next((line for line in text.splitlines() if line.strip()), type(exc).__name__)
    return f"ONNX Runtime could not open '{path.name}': {first.strip()[:200]}"


def load_onnx(
    path: str | Path,
    scaling: Scaling | str | None = None,
    size: int | None = None,
    labels: list[str] | str | Path | None = None,
    progress: ProgressCallback = no_progress,
) -> OnnxLoadedModel:
    """Open an ONNX model file, as ``zoo.load_user_model`` opens a Keras one.

    Parameters
    ----------
    path : str or Path
        A ``.onnx`` file of a model with one image input, (N, 1 or 3, H, W) or
        (N, H, W, 1 or 3), float; the batch, height and width may be dynamic.
    scaling : Scaling or str, optional
        The input convention; None: what the file's metadata says (``scaling``), else a
        guess (torchvision's mean and std for a 3-channel NCHW model, else [0, 1]), said.
    size : int, optional
        For a model of any input size: the shorter side images are scaled to (default
        224), and the size its shapes, MACs and receptive fields are measured at.
    labels : list of str, or the path of a labels file, optional
        The class names; None: ``NAME.labels.txt`` beside the file, else the file's
        ``metadata_props`` (``classes``, ``class_names``, ``labels``, ``names``), else
        ImageNet's for a 1000-way output.

    Raises
    ------
    ModelLoadError
        One sentence: missing or empty, not an ONNX file, an operator ONNX Runtime does
        not support, several inputs, a non-image input, labels that do not match.
    """
    import onnx

    p = Path(path)
    if not p.is_file():
        raise ModelLoadError(f"'{p}' does not exist or is not a file")
    if p.stat().st_size == 0:
        raise ModelLoadError(f"'{p.name}' is empty (0 bytes)")
    progress(0.1, f"Reading {p.name}…")
    try:
        proto = onnx.load(str(p))
    except Exception as exc:
        raise ModelLoadError(
            f"'{p.name}' is not an ONNX model file ({type(exc).__name__}: "
            f"{str(exc).splitlines()[0] if str(exc) else 'unreadable'})"
        ) from exc
    if not proto.graph.node or proto.ir_version <= 0:
        raise ModelLoadError(f"'{p.name}' is not an ONNX model file: it holds no graph")
    short = 224 if size is None else int(size)
    if short < 1:
        raise ValueError(f"size must be >= 1. Received: size={size}")
    try:
        network = OnnxNetwork(proto, p.name, (short, short))
    except ModelLoadError as exc:
        raise ModelLoadError(f"'{p.name}' {exc}") from exc
    progress(0.5, f"Starting ONNX Runtime on {p.name}…")
    try:
        network.plain_session()
    except Exception as exc:
        raise ModelLoadError(_session_problem(exc, p)) from exc
    progress(0.8, f"Trying {p.name} on an image…")
    network.settle_size()
    return _loaded(network, p, scaling, size, labels)


def _loaded(
    network: OnnxNetwork,
    p: Path,
    scaling: Scaling | str | None,
    size: int | None,
    labels: list[str] | str | Path | None,
) -> OnnxLoadedModel:
    from engine.models.zoo import InputSpec, _scaling

    guess = _scaling_guess(network)
    if scaling is None:
        chosen, source, reason = guess
    else:
        chosen, source, reason = _scaling(scaling), ScalingSource.CHOSEN, ""
    h, w, channels = network.input_shape
    spec = InputSpec((h, w), int(channels or 3), chosen, short_side=224 if size is None else size)
    units = _units(network)
    names: list[str] | None = None
    source_name = ""
    if labels is None and labels_file_for(p).is_file():
        labels = labels_file_for(p)
    if isinstance(labels, (str, Path)):
        source_name, names = f"'{Path(labels).name}'", read_labels(labels)
    elif labels is not None:
        source_name, names = "the class names", [str(n) for n in labels]
    else:
        meta = network.metadata
        for key in _LABEL_KEYS:
            if key in meta:
                parsed = _parse_names(meta[key])
                if parsed is not None and len(parsed) == units:
                    source_name, names = f"the file's metadata '{key}'", parsed
                    break
    if names is not None and units != len(names):
        what = f"{units} values" if units is not None else f"shape {network.output_shape}"
        raise ModelLoadError(
            f"{source_name} has {len(names)} labels but '{p.name}''s output has {what}"
        )
    if names is None and units == 1000:
        names = imagenet_class_names()
    classifier = names is not None or (
        units is not None and units >= 2 and _ends_in_class_scores(network)
    )
    outputs = network._g.output_names
    output_note = ""
    if len(outputs) > 1:
        output_note = f"the model has {len(outputs)} outputs; the first ('{outputs[0]}') is shown"
    return OnnxLoadedModel(
        "file",
        p.name,
        network,
        True,
        spec,
        names,
        f"from {p} (ONNX, run by ONNX Runtime)",
        weights=p,
        scaling_source=source,
        scaling_reason=reason,
        classifier=classifier,
        output_note=output_note,
        default_scaling=guess,
    )
