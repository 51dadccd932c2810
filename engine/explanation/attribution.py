"""Why did the model say that? Receptive fields, Grad-CAM, occlusion, saliency, SmoothGrad.

Works on any Keras model the zoo opens (one image input, one class-vector output). Every
function takes ``x``, one model input of shape (H, W, C), float, exactly as the model
receives it (``LoadedModel.prepare(image)``), and returns numpy arrays.

- ``receptive_field(model, layer_name)``: the theoretical receptive field of one cell of a
  layer's maps, read from the model's graph; ``receptive_box`` turns it into the square
  of input pixels one map pixel sees.
- ``grad_cam``: Selvaraju et al. 2017, "Grad-CAM: Visual Explanations from Deep Networks
  via Gradient-based Localization".
- ``occlusion``: Zeiler & Fergus 2014, "Visualizing and Understanding Convolutional
  Networks": how much the class probability drops when a patch is hidden;
  ``occlusion_map`` gives the same drops incrementally (Krypton, Nakandala et al. 2019:
  only the regions a patch reaches are recomputed; see ``engine.explanation.incremental``)
  and says how they were computed.
- ``saliency``: Simonyan et al. 2014, |d p(class) / d x|; with ``samples > 0`` SmoothGrad
  (Smilkov et al. 2017, "SmoothGrad: removing noise by adding noise").
- ``effective_receptive_field``: |d unit / d x| for one unit of a layer's maps (Luo et
  al. 2016, "Understanding the Effective Receptive Field in Deep CNNs").

The gradient functions are compiled ``tf.function`` s, built once per (model, layer,
kind) by an ``Explainer`` and reused; the module-level functions share one ``Explainer``
per model (held weakly: it goes when the model goes). TensorFlow and Keras are imported
inside the functions, so importing this module is cheap. Maps are assumed channels-last
(Keras' default) for the gradient methods.

Class scores. Grad-CAM uses the class *score before softmax* (the paper's y^c) by default:
when the model's last layer is a ``Dense`` with a softmax (or sigmoid) activation, the
logits are computed as ``h @ kernel + bias`` from that layer's input ``h``, inside the
same compiled call; when it is an ``Activation``/``Softmax`` layer, its input. A model
whose output has no such final activation is taken to output scores already. Saliency
and SmoothGrad differentiate the probability (the model's output) by default; both take
``score="logit"`` or ``score="probability"``.

Not thread-safe: one thread uses a given model at a time (see STYLE.md).
"""

from __future__ import annotations

import math
import threading
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import TYPE_CHECKING, Any

import numpy as np

from engine.util.checks import check_int
from engine.util.progress import CancelCheck, ProgressCallback, never_cancelled, no_progress

if TYPE_CHECKING:
    import keras

    from engine.explanation.incremental import Occlusion


SCORES = ("logit", "probability")


# -- receptive fields ---------------------------------------------------------------------
@dataclass(frozen=True)
class ReceptiveField:
    """The theoretical receptive field of one layer's map cells, along one image axis.

    ``size``: how many input pixels one map cell sees; ``jump``: the distance in input
    pixels between neighbouring map cells (an int, except after up-sampling layers);
    ``start``: where cell 0 is centred, in input pixel coordinates (pixel ``i`` covers
    ``[i - 0.5, i + 0.5]``, so it is centred on ``i``). Cell ``r`` is centred on
    ``start + r * jump``. ``start`` is negative when 'same' padding makes the first
    cells look beyond the border.

    >>> rf = ReceptiveField(size=5, jump=1, start=2.0)  # the lecture CNN's conv2d_2
    >>> rf.centre(10)
    12.0
    """

    size: int
    jump: float
    start: float

    def centre(self, index: int) -> float:
        """Where map cell ``index`` is centred, in input pixels."""
        return float(self.start + index * self.jump)

    def apart_text(self) -> str:
        """How far apart neighbouring map cells are, in words.

        >>> ReceptiveField(size=3, jump=1, start=1.0).apart_text()
        '1 input pixel apart'
        """
        unit = "pixel" if self.jump == 1 else "pixels"
        return f"{self.jump:g} input {unit} apart"


@dataclass(frozen=True)
class _Axis:
    """Exact arithmetic for one axis (fractions: up-sampling makes jumps fractional)."""

    size: Fraction
    jump: Fraction
    start: Fraction

    def public(self) -> ReceptiveField:
        jump: float = int(self.jump) if self.jump.denominator == 1 else float(self.jump)
        return ReceptiveField(math.ceil(self.size), jump, float(self.start))


_PIXEL = _Axis(Fraction(1), Fraction(1), Fraction(0))
_GLOBAL = None  # a tensor with no spatial map left: each value sees the whole input


def _union(axes: Sequence[_Axis]) -> _Axis:
    """Where paths merge (Add, Concatenate): the union of their cell-0 intervals.

    For concentric paths (the usual case) this is the largest of them.
    """
    if len(axes) == 1:
        return axes[0]
    lo = min(a.start - (a.size - 1) / 2 for a in axes)
    hi = max(a.start + (a.size - 1) / 2 for a in axes)
    return _Axis(hi - lo + 1, max(a.jump for a in axes), (lo + hi) / 2)


def _same_pad(n: int | None, k_eff: int, s: int, out: int | None = None) -> int:
    """Padding before the first element, as TensorFlow's 'SAME' places it (extra at the end)."""
    if n is None:  # unknown size: assume it divides by the stride
        return max(k_eff - s, 0) // 2
    target = math.ceil(n / s) if out is None else out
    return max((target - 1) * s + k_eff - n, 0) // 2


def _window(a: _Axis, k: int, s: int, d: int, pad: int) -> _Axis:
    """A sliding window (convolution, pooling) of ``k`` taps, stride ``s``, dilation ``d``."""
    k_eff = d * (k - 1) + 1
    return _Axis(
        a.size + (k_eff - 1) * a.jump,
        a.jump * s,
        a.start + (Fraction(k_eff - 1, 2) - pad) * a.jump,
    )


def _pair(value: Any) -> tuple[Any, Any]:
    if isinstance(value, (list, tuple)):
        return value[0], value[1]
    return value, value


