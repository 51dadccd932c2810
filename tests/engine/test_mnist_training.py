"""Training the MNIST CNN (engine.models.training): records, atomic saves, cancellation.

A few hundred digits and one epoch at a time, so that the tests stay fast.
"""

import logging

import pytest

from engine.models.mnist_data import MnistDataError, load_mnist
from engine.models.training import train_mnist


@pytest.fixture(scope="module")
def small(mnist_npz):
    (xa, ya), (xb, yb) = load_mnist(mnist_npz)
    return (xa[:256], ya[:256]), (xb[:128], yb[:128])


def test_one_epoch_reports_and_saves_atomically(tmp_path, small):
    out = tmp_path / "w.weights.h5"
    records = []
    result = train_mnist(
        small, epochs=1, batch_size=64, out_path=out, augment=True, on_record=records.append
    )
    assert not result.cancelled and result.epochs_done == 1
    assert result.weights_path == out and out.exists() and result.test_accuracy is not None
    assert out.with_suffix("").with_suffix(".json").exists()
    assert [r.batch for r in records if r.kind == "batch"] == [1, 2, 3, 4]
    assert records[-1].kind == "epoch" and records[-1].val_accuracy is not None
    assert records[-1].fraction == 1.0


def test_cancel_before_the_first_epoch_ends_saves_nothing(tmp_path, small, caplog):
    out = tmp_path / "w.weights.h5"
    out.write_bytes(b"the last good weights")
    calls = []

    def cancel_after_two():
        calls.append(1)
        return len(calls) > 2

    with caplog.at_level(logging.INFO, logger="engine.models.training"):
        result = train_mnist(
            small, epochs=3, batch_size=64, out_path=out, augment=False, cancelled=cancel_after_two
        )
    assert result.cancelled and result.weights_path is None and result.epochs_done == 0
    assert out.read_bytes() == b"the last good weights"
    assert "before the first epoch ended" in caplog.text and "after 1 epoch" not in caplog.text


def test_cancel_in_the_second_epoch_counts_one(tmp_path, small):
    records = []

    def cancel_in_epoch_two():  # 4 batches an epoch: the 6th batch is in the second
        return sum(r.kind == "batch" for r in records) >= 5

    result = train_mnist(
        small,
        epochs=2,
        batch_size=64,
        out_path=tmp_path / "w.weights.h5",
        augment=False,
        cancelled=cancel_in_epoch_two,
        on_record=records.append,
    )
    assert result.cancelled and result.epochs_done == 1
    assert [r.epoch for r in records if r.kind == "epoch"] == [1]
    assert not (tmp_path / "w.weights.h5").exists()


def test_bad_arguments_are_explained(small):
    with pytest.raises(ValueError, match="epochs must be >= 1. Received: epochs=0"):
        train_mnist(small, epochs=0)
    with pytest.raises(ValueError, match="batch_size must be >= 1"):
        train_mnist(small, batch_size=0)
    empty = (small[0][0][:0], small[0][1][:0]), small[1]
    with pytest.raises(MnistDataError, match="empty"):
        train_mnist(empty, epochs=1)
