"""Drawn digits (engine.models.digits): MNIST-like preprocessing, PreparedDigit, live classifier."""

import numpy as np
import pytest

from engine.models.digits import (
    DigitClassifier,
    DigitPlacement,
    PreparedDigit,
    digit_placement,
    digit_to_canvas,
    looks_like_a_digit,
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


def test_a_map_of_the_digit_goes_back_where_the_ink_was():
    canvas = np.zeros((308, 280), np.float32)
    canvas[60:250, 140:160] = 255  # a 7: its stem ...
    canvas[60:80, 80:230] = 255  # ... and its bar, off the canvas's centre
    x = preprocess_drawing(canvas)
    placement = digit_placement(canvas)
    assert (placement.top, placement.left, placement.height, placement.width) == (60, 80, 190, 150)
    assert placement.canvas_shape == (308, 280)
    back = digit_to_canvas(x, placement)
    assert back.shape == canvas.shape and back.dtype == np.float32
    # The prepared digit taken back lies on the ink, and prepared again gives the digit.
    assert np.corrcoef(back.ravel(), canvas.ravel())[0, 1] > 0.9
    assert not back[:40].any() and not back[:, :60].any()  # paper stays paper
    assert np.abs(preprocess_drawing(back) - x).mean() < 0.03
    # One pixel of the digit (its centre of mass, where the forward shift put the ink's)
    # comes back at the ink's centre of mass on the canvas.
    ys, xs = np.indices(x.shape)
    cy, cx = int(round((ys * x).sum() / x.sum())), int(round((xs * x).sum() / x.sum()))
    one = np.zeros((28, 28), np.float32)
    one[cy, cx] = 1.0
    spot = digit_to_canvas(one, placement)
    cys, cxs = np.indices(canvas.shape)
    ink_centre = ((cys * canvas).sum() / canvas.sum(), (cxs * canvas).sum() / canvas.sum())
    spot_centre = ((cys * spot).sum() / spot.sum(), (cxs * spot).sum() / spot.sum())
    step = placement.height / placement.small_height  # a digit pixel, in canvas pixels
    assert np.allclose(spot_centre, ink_centre, atol=step)
    assert digit_placement(np.zeros((50, 50))) is None
    with pytest.raises(ValueError, match="28, 28"):
        digit_to_canvas(np.zeros((5, 5)), placement)


def test_a_whole_canvas_placement_stretches_the_digit(test_digits):
    d = test_digits[0][0].astype(np.float32) / 255
    back = digit_to_canvas(d, DigitPlacement.whole((252, 252)))  # 9 canvas pixels a pixel
    # Canvas pixel 9k+4's centre is digit pixel k's centre: it has that pixel's value.
    np.testing.assert_allclose(back[4::9, 4::9], d, atol=1e-5)


def test_mnist_digits_look_like_digits_and_photos_do_not():
    from engine.imaging.images import load_image
    from engine.models.mnist_data import bundled_test_digits
    from engine.models.zoo import MNIST_SPEC, prepare_image
    from engine.util.paths import sample_images

    x, _ = bundled_test_digits()
    assert np.mean([looks_like_a_digit(d / 255.0) for d in x]) > 0.95
    for path in sample_images().values():
        assert not looks_like_a_digit(prepare_image(load_image(path), MNIST_SPEC)), path
    assert not looks_like_a_digit(np.zeros((28, 28)))
    with pytest.raises(ValueError, match="Received shape"):
        looks_like_a_digit(np.zeros((28, 28, 3)))


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
