"""conv2d, pool2d and the size arithmetic against scipy, tf.nn.conv2d and the lecture."""

import numpy as np
import pytest
from scipy.signal import correlate2d

from engine import lecture
from engine.convolution import (
    conv2d,
    fit_report,
    output_size,
    pool2d,
    resolve_padding,
    window_positions,
)

rng = np.random.default_rng(0)


def test_lecture_x_kernel_map():
    out = conv2d(lecture.BINARY_5X5, lecture.X_KERNEL)
    assert out.shape == (3, 3)
    assert out[0, 0] == 4  # 1x1 + 1x0 + 1x1 + 0x0 + 1x1 + 1x0 + 0x1 + 0x0 + 1x1
    np.testing.assert_array_equal(out, [[4, 3, 4], [2, 4, 3], [2, 3, 4]])


@pytest.mark.parametrize("f", [1, 3, 5, 7])
@pytest.mark.parametrize("padding", [0, 1, 3])
def test_conv2d_matches_scipy_at_stride_1(f, padding):
    x = rng.normal(size=(17, 23))
    k = rng.normal(size=(f, f))
    expected = correlate2d(np.pad(x, padding), k, mode="valid")
    np.testing.assert_allclose(conv2d(x, k, padding=padding), expected, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("stride", [2, 3, 4])
def test_conv2d_stride_is_subsampled_stride_1(stride):
    x = rng.normal(size=(19, 19))
    k = rng.normal(size=(3, 3))
    full = correlate2d(np.pad(x, 1), k, mode="valid")
    np.testing.assert_allclose(conv2d(x, k, stride=stride, padding=1), full[::stride, ::stride])


@pytest.mark.parametrize(("stride", "padding"), [(1, "valid"), (1, "same"), (2, "valid"), (3, 2)])
def test_conv2d_matches_tf_nn_conv2d(stride, padding):
    tf = pytest.importorskip("tensorflow")
    x = rng.normal(size=(20, 20, 3)).astype(np.float32)
    k = rng.normal(size=(5, 5, 3, 6)).astype(np.float32)
    p = resolve_padding(padding, 5)
    ref = tf.nn.conv2d(
        np.pad(x, ((p, p), (p, p), (0, 0)))[None], k, strides=stride, padding="VALID"
    ).numpy()[0]
    np.testing.assert_allclose(conv2d(x, k, stride=stride, padding=padding), ref, atol=1e-4)


def test_lecture_volume_32x32x3_with_5x5x3_filters():
    x = rng.normal(size=(32, 32, 3))
    one = conv2d(x, rng.normal(size=(5, 5, 3)))
    assert one.shape == (28, 28)
    six = conv2d(x, rng.normal(size=(5, 5, 3, 6)))
    assert six.shape == (28, 28, 6)


def test_volume_single_filter_is_sum_over_channels():
    x = rng.normal(size=(9, 9, 3))
    k = rng.normal(size=(3, 3, 3))
    expected = sum(correlate2d(x[:, :, c], k[:, :, c], mode="valid") for c in range(3))
    np.testing.assert_allclose(conv2d(x, k), expected)


@pytest.mark.parametrize(
    ("n", "f", "s", "p", "size"),
    [(7, 3, 1, 0, 5), (7, 3, 2, 0, 3), (7, 3, 1, 1, 7), (32, 5, 1, 0, 28), (5, 3, 1, "same", 5)],
)
def test_output_size_lecture_numbers(n, f, s, p, size):
    assert output_size(n, f, s, p) == size


def test_output_size_stride_3_does_not_fit():
    with pytest.raises(ValueError, match=r"2\.33"):
        output_size(7, 3, stride=3)


@pytest.mark.parametrize(("f", "pad"), [(3, 1), (5, 2), (7, 3)])
def test_same_padding_is_f_minus_1_over_2(f, pad):
    assert resolve_padding("same", f) == pad
    assert conv2d(np.ones((9, 9)), np.ones((f, f)), padding="same").shape == (9, 9)


def test_fit_report_explains_and_suggests():
    r = fit_report(7, 3, stride=3)
    assert not r.fits and r.missed == 1 and round(r.exact, 2) == 2.33
    assert r.formula() == "(N - F + 2P)/S + 1 = (7 - 3 + 2*0)/3 + 1 = 2.33"
    for s, p, size in r.suggestions:
        assert output_size(7, 3, s, p) == size


def test_window_positions_match_output_shape():
    for n, f, s, p in [(7, 3, 1, 0), (7, 3, 2, 0), (7, 3, 1, 1), (8, 3, 3, 1), (16, 5, 2, 2)]:
        wins = window_positions(n, f, s, p)
        out = conv2d(np.ones((n, n)), np.ones((f, f)), stride=s, padding=p)
        assert len(wins) == out.size
        assert (wins[-1].row + 1, wins[-1].col + 1) == out.shape
        assert all(w.top + f <= n + 2 * p and w.left + f <= n + 2 * p for w in wins)


def test_pool_lecture_example():
    np.testing.assert_array_equal(pool2d(lecture.POOL_4X4), [[6, 8], [3, 4]])
    np.testing.assert_allclose(pool2d(lecture.POOL_4X4, mode="avg"), [[3.25, 5.25], [2, 2]])


def test_pool_matches_tf_per_channel():
    tf = pytest.importorskip("tensorflow")
    x = rng.normal(size=(12, 12, 4)).astype(np.float32)
    ref = tf.nn.max_pool2d(x[None], 2, 2, "VALID").numpy()[0]
    np.testing.assert_allclose(pool2d(x), ref)
    ref = tf.nn.avg_pool2d(x[None], 3, 3, "VALID").numpy()[0]
    np.testing.assert_allclose(pool2d(x, 3, 3, "avg"), ref, rtol=1e-5)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: conv2d(np.ones((5, 5)), np.ones((7, 7))), "larger than the padded"),
        (lambda: conv2d(np.ones((5, 5)), np.ones((3, 3)), stride=0), "stride must be >= 1"),
        (lambda: conv2d(np.ones((5, 5)), np.ones((3, 3)), padding=-1), "padding must be >= 0"),
        (lambda: conv2d(np.ones((5, 5)), np.ones((3, 2))), "square"),
        (lambda: conv2d(np.ones((5, 5, 3)), np.ones((3, 3))), "channel"),
        (lambda: conv2d(np.ones((5, 5, 3)), np.ones((3, 3, 2))), "depth 2"),
        (lambda: conv2d(np.ones((5, 5)), np.array([[1, np.nan], [0, 1]])), "finite"),
        (lambda: conv2d(np.ones(5), np.ones((3, 3))), "image must be"),
        (lambda: output_size(5, 3, stride=9), "does not fit"),
        (lambda: output_size(3, 5), "larger than the padded"),
        (lambda: resolve_padding("full", 3), "padding must be"),
        (lambda: resolve_padding("same", 4), "odd"),
        (lambda: pool2d(np.ones((3, 3)), size=4), "larger"),
        (lambda: pool2d(np.ones((4, 4)), mode="min"), "mode"),
    ],
)
def test_bad_arguments_say_what_was_received(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_padding_typed_as_text():
    assert resolve_padding(" 2 ", 3) == 2 and resolve_padding("VALID", 3) == 0
    with pytest.raises(ValueError, match="padding must be >= 0"):
        resolve_padding("-1", 3)
