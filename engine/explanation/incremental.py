"""Incremental occlusion: recompute only what a hidden patch can change.

Krypton (Nakandala, Kumar & Papakonstantinou, SIGMOD 2019, "Incremental and Approximate
Inference for Faster Occlusion-based Deep CNN Explanations") treats an occlusion sweep as
incremental view maintenance. The unoccluded input's activations are computed once; for
each patch position only the region of each layer's map that the patch can reach is
recomputed, reading the rest from those cached activations. The regions of a batch of
positions have one size per layer, so they run as one batch of crops through the layer's
own weights. Where a layer's region covers its whole map (or the map is reduced to a
vector: ``Flatten``, global pooling), the cached map with the crop pasted in becomes the
whole map, and from there on the rest of the network runs normally on the batch.

Region arithmetic, per axis, for an output cell ``o`` of a sliding window of ``k'`` taps
(dilation included), stride ``s`` and ``pad`` cells of padding before the first: it reads
the input cells ``[o s - pad, o s - pad + k')``. The window arithmetic is the receptive
field's (``attribution._layer_axes`` of one layer: size ``k'``, jump ``s``, start
``(k' - 1) / 2 - pad``). A changed input interval ``[lo, hi)`` changes the outputs
``[(lo + pad - k') // s + 1, ceil((hi + pad) / s))``; to recompute an output interval the
layer reads the input window above, taken from the cached map with the changed crop pasted
in and padded explicitly where it passes the border (zeros; minus infinity for max
pooling), then runs with 'valid' padding.

Exact: the drops equal a full re-inference per position up to floating-point rounding
(about 1e-7 on probabilities). Approximate (Krypton's projective-field threshold ``tau``):
a region is never let grow beyond ``ceil(tau * n)`` cells of an ``n``-cell map axis (it is
cut around its centre), so deep layers see only part of the patch's effect.

Supported while a region covers only part of a map (channels-last, float32): ``Conv2D``,
``DepthwiseConv2D``, ``SeparableConv2D``, ``MaxPooling2D``, ``AveragePooling2D`` ('valid',
or 'same' where it pads nothing), ``ZeroPadding2D``, ``Cropping2D``, and layers that work
on each map cell alone (batch and layer normalisation, activations, dropout, rescaling,
``Dense``, ``Add`` and the other merges, ``Concatenate`` on channels). Any layer after the
region covers the map. Any other layer while a region is partial (``UpSampling2D``,
``Conv2DTranspose``, a nested model, a ``Lambda``): the whole sweep falls back to full
re-inference, and the result says so.

>>> import keras
>>> from engine.explanation.attribution import Explainer
>>> inp = keras.Input((16, 16, 1))
>>> h = keras.layers.Conv2D(4, 3, padding="same", activation="relu")(inp)
>>> out = keras.layers.Dense(3, activation="softmax")(keras.layers.Flatten()(h))
>>> ex = Explainer(keras.Model(inp, out))
>>> result = ex.occlusion_map(np.ones((16, 16, 1), np.float32), 0, 4, 4)
>>> result.drops.shape, result.method
((4, 4), 'incremental')
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import TYPE_CHECKING, Any

import numpy as np

from engine.explanation.attribution import _PIXEL, _layer_axes, _node_of
from engine.util.progress import CancelCheck, ProgressCallback, never_cancelled, no_progress

if TYPE_CHECKING:
    from engine.explanation.attribution import Explainer

#: What ``occlusion_map`` may be asked for.
MODES = ("exact", "approximate", "full")
#: What ran: ``Occlusion.method``.
METHODS = ("incremental", "approximate", "full")
#: Krypton's projective-field threshold for the approximate mode: a region grows to at most
#: this fraction of a map axis. Chosen on bench/occlusion.py (VGG16, patch 16, stride 8),
#: where the approximate heat map's correlation with the exact one stays >= 0.95.
DEFAULT_TAU = 0.6


@dataclass(frozen=True)
class Occlusion:
    """An occlusion sweep's result and how it was computed.

    ``drops``: (rows, cols) float32, ``p(class | x) - p(class | x occluded)`` per patch
    position (NaN for positions that were not asked for). ``method``: "incremental"
    (exact, only the reachable regions recomputed), "approximate" (regions capped at
    ``tau`` of each map axis) or "full" (one full re-inference per position). ``note``:
    a sentence or two for a person saying what ran and, for a fallback, why. ``tau`` and
    ``agreement`` (the correlation with the exact pass on the checked positions): for
    "approximate" only.
    """

    drops: np.ndarray
    method: str
    note: str
    tau: float | None = None
    agreement: float | None = None

    @property
    def exact(self) -> bool:
        """True unless the approximate mode ran."""
        return self.method != "approximate"


class Unsupported(Exception):
    """The graph has a layer the incremental pass cannot compute on a crop."""


# -- the plan ---------------------------------------------------------------------------
@dataclass
class _Crop:
    """A tensor recomputed on a fixed-size crop per position: rows ``r0[p]:r0[p] + h``."""

    r0: np.ndarray
    c0: np.ndarray
    h: int
    w: int


@dataclass
class _Edge:
    """How a step reads one input tensor.

    ``how``: "batch" (the source is a whole batch tensor already), "cache" (the source did
    not change: the cached map, repeated per position), "direct" (the source crop is the
    window), "gather" (a window per position from the cached map, padded by ``pads`` with
    ``pad_value``, with the source's crop pasted in when it has one).
    """

    source: int
    how: str
    r0: np.ndarray | None = None
    c0: np.ndarray | None = None
    h: int = 0
    w: int = 0
    pads: tuple[int, int, int, int] = (0, 0, 0, 0)
    pad_value: float = 0.0


@dataclass
class _Step:
    node: Any
    mode: str  # "crop": the layer on windows ('valid'); "batch": the layer as the model runs it
    edges: list[_Edge]
    crop: _Crop | None = None  # the output crop, in "crop" mode
    compute: Callable[[list[Any]], Any] | None = None


class _Plan:
    """Everything that does not depend on the input values: regions, windows, steps."""

    def __init__(
        self,
        graph: Any,
        patch: tuple[int, int],
        stride: tuple[int, int],
        grid: tuple[int, int],
        tau: float | None,
    ) -> None:
        import keras

        self.tau = tau
        model_input = graph.inputs[0]
        self.input_id = id(model_input)
        self.output_id = id(graph.outputs[0])
        rows, cols = grid
        pos = np.arange(rows * cols)
        r0 = (pos // cols) * stride[0]
        c0 = (pos % cols) * stride[1]
        self.patch = patch
        self.input_crop = _Crop(r0, c0, patch[0], patch[1])
        shapes: dict[int, tuple[int, ...]] = {}
        # Per tensor: its crop (None: a whole batch tensor), its exact changed intervals
        # and the centre of the patch's projection (where an approximate region is cut).
        crops: dict[int, _Crop | None] = {self.input_id: self.input_crop}
        spans: dict[int, tuple[np.ndarray, ...]] = {
            self.input_id: (
                r0,
                r0 + patch[0],
                c0,
                c0 + patch[1],
                r0 + (patch[0] - 1) / 2,
                c0 + (patch[1] - 1) / 2,
            )
        }
        shapes[self.input_id] = _shape(model_input)
        self.steps: list[_Step] = []
        self.cached: list[int] = [self.input_id]  # tensors whose unoccluded map is needed
        for node in _order(graph):
            op = node.operation
            ins = list(node.input_tensors)
            for t in node.outputs:
                shapes[id(t)] = _shape(t)
            changed = [t for t in ins if id(t) in crops]
            if not changed:
                continue  # does not depend on the input (a constant branch): cached
            out_shape = shapes[id(node.outputs[0])]
            partial = [t for t in changed if crops[id(t)] is not None]
            whole = len(partial) < len(changed)  # an input changed all over: so does this
            crop, span, compute = None, None, None
            if partial and not whole and len(out_shape) == 4 and len(node.outputs) == 1:
                geometry = _geometry(op, node)
                if isinstance(geometry, str):
                    raise Unsupported(geometry)
                span = _forward_span([spans[id(t)] for t in partial], geometry, out_shape[1:3], tau)
                crop = _fixed(span, out_shape[1:3])
                if crop is not None:
                    compute = _crop_compute(op, node)
                    if isinstance(compute, str):
                        raise Unsupported(compute)
            elif partial and not whole and len(out_shape) == 4:
                raise Unsupported(f"layer '{op.name}' ({type(op).__name__}) has several outputs")
            edges = []
            for t in ins:
                src = id(t)
                if src not in crops and crop is None:
                    edges.append(_Edge(src, "cache"))
                    self._need_cache(src)
                elif crop is None:  # the layer runs on whole maps
                    source_crop = crops[src]
                    if source_crop is None:
                        edges.append(_Edge(src, "batch"))
                    else:
                        n = shapes[src]
                        edges.append(self._gather(src, source_crop, n, _whole(n, len(pos))))
                else:
                    window = _window_of(crop, geometry)  # type: ignore[arg-type]
                    edges.append(self._gather(src, crops.get(src), shapes[src], window, op))
            step = _Step(node, "batch" if crop is None else "crop", edges, crop, compute)
            self.steps.append(step)
            for t in node.outputs:
                crops[id(t)] = crop
                if span is not None:
                    spans[id(t)] = span
        if self.output_id not in crops:
            raise Unsupported("the model's output does not depend on its input")
        if crops[self.output_id] is not None:
            raise Unsupported("the model's output is a map, not a class vector")
        if not any(s.mode == "crop" for s in self.steps):
            raise Unsupported("no layer after the input could run on part of its map")
        # The unoccluded maps: one forward pass to all cached tensors (the input is x).
        by_id = _tensors(graph)
        self.cache_model = keras.Model(
            model_input, [by_id[i] for i in self.cached if i != self.input_id]
        )
        self.shapes = shapes
        self.crops = crops
        self.last_use = _last_use(self.steps)
        self.gathers = [e for step in self.steps for e in step.edges if e.how == "gather"]
        self._cache_fn: Any = None
        self._fn: Any = None

    def caches(self, a: np.ndarray) -> list[Any]:
        """The unoccluded maps of the cached tensors for input ``a`` (H, W, C), in order."""
        import tensorflow as tf

        if self._cache_fn is None:
            model = self.cache_model
            self._cache_fn = tf.function(
                lambda x: model(x, training=False), reduce_retracing=True, autograph=False
            )
        out = [tf.constant(a[None])]
        if len(self.cached) > 1:
            computed = self._cache_fn(a[None])
            out += list(computed) if isinstance(computed, (list, tuple)) else [computed]
        return out

    def function(self, caches: list[Any]) -> Any:
        """The compiled batch function: any batch size, one trace."""
        import tensorflow as tf

        if self._fn is None:
            channels = self.shapes[self.input_id][3]
            signature = [
                [tf.TensorSpec(t.shape, t.dtype) for t in caches],
                tf.TensorSpec((None, self.patch[0], self.patch[1], channels), tf.float32),
                [tf.TensorSpec((None, e.h, e.w), tf.int32) for e in self.gathers],
            ]
            self._fn = tf.function(_batch_fn(self), input_signature=signature, autograph=False)
        return self._fn

    def _need_cache(self, tensor_id: int) -> None:
        if tensor_id not in self.cached:
            self.cached.append(tensor_id)

    def _gather(
        self,
        src: int,
        source_crop: _Crop | None,
        shape: tuple[int, ...],
        window: _Crop,
        op: Any = None,
    ) -> _Edge:
        if source_crop is not None and (
            window.h == source_crop.h
            and window.w == source_crop.w
            and np.array_equal(window.r0, source_crop.r0)
            and np.array_equal(window.c0, source_crop.c0)
        ):
            return _Edge(src, "direct")
        self._need_cache(src)
        n_r, n_c = shape[1], shape[2]
        pads = (
            max(0, -int(window.r0.min())),
            max(0, int(window.r0.max()) + window.h - n_r),
            max(0, -int(window.c0.min())),
            max(0, int(window.c0.max()) + window.w - n_c),
        )
        from keras import layers

        pad_value = -np.inf if isinstance(op, layers.MaxPooling2D) else 0.0
        return _Edge(src, "gather", window.r0, window.c0, window.h, window.w, pads, pad_value)

    # .. running
    def indices(self, edge: _Edge, pos: np.ndarray) -> np.ndarray:
        """Flat indices of a "gather" edge's windows for positions ``pos``: (B, h, w) int32
        into the padded cached map's cells followed by the batch's crop cells (the crop
        of position ``pos[b]`` is the ``b``-th)."""
        if edge.r0 is None or edge.c0 is None:
            raise ValueError(f"edge of '{edge.source}' has no windows (how={edge.how!r})")
        pt, pb, pl, pr = edge.pads
        _, n_r, n_c, _ = self.shapes[edge.source]
        rows = edge.r0[pos][:, None] + np.arange(edge.h)  # (B, h), source map coordinates
        cols = edge.c0[pos][:, None] + np.arange(edge.w)
        width = n_c + pl + pr
        index = (rows + pt)[:, :, None] * width + (cols + pl)[:, None, :]
        source = self.crops.get(edge.source)
        if source is not None:
            lr = rows - source.r0[pos][:, None]
            lc = cols - source.c0[pos][:, None]
            in_r = (lr >= 0) & (lr < source.h)
            in_c = (lc >= 0) & (lc < source.w)
            local = (
                np.arange(len(pos))[:, None, None] * (source.h * source.w)
                + lr[:, :, None] * source.w
                + lc[:, None, :]
            )
            n_cached = (n_r + pt + pb) * width
            index = np.where(in_r[:, :, None] & in_c[:, None, :], n_cached + local, index)
        return index.astype(np.int32)


def _shape(t: Any) -> tuple[int, ...]:
    dims = tuple(t.shape)[1:]
    if any(d is None for d in dims):
        raise Unsupported(f"the tensor '{t.name}' has shape {tuple(t.shape)}: sizes unknown")
    return (1, *(int(d) for d in dims))


def _tensors(graph: Any) -> dict[int, Any]:
    out = {id(t): t for t in graph.inputs}
    for node in _order(graph):
        for t in node.outputs:
            out[id(t)] = t
    return out


def _order(graph: Any) -> list[Any]:
    """The graph's nodes from the input to the output, each after the nodes it reads."""
    input_ids = {id(t) for t in graph.inputs}
    done: set[int] = set()
    order: list[Any] = []
    first = _node_of(graph.outputs[0])
    stack = [first] if first is not None else []
    while stack:
        node = stack[-1]
        if id(node) in done:
            stack.pop()
            continue
        parents = [
            p
            for t in node.input_tensors
            if id(t) not in input_ids and (p := _node_of(t)) is not None and id(p) not in done
        ]
        if parents and not node.is_input:
            stack.extend(parents)
            continue
        stack.pop()
        done.add(id(node))
        if not node.is_input:
            order.append(node)
    return order


def _last_use(steps: list[_Step]) -> dict[int, int]:
    last: dict[int, int] = {}
    for i, step in enumerate(steps):
        for edge in step.edges:
            last[edge.source] = i
    return last


# -- region arithmetic ---------------------------------------------------------------------
_Geometry = tuple[tuple[int, int, int], tuple[int, int, int]]  # per axis (k', stride, pad)


def _geometry(op: Any, node: Any) -> _Geometry | str:
    """Per axis (taps k', stride, padding before), read from the receptive-field arithmetic
    of this one layer: its output cell 0 sees k' input cells centred on (k'-1)/2 - pad."""
    fields = _layer_axes(op, node, [(_PIXEL, _PIXEL)] * len(node.input_tensors))
    if isinstance(fields, str):
        return fields
    if fields is None:
        return f"layer '{op.name}' ({type(op).__name__}) has no spatial map"
    out = []
    for a in fields:
        pad = (a.size - 1) / 2 - a.start
        if not all(isinstance(v, Fraction) and v.denominator == 1 for v in (a.size, a.jump, pad)):
            return (
                f"layer '{op.name}' ({type(op).__name__}) up-samples its map (stride "
                f"{a.jump}); the incremental pass does not follow it"
            )
        out.append((int(a.size), int(a.jump), int(pad)))
    return out[0], out[1]


def _forward_span(
    inputs: list[tuple[np.ndarray, ...]],
    geometry: _Geometry,
    n_out: tuple[int, int],
    tau: float | None,
) -> tuple[np.ndarray, ...]:
    """The output intervals (r_lo, r_hi, c_lo, c_hi) per position that the changed input
    intervals reach (merges: their bounding box), and the patch's centre (r, c) there.

    With ``tau``, an interval longer than ``ceil(tau * n)`` is cut to that length around
    the patch's centre (Krypton's projective-field threshold): at a border the centre of
    the clipped interval would drift inwards and cut off the cells nearest the patch.
    """
    los, his, centres = [], [], []
    for axis in (0, 1):
        k, s, pad = geometry[axis]
        lo_in = np.stack([span[2 * axis] for span in inputs])
        hi_in = np.stack([span[2 * axis + 1] for span in inputs])
        empty = hi_in <= lo_in
        lo = np.where(empty, np.iinfo(np.int64).max, lo_in).min(axis=0)
        hi = np.where(empty, np.iinfo(np.int64).min, hi_in).max(axis=0)
        none = hi <= lo
        new_lo = np.where(none, 0, np.maximum((lo + pad - k) // s + 1, 0))
        new_hi = np.where(none, 0, np.minimum(-(-(hi + pad) // s), n_out[axis]))
        # Output cell o's window is centred on o s - pad + (k - 1) / 2.
        centre = np.mean([span[4 + axis] for span in inputs], axis=0)
        centre = (centre + pad - (k - 1) / 2) / s
        if tau is not None:
            cap = max(1, math.ceil(tau * n_out[axis]))
            over = new_hi - new_lo > cap
            cut = np.clip(np.round(centre - (cap - 1) / 2).astype(np.int64), new_lo, new_hi - cap)
            new_lo = np.where(over, cut, new_lo)
            new_hi = np.where(over, cut + cap, new_hi)
        los.append(new_lo)
        his.append(new_hi)
        centres.append(centre)
    return los[0], his[0], los[1], his[1], centres[0], centres[1]


def _fixed(span: tuple[np.ndarray, ...], n: tuple[int, int]) -> _Crop | None:
    """One crop size for every position (the largest interval, shifted inside the map);
    None where it covers the whole map."""
    h = int(max(1, (span[1] - span[0]).max()))
    w = int(max(1, (span[3] - span[2]).max()))
    if h >= n[0] and w >= n[1]:
        return None
    h, w = min(h, n[0]), min(w, n[1])
    return _Crop(np.clip(span[0], 0, n[0] - h), np.clip(span[2], 0, n[1] - w), h, w)


def _window_of(crop: _Crop, geometry: _Geometry) -> _Crop:
    """The input window (source map coordinates) a crop of the layer's output reads."""
    (kr, sr, pr), (kc, sc, pc) = geometry
    return _Crop(
        crop.r0 * sr - pr, crop.c0 * sc - pc, (crop.h - 1) * sr + kr, (crop.w - 1) * sc + kc
    )


def _whole(shape: tuple[int, ...], n: int) -> _Crop:
    zeros = np.zeros(n, np.int64)
    return _Crop(zeros, zeros, int(shape[1]), int(shape[2]))


# -- computing a layer on crops --------------------------------------------------------------
def _channels_last(op: Any) -> bool:
    import keras

    return getattr(op, "data_format", keras.config.image_data_format()) == "channels_last"


def _axis_is_channels(axis: Any) -> bool:
    axes = tuple(axis) if isinstance(axis, (list, tuple)) else (axis,)
    return len(axes) == 1 and axes[0] in (-1, 3)


def _per_cell(op: Any, node: Any) -> bool:
    """Layers whose output cell (i, j) depends on the input cells (i, j) alone."""
    from keras import layers

    simple = (
        layers.Activation,
        layers.ReLU,
        layers.LeakyReLU,
        layers.ELU,
        layers.Dropout,
        layers.GaussianNoise,
        layers.GaussianDropout,
        layers.AlphaDropout,
        layers.ActivityRegularization,
        layers.Rescaling,
        layers.Identity,
        layers.Add,
        layers.Subtract,
        layers.Multiply,
        layers.Average,
        layers.Maximum,
        layers.Minimum,
    )
    if isinstance(op, simple):
        return len({tuple(t.shape) for t in node.input_tensors}) == 1
    if isinstance(op, layers.SpatialDropout2D):
        return True
    if isinstance(op, (layers.BatchNormalization, layers.LayerNormalization)):
        return _axis_is_channels(op.axis)
    if isinstance(op, (layers.Softmax, layers.UnitNormalization, layers.Normalization)):
        return _axis_is_channels(op.axis)
    if isinstance(op, layers.Concatenate):
        return _axis_is_channels(op.axis)
    if isinstance(op, layers.PReLU):  # alpha must not vary over the map
        return op.shared_axes is not None and {1, 2} <= set(op.shared_axes)
    return isinstance(op, layers.Dense)  # on a 4-D map: each cell's channels alone


def _call(op: Any, node: Any, values: dict[int, Any]) -> Any:
    """Run ``op`` as the model runs it (Functional's ``_run_through_graph``), in inference."""
    args, kwargs = node.arguments.fill_in(values)
    if "training" in getattr(op, "_call_context_args", {}):
        kwargs["training"] = False
    return op(*args, **kwargs)


def _crop_compute(op: Any, node: Any) -> Callable[[list[Any]], Any] | str:
    """A function of the input windows that gives the layer's output crop ('valid')."""
    from keras import layers, ops

    what = f"layer '{op.name}' ({type(op).__name__})"
    if not _channels_last(op):
        return f"{what} is channels-first; the incremental pass needs channels-last maps"
    if getattr(op, "compute_dtype", "float32") != "float32":
        return f"{what} computes in {op.compute_dtype}; the incremental pass needs float32"

    def finish(out: Any) -> Any:
        if op.use_bias:
            out = ops.add(out, ops.reshape(op.bias, (1, 1, 1, -1)))
        return op.activation(out) if op.activation is not None else out

    if isinstance(op, layers.Conv2D):

        def conv(w: list[Any]) -> Any:
            return finish(
                ops.conv(w[0], op.kernel, op.strides, "valid", "channels_last", op.dilation_rate)
            )

        return conv
    if isinstance(op, layers.DepthwiseConv2D):

        def depthwise(w: list[Any]) -> Any:
            return finish(
                ops.depthwise_conv(
                    w[0], op.kernel, op.strides, "valid", "channels_last", op.dilation_rate
                )
            )

        return depthwise
    if isinstance(op, layers.SeparableConv2D):

        def separable(w: list[Any]) -> Any:
            return finish(
                ops.separable_conv(
                    w[0],
                    op.depthwise_kernel,
                    op.pointwise_kernel,
                    op.strides,
                    "valid",
                    "channels_last",
                    op.dilation_rate,
                )
            )

        return separable
    if isinstance(op, (layers.MaxPooling2D, layers.AveragePooling2D)):
        if isinstance(op, layers.AveragePooling2D) and op.padding != "valid":
            n_in = tuple(node.input_tensors[0].shape)[1:3]
            n_out = tuple(node.outputs[0].shape)[1:3]
            fits = all(
                (n - k) % s == 0 and (n - k) // s + 1 == m
                for n, k, s, m in zip(n_in, op.pool_size, op.strides, n_out, strict=True)
            )
            if not fits:  # TensorFlow's 'same' average leaves padded cells out of the count
                return f"{what} averages over a padded border"
        pool = ops.max_pool if isinstance(op, layers.MaxPooling2D) else ops.average_pool

        def pooling(w: list[Any]) -> Any:
            return pool(w[0], op.pool_size, op.strides, "valid", "channels_last")

        return pooling
    if isinstance(op, (layers.ZeroPadding2D, layers.Cropping2D)):
        return lambda w: w[0]  # the padded (or cropped) window is the output crop
    if _per_cell(op, node):
        ids = [id(t) for t in node.input_tensors]
        return lambda w: _call(op, node, dict(zip(ids, w, strict=True)))
    return (
        f"{what} is not supported by the incremental pass while the patch's region covers "
        "only part of its map"
    )


# -- running --------------------------------------------------------------------------------
def _batch_fn(plan: _Plan) -> Callable[..., Any]:
    """One batch of positions through the plan: (caches, input crop, indices) -> output."""
    import tensorflow as tf

    cache_slot = {tid: i for i, tid in enumerate(plan.cached)}

    def run(caches: Sequence[Any], crop_in: Any, indices: Sequence[Any]) -> Any:
        values: dict[int, Any] = {plan.input_id: crop_in}
        batch = tf.shape(crop_in)[0]
        flat: dict[tuple[int, tuple[int, int, int, int], float], Any] = {}
        k = 0
        for i, step in enumerate(plan.steps):
            windows = []
            for edge in step.edges:
                if edge.how in ("batch", "direct"):
                    windows.append(values[edge.source])
                elif edge.how == "cache":
                    cached = caches[cache_slot[edge.source]]
                    windows.append(tf.repeat(cached, batch, axis=0))
                else:
                    key = (edge.source, edge.pads, edge.pad_value)
                    if key not in flat:
                        cached = caches[cache_slot[edge.source]][0]
                        pt, pb, pl, pr = edge.pads
                        padded = tf.pad(
                            cached, [[pt, pb], [pl, pr], [0, 0]], constant_values=edge.pad_value
                        )
                        flat[key] = tf.reshape(padded, (-1, cached.shape[-1]))
                    source = flat[key]
                    crop = values.get(edge.source)
                    if crop is not None:
                        source = tf.concat([source, tf.reshape(crop, (-1, crop.shape[-1]))], 0)
                    windows.append(tf.gather(source, indices[k]))
                    k += 1
            node = step.node
            if step.mode == "crop":
                out = [step.compute(windows)]  # type: ignore[misc]
            else:
                ids = [id(t) for t in node.input_tensors]
                result = _call(node.operation, node, dict(zip(ids, windows, strict=True)))
                out = result if len(node.outputs) > 1 else [result]
            for t, v in zip(node.outputs, out, strict=True):
                values[id(t)] = v
            for edge in step.edges:
                if plan.last_use.get(edge.source) == i and edge.source != plan.output_id:
                    values.pop(edge.source, None)
        return values[plan.output_id]

    return run


#: The approximate mode first compares itself with the exact pass on this many positions
#: (spread over the sweep) and runs only where their correlation reaches ``AGREEMENT``.
CHECK_POSITIONS = 32
AGREEMENT = 0.95


def occlusion_map(
    ex: Explainer,
    a: np.ndarray,
    c: int,
    patch: tuple[int, int],
    stride: tuple[int, int],
    fill: float,
    mode: str = "exact",
    tau: float = DEFAULT_TAU,
    batch_size: int = 64,
    progress: ProgressCallback = no_progress,
    cancelled: CancelCheck = never_cancelled,
    positions: Sequence[int] | None = None,
) -> Occlusion:
    """The sweep of ``Explainer.occlusion_map`` (arguments checked there)."""
    h, w = a.shape[:2]
    rows, cols = (h - patch[0]) // stride[0] + 1, (w - patch[1]) // stride[1] + 1
    total = rows * cols
    pos = np.arange(total) if positions is None else np.asarray(positions, dtype=np.int64)
    drops = np.full(total, np.nan, np.float32)
    reason = ""
    plan = None
    if mode != "full":
        try:
            plan = ex._occlusion_plan(patch, stride, (rows, cols), None)
        except Unsupported as exc:
            reason = str(exc)
    if plan is None:
        drops = ex._occlusion_full(a, c, patch, stride, fill, batch_size, progress, cancelled, pos)
        note = "Full re-inference: the whole network ran once per patch position"
        note += f" (the incremental pass cannot: {reason})." if reason else "."
        return Occlusion(drops, "full", note)

    base = float(np.asarray(ex._forward(a[None]))[0, c])
    caches = plan.caches(a)
    sweep = _Sweep(a, c, fill, base, batch_size, cancelled)
    n = len(pos)
    done = 0  # positions run so far, the check's included
    work = n
    todo = pos
    if mode == "approximate" and n <= 2 * CHECK_POSITIONS:
        reason = (
            f"{n} positions are too few for the approximation to gain (it first checks "
            f"itself on {CHECK_POSITIONS}), so the exact pass ran"
        )
    elif mode == "approximate":
        cut = ex._occlusion_plan(patch, stride, (rows, cols), tau)
        spread = np.linspace(0, n - 1, CHECK_POSITIONS).round().astype(np.int64)
        sample = pos[np.unique(spread)]
        work = n + len(sample)  # the check runs both passes on the sample
        checking = f"occlusion: checking the approximation on {len(sample)} positions"
        progress(0.0, checking)
        exact = sweep.run(plan, caches, sample, lambda d: progress(d / work, checking))
        cut_caches = cut.caches(a)
        rough = sweep.run(
            cut, cut_caches, sample, lambda d: progress((len(sample) + d) / work, checking)
        )
        done = 2 * len(sample)
        todo = np.setdiff1d(pos, sample)
        agreement = _agreement(rough, exact)
        if agreement >= AGREEMENT:
            drops[sample] = rough
            drops[todo] = sweep.run(
                cut,
                cut_caches,
                todo,
                lambda d: progress(
                    (done + d) / work, f"occlusion (approximate): {d} of {len(todo)} positions"
                ),
            )
            note = (
                f"Approximate incremental occlusion (Krypton, tau = {tau:g}): each layer "
                f"recomputed on at most {tau:g} of its map around the patch. On "
                f"{len(sample)} positions it agreed with the exact pass (correlation "
                f"{agreement:.3f})."
            )
            return Occlusion(drops.reshape(rows, cols), "approximate", note, tau, agreement)
        reason = (
            f"the approximation (tau = {tau:g}) agreed with the exact pass on {len(sample)} "
            f"positions only to a correlation of {agreement:.3f} (< {AGREEMENT:g}), so the "
            "exact pass ran"
        )
        drops[sample] = exact
    if done == 0:
        progress(0.0, f"occlusion (incremental): 0 of {len(todo)} positions")
    drops[todo] = sweep.run(
        plan,
        caches,
        todo,
        lambda d: progress(
            (done + d) / work, f"occlusion (incremental): {d} of {len(todo)} positions"
        ),
    )
    note = (
        "Incremental occlusion (Krypton): each layer recomputed only where the patch can "
        "reach, the rest read from the unoccluded activations; exact (equal to a full "
        "re-inference per position)."
    )
    if reason:
        note = note[:-1] + f"; {reason}."
    return Occlusion(drops.reshape(rows, cols), "incremental", note)


def _agreement(rough: np.ndarray, exact: np.ndarray) -> float:
    """The correlation of two samples of a heat map; 1 where they are equal to 1e-6."""
    if np.abs(rough - exact).max() <= 1e-6 or len(exact) < 2:
        return 1.0
    if exact.std() == 0 or rough.std() == 0:
        return 0.0
    return float(np.corrcoef(rough, exact)[0, 1])


@dataclass
class _Sweep:
    """One input's sweep: runs plans on batches of positions, checking for cancelling."""

    a: np.ndarray
    c: int
    fill: float
    base: float
    batch_size: int
    cancelled: CancelCheck

    def run(
        self, plan: _Plan, caches: list[Any], pos: np.ndarray, report: Callable[[int], None]
    ) -> np.ndarray:
        """The drops at positions ``pos``; ``report(done)`` after each batch."""
        import tensorflow as tf

        if not len(pos):
            return np.empty(0, np.float32)
        fn = plan.function(caches)
        n = len(pos)
        count = -(-n // self.batch_size)
        batch = -(-n // count)  # equal batches, as large as allowed
        channels = self.a.shape[2]
        fill = tf.fill((batch, plan.patch[0], plan.patch[1], channels), np.float32(self.fill))
        drops = np.empty(n, np.float32)
        for first in range(0, n, batch):
            if self.cancelled():
                raise InterruptedError("cancelled")
            part = pos[first : first + batch]
            crop = fill if len(part) == batch else fill[: len(part)]
            indices = [tf.constant(plan.indices(e, part)) for e in plan.gathers]
            out = np.asarray(fn(caches, crop, indices))
            drops[first : first + len(part)] = self.base - out[:, self.c]
            report(first + len(part))
        return drops
