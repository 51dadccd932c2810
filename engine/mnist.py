"""The lecture's MNIST CNN: build it, load MNIST, train it, ship and load its weights.

TensorFlow is imported inside the functions, so importing this module is cheap.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image

from engine.files import atomic_path, atomic_write
from engine.paths import RESOURCES, user_data_dir

if TYPE_CHECKING:
    import keras

log = logging.getLogger(__name__)

WEIGHTS_NAME = "mnist_cnn.weights.h5"
SHIPPED_WEIGHTS = RESOURCES / WEIGHTS_NAME
SHIPPED_INFO = RESOURCES / "mnist_cnn.json"
KERAS_MNIST_CACHE = Path.home() / ".keras" / "datasets" / "mnist.npz"

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


class MnistDataError(ValueError):
    """MNIST could not be loaded; the message tells the person what to do."""


def user_weights_path() -> Path:
    return user_data_dir() / WEIGHTS_NAME


def build_mnist_cnn(compile: bool = True) -> keras.Model:
    """Exactly the lecture's model (the classic Keras MNIST example), compiled for training.

    >>> build_mnist_cnn().count_params()
    1199882
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
    if not compile:
        return model
    model.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model


# -- data --------------------------------------------------------------------------------
Split = tuple[np.ndarray, np.ndarray]


def _check_split(name: str, x: np.ndarray, y: np.ndarray) -> Split:
    if x.ndim != 3 or x.shape[1:] != (28, 28):
        raise MnistDataError(f"{name}: images must be (N, 28, 28); the file has {x.shape}")
    if y.ndim != 1 or len(y) != len(x):
        raise MnistDataError(
            f"{name}: {len(x)} images but labels of shape {y.shape}; expected one label each"
        )
    if len(y) and (y.min() < 0 or y.max() > 9):
        raise MnistDataError(f"{name}: labels must be digits 0..9; found {y.min()}..{y.max()}")
    return x.astype(np.uint8), y.astype(np.uint8)


def load_mnist(path: str | Path | None = None) -> tuple[Split, Split]:
    """(x_train, y_train), (x_test, y_test) as uint8 arrays.

    With no ``path``, Keras' own cache and download (``keras.datasets.mnist``); with a
    path, any ``.npz`` in Keras' mnist layout (keys x_train, y_train, x_test, y_test).
    """
    if path is None:
        try:
            import keras

            (xa, ya), (xb, yb) = keras.datasets.mnist.load_data()
        except Exception as exc:
            raise MnistDataError(
                "MNIST could not be downloaded (no network?). Download mnist.npz on a machine "
                f"with network and put it at {KERAS_MNIST_CACHE}, or choose an .npz file in "
                f"Keras' mnist layout. ({type(exc).__name__}: {exc})"
            ) from exc
        return _check_split("training set", xa, ya), _check_split("test set", xb, yb)
    p = Path(path)
    if not p.is_file():
        raise MnistDataError(f"'{p}' does not exist or is not a file")
    try:
        with np.load(p, allow_pickle=False) as data:
            missing = {"x_train", "y_train", "x_test", "y_test"} - set(data.files)
            if missing:
                raise MnistDataError(
                    f"'{p.name}' is not in Keras' mnist layout: "
                    f"missing {', '.join(sorted(missing))}"
                    f" (it has {', '.join(data.files) or 'no arrays'})"
                )
            arrays = {k: data[k] for k in ("x_train", "y_train", "x_test", "y_test")}
    except MnistDataError:
        raise
    except Exception as exc:
        raise MnistDataError(f"'{p.name}' is not a readable .npz file: {exc}") from exc
    return (
        _check_split("training set", arrays["x_train"], arrays["y_train"]),
        _check_split("test set", arrays["x_test"], arrays["y_test"]),
    )


# -- training ----------------------------------------------------------------------------
@dataclass(frozen=True)
class TrainRecord:
    """One progress record: after a batch (``kind='batch'``) or an epoch (``'epoch'``)."""

    kind: str
    epoch: int  # 1-based
    epochs: int
    batch: int  # 1-based within the epoch
    batches: int
    loss: float
    accuracy: float
    fraction: float
    elapsed_s: float
    val_loss: float | None = None
    val_accuracy: float | None = None

    @property
    def seconds_left(self) -> float:
        return self.elapsed_s / self.fraction * (1 - self.fraction) if self.fraction > 0 else 0.0


@dataclass(frozen=True)
class TrainResult:
    cancelled: bool
    epochs_done: int
    test_accuracy: float | None
    weights_path: Path | None


def _noop(*_: Any) -> None:
    return None


def _augmenter(seed: int) -> Any:
    import keras
    from keras import layers

    # Drawn digits are not centred or upright like MNIST: small shifts, turns and zooms.
    return keras.Sequential(
        [
            layers.RandomRotation(0.04, fill_mode="constant", seed=seed),
            layers.RandomTranslation(0.1, 0.1, fill_mode="constant", seed=seed + 1),
            layers.RandomZoom(0.1, fill_mode="constant", seed=seed + 2),
        ],
        name="augment",
    )


