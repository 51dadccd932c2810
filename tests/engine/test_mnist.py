"""The lecture's MNIST CNN: architecture, data loading, training, weights, drawings."""

import numpy as np
import pytest

from engine import mnist
from engine.activations import ActivationProbe, layer_summary
from engine.mnist import MnistDataError


@pytest.fixture(scope="module")
def model():
    return mnist.build_mnist_cnn()


def test_summary_matches_the_lecture_table(model):
    rows = layer_summary(model)
    assert [(r.type, r.output_shape, r.params) for r in rows] == list(mnist.LECTURE_SUMMARY)
    assert model.count_params() == mnist.LECTURE_TOTAL_PARAMS == 1_199_882
    assert rows[0].shape_text() == "(26, 26, 32)"


def test_load_mnist_reads_the_shared_npz(mnist_npz):
    (xa, ya), (xb, yb) = mnist.load_mnist(mnist_npz)
    assert xa.shape == (7000, 28, 28) and xb.shape == (1000, 28, 28)
    assert xa.dtype == np.uint8 and set(np.unique(ya)) == set(range(10))


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
        mnist.load_mnist(p)


def test_missing_and_non_npz_files(tmp_path):
    with pytest.raises(MnistDataError, match="does not exist"):
        mnist.load_mnist(tmp_path / "nope.npz")
    junk = tmp_path / "junk.npz"
    junk.write_text("hello")
    with pytest.raises(MnistDataError, match="not a readable .npz"):
        mnist.load_mnist(junk)


def test_no_network_download_failure_says_what_to_do(monkeypatch):
    import keras

    def offline(*_a, **_k):
        raise OSError("network is unreachable")

    monkeypatch.setattr(keras.datasets.mnist, "load_data", offline)
    with pytest.raises(MnistDataError, match=r"no network\?.*mnist\.npz"):
        mnist.load_mnist()


def test_shipped_weights_reach_the_goal_on_the_test_digits(mnist_npz):
    _, (x_test, y_test) = mnist.load_mnist(mnist_npz)
    model = mnist.load_trained_mnist_cnn()
    probs = model(x_test[..., None].astype("float32") / 255.0, training=False).numpy()
    accuracy = float((probs.argmax(axis=1) == y_test).mean())
    assert accuracy >= 0.985, accuracy


def test_preprocess_drawing_like_mnist():
    canvas = np.zeros((280, 200), np.uint8)
    canvas[30:250, 90:120] = 255  # a tall bar: height scales to 20, width keeps the ratio
    x = mnist.preprocess_drawing(canvas)
    assert x.shape == (28, 28) and x.dtype == np.float32
    assert 0 <= x.min() and x.max() <= 1
    rows, cols = np.nonzero(x > 0.05)
    assert rows.max() - rows.min() + 1 <= 21 and 19 <= rows.max() - rows.min() + 1
    assert cols.max() - cols.min() + 1 <= 5
    ys, xs = np.indices(x.shape)
    assert abs((ys * x).sum() / x.sum() - 14) <= 0.5 and abs((xs * x).sum() / x.sum() - 14) <= 0.5
    assert not mnist.preprocess_drawing(np.zeros((50, 50))).any()
    with pytest.raises(ValueError, match="2-D"):
        mnist.preprocess_drawing(np.zeros((3, 3, 3)))


def test_preprocessing_enlarged_mnist_digits_gives_them_back(mnist_npz):
    _, (x_test, _) = mnist.load_mnist(mnist_npz)
    corrs = []
    for d in x_test[:100].astype(np.float32) / 255:
        again = mnist.preprocess_drawing(np.kron(d, np.ones((10, 10))))  # a 280x280 "drawing"
        corrs.append(np.corrcoef(again.ravel(), d.ravel())[0, 1])
    assert np.median(corrs) > 0.99, np.median(corrs)


def test_probe_returns_every_layer_in_one_pass(model):
    probe = ActivationProbe(model)
    x = np.random.default_rng(0).random((28, 28, 1)).astype("float32")
    acts = probe.run(x)
    assert list(acts) == [r.name for r in layer_summary(model)]
    assert acts["conv2d_1"].shape == (26, 26, 32) and acts["dense_2"].shape == (10,)
    np.testing.assert_allclose(
        acts["dense_2"], model(x[None], training=False).numpy()[0], rtol=1e-5, atol=1e-6
    )
    with pytest.raises(ValueError, match="expects input of shape"):
        probe.run(np.zeros((32, 32, 1)))


def test_training_saves_atomically_and_cancel_saves_nothing(tmp_path, mnist_npz):
    (xa, ya), (xb, yb) = mnist.load_mnist(mnist_npz)
    small = ((xa[:512], ya[:512]), (xb[:128], yb[:128]))
    out = tmp_path / "w.weights.h5"
    records = []
    result = mnist.train_mnist(
        small, epochs=1, batch_size=128, out_path=out, augment=True, on_record=records.append
    )
    assert not result.cancelled and out.exists() and result.test_accuracy is not None
    assert [r.batch for r in records if r.kind == "batch"] == [1, 2, 3, 4]
    assert records[-1].kind == "epoch" and records[-1].val_accuracy is not None
    before = out.read_bytes()
    calls = []

    def cancel_after_two():
        calls.append(1)
        return len(calls) > 2

    result = mnist.train_mnist(
        small, epochs=3, batch_size=64, out_path=out, cancelled=cancel_after_two
    )
    assert result.cancelled and result.weights_path is None and result.epochs_done <= 1
    assert out.read_bytes() == before


def test_a_failing_write_keeps_the_previous_weights(tmp_path, monkeypatch):
    model = mnist.build_mnist_cnn(compile=False)  # saved as it is, through model.save_weights
    out = tmp_path / "w.weights.h5"
    mnist.save_weights(model, out)
    before = out.read_bytes()

    def disk_full(path, *a, **k):
        with open(path, "wb") as fh:
            fh.write(b"half")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(model, "save_weights", disk_full)
    with pytest.raises(OSError, match="No space"):
        mnist.save_weights(model, out)
    assert out.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["w.weights.h5"]  # no temp left


def test_damaged_user_weights_fall_back_to_the_shipped_ones():
    mnist.user_weights_path().write_bytes(b"not hdf5")
    model = mnist.load_trained_mnist_cnn()
    shipped = mnist.build_mnist_cnn(compile=False)
    shipped.load_weights(mnist.SHIPPED_WEIGHTS)
    np.testing.assert_array_equal(
        model.layers[0].get_weights()[0], shipped.layers[0].get_weights()[0]
    )


def test_classifier_returns_probabilities_and_conv_maps(mnist_npz):
    _, (x_test, y_test) = mnist.load_mnist(mnist_npz)
    clf = mnist.DigitClassifier()
    pred = clf.classify(np.kron(x_test[1], np.ones((10, 10))))
    assert pred.digit == y_test[1]
    assert pred.probabilities.sum() == pytest.approx(1, abs=1e-5)
    assert set(pred.activations) == {"conv2d_1", "conv2d_2", "max_pooling2d"}
    empty = clf.classify(np.zeros((280, 280)))
    assert empty.digit is None and empty.probabilities is None
