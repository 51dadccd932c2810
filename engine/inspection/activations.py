"""Look inside a Keras model: every layer's output in one forward pass, the layer table.

``ActivationProbe`` builds, once, a model with the same inputs whose outputs are the
layers' outputs, and wraps its call in a compiled ``tf.function`` (reused between calls,
so one small image costs far less than ``model.predict``'s per-call set-up).

Layers that are cheap, exact functions of other returned layers' outputs (inference-mode
``BatchNormalization``, ``ReLU``, ``Activation("relu")``, ``Add``, ``ZeroPadding2D``) are
not outputs of that model: making every intermediate an output keeps TensorFlow from
reusing buffers and fusing ops (ResNet50 at 224x224 on two cores: 1.20x a plain forward
pass with every layer an output, 1.05x without those; ``bench/activations.py``). Their
values are computed with numpy from their inputs' values the first time they are read,
so a view that shows one layer pays for that layer only; ``dict(acts)`` pays for all
(about 75 ms more on ResNet50).

Layer kinds are told apart with ``isinstance``, never by class name, so subclasses of
Keras' layers are recognised and a layer class of the same name from elsewhere is not.

Every function here takes a Keras model or an ONNX model (``engine.models.onnx_model.
OnnxNetwork``, which ``_onnx`` recognises: the one place that tells them apart), and
gives the same things back: maps as (H, W, C) numpy arrays without the batch axis.
``gradients_unavailable(model)`` says, in a sentence, when the tools that need gradients
(Grad-CAM, saliency, feature visualisation) cannot run on a model.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping, Sequence
from collections.abc import ItemsView as _ItemsView
from collections.abc import KeysView as _KeysView
from collections.abc import ValuesView as _ValuesView
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import keras

#: A numpy stand-in for one layer: its inputs' values (no batch axis) -> its output value.
Derivation = Callable[..., np.ndarray]


@dataclass(frozen=True)
class LayerInfo:
    """One row of a Keras-style summary."""

    name: str
    type: str  # the layer's class name, for display
    output_shape: tuple[int | None, ...]  # without the batch axis
    params: int

    def shape_text(self) -> str:
        """The output shape as Keras' summary writes it.

        >>> LayerInfo("conv", "Conv2D", (None, 26, 32), 320).shape_text()
        '(None, 26, 32)'
        """
        return "(" + ", ".join("None" if d is None else str(d) for d in self.output_shape) + ")"


def _onnx(model: Any) -> bool:
    """True for an ONNX model (an ``OnnxNetwork``): the one place the kinds are told apart."""
    from engine.models.onnx_model import is_onnx

    return is_onnx(model)


def gradients_unavailable(model: Any, tool: str = "This tool") -> str:
    """Why ``tool`` (Grad-CAM, saliency, feature visualisation: anything that needs
    gradients) cannot run on ``model``, as one sentence; "" when it can.

    >>> from engine.models.mnist_model import build_mnist_cnn
    >>> gradients_unavailable(build_mnist_cnn(compile=False))
    ''
    """
    if getattr(model, "has_gradients", True):
        return ""
    from engine.models.onnx_model import GRADIENTS_NOTE

    return f"{tool} {GRADIENTS_NOTE}."


def layer_names(model: Any) -> list[str]:
    """Every layer's name (a Keras model's layers, an ONNX model's nodes), in order."""
    return [layer.name for layer in model.layers]


def layer_shape(model: Any, name: str) -> tuple[int | None, ...]:
    """The output shape of layer ``name`` without the batch axis (maps as (H, W, C));
    ``ValueError`` when the model has no such layer."""
    if _onnx(model):
        try:
            return model.layer(name).output_shape
        except KeyError as exc:
            raise ValueError(f"the model has no layer {name!r}") from exc
    return _output_shape(model.get_layer(name))