def _spatial(shape: Sequence[int | None], data_format: str) -> tuple[int | None, int | None]:
    dims = tuple(shape)
    if data_format == "channels_first":
        return dims[2], dims[3]
    return dims[1], dims[2]


def _layer_axes(
    op: Any, node: Any, parents: list[_Axis | None]
) -> tuple[_Axis, _Axis] | None | str:
    """The receptive field after ``op``, per axis (rows, cols); None for no spatial map.

    ``parents`` holds the per-axis fields of the node's inputs, rows and cols interleaved
    as ((rows, cols), ...). Returns a message (str) for a layer that changes the map size
    in a way this function does not know.
    """
    import keras
    from keras import layers

    outputs = node.outputs
    out_shape = tuple(outputs[0].shape) if outputs else ()
    if len(out_shape) != 4 or any(p is None for p in parents):
        return _GLOBAL
    fmt = getattr(op, "data_format", keras.config.image_data_format())
    in_shape = tuple(node.input_tensors[0].shape)
    n_in = _spatial(in_shape, fmt)
    n_out = _spatial(out_shape, fmt)
    if isinstance(op, keras.Model):
        inner = _model_output_axes(op)
        if inner is None or len(parents) != 1:
            return f"the nested model '{op.name}' has no single image path"
        return tuple(  # type: ignore[return-value]
            _Axis(
                outer.size + (inn.size - 1) * outer.jump,
                outer.jump * inn.jump,
                outer.start + inn.start * outer.jump,
            )
            for outer, inn in zip(parents[0], inner, strict=True)  # type: ignore[arg-type]
        )
    merged = tuple(_union([p[axis] for p in parents]) for axis in (0, 1))  # type: ignore[index]
    window_types = (layers.Conv2D, layers.DepthwiseConv2D, layers.SeparableConv2D)
    if isinstance(op, layers.Conv2DTranspose):
        result = []
        for axis in (0, 1):
            a = merged[axis]
            k, s, d = op.kernel_size[axis], op.strides[axis], op.dilation_rate[axis]
            k_eff = d * (k - 1) + 1
            pad = 0 if op.padding == "valid" else _same_pad(n_out[axis], k_eff, s, n_in[axis])
            # Output cell o gets input cells i with i * s = o + pad - t, t in [0, k_eff):
            # an interval of (k_eff - 1) / s input cells centred on (o + pad - (k_eff-1)/2) / s.
            result.append(
                _Axis(
                    a.size + Fraction(k_eff - 1, s) * a.jump,
                    a.jump / s,
                    a.start + (pad - Fraction(k_eff - 1, 2)) / s * a.jump,
                )
            )
        return result[0], result[1]
    if isinstance(op, window_types):
        result = []
        for axis in (0, 1):
            k, s, d = op.kernel_size[axis], op.strides[axis], op.dilation_rate[axis]
            k_eff = d * (k - 1) + 1
            pad = 0 if op.padding == "valid" else _same_pad(n_in[axis], k_eff, s)
            result.append(_window(merged[axis], k, s, d, pad))
        return result[0], result[1]
    if isinstance(op, (layers.MaxPooling2D, layers.AveragePooling2D)):
        result = []
        for axis in (0, 1):
            k, s = op.pool_size[axis], op.strides[axis]
            pad = 0 if op.padding == "valid" else _same_pad(n_in[axis], k, s)
            result.append(_window(merged[axis], k, s, 1, pad))
        return result[0], result[1]
    if isinstance(op, layers.ZeroPadding2D):
        return tuple(  # type: ignore[return-value]
            _Axis(a.size, a.jump, a.start - int(op.padding[axis][0]) * a.jump)
            for axis, a in enumerate(merged)
        )
    if isinstance(op, layers.Cropping2D):
        return tuple(  # type: ignore[return-value]
            _Axis(a.size, a.jump, a.start + int(op.cropping[axis][0]) * a.jump)
            for axis, a in enumerate(merged)
        )
    if isinstance(op, layers.UpSampling2D):
        result = []
        for axis in (0, 1):
            a, s = merged[axis], int(op.size[axis])
            if op.interpolation == "nearest":  # output o copies input o // s
                reach, centre = Fraction(s - 1, s), -Fraction(s - 1, 2 * s)
            else:  # (bi)linear with half-pixel centres: inputs around (o + 0.5) / s - 0.5
                reach, centre = Fraction(1), Fraction(1, 2 * s) - Fraction(1, 2)
            result.append(_Axis(a.size + reach * a.jump, a.jump / s, a.start + centre * a.jump))
        return result[0], result[1]
    # Everything else (BatchNormalization, activations, Dropout, Add, Concatenate,
    # Rescaling, keras.ops on tensors) maps each cell to the same cell.
    if len(in_shape) == 4 and n_in == n_out:
        return merged[0], merged[1]
    return (
        f"layer '{op.name}' ({type(op).__name__}) changes the map size from {n_in} to "
        f"{n_out} in a way the receptive-field arithmetic does not know"
    )


def _node_of(tensor: Any) -> Any:
    history = getattr(tensor, "_keras_history", None)
    if history is None:
        return None
    op, node_index, _ = history
    return op._inbound_nodes[node_index]


def _walk(
    targets: Sequence[Any], input_ids: set[int], model_name: str
) -> dict[int, tuple[_Axis, _Axis] | None]:
    """Per-axis receptive field of every node from the inputs up to ``targets``.

    Iterative (deep models would overflow Python's recursion limit), memoised per node,
    stopping at the model's own input tensors.
    """
    memo: dict[int, tuple[_Axis, _Axis] | None] = {}
    stack = list(targets)

    def parent_nodes(node: Any) -> list[Any]:
        return [
            p
            for t in node.input_tensors
            if id(t) not in input_ids and (p := _node_of(t)) is not None
        ]

    while stack:
        node = stack[-1]
        if id(node) in memo:
            stack.pop()
            continue
        pending = [p for p in parent_nodes(node) if id(p) not in memo]
        if pending:
            stack.extend(pending)
            continue
        stack.pop()
        if node.is_input or not node.input_tensors:
            memo[id(node)] = (_PIXEL, _PIXEL)
            continue
        parents = []
        for t in node.input_tensors:
            parent = None if id(t) in input_ids else _node_of(t)
            parents.append((_PIXEL, _PIXEL) if parent is None else memo[id(parent)])
        result = _layer_axes(node.operation, node, parents)  # type: ignore[arg-type]
        if isinstance(result, str):
            raise ValueError(f"cannot follow the receptive field in '{model_name}': {result}")
        memo[id(node)] = result
    return memo


