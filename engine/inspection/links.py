"""How a layer's values come from the layer before it: headless rules, numpy only.

The lecture's pooling slide: pooling "operates over each activation map independently",
so a pooled map is shown beside the same map of the layer before it, and a pixel of it
frames the window it came from. After the last maps, ``Flatten`` lays them out as one
vector and a ``Dense`` layer weighs every value of it: an index of that vector is a
(row, col, channel) of the maps, and a Dense unit's weights are maps of their own.

Everything here takes a Keras model or an ONNX model (``OnnxNetwork``); Keras is imported
inside the functions, and no Qt is, so the rules can move to ``engine/inspection`` as
they are. Layer kinds are told apart with ``isinstance`` for Keras (never by class name)
and by the node's operator for ONNX.

>>> PoolWindow(size=(2, 2), stride=(2, 2), offset=(0, 0)).of(3, 5, (24, 24))
(6, 10, 2, 2)
>>> FlatSource("pool", (12, 12, 64)).position(1234)
(1, 7, 18)
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

#: Layer kinds these rules know (``layer_kind``).
MAX_POOL = "max pooling"
AVERAGE_POOL = "average pooling"
FLATTEN = "flatten"
DENSE = "dense"
#: Layers that pass their input unchanged at inference (Dropout and its kin).
IDENTITY = "identity"

_ONNX_KINDS = {
    "MaxPool": MAX_POOL,
    "AveragePool": AVERAGE_POOL,
    "Flatten": FLATTEN,
    "Gemm": DENSE,
    "Dropout": IDENTITY,
    "Identity": IDENTITY,
}
#: Keras layers that are the identity at inference.
_KERAS_IDENTITY = (
    "Dropout",
    "SpatialDropout1D",
    "SpatialDropout2D",
    "SpatialDropout3D",
    "GaussianDropout",
    "GaussianNoise",
    "AlphaDropout",
    "ActivityRegularization",
    "Identity",
)


def _is_onnx(model: Any) -> bool:
    from engine.models.onnx_model import is_onnx

    return is_onnx(model)


def layer_kind(model: Any, name: str) -> str | None:
    """``MAX_POOL``, ``AVERAGE_POOL``, ``FLATTEN``, ``DENSE``, ``IDENTITY`` or None.

    >>> from engine.models.mnist_model import build_mnist_cnn
    >>> m = build_mnist_cnn(compile=False)
    >>> [layer_kind(m, n) for n in ("conv2d_1", "max_pooling2d", "dropout_1", "flatten")]
    [None, 'max pooling', 'identity', 'flatten']
    """
    if _is_onnx(model):
        try:
            return _ONNX_KINDS.get(model.layer(name).type)
        except KeyError:
            return None
    import keras

    try:
        layer = model.get_layer(name)
    except ValueError:
        return None
    layers = keras.layers
    if isinstance(layer, layers.MaxPooling2D):
        return MAX_POOL
    if isinstance(layer, layers.AveragePooling2D):
        return AVERAGE_POOL
    if isinstance(layer, layers.Flatten):
        return FLATTEN
    if isinstance(layer, layers.Dense):
        return DENSE
    identity = tuple(getattr(layers, n) for n in _KERAS_IDENTITY if hasattr(layers, n))
    if isinstance(layer, identity):
        return IDENTITY
    return None


def map_before(
    model: Any, maps: Mapping[str, np.ndarray], inbound: Mapping[str, list[str]], layer: str
) -> str | None:
    """The layer whose same map ``layer`` computes each of its maps from, or None.

    That is a layer with one input, that input a layer with maps (H, W, C) of the same
    channel count, and no filter of its own (pooling, Dropout, BatchNormalization, an
    activation, padding: per-map layers; a convolution mixes every map of its input,
    so map k of the layer before is not "its" map). ``inbound`` is
    ``engine.inspection.activations.inbound_layers(model)``.
    """
    names = inbound.get(layer, [])
    if len(names) != 1:
        return None
    here, before = maps.get(layer), maps.get(names[0])
    if here is None or before is None or here.ndim != 3 or before.ndim != 3:
        return None
    if here.shape[2] != before.shape[2] or _mixes_maps(model, layer):
        return None
    return names[0]


def _mixes_maps(model: Any, name: str) -> bool:
    """True for a layer that computes each map from several maps of its input (a
    convolution, a Dense layer on maps), read without copying any weights."""
    if _is_onnx(model):
        return model.layer(name).type in ("Conv", "ConvTranspose", "MatMul", "Gemm")
    import keras

    from engine.inspection.activations import conv_layer_kind

    layer = model.get_layer(name)
    return conv_layer_kind(layer) is not None or isinstance(
        layer, (keras.layers.Dense, keras.layers.EinsumDense)
    )


@dataclass(frozen=True)
class PoolWindow:
    """The window of the map before that one pixel of a layer's map is computed from:
    ``size`` (rows, cols) pixels, ``stride`` (rows, cols) apart, pixel (0, 0)'s starting
    at ``offset`` (rows, cols; negative where 'same' padding starts it before the
    border)."""

    size: tuple[int, int]
    stride: tuple[int, int]
    offset: tuple[int, int]

    def of(self, row: int, col: int, shape: tuple[int, ...]) -> tuple[int, int, int, int]:
        """(top, left, height, width) of pixel (``row``, ``col``)'s window in a map of
        ``shape`` (H, W, ...), clipped at its border."""
        out = []
        for axis, (i, n) in enumerate(zip((row, col), shape[:2], strict=True)):
            start = self.offset[axis] + i * self.stride[axis]
            lo, hi = max(start, 0), min(start + self.size[axis], int(n))
            out.append((lo, max(hi - lo, 0)))
        (top, h), (left, w) = out
        return top, left, h, w

    def text(self) -> str:
        """ "2x2 windows, stride 2"; "3x2 windows, strides 2 and 1" """
        (h, w), (sh, sw) = self.size, self.stride
        stride = f"stride {sh}" if sh == sw else f"strides {sh} and {sw}"
        return f"{h}x{w} windows, {stride}"


def _whole(value: float) -> int | None:
    n = round(value)
    return int(n) if math.isclose(value, n, abs_tol=1e-6) else None


def axis_window(p: Any, f: Any) -> tuple[int, int, int] | None:
    """(size, stride, offset) along one axis of the window of a layer with receptive
    field ``f`` in the layer before it, whose field is ``p`` (``ReceptiveField`` s:
    size, jump, start); None where it is not a whole number of pixels.

    A pixel of the layer spans ``(f.size - p.size) / p.jump + 1`` pixels before,
    ``f.jump / p.jump`` apart.

    >>> from engine.explanation.attribution import ReceptiveField as RF
    >>> axis_window(RF(5, 1, 2.0), RF(6, 2, 2.5))  # the MNIST CNN's max pooling
    (2, 2, 0)
    """
    if not p.jump:
        return None
    size = _whole((f.size - p.size) / p.jump + 1)
    stride = _whole(f.jump / p.jump)
    first = (f.start - (f.size - 1) / 2) - (p.start - (p.size - 1) / 2)
    offset = _whole(first / p.jump)
    if size is None or stride is None or offset is None or size < 1 or stride < 1:
        return None
    return size, stride, offset


def fields_2d(model: Any, name: str) -> tuple[Any, Any] | None:
    """Layer ``name``'s receptive field along rows and along columns (Keras: from its
    graph; ONNX: from its nodes' attributes), None where it cannot be read."""
    try:
        if _is_onnx(model):
            return model.receptive_field_2d(name)  # type: ignore[no-any-return]
        from engine.explanation.attribution import receptive_field_2d

        return receptive_field_2d(model, name)
    except (ValueError, KeyError):
        return None


