"""conv2d, pool2d and the size arithmetic against scipy, tf.nn.conv2d and the lecture."""

import tracemalloc

import numpy as np
import pytest
from scipy.signal import correlate2d

from engine.arithmetic import convolution
from engine.arithmetic.convolution import (
    conv2d,
    fit_report,
    format_number,
    output_size,
    pool2d,
    resolve_padding,
    window_arithmetic,
    window_positions,
)
from engine.teaching import lecture

rng = np.random.default_rng(0)


def reference_conv(x, k4, stride, p):
    """Independent reference: scipy's 2-D correlation per channel and kernel, summed over
    channels, then subsampled by the stride. x (H, W, C), k4 (F, F, C, K)."""
    xp = np.pad(x.astype(np.float64), ((p, p), (p, p), (0, 0)))
    maps = [
        sum(
            correlate2d(xp[:, :, c], k4[:, :, c, m].astype(np.float64), mode="valid")
            for c in range(x.shape[2])
        )[::stride, ::stride]
        for m in range(k4.shape[3])
    ]
    return np.stack(maps, axis=-1)


def assert_close(got, expected, dtype):
    """Within 1e-9 (float64) or 1e-4 (float32) of the largest value of the reference."""
    scale = max(float(np.abs(expected).max()), 1e-30)
    rel = 1e-9 if dtype == np.float64 else 1e-4
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=0, atol=rel * scale)


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


# (H, W, C, F, K, stride, padding): odd and even sizes, non-square images, stride > 1,
# 'same', several channels and kernels; both paths of conv2d (band: stride 1, F >= 5,
# K <= 2; patches: everything else).
SHAPES = [
    (17, 23, 1, 5, 1, 1, 0),
    (17, 23, 1, 7, 1, 1, "same"),
    (31, 9, 3, 5, 1, 1, 2),
    (12, 40, 3, 7, 2, 1, 3),
    (9, 9, 2, 5, 2, 1, 1),
    (33, 35, 3, 3, 1, 1, "same"),
    (33, 35, 1, 3, 6, 1, 1),
    (21, 19, 3, 7, 1, 2, 3),
    (21, 19, 4, 5, 3, 3, 2),
    (16, 16, 1, 1, 1, 1, 0),
    (16, 16, 5, 1, 4, 2, 0),
    (8, 8, 3, 3, 6, 4, 1),
    (7, 7, 1, 7, 1, 1, 0),  # one window
    (5, 64, 2, 5, 1, 1, 0),  # one output row
]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize(("h", "w", "c", "f", "k", "stride", "padding"), SHAPES)
def test_conv2d_matches_scipy_for_many_shapes(h, w, c, f, k, stride, padding, dtype):
    x = rng.normal(size=(h, w, c)).astype(dtype)
    k4 = rng.normal(size=(f, f, c, k)).astype(dtype)
    p = resolve_padding(padding, f)
    got = conv2d(x, k4, stride=stride, padding=padding)
    assert got.dtype == dtype
    assert_close(got, reference_conv(x, k4, stride, p), dtype)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("band_rows", [2, 5])
@pytest.mark.parametrize(("c", "f", "k"), [(1, 7, 1), (3, 5, 2), (2, 3, 5), (3, 7, 3), (1, 3, 1)])
def test_chunk_and_block_boundaries(monkeypatch, c, f, k, band_rows, dtype):
    # tiny working memory and products: many row blocks, batches, column spans and patch
    # tiles, and partial ones at the edges
    monkeypatch.setattr(convolution, "_CHUNK_BYTES", 3000)
    monkeypatch.setattr(convolution, "_ITEM_MACS", 4000)
    monkeypatch.setattr(convolution, "_BAND_ROWS", band_rows)
    x = rng.normal(size=(29, 37, c)).astype(dtype)
    k4 = rng.normal(size=(f, f, c, k)).astype(dtype)
    for stride, padding in [(1, "same"), (1, 0), (2, 1)]:
        p = resolve_padding(padding, f)
        got = conv2d(x, k4, stride=stride, padding=padding)
        assert_close(got, reference_conv(x, k4, stride, p), dtype)