def _model_output_axes(model: Any) -> tuple[_Axis, _Axis] | None:
    nodes = [n for t in model.outputs if (n := _node_of(t)) is not None]
    memo = _walk(nodes, {id(t) for t in model.inputs}, model.name)
    fields = [memo[id(n)] for n in nodes]
    if not fields or any(f is None for f in fields):
        return None
    return fields[0]


def _get_layer(model: Any, layer_name: str) -> Any:
    if not isinstance(layer_name, str):
        raise ValueError(f"layer_name must be a layer's name (str). Received {layer_name!r}")
    try:
        return model.get_layer(layer_name)
    except ValueError:
        names = ", ".join(layer.name for layer in model.layers[:8])
        raise ValueError(
            f"the model '{model.name}' has no layer named {layer_name!r} (its layers: {names}, …)"
        ) from None


def receptive_field_2d(
    model: keras.Model, layer_name: str
) -> tuple[ReceptiveField, ReceptiveField]:
    """The receptive field of one cell of ``layer_name``'s maps, along rows and along columns.

    See ``receptive_field``; the two differ for non-square kernels, strides or inputs.
    """
    _check_model(model)
    layer = _get_layer(model, layer_name)
    nodes = list(layer._inbound_nodes)
    if not nodes:
        raise ValueError(f"layer {layer_name!r} is not connected in the model's graph")
    memo = _walk(nodes, {id(t) for t in model.inputs}, model.name)
    fields = [memo[id(n)] for n in nodes]
    if any(f is None for f in fields):
        shape = tuple(layer.output.shape) if len(nodes) == 1 else "(shared layer)"
        raise ValueError(
            f"layer {layer_name!r} has output shape {shape}: no spatial map, so each of its "
            "values sees the whole input"
        )
    rows = _union([f[0] for f in fields])  # type: ignore[index]
    cols = _union([f[1] for f in fields])  # type: ignore[index]
    return rows.public(), cols.public()


def receptive_field(model: keras.Model, layer_name: str) -> ReceptiveField:
    """The theoretical receptive field of one cell of ``layer_name``'s maps, in input pixels.

    Read from the model's graph (Keras 3 functional graph, Sequential models included):
    starting at the layer's node(s), each node's input tensors lead, through their
    ``_keras_history`` (operation, node index), to the nodes that made them, down to the
    model's input tensors. Each layer then maps (size, jump, start) along each axis:

    - ``Conv2D``, ``DepthwiseConv2D``, ``SeparableConv2D`` (kernel ``k``, stride ``s``,
      dilation ``d``, so ``k' = d (k - 1) + 1`` taps wide), ``MaxPooling2D``,
      ``AveragePooling2D``: ``size += (k' - 1) jump``, ``start += ((k' - 1) / 2 - pad)
      jump``, ``jump *= s``, with ``pad`` 0 for 'valid' and TensorFlow's 'same' padding
      before the first element (the extra one goes at the end);
    - ``Conv2DTranspose`` and ``UpSampling2D`` divide the jump by the stride;
    - ``ZeroPadding2D`` / ``Cropping2D`` shift ``start``;
    - any other layer keeping the map size (BatchNormalization, activations, Dropout,
      Add, Concatenate, ...) changes nothing; where paths merge, the union of the
      paths' fields (the largest, for concentric paths) is taken;
    - a nested model is followed inside and composed.

    Parameters
    ----------
    model : keras.Model
    layer_name : str
        A layer with a 4-D output (a spatial map).

    Returns
    -------
    ReceptiveField
        ``size``, ``jump``, ``start`` (see ``ReceptiveField``), along rows; for a
        layer whose field differs between rows and columns, use ``receptive_field_2d``.

    Raises
    ------
    ValueError
        No such layer, a layer without spatial maps (Flatten, Dense, global pooling),
        a layer of unknown geometry on the way, or a field that differs per axis.

    Examples
    --------
    >>> from engine.models.mnist_model import build_mnist_cnn
    >>> receptive_field(build_mnist_cnn(compile=False), "max_pooling2d")
    ReceptiveField(size=6, jump=2, start=2.5)
    """
    rows, cols = receptive_field_2d(model, layer_name)
    if rows != cols:
        raise ValueError(
            f"layer {layer_name!r}'s receptive field differs between rows ({rows}) and "
            f"columns ({cols}); use receptive_field_2d"
        )
    return rows


def receptive_box(
    rf: ReceptiveField | tuple[ReceptiveField, ReceptiveField],
    row: int,
    col: int,
    input_hw: tuple[int, int],
) -> tuple[int, int, int, int]:
    """The input pixels map pixel (``row``, ``col``) sees: (top, left, bottom, right).

    Half-open like slices (``image[top:bottom, left:right]``), clipped at the border.
    ``rf`` is one field for both axes or (rows, cols) from ``receptive_field_2d``.

    >>> receptive_box(ReceptiveField(5, 1, 2.0), 10, 10, (28, 28))
    (10, 10, 15, 15)
    >>> receptive_box(ReceptiveField(196, 16, 7.5), 0, 13, (224, 224))
    (0, 118, 106, 224)
    """
    pair = rf if isinstance(rf, tuple) else (rf, rf)
    if len(pair) != 2 or not all(isinstance(f, ReceptiveField) for f in pair):
        raise ValueError(f"rf must be a ReceptiveField or a pair of them. Received {rf!r}")
    if len(input_hw) != 2 or min(input_hw) < 1:
        raise ValueError(f"input_hw must be (height, width) >= 1. Received {input_hw!r}")

    def span(field: ReceptiveField, index: int, n: int) -> tuple[int, int]:
        c = field.centre(int(index))
        half = (field.size - 1) / 2
        first = math.ceil(round(c - half, 6))  # pixels whose centre lies in the field
        last = math.floor(round(c + half, 6))
        return min(max(first, 0), n), min(max(last + 1, 0), n)

    top, bottom = span(pair[0], row, int(input_hw[0]))
    left, right = span(pair[1], col, int(input_hw[1]))
    return top, left, bottom, right