def pool_window(model: Any, before: str, layer: str) -> PoolWindow | None:
    """The window of ``before``'s map that each pixel of ``layer``'s map comes from,
    read from the two layers' receptive fields, so from the layers' own pool sizes,
    strides and padding (a Keras layer's, an ONNX node's attributes); None where a field
    is unknown (an ONNX node of unknown geometry) or the window is not a whole number
    of pixels.

    >>> from engine.models.mnist_model import build_mnist_cnn
    >>> pool_window(build_mnist_cnn(compile=False), "conv2d_2", "max_pooling2d")
    PoolWindow(size=(2, 2), stride=(2, 2), offset=(0, 0))
    """
    p, f = fields_2d(model, before), fields_2d(model, layer)
    if p is None or f is None:
        return None
    axes = [axis_window(p[i], f[i]) for i in (0, 1)]
    if axes[0] is None or axes[1] is None:
        return None
    (h, sh, oh), (w, sw, ow) = axes
    return PoolWindow((h, w), (sh, sw), (oh, ow))


def window_arithmetic(kind: str | None, window: np.ndarray, value: float) -> str:
    """How a pooled value comes from its window, as a person writes it.

    >>> window_arithmetic(MAX_POOL, np.array([[1.0, 6.0], [5.0, 2.0]]), 6.0)
    'max(1, 6, 5, 2) = 6'
    """
    name = {MAX_POOL: "max", AVERAGE_POOL: "mean"}.get(kind or "")
    values = np.asarray(window, dtype=np.float64).ravel()
    if name is None or values.size == 0:
        return ""
    if values.size > 9:
        h, w = window.shape[:2]
        return f"{name} of the {h}x{w} window = {value:.4g}"
    return f"{name}({', '.join(f'{v:.3g}' for v in values)}) = {value:.4g}"