def train_mnist(
    data: tuple[Split, Split],
    epochs: int = 12,
    batch_size: int = 128,
    out_path: str | Path | None = None,
    augment: bool = True,
    seed: int = 0,
    progress: Callable[[float, str], None] = _noop,
    cancelled: Callable[[], bool] = lambda: False,
    on_record: Callable[[TrainRecord], None] = _noop,
) -> TrainResult:
    """Train the lecture's CNN with Keras' ``fit``; save the weights atomically.

    ``on_record`` gets a ``TrainRecord`` after every batch and epoch; ``cancelled()`` is
    checked between batches (Keras' ``stop_training``). A cancelled run saves nothing, so
    the last good weights stay as they were.
    """
    if epochs < 1:
        raise ValueError(f"epochs must be >= 1. Received: epochs={epochs}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1. Received: batch_size={batch_size}")
    import keras
    import tensorflow as tf

    (x_train, y_train), (x_test, y_test) = data
    if len(x_train) == 0:
        raise MnistDataError("the training set is empty")
    keras.utils.set_random_seed(seed)
    x_tr = (x_train.astype("float32") / 255.0)[..., None]
    x_te = (x_test.astype("float32") / 255.0)[..., None]
    ds = tf.data.Dataset.from_tensor_slices((x_tr, y_train.astype("int32")))
    ds = ds.shuffle(len(x_tr), seed=seed).batch(batch_size)
    if augment:
        aug = _augmenter(seed)
        ds = ds.map(lambda x, y: (aug(x, training=True), y), num_parallel_calls=tf.data.AUTOTUNE)
    ds = ds.prefetch(tf.data.AUTOTUNE)
    batches = math.ceil(len(x_tr) / batch_size)
    model = build_mnist_cnn()
    start = time.monotonic()

    class Reporter(keras.callbacks.Callback):
        def __init__(self) -> None:
            super().__init__()
            self.epoch = 0
            self.stopped = False
            self.last: dict[str, float] = {}

        def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
            self.epoch = epoch

        def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
            if cancelled():
                self.model.stop_training = True
                self.stopped = True
                return
            logs = logs or {}
            done = (self.epoch * batches + batch + 1) / (epochs * batches)
            self.last = {"loss": float(logs.get("loss", 0)), "acc": float(logs.get("accuracy", 0))}
            on_record(
                TrainRecord(
                    "batch",
                    self.epoch + 1,
                    epochs,
                    batch + 1,
                    batches,
                    self.last["loss"],
                    self.last["acc"],
                    done,
                    time.monotonic() - start,
                )
            )
            progress(done, f"epoch {self.epoch + 1}/{epochs}, batch {batch + 1}/{batches}")

        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            if self.stopped:
                return
            logs = logs or {}
            on_record(
                TrainRecord(
                    "epoch",
                    epoch + 1,
                    epochs,
                    batches,
                    batches,
                    float(logs.get("loss", 0)),
                    float(logs.get("accuracy", 0)),
                    (epoch + 1) / epochs,
                    time.monotonic() - start,
                    float(logs.get("val_loss", math.nan)),
                    float(logs.get("val_accuracy", math.nan)),
                )
            )

    reporter = Reporter()
    validation = (x_te, y_test.astype("int32")) if len(x_te) else None
    history = model.fit(
        ds,
        epochs=epochs,
        validation_data=validation,
        verbose=0,
        shuffle=False,
        callbacks=[reporter],
    )
    epochs_done = len(history.history.get("loss", []))
    if reporter.stopped or cancelled():
        log.info("training cancelled after %d epoch(s); weights left as they were", epochs_done)
        return TrainResult(True, epochs_done, None, None)
    test_acc = None
    if validation is not None:
        _, test_acc = model.evaluate(x_te, y_test.astype("int32"), verbose=0)
    target = Path(out_path) if out_path else user_weights_path()
    save_weights(model, target)
    info = {
        "test_accuracy": test_acc,
        "test_digits": len(x_te),
        "train_digits": len(x_tr),
        "epochs": epochs_done,
        "batch_size": batch_size,
        "augment": augment,
        "seed": seed,
    }
    atomic_write(
        target.with_suffix("").with_suffix(".json"),
        lambda p: p.write_text(json.dumps(info, indent=2)),
    )
    return TrainResult(False, epochs_done, test_acc, target)


def save_weights(model: keras.Model, path: str | Path) -> Path:
    """Write weights to a temp file beside ``path``, then rename it over ``path``.

    Only the layers' weights are written (no optimizer state, a third of the size).
    """
    import keras

    bare = model
    if getattr(model, "optimizer", None) is not None:
        bare = keras.models.clone_model(model)
        bare.set_weights(model.get_weights())
    with atomic_path(path, suffix=".weights.h5") as tmp:
        bare.save_weights(tmp)
    return Path(path)


@dataclass(frozen=True)
class WeightsInfo:
    path: Path
    source: str  # "yours" or "shipped"
    test_accuracy: float | None


