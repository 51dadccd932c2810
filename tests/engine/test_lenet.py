"""LeNet-5 (engine.models.mnist_model, zoo, digits, training): the lecture's "Overview" network."""

import json
from pathlib import Path

import h5py
import numpy as np
import pytest

import main
from engine.inspection.activations import layer_summary
from engine.models import mnist_model, zoo
from engine.models.digits import DigitClassifier, PreparedDigit
from engine.models.mnist_data import load_mnist


@pytest.fixture(scope="module")
def lenet():
    return mnist_model.load_trained(mnist_model.LENET5)


@pytest.fixture(scope="module")
def test_digits(mnist_npz):
    return load_mnist(mnist_npz)[1]


def test_summary_is_the_classic_lenet5():
    model = mnist_model.build_lenet5(compile=False)
    rows = layer_summary(model)
    assert [(r.type, r.output_shape, r.params) for r in rows] == list(mnist_model.LENET5_SUMMARY)
    assert [r.name for r in rows] == ["c1", "s2", "c3", "s4", "c5", "flatten", "f6", "output"]
    # C1 156 + C3 2,416 + C5 48,120 + F6 10,164 + output 850
    assert model.count_params() == mnist_model.LENET5_TOTAL_PARAMS == 61_706
    assert model.input_shape == (None, 32, 32, 1)
    assert model.get_layer("c1").activation.__name__ == "tanh"


def test_shipped_weights_reach_the_goal_on_the_test_digits(lenet, test_digits):
    # The fixture's 500 test digits, padded by 2 as LeNet-5 reads them (none trained on).
    # Measured when the weights were trained: 98.6% (493 of 500), and 98.6% (986 of 1,000)
    # on the development set's test digits; the lecture's CNN gets 98.8% here.
    x_test, y_test = test_digits
    x = mnist_model.pad_digits(x_test.astype("float32") / 255.0, 2)[..., None]
    probs = lenet(x, training=False).numpy()
    accuracy = float((probs.argmax(axis=1) == y_test).mean())
    assert accuracy >= 0.98, accuracy
    info = mnist_model.weights_info(mnist_model.LENET5)
    assert info.source == "shipped" and info.path == mnist_model.RESOURCES / "lenet5.weights.h5"
    assert info.test_accuracy is not None and info.test_accuracy >= 0.98
    recorded = json.loads((mnist_model.RESOURCES / "lenet5.json").read_text())
    assert recorded["model"] == "lenet5" and recorded["augment"] is True


def test_the_zoo_pads_digits_and_photos_for_lenet(lenet):
    m = zoo.load_zoo_model(zoo.LENET5, weights=None)  # digit models are always trained
    assert m.trained and m.input_shape == (32, 32, 1) and m.title == "LeNet-5 (1998)"
    assert m.spec == zoo.input_spec(zoo.LENET5) == zoo.LENET5_SPEC
    pixels = np.zeros((28, 28), np.float32)
    pixels[4:24, 12:16] = 1
    x = m.prepare(PreparedDigit(pixels))
    assert x.shape == (32, 32, 1)
    np.testing.assert_array_equal(x[2:30, 2:30, 0], pixels)  # MNIST padded by 2
    assert not x[:2].any() and not x[-2:].any() and not x[:, :2].any() and not x[:, -2:].any()
    paper = np.full((100, 80, 3), 255, np.uint8)
    paper[10:90, 35:45] = 0  # a photo: prepared as a digit, then padded
    x = m.prepare(paper)
    assert x.shape == (32, 32, 1) and x.max() == pytest.approx(1, abs=0.05)
    mnist_way = zoo.prepare_image(paper, zoo.MNIST_SPEC)
    np.testing.assert_array_equal(x[2:30, 2:30], mnist_way)


def test_classifier_shows_every_map_of_lenet(lenet, test_digits):
    x_test, y_test = test_digits
    clf = DigitClassifier(lenet)
    assert clf.pad == 2 and clf.shown_layers == ("c1", "s2", "c3", "s4", "c5")
    pred = clf.classify_prepared(PreparedDigit(x_test[0].astype(np.float32) / 255))
    assert pred.digit == y_test[0] and pred.probabilities.shape == (10,)
    shapes = {name: a.shape for name, a in pred.activations.items()}
    assert shapes == {
        "c1": (28, 28, 6),
        "s2": (14, 14, 6),
        "c3": (10, 10, 16),
        "s4": (5, 5, 16),
        "c5": (1, 1, 120),
    }


def test_training_lenet_like_the_lecture_cnn(mnist_npz, tmp_path, capsys):
    with np.load(mnist_npz) as d:
        arrays = {k: d[k][:256] for k in ("x_train", "y_train")}
        arrays |= {k: d[k][:64] for k in ("x_test", "y_test")}
    np.savez(tmp_path / "small.npz", **arrays)
    argv = ["train", "--model", "lenet5", "--data", str(tmp_path / "small.npz"), "--epochs", "1"]
    assert main.main([*argv, "--batch-size", "64", "--augment", "--lr-decay"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    path = Path(result["weights_path"])
    assert result["epochs_done"] == 1 and path.parent == mnist_model.weights_folder()
    assert path.name.startswith("lenet5-") and path.name.endswith(".weights.h5")
    info = json.loads(path.with_suffix("").with_suffix(".json").read_text())
    assert info["model"] == "lenet5" and info["lr_decay"] is True and info["augment"] is True
    # A one-epoch run on 256 digits is worse than the shipped weights: kept, not used.
    assert path in [w.path for w in mnist_model.list_weights("lenet5")]
    assert mnist_model.weights_info("lenet5").source == "shipped"
    mnist_model.use_weights("lenet5", path)
    assert mnist_model.weights_info("lenet5").path == path
    assert mnist_model.weights_info().source == "shipped"  # the MNIST CNN's are apart
    mnist_model.build_lenet5(compile=False).load_weights(path)
    with h5py.File(path) as fh:
        assert "optimizer" not in fh  # the layers' weights only


def test_the_train_command_takes_the_model(capsys):
    args = main.parse_args(["train", "--model", "lenet5", "--lr-decay"])
    assert args.model == "lenet5" and args.lr_decay
    assert main.parse_args(["train"]).model == "mnist" and not main.parse_args(["train"]).lr_decay
    for key in mnist_model.DIGIT_MODELS:  # main.py lists them without importing the engine
        assert main.parse_args(["train", "--model", key]).model == key
    with pytest.raises(SystemExit):
        main.parse_args(["train", "--model", "alexnet"])
    assert "invalid choice: 'alexnet'" in capsys.readouterr().err


def test_unknown_digit_models_are_refused():
    with pytest.raises(ValueError, match="unknown digit model 'alexnet'; choose one of mnist"):
        mnist_model.user_weights_path("alexnet")
    with pytest.raises(ValueError, match=r"must be \(\.\.\., 28, 28\)"):
        mnist_model.pad_digits(np.zeros((5, 30, 30)), 2)
