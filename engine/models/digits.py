"""Drawn digits: prepared as MNIST was prepared, then classified live by a digit model.

``preprocess_drawing`` is the arithmetic; ``PreparedDigit`` is its result as a type, what
the digit models receive (LeNet-5 with 2 zero pixels around it); ``DigitClassifier`` runs
one through a model.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image

from engine.inspection.activations import ActivationProbe
from engine.models.mnist_model import MNIST, load_trained, pad_digits

if TYPE_CHECKING:
    import keras

DIGIT_SHAPE = (28, 28)


@dataclass(frozen=True)
class DigitPlacement:
    """Where a drawing's ink went in the 28x28 digit (``digit_placement``).

    The ink's bounding box on the canvas (``top``, ``left``, ``height``, ``width``, in
    canvas pixels) was scaled to ``small_height`` x ``small_width`` pixels and put at row
    ``row``, column ``col`` of the 28x28 digit. ``canvas_shape`` is the canvas's (H, W).

    A canvas point (y, x), in pixel edges, lies at 28x28 point
    (row + (y - top) * small_height / height, col + (x - left) * small_width / width).
    """

    canvas_shape: tuple[int, int]
    top: int
    left: int
    height: int
    width: int
    row: int
    col: int
    small_height: int
    small_width: int

    @classmethod
    def whole(cls, canvas_shape: tuple[int, int]) -> DigitPlacement:
        """A 28x28 digit spread over the whole canvas (an opened digit, ``set_ink``)."""
        h, w = (int(n) for n in canvas_shape)
        return cls((h, w), 0, 0, h, w, 0, 0, *DIGIT_SHAPE)


def _prepare(canvas: np.ndarray) -> tuple[np.ndarray, DigitPlacement | None]:
    """``preprocess_drawing`` and where the ink went (None for an empty canvas)."""
    a = np.asarray(canvas, dtype=np.float32)
    if a.ndim != 2:
        raise ValueError(f"canvas must be a 2-D greyscale array. Received shape {a.shape}")
    a = np.nan_to_num(a, nan=0.0, posinf=0.0, neginf=0.0)
    peak = float(a.max()) if a.size else 0.0
    out = np.zeros(DIGIT_SHAPE, np.float32)
    if peak <= 0:
        return out, None
    a = np.clip(a / peak, 0.0, 1.0)
    rows = np.flatnonzero(a.max(axis=1) > 0.05)
    cols = np.flatnonzero(a.max(axis=0) > 0.05)
    crop = a[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    h, w = crop.shape
    scale = 20.0 / max(h, w)
    nh, nw = max(1, round(h * scale)), max(1, round(w * scale))
    small = np.asarray(
        Image.fromarray(crop, mode="F").resize(
            (nw, nh), Image.Resampling.LANCZOS, reducing_gap=None
        )
    )
    small = np.clip(small, 0.0, 1.0)
    total = float(small.sum())
    if total <= 0:
        return out, None
    ys, xs = np.indices(small.shape)
    cy, cx = float((ys * small).sum() / total), float((xs * small).sum() / total)
    top = int(np.clip(round(14 - cy), 0, 28 - nh))
    left = int(np.clip(round(14 - cx), 0, 28 - nw))
    out[top : top + nh, left : left + nw] = small
    shape = (int(a.shape[0]), int(a.shape[1]))
    placement = DigitPlacement(shape, int(rows[0]), int(cols[0]), h, w, top, left, nh, nw)
    return out, placement


def preprocess_drawing(canvas: np.ndarray) -> np.ndarray:
    """Prepare a drawing as MNIST was prepared: a (28, 28) float32 array in [0, 1].

    The ink (high values) is cropped to its bounding box, scaled to fit 20x20 keeping the
    aspect ratio (anti-aliased), and placed in 28x28 so that its centre of mass sits at
    the centre. An empty canvas gives zeros. ``digit_placement`` says where the ink went;
    ``digit_to_canvas`` takes a 28x28 map back onto the canvas.

    >>> c = np.zeros((280, 280)); c[40:240, 130:150] = 255
    >>> x = preprocess_drawing(c); x.shape, float(x.max()) <= 1.0
    ((28, 28), True)
    """
    return _prepare(canvas)[0]


def digit_placement(canvas: np.ndarray) -> DigitPlacement | None:
    """Where ``preprocess_drawing`` puts a drawing's ink: crop box, scale and shift.

    Returns None for an empty canvas.

    >>> c = np.zeros((280, 280)); c[40:240, 130:150] = 255
    >>> p = digit_placement(c); (p.top, p.height, p.small_height, p.small_width)
    (40, 200, 20, 2)
    """
    return _prepare(canvas)[1]


def digit_to_canvas(values: np.ndarray, placement: DigitPlacement) -> np.ndarray:
    """A (28, 28) map of the prepared digit (a Grad-CAM, say) back on the canvas.

    The inverse of ``preprocess_drawing``'s crop, scale and centre-of-mass shift: each
    canvas pixel takes the value (bilinear) of the 28x28 point it became; canvas pixels
    that fall outside the 28x28 digit get 0.

    Parameters
    ----------
    values : np.ndarray
        (28, 28) values, one per pixel of the prepared digit.
    placement : DigitPlacement
        ``digit_placement(canvas)`` of the drawing the digit was prepared from.

    Returns
    -------
    np.ndarray
        ``placement.canvas_shape`` float32 values.

    >>> c = np.zeros((280, 280)); c[40:240, 130:150] = 255
    >>> digit_to_canvas(preprocess_drawing(c), digit_placement(c)).shape
    (280, 280)
    """
    v = np.asarray(values, dtype=np.float32)
    if v.shape != DIGIT_SHAPE:
        raise ValueError(f"values must be {DIGIT_SHAPE}. Received shape {v.shape}")
    p = placement
    if min(p.height, p.width, p.small_height, p.small_width) < 1:
        raise ValueError(f"placement must have positive sizes. Received {p}")
    height, width = p.canvas_shape
    # The centre of each canvas pixel, in 28x28 pixel edges, then in pixel centres.
    ys = p.row + (np.arange(height) + 0.5 - p.top) * p.small_height / p.height - 0.5
    xs = p.col + (np.arange(width) + 0.5 - p.left) * p.small_width / p.width - 0.5
    padded = np.pad(v, 1)  # zeros around: the digit's surroundings are paper

    def weights(t: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        t = np.clip(t + 1.0, 0.0, DIGIT_SHAPE[0] + 1.0)  # in the padded array
        i0 = np.minimum(np.floor(t).astype(int), DIGIT_SHAPE[0])
        return i0, i0 + 1, (t - i0).astype(np.float32)

    y0, y1, fy = weights(ys)
    x0, x1, fx = weights(xs)
    top = padded[y0][:, x0] * (1 - fx) + padded[y0][:, x1] * fx
    bottom = padded[y1][:, x0] * (1 - fx) + padded[y1][:, x1] * fx
    return (top * (1 - fy)[:, None] + bottom * fy[:, None]).astype(np.float32)


def looks_like_a_digit(pixels: np.ndarray) -> bool:
    """True for a prepared picture that looks like an MNIST digit: mostly black paper
    (ink, above 0.1, on under 28% of it) and bold ink (at least half the ink above 0.5).

    A photo prepared as a digit fills its whole 20x20 box with greys; 98% of the MNIST
    test digits pass.

    Parameters
    ----------
    pixels : np.ndarray
        (H, W) or (H, W, 1) values in [0, 1], light ink on black (a prepared digit).

    >>> d = np.zeros((28, 28)); d[4:24, 13:15] = 1.0
    >>> looks_like_a_digit(d), looks_like_a_digit(np.full((28, 28), 0.4))
    (True, False)
    """
    a = np.asarray(pixels, dtype=np.float32)
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[:, :, 0]
    if a.ndim != 2 or a.size == 0:
        raise ValueError(f"pixels must be (H, W) or (H, W, 1). Received shape {a.shape}")
    ink = a > 0.1
    if not ink.any():
        return False
    return float(ink.mean()) < 0.28 and float((a > 0.5).sum() / ink.sum()) >= 0.5


@dataclass(frozen=True, eq=False)
class PreparedDigit:
    """A digit as the MNIST CNN receives it: MNIST-like pixels, light ink on black.

    Parameters
    ----------
    pixels : np.ndarray
        (28, 28) values in [0, 1]. Stored as a read-only float32 copy, so a
        ``PreparedDigit`` never changes once made.

    Raises
    ------
    ValueError
        ``pixels`` is not (28, 28), or has values outside [0, 1] (NaN included).

    Notes
    -----
    Make one from a drawing with ``prepare_digit(canvas)``, or directly from an MNIST
    image scaled to [0, 1]. ``np.asarray(digit)`` gives ``digit.pixels``.

    Examples
    --------
    >>> digit = PreparedDigit(np.zeros((28, 28)))
    >>> digit.pixels.dtype, digit.is_empty, digit.model_input().shape
    (dtype('float32'), True, (28, 28, 1))
    >>> PreparedDigit(np.ones((28, 27)))
    Traceback (most recent call last):
    ...
    ValueError: pixels must be (28, 28). Received shape (28, 27)
    """

    pixels: np.ndarray

    def __post_init__(self) -> None:
        a = np.array(self.pixels, dtype=np.float32)  # a copy: the caller's array may change
        if a.shape != DIGIT_SHAPE:
            raise ValueError(f"pixels must be {DIGIT_SHAPE}. Received shape {a.shape}")
        if not np.isfinite(a).all():
            raise ValueError("pixels must be finite values in [0, 1]. Received NaN or infinity")
        if a.min() < 0.0 or a.max() > 1.0:
            raise ValueError(
                f"pixels must be finite values in [0, 1]. Received values {a.min()}..{a.max()}"
            )
        a.setflags(write=False)
        object.__setattr__(self, "pixels", a)

    @property
    def is_empty(self) -> bool:
        """True when there is no ink at all (an empty canvas)."""
        return not self.pixels.any()

    def model_input(self, pad: int = 0) -> np.ndarray:
        """The (28, 28, 1) float32 array the CNN takes (one image, no batch axis).

        ``pad`` zeros are added on each side: LeNet-5 takes MNIST padded by 2, (32, 32, 1).
        """
        return pad_digits(self.pixels[:, :, None], pad)

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        # Lets code that took the bare (28, 28) array keep working with np.asarray. A
        # writable copy (3 KB), unless copy=False asks for the read-only pixels themselves.
        if copy is False and dtype in (None, np.float32):
            return self.pixels
        return np.array(self.pixels, dtype=dtype)


def prepare_digit(canvas: np.ndarray) -> PreparedDigit:
    """A drawing (2-D greyscale, ink high, any size) prepared as MNIST was prepared.

    Parameters
    ----------
    canvas : np.ndarray
        (H, W) ink values, 0 is paper; scaled by its maximum, so 0..255 and 0..1 both work.

    Returns
    -------
    PreparedDigit
        ``preprocess_drawing(canvas)`` as a ``PreparedDigit``: (28, 28) float32 in [0, 1].

    Examples
    --------
    >>> canvas = np.zeros((280, 280)); canvas[40:240, 130:150] = 255
    >>> digit = prepare_digit(canvas)
    >>> digit.pixels.shape, digit.is_empty
    ((28, 28), False)
    """
    return PreparedDigit(preprocess_drawing(canvas))


@dataclass(frozen=True)
class DigitPrediction:
    """What the model made of one drawing."""

    input: PreparedDigit  # what the model saw
    probabilities: np.ndarray | None  # (10,), None for an empty canvas
    activations: dict[str, np.ndarray]

    @property
    def digit(self) -> int | None:
        return None if self.probabilities is None else int(np.argmax(self.probabilities))


class DigitClassifier:
    """Preprocess a drawing and run it through a digit model with a reused compiled call.

    Returns the class probabilities and the conv and pooling layers' activations of the
    same pass. With no ``model``, the trained digit model ``model_key`` (the user's
    weights, else the shipped ones). The digit is padded to the model's input size (28:
    as it is; 32, LeNet-5: 2 zeros on each side).
    """

    def __init__(self, model: keras.Model | None = None, model_key: str = MNIST) -> None:
        import keras

        self.model = model if model is not None else load_trained(model_key)
        size = self.model.inputs[0].shape[1]
        if size is None or size < 28 or (size - 28) % 2:
            raise ValueError(f"a digit model takes 28x28 or padded digits. Received size {size}")
        self.pad = (int(size) - 28) // 2
        maps = (keras.layers.Conv2D, keras.layers.AveragePooling2D, keras.layers.MaxPooling2D)
        self.output_layer = self.model.layers[-1].name
        #: The conv and pooling layers whose maps come back with each prediction.
        self.shown_layers = tuple(
            layer.name for layer in self.model.layers if isinstance(layer, maps)
        )
        self.probe = ActivationProbe(self.model, [*self.shown_layers, self.output_layer])
        self.probe.run(np.zeros((size, size, 1), np.float32))  # trace once, up front

    def classify(self, canvas: np.ndarray) -> DigitPrediction:
        """Prepare a drawing (``prepare_digit``) and classify it."""
        return self.classify_prepared(prepare_digit(canvas))

    def classify_prepared(self, digit: PreparedDigit) -> DigitPrediction:
        """Classify a prepared digit; an empty one gives no probabilities."""
        if digit.is_empty:
            return DigitPrediction(digit, None, {})
        acts = self.probe.run(digit.model_input(self.pad))
        maps = {name: acts[name] for name in self.shown_layers}
        return DigitPrediction(digit, acts[self.output_layer], maps)