@dataclass(frozen=True)
class FlatSource:
    """The maps a flat vector was laid out from: layer ``layer``'s (H, W, C) ``shape``,
    in Keras' channels-last order (row, then column, then channel, the channel changing
    fastest), or channel-first for an ONNX graph that flattens NCHW tensors.

    >>> s = FlatSource("pool", (12, 12, 64))
    >>> s.position(0), s.position(63), s.position(64), s.index(1, 7, 18)
    ((0, 0, 0), (0, 0, 63), (0, 1, 0), 1234)
    """

    layer: str
    shape: tuple[int, int, int]
    channels_first: bool = False

    @property
    def size(self) -> int:
        h, w, c = self.shape
        return h * w * c

    def position(self, index: int) -> tuple[int, int, int]:
        """(row, col, channel) of flat ``index``."""
        if not 0 <= index < self.size:
            raise ValueError(f"index must be in [0, {self.size}). Received: index={index}")
        h, w, c = self.shape
        if self.channels_first:
            ch, row, col = np.unravel_index(index, (c, h, w))
        else:
            row, col, ch = np.unravel_index(index, (h, w, c))
        return int(row), int(col), int(ch)

    def index(self, row: int, col: int, channel: int) -> int:
        """The flat index of (``row``, ``col``, ``channel``)."""
        h, w, c = self.shape
        if self.channels_first:
            return int(np.ravel_multi_index((channel, row, col), (c, h, w)))
        return int(np.ravel_multi_index((row, col, channel), (h, w, c)))

    def on_maps(self, flat: np.ndarray) -> np.ndarray:
        """A flat vector (N,) laid back on the maps: (H, W, C)."""
        v = np.asarray(flat).ravel()
        if v.size != self.size:
            raise ValueError(f"a vector of {self.size} values is needed. Received {v.size}")
        h, w, c = self.shape
        if self.channels_first:
            return v.reshape(c, h, w).transpose(1, 2, 0)
        return v.reshape(h, w, c)


def _through_identity(model: Any, inbound: Mapping[str, list[str]], name: str) -> str:
    """``name``, or the layer a chain of Dropout-like layers ending at it passes on."""
    seen = set()
    while layer_kind(model, name) == IDENTITY and name not in seen:
        seen.add(name)
        parents = inbound.get(name, [])
        if len(parents) != 1:
            break
        name = parents[0]
    return name


def flat_source(
    model: Any, maps: Mapping[str, np.ndarray], inbound: Mapping[str, list[str]], layer: str
) -> FlatSource | None:
    """Where the values of Flatten ``layer`` come from: the maps it lays out (Dropout and
    the like on the way passed through, so the maps are named by the layer that made
    them: ``max_pooling2d`` rather than ``dropout_1``); None for another layer."""
    if layer_kind(model, layer) != FLATTEN:
        return None
    parents = inbound.get(layer, [])
    if len(parents) != 1:
        return None
    direct = parents[0]
    name = _through_identity(model, inbound, direct)
    a = maps.get(name)
    flat = maps.get(layer)
    if a is None or a.ndim != 3 or flat is None or a.size != flat.size:
        return None
    channels_first = False
    if _is_onnx(model):
        try:
            channels_first = model.layer(direct).layout == "NCHW"
        except KeyError:
            return None
    else:
        fmt = getattr(model.get_layer(layer), "data_format", "channels_last")
        if fmt == "channels_first":
            return None  # maps in channels-first order: not the (H, W, C) maps shown
    h, w, c = a.shape
    return FlatSource(name, (int(h), int(w), int(c)), channels_first)


def dense_source(
    model: Any, maps: Mapping[str, np.ndarray], inbound: Mapping[str, list[str]], layer: str
) -> tuple[str, FlatSource] | None:
    """For a Dense ``layer`` whose input is a Flatten of maps: (that Flatten's name, its
    ``FlatSource``); None otherwise."""
    if layer_kind(model, layer) != DENSE:
        return None
    parents = inbound.get(layer, [])
    if len(parents) != 1:
        return None
    flatten = _through_identity(model, inbound, parents[0])
    source = flat_source(model, maps, inbound, flatten)
    return None if source is None else (flatten, source)


def dense_unit_weights(model: Any, layer: str, unit: int) -> tuple[np.ndarray, float] | None:
    """Unit ``unit`` of a Keras Dense ``layer``: its weights (its column of the kernel,
    (inputs,)) and its bias; None for an ONNX model (its Gemm weights are not read here)
    or a layer without a 2-D kernel. Only the column is read (VGG16's fc1 kernel is
    411 MB; one unit's weights, 100 kB).

    >>> import keras
    >>> m = keras.Sequential([keras.Input((6,)), keras.layers.Dense(3, name="d")])
    >>> column, bias = dense_unit_weights(m, "d", 2)
    >>> column.shape, bias
    ((6,), 0.0)
    """
    if _is_onnx(model) or layer_kind(model, layer) != DENSE:
        return None
    dense = model.get_layer(layer)
    if len(dense.kernel.shape) != 2 or not 0 <= unit < dense.kernel.shape[1]:
        return None
    column = np.asarray(dense.kernel[:, unit])
    bias = float(np.asarray(dense.bias[unit])) if dense.use_bias else 0.0
    return column, bias
