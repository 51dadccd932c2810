"""Drawn digits (engine.models.digits): MNIST-like preprocessing, PreparedDigit, live classifier."""

import numpy as np
import pytest

from engine.models.digits import (
    DigitClassifier,
    PreparedDigit,
    prepare_digit,
    preprocess_drawing,
)
from engine.models.mnist_data import load_mnist


@pytest.fixture(scope="module")
def test_digits(mnist_npz):
    return load_mnist(mnist_npz)[1]


def test_preprocess_drawing_like_mnist():
    canvas = np.zeros((280, 200), np.uint8)
    canvas[30:250, 90:120] = 255  # a tall bar: height scales to 20, width keeps the ratio
    x = preprocess_drawing(canvas)
    assert x.shape == (28, 28) and x.dtype == np.float32
    assert 0 <= x.min() and x.max() <= 1
    rows, cols = np.nonzero(x > 0.05)
    assert rows.max() - rows.min() + 1 <= 21 and 19 <= rows.max() - rows.min() + 1
    assert cols.max() - cols.min() + 1 <= 5
    ys, xs = np.indices(x.shape)
    assert abs((ys * x).sum() / x.sum() - 14) <= 0.5 and abs((xs * x).sum() / x.sum() - 14) <= 0.5
    assert not preprocess_drawing(np.zeros((50, 50))).any()
    with pytest.raises(ValueError, match="2-D"):
        preprocess_drawing(np.zeros((3, 3, 3)))


def test_preprocessing_enlarged_mnist_digits_gives_them_back(test_digits):
    x_test, _ = test_digits
    corrs = []
    for d in x_test[:100].astype(np.float32) / 255:
        again = preprocess_drawing(np.kron(d, np.ones((10, 10))))  # a 280x280 "drawing"
        corrs.append(np.corrcoef(again.ravel(), d.ravel())[0, 1])
    assert np.median(corrs) > 0.99, np.median(corrs)


def test_prepared_digit_is_checked_and_frozen():
    source = np.zeros((28, 28))
    source[10:18, 12:15] = 1.0
    digit = PreparedDigit(source)
    assert digit.pixels.dtype == np.float32 and digit.pixels.shape == (28, 28)
    assert not digit.is_empty and PreparedDigit(np.zeros((28, 28))).is_empty
    source[:] = 0.5  # the caller's array changing does not change the digit
    assert digit.pixels.max() == 1.0 and digit.pixels.min() == 0.0
    with pytest.raises(ValueError, match="read-only"):
        digit.pixels[0, 0] = 1.0
    with pytest.raises(AttributeError):
        digit.pixels = np.zeros((28, 28))  # frozen dataclass
    assert digit.model_input().shape == (28, 28, 1)
    # np.asarray gives a writable copy, so code that took the bare array keeps working
    a = np.asarray(digit)
    assert a.shape == (28, 28) and a.flags.writeable
    a[:] = 0
    assert not digit.is_empty
    assert np.asarray(digit, dtype=np.float64).dtype == np.float64
    with pytest.raises(ValueError, match=r"must be \(28, 28\). Received shape \(28, 28, 1\)"):
        PreparedDigit(np.zeros((28, 28, 1)))
    with pytest.raises(ValueError, match=r"in \[0, 1\]"):
        PreparedDigit(np.full((28, 28), 255.0))
    with pytest.raises(ValueError, match=r"in \[0, 1\]"):
        PreparedDigit(np.full((28, 28), np.nan))


def test_prepare_digit_is_preprocess_drawing_as_a_type():
    canvas = np.zeros((280, 280))
    canvas[60:220, 120:160] = 200
    digit = prepare_digit(canvas)
    assert isinstance(digit, PreparedDigit)
    np.testing.assert_array_equal(digit.pixels, preprocess_drawing(canvas))
    assert prepare_digit(np.zeros((10, 10))).is_empty


def test_classifier_returns_probabilities_and_conv_maps(test_digits):
    x_test, y_test = test_digits
    clf = DigitClassifier()
    pred = clf.classify(np.kron(x_test[1], np.ones((10, 10))))
    assert isinstance(pred.input, PreparedDigit)
    assert pred.digit == y_test[1]
    assert pred.probabilities.shape == (10,)
    assert pred.probabilities.sum() == pytest.approx(1, abs=1e-5)
    assert set(pred.activations) == {"conv2d_1", "conv2d_2", "max_pooling2d"}
    assert pred.activations["conv2d_1"].shape == (26, 26, 32)
    empty = clf.classify(np.zeros((280, 280)))
    assert empty.digit is None and empty.probabilities is None and empty.input.is_empty


def test_classify_prepared_takes_mnist_digits_as_they_are(test_digits):
    x_test, y_test = test_digits
    clf = DigitClassifier()
    right = sum(
        clf.classify_prepared(PreparedDigit(x.astype(np.float32) / 255)).digit == y
        for x, y in zip(x_test[:50], y_test[:50], strict=True)
    )
    assert right >= 48
    canvas = np.kron(x_test[3], np.ones((10, 10)))
    a, b = clf.classify(canvas), clf.classify_prepared(prepare_digit(canvas))
    np.testing.assert_array_equal(a.probabilities, b.probabilities)
