"""The digit models: the lecture's MNIST CNN and LeNet-5. Build, save, load trained.

Both are built, trained and loaded the same way, chosen by a key (``"mnist"``,
``"lenet5"``): ``DIGIT_MODELS`` holds, per key, the builder, the weights file name and the
padding the model's input adds around a 28x28 digit (LeNet-5 takes MNIST padded by 2 to
32x32, as in LeCun et al. 1998). TensorFlow is imported inside the functions, so
importing this module is cheap.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from engine.util.files import atomic_path, atomic_write
from engine.util.paths import RESOURCES, user_data_dir

if TYPE_CHECKING:
    import keras

log = logging.getLogger(__name__)

MNIST, LENET5 = "mnist", "lenet5"

#: The lecture's table: (layer type, output shape without batch, parameters).
LECTURE_SUMMARY = (
    ("Conv2D", (26, 26, 32), 320),
    ("Conv2D", (24, 24, 64), 18_496),
    ("MaxPooling2D", (12, 12, 64), 0),
    ("Dropout", (12, 12, 64), 0),
    ("Flatten", (9216,), 0),
    ("Dense", (128,), 1_179_776),
    ("Dropout", (128,), 0),
    ("Dense", (10,), 1_290),
)
LECTURE_TOTAL_PARAMS = 1_199_882

#: LeNet-5 (LeCun, Bottou, Bengio, Haffner 1998) as in the lecture's "Overview" slide:
#: (layer type, output shape, parameters). The subsampling layers S2 and S4 are plain
#: average pooling here (the paper gave each map a trainable weight and bias, 12 and 32
#: parameters more); C5 is a 5x5 convolution of the 5x5x16 maps, so its maps are 1x1.
LENET5_SUMMARY = (
    ("Conv2D", (28, 28, 6), 156),  # C1: 6 x (5*5*1 + 1)
    ("AveragePooling2D", (14, 14, 6), 0),  # S2
    ("Conv2D", (10, 10, 16), 2_416),  # C3: 16 x (5*5*6 + 1)
    ("AveragePooling2D", (5, 5, 16), 0),  # S4
    ("Conv2D", (1, 1, 120), 48_120),  # C5: 120 x (5*5*16 + 1)
    ("Flatten", (120,), 0),
    ("Dense", (84,), 10_164),  # F6: 84 x (120 + 1)
    ("Dense", (10,), 850),  # output: 10 x (84 + 1)
)
LENET5_TOTAL_PARAMS = 61_706

# The MNIST CNN's names, kept for the code that knew only that model.
WEIGHTS_NAME = "mnist_cnn.weights.h5"
SHIPPED_WEIGHTS = RESOURCES / WEIGHTS_NAME
SHIPPED_INFO = RESOURCES / "mnist_cnn.json"


def _compile(model: keras.Model, learning_rate: float = 1e-3) -> keras.Model:
    import keras

    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model


def build_mnist_cnn(compile: bool = True) -> keras.Model:
    """Exactly the lecture's model (the classic Keras MNIST example), compiled for training.

    >>> model = build_mnist_cnn(compile=False)
    >>> model.count_params()
    1199882
    >>> model.output_shape
    (None, 10)
    """
    import keras
    from keras import layers

    model = keras.Sequential(
        [
            keras.Input(shape=(28, 28, 1), name="digit"),
            layers.Conv2D(32, 3, activation="relu", name="conv2d_1"),
            layers.Conv2D(64, 3, activation="relu", name="conv2d_2"),
            layers.MaxPooling2D(2, name="max_pooling2d"),
            layers.Dropout(0.25, name="dropout_1"),
            layers.Flatten(name="flatten"),
            layers.Dense(128, activation="relu", name="dense_1"),
            layers.Dropout(0.5, name="dropout_2"),
            layers.Dense(10, activation="softmax", name="dense_2"),
        ],
        name="mnist_cnn",
    )
    return _compile(model) if compile else model


def build_lenet5(compile: bool = True) -> keras.Model:
    """LeNet-5 on MNIST padded by 2 (32x32x1): C1, S2, C3, S4, C5, F6, output; tanh.

    Compiled like the lecture's CNN (Adam, sparse cross-entropy), with a learning rate of
    3e-3 rather than 1e-3: the small tanh network learns the augmented digits faster and
    better so (98.5% against 97.9% on the 1,000 development test digits, 80 epochs).

    >>> model = build_lenet5(compile=False)
    >>> model.count_params(), model.input_shape, model.get_layer("c5").output.shape
    (61706, (None, 32, 32, 1), (None, 1, 1, 120))
    """
    import keras
    from keras import layers

    model = keras.Sequential(
        [
            keras.Input(shape=(32, 32, 1), name="digit"),
            layers.Conv2D(6, 5, activation="tanh", name="c1"),
            layers.AveragePooling2D(2, name="s2"),
            layers.Conv2D(16, 5, activation="tanh", name="c3"),
            layers.AveragePooling2D(2, name="s4"),
            layers.Conv2D(120, 5, activation="tanh", name="c5"),
            layers.Flatten(name="flatten"),
            layers.Dense(84, activation="tanh", name="f6"),
            layers.Dense(10, activation="softmax", name="output"),
        ],
        name="lenet5",
    )
    return _compile(model, learning_rate=3e-3) if compile else model


@dataclass(frozen=True)
class DigitModel:
    """One model of 28x28 digits: how to build it and where its weights live.

    ``pad`` zeros are added on each side of the 28x28 digit to make the model's input
    (LeNet-5: 2, so 32x32); ``weights_name`` is the file name both in ``resources/`` (the
    shipped weights) and in the user's data folder (weights trained in the app).
    """

    key: str
    title: str
    build: Callable[..., keras.Model]
    weights_name: str
    pad: int = 0

    @property
    def input_size(self) -> int:
        return 28 + 2 * self.pad

    @property
    def shipped_weights(self) -> Path:
        return RESOURCES / self.weights_name

    @property
    def info_name(self) -> str:
        """The name of the .json of figures written beside a weights file."""
        return self.weights_name.removesuffix(".weights.h5") + ".json"


DIGIT_MODELS: dict[str, DigitModel] = {
    MNIST: DigitModel(MNIST, "MNIST CNN (the lecture's)", build_mnist_cnn, WEIGHTS_NAME),
    LENET5: DigitModel(LENET5, "LeNet-5 (1998)", build_lenet5, "lenet5.weights.h5", pad=2),
}


def digit_model(key: str) -> DigitModel:
    """The ``DIGIT_MODELS`` entry of ``key``, or a ValueError that lists the keys.

    >>> digit_model("lenet5").input_size
    32
    """
    try:
        return DIGIT_MODELS[key]
    except KeyError:
        raise ValueError(
            f"unknown digit model {key!r}; choose one of {', '.join(DIGIT_MODELS)}"
        ) from None


def build_digit_model(key: str = MNIST, compile: bool = True) -> keras.Model:
    """``build_mnist_cnn`` or ``build_lenet5``, by key."""
    return digit_model(key).build(compile=compile)


def pad_digits(x: np.ndarray, pad: int) -> np.ndarray:
    """Add ``pad`` zero pixels on each side of 28x28 digits: (..., 28, 28) or (..., 28, 28, 1).

    >>> pad_digits(np.ones((5, 28, 28)), 2).shape
    (5, 32, 32)
    >>> float(pad_digits(np.ones((28, 28, 1)), 2)[:, :, 0].sum())
    784.0
    """
    if pad < 0:
        raise ValueError(f"pad must be >= 0. Received: pad={pad}")
    a = np.asarray(x)
    if a.shape[-2:] == (28, 28):
        first = a.ndim - 2
    elif a.shape[-3:] == (28, 28, 1):
        first = a.ndim - 3
    else:
        raise ValueError(f"digits must be (..., 28, 28) or (..., 28, 28, 1). Received {a.shape}")
    if pad == 0:
        return a
    widths = [(pad, pad) if i in (first, first + 1) else (0, 0) for i in range(a.ndim)]
    return np.pad(a, widths)


def user_weights_path(key: str = MNIST) -> Path:
    """Where weights trained in the app (or by ``train``) go, in the user's data folder."""
    return user_data_dir() / digit_model(key).weights_name


