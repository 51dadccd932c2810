"""Shared test set-up: the tests' own MNIST cut, a private user-data folder."""

from pathlib import Path

import pytest

# Imported before any test patches the zoo: it keeps the real builder.
import tests.shared_models  # noqa: F401

ROOT = Path(__file__).resolve().parent.parent
#: 1,000 training and 500 test digits of real MNIST; see tests/data/README.md.
MNIST_FIXTURE = ROOT / "tests" / "data" / "mnist_fixture.npz"


@pytest.fixture(autouse=True)
def _private_data_dir(tmp_path, monkeypatch):
    """Trained weights and logs of a test go to its own folder, never the user's."""
    monkeypatch.setenv("FME_DATA_DIR", str(tmp_path / "user-data"))


@pytest.fixture(scope="session")
def mnist_npz() -> Path:
    """An .npz in Keras' mnist layout: x_train (1000, 28, 28), x_test (500, 28, 28)."""
    return MNIST_FIXTURE


@pytest.fixture(scope="session")
def small_mnist_npz(tmp_path_factory) -> Path:
    """300 training and 100 test digits of the fixture: for runs whose accuracy does
    not matter (curves, reloading), so they take a second, not several."""
    import numpy as np

    with np.load(MNIST_FIXTURE) as d:
        arrays = {k: d[k][:300] for k in ("x_train", "y_train")}
        arrays |= {k: d[k][:100] for k in ("x_test", "y_test")}
    path = tmp_path_factory.mktemp("mnist") / "small.npz"
    np.savez(path, **arrays)
    return path
