"""The headless ``train`` command (cli.py, through main.py): output, errors, exit status."""

import argparse
import json

import numpy as np
import pytest

import cli
import main


def _args(**kw):
    base = {"data": None, "epochs": 1, "batch_size": 64, "out": None, "augment": False, "seed": 0}
    return argparse.Namespace(**{**base, **kw})


@pytest.fixture
def tiny_npz(tmp_path, mnist_npz):
    with np.load(mnist_npz) as d:
        arrays = {k: d[k][:192] for k in ("x_train", "y_train")}
        arrays |= {k: d[k][:64] for k in ("x_test", "y_test")}
    path = tmp_path / "tiny.npz"
    np.savez(path, **arrays)
    return path


def test_train_prints_epochs_and_the_result(tmp_path, tiny_npz, capsys):
    out = tmp_path / "w.weights.h5"
    assert cli.train_cli(_args(data=str(tiny_npz), out=str(out))) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].startswith("epoch 1/1: loss ")
    result = json.loads(lines[-1])
    assert result["cancelled"] is False and result["epochs_done"] == 1
    assert result["weights_path"] == str(out) and out.exists()


def test_a_bad_data_file_is_an_error_on_stderr(tmp_path, capsys):
    status = main.main(["train", "--data", str(tmp_path / "nope.npz")])
    captured = capsys.readouterr()
    assert status == cli.EXIT_ERROR == 2
    assert captured.err.startswith("error: ") and "does not exist" in captured.err
    assert captured.out == ""


def test_bad_options_are_errors_on_stderr(tiny_npz, capsys):
    assert cli.train_cli(_args(data=str(tiny_npz), epochs=0)) == 2
    captured = capsys.readouterr()
    assert "epochs must be >= 1" in captured.err and captured.out == ""