def save_weights(model: keras.Model, path: str | Path) -> Path:
    """Write weights to a temp file beside ``path``, then rename it over ``path``.

    Only the layers' weights are written (no optimizer state, a third of the size).
    """

    bare = model
    if getattr(model, "optimizer", None) is not None:
        # A model rebuilt from its config is not compiled. (keras.models.clone_model
        # compiles the copy too in Keras 3, and save_weights then writes the optimizer's
        # variables as well.)
        bare = type(model).from_config(model.get_config())
        bare.set_weights(model.get_weights())
    with atomic_path(path, suffix=".weights.h5") as tmp:
        bare.save_weights(tmp)
    return Path(path)


@dataclass(frozen=True)
class WeightsInfo:
    """One weights file of a digit model and the figures recorded beside it.

    ``source``: "shipped" (with the app), "yours" (trained in the app or by ``train``).
    """

    path: Path
    source: str
    test_accuracy: float | None
    trained_at: str = ""  # when it was trained, as recorded ("" when unknown)
    test_digits: int | None = None  # how many test digits the accuracy was measured on

    def accuracy_text(self) -> str:
        """``"98.60% on its 1,000 test digits"``, or "untested"."""
        if not self.test_accuracy:
            return "untested"
        n = f"{self.test_digits:,} " if self.test_digits else ""
        return f"{self.test_accuracy:.2%} on its {n}test digits"

    def label(self) -> str:
        """A line for a person: what it is and how good it is."""
        acc = self.accuracy_text()
        if self.source == "shipped":
            return f"shipped with the app ({acc})"
        when = f"trained {self.trained_at}" if self.trained_at else f"your {self.path.name}"
        return f"{when} ({acc})"


