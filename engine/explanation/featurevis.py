"""What a filter wants to see: synthetic images that excite one channel, and the inputs
that excite it most.

- ``maximize``: feature visualisation by regularised gradient ascent on the input, in the
  spirit of Olah, Mordvintsev & Schubert 2017, "Feature Visualization" (Distill), and
  Yosinski et al. 2015, "Understanding Neural Networks Through Deep Visualization":
  the image is parameterised in a decorrelated space (a Fourier spectrum scaled by
  1 / frequency, and for colour images ImageNet's colour correlation) and squashed
  into the pixels' range by a sigmoid; each step looks at the image through a random
  small translation, scaling and rotation (transformation robustness), so only patterns
  that survive them grow. The pixels (in [0, 1]) are then mapped through the model's
  own input convention (``engine.models.zoo.Scaling``), so the range constraint is the pixels'
  range whatever the model takes: [0, 1], 0..255, [-1, 1], Caffe's BGR minus the mean.
  It climbs the mean of the channel's whole map on a full-size input: the picture shows
  the pattern the channel answers to wherever it is, tiled over the image.
- ``maximize_layer``: a whole layer's gallery, as the Deep Visualization Toolbox showed
  it: for each channel, the input its *centre unit* (one map pixel) prefers, on a canvas
  the size of that unit's receptive field (``unit_canvas``), so a picture is one unit's
  preferred input at the scale the unit sees, not a tiling. The same ascent, ``batch``
  channels at a time (one canvas each, each climbing its own channel), and where the
  layers allow it only the unit's cone is computed (the layers run 'valid' on the
  canvas): VGG16's block4_conv1 takes a 60x60 canvas and about 30 times less work a
  step than a 224x224 image; 512 channels in 10 to 14 minutes on 2 busy CPU cores.
- ``top_examples``: the inputs (of any number of them, batched) whose channel reaches the
  highest maximum over its map, with where; ``example_crop`` the input box that map
  pixel sees (its receptive field), so the app can crop it as the Deep Visualization
  Toolbox does. Both take an ONNX model too (forward passes and the graph's receptive
  fields; no gradients).
- ``cache_key``, ``save_visualisation``, ``load_visualisation``: the app's disk cache.

The compiled functions (a gradient step, a channel's map, a gallery's step) are built
once per (model, layer) and reused: the channel is an argument tensor, so successive
channels never retrace. They are held per model in a ``WeakKeyDictionary`` (they go
when the model goes). TensorFlow and Keras are imported inside the functions, so
importing this module is cheap. Maps are assumed channels-last (Keras' default).

Not thread-safe: one thread uses a given model at a time (see STYLE.md).
"""

from __future__ import annotations

import hashlib
import json
import math
import threading
import time
import weakref
import zipfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from engine.models.zoo import CAFFE_MEAN_BGR, TORCH_MEAN, TORCH_STD, InputSpec, Scaling
from engine.util.checks import check_int
from engine.util.files import atomic_path
from engine.util.progress import CancelCheck, ProgressCallback, never_cancelled, no_progress

if TYPE_CHECKING:
    import keras

    from engine.models.zoo import LoadedModel

#: ``progress(fraction, image)`` of ``maximize``: the image as it forms (displayable uint8).
ImageProgress = Callable[[float, np.ndarray], None]

#: Names the algorithm and its constants; part of every ``cache_key``, so a change of
#: method never serves an old picture. Bump it when anything below changes.
METHOD = "fourier-1/f+colour-decorrelation,sigmoid,jitter-scale-rotate,leaky-final-relu,adam;v1"

LEARNING_RATE = 0.1  # Adam on the spectrum (Lucid: 0.05 for 512 steps; twice as fast here)
_BETA1, _BETA2, _EPSILON = 0.9, 0.999, 1e-8
_SPECTRUM_SD = 0.01  # the initial spectrum's spread (Lucid's)
_DECAY_POWER = 1.0  # spectrum scaled by 1 / frequency ** decay: natural images' 1/f
_MAX_ANGLE = math.radians(10.0)  # random rotation, either way
_MAX_ZOOM = 1.1  # random scale in [1 / 1.1, 1.1]
_JITTER_FRACTION = 1 / 20  # random translation, either way, as a fraction of the side
_CALL_SECONDS = 0.05  # steps of one compiled call: cancel waits at most about this long
#: A step slower than this (VGG16 at 224: 0.3 s) runs as two calls, its forward and its
#: backward pass, with a ``cancelled()`` check between: a scheduler's yield point, so an
#: interactive request waits for half a step, not a whole one.
_SPLIT_SECONDS = 0.12
_PARTS = 3  # the parts of the plain chain a split step runs one by one
_MAX_CHUNK = 64
_LEAK = 0.1  # the slope below zero of the final ReLU while climbing (see _objective)

#: The square root of ImageNet's RGB colour correlation (Lucid's ``color_correlation_svd_
#: sqrt``), columns normalised: independent random channels through it have natural
#: colours, so the optimiser works on decorrelated colour.
_COLOUR_SQRT = np.array([[0.26, 0.09, 0.02], [0.27, 0.00, -0.05], [0.27, -0.09, 0.03]], np.float32)
_COLOUR_SQRT = _COLOUR_SQRT / np.max(np.linalg.norm(_COLOUR_SQRT, axis=0))


def _noop_image(fraction: float, image: np.ndarray) -> None:
    """The default progress callback of ``maximize``: does nothing."""


# -- results --------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class Visualisation:
    """A synthetic input that excites one channel.

    ``x``: (H, W, C) float32, what the model is fed, in its own input convention and
    valid range; ``image``: the same as a displayable uint8 picture, (H, W, 3) RGB or
    (H, W) grey; ``activation``: the mean of the channel's map on ``x`` (a forward pass
    after the last step); ``steps``: how many gradient steps made it.
    """

    x: np.ndarray
    image: np.ndarray
    activation: float
    steps: int


@dataclass(frozen=True)
class Example:
    """One input among those that excite a channel most.

    ``index`` into the inputs given; ``value`` the channel map's maximum on it; (``row``,
    ``col``) where in the map that maximum is (the first such place, row by row).
    """

    index: int
    value: float
    row: int
    col: int


# -- the input convention as an affine map of [0, 1] pixels ------------------------------
def scaling_affine(scaling: Scaling | str, channels: int) -> tuple[np.ndarray, np.ndarray]:
    """The model input of [0, 1] pixels, as ``pixels @ matrix + offset`` over channels.

    The same convention as ``engine.models.zoo.prepare_image`` (which scales 0..255 pixels):
    for Caffe, the matrix also turns RGB into BGR.

    >>> m, b = scaling_affine(Scaling.CAFFE, 3)
    >>> np.array([1.0, 0.0, 0.0], np.float32) @ m + b  # pure red, as VGG16 takes it
    array([-103.939, -116.779,  131.32 ], dtype=float32)
    >>> scaling_affine("symmetric", 1)
    (array([[2.]], dtype=float32), array([-1.], dtype=float32))
    """
    s = Scaling(scaling)
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 or 3. Received: channels={channels}")
    scale = np.ones(channels, np.float32)
    offset = np.zeros(channels, np.float32)
    order = np.arange(channels)
    if s is Scaling.RAW:
        scale *= 255.0
    elif s is Scaling.SYMMETRIC:
        scale *= 2.0
        offset -= 1.0
    elif s is Scaling.CAFFE:
        scale *= 255.0
        if channels == 3:
            order = order[::-1]
            offset -= CAFFE_MEAN_BGR
        else:
            offset -= float(CAFFE_MEAN_BGR.mean())
    elif s is Scaling.TORCH:
        mean = TORCH_MEAN if channels == 3 else np.float32(TORCH_MEAN.mean())
        std = TORCH_STD if channels == 3 else np.float32(TORCH_STD.mean())
        scale /= std
        offset -= mean / std
    matrix = np.zeros((channels, channels), np.float32)
    matrix[order, np.arange(channels)] = scale  # output channel k reads input order[k]
    return matrix, offset.astype(np.float32)


def to_display(pixels: np.ndarray) -> np.ndarray:
    """[0, 1] pixels (H, W, C) as a displayable uint8 image: (H, W, 3) RGB or (H, W) grey.

    >>> to_display(np.full((2, 2, 1), 0.5, np.float32))
    array([[128, 128],
           [128, 128]], dtype=uint8)
    """
    a = np.clip(np.rint(np.asarray(pixels, np.float32) * 255.0), 0, 255).astype(np.uint8)
    return a[:, :, 0] if a.shape[2] == 1 else a


