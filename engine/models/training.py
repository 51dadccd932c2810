"""Train a digit model (the lecture's MNIST CNN, LeNet-5) with progress and cancellation.

Plain Python callbacks, no Qt: ``progress(fraction, message)``, ``on_record(TrainRecord)``
and ``cancelled() -> bool``, checked between batches. TensorFlow is imported inside
``train_mnist``, so importing this module is cheap.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.models.mnist_data import MnistDataError, Split
from engine.models.mnist_model import (
    MNIST,
    digit_model,
    new_weights_path,
    pad_digits,
    save_weights,
    use_weights,
    weights_info,
)
from engine.util.files import atomic_write
from engine.util.progress import ignore, no_progress

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainRecord:
    """One progress record: after a batch (``kind='batch'``) or an epoch (``'epoch'``).

    >>> r = TrainRecord("batch", 1, 2, 5, 10, 0.3, 0.9, fraction=0.25, elapsed_s=10.0)
    >>> r.seconds_left
    30.0
    """

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
    """How a training run ended: ``epochs_done`` counts only epochs that finished."""

    cancelled: bool
    epochs_done: int
    test_accuracy: float | None
    weights_path: Path | None


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
    progress: Callable[[float, str], None] = no_progress,
    cancelled: Callable[[], bool] = lambda: False,
    on_record: Callable[[TrainRecord], None] = ignore,
    model_key: str = MNIST,
    lr_decay: bool = False,
    use: str = "if_better",
) -> TrainResult:
    """Train a digit model with Keras' ``fit``; save the weights atomically.

    ``model_key`` picks the model (``engine.models.mnist_model.DIGIT_MODELS``: ``"mnist"``, the
    lecture's CNN, or ``"lenet5"``); both train the same way, on the same digits, with the
    same augmentation. LeNet-5's digits are padded by 2 to 32x32 before augmenting, as
    they are when it classifies. Without ``out_path`` the weights are kept as a new file
    of ``engine.models.mnist_model.weights_folder()`` beside the earlier runs, and ``use`` says
    whether the app uses them from now on: ``"always"``, ``"never"`` (the caller asks the
    person) or ``"if_better"`` (a test accuracy at least that of the weights in use).
    ``lr_decay`` lowers the learning rate along
    a cosine, epoch by epoch, from the optimizer's (Adam, 1e-3) towards 0 at the end, so
    the last epochs settle instead of jumping between nearby minima.

    ``on_record`` gets a ``TrainRecord`` after every batch and epoch; ``cancelled()`` is
    checked between batches (Keras' ``stop_training``). A cancelled run saves nothing, so
    the last good weights stay as they were.
    """
    if epochs < 1:
        raise ValueError(f"epochs must be >= 1. Received: epochs={epochs}")
    if use not in ("always", "never", "if_better"):
        raise ValueError(f"use must be 'always', 'never' or 'if_better'. Received: use={use!r}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1. Received: batch_size={batch_size}")
    entry = digit_model(model_key)
    import keras
    import tensorflow as tf

    (x_train, y_train), (x_test, y_test) = data
    if len(x_train) == 0:
        raise MnistDataError("the training set is empty")
    keras.utils.set_random_seed(seed)
    x_tr = pad_digits(x_train.astype("float32") / 255.0, entry.pad)[..., None]
    x_te = pad_digits(x_test.astype("float32") / 255.0, entry.pad)[..., None]
    ds = tf.data.Dataset.from_tensor_slices((x_tr, y_train.astype("int32")))
    ds = ds.shuffle(len(x_tr), seed=seed).batch(batch_size)
    if augment:
        aug = _augmenter(seed)
        ds = ds.map(lambda x, y: (aug(x, training=True), y), num_parallel_calls=tf.data.AUTOTUNE)
    ds = ds.prefetch(tf.data.AUTOTUNE)
    batches = math.ceil(len(x_tr) / batch_size)
    model = entry.build(compile=True)
    start = time.monotonic()

    class Reporter(keras.callbacks.Callback):
        def __init__(self) -> None:
            super().__init__()
            self.epoch = 0
            self.stopped = False
            # Keras' history gets an entry even for an epoch cut short by stop_training,
            # so the finished epochs are counted here, where we know.
            self.epochs_finished = 0
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
            self.epochs_finished += 1
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
    callbacks: list[Any] = [reporter]
    if lr_decay:
        base = float(keras.ops.convert_to_numpy(model.optimizer.learning_rate))
        callbacks.append(
            keras.callbacks.LearningRateScheduler(
                lambda epoch: base * 0.5 * (1 + math.cos(math.pi * epoch / epochs))
            )
        )
    validation = (x_te, y_test.astype("int32")) if len(x_te) else None
    model.fit(
        ds,
        epochs=epochs,
        validation_data=validation,
        verbose=0,
        shuffle=False,
        callbacks=callbacks,
    )
    epochs_done = reporter.epochs_finished
    if reporter.stopped or cancelled():
        if epochs_done:
            log.info("training cancelled after %d epoch(s); weights left as they were", epochs_done)
        else:
            log.info("training cancelled before the first epoch ended; weights left as they were")
        return TrainResult(True, epochs_done, None, None)
    test_acc = None
    if validation is not None:
        _, test_acc = model.evaluate(x_te, y_test.astype("int32"), verbose=0)
    target = Path(out_path) if out_path else new_weights_path(model_key)
    in_use = weights_info(model_key)
    save_weights(model, target)
    info = {
        "model": model_key,
        "trained_at": time.strftime("%Y-%m-%d %H:%M"),
        "test_accuracy": test_acc,
        "test_digits": len(x_te),
        "train_digits": len(x_tr),
        "epochs": epochs_done,
        "batch_size": batch_size,
        "augment": augment,
        "lr_decay": lr_decay,
        "seed": seed,
    }
    atomic_write(
        target.with_suffix("").with_suffix(".json"),
        lambda p: p.write_text(json.dumps(info, indent=2)),
    )
    if out_path is None and (
        use == "always"
        or (use == "if_better" and (in_use.test_accuracy or 0.0) <= (test_acc or 0.0))
    ):
        use_weights(model_key, target)
    return TrainResult(False, epochs_done, test_acc, target)