@pytest.mark.parametrize(
    ("shape", "kshape"),
    [((1024, 1024, 3), (7, 7, 3)), ((1024, 1024), (7, 7)), ((1024, 1024, 1), (3, 3, 1, 6))],
)
def test_a_large_image_agrees_with_scipy(shape, kshape):
    x = rng.random(shape)
    k = rng.normal(size=kshape)
    x3 = x if x.ndim == 3 else x[:, :, None]
    k4 = k.reshape(k.shape[:2] + (x3.shape[2], -1))
    got = conv2d(x, k, padding="same")
    expected = reference_conv(x3, k4, 1, k.shape[0] // 2)
    assert_close(got.reshape(expected.shape), expected, np.float64)
    got32 = conv2d(x.astype(np.float32), k.astype(np.float32), padding="same")
    assert_close(got32.reshape(expected.shape), expected, np.float32)


def test_memory_stays_bounded_on_a_large_image():
    # im2col of the whole 1024x1024x3 image with a 7x7 kernel would hold 147 values per
    # pixel (1.2 GB in float64); conv2d needs its padded copy, the map and small chunks.
    x = rng.random((1024, 1024, 3))
    for k in (rng.normal(size=(7, 7, 3)), rng.normal(size=(3, 3, 3, 4))):
        tracemalloc.start()
        conv2d(x, k, padding="same")
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        assert peak < 2.5 * x.nbytes, f"peak {peak / 2**20:.0f} MiB"


def test_nan_in_the_image_reaches_only_the_windows_that_contain_it():
    x = rng.normal(size=(40, 40))
    x[20, 11] = np.nan
    for k in (rng.normal(size=(7, 7)), rng.normal(size=(3, 3))):
        got = conv2d(x, k, padding="same")
        f = k.shape[0]
        expected = correlate2d(np.pad(x, f // 2), k, mode="valid")
        np.testing.assert_array_equal(np.isnan(got), np.isnan(expected))
        assert np.isnan(got).sum() == f * f
        np.testing.assert_allclose(got[~np.isnan(got)], expected[~np.isnan(expected)])


@pytest.mark.parametrize(
    ("stride", "padding", "f", "c", "k", "n"),
    [
        (1, "same", 7, 3, 1, 64),
        (1, "valid", 5, 1, 2, 33),
        (2, "same", 3, 3, 6, 31),
        (3, 2, 5, 4, 3, 20),
        (1, 3, 7, 1, 1, 17),
    ],
)
def test_conv2d_matches_tf_for_more_shapes(stride, padding, f, c, k, n):
    tf = pytest.importorskip("tensorflow")
    x = rng.normal(size=(n, n + 3, c)).astype(np.float32)
    w = rng.normal(size=(f, f, c, k)).astype(np.float32)
    p = resolve_padding(padding, f)
    ref = tf.nn.conv2d(
        np.pad(x, ((p, p), (p, p), (0, 0)))[None], w, strides=stride, padding="VALID"
    ).numpy()[0]
    assert_close(conv2d(x, w, stride=stride, padding=padding), ref, np.float32)


def test_integer_inputs_give_exact_sums():
    out = conv2d(lecture.BINARY_5X5, lecture.X_KERNEL, padding=1)
    np.testing.assert_array_equal(
        out, correlate2d(np.pad(lecture.BINARY_5X5, 1), lecture.X_KERNEL, "valid")
    )
    big = conv2d(np.arange(81).reshape(9, 9), np.ones((5, 5)))
    np.testing.assert_array_equal(
        big, correlate2d(np.arange(81).reshape(9, 9), np.ones((5, 5)), "valid")
    )


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


def test_pool_with_zero_padding_by_hand():
    x = lecture.POOL_4X4
    # padded by 1 (zeros) to 6x6; 2x2 windows at 0, 2, 4: each corner window holds one
    # input cell and three zeros, each edge window two cells and two zeros
    np.testing.assert_array_equal(
        pool2d(x, 2, 2, "max", padding=1), [[1, 2, 4], [5, 7, 8], [1, 3, 4]]
    )
    np.testing.assert_allclose(
        pool2d(x, 2, 2, "avg", padding=1),
        [[1 / 4, 3 / 4, 4 / 4], [8 / 4, 16 / 4, 8 / 4], [1 / 4, 5 / 4, 4 / 4]],
    )
    # 3x3 windows, stride 1, 'same' (P = 1): the centre cell (1, 1) sees rows 0..2
    same = pool2d(x, 3, 1, "max", padding="same")
    assert same.shape == (4, 4) and same[1, 1] == 7 and same[0, 0] == 6
    negative = -np.ones((2, 2, 2))
    assert (pool2d(negative, 2, 2, "max", padding=1) == 0).all()  # a padded zero wins
    with pytest.raises(ValueError, match=r"larger than the 1x1 input \(padded by 1\)"):
        pool2d(np.ones((1, 1)), size=4, padding=1)


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


def test_window_arithmetic_first_cell_of_the_lecture_example():
    cell = window_arithmetic(lecture.BINARY_5X5, lecture.X_KERNEL, "conv", 1, 0, 0, 0)
    assert cell.value == 4
    assert cell.text() == "1x1 + 1x0 + 1x1 + 0x0 + 1x1 + 1x0 + 0x1 + 0x0 + 1x1 = 4"
    assert cell.terms == (1, 0, 1, 0, 1, 0, 0, 0, 1)
    np.testing.assert_array_equal(cell.window, lecture.BINARY_5X5[:3, :3])
    assert (cell.top, cell.left, cell.row, cell.col) == (0, 0, 0, 0)


def test_window_arithmetic_max_and_average_pooling():
    cell = window_arithmetic(lecture.POOL_4X4, None, "max", 2, 0, 0, 0, size=2)
    assert cell.text() == "max(1, 1, 5, 6) = 6" and cell.value == 6
    cell = window_arithmetic(lecture.POOL_4X4, None, "avg", 2, 0, 0, 0, size=2)
    assert cell.text() == "avg(1, 1, 5, 6) = (1 + 1 + 5 + 6)/4 = 3.25"
    cell = window_arithmetic(lecture.POOL_4X4, None, "max", 2, 0, 1, 1, size=2)
    assert cell.text() == "max(1, 0, 3, 4) = 4" and (cell.top, cell.left) == (2, 2)


def test_window_arithmetic_writes_negative_numbers_in_brackets():
    x = np.array([[1.0, -2.5], [0, 3]])
    k = np.array([[1, -1], [-0.5, 2]])
    cell = window_arithmetic(x, k, "conv", 1, 0, 0, 0)
    assert cell.text() == "1x1 + (-2.5)x(-1) + 0x(-0.5) + 3x2 = 9.5"
    cell = window_arithmetic(x, None, "avg", 1, 0, 0, 0, size=2)
    assert cell.text() == "avg(1, -2.5, 0, 3) = (1 + (-2.5) + 0 + 3)/4 = 0.38"
    cell = window_arithmetic(x, k, "conv", 1, 1, 0, 0)  # padded: zeros in the window
    assert cell.text() == "0x1 + 0x(-1) + 0x(-0.5) + 1x2 = 2"


@pytest.mark.parametrize(
    ("stride", "padding", "f"), [(1, 0, 3), (2, 1, 3), (3, "same", 5), (1, 2, 2)]
)
def test_window_arithmetic_agrees_with_conv2d_and_pool2d_everywhere(stride, padding, f):
    x = rng.integers(-5, 9, size=(11, 11)).astype(float)
    k = rng.integers(-3, 4, size=(f, f)).astype(float)
    p = resolve_padding(padding, f)
    conv = conv2d(x, k, stride=stride, padding=p)
    pools = {op: pool2d(x, f, stride, op, padding=p) for op in ("max", "avg")}
    for w in window_positions(11, f, stride, p):
        cell = window_arithmetic(x, k, "conv", stride, p, w.row, w.col)
        assert cell.value == pytest.approx(conv[w.row, w.col])
        assert (cell.top, cell.left) == (w.top, w.left)
        assert sum(cell.terms) == pytest.approx(cell.value)
        for op, out in pools.items():
            pooled = window_arithmetic(x, None, op, stride, p, w.row, w.col, size=f)
            assert pooled.value == pytest.approx(out[w.row, w.col])


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: window_arithmetic(np.ones((5, 5)), None, "conv", 1, 0, 0, 0), "needs its kernel"),
        (lambda: window_arithmetic(np.ones((5, 5)), None, "max", 1, 0, 0, 0), "window size"),
        (lambda: window_arithmetic(np.ones((5, 5)), np.ones((3, 3)), "sum", 1, 0, 0, 0), "op must"),
        (
            lambda: window_arithmetic(np.ones((5, 5)), np.ones((3, 3)), "conv", 1, 0, 3, 0),
            "outside",
        ),
        (lambda: window_arithmetic(np.ones((5, 5, 3)), np.ones((3, 3)), "conv", 1, 0, 0, 0), "2-D"),
        (lambda: window_arithmetic(np.ones((5, 5)), np.ones((3, 2)), "conv", 1, 0, 0, 0), "square"),
        (lambda: window_arithmetic(np.ones((2, 2)), np.ones((3, 3)), "conv", 1, 0, 0, 0), "larger"),
    ],
)
def test_window_arithmetic_bad_arguments(call, message):
    with pytest.raises(ValueError, match=message):
        call()


@pytest.mark.parametrize(
    ("value", "text"),
    [(4.0, "4"), (-1.0, "-1"), (3.25, "3.25"), (0.1 + 0.2, "0.3"), (-0.001, "0"), (2 / 3, "0.67")],
)
def test_one_number_formatter(value, text):
    assert format_number(value) == text
