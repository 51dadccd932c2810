"""Look inside a Keras model: every layer's output in one forward pass, the layer table.

``ActivationProbe`` builds, once, a model with the same inputs whose outputs are all the
layers' outputs, and wraps its call in a compiled ``tf.function`` (reused between calls,
so one small image costs far less than ``model.predict``'s per-call set-up).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import keras


@dataclass(frozen=True)
class LayerInfo:
    """One row of a Keras-style summary."""

    name: str
    type: str
    output_shape: tuple[int | None, ...]  # without the batch axis
    params: int

    def shape_text(self) -> str:
        return "(" + ", ".join("None" if d is None else str(d) for d in self.output_shape) + ")"


def _output_shape(layer: Any) -> tuple[int | None, ...]:
    shape = layer.output.shape
    return tuple(None if d is None else int(d) for d in shape[1:])


def layer_summary(model: keras.Model) -> list[LayerInfo]:
    """The model's layers (input layers excluded) as in ``model.summary()``.

    >>> [r.params for r in layer_summary(build_mnist_cnn())][:2]  # doctest: +SKIP
    [320, 18496]
    """
    rows = []
    for layer in model.layers:
        if type(layer).__name__ == "InputLayer":
            continue
        rows.append(
            LayerInfo(
                layer.name, type(layer).__name__, _output_shape(layer), int(layer.count_params())
            )
        )
    return rows


class ActivationProbe:
    """Every layer's activation for one input, computed in ONE forward pass.

    >>> probe = ActivationProbe(build_mnist_cnn())  # doctest: +SKIP
    >>> acts = probe.run(np.zeros((28, 28, 1)))      # doctest: +SKIP
    >>> acts["conv2d_1"].shape                      # doctest: +SKIP
    (26, 26, 32)
    """

    def __init__(self, model: keras.Model, layer_names: list[str] | None = None) -> None:
        import keras
        import tensorflow as tf

        self.model = model
        layers = [layer for layer in model.layers if type(layer).__name__ != "InputLayer"]
        if layer_names is not None:
            wanted = set(layer_names)
            layers = [layer for layer in layers if layer.name in wanted]
        if not layers:
            raise ValueError("the model has no layers to probe")
        self.layer_names = [layer.name for layer in layers]
        self._multi = keras.Model(model.inputs, [layer.output for layer in layers])
        shape = tuple(model.inputs[0].shape)
        self.input_shape: tuple[int | None, ...] = tuple(
            None if d is None else int(d) for d in shape[1:]
        )
        self._call = tf.function(lambda x: self._multi(x, training=False), reduce_retracing=True)

    def run(self, x: np.ndarray) -> OrderedDict[str, np.ndarray]:
        """Activations by layer name (in layer order), batch axis removed.

        ``x`` is one input, with or without its batch axis.
        """
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
        return OrderedDict(
            (name, np.asarray(out)[0]) for name, out in zip(self.layer_names, outputs, strict=True)
        )


@dataclass(frozen=True)
class MapStats:
    """Statistics of one feature map."""

    minimum: float
    maximum: float
    mean: float
    zero_fraction: float  # after ReLU, the share of units that are off

    @classmethod
    def of(cls, a: np.ndarray) -> MapStats:
        x = np.asarray(a, dtype=np.float64)
        return cls(float(x.min()), float(x.max()), float(x.mean()), float((x == 0).mean()))


def conv_kernel(model: keras.Model, layer_name: str) -> np.ndarray | None:
    """The (F, F, C_in, K) kernel of a 2-D convolution layer, or None for other layers."""
    layer = model.get_layer(layer_name)
    if type(layer).__name__ not in ("Conv2D", "Conv2DTranspose", "DepthwiseConv2D"):
        return None
    weights = layer.get_weights()
    if not weights or np.asarray(weights[0]).ndim != 4:
        return None
    return np.asarray(weights[0])


def block_of(layer_name: str) -> str:
    """The block a layer belongs to, from Keras' naming (``block3_conv2`` -> ``block3``,
    ``conv4_block2_add`` -> ``conv4_block2``); other names are their own block."""
    parts = layer_name.split("_")
    for i, part in enumerate(parts):
        if part.startswith("block") and part[5:].isdigit():
            return "_".join(parts[: i + 1])
    return layer_name