def _resolve_scaling(model: Any, scaling: Scaling | InputSpec | str | None) -> Scaling:
    """The input convention: given, or raw pixels when the model starts with a Rescaling
    layer, else [0, 1]."""
    if isinstance(scaling, InputSpec):
        return scaling.scaling
    if scaling is not None:
        try:
            return Scaling(scaling)
        except ValueError:
            raise ValueError(
                f"scaling must be an engine.models.zoo.Scaling, an InputSpec or None. Received: "
                f"scaling={scaling!r}"
            ) from None
    from keras import layers

    firsts = [layer for layer in model.layers if not isinstance(layer, layers.InputLayer)][:1]
    if firsts and isinstance(firsts[0], layers.Rescaling):
        return Scaling.RAW  # it rescales 0..255 pixels itself
    return Scaling.UNIT


# -- the Fourier parameterisation -----------------------------------------------------------
def _frequency_scale(h: int, w: int) -> np.ndarray:
    """Per rfft2 coefficient of an (h, w) image: 1 / frequency ** decay, times sqrt(h w).

    Lucid's ``fft_image``: equal steps on every coefficient then change low frequencies
    more than high ones, as in natural images, and the optimiser works on a decorrelated
    (whitened) image.
    """
    fy = np.fft.fftfreq(h)[:, None]
    fx = np.fft.rfftfreq(w)[None, :]
    freqs = np.sqrt(fx * fx + fy * fy)
    scale = 1.0 / np.maximum(freqs, 1.0 / max(h, w)) ** _DECAY_POWER
    return (scale * math.sqrt(h * w)).astype(np.float32)


