"""The lecture's ResNet slide as an experiment: plain and residual networks of one depth.

He et al. (2016, "Deep Residual Learning for Image Recognition", figure 1 and section
4.2) found that a deeper *plain* network has a *higher training error* than a shallower
one (degradation: not overfitting, the training error itself is worse), and that the
same network with identity shortcuts, y = F(x) + x, does not degrade.

``build_plain`` and ``build_residual`` build the CIFAR-style network of section 4.2 for
28x28 digits: a 3x3 conv, three stages of ``n`` blocks of two 3x3 convs (widths
``widths``, the second and third stage start with stride 2: 28 -> 14 -> 7), global
average pooling and a 10-way dense layer: ``depth = 6n + 2`` weighted layers. Every conv
is followed by BatchNorm and ReLU (the block's second ReLU after the addition). Where a
stage halves the size and widens, the shortcut is the paper's option A: the input
subsampled by 2 and padded with zero channels, so it adds no weights and both networks
have exactly the same layers with weights.

``train_pair`` trains several such networks in one thread, batch by batch in turn, on
the same batches in the same order, from the same initial weights where the layers are
the same (one seed), and reports each epoch's training loss and error and the
validation error of each. TensorFlow is imported inside the functions.
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from engine.util.progress import (
    CancelCheck,
    ProgressCallback,
    ignore,
    never_cancelled,
    no_progress,
)

if TYPE_CHECKING:
    import keras

#: The depths offered (6n + 2 for n = 3, 9, 18), as in the paper's CIFAR-10 table.
DEPTHS = (20, 56, 110)
#: Thin stages (the paper's CIFAR nets use 16/32/64): the experiment runs on a laptop.
DEFAULT_WIDTHS = (8, 16, 32)
#: The two kinds of network, keys of ``BUILDERS``.
PLAIN, RESIDUAL = "plain", "residual"

#: One split: (images (N, 28, 28) uint8, labels (N,)).
Split = tuple[np.ndarray, np.ndarray]


def blocks_per_stage(depth: int) -> int:
    """``n`` of ``depth = 6n + 2``.

    >>> blocks_per_stage(20), blocks_per_stage(56), blocks_per_stage(110)
    (3, 9, 18)
    """
    if isinstance(depth, bool) or not isinstance(depth, int) or depth < 8 or (depth - 2) % 6:
        raise ValueError(
            f"depth must be 6n + 2 with n >= 1 (8, 14, 20, 56, 110, ...). Received: depth={depth!r}"
        )
    return (depth - 2) // 6


def _check_widths(widths: Sequence[int]) -> tuple[int, int, int]:
    w = tuple(int(v) for v in widths)
    if len(w) != 3 or min(w) < 1:
        raise ValueError(
            f"widths must be three positive channel counts, one per stage. Received: {widths!r}"
        )
    return w  # type: ignore[return-value]


def network_name(kind: str, depth: int) -> str:
    """The name a network goes by in records and curves.

    >>> network_name("plain", 56)
    'plain-56'
    """
    if kind not in (PLAIN, RESIDUAL):
        raise ValueError(f"kind must be 'plain' or 'residual'. Received: kind={kind!r}")
    return f"{kind}-{depth}"


@functools.cache
def _zero_pad_shortcut_class() -> type:
    """The option-A shortcut as a Keras layer (made on first use: Keras is imported late)."""
    import keras

    class ZeroPadShortcut(keras.layers.Layer):
        """x subsampled by ``stride`` and padded with zero channels up to ``channels``:
        the identity shortcut where a stage halves the size and widens (no weights)."""

        def __init__(self, channels: int, stride: int = 2, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.channels = int(channels)
            self.stride = int(stride)

        def call(self, x: Any) -> Any:
            x = x[:, :: self.stride, :: self.stride, :]
            extra = self.channels - x.shape[-1]
            if extra <= 0:
                return x
            before = extra // 2
            return keras.ops.pad(x, [[0, 0], [0, 0], [0, 0], [before, extra - before]])

        def compute_output_shape(self, input_shape: tuple) -> tuple:
            n, h, w, _ = input_shape
            size = [None if s is None else -(-s // self.stride) for s in (h, w)]
            return (n, size[0], size[1], self.channels)

        def get_config(self) -> dict:
            return {**super().get_config(), "channels": self.channels, "stride": self.stride}

    return ZeroPadShortcut


def _build(depth: int, widths: Sequence[int], shortcuts: bool, name: str) -> keras.Model:
    import keras
    from keras import layers

    n = blocks_per_stage(depth)
    w = _check_widths(widths)
    init = "he_normal"  # He et al.'s initialisation, as in the paper

    def conv_bn(x: Any, filters: int, stride: int, label: str) -> Any:
        x = layers.Conv2D(
            filters,
            3,
            strides=stride,
            padding="same",
            use_bias=False,  # BatchNorm's beta is the bias
            kernel_initializer=init,
            name=f"{label}_conv",
        )(x)
        # Momentum 0.9 (Torch's 0.1): the moving statistics that validation uses catch up
        # within the few hundred steps of a short run.
        return layers.BatchNormalization(momentum=0.9, name=f"{label}_bn")(x)

    inputs = keras.Input((28, 28, 1), name="digit")
    x = layers.ReLU(name="stem_relu")(conv_bn(inputs, w[0], 1, "stem"))
    for s, filters in enumerate(w, start=1):
        for b in range(1, n + 1):
            label = f"stage{s}_block{b}"
            stride = 2 if s > 1 and b == 1 else 1
            y = layers.ReLU(name=f"{label}_relu1")(conv_bn(x, filters, stride, f"{label}_1"))
            y = conv_bn(y, filters, 1, f"{label}_2")
            if shortcuts:
                shortcut = x
                if stride != 1 or x.shape[-1] != filters:
                    shortcut = _zero_pad_shortcut_class()(
                        filters, stride, name=f"{label}_shortcut"
                    )(x)
                y = layers.Add(name=f"{label}_add")([y, shortcut])
            x = layers.ReLU(name=f"{label}_relu2")(y)
    x = layers.GlobalAveragePooling2D(name="pool")(x)
    outputs = layers.Dense(10, activation="softmax", kernel_initializer=init, name="digits")(x)
    return keras.Model(inputs, outputs, name=name)


def build_plain(depth: int = 20, widths: Sequence[int] = DEFAULT_WIDTHS) -> keras.Model:
    """The plain network of He et al.'s section 4.2 for 28x28 digits (no shortcuts).

    ``depth = 6n + 2`` layers with weights: one 3x3 conv, 6n 3x3 convs in three stages of
    ``widths`` channels (sizes 28, 14, 7), global average pooling, a dense softmax.

    >>> model = build_plain(20)  # doctest: +SKIP
    >>> print(model.output_shape)  # doctest: +SKIP
    (None, 10)
    """
    return _build(depth, widths, shortcuts=False, name=network_name(PLAIN, depth))


def build_residual(depth: int = 20, widths: Sequence[int] = DEFAULT_WIDTHS) -> keras.Model:
    """``build_plain``'s network with an identity shortcut around every block of two
    convs: the block computes relu(F(x) + x). The shortcut adds no weights (option A:
    subsampled and zero-padded where a stage begins), so the two have the same layers
    with weights and the same parameter count."""
    return _build(depth, widths, shortcuts=True, name=network_name(RESIDUAL, depth))


#: Builders by kind.
BUILDERS: dict[str, Callable[[int, Sequence[int]], Any]] = {
    PLAIN: build_plain,
    RESIDUAL: build_residual,
}


# -- data -----------------------------------------------------------------------------------
def bundled_split(n_train: int = 400, n_val: int = 100) -> tuple[Split, Split]:
    """The app's 500 shipped MNIST digits, split into training and validation digits.

    Only 500 real digits ship with the app (``resources/mnist_test_500.npz``, the
    Test-set browser's); the experiment needs no download, so it trains on the first
    ``n_train`` and validates on the next ``n_val``.

    >>> (xa, ya), (xb, yb) = bundled_split(400, 100)
    >>> xa.shape, xb.shape
    ((400, 28, 28), (100, 28, 28))
    """
    from engine.models.mnist_data import bundled_test_digits

    x, y = bundled_test_digits()
    if n_train < 1 or n_val < 0 or n_train + n_val > len(x):
        raise ValueError(
            f"n_train + n_val must be at most {len(x)} with n_train >= 1 and n_val >= 0. "
            f"Received: n_train={n_train}, n_val={n_val}"
        )
    return (x[:n_train], y[:n_train]), (x[n_train : n_train + n_val], y[n_train : n_train + n_val])


# -- training -------------------------------------------------------------------------------
@dataclass(frozen=True)
class PairRecord:
    """One network's figures after one epoch.

    ``error`` is the epoch's training error (the share of training digits misclassified
    while they were trained on, as the paper's thin curves), ``loss`` its mean
    cross-entropy; ``val_error`` the error on the validation digits after the epoch
    (NaN without any). ``step`` counts the batches this network has been trained on;
    ``fraction`` is the whole run's progress.

    >>> r = PairRecord("plain-20", 1, 4, 13, 0.9, 0.3, 0.25, 0.25, 10.0)
    >>> r.seconds_left
    30.0
    """

    network: str
    epoch: int  # 1-based
    epochs: int
    step: int
    loss: float
    error: float
    val_error: float
    fraction: float
    elapsed_s: float

    @property
    def seconds_left(self) -> float:
        return self.elapsed_s / self.fraction * (1 - self.fraction) if self.fraction > 0 else 0.0


@dataclass(frozen=True)
class PairResult:
    """How the run ended: the last record of each network (those that finished an
    epoch), in the order trained; ``epochs_done`` counts epochs every network finished."""

    cancelled: bool
    epochs_done: int
    seconds: float
    final: dict[str, PairRecord]


def _prepare(split: Split) -> tuple[np.ndarray, np.ndarray]:
    x, y = split
    if len(x) != len(y):
        raise ValueError(f"{len(x)} images but {len(y)} labels; expected one label each")
    x = np.asarray(x)
    if x.ndim != 3 or x.shape[1:] != (28, 28):
        raise ValueError(f"images must be (N, 28, 28). Received shape {x.shape}")
    return (x.astype("float32") / 255.0)[..., None], np.asarray(y).astype("int32")


def train_pair(
    depths: Sequence[int],
    data: tuple[Split, Split],
    epochs: int = 8,
    batch: int = 32,
    progress: ProgressCallback = no_progress,
    cancelled: CancelCheck = never_cancelled,
    on_record: Callable[[PairRecord], None] = ignore,
    widths: Sequence[int] = DEFAULT_WIDTHS,
    seed: int = 0,
    learning_rate: float = 0.1,
    warm_up_from: int = 110,
) -> PairResult:
    """Train a plain and a residual network of each depth, side by side, in this thread.

    The networks take turns batch by batch (plain-20, residual-20, plain-56, ... for
    ``depths=(20, 56)``), on the same shuffled batches in the same order. Each is built
    after ``keras.utils.set_random_seed(seed)``, so the plain and residual networks of
    one depth start from the same weights. The optimiser is the paper's: SGD with
    momentum 0.9 and weight decay 1e-4, at ``learning_rate`` (0.1 in the paper). As
    in the paper for its 110-layer network, networks of ``warm_up_from`` layers or more
    start at a tenth of it and go up to it after the first epoch whose training error is
    below 80%.

    After each epoch, ``on_record`` gets one ``PairRecord`` per network, in training
    order; ``progress(fraction, message)`` follows every batch; ``cancelled()`` is
    checked before every batch, and a cancelled run returns at once with the records
    of the epochs that finished.

    Parameters
    ----------
    depths
        Depths ``6n + 2`` (``DEPTHS``), each trained plain and residual.
    data
        ((x_train (N, 28, 28) uint8, y_train), (x_val, y_val)); the validation split may
        be empty.
    """
    if epochs < 1:
        raise ValueError(f"epochs must be >= 1. Received: epochs={epochs}")
    if batch < 1:
        raise ValueError(f"batch must be >= 1. Received: batch={batch}")
    depths = tuple(depths)
    if not depths:
        raise ValueError("depths must name at least one depth. Received: depths=()")
    for d in depths:
        blocks_per_stage(d)
    _check_widths(widths)
    x_tr, y_tr = _prepare(data[0])
    x_val, y_val = _prepare(data[1])
    if len(x_tr) == 0:
        raise ValueError("the training set is empty")

    import keras

    progress(0.0, "Building the networks…")
    models: dict[str, Any] = {}
    cost: dict[str, float] = {}  # a batch costs each network about its depth
    for d in depths:
        for kind in (PLAIN, RESIDUAL):
            keras.utils.set_random_seed(seed)
            model = BUILDERS[kind](d, widths)
            model.compile(
                optimizer=keras.optimizers.SGD(
                    learning_rate / 10 if d >= warm_up_from else learning_rate,
                    momentum=0.9,
                    weight_decay=1e-4,
                ),
                loss="sparse_categorical_crossentropy",
                metrics=["accuracy"],
                # XLA costs more to compile a 56-layer step than it saves on a CPU
                # (measured: 6.5 s against 4.4 s an epoch for four networks, 2 cores).
                jit_compile=False,
            )
            models[model.name] = model
            cost[model.name] = float(d)
    # Whole batches only (the last, partial one is dropped; the shuffle changes which
    # digits it holds every epoch): a batch of another size would trace each network's
    # training step again, which costs seconds per network.
    batch = min(batch, len(x_tr))
    batches = len(x_tr) // batch
    total = epochs * batches * sum(cost.values())
    rng = np.random.default_rng(seed)
    start = time.monotonic()
    done_cost = 0.0
    final: dict[str, PairRecord] = {}
    epochs_done = 0
    for epoch in range(1, epochs + 1):
        order = rng.permutation(len(x_tr))
        sums = {name: [0.0, 0.0] for name in models}  # loss and correct, summed over digits
        for b in range(batches):
            idx = order[b * batch : (b + 1) * batch]
            xb, yb = x_tr[idx], y_tr[idx]
            for name, model in models.items():
                if cancelled():
                    return PairResult(True, epochs_done, time.monotonic() - start, final)
                loss, accuracy = model.train_on_batch(xb, yb)
                sums[name][0] += float(loss) * len(idx)
                sums[name][1] += float(accuracy) * len(idx)
                done_cost += cost[name]
                progress(
                    done_cost / total,
                    f"epoch {epoch}/{epochs}, batch {b + 1}/{batches}: {name}",
                )
        for name, model in models.items():
            val_error = math.nan
            if len(x_val):
                _, val_acc = model.evaluate(x_val, y_val, batch_size=256, verbose=0)
                val_error = 1.0 - float(val_acc)
            record = PairRecord(
                name,
                epoch,
                epochs,
                epoch * batches,
                sums[name][0] / (batches * batch),
                1.0 - sums[name][1] / (batches * batch),
                val_error,
                done_cost / total,
                time.monotonic() - start,
            )
            final[name] = record
            if record.error < 0.8:  # warmed up (a no-op for the others)
                model.optimizer.learning_rate = learning_rate
            on_record(record)
        epochs_done = epoch
    return PairResult(False, epochs_done, time.monotonic() - start, final)