def has_maps(model: Any, name: str) -> bool:
    """The one rule for "this layer has spatial maps": its output is (H, W, C) and it is
    not the input itself.

    >>> from engine.models.mnist_model import build_mnist_cnn
    >>> m = build_mnist_cnn(compile=False)
    >>> has_maps(m, "conv2d_1"), has_maps(m, "flatten")
    (True, False)
    """
    try:
        shape = layer_shape(model, name)
    except ValueError:
        return False
    if not _onnx(model) and _is_input_layer(model.get_layer(name)):
        return False
    return len(shape) == 3


def input_shape_of(model: Any) -> tuple[int | None, ...]:
    """The model's input shape without the batch axis ((H, W, C) for an image)."""
    if _onnx(model):
        return tuple(model.input_shape[-3:])
    return tuple(None if d is None else int(d) for d in model.inputs[0].shape[1:])


def output_shape_of(model: Any) -> tuple[int | None, ...]:
    """The model's (first) output shape without the batch axis."""
    if _onnx(model):
        return tuple(model.output_shape or ())
    return tuple(None if d is None else int(d) for d in model.outputs[0].shape[1:])


def _output_shape(layer: Any) -> tuple[int | None, ...]:
    shape = layer.output.shape
    return tuple(None if d is None else int(d) for d in shape[1:])


def _is_input_layer(layer: Any) -> bool:
    import keras

    return isinstance(layer, keras.layers.InputLayer)


def layer_summary(model: keras.Model) -> list[LayerInfo]:
    """The model's layers (input layers excluded) as in ``model.summary()``; for an ONNX
    model its nodes that compute from the image, maps' shapes as (H, W, C).

    >>> from engine.models.mnist_model import build_mnist_cnn
    >>> rows = layer_summary(build_mnist_cnn(compile=False))
    >>> [(r.name, r.type, r.output_shape, r.params) for r in rows[:2]]
    [('conv2d_1', 'Conv2D', (26, 26, 32), 320), ('conv2d_2', 'Conv2D', (24, 24, 64), 18496)]
    """
    if _onnx(model):
        return [LayerInfo(x.name, x.type, x.output_shape, x.params) for x in model.layers]
    return [
        LayerInfo(layer.name, type(layer).__name__, _output_shape(layer), int(layer.count_params()))
        for layer in model.layers
        if not _is_input_layer(layer)
    ]


def inbound_layers(model: keras.Model) -> dict[str, list[str]]:
    """For each layer (input layers excluded), the names of the layers it takes input
    from, in order (two or more at a merge such as ``Add``).

    >>> from engine.models.mnist_model import build_mnist_cnn
    >>> inbound_layers(build_mnist_cnn(compile=False))["conv2d_2"]
    ['conv2d_1']
    """
    if _onnx(model):
        return model.inbound_layers()  # type: ignore[no-any-return]
    out: dict[str, list[str]] = {}
    for layer in model.layers:
        if _is_input_layer(layer) or not layer._inbound_nodes:
            continue
        node = layer._inbound_nodes[0]
        out[layer.name] = [parent.operation.name for parent in node.parent_nodes]
    return out


#: Merging layers whose result is written as an operator between their inputs.
_MERGE_OPERATORS = {"Add": " + ", "Subtract": " - ", "Multiply": " × "}


def merge_text(layer_type: str, inputs: Sequence[str]) -> str:
    """How a merging layer makes its output from its inputs, as a person writes it.

    An addition is a sum; a concatenation is not, so it is written as one (as are
    ``Average``, ``Maximum``, ...):

    >>> merge_text("Add", ["x", "fx"])
    'x + fx'
    >>> merge_text("Concatenate", ["a", "b", "c"])
    'concatenate(a, b, c)'
    """
    operator = _MERGE_OPERATORS.get(layer_type)
    if operator is not None:
        return operator.join(inputs)
    return f"{layer_type.lower()}({', '.join(inputs)})"


