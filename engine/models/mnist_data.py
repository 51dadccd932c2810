"""MNIST as uint8 arrays: from Keras' cache (and download) or from an .npz file.

Nothing here imports TensorFlow at module level; only the Keras download path does.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

#: One split: (images (N, 28, 28) uint8, labels (N,) uint8).
Split = tuple[np.ndarray, np.ndarray]


class MnistDataError(ValueError):
    """MNIST could not be loaded; the message tells the person what to do."""


def keras_mnist_cache() -> Path:
    """Where ``keras.datasets.mnist`` keeps ``mnist.npz``, read from the environment now.

    Keras uses ``$KERAS_HOME/datasets/mnist.npz`` when ``KERAS_HOME`` is set, else
    ``~/.keras/datasets/mnist.npz``.

    >>> keras_mnist_cache().parts[-2:]
    ('datasets', 'mnist.npz')
    """
    home = os.environ.get("KERAS_HOME")
    base = Path(home).expanduser() if home is not None else Path.home() / ".keras"
    return base / "datasets" / "mnist.npz"


def _check_split(name: str, x: np.ndarray, y: np.ndarray) -> Split:
    """Check one split's shapes and labels; return it as uint8 arrays.

    >>> x, y = _check_split("test set", np.zeros((2, 28, 28)), np.array([3, 7]))
    >>> x.shape, x.dtype, y.tolist()
    ((2, 28, 28), dtype('uint8'), [3, 7])
    """
    if x.ndim != 3 or x.shape[1:] != (28, 28):
        raise MnistDataError(f"{name}: images must be (N, 28, 28); the file has {x.shape}")
    if y.ndim != 1 or len(y) != len(x):
        raise MnistDataError(
            f"{name}: {len(x)} images but labels of shape {y.shape}; expected one label each"
        )
    if len(y) and (y.min() < 0 or y.max() > 9):
        raise MnistDataError(f"{name}: labels must be digits 0..9; found {y.min()}..{y.max()}")
    return x.astype(np.uint8), y.astype(np.uint8)


def _read_npz(path: str | Path, keys: tuple[str, ...]) -> dict[str, np.ndarray]:
    """The arrays ``keys`` of an .npz file in Keras' mnist layout.

    Raises
    ------
    MnistDataError
        The file is missing, is not an .npz (NumPy's zip of arrays; anything else would
        be read as a pickle, which is never done), cannot be read, or lacks a key.
    """
    import zipfile

    p = Path(path)
    if not p.is_file():
        raise MnistDataError(f"'{p}' does not exist or is not a file")
    if not zipfile.is_zipfile(p):
        raise MnistDataError(
            f"'{p.name}' is not a readable .npz file: it is not NumPy's zip of arrays "
            "(as np.savez writes)"
        )
    try:
        with np.load(p, allow_pickle=False) as data:
            missing = set(keys) - set(data.files)
            if missing:
                raise MnistDataError(
                    f"'{p.name}' is not in Keras' mnist layout: missing "
                    f"{', '.join(sorted(missing))} (it has {', '.join(data.files) or 'no arrays'})"
                )
            return {k: data[k] for k in keys}
    except MnistDataError:
        raise
    except Exception as exc:
        raise MnistDataError(f"'{p.name}' is not a readable .npz file: {exc}") from exc


def load_mnist(path: str | Path | None = None) -> tuple[Split, Split]:
    """(x_train, y_train), (x_test, y_test) as uint8 arrays.

    With no ``path``, Keras' own cache and download (``keras.datasets.mnist``); with a
    path, any ``.npz`` in Keras' mnist layout (keys x_train, y_train, x_test, y_test).

    Raises
    ------
    MnistDataError
        The download failed, or the file is missing, unreadable or not in that layout;
        the message says what to do.
    """
    if path is None:
        try:
            import keras

            (xa, ya), (xb, yb) = keras.datasets.mnist.load_data()
        except Exception as exc:
            raise MnistDataError(
                "MNIST could not be downloaded (no network?). Download mnist.npz on a machine "
                f"with network and put it at {keras_mnist_cache()}, or choose an .npz file in "
                f"Keras' mnist layout. ({type(exc).__name__}: {exc})"
            ) from exc
        return _check_split("training set", xa, ya), _check_split("test set", xb, yb)
    arrays = _read_npz(path, ("x_train", "y_train", "x_test", "y_test"))
    return (
        _check_split("training set", arrays["x_train"], arrays["y_train"]),
        _check_split("test set", arrays["x_test"], arrays["y_test"]),
    )


#: The 500 MNIST test digits shipped with the app (none of them trained on).
BUNDLED_TEST_DIGITS = "mnist_test_500.npz"


def bundled_test_digits() -> Split:
    """The 500 real MNIST test digits the app ships: (x (500, 28, 28) uint8, y (500,)).

    They are the first 500 of the 1,000 test digits the shipped models were measured
    on (none of them trained on); ``resources/README.md`` says where they come from.

    >>> x, y = bundled_test_digits()
    >>> x.shape, x.dtype, sorted(set(y.tolist())) == list(range(10))
    ((500, 28, 28), dtype('uint8'), True)
    """
    from engine.util.paths import RESOURCES

    with np.load(RESOURCES / BUNDLED_TEST_DIGITS, allow_pickle=False) as data:
        return _check_split("test set", data["x_test"], data["y_test"])


def load_test_split(path: str | Path) -> Split:
    """The test split of an .npz in Keras' mnist layout; only x_test and y_test are
    required (a file of test digits alone is fine).

    Raises
    ------
    MnistDataError
        The file is missing, unreadable, or lacks x_test / y_test; the message says so.
    """
    arrays = _read_npz(path, ("x_test", "y_test"))
    return _check_split("test set", arrays["x_test"], arrays["y_test"])


def fits_test_digits(model: Any) -> bool:
    """True when a model (Keras or ONNX) can be measured on MNIST test digits: one grey
    square input of 28x28 pixels, or larger by an even border (LeNet-5's 32x32, which
    the digits are padded to), and an output of 10 values.

    >>> from engine.models.mnist_model import build_lenet5, build_mnist_cnn
    >>> fits_test_digits(build_mnist_cnn(compile=False)), fits_test_digits(build_lenet5(False))
    (True, True)
    """
    from engine.inspection.activations import input_shape_of, output_shape_of

    try:
        shape, out = input_shape_of(model), output_shape_of(model)
    except (AttributeError, IndexError, TypeError, ValueError):  # not one image input
        return False
    if len(shape) != 3 or shape[-1] != 1 or shape[0] is None or shape[0] != shape[1]:
        return False
    return int(shape[0]) >= 28 and (int(shape[0]) - 28) % 2 == 0 and tuple(out) == (10,)
