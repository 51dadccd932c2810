"""Loading MNIST (engine.models.mnist_data): the tests' own cut, bad files, no network."""

from pathlib import Path

import numpy as np
import pytest

from engine.models.mnist_data import MnistDataError, keras_mnist_cache, load_mnist, load_test_split


def test_load_mnist_reads_the_fixture(mnist_npz):
    (xa, ya), (xb, yb) = load_mnist(mnist_npz)
    assert xa.shape == (1000, 28, 28) and xb.shape == (500, 28, 28)
    assert ya.shape == (1000,) and yb.shape == (500,)
    assert xa.dtype == np.uint8 and ya.dtype == np.uint8
    assert set(np.unique(ya)) == set(range(10)) == set(np.unique(yb))
    assert mnist_npz.stat().st_size <= 1_000_000


@pytest.mark.parametrize(
    ("arrays", "message"),
    [
        ({"x": np.zeros(3)}, "missing x_test, x_train, y_test, y_train"),
        (
            {
                "x_train": np.zeros((2, 28, 27)),
                "y_train": np.zeros(2),
                "x_test": np.zeros((1, 28, 28)),
                "y_test": np.zeros(1),
            },
            r"must be \(N, 28, 28\)",
        ),
        (
            {
                "x_train": np.zeros((2, 28, 28)),
                "y_train": np.array([1, 12]),
                "x_test": np.zeros((1, 28, 28)),
                "y_test": np.zeros(1),
            },
            "labels must be digits 0..9",
        ),
        (
            {
                "x_train": np.zeros((2, 28, 28)),
                "y_train": np.zeros(3),
                "x_test": np.zeros((1, 28, 28)),
                "y_test": np.zeros(1),
            },
            "one label each",
        ),
    ],
)
def test_bad_npz_files_are_explained(tmp_path, arrays, message):
    p = tmp_path / "bad.npz"
    np.savez(p, **arrays)
    with pytest.raises(MnistDataError, match=message):
        load_mnist(p)


def test_missing_and_non_npz_files(tmp_path):
    with pytest.raises(MnistDataError, match="does not exist"):
        load_mnist(tmp_path / "nope.npz")
    junk = tmp_path / "junk.npz"
    junk.write_text("hello")
    with pytest.raises(MnistDataError, match="not a readable .npz") as caught:
        load_mnist(junk)
    assert "pickle" not in str(caught.value)  # never advise loading a file unsafely
    with pytest.raises(MnistDataError, match="not NumPy's zip of arrays"):
        load_test_split(junk)
    with pytest.raises(MnistDataError, match="missing x_test, y_test"):
        np.savez(tmp_path / "other.npz", a=np.zeros(3))
        load_test_split(tmp_path / "other.npz")


def test_keras_cache_follows_keras_home(monkeypatch, tmp_path):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "kh"))
    assert keras_mnist_cache() == tmp_path / "kh" / "datasets" / "mnist.npz"
    monkeypatch.delenv("KERAS_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert keras_mnist_cache() == tmp_path / "home" / ".keras" / "datasets" / "mnist.npz"


def test_no_network_download_failure_says_what_to_do(monkeypatch, tmp_path):
    import keras

    def offline(*_a, **_k):
        raise OSError("network is unreachable")

    monkeypatch.setattr(keras.datasets.mnist, "load_data", offline)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras-home"))
    with pytest.raises(MnistDataError, match=r"no network\?.*mnist\.npz") as info:
        load_mnist()
    where = str(Path(tmp_path / "keras-home" / "datasets" / "mnist.npz"))
    assert where in str(info.value) and "network is unreachable" in str(info.value)