# -- layers computed in numpy -------------------------------------------------------------
def _batch_norm(layer: Any, ndim: int) -> Derivation | None:
    """Inference-mode batch normalisation, as ``tf.nn.batch_normalization`` computes it."""
    axes = layer.axis if isinstance(layer.axis, (list, tuple)) else [layer.axis]
    if len(axes) != 1:
        return None
    axis = int(axes[0]) % ndim  # counted with the batch axis
    if axis == 0:
        return None

    def derive(x: np.ndarray) -> np.ndarray:
        # The weights are read when the layer is first read, not when the probe ran.
        mean = np.asarray(layer.moving_mean, np.float32)
        variance = np.asarray(layer.moving_variance, np.float32)
        inv = np.float32(1.0) / np.sqrt(variance + np.float32(layer.epsilon))
        if layer.scale:
            inv = inv * np.asarray(layer.gamma, np.float32)
        offset = -mean * inv
        if layer.center:
            offset = np.asarray(layer.beta, np.float32) + offset
        shape = [1] * x.ndim
        shape[axis - 1] = -1  # the stored value has no batch axis
        out = x * inv.reshape(shape)
        out += offset.reshape(shape)
        return out

    return derive


def _relu(x: np.ndarray) -> np.ndarray:
    return np.maximum(x, np.float32(0.0))


def _add(*xs: np.ndarray) -> np.ndarray:
    out = xs[0] + xs[1]  # in Keras' order: ((x0 + x1) + x2) + ...
    for x in xs[2:]:
        out += x
    return out


def _zero_padding(layer: Any) -> Derivation | None:
    (top, bottom), (left, right) = layer.padding
    if layer.data_format == "channels_last":
        pad = ((top, bottom), (left, right), (0, 0))
    else:
        pad = ((0, 0), (top, bottom), (left, right))
    return lambda x: np.pad(x, pad)


def _derivation(layer: Any, inputs: list[Any]) -> Derivation | None:
    """How to compute ``layer``'s output from its inputs' values in numpy, if it is cheap
    and exact: an elementwise function, a sum, or zero padding."""
    import keras

    if getattr(layer, "compute_dtype", None) != "float32":
        return None
    if any(getattr(t, "dtype", None) != "float32" for t in inputs):
        return None
    out_shape = tuple(layer.output.shape)
    if isinstance(layer, keras.layers.Add):
        # Only without broadcasting, so the numpy sum is the same sum.
        if len(inputs) >= 2 and all(tuple(t.shape) == out_shape for t in inputs):
            return _add
        return None
    if len(inputs) != 1:
        return None
    if isinstance(layer, keras.layers.ZeroPadding2D):
        return _zero_padding(layer)
    if isinstance(layer, keras.layers.BatchNormalization):
        return _batch_norm(layer, len(out_shape))
    if isinstance(layer, keras.layers.ReLU):
        if float(layer.negative_slope) != 0.0 or float(layer.threshold) != 0.0:
            return None
        if layer.max_value is None:
            return _relu
        top = np.float32(layer.max_value)
        return lambda x: np.clip(x, np.float32(0.0), top)
    if isinstance(layer, keras.layers.Activation):
        if layer.activation is keras.activations.relu:
            return _relu
        if layer.activation is keras.activations.linear:
            return np.array  # a copy: every layer's value is its own array
    return None


def _inputs_of(layer: Any) -> list[Any]:
    """The tensors ``layer`` was called on in the model; [] if it was called more than once."""
    try:
        inputs = layer.input  # raises for a layer called more than once
    except (AttributeError, ValueError):
        return []
    if isinstance(inputs, dict):
        return []
    return list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]


class _Keys(_KeysView):
    def __reversed__(self) -> Iterator[str]:
        return reversed(self._mapping)  # type: ignore[call-overload]


class _Values(_ValuesView):
    def __reversed__(self) -> Iterator[np.ndarray]:
        return (self._mapping[k] for k in reversed(self._mapping))  # type: ignore[call-overload]


