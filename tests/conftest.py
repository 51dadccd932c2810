"""Shared test set-up: data from ../shared/data, a private user-data folder."""

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED_MNIST = Path(
    os.environ.get("FME_MNIST_NPZ", ROOT.parent / "shared" / "data" / "mnist_8k.npz")
)


@pytest.fixture(autouse=True)
def _private_data_dir(tmp_path, monkeypatch):
    """Trained weights and logs of a test go to its own folder, never the user's."""
    monkeypatch.setenv("FME_DATA_DIR", str(tmp_path / "user-data"))


@pytest.fixture
def mnist_npz() -> Path:
    if not SHARED_MNIST.exists():
        pytest.fail(
            f"{SHARED_MNIST} is missing: the MNIST tests read ../shared/data/mnist_8k.npz "
            "(or set FME_MNIST_NPZ to an .npz in Keras' mnist layout)"
        )
    return SHARED_MNIST
