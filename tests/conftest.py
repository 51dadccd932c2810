"""Shared test set-up: the tests' own MNIST cut, a private user-data folder."""

from pathlib import Path

import pytest

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