class _Items(_ItemsView):
    def __reversed__(self) -> Iterator[tuple[str, np.ndarray]]:
        return ((k, self._mapping[k]) for k in reversed(self._mapping))  # type: ignore[call-overload]


#: The derived layers' values one ``LayerOutputs`` keeps, most recently read first.
DERIVED_KEEP_BYTES = 16 * 2**20  # ResNet50's largest: 3.2 MB; InceptionV3's: 5.5 MB


class LayerOutputs(Mapping[str, np.ndarray]):
    """Every probed layer's output for one input: a read-only mapping in layer order.

    Values are numpy arrays without the batch axis. The layers the probe derives (see
    ``ActivationProbe.derived``) are computed from their inputs' values when read; the
    most recently read are kept, up to ``DERIVED_KEEP_BYTES`` (a view reading its layer
    again finds it; clicking through every layer of ResNet50 does not keep them all:
    memory stays within ``nbytes_bound``). ``dict(acts)`` computes them all. Reading
    from two threads at once is safe (a value may be computed twice, with the same
    result).
    """

    def __init__(
        self,
        names: tuple[str, ...],
        values: dict[str, np.ndarray],
        derived: dict[str, tuple[tuple[str, ...], Derivation]],
    ) -> None:
        self._names = names
        self._values = values
        self._derived = derived
        self._kept: OrderedDict[str, np.ndarray] = OrderedDict()  # derived, last read last
        self._kept_lock = threading.Lock()

    def __getitem__(self, name: str) -> np.ndarray:
        value = self._values.get(name)
        if value is not None:
            return value
        if name not in self._derived:
            raise KeyError(name)
        with self._kept_lock:
            value = self._kept.get(name)
            if value is not None:
                self._kept.move_to_end(name)
                return value
        sources, derive = self._derived[name]
        value = derive(*(self[source] for source in sources))
        with self._kept_lock:
            self._kept[name] = value
            self._kept.move_to_end(name)
            held = sum(v.nbytes for v in self._kept.values())
            while held > DERIVED_KEEP_BYTES and len(self._kept) > 1:
                _, dropped = self._kept.popitem(last=False)
                held -= dropped.nbytes
        return value

    def nbytes_bound(self) -> int:
        """The most bytes this can hold: its probed values and, at most, the derived
        values it keeps (what a cache of results counts for it)."""
        probed = sum(v.nbytes for v in self._values.values())
        derived = sum(self._source_nbytes(name) for name in self._derived)
        return probed + min(derived, DERIVED_KEEP_BYTES)

    def _source_nbytes(self, name: str) -> int:
        """A derived layer's size, about: its first source's (a batch norm, a ReLU, an
        addition keep the shape; a zero padding adds a border)."""
        seen = set()
        while name in self._derived and name not in seen:
            seen.add(name)
            name = self._derived[name][0][0]
        value = self._values.get(name)
        return 0 if value is None else int(value.nbytes)

    def __contains__(self, name: object) -> bool:
        return name in self._values or name in self._derived

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __reversed__(self) -> Iterator[str]:
        return reversed(self._names)

    def __len__(self) -> int:
        return len(self._names)

    def keys(self) -> _Keys:
        return _Keys(self)

    def values(self) -> _Values:
        return _Values(self)

    def items(self) -> _Items:
        return _Items(self)

    def __repr__(self) -> str:
        return f"LayerOutputs({', '.join(self._names)})"