# -- checks ---------------------------------------------------------------------------------
def _check_model(model: Any) -> None:
    import keras

    if not isinstance(model, keras.Model):
        raise ValueError(f"model must be a keras.Model. Received {type(model).__name__}")
    if not model.built or not getattr(model, "inputs", None):
        raise ValueError(
            f"the model '{model.name}' has no inputs yet (build it with keras.Input first)"
        )


def _check_pair(name: str, value: Any, limit: tuple[int, int]) -> tuple[int, int]:
    a, b = _pair(value)
    if isinstance(value, (list, tuple)) and len(value) != 2:
        raise ValueError(f"{name} must be an int or (rows, cols). Received {name}={value!r}")
    return (
        check_int(name, a, 1, limit[0] + 1),
        check_int(name, b, 1, limit[1] + 1),
    )


# -- the explainer --------------------------------------------------------------------------
class Explainer:
    """Compiled gradient and occlusion functions for one model, built once and reused.

    Holds the model weakly (its own sub-models share the model's layers and weights, so
    edits to the weights show at once). The module-level functions use one per model.

    Parameters
    ----------
    model : keras.Model
        One image input (H, W, C), one output (batch, classes).

    Examples
    --------
    >>> from engine.models.mnist_model import build_mnist_cnn
    >>> ex = Explainer(build_mnist_cnn(compile=False))
    >>> ex.default_layer, ex.num_classes, ex.head
    ('conv2d_2', 10, 'dense kernel')
    """

    def __init__(self, model: keras.Model) -> None:
        import keras
        import tensorflow as tf

        _check_model(model)
        if len(model.inputs) != 1 or len(model.outputs) != 1:
            raise ValueError(
                f"attribution needs one input and one output. Received {len(model.inputs)} "
                f"inputs and {len(model.outputs)} outputs"
            )
        out_shape = tuple(model.outputs[0].shape)
        if len(out_shape) != 2 or out_shape[1] is None:
            raise ValueError(
                f"attribution needs a model whose output is (batch, classes). Received "
                f"output shape {out_shape}"
            )
        in_shape = tuple(model.inputs[0].shape)
        if len(in_shape) != 4:
            raise ValueError(
                f"attribution needs an image input (batch, H, W, C). Received {in_shape}"
            )
        self._ref = weakref.ref(model)
        self.name: str = model.name
        self.input_shape: tuple[int | None, ...] = tuple(
            None if d is None else int(d) for d in in_shape[1:]
        )
        self.num_classes = int(out_shape[1])
        self._inputs = model.inputs[0]
        self._output = model.outputs[0]
        self._pre, self._head_fn, self.head = self._find_head()
        self.default_layer: str | None = self._find_default_layer(model)
        # A Functional of the same graph, so compiled functions never hold ``model``.
        graph = keras.Model(self._inputs, self._output)
        self._forward = tf.function(
            lambda x: graph(x, training=False), reduce_retracing=True, autograph=False
        )
        self._graph = graph
        self._fns: dict[tuple[str, str, str], Any] = {}
        self._subs: dict[str, Any] = {}
        self._plans: dict[tuple[Any, ...], Any] = {}  # incremental occlusion plans

    # .. set-up
    def _find_head(self) -> tuple[Any, Callable[[Any], tuple[Any, Any]], str]:
        """Where the class scores before the final activation are: (tensor, head, how).

        ``head(pre)`` gives (logits, probabilities) from the tensor ``pre``.
        """
        from keras import activations, layers, ops

        last = self._output._keras_history[0]
        final = (activations.softmax, activations.sigmoid)
        if (
            isinstance(last, layers.Dense)
            and last.activation in final
            and getattr(last, "quantization_mode", None) is None
            and len(last._inbound_nodes) == 1
        ):
            dense, act = last, last.activation

            def dense_head(pre: Any) -> tuple[Any, Any]:
                logits = ops.matmul(pre, dense.kernel)
                if dense.use_bias:
                    logits = logits + dense.bias
                return logits, act(logits)

            return last.input, dense_head, "dense kernel"
        if (
            isinstance(last, layers.Softmax)
            or (isinstance(last, layers.Activation) and last.activation in final)
        ) and len(last._inbound_nodes) == 1:
            layer = last

            def activation_head(pre: Any) -> tuple[Any, Any]:
                return pre, layer(pre)

            return last.input, activation_head, "activation input"

        def identity_head(pre: Any) -> tuple[Any, Any]:
            return pre, pre

        return self._output, identity_head, "output"

    @staticmethod
    def _find_default_layer(model: Any) -> str | None:
        """The last layer with a 4-D output that is a convolution or an activation."""
        from keras import layers

        from engine.inspection.activations import conv_layer_kind

        acts = (layers.Activation, layers.ReLU, layers.LeakyReLU, layers.ELU, layers.PReLU)
        for layer in reversed(model.layers):
            if len(layer._inbound_nodes) != 1 or isinstance(layer, layers.InputLayer):
                continue
            if len(layer.output.shape) != 4:
                continue
            if conv_layer_kind(layer) is not None or isinstance(layer, acts):
                return str(layer.name)
        return None

    def _get_model(self) -> Any:
        model = self._ref()
        if model is None:  # the module cache never hands one out after its model went
            raise ValueError("the model of this Explainer no longer exists")
        return model

    def _map_layer(self, layer_name: str) -> Any:
        layer = _get_layer(self._get_model(), layer_name)
        if isinstance(layer, _input_layer_type()) or len(layer._inbound_nodes) != 1:
            raise ValueError(f"layer {layer_name!r} is an input or a shared layer")
        shape = tuple(layer.output.shape)
        if len(shape) != 4:
            raise ValueError(
                f"layer {layer_name!r} has output shape {shape}; pick a layer with spatial "
                "maps (batch, H, W, channels)"
            )
        return layer

    def _sub(self, layer_name: str, with_head: bool) -> Any:
        import keras

        key = f"{layer_name}|{with_head}"
        if key not in self._subs:
            layer = self._map_layer(layer_name)
            outputs = [layer.output, self._pre] if with_head else layer.output
            self._subs[key] = keras.Model(self._inputs, outputs)
        return self._subs[key]

    def _fn(self, kind: str, layer_name: str, score: str) -> Any:
        key = (kind, layer_name, score)
        if key not in self._fns:
            make = {"cam": self._make_cam, "grad": self._make_grad, "unit": self._make_unit}
            self._fns[key] = make[kind](layer_name, score)
        return self._fns[key]

    def _make_cam(self, layer_name: str, score: str) -> Any:
        import tensorflow as tf

        sub, head = self._sub(layer_name, with_head=True), self._head_fn
        pick = 0 if score == "logit" else 1

        def cam(x: Any, c: Any) -> tuple[Any, Any]:
            with tf.GradientTape() as tape:
                maps, pre = sub(x, training=False)
                scores = head(pre)
                c = tf.where(c < 0, tf.argmax(scores[0][0], output_type=tf.int32), c)
                y = scores[pick][0, c]
            grads = tf.cast(tape.gradient(y, maps), tf.float32)
            weights = tf.reduce_mean(grads, axis=(1, 2))  # alpha_k^c: (1, K)
            heat = tf.nn.relu(tf.reduce_sum(tf.cast(maps, tf.float32) * weights[:, None, None], -1))
            return heat[0], c  # at the maps' resolution: placed on the input by the caller

        return tf.function(cam, reduce_retracing=True, autograph=False)

    def _make_grad(self, layer_name: str, score: str) -> Any:
        import keras
        import tensorflow as tf

        head_model = keras.Model(self._inputs, self._pre)
        head = self._head_fn
        pick = 0 if score == "logit" else 1

        def grad(xb: Any, c: Any) -> Any:
            with tf.GradientTape() as tape:
                tape.watch(xb)
                y = tf.reduce_sum(head(head_model(xb, training=False))[pick][:, c])
            # The images of a batch are independent (inference mode), so the gradient of
            # the sum is each image's gradient; summed here to return one (H, W, C).
            return tf.reduce_sum(tf.cast(tape.gradient(y, xb), tf.float32), axis=0)

        return tf.function(grad, reduce_retracing=True, autograph=False)

    def _make_unit(self, layer_name: str, score: str) -> Any:
        import tensorflow as tf

        sub = self._sub(layer_name, with_head=False)

        def unit(x: Any, r: Any, c: Any, k: Any) -> Any:
            with tf.GradientTape() as tape:
                tape.watch(x)
                y = sub(x, training=False)[0, r, c, k]
            return tf.cast(tape.gradient(y, x), tf.float32)[0]

        return tf.function(unit, reduce_retracing=True, autograph=False)

    # .. checks
    def _check_x(self, x: Any) -> np.ndarray:
        a = np.asarray(x)
        if not np.issubdtype(a.dtype, np.floating):
            raise ValueError(
                f"x must be a float model input (LoadedModel.prepare gives one). "
                f"Received dtype {a.dtype}"
            )
        expected = self.input_shape
        if a.ndim != 3 or any(
            e is not None and e != g for e, g in zip(expected, a.shape, strict=False)
        ):
            raise ValueError(
                f"x must be one input of shape {expected} (None = any), no batch axis. "
                f"Received shape {a.shape}"
            )
        if not np.isfinite(a).all():
            raise ValueError("x must be finite. Received NaN or infinity")
        return np.ascontiguousarray(a, dtype=np.float32)

    def _check_class(self, class_index: Any) -> int:
        return check_int("class_index", class_index, 0, self.num_classes)

    @staticmethod
    def _check_score(score: str) -> str:
        if score not in SCORES:
            raise ValueError(f"score must be one of {SCORES}. Received score={score!r}")
        return score

    # .. public
    def probabilities(self, x: np.ndarray) -> np.ndarray:
        """The model's output for one input ``x`` (H, W, C): (classes,) float32."""
        a = self._check_x(x)
        return np.asarray(self._forward(a[None]), dtype=np.float32)[0]

    def grad_cam(
        self,
        x: np.ndarray,
        class_index: int | None = None,
        layer_name: str | None = None,
        score: str = "logit",
    ) -> np.ndarray:
        """Grad-CAM heat map at input resolution: (H, W) float32 in [0, 1].

        Channel weights are the spatial mean of the class score's gradient with respect to
        the layer's maps; the map is the ReLU of the maps' weighted sum, bilinearly
        up-sampled to the input size (half-pixel centres) and divided by its maximum (all
        zeros when that is 0). ``class_index`` None: the top class; ``layer_name`` None:
        ``default_layer``; ``score``: "logit" (the paper's, default) or "probability".
        """
        a = self._check_x(x)
        c = -1 if class_index is None else self._check_class(class_index)
        name = layer_name if layer_name is not None else self.default_layer
        if name is None:
            raise ValueError(
                f"the model '{self.name}' has no convolution layer to use; pass layer_name"
            )
        self._map_layer(name)
        fn = self._fn("cam", name, self._check_score(score))
        small, _ = fn(a[None], np.int32(c))
        try:
            fields = receptive_field_2d(self._get_model(), name)
        except ValueError:  # a layer the graph walk does not know: stretch instead
            fields = None
        heat = place_on_input(np.asarray(small, dtype=np.float32), fields, a.shape[:2])
        peak = float(heat.max())
        return heat / np.float32(peak) if peak > 0 else np.zeros_like(heat)

    def occlusion(
        self,
        x: np.ndarray,
        class_index: int,
        patch: int | tuple[int, int],
        stride: int | tuple[int, int],
        fill: float = 0.0,
        batch_size: int = 64,
        progress: ProgressCallback = no_progress,
        cancelled: CancelCheck = never_cancelled,
    ) -> np.ndarray:
        """The drop in p(class) when a patch is hidden, one value per patch position.

        Position (r, c) hides ``x[r*sr : r*sr + ph, c*sc : c*sc + pw]`` (set to ``fill``
        in every channel); only positions with the patch fully inside are used, so the
        result is ((H - ph) // sr + 1, (W - pw) // sc + 1) float32, value
        ``p(class | x) - p(class | x occluded)``: positive where hiding hurts the class.

        Runs ``batch_size`` occluded copies per model call; calls ``progress(fraction,
        message)`` before the first and after each batch, and checks ``cancelled()``
        between batches: when it returns True, raises ``InterruptedError("cancelled")``.
        Always a full re-inference per position; ``occlusion_map`` is the faster,
        incremental sweep with the same values.
        """
        a, c, p, s, fill, batch_size = self._check_occlusion(
            x, class_index, patch, stride, fill, batch_size
        )
        return self._occlusion_full(a, c, p, s, fill, batch_size, progress, cancelled)

    def occlusion_map(
        self,
        x: np.ndarray,
        class_index: int,
        patch: int | tuple[int, int],
        stride: int | tuple[int, int],
        fill: float = 0.0,
        mode: str = "exact",
        tau: float | None = None,
        batch_size: int = 64,
        progress: ProgressCallback = no_progress,
        cancelled: CancelCheck = never_cancelled,
        positions: Sequence[int] | None = None,
    ) -> Occlusion:
        """``occlusion``'s drops, computed incrementally where the graph allows, and how.

        ``mode``: "exact" (default: Krypton's incremental inference, each layer recomputed
        only where the patch reaches; the drops equal ``occlusion``'s up to rounding),
        "approximate" (regions capped at ``tau`` of each map axis, default
        ``incremental.DEFAULT_TAU``; faster, not exact) or "full" (``occlusion``'s loop).
        A graph with a layer the incremental pass cannot run on part of a map falls back
        to "full"; the result's ``method`` and ``note`` say what ran and why (see
        ``engine.explanation.incremental``). ``positions``: flat indices (row * cols +
        col) of the positions to compute, the others NaN (None: all). Progress and
        cancelling as ``occlusion``.
        """
        from engine.explanation import incremental

        a, c, p, s, fill, batch_size = self._check_occlusion(
            x, class_index, patch, stride, fill, batch_size
        )
        if mode not in incremental.MODES:
            raise ValueError(f"mode must be one of {incremental.MODES}. Received mode={mode!r}")
        if tau is None:
            tau = incremental.DEFAULT_TAU
        if isinstance(tau, bool) or not isinstance(tau, (int, float)) or not 0 < tau <= 1:
            raise ValueError(f"tau must be a number in (0, 1]. Received tau={tau!r}")
        total = ((a.shape[0] - p[0]) // s[0] + 1) * ((a.shape[1] - p[1]) // s[1] + 1)
        if positions is not None:
            positions = [check_int("positions", q, 0, total) for q in positions]
            if not positions:
                raise ValueError("positions must name at least one position. Received []")
        return incremental.occlusion_map(
            self, a, c, p, s, fill, mode, float(tau), batch_size, progress, cancelled, positions
        )

    def _check_occlusion(
        self,
        x: Any,
        class_index: Any,
        patch: Any,
        stride: Any,
        fill: Any,
        batch_size: Any,
    ) -> tuple[np.ndarray, int, tuple[int, int], tuple[int, int], float, int]:
        a = self._check_x(x)
        c = self._check_class(class_index)
        h, w = a.shape[:2]
        p = _check_pair("patch", patch, (h, w))
        s = _check_pair("stride", stride, (h, w))
        batch_size = check_int("batch_size", batch_size, 1)
        if isinstance(fill, bool) or not isinstance(fill, (int, float, np.number)):
            raise ValueError(f"fill must be a number. Received fill={fill!r}")
        if not math.isfinite(float(fill)):
            raise ValueError(f"fill must be finite. Received fill={fill!r}")
        return a, c, p, s, float(fill), batch_size

    def _occlusion_full(
        self,
        a: np.ndarray,
        c: int,
        patch: tuple[int, int],
        stride: tuple[int, int],
        fill: float,
        batch_size: int,
        progress: ProgressCallback,
        cancelled: CancelCheck,
        positions: Sequence[int] | None = None,
    ) -> np.ndarray:
        """One full re-inference per position, ``batch_size`` per call (NaN where not asked)."""
        (ph, pw), (sr, sc) = patch, stride
        h, w = a.shape[:2]
        rows, cols = (h - ph) // sr + 1, (w - pw) // sc + 1
        total = rows * cols
        todo = np.arange(total) if positions is None else np.asarray(positions, np.int64)
        n = len(todo)
        base = float(np.asarray(self._forward(a[None]))[0, c])
        drops = np.full(total, np.nan, np.float32)
        progress(0.0, f"occlusion: 0 of {n} positions")
        for first in range(0, n, batch_size):
            if cancelled():
                raise InterruptedError("cancelled")
            index = todo[first : first + batch_size]
            batch = np.repeat(a[None], len(index), axis=0)
            for j, p in enumerate(index):
                r, q = divmod(int(p), cols)
                batch[j, r * sr : r * sr + ph, q * sc : q * sc + pw, :] = fill
            probs = np.asarray(self._forward(batch))[:, c]
            drops[index] = base - probs
            done = first + len(index)
            progress(done / n, f"occlusion: {done} of {n} positions")
        return drops.reshape(rows, cols)

    def _occlusion_plan(
        self,
        patch: tuple[int, int],
        stride: tuple[int, int],
        grid: tuple[int, int],
        tau: float | None,
    ) -> Any:
        """The incremental plan for this sweep geometry, made once (or its ``Unsupported``)."""
        from engine.explanation import incremental

        key = (patch, stride, grid, tau)
        if key not in self._plans:
            if len(self._plans) >= 4:  # each holds compiled functions: keep the latest few
                del self._plans[next(iter(self._plans))]
            try:
                self._plans[key] = incremental._Plan(self._graph, patch, stride, grid, tau)
            except incremental.Unsupported as exc:
                self._plans[key] = str(exc)
        found = self._plans[key]
        if isinstance(found, str):
            raise incremental.Unsupported(found)
        return found

    def saliency(
        self,
        x: np.ndarray,
        class_index: int,
        samples: int = 0,
        noise: float = 0.15,
        seed: int = 0,
        score: str = "probability",
        batch_size: int = 16,
    ) -> np.ndarray:
        """|d score(class) / d x|, the maximum over channels: (H, W) float32.

        With ``samples`` > 0, SmoothGrad: the gradient is the mean of the gradients at
        ``samples`` noisy copies ``x + n``, ``n = noise * (max(x) - min(x)) *
        np.random.default_rng(seed).standard_normal((samples, H, W, C))``, run
        ``batch_size`` copies per call; then its absolute value, the maximum over
        channels. ``score``: "probability" (default) or "logit".
        """
        a = self._check_x(x)
        c = self._check_class(class_index)
        samples = check_int("samples", samples, 0)
        batch_size = check_int("batch_size", batch_size, 1)
        if isinstance(noise, bool) or not isinstance(noise, (int, float)) or not noise >= 0:
            raise ValueError(f"noise must be a number >= 0. Received noise={noise!r}")
        fn = self._fn("grad", "", self._check_score(score))
        if samples == 0:
            grad = np.asarray(fn(a[None], np.int32(c)))
        else:
            sigma = np.float32(noise * float(a.max() - a.min()))
            rng = np.random.default_rng(seed)
            grad = np.zeros(a.shape, np.float32)
            for first in range(0, samples, batch_size):
                n = min(batch_size, samples - first)
                noisy = a[None] + sigma * rng.standard_normal((n, *a.shape), dtype=np.float32)
                grad += np.asarray(fn(noisy, np.int32(c)))
            grad /= np.float32(samples)
        return np.abs(grad).max(axis=-1).astype(np.float32)

    def effective_receptive_field(
        self, x: np.ndarray, layer_name: str, channel: int, row: int, col: int
    ) -> np.ndarray:
        """|d unit / d x|, the maximum over channels: (H, W) float32.

        The unit is ``layer_name``'s output at [row, col, channel] for input ``x``. Its
        non-zero pixels lie inside the theoretical ``receptive_box``.
        """
        a = self._check_x(x)
        layer = self._map_layer(layer_name)
        _, oh, ow, ok = tuple(layer.output.shape)
        sub_shape = None in (oh, ow, ok)
        if sub_shape:  # a model taking any size: the map size follows this input
            _, oh, ow, ok = (int(d) for d in self._sub(layer_name, False)(a[None]).shape)
        k = check_int("channel", channel, 0, int(ok))
        r = check_int("row", row, 0, int(oh))
        q = check_int("col", col, 0, int(ow))
        fn = self._fn("unit", layer_name, "")
        grad = np.asarray(fn(a[None], np.int32(r), np.int32(q), np.int32(k)))
        return np.abs(grad).max(axis=-1).astype(np.float32)


def _input_layer_type() -> type:
    import keras

    return keras.layers.InputLayer


_EXPLAINERS: weakref.WeakKeyDictionary[Any, Explainer] = weakref.WeakKeyDictionary()
_LOCK = threading.Lock()


def explainer(model: keras.Model) -> Explainer:
    """The ``Explainer`` of ``model``, made on first use and kept while the model lives."""
    with _LOCK:
        found = _EXPLAINERS.get(model)
        if found is None:
            found = _EXPLAINERS[model] = Explainer(model)
        return found


def grad_cam(
    model: keras.Model,
    x: np.ndarray,
    class_index: int | None = None,
    layer_name: str | None = None,
    score: str = "logit",
) -> np.ndarray:
    """Grad-CAM of one input: (H, W) float32 in [0, 1] (see ``Explainer.grad_cam``)."""
    return explainer(model).grad_cam(x, class_index, layer_name, score)


def occlusion(
    model: keras.Model,
    x: np.ndarray,
    class_index: int,
    patch: int | tuple[int, int],
    stride: int | tuple[int, int],
    fill: float = 0.0,
    batch_size: int = 64,
    progress: ProgressCallback = no_progress,
    cancelled: CancelCheck = never_cancelled,
) -> np.ndarray:
    """Occlusion sensitivity: the drop in p(class) per patch position (see ``Explainer``).

    Raises ``InterruptedError("cancelled")`` when ``cancelled()`` turns true between batches.
    """
    return explainer(model).occlusion(
        x, class_index, patch, stride, fill, batch_size, progress, cancelled
    )


def occlusion_map(
    model: keras.Model,
    x: np.ndarray,
    class_index: int,
    patch: int | tuple[int, int],
    stride: int | tuple[int, int],
    fill: float = 0.0,
    mode: str = "exact",
    tau: float | None = None,
    batch_size: int = 64,
    progress: ProgressCallback = no_progress,
    cancelled: CancelCheck = never_cancelled,
) -> Occlusion:
    """Occlusion sensitivity, incremental where it can be: an ``Occlusion`` with the drops
    (as ``occlusion``'s), ``method`` ("incremental", "approximate" or "full") and ``note``
    (see ``Explainer.occlusion_map``).

    Raises ``InterruptedError("cancelled")`` when ``cancelled()`` turns true between batches.
    """
    return explainer(model).occlusion_map(
        x, class_index, patch, stride, fill, mode, tau, batch_size, progress, cancelled
    )


def saliency(
    model: keras.Model,
    x: np.ndarray,
    class_index: int,
    samples: int = 0,
    noise: float = 0.15,
    seed: int = 0,
    score: str = "probability",
) -> np.ndarray:
    """Saliency |d p(class) / d x| (max over channels), SmoothGrad when ``samples`` > 0."""
    return explainer(model).saliency(x, class_index, samples, noise, seed, score)


def effective_receptive_field(
    model: keras.Model, x: np.ndarray, layer_name: str, channel: int, row: int, col: int
) -> np.ndarray:
    """|d unit / d x| (max over channels) for the unit [row, col, channel] of a layer."""
    return explainer(model).effective_receptive_field(x, layer_name, channel, row, col)


def place_on_input(
    heat: np.ndarray,
    fields: tuple[ReceptiveField, ReceptiveField] | None,
    input_hw: tuple[int, int],
) -> np.ndarray:
    """A map-resolution heat map (h, w) laid on the input (H, W): each map cell sits where
    its receptive field is centred (``start + i * jump``), linear between cells and
    constant beyond the outer ones. Without ``fields``, the map is stretched corner to
    corner (wrong by the border a 'valid' convolution trims, so only a fallback).

    The lecture CNN's conv2d_2 (24x24, cells centred on input pixels 2..25):

    >>> rf = ReceptiveField(5, 1, 2.0)
    >>> h = np.arange(24.0)[None, :].repeat(24, axis=0)
    >>> place_on_input(h, (rf, rf), (28, 28))[0, [0, 1, 2, 3, 25, 26, 27]].tolist()
    [0.0, 0.0, 0.0, 1.0, 23.0, 23.0, 23.0]
    """
    a = np.asarray(heat, dtype=np.float64)
    if a.ndim != 2:
        raise ValueError(f"heat must be (h, w). Received shape {a.shape}")
    h, w = a.shape
    big_h, big_w = (int(v) for v in input_hw)
    if fields is None:
        rows = np.linspace(0, h - 1, big_h)
        cols = np.linspace(0, w - 1, big_w)
    else:
        rows = (np.arange(big_h) - fields[0].start) / fields[0].jump
        cols = (np.arange(big_w) - fields[1].start) / fields[1].jump
    along_rows = np.stack([np.interp(rows, np.arange(h), a[:, j]) for j in range(w)], axis=1)
    out = np.stack([np.interp(cols, np.arange(w), r) for r in along_rows], axis=0)
    return out.astype(np.float32)


@dataclass(frozen=True)
class HeatMap:
    """A heat map as it is drawn, with the real values its colours stand for.

    ``shown``: (H, W) float32 in [0, 1], what the colour map draws; 0 stands for ``low``
    and 1 for ``high``, in ``unit``. ``what`` says in words what is measured, its sign
    choice included; ``axis`` is a short name for a colour bar. ``clipped``: values above
    ``high`` (up to ``peak``) exist and are drawn as 1 (a robust scale: a few extreme
    pixels would leave every other one dark).

    >>> heat = scaled_heat(np.array([[0.0, 0.02]]), "the drop", "percentage points",
    ...                    axis="drop", scale=100)
    >>> heat.shown.tolist(), heat.high, heat.describe()
    ([[0.0, 1.0]], 2.0, 'Colour: the drop, 0 to 2 percentage points.')
    """

    shown: np.ndarray
    low: float
    high: float
    what: str
    unit: str = ""
    axis: str = ""
    clipped: bool = False
    peak: float = 0.0

    def describe(self) -> str:
        """One sentence for the person: what the colours measure, from what to what."""
        top = _number(self.high)
        text = f"Colour: {self.what}, {_number(self.low)} to {top}"
        text += f" {self.unit}" if self.unit else ""
        if self.clipped:
            text += (
                f"; the top {100 - ROBUST_PERCENTILE:g}% of pixels (up to "
                f"{_number(self.peak)}) are drawn as {top}"
            )
        return text + "."


#: Gradient maps are scaled to this percentile of their values, not to their maximum.
ROBUST_PERCENTILE = 99.0


def _number(v: float) -> str:
    return f"{v:.3g}" if v != 0 else "0"


def scaled_heat(
    values: np.ndarray,
    what: str,
    unit: str = "",
    axis: str = "",
    scale: float = 1.0,
    robust: bool = False,
) -> HeatMap:
    """A ``HeatMap`` of (H, W) ``values`` from 0 (values below 0 count as 0), multiplied by
    ``scale`` (100 for percentage points). ``robust``: the top of the colour scale is the
    ``ROBUST_PERCENTILE``-th percentile of the values above 0, not their maximum, so that
    a few extreme pixels do not leave every other one dark.
    """
    v = np.maximum(np.nan_to_num(np.asarray(values, dtype=np.float64)), 0.0) * float(scale)
    if v.ndim != 2:
        raise ValueError(f"values must be (H, W). Received shape {v.shape}")
    peak = float(v.max()) if v.size else 0.0
    high = peak
    if robust and peak > 0:
        high = float(np.percentile(v[v > 0], ROBUST_PERCENTILE)) or peak
    shown = np.clip(v / high, 0.0, 1.0) if high > 0 else np.zeros_like(v)
    return HeatMap(
        shown.astype(np.float32), 0.0, high, what, unit, axis, clipped=high < peak, peak=peak
    )


def occlusion_heat(
    drops: np.ndarray,
    patch: int | tuple[int, int],
    stride: int | tuple[int, int],
    input_hw: tuple[int, int],
) -> np.ndarray:
    """Spread an ``occlusion`` result over the input: each pixel gets the mean drop of
    the patch positions that hid it (0 where none did). (H, W) float32.

    >>> occlusion_heat(np.array([[1.0, 3.0]]), 2, 1, (2, 3)).tolist()
    [[1.0, 2.0, 3.0], [1.0, 2.0, 3.0]]
    """
    d = np.asarray(drops, dtype=np.float32)
    if d.ndim != 2:
        raise ValueError(f"drops must be (rows, cols). Received shape {d.shape}")
    h, w = (int(v) for v in input_hw)
    ph, pw = _pair(patch)
    sr, sc = _pair(stride)
    total = np.zeros((h, w), np.float32)
    count = np.zeros((h, w), np.float32)
    for r in range(d.shape[0]):
        for c in range(d.shape[1]):
            total[r * sr : r * sr + ph, c * sc : c * sc + pw] += d[r, c]
            count[r * sr : r * sr + ph, c * sc : c * sc + pw] += 1
    return np.divide(total, count, out=np.zeros_like(total), where=count > 0)