def weights_folder() -> Path:
    """Every weights file trained in the app, kept with its figures."""
    folder = user_data_dir() / "weights"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def new_weights_path(key: str = MNIST) -> Path:
    """A new, unused file name for a training run of ``key``."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    folder = weights_folder()
    for n in range(1000):
        suffix = f"-{n}" if n else ""
        path = folder / f"{key}-{stamp}{suffix}.weights.h5"
        if not path.exists():
            return path
    raise OSError(f"no free weights file name in {folder}")


def _info(path: Path, source: str) -> WeightsInfo:
    meta = path.with_suffix("").with_suffix(".json")
    acc, when, digits = None, "", None
    if meta.exists():
        try:
            data = json.loads(meta.read_text())
            acc, when = data.get("test_accuracy"), str(data.get("trained_at", ""))
            digits = data.get("test_digits")
        except (OSError, ValueError):
            pass
    return WeightsInfo(path, source, acc, when, int(digits) if digits else None)


def list_weights(key: str = MNIST) -> list[WeightsInfo]:
    """The weights the person can choose from: the shipped ones first, then every run
    trained in the app (newest first), then a file of the first version's single slot."""
    runs = sorted(weights_folder().glob(f"{key}-*.weights.h5"), reverse=True)
    out = [_info(digit_model(key).shipped_weights, "shipped")]
    out += [_info(p, "yours") for p in runs]
    legacy = user_weights_path(key)
    if legacy.exists():
        out.append(_info(legacy, "yours"))
    return out


def _active_file() -> Path:
    return weights_folder() / "active.json"


def use_weights(key: str, path: str | Path) -> None:
    """Make ``path`` (one of ``list_weights(key)``) the weights ``key`` loads from now on."""
    p = Path(path)
    if not p.is_file():
        raise ValueError(f"'{p}' does not exist or is not a file")
    active = _read_active()
    active[key] = str(p)
    atomic_write(_active_file(), lambda t: t.write_text(json.dumps(active, indent=2)))


def _read_active() -> dict[str, str]:
    try:
        data = json.loads(_active_file().read_text())
        return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def weights_info(key: str = MNIST) -> WeightsInfo:
    """The weights ``load_trained(key)`` uses: the chosen ones, else the first version's
    single trained file, else the shipped ones; with their recorded accuracy."""
    chosen = _read_active().get(key)
    if chosen and Path(chosen).is_file():
        source = "shipped" if Path(chosen) == digit_model(key).shipped_weights else "yours"
        return _info(Path(chosen), source)
    legacy = user_weights_path(key)
    if legacy.exists():
        return _info(legacy, "yours")
    return _info(digit_model(key).shipped_weights, "shipped")


def _load_trained(key: str) -> keras.Model:
    entry = digit_model(key)
    model = entry.build(compile=False)
    info = weights_info(key)
    if info.source == "yours":
        try:
            model.load_weights(info.path)
            return model
        except Exception:
            log.exception("could not load your weights %s; using the shipped ones", info.path)
    model.load_weights(entry.shipped_weights)
    return model


def load_trained(key: str = MNIST) -> keras.Model:
    """The digit model ``key`` with the user's trained weights, else the shipped ones.

    A user weights file that cannot be read (damaged, another architecture) is logged and
    skipped in favour of the shipped weights, so drawing always works.
    """
    if key == MNIST:
        # Through the module attribute, so that code wrapping the historical name (a GUI
        # test counts the MNIST builds that way) still sees every load.
        return load_trained_mnist_cnn()
    return _load_trained(key)


def load_trained_mnist_cnn() -> keras.Model:
    """``load_trained("mnist")``: the lecture's model with the trained weights."""
    return _load_trained(MNIST)