class ActivationProbe:
    """Every layer's activation for one input, from ONE forward pass.

    Parameters
    ----------
    model : keras.Model or OnnxNetwork
        A built Keras model with one input, or an ONNX model (run by its
        ``OnnxProbe``: one ONNX Runtime session with every layer an output).
    layer_names : list of str, optional
        Only these layers (in the model's order); default every layer but the inputs.

    Attributes
    ----------
    layer_names : list of str
        The layers ``run`` returns, in the model's order.
    derived : dict of str to tuple of str
        The layers computed in numpy from other returned layers' values, with the names
        of those layers (``{"conv1_bn": ("conv1_conv",), "conv2_block1_add":
        ("conv2_block1_0_bn", "conv2_block1_3_bn"), ...}``).

    Examples
    --------
    >>> from engine.models.mnist_model import build_mnist_cnn
    >>> probe = ActivationProbe(build_mnist_cnn(compile=False))
    >>> acts = probe.run(np.zeros((28, 28, 1)))
    >>> acts["conv2d_1"].shape, acts["dense_2"].shape
    ((26, 26, 32), (10,))
    >>> list(acts)[:3]
    ['conv2d_1', 'conv2d_2', 'max_pooling2d']
    """

    def __init__(self, model: keras.Model, layer_names: list[str] | None = None) -> None:
        self.model = model
        self._onnx_probe: Any = None
        if _onnx(model):
            self._onnx_probe = model.probe(layer_names)
            self.layer_names = list(self._onnx_probe.layer_names)
            self.derived = dict(self._onnx_probe.derived)
            self.input_shape = tuple(self._onnx_probe.input_shape)
            return
        import keras
        import tensorflow as tf

        layers = [layer for layer in model.layers if not _is_input_layer(layer)]
        if layer_names is not None:
            wanted = set(layer_names)
            layers = [layer for layer in layers if layer.name in wanted]
        if not layers:
            raise ValueError("the model has no layers to probe")
        self.layer_names = [layer.name for layer in layers]
        # A layer is derived when it is cheap and its inputs are returned layers' outputs.
        outputs = [layer.output for layer in layers]  # kept alive while ids are compared
        producer = {
            id(out): layer.name
            for layer, out in zip(layers, outputs, strict=True)
            if not isinstance(out, (list, tuple, dict))
        }
        self._derived: dict[str, tuple[tuple[str, ...], Derivation]] = {}
        for layer in layers:
            inputs = _inputs_of(layer)
            sources = tuple(producer.get(id(t)) for t in inputs)
            if not inputs or None in sources:
                continue
            derive = _derivation(layer, inputs)
            if derive is not None:
                self._derived[layer.name] = (sources, derive)  # type: ignore[assignment]
        self.derived = {name: sources for name, (sources, _) in self._derived.items()}
        probed = [layer for layer in layers if layer.name not in self._derived]
        self._probed_names = tuple(layer.name for layer in probed)
        model_input = model.inputs[0] if len(model.inputs) == 1 else model.inputs
        self._multi = keras.Model(model_input, [layer.output for layer in probed])
        shape = tuple(model.inputs[0].shape)
        self.input_shape: tuple[int | None, ...] = tuple(
            None if d is None else int(d) for d in shape[1:]
        )
        self._call = tf.function(lambda x: self._multi(x, training=False), reduce_retracing=True)

    def run(self, x: np.ndarray) -> LayerOutputs:
        """Activations by layer name (in layer order), batch axis removed.

        ``x`` is one input, with or without its batch axis.
        """
        if self._onnx_probe is not None:
            return self._onnx_probe.run(x)  # type: ignore[no-any-return]
        a = np.asarray(x, dtype=np.float32)
        if a.ndim == len(self.input_shape):
            a = a[None]
        expected = self.input_shape
        if a.ndim != len(expected) + 1 or any(
            e is not None and e != g for e, g in zip(expected, a.shape[1:], strict=True)
        ):
            raise ValueError(
                f"the model expects input of shape {expected} (None = any). "
                f"Received shape {tuple(a.shape[1:])}"
            )
        outputs = self._call(a)
        if not isinstance(outputs, (list, tuple)):
            outputs = [outputs]
        values = {
            name: np.asarray(out)[0] for name, out in zip(self._probed_names, outputs, strict=True)
        }
        return LayerOutputs(tuple(self.layer_names), values, self._derived)