def weights_info() -> WeightsInfo:
    """Which weights ``load_trained_mnist_cnn`` would use, and their recorded accuracy."""
    path = user_weights_path()
    source = "yours"
    if not path.exists():
        path, source = SHIPPED_WEIGHTS, "shipped"
    meta = path.with_suffix("").with_suffix(".json")
    acc = None
    if meta.exists():
        try:
            acc = json.loads(meta.read_text()).get("test_accuracy")
        except (OSError, ValueError):
            acc = None
    return WeightsInfo(path, source, acc)


def load_trained_mnist_cnn() -> keras.Model:
    """The lecture's model with the user's trained weights, else the shipped ones.

    A user weights file that cannot be read (damaged, another architecture) is logged and
    skipped in favour of the shipped weights, so drawing always works.
    """
    model = build_mnist_cnn(compile=False)
    user = user_weights_path()
    if user.exists():
        try:
            model.load_weights(user)
            return model
        except Exception:
            log.exception("could not load your weights %s; using the shipped ones", user)
    model.load_weights(SHIPPED_WEIGHTS)
    return model


# -- drawn digits ------------------------------------------------------------------------
def preprocess_drawing(canvas: np.ndarray) -> np.ndarray:
    """Prepare a drawing as MNIST was prepared: a (28, 28) float32 array in [0, 1].

    The ink (high values) is cropped to its bounding box, scaled to fit 20x20 keeping the
    aspect ratio (anti-aliased), and placed in 28x28 so that its centre of mass sits at
    the centre. An empty canvas gives zeros.

    >>> c = np.zeros((280, 280)); c[40:240, 130:150] = 255
    >>> x = preprocess_drawing(c); x.shape, float(x.max()) <= 1.0
    ((28, 28), True)
    """
    a = np.asarray(canvas, dtype=np.float32)
    if a.ndim != 2:
        raise ValueError(f"canvas must be a 2-D greyscale array. Received shape {a.shape}")
    a = np.nan_to_num(a, nan=0.0, posinf=0.0, neginf=0.0)
    peak = float(a.max()) if a.size else 0.0
    out = np.zeros((28, 28), np.float32)
    if peak <= 0:
        return out
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
        return out
    ys, xs = np.indices(small.shape)
    cy, cx = float((ys * small).sum() / total), float((xs * small).sum() / total)
    top = int(np.clip(round(14 - cy), 0, 28 - nh))
    left = int(np.clip(round(14 - cx), 0, 28 - nw))
    out[top : top + nh, left : left + nw] = small
    return out


# -- headless training entry ---------------------------------------------------------------
def train_cli(args: argparse.Namespace) -> int:
    """``python main.py train``: train, print progress, save the weights atomically."""
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        data = load_mnist(args.data)
    except MnistDataError as exc:
        print(f"error: {exc}")
        return 2

    def on_record(r: TrainRecord) -> None:
        if r.kind == "epoch":
            print(
                f"epoch {r.epoch}/{r.epochs}: loss {r.loss:.4f} acc {r.accuracy:.4f} "
                f"val_loss {r.val_loss:.4f} val_acc {r.val_accuracy:.4f} "
                f"({r.elapsed_s:.0f} s, ~{r.seconds_left:.0f} s left)",
                flush=True,
            )

    result = train_mnist(
        data,
        epochs=args.epochs,
        batch_size=args.batch_size,
        out_path=args.out,
        augment=args.augment,
        seed=args.seed,
        on_record=on_record,
    )
    print(json.dumps({k: str(v) if isinstance(v, Path) else v for k, v in asdict(result).items()}))
    return 0


# -- live classification -------------------------------------------------------------------
@dataclass(frozen=True)
class DigitPrediction:
    """What the model made of one drawing."""

    input: np.ndarray  # (28, 28) float32, what the model sees
    probabilities: np.ndarray | None  # (10,), None for an empty canvas
    activations: dict[str, np.ndarray]

    @property
    def digit(self) -> int | None:
        return None if self.probabilities is None else int(np.argmax(self.probabilities))


class DigitClassifier:
    """Preprocess a drawing and run it through the CNN with a reused compiled call.

    Returns the class probabilities and the conv layers' activations of the same pass.
    """

    SHOWN_LAYERS = ("conv2d_1", "conv2d_2", "max_pooling2d", "dense_2")

    def __init__(self, model: keras.Model | None = None) -> None:
        from engine.activations import ActivationProbe

        self.model = model if model is not None else load_trained_mnist_cnn()
        self.probe = ActivationProbe(self.model, list(self.SHOWN_LAYERS))
        self.probe.run(np.zeros((28, 28, 1), np.float32))  # trace once, up front

    def classify(self, canvas: np.ndarray) -> DigitPrediction:
        x = preprocess_drawing(canvas)
        if not x.any():
            return DigitPrediction(x, None, {})
        acts = self.probe.run(x[:, :, None])
        probs = acts.pop("dense_2")
        return DigitPrediction(x, probs, dict(acts))