def _initial_spectrum(h: int, w: int, channels: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    shape = (2, channels, h, w // 2 + 1)  # real and imaginary parts
    return (rng.standard_normal(shape) * _SPECTRUM_SD).astype(np.float32)


def _render(spectrum: Any, fscale: Any, h: int, w: int) -> Any:
    """Spectrum (2, C, H, W // 2 + 1) -> [0, 1] pixels (1, H, W, C), inside a graph."""
    import tensorflow as tf

    coeffs = tf.complex(spectrum[0] * fscale, spectrum[1] * fscale)
    image = tf.signal.irfft2d(coeffs, fft_length=[h, w])  # (C, H, W)
    image = tf.transpose(image, (1, 2, 0))[None] / 4.0  # Lucid's constant: a unit spread
    if image.shape[-1] == 3:
        image = tf.tensordot(image, tf.constant(_COLOUR_SQRT.T), 1)
    return tf.sigmoid(image)


def _random_view(pixels: Any, seed: Any, step: Any, jitter: float) -> Any:
    """One random small rotation, scaling and translation of (1, H, W, C) pixels, about
    the centre, reflecting at the borders: one bilinear resampling op."""
    import tensorflow as tf

    u = tf.random.stateless_uniform([4], seed=tf.stack([seed, step]), minval=-1.0, maxval=1.0)
    return _random_views(pixels, u[None], jitter)


def _random_views(pixels: Any, u: Any, jitter: float) -> Any:
    """``_random_view`` of each of (B, H, W, C) pixels, image ``i`` moved by its own four
    numbers ``u[i]`` in [-1, 1] (rotation, scale, x and y shift)."""
    import tensorflow as tf

    h, w = int(pixels.shape[1]), int(pixels.shape[2])
    angle = u[:, 0] * _MAX_ANGLE
    zoom = tf.exp(u[:, 1] * math.log(_MAX_ZOOM))
    tx, ty = u[:, 2] * jitter, u[:, 3] * jitter
    cos, sin = tf.cos(angle) / zoom, tf.sin(angle) / zoom
    cx, cy = (w - 1) / 2.0, (h - 1) / 2.0
    # Output pixel (x, y) reads input (a0 x + a1 y + a2, b0 x + b1 y + b2).
    a2 = cx - cos * cx + sin * cy + tx
    b2 = cy - sin * cx - cos * cy + ty
    zero = tf.zeros_like(cos)
    transform = tf.stack([cos, -sin, a2, sin, cos, b2, zero, zero], axis=1)
    return tf.raw_ops.ImageProjectiveTransformV3(
        images=pixels,
        transforms=transform,
        output_shape=tf.constant([h, w], tf.int32),
        fill_value=tf.constant(0.0),
        interpolation="BILINEAR",
        fill_mode="REFLECT",
    )


def _step_input(
    spectrum: Any,
    t: Any,
    seed: Any,
    fscale: Any,
    matrix: Any,
    offset: Any,
    h: int,
    w: int,
    jitter: float,
) -> tuple[Any, Any]:
    """A step's model input and picture: the spectrum rendered (1, H, W, C), moved at
    random (``_random_view``, step ``t``), in the model's own pixel convention."""
    import tensorflow as tf

    pixels = _render(spectrum, fscale, h, w)
    view = _random_view(pixels, seed, t, jitter)
    return tf.tensordot(view, matrix, 1) + offset, pixels


def _adam(spectrum: Any, m: Any, v: Any, t: Any, grad: Any) -> tuple[Any, Any, Any, Any]:
    """One Adam step (Kingma & Ba 2015), ascending: the new (spectrum, m, v, t)."""
    import tensorflow as tf

    t = t + 1
    m = _BETA1 * m + (1.0 - _BETA1) * grad
    v = _BETA2 * v + (1.0 - _BETA2) * tf.square(grad)
    tf1 = tf.cast(t, tf.float32)
    m_hat = m / (1.0 - tf.pow(_BETA1, tf1))
    v_hat = v / (1.0 - tf.pow(_BETA2, tf1))
    return spectrum + LEARNING_RATE * m_hat / (tf.sqrt(v_hat) + _EPSILON), m, v, t


def _leaky(pre: Any, cap: float | None) -> Any:
    """The climbing stand-in of a final ReLU (see ``_Visualiser._objective``): ``pre``
    below zero scaled by ``_LEAK``, above ``cap`` (ReLU6) cut."""
    import tensorflow as tf

    pre = tf.cast(pre, tf.float32)
    out = tf.where(pre > 0, pre, _LEAK * pre)
    return out if cap is None else tf.minimum(out, cap)  # ReLU6: nothing above 6


def _final_relu(layer: Any) -> tuple[bool, float | None] | None:
    """Whether ``layer`` ends in a ReLU: (fused, cap) or None.

    ``fused``: an ``activation="relu"`` (or relu6) inside a Conv2D, Dense, ...; else a
    ReLU layer or ``Activation("relu")``. ``cap``: ReLU6's 6 (or a ReLU layer's
    ``max_value``), None for none.
    """
    import keras
    from keras import layers

    relu, relu6 = keras.activations.relu, keras.activations.relu6
    if isinstance(layer, layers.ReLU):
        if float(layer.negative_slope) != 0.0 or float(layer.threshold) != 0.0:
            return None  # leaky already, or a shifted threshold: left as it is
        return False, None if layer.max_value is None else float(layer.max_value)
    act = getattr(layer, "activation", None)
    if act not in (relu, relu6):
        return None
    cap = 6.0 if act is relu6 else None
    if isinstance(layer, layers.Activation):
        return False, cap
    return True, cap


# -- the compiled functions of one model ------------------------------------------------
class _Visualiser:
    """Sub-models and compiled functions for one model, built once per layer and reused.

    Holds no strong reference to the model: its sub-models share the model's layers and
    weights, so edits to the weights show at once.
    """

    def __init__(self, model: keras.Model) -> None:
        self._ref = weakref.ref(model)
        self._input = model.inputs[0]
        self._subs: dict[str, Any] = {}
        self._steps: dict[str, Any] = {}
        self._maps: dict[str, Any] = {}
        self._checksum: Any = None
        self._galleries: dict[str, _Gallery] = {}

    def model(self) -> Any:
        model = self._ref()
        if model is None:
            raise ValueError("the model of this visualiser no longer exists")
        return model

    def sub(self, layer_name: str) -> Any:
        """The model from the input to ``layer_name``'s maps (batch, H, W, channels)."""
        import keras

        if layer_name not in self._subs:
            model = self.model()
            try:
                layer = model.get_layer(layer_name)
            except ValueError:
                names = ", ".join(layer.name for layer in model.layers)
                raise ValueError(
                    f"no layer {layer_name!r} in model {model.name!r}; its layers: {names}"
                ) from None
            if isinstance(layer, keras.layers.InputLayer) or len(layer._inbound_nodes) != 1:
                raise ValueError(f"layer {layer_name!r} is an input or a shared layer")
            shape = tuple(layer.output.shape)
            if len(shape) != 4:
                raise ValueError(
                    f"layer {layer_name!r} has output shape {shape}; pick a layer with "
                    "spatial maps (batch, H, W, channels)"
                )
            self._subs[layer_name] = keras.Model(self._input, layer.output)
        return self._subs[layer_name]

    def channels(self, layer_name: str) -> int:
        return int(self.sub(layer_name).outputs[0].shape[-1])

    def step(self, layer_name: str) -> Any:
        """The compiled gradient-ascent step for ``layer_name`` (any channel, any size)."""
        if layer_name not in self._steps:
            self._steps[layer_name] = self._make_step(self._objective(layer_name))
        return self._steps[layer_name]

    def split_step(self, layer_name: str) -> Any:
        """``step`` in short calls for a slow model: ``run(state, ..., between)`` runs
        the forward pass of each part of the model in turn, then their backward passes
        in reverse, calling ``between()`` between two calls. The parts: the plain chain
        of layers that leads to ``layer_name`` cut in ``_PARTS`` at about equal
        positions (VGG16 to block5_conv3: six calls of 60-100 ms where a whole step is
        300 ms). Without such a chain (no single layer's output carries everything to
        ``layer_name``), two calls: the forward pass, the backward pass."""
        key = ("split", layer_name)
        if key not in self._steps:
            parts = self._parts(layer_name)
            if parts is None:
                self._steps[key] = self._make_split_step(None, [], self._objective(layer_name))
            else:
                self._steps[key] = self._make_split_step(*parts)
        return self._steps[key]

    def _parts(
        self, layer_name: str
    ) -> tuple[Any, list[Sequence[Any]], Callable[[Any], Any]] | None:
        """(the model from the input to the first cut's output, the layers between two
        cuts, the last cut's output -> the maps climbed), for cuts at about equal
        positions on the plain chain of layers that ends at ``layer_name`` (each takes
        the one before it alone: all of VGG16; in a residual network, the layers since
        the last merge); None when that chain is too short. The layers after the first
        cut are called on tensors, so the model's graph is left as it is."""
        import keras

        from engine.inspection.activations import inbound_layers

        model = self.model()
        inbound = inbound_layers(model)
        by_name = {x.name: x for x in model.layers}
        chain = [by_name[layer_name]]
        while True:
            before = inbound.get(chain[0].name, [])
            prev = by_name.get(before[0]) if len(before) == 1 else None
            if prev is None or isinstance(prev, keras.layers.InputLayer):
                break  # a merge, the input (a Sequential model lists no InputLayer)
            if len(prev._inbound_nodes) != 1:
                break
            chain.insert(0, prev)
        if len(chain) < 3:
            return None
        names = [x.name for x in model.layers]
        end = names.index(layer_name)
        spots = [k for k in range(len(chain) - 1) if len(tuple(chain[k].output.shape)) == 4]
        cuts: list[int] = []
        for part in range(1, _PARTS):
            goal = end * part / _PARTS
            free = [k for k in spots if not cuts or k > cuts[-1]]
            if free:
                cuts.append(min(free, key=lambda k: abs(names.index(chain[k].name) - goal)))
        if not cuts:
            return None
        lower = keras.Model(self._input, chain[cuts[0]].output)
        middles = [chain[a + 1 : b + 1] for a, b in zip(cuts, cuts[1:], strict=False)]
        return lower, middles, self._objective(layer_name, chain=chain[cuts[-1] + 1 :])

    def _objective(
        self, layer_name: str, chain: Sequence[Any] | None = None
    ) -> Callable[[Any], Any]:
        """``x -> the maps the ascent climbs``: the layer's maps, the final ReLU made leaky.

        A ReLU's gradient is zero where its input is negative, and on the grey starting
        image most channels of a trained network are negative everywhere: the ascent
        would never start (Lucid redirects such gradients for the same reason). So when
        the layer ends in a ReLU (a fused ``activation="relu"``, or a ReLU layer) the
        ascent climbs ``leaky(pre)``, the map before the ReLU with negative values
        scaled by ``_LEAK``: positive regions grow as they would, negative ones still
        pull. ``activation`` in the result is still the layer's own output.
        """
        import keras
        import tensorflow as tf

        layer = self.model().get_layer(layer_name)
        found = _final_relu(layer)
        if chain is None:  # from the model's input
            sub = self.sub(layer_name)
            before = keras.Model(self._input, layer.input) if found is not None else None
        else:  # from a cut's output: ``chain``, the layers after it, called in turn

            def run(x: Any, layers: Sequence[Any]) -> Any:
                for one in layers:
                    x = one(x, training=False)
                return x

            def sub(x: Any, training: bool = False) -> Any:
                return run(x, chain)

            def before(x: Any, training: bool = False) -> Any:
                return run(x, chain[:-1])

        if found is None:
            return lambda x: tf.cast(sub(x, training=False), tf.float32)
        fused, cap = found

        def leaky(pre: Any) -> Any:
            return _leaky(pre, cap)

        if not fused:
            return lambda x: leaky(before(x, training=False))

        def pre_relu(x: Any) -> Any:
            # Traced once (inside tf.function): the layer is called with a linear
            # activation, restored at once; one thread uses a model at a time (STYLE.md).
            saved = layer.activation
            layer.activation = keras.activations.linear
            try:
                return leaky(layer(before(x, training=False), training=False))
            finally:
                layer.activation = saved

        return pre_relu

    def channel_map(self, layer_name: str) -> Any:
        """Compiled ``(inputs (B, H, W, C), channel) -> that channel's maps (B, h, w)``."""
        import tensorflow as tf

        if layer_name not in self._maps:
            sub = self.sub(layer_name)

            def channel_map(xb: Any, channel: Any) -> Any:
                maps = sub(xb, training=False)
                return tf.cast(tf.gather(maps, channel, axis=-1), tf.float32)

            self._maps[layer_name] = tf.function(
                channel_map, reduce_retracing=True, autograph=False
            )
        return self._maps[layer_name]

    @staticmethod
    def _make_step(objective_maps: Callable[[Any], Any]) -> Any:
        """``run(state, n, ...)``: ``n`` Adam steps in one compiled call (a while loop), so
        a small model's steps do not pay a Python call each."""
        import tensorflow as tf

        def run(
            spectrum: Any,
            m: Any,
            v: Any,
            t: Any,
            n: Any,
            channel: Any,
            seed: Any,
            fscale: Any,
            matrix: Any,
            offset: Any,
            h: int,
            w: int,
            jitter: float,
        ) -> tuple[Any, ...]:
            def step(i: Any, spectrum: Any, m: Any, v: Any, t: Any, pixels: Any) -> tuple[Any, ...]:
                with tf.GradientTape(watch_accessed_variables=False) as tape:
                    tape.watch(spectrum)
                    x, pixels = _step_input(spectrum, t, seed, fscale, matrix, offset, h, w, jitter)
                    maps = objective_maps(x)
                    objective = tf.reduce_mean(tf.gather(maps, channel, axis=-1))
                grad = tape.gradient(objective, spectrum)
                spectrum, m, v, t = _adam(spectrum, m, v, t, grad)
                return i + 1, spectrum, m, v, t, pixels[0]

            c = int(spectrum.shape[1])
            pixels = tf.zeros((h, w, c), tf.float32)
            _, spectrum, m, v, t, pixels = tf.while_loop(
                lambda i, *_: i < n,
                step,
                (tf.constant(0, tf.int32), spectrum, m, v, t, pixels),
                parallel_iterations=1,
            )
            return spectrum, m, v, t, pixels

        return tf.function(run, autograph=False)

    @staticmethod
    def _make_split_step(
        lower: Callable[[Any], Any] | None,
        middles: Sequence[Sequence[Any]],
        objective_maps: Callable[[Any], Any],
    ) -> Any:
        """One step of ``_make_step``'s loop, the same operations, as compiled calls:
        the forward pass of each part (``lower``: the model's input to the first cut,
        the layers of each of ``middles``, then ``objective_maps``), each under an
        eager tape of its own, then their backward passes in reverse, then the update;
        ``between()`` between two calls. Without ``lower``, one forward pass and one
        backward pass."""
        import tensorflow as tf

        def forward(
            spectrum: Any,
            t: Any,
            channel: Any,
            seed: Any,
            fscale: Any,
            matrix: Any,
            offset: Any,
            h: int,
            w: int,
            jitter: float,
        ) -> tuple[Any, Any]:
            x, pixels = _step_input(spectrum, t, seed, fscale, matrix, offset, h, w, jitter)
            if lower is not None:
                return lower(x, training=False), pixels[0]  # the first cut's output
            maps = objective_maps(x)
            return tf.reduce_mean(tf.gather(maps, channel, axis=-1)), pixels[0]

        def through(layers: Sequence[Any]) -> Callable[[Any], Any]:
            def run(x: Any) -> Any:
                for one in layers:
                    x = one(x, training=False)
                return x

            return tf.function(run, autograph=False)

        def upper(x: Any, channel: Any) -> Any:
            return tf.reduce_mean(tf.gather(objective_maps(x), channel, axis=-1))

        forward_fn = tf.function(forward, autograph=False)
        middle_fns = [through(layers) for layers in middles]
        upper_fn = tf.function(upper, autograph=False)
        adam_fn = tf.function(_adam, autograph=False)

        def run(
            spectrum: Any,
            m: Any,
            v: Any,
            t: Any,
            channel: Any,
            seed: Any,
            fscale: Any,
            matrix: Any,
            offset: Any,
            h: int,
            w: int,
            jitter: float,
            between: Callable[[], None],
        ) -> tuple[Any, ...]:
            # ``between`` runs outside the tapes: what it runs is not recorded.
            with tf.GradientTape(watch_accessed_variables=False) as tape:
                tape.watch(spectrum)
                out, pixels = forward_fn(
                    spectrum, t, channel, seed, fscale, matrix, offset, h, w, jitter
                )
            if lower is None:
                between()
                grad = tape.gradient(out, spectrum)
            else:
                taped = [(tape, spectrum, out)]  # (tape, what went in, what came out)
                for fn in [*middle_fns, None]:
                    between()
                    x = taped[-1][2]
                    with tf.GradientTape(watch_accessed_variables=False) as part:
                        part.watch(x)
                        y = fn(x) if fn is not None else upper_fn(x, channel)
                    taped.append((part, x, y))
                grad = None
                for part, x, y in reversed(taped):
                    between()
                    grad = part.gradient(y, x, output_gradients=grad)
            spectrum, m, v, t = adam_fn(spectrum, m, v, t, grad)
            return spectrum, m, v, t, pixels

        return run


_VISUALISERS: weakref.WeakKeyDictionary[Any, _Visualiser] = weakref.WeakKeyDictionary()
_LOCK = threading.Lock()


def _visualiser(model: Any) -> _Visualiser:
    with _LOCK:
        found = _VISUALISERS.get(model)
        if found is None:
            found = _VISUALISERS[model] = _Visualiser(model)
        return found


# -- checks ---------------------------------------------------------------------------------
def _unwrap(model: Any) -> tuple[Any, InputSpec | None]:
    """A ``keras.Model`` and, for a ``LoadedModel``, its input spec."""
    import keras

    spec = None
    if not isinstance(model, keras.Model) and hasattr(model, "model") and hasattr(model, "spec"):
        model, spec = model.model, model.spec
    if not isinstance(model, keras.Model):
        raise ValueError(
            f"model must be a keras.Model or a LoadedModel. Received {type(model).__name__}"
        )
    if not model.built or not getattr(model, "inputs", None) or len(model.inputs) != 1:
        raise ValueError("model must be built, with one image input")
    if len(model.inputs[0].shape) != 4 or model.inputs[0].shape[-1] not in (1, 3):
        raise ValueError(
            f"model must take images (batch, H, W, 1 or 3). Received input shape "
            f"{tuple(model.inputs[0].shape)}"
        )
    return model, spec


def _resolve_size(model: Any, size: int | tuple[int, int] | None) -> tuple[int, int]:
    """(height, width): the model's input size, or the size asked where the model takes any."""
    fixed = tuple(model.inputs[0].shape[1:3])
    if size is None:
        if None in fixed:
            raise ValueError(
                f"model {model.name!r} takes images of any size (input shape "
                f"{tuple(model.inputs[0].shape[1:])}): give a size, e.g. size=224"
            )
        return int(fixed[0]), int(fixed[1])
    pair = (size, size) if isinstance(size, (int, np.integer)) else tuple(size)
    if len(pair) != 2:
        raise ValueError(f"size must be an int or (height, width). Received: size={size!r}")
    h = check_int("height", pair[0], 8)
    w = check_int("width", pair[1], 8)
    for want, got in zip(fixed, (h, w), strict=True):
        if want is not None and int(want) != got:
            raise ValueError(
                f"model {model.name!r} takes {fixed[0]}x{fixed[1]} images. Received: size={size!r}"
            )
    return h, w


# -- feature visualisation ------------------------------------------------------------------
def maximize(
    model: keras.Model | LoadedModel,
    layer_name: str,
    channel: int,
    size: int | tuple[int, int] | None = None,
    steps: int = 256,
    seed: int = 0,
    scaling: Scaling | InputSpec | str | None = None,
    progress: ImageProgress = _noop_image,
    cancelled: CancelCheck = never_cancelled,
    every: int = 8,
    split: Callable[[], bool] = never_cancelled,
) -> Visualisation:
    """An input that excites channel ``channel`` of ``layer_name``: regularised ascent.

    Maximises the mean of the channel's map by gradient ascent (Adam) on the image's
    Fourier spectrum (scaled by 1 / frequency; colour decorrelated for RGB models), with
    a sigmoid keeping every pixel inside [0, 1], and a random small rotation (up to 10
    degrees), scaling (up to 10%) and translation (up to 1/20 of the side) of the image at
    every step, so only patterns that survive them grow (Olah et al. 2017). The [0, 1]
    pixels reach the model through its input convention ``scaling``, so ``x`` is always a
    valid input of the model. A layer ending in a ReLU is climbed before its ReLU, made
    leaky (slope 0.1 below zero), else channels dead on the grey start never move.

    Parameters
    ----------
    model : keras.Model or LoadedModel
        One image input (batch, H, W, 1 or 3). A ``LoadedModel`` brings its own scaling.
    layer_name : str
        A layer with spatial maps (batch, h, w, channels).
    channel : int
        Which map of the layer, ``0 <= channel < channels``.
    size : int or (height, width), optional
        The image size. None: the model's input size; a model that takes any size
        needs one (ValueError otherwise); a model of fixed size takes only its own.
    steps : int
        Gradient steps (>= 1). 256 is a good picture; 32 already shows the pattern.
    seed : int
        The starting image and the random transformations: same seed, same picture.
    scaling : Scaling or InputSpec, optional
        The model's input convention (``engine.models.zoo.Scaling``). None: the ``LoadedModel``'s
        spec; else raw 0..255 pixels for a model whose first layer is ``Rescaling``,
        else [0, 1].
    progress : callable(fraction, image)
        Called every ``every`` steps and at the end with the fraction done and the image
        as it forms: the displayable uint8 image (H, W, 3) or (H, W), not a message.
    cancelled : callable() -> bool
        Asked between steps (a small model runs a few steps per compiled call, about
        50 ms of them); True raises ``InterruptedError("cancelled")``.
    every : int
        Steps between two ``progress`` calls (>= 1).
    split : callable() -> bool
        Asked before each step once a step is known to be slow (over
        ``_SPLIT_SECONDS``: VGG16 at 224 px, 0.3 s): True runs it as three calls with a
        ``cancelled()`` check between them (forward pass | backward pass of the layers
        after a cut half way | before it), so a scheduler's yield point comes 3x as
        often, at about 1.5x a step's cost; the app says True while a person is at work
        (``Task.people_waiting``). Default: never.

    Returns
    -------
    Visualisation
        ``x`` (H, W, C) float32 as the model takes it, ``image`` the same to display,
        ``activation`` the channel map's mean on ``x``, ``steps``.

    Examples
    --------
    >>> from engine.models.mnist_model import build_mnist_cnn
    >>> vis = maximize(build_mnist_cnn(compile=False), "conv2d_1", 3, steps=2)
    >>> vis.x.shape, vis.image.shape, vis.image.dtype.name
    ((28, 28, 1), (28, 28), 'uint8')
    """
    import tensorflow as tf

    model, spec = _unwrap(model)
    vis = _visualiser(model)
    k = check_int("channel", channel, 0, vis.channels(layer_name))
    n = check_int("steps", steps, 1)
    every = check_int("every", every, 1)
    seed = check_int("seed", seed, 0, 2**31)
    h, w = _resolve_size(model, size)
    conv = _resolve_scaling(model, spec if scaling is None else scaling)
    c = int(model.inputs[0].shape[-1])
    matrix, offset = scaling_affine(conv, c)

    step = vis.step(layer_name)
    spectrum = tf.constant(_initial_spectrum(h, w, c, seed))
    m = tf.zeros_like(spectrum)
    v = tf.zeros_like(spectrum)
    t = tf.constant(0, tf.int32)
    consts = (
        tf.constant(k, tf.int32),
        tf.constant(seed, tf.int32),
        tf.constant(_frequency_scale(h, w)),
        tf.constant(matrix),
        tf.constant(offset),
    )
    jitter = float(max(1.0, round(min(h, w) * _JITTER_FRACTION)))

    def between() -> None:
        if cancelled():
            raise InterruptedError("cancelled")

    done, chunk, calls, slow = 0, 1, 0, False
    while done < n:
        if cancelled():
            raise InterruptedError("cancelled")
        todo = min(chunk, (done // every + 1) * every - done, n - done)
        start = time.perf_counter()
        if slow and split():
            fine = vis.split_step(layer_name)
            spectrum, m, v, t, pixels = fine(spectrum, m, v, t, *consts, h, w, jitter, between)
        else:
            spectrum, m, v, t, pixels = step(
                spectrum, m, v, t, tf.constant(todo, tf.int32), *consts, h, w, jitter
            )
            elapsed = time.perf_counter() - start
            # The first call traces; the second tells whether one step takes long.
            slow = slow or (calls >= 1 and todo == 1 and elapsed > _SPLIT_SECONDS)
        elapsed = time.perf_counter() - start
        done, calls = done + todo, calls + 1
        # As many steps per call as take about _CALL_SECONDS: cancel stays prompt.
        chunk = max(1, min(_MAX_CHUNK, int(_CALL_SECONDS * todo / max(elapsed, 1e-9))))
        if done % every == 0 and done < n:
            progress(done / n, to_display(pixels.numpy()))
    final = _render_numpy(spectrum, h, w)
    x = (final @ matrix + offset).astype(np.float32)
    maps = vis.channel_map(layer_name)(x[None], tf.constant(k, tf.int32))
    image = to_display(final)
    progress(1.0, image)
    return Visualisation(x, image, float(np.mean(maps.numpy()[0], dtype=np.float64)), n)


def _render_numpy(spectrum: Any, h: int, w: int) -> np.ndarray:
    """The [0, 1] pixels (H, W, C) of a spectrum, float32."""
    import tensorflow as tf

    pixels = _render(tf.constant(spectrum), tf.constant(_frequency_scale(h, w)), h, w)
    return np.asarray(pixels[0], dtype=np.float32)


# -- a whole layer: each channel's centre unit, on its receptive field ----------------------
@dataclass(frozen=True)
class UnitCanvas:
    """Where ``maximize_layer`` paints the pictures of a layer, and how a step sees them.

    ``size``: the canvas (height, width) in input pixels: the receptive field of one unit
    of the layer (``engine.explanation.attribution.receptive_field_2d``), or, on a model of
    fixed input size too small for the whole field, the part of the input the centre unit
    sees. ``receptive_field``: the field's (rows, cols) size.

    ``cone``: True when a step computes only what the unit sees: the layers up to the
    layer run on the canvas alone with their 'same' padding made 'valid' and zero padding
    layers skipped (an inner unit never sees padding), so the canvas gives a map one unit
    wide. Checked once against the whole model, on random inputs: where the layers do not
    allow it (a nested model of fixed size, a global pooling on the way, up-sampling), it
    is False, and a step feeds the model's whole input (``input_size``), the canvas at
    ``box`` (top, left, bottom, right) in it and neutral grey around, only the canvas free.
    ``unit``: the unit's (row, col) in the maps of that input (the map's centre when
    ``cone`` is False). In both cases the unit sees the canvas and nothing else.
    """

    size: tuple[int, int]
    receptive_field: tuple[int, int]
    cone: bool
    input_size: tuple[int, int]
    box: tuple[int, int, int, int]
    unit: tuple[int, int]


@dataclass(frozen=True, eq=False)
class UnitVisualisation:
    """What one unit of a channel wants to see: ``maximize_layer``'s picture of it.

    ``channel``: which channel of the layer; ``x``: (h, w, C) float32, the canvas (the
    unit's receptive field) as the model takes it; ``pixels``: the same in [0, 1] (RGB or
    grey, the raw picture before rounding); ``image``: a displayable uint8 picture,
    (h, w, 3) RGB or (h, w) grey; ``activation``: the centre unit's value on ``x`` (the
    layer's own output, after its ReLU); ``steps``: gradient steps that made it.
    """

    channel: int
    x: np.ndarray
    pixels: np.ndarray
    image: np.ndarray
    activation: float
    steps: int


#: Names what ``maximize_layer`` adds to ``METHOD`` (the centre unit on its receptive field,
#: a seed per channel): put it in the ``settings`` of ``cache_key`` for a gallery picture,
#: so it never serves a full-size picture, nor an old gallery's. Bump it when that changes.
UNIT_METHOD = "centre-unit,receptive-field-canvas,valid-cone,seed-per-channel;v1"

#: ``on_picture(picture)`` of ``maximize_layer``: one channel's picture, as its batch ends.
PictureCallback = Callable[[UnitVisualisation], None]


def _no_picture(picture: UnitVisualisation) -> None:
    """The default ``on_picture`` of ``maximize_layer``: does nothing."""


@dataclass(frozen=True)
class _Gallery:
    """A layer's canvas and its compiled functions (see ``_gallery``)."""

    canvas: UnitCanvas
    climb: Any  # run(spectrum, m, v, t, n, channels, table, fscale, matrix, offset, h, w, jitter)
    value: Any  # value(x, channels, grey) -> the centre unit of each image's own channel


def _merges() -> tuple[type, ...]:
    from keras import layers

    return (
        layers.Add,
        layers.Subtract,
        layers.Multiply,
        layers.Average,
        layers.Maximum,
        layers.Minimum,
        layers.Concatenate,
    )


def _centre_crop(tensors: Sequence[Any]) -> list[Any]:
    """Maps (B, h, w, C) of different sizes cut to the smallest, about their centres.

    In the cone, a path of 'valid' 3x3 convolutions ends two pixels narrower than a
    shortcut beside it; both centres are the same input point, as in the whole model.
    """
    shapes = [tuple(t.shape) for t in tensors]
    if any(len(s) != 4 or s[1] is None or s[2] is None for s in shapes):
        return list(tensors)
    h = min(int(s[1]) for s in shapes)
    w = min(int(s[2]) for s in shapes)
    out = []
    for t, s in zip(tensors, shapes, strict=True):
        top, left = (int(s[1]) - h) // 2, (int(s[2]) - w) // 2
        out.append(t[:, top : top + h, left : left + w, :])
    return out


def _cone_maps(sub: Any, layer: Any, climb: bool) -> Callable[[Any], Any]:
    """``x -> maps``: ``sub`` (the model up to ``layer``) run on its unit's field alone.

    Each operation of ``sub``'s graph is called in turn (Keras' own graph walk,
    ``Functional._run_through_graph``, as ``Functional.call`` does), with a sliding window
    of 'same' padding run 'valid', zero padding and cropping skipped and merged maps
    cut to the same size: on an input the size of the receptive field, the map is the
    one unit whose field it is, computed from the same pixels by the same arithmetic as
    an inner unit of the whole model, and nothing else is computed. ``climb``: the final
    ReLU made leaky (``_Visualiser._objective``).
    """
    import keras
    import tensorflow as tf
    from keras import layers

    windows = (
        layers.Conv2D,
        layers.DepthwiseConv2D,
        layers.SeparableConv2D,
        layers.MaxPooling2D,
        layers.AveragePooling2D,
    )
    shifts = (layers.ZeroPadding2D, layers.Cropping2D)
    merges = _merges()
    found = _final_relu(layer) if climb else None

    def operation_fn(op: Any) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            if "training" in getattr(op, "_call_context_args", ()):
                kwargs["training"] = False  # as Functional.call passes it
            if isinstance(op, shifts):
                return args[0]
            if isinstance(op, merges):
                args = (_centre_crop(args[0]), *args[1:])
            relu = op is layer and found is not None
            if relu and not found[0]:  # a ReLU layer: its input, made leaky
                return _leaky(args[0], found[1])
            padding = getattr(op, "padding", None)
            valid = isinstance(op, windows) and str(padding).lower() == "same"
            saved = getattr(op, "activation", None)
            # Traced once (inside tf.function), restored at once; one thread uses a model
            # at a time (STYLE.md).
            try:
                if valid:
                    op.padding = "valid"
                if relu:
                    op.activation = keras.activations.linear
                out = op(*args, **kwargs)
            finally:
                if valid:
                    op.padding = padding
                if relu:
                    op.activation = saved
            return _leaky(out, found[1]) if relu else out

        return call

    def maps(x: Any) -> Any:
        out = sub._run_through_graph(x, operation_fn=operation_fn)
        return tf.cast(out, tf.float32)

    return maps


def _roomy(field: Any) -> int:
    """An input length for a model that takes any size: the field with a jump of room
    either side, a multiple of the jump (the receptive-field arithmetic assumes 'same'
    layers divide their input by their stride)."""
    jump = max(1, math.ceil(field.jump))
    return math.ceil((field.size + 2 * jump) / jump) * jump


def _map_size(sub: Any, input_hw: tuple[int, int], channels: int) -> tuple[int, int]:
    shape = tuple(sub.outputs[0].shape)
    if shape[1] is None or shape[2] is None:
        shape = tuple(sub.compute_output_shape((1, *input_hw, channels)))
    return int(shape[1]), int(shape[2])


def _cone_unit(
    vis: _Visualiser,
    layer_name: str,
    input_hw: tuple[int, int],
    box: tuple[int, int, int, int],
    unit: tuple[int, int],
) -> tuple[int, int] | None:
    """Where the cone's map has the unit, when the cone computes what the whole model does.

    Random inputs of ``input_hw``: the whole model's unit ``unit`` against the cone's
    centre on the ``box`` crop, every channel. None when they differ or the cone cannot
    be run.
    """
    import tensorflow as tf

    sub = vis.sub(layer_name)
    if not callable(getattr(sub, "_run_through_graph", None)):
        return None  # another Keras: the whole input
    channels = int(vis.model().inputs[0].shape[-1])
    full = np.random.default_rng(0).standard_normal((1, *input_hw, channels)).astype(np.float32)
    top, left, bottom, right = box
    layer = vis.model().get_layer(layer_name)
    try:
        want = np.asarray(sub(full, training=False), np.float64)[0, unit[0], unit[1]]
        got = np.asarray(
            _cone_maps(sub, layer, climb=False)(tf.constant(full[:, top:bottom, left:right])),
            np.float64,
        )
    except Exception:  # noqa: BLE001 - any layer that cannot run on the cone: whole input
        return None
    if got.ndim != 4 or got.shape[0] != 1 or got.shape[-1] != want.shape[-1]:
        return None
    r, c = got.shape[1] // 2, got.shape[2] // 2
    scale = max(1.0, float(np.abs(want).max()))
    if not np.allclose(got[0, r, c], want, rtol=1e-3, atol=1e-4 * scale):
        return None
    return r, c


def _plan_canvas(vis: _Visualiser, layer_name: str) -> UnitCanvas:
    from engine.explanation.attribution import receptive_box, receptive_field_2d

    model = vis.model()
    sub = vis.sub(layer_name)
    channels = int(model.inputs[0].shape[-1])
    fixed = tuple(model.inputs[0].shape[1:3])
    try:
        fields = receptive_field_2d(model, layer_name)
    except ValueError as exc:
        if None in fixed:
            raise ValueError(
                f"the receptive field of layer {layer_name!r} is unknown ({exc}), and model "
                f"{model.name!r} takes images of any size: no canvas size to paint on"
            ) from None
        # A layer of unknown geometry on the way: the unit may see the whole input.
        hw = (int(fixed[0]), int(fixed[1]))
        nh, nw = _map_size(sub, hw, channels)
        return UnitCanvas(hw, hw, False, hw, (0, 0, *hw), ((nh - 1) // 2, (nw - 1) // 2))
    rf = (int(fields[0].size), int(fields[1].size))
    if None in fixed:
        input_hw = (_roomy(fields[0]), _roomy(fields[1]))
    else:
        input_hw = (int(fixed[0]), int(fixed[1]))
    nh, nw = _map_size(sub, input_hw, channels)
    unit = ((nh - 1) // 2, (nw - 1) // 2)
    box = receptive_box(fields, unit[0], unit[1], input_hw)
    seen = (box[2] - box[0], box[3] - box[1])
    if seen == rf:
        inner = _cone_unit(vis, layer_name, input_hw, box, unit)
        if inner is not None:
            return UnitCanvas(rf, rf, True, rf, (0, 0, *rf), inner)
    return UnitCanvas(seen, rf, False, input_hw, box, unit)


def _render_batch(spectrum: Any, fscale: Any, h: int, w: int) -> Any:
    """Spectra (2, B, C, H, W // 2 + 1) -> [0, 1] pixels (B, H, W, C): ``_render`` of each."""
    import tensorflow as tf

    coeffs = tf.complex(spectrum[0] * fscale, spectrum[1] * fscale)
    image = tf.signal.irfft2d(coeffs, fft_length=[h, w])  # (B, C, H, W)
    image = tf.transpose(image, (0, 2, 3, 1)) / 4.0
    if image.shape[-1] == 3:
        image = tf.tensordot(image, tf.constant(_COLOUR_SQRT.T), 1)
    return tf.sigmoid(image)


def _make_unit_functions(maps: Callable[[Any], Any], value_maps: Any, canvas: UnitCanvas) -> Any:
    """The compiled ``climb`` and ``value`` of a ``_Gallery``."""
    import tensorflow as tf

    r, c = canvas.unit
    top, left, bottom, right = canvas.box
    height, width = canvas.input_size
    around = [[0, 0], [top, height - bottom], [left, width - right], [0, 0]]

    def place(canvas_x: Any, grey: Any) -> Any:
        # The canvas in the whole input, neutral grey around (not in the cone: it is all).
        return canvas_x if canvas.cone else tf.pad(canvas_x - grey, around) + grey

    def climb(
        spectrum: Any,
        m: Any,
        v: Any,
        t: Any,
        n: Any,
        channels: Any,
        table: Any,
        fscale: Any,
        matrix: Any,
        offset: Any,
        h: int,
        w: int,
        jitter: float,
    ) -> tuple[Any, ...]:
        def step(i: Any, spectrum: Any, m: Any, v: Any, t: Any) -> tuple[Any, ...]:
            with tf.GradientTape(watch_accessed_variables=False) as tape:
                tape.watch(spectrum)
                pixels = _render_batch(spectrum, fscale, h, w)
                view = _random_views(pixels, tf.gather(table, t, axis=1), jitter)
                x = tf.tensordot(place(view, 0.5), matrix, 1) + offset
                units = maps(x)[:, r, c, :]  # (B, channels of the layer)
                # Each image climbs its own channel: the sum's gradient on image i is
                # that of its own unit alone.
                objective = tf.reduce_sum(tf.gather(units, channels, axis=1, batch_dims=1))
            grad = tape.gradient(objective, spectrum)
            spectrum, m, v, t = _adam(spectrum, m, v, t, grad)
            return i + 1, spectrum, m, v, t

        _, spectrum, m, v, t = tf.while_loop(
            lambda i, *_: i < n,
            step,
            (tf.constant(0, tf.int32), spectrum, m, v, t),
            parallel_iterations=1,
        )
        return spectrum, m, v, t

    def value(x: Any, channels: Any, grey: Any) -> Any:
        units = value_maps(place(x, grey))[:, r, c, :]
        return tf.gather(units, channels, axis=1, batch_dims=1)

    return (
        tf.function(climb, autograph=False, reduce_retracing=True),
        tf.function(value, autograph=False, reduce_retracing=True),
    )


def _gallery(vis: _Visualiser, layer_name: str) -> _Gallery:
    """The layer's canvas and compiled functions, made once per (model, layer)."""
    import tensorflow as tf

    if layer_name not in vis._galleries:
        canvas = _plan_canvas(vis, layer_name)
        sub = vis.sub(layer_name)
        if canvas.cone:
            layer = vis.model().get_layer(layer_name)
            maps = _cone_maps(sub, layer, climb=True)
            value_maps = _cone_maps(sub, layer, climb=False)
        else:
            maps = vis._objective(layer_name)

            def value_maps(x: Any) -> Any:
                return tf.cast(sub(x, training=False), tf.float32)

        climb, value = _make_unit_functions(maps, value_maps, canvas)
        vis._galleries[layer_name] = _Gallery(canvas, climb, value)
    return vis._galleries[layer_name]


def unit_canvas(model: keras.Model | LoadedModel, layer_name: str) -> UnitCanvas:
    """Where ``maximize_layer`` paints ``layer_name``'s pictures (see ``UnitCanvas``).

    Made once per (model, layer) and kept, with a check of the cone against the whole
    model (one forward pass of each); later calls are free.

    >>> from engine.models.mnist_model import build_mnist_cnn
    >>> canvas = unit_canvas(build_mnist_cnn(compile=False), "conv2d_2")
    >>> canvas.size, canvas.cone, canvas.unit
    ((5, 5), True, (0, 0))
    """
    model, _ = _unwrap(model)
    return _gallery(_visualiser(model), layer_name).canvas


def _unit_start(
    h: int, w: int, channels: int, seed: int, channel: int, steps: int
) -> tuple[np.ndarray, np.ndarray]:
    """A channel's own starting spectrum and its ``steps`` random views (``_random_views``'
    four numbers each): the same whatever batch the channel is in."""
    rng = np.random.default_rng([seed, channel])
    shape = (2, channels, h, w // 2 + 1)
    spectrum = (rng.standard_normal(shape) * _SPECTRUM_SD).astype(np.float32)
    return spectrum, rng.uniform(-1.0, 1.0, (steps, 4)).astype(np.float32)


def maximize_layer(
    model: keras.Model | LoadedModel,
    layer_name: str,
    channels: Sequence[int] | None = None,
    steps: int = 128,
    batch: int = 16,
    seed: int = 0,
    scaling: Scaling | InputSpec | str | None = None,
    progress: ProgressCallback = no_progress,
    cancelled: CancelCheck = never_cancelled,
    on_picture: PictureCallback = _no_picture,
    every: int = 16,
) -> list[UnitVisualisation]:
    """A gallery: for each channel, the input its centre unit wants to see.

    The Deep Visualization Toolbox's pictures (Yosinski et al. 2015): each channel's
    centre unit (one map pixel, not the whole map's mean as ``maximize`` climbs) is
    maximised on a canvas the size of its receptive field (``unit_canvas``), so a picture
    shows what one unit prefers at the scale it sees. The ascent is ``maximize``'s (the
    Fourier parameterisation, colour decorrelation, the sigmoid, random rotation, scaling
    and translation of the canvas, Adam, the leaky final ReLU), ``batch`` channels at a
    time: one canvas per channel in the batch, each climbing its own channel.

    Where it can, a step computes only what the unit sees (``UnitCanvas.cone``): for
    VGG16's block4_conv1 a 60x60 canvas, about 30 times less work than a 224x224 image.

    Parameters
    ----------
    model : keras.Model or LoadedModel
        One image input (batch, H, W, 1 or 3), of fixed size or any size.
    layer_name : str
        A layer with spatial maps (batch, h, w, channels).
    channels : sequence of int, optional
        Which channels, in this order. None: all of them.
    steps : int
        Gradient steps per picture (>= 1).
    batch : int
        Channels climbed together (>= 1). Bigger batches use the cores better; each
        batch's pictures come out when it ends.
    seed : int
        With the channel, its starting canvas and random views: the same picture
        whatever the batch and the order of channels (up to float rounding).
    scaling : Scaling or InputSpec, optional
        The model's input convention, as for ``maximize``.
    progress : callable(fraction, message)
        Called every ``every`` steps inside a batch and after every batch.
    cancelled : callable() -> bool
        Asked before every compiled call (every step on a big model, about 50 ms of
        steps on a small one); True raises ``InterruptedError("cancelled")``. The
        pictures of the batches that ended have gone to ``on_picture``.
    on_picture : callable(UnitVisualisation)
        Called with each channel's picture as its batch ends, in order.
    every : int
        Steps between two ``progress`` calls inside a batch (>= 1).

    Returns
    -------
    list of UnitVisualisation
        One per channel asked, in that order.

    Examples
    --------
    >>> from engine.models.mnist_model import build_mnist_cnn
    >>> pictures = maximize_layer(build_mnist_cnn(compile=False), "conv2d_2", [0, 5], steps=2)
    >>> [(p.channel, p.x.shape, p.image.shape) for p in pictures]
    [(0, (5, 5, 1), (5, 5)), (5, (5, 5, 1), (5, 5))]
    """
    import tensorflow as tf

    model, spec = _unwrap(model)
    vis = _visualiser(model)
    count = vis.channels(layer_name)
    if channels is None:
        chosen = list(range(count))
    else:
        chosen = [check_int("channel", ch, 0, count) for ch in channels]
    n = check_int("steps", steps, 1)
    batch = check_int("batch", batch, 1)
    every = check_int("every", every, 1)
    seed = check_int("seed", seed, 0, 2**31)
    conv = _resolve_scaling(model, spec if scaling is None else scaling)
    c = int(model.inputs[0].shape[-1])
    matrix, offset = scaling_affine(conv, c)
    gallery = _gallery(vis, layer_name)
    h, w = gallery.canvas.size
    consts = (
        tf.constant(_frequency_scale(h, w)),
        tf.constant(matrix),
        tf.constant(offset),
    )
    grey = tf.constant(np.full(c, 0.5, np.float32) @ matrix + offset)
    jitter = float(max(1.0, round(min(h, w) * _JITTER_FRACTION)))
    total = len(chosen)
    pictures: list[UnitVisualisation] = []
    for first in range(0, total, batch):
        group = chosen[first : first + batch]
        starts = [_unit_start(h, w, c, seed, ch, n) for ch in group]
        spectrum = tf.constant(np.stack([s for s, _ in starts], axis=1))  # (2, B, C, H, W')
        table = tf.constant(np.stack([u for _, u in starts]))  # (B, steps, 4)
        m = tf.zeros_like(spectrum)
        v = tf.zeros_like(spectrum)
        t = tf.constant(0, tf.int32)
        group_t = tf.constant(group, tf.int32)
        name = f"channels {first + 1}–{first + len(group)} of {total}"
        done, chunk = 0, 1
        while done < n:
            if cancelled():
                raise InterruptedError("cancelled")
            todo = min(chunk, (done // every + 1) * every - done, n - done)
            start = time.perf_counter()
            n_t = tf.constant(todo, tf.int32)
            spectrum, m, v, t = gallery.climb(
                spectrum, m, v, t, n_t, group_t, table, *consts, h, w, jitter
            )
            elapsed = time.perf_counter() - start
            done += todo
            # As many steps per call as take about _CALL_SECONDS: cancel stays prompt.
            chunk = max(1, min(_MAX_CHUNK, int(_CALL_SECONDS * todo / max(elapsed, 1e-9))))
            if done % every == 0 and done < n:
                fraction = (first + len(group) * done / n) / total
                progress(fraction, f"{name}: step {done} of {n}")
        final = np.asarray(_render_batch(spectrum, consts[0], h, w), np.float32)
        x = (final @ matrix + offset).astype(np.float32)
        values = gallery.value(tf.constant(x), group_t, grey).numpy()
        for i, ch in enumerate(group):
            picture = UnitVisualisation(
                ch, x[i], final[i], to_display(final[i]), float(values[i]), n
            )
            pictures.append(picture)
            on_picture(picture)
        progress((first + len(group)) / total, f"{first + len(group)} of {total} channels")
    return pictures


# -- dataset examples -----------------------------------------------------------------------
def _onnx_network(model: Any) -> Any:
    """The ``OnnxNetwork`` of an ONNX model (or of a ``LoadedModel`` holding one), else None."""
    from engine.models.onnx_model import is_onnx

    if is_onnx(model):
        return model
    inner = getattr(model, "model", None)
    return inner if is_onnx(inner) else None


def _channel_maps(
    model: Any, layer_name: str
) -> tuple[Callable[[int], Callable[[np.ndarray], np.ndarray]], int]:
    """``(maps_of, channels)``: ``maps_of(c)`` is a function of a batch of inputs
    (B, H, W, C) -> channel ``c``'s maps (B, h, w) float32 numpy; ``channels`` how many
    the layer has. A Keras model runs its compiled sub-model; an ONNX model (no
    gradients, no TensorFlow) the run of every node that its probe makes
    (``OnnxProbe.run_batch``), its NCHW maps read as (H, W, C)."""
    network = _onnx_network(model)
    if network is not None:
        layer = network.layer(layer_name)
        if not layer.maps or layer.output_shape[-1] is None:
            raise ValueError(
                f"layer {layer_name!r} has output shape {layer.output_shape}: it has no "
                "spatial maps (H, W, C)"
            )
        probe = network.probe([layer_name])

        def onnx_maps(c: int) -> Callable[[np.ndarray], np.ndarray]:
            def maps(xb: np.ndarray) -> np.ndarray:
                return np.asarray(probe.run_batch(xb)[layer_name][..., c], np.float32)

            return maps

        return onnx_maps, int(layer.output_shape[-1])
    import tensorflow as tf

    keras_model, _ = _unwrap(model)
    vis = _visualiser(keras_model)
    fn = vis.channel_map(layer_name)

    def keras_maps(c: int) -> Callable[[np.ndarray], np.ndarray]:
        channel_t = tf.constant(c, tf.int32)
        return lambda xb: fn(xb, channel_t).numpy()

    return keras_maps, vis.channels(layer_name)


def top_examples(
    model: keras.Model | LoadedModel,
    layer_name: str,
    channel: int,
    images: Sequence[Any] | np.ndarray,
    k: int = 9,
    batch_size: int = 64,
    prepare: Callable[[Any], np.ndarray] | None = None,
    progress: ProgressCallback = no_progress,
    cancelled: CancelCheck = never_cancelled,
) -> list[Example]:
    """The ``k`` inputs whose channel reaches the highest maximum over its map, best first.

    Parameters
    ----------
    model : keras.Model or LoadedModel
        A Keras model, or an ONNX one (``OnnxNetwork`` or its ``OnnxLoadedModel``):
        forward passes only, so no gradients are needed.
    layer_name : str
        A layer with spatial maps.
    channel : int
    images : sequence or array
        Model inputs (H, W, C) as the model takes them, or, with ``prepare``, anything
        ``prepare`` turns into one (e.g. uint8 photos and ``LoadedModel.prepare``).
    k : int
        How many to keep (fewer when there are fewer images).
    batch_size : int
        Inputs per forward pass.
    prepare : callable, optional
        One image -> one model input (H, W, C).
    progress : callable(fraction, message)
        Called after every batch.
    cancelled : callable() -> bool
        Asked before every batch; True raises ``InterruptedError("cancelled")``.

    Returns
    -------
    list of Example
        Descending by ``value`` (ties: lower index first); (``row``, ``col``) is where in
        the map the maximum is, for ``example_crop``.
    """
    channel_maps, channels = _channel_maps(model, layer_name)
    c = check_int("channel", channel, 0, channels)
    k = check_int("k", k, 1)
    batch_size = check_int("batch_size", batch_size, 1)
    n = len(images)
    fn = channel_maps(c)
    values = np.empty(0, np.float32)
    places = np.empty(0, np.int64)
    indices = np.empty(0, np.int64)
    width = 1
    for start in range(0, n, batch_size):
        if cancelled():
            raise InterruptedError("cancelled")
        stop = min(start + batch_size, n)
        if prepare is None and isinstance(images, np.ndarray):
            xb = images[start:stop]
        else:
            chunk = [images[i] for i in range(start, stop)]
            xb = np.stack([prepare(a) for a in chunk] if prepare is not None else chunk)
        if xb.ndim != 4 or not np.issubdtype(xb.dtype, np.floating):
            raise ValueError(
                "each input must be a float model input (H, W, C); give prepare= for raw "
                f"images. Received shape {xb.shape[1:]}, dtype {xb.dtype}"
            )
        maps = fn(np.asarray(xb, np.float32))
        width = maps.shape[2]
        flat = maps.reshape(stop - start, -1)
        where = flat.argmax(axis=1)  # the first maximum, row by row
        values = np.concatenate([values, flat[np.arange(stop - start), where]])
        places = np.concatenate([places, where])
        indices = np.concatenate([indices, np.arange(start, stop)])
        keep = np.lexsort((indices, -values.astype(np.float64)))[:k]
        values, places, indices = values[keep], places[keep], indices[keep]
        progress(stop / n, f"{stop} of {n} inputs")
    return [
        Example(int(i), float(v), int(p) // width, int(p) % width)
        for i, v, p in zip(indices, values, places, strict=True)
    ]


def example_crop(
    image_hw_or_image: tuple[int, int] | np.ndarray,
    model: keras.Model | LoadedModel,
    layer_name: str,
    row: int,
    col: int,
) -> tuple[int, int, int, int]:
    """The box (top, left, bottom, right) of an image that map pixel (row, col) sees.

    Half-open like slices: ``image[top:bottom, left:right]`` is the crop. The box is the
    unit's receptive field (``engine.explanation.attribution.receptive_field_2d`` and
    ``receptive_box``; an ONNX model's ``OnnxNetwork.receptive_field_2d``, read from its
    Conv and pooling attributes) in the model's input; when the image given (or its (height,
    width)) differs from a model of fixed input size, the box is scaled to the image, as
    ``prepare_image`` resizes the whole image to the model's size.
    """
    from engine.explanation.attribution import receptive_box, receptive_field_2d

    network = _onnx_network(model)
    if network is None:
        model, _ = _unwrap(model)
    if isinstance(image_hw_or_image, (tuple, list)) and len(image_hw_or_image) == 2:
        hw = (int(image_hw_or_image[0]), int(image_hw_or_image[1]))
    else:
        a = np.asarray(image_hw_or_image)
        if a.ndim not in (2, 3):
            raise ValueError(
                f"give an image (H, W[, C]) or its (height, width). Received shape {a.shape}"
            )
        hw = (int(a.shape[0]), int(a.shape[1]))
    if network is not None:  # an ONNX model: the field from its Conv and pooling attributes
        fixed = tuple(network.input_shape[:2])
        fields = network.receptive_field_2d(layer_name)
    else:
        fixed = tuple(model.inputs[0].shape[1:3])
        fields = receptive_field_2d(model, layer_name)
    input_hw = hw if None in fixed else (int(fixed[0]), int(fixed[1]))
    box = receptive_box(fields, row, col, input_hw)
    if input_hw == hw:
        return box
    sy, sx = hw[0] / input_hw[0], hw[1] / input_hw[1]
    top, left, bottom, right = box
    return (
        min(math.floor(top * sy), hw[0]),
        min(math.floor(left * sx), hw[1]),
        min(math.ceil(bottom * sy), hw[0]),
        min(math.ceil(right * sx), hw[1]),
    )


# -- the disk cache -------------------------------------------------------------------------
def weights_digest(model: keras.Model | LoadedModel) -> str:
    """A hash of the model's weights and architecture (hex): changes when any weight
    changes, and differs between two models of equal weights whose layers compute
    differently (another activation, a pooling instead of a stride, ...).

    Every weight is read where it lies (no copy to numpy): its bit patterns, as 32-bit
    integers, summed along every row and every column of the weight seen as a matrix
    (exact, wrapping integer sums), go into a SHA-1 with the weight's name, shape and
    dtype. Any change of one value changes its row's sum; two values swapped change
    their rows' or columns' sums. One compiled call per model (about 0.2 s for VGG16's
    138M weights on 2 cores): the model's weights can be edited in place (surgery), and
    nothing tells when a variable was assigned, so it is read each time, never cached.
    The architecture (``architecture_text``) is read once per model.
    """
    model, _ = _unwrap(model)
    vis = _visualiser(model)
    if vis._checksum is None:
        vis._checksum = _make_checksum(model)
    names, fn, architecture = vis._checksum
    h = hashlib.sha1(architecture.encode())
    for (name, shape, dtype), (cols, rows) in zip(names, fn(), strict=True):
        h.update(f"{name}|{shape}|{dtype};".encode())
        h.update(cols.numpy().tobytes())
        h.update(rows.numpy().tobytes())
    return h.hexdigest()


def architecture_text(model: keras.Model) -> str:
    """What the model computes, less its weights, as text: each layer's type and
    configuration (less its name) and the positions of the layers it takes input from.

    Two models built alike give the same text whatever names Keras gave their layers;
    a model with another activation, stride or order of layers gives another.
    """
    layers = list(model.layers)
    position = {layer.name: i for i, layer in enumerate(layers)}
    parts = []
    for layer in layers:
        try:
            config = dict(layer.get_config())
        except Exception:  # a layer that cannot say its configuration: its type only
            config = {}
        config.pop("name", None)
        nodes = list(getattr(layer, "_inbound_nodes", []))[:1]
        inbound = [
            position.get(parent.operation.name, -1)
            for node in nodes
            for parent in node.parent_nodes
        ]
        parts.append([type(layer).__name__, config, inbound])
    return json.dumps(parts, sort_keys=True, default=_config_value)


def _config_value(o: Any) -> Any:
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    return type(o).__name__  # never a repr with an address: the text must be stable


def _make_checksum(model: Any) -> tuple[list[tuple[str, tuple[int, ...], str]], Any, str]:
    import tensorflow as tf

    weights = list(model.weights)
    names = [(str(w.path), tuple(int(d) for d in w.shape), str(w.dtype)) for w in weights]

    def sums() -> list[tuple[Any, Any]]:
        out = []
        for w in weights:
            t = tf.convert_to_tensor(w.value)
            if t.dtype.size == 4:
                bits = tf.bitcast(t, tf.int32)
            elif t.dtype.is_floating:
                bits = tf.bitcast(tf.cast(t, tf.float32), tf.int32)
            else:
                bits = tf.cast(t, tf.int32)
            cols = int(t.shape[-1]) if t.shape.rank else 1
            bits = tf.reshape(bits, (-1, cols))
            out.append((tf.reduce_sum(bits, 0), tf.reduce_sum(bits, 1)))
        return out

    return names, tf.function(sums, autograph=False), architecture_text(model)


def cache_key(
    model: keras.Model | LoadedModel | None,
    layer_name: str,
    channel: int,
    settings: Mapping[str, Any],
    *,
    digest: str | None = None,
) -> str:
    """A file-name-safe key for one visualisation: the model's weights, the layer, the
    channel, ``settings`` (e.g. size, steps, seed, scaling) and ``METHOD``.

    ``settings`` must be JSON-serialisable (enums by their value). ``digest``: the
    model's ``weights_digest`` when the caller has it already (a gallery asks for the
    keys of hundreds of channels; the digest reads every weight, about 0.2 s for VGG16):
    the same key as without it, and ``model`` is then not read (None is fine).
    """
    if digest is None:
        if model is None:
            raise ValueError("give a model or its weights digest")
        digest = weights_digest(model)
    from enum import Enum

    def plain(o: Any) -> Any:
        if isinstance(o, Enum):
            return o.value
        if isinstance(o, np.generic):
            return o.item()
        if isinstance(o, (tuple, set)):
            return list(o)
        raise TypeError(f"settings must be JSON-serialisable. Received {o!r}")

    text = json.dumps(
        {
            "weights": str(digest),
            "layer": str(layer_name),
            "channel": int(channel),
            "settings": dict(settings),
            "method": METHOD,
        },
        sort_keys=True,
        default=plain,
    )
    return hashlib.sha1(text.encode()).hexdigest()


def save_visualisation(path: str | Path, vis: Visualisation) -> Path:
    """Write ``vis`` to ``path`` (.npz) atomically: never a half-written file."""
    target = Path(path)
    with atomic_path(target, suffix=".npz") as tmp:
        with open(tmp, "wb") as fh:
            np.savez(
                fh,
                x=np.asarray(vis.x, np.float32),
                image=np.asarray(vis.image, np.uint8),
                activation=np.float64(vis.activation),
                steps=np.int64(vis.steps),
            )
    return target


def load_visualisation(path: str | Path) -> Visualisation:
    """Read a ``Visualisation`` written by ``save_visualisation``.

    Raises ValueError when the file is not one (damaged, or another .npz).
    """
    try:
        with np.load(Path(path), allow_pickle=False) as data:
            return Visualisation(
                np.asarray(data["x"], np.float32),
                np.asarray(data["image"], np.uint8),
                float(data["activation"]),
                int(data["steps"]),
            )
    except (OSError, KeyError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise ValueError(f"'{path}' is not a saved visualisation: {exc}") from exc