@dataclass(frozen=True)
class MapStats:
    """Statistics of one feature map."""

    minimum: float
    maximum: float
    mean: float
    zero_fraction: float  # after ReLU, the share of units that are off

    @classmethod
    def of(cls, a: np.ndarray) -> MapStats:
        """
        >>> MapStats.of(np.array([[0.0, 2.0], [0.0, 6.0]]))
        MapStats(minimum=0.0, maximum=6.0, mean=2.0, zero_fraction=0.5)
        """
        x = np.asarray(a, dtype=np.float64)
        return cls(float(x.min()), float(x.max()), float(x.mean()), float((x == 0).mean()))


def conv_layer_kind(layer: Any) -> str | None:
    """Which kind of 2-D convolution ``layer`` is, by ``isinstance``; None for others.

    Returns ``"separable"`` (``SeparableConv2D``), ``"depthwise"`` (``DepthwiseConv2D``),
    ``"transpose"`` (``Conv2DTranspose``), ``"conv"`` (``Conv2D``) or None.

    >>> import keras
    >>> conv_layer_kind(keras.layers.Conv2D(4, 3)), conv_layer_kind(keras.layers.Dense(4))
    ('conv', None)
    """
    import keras

    kinds = (
        (keras.layers.SeparableConv2D, "separable"),
        (keras.layers.DepthwiseConv2D, "depthwise"),
        (keras.layers.Conv2DTranspose, "transpose"),
        (keras.layers.Conv2D, "conv"),
    )
    return next((kind for cls, kind in kinds if isinstance(layer, cls)), None)


def conv_kernel(model: keras.Model, layer_name: str) -> np.ndarray | None:
    """The (F, F, C_in, K) kernel of a 2-D convolution layer, or None for other layers.

    - ``Conv2D``: its kernel, (F, F, C_in, filters).
    - ``DepthwiseConv2D``: its kernel, (F, F, C_in, depth_multiplier).
    - ``SeparableConv2D``: its depthwise kernel, (F, F, C_in, depth_multiplier), the
      spatial filters; the pointwise kernel (1, 1, C_in * depth_multiplier, filters)
      only mixes channels and is not returned.
    - ``Conv2DTranspose``: Keras stores (F, F, filters, C_in); it is returned transposed
      to (F, F, C_in, filters), like the others.

    - ONNX ``Conv``: its weight (K, C_in/group, F, F) as (F, F, C_in/group, K).

    >>> import keras
    >>> model = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Conv2D(5, 3, name="c")])
    >>> conv_kernel(model, "c").shape
    (3, 3, 3, 5)
    """
    if _onnx(model):
        return model.conv_kernel(layer_name)  # type: ignore[no-any-return]
    layer = model.get_layer(layer_name)
    kind = conv_layer_kind(layer)
    if kind is None or not layer.built:
        return None
    if kind == "separable":
        return np.asarray(layer.depthwise_kernel)
    kernel = np.asarray(layer.kernel)
    if kernel.ndim != 4:
        return None
    if kind == "transpose":
        return np.ascontiguousarray(kernel.transpose(0, 1, 3, 2))
    return kernel


def block_of(layer_name: str) -> str:
    """The block a layer belongs to, from Keras' naming; other names are their own block.

    Superseded by ``engine.inspection.blocks.block_names(model)``, which reads the blocks
    from the graph for any model (InceptionV3's modules, an ONNX graph's regions).

    >>> block_of("block3_conv2"), block_of("conv4_block2_add"), block_of("flatten")
    ('block3', 'conv4_block2', 'flatten')
    """
    parts = layer_name.split("_")
    for i, part in enumerate(parts):
        if part.startswith("block") and part[5:].isdigit():
            return "_".join(parts[: i + 1])
    return layer_name
