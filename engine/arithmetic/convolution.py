"""Convolution arithmetic in pure numpy: output sizes, conv2d, pooling, window positions,
and the written arithmetic of one window (``window_arithmetic``).

This module is the single source of truth for the numbers every panel shows. It needs
only numpy, so it imports instantly and works without TensorFlow.

Conventions follow deep-learning frameworks (and the lecture): "convolution" is
cross-correlation (the kernel is not flipped), padding is zeros, images are
channels-last ``(H, W)`` or ``(H, W, C)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

PaddingArg = int | str
PoolMode = Literal["max", "avg"]
#: What slides over the input: a kernel (weighted sum) or a pooling window.
Operation = Literal["conv", "max", "avg"]
OPERATIONS: tuple[Operation, ...] = ("conv", "max", "avg")

__all__ = [
    "OPERATIONS",
    "CellArithmetic",
    "Operation",
    "StrideFit",
    "Window",
    "conv2d",
    "fit_report",
    "format_number",
    "output_size",
    "pool2d",
    "resolve_padding",
    "window_arithmetic",
    "window_positions",
]


def _check_int(name: str, value: object, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name} must be an integer >= {minimum}. Received: {name}={value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}. Received: {name}={value}")
    return int(value)


def resolve_padding(padding: PaddingArg, f: int) -> int:
    """Turn ``'valid'``, ``'same'`` or a number into a number of zero rows/columns.

    ``'same'`` is the lecture's (F - 1) / 2, which keeps the input size at stride 1;
    it needs an odd filter size. A number may come as text, as typed into a box.

    >>> resolve_padding("same", 5), resolve_padding(" 2 ", 3)
    (2, 2)
    """
    if isinstance(padding, str):
        name = padding.strip().lower()
        if name.lstrip("+-").isdigit():
            return _check_int("padding", int(name), 0)
        if name == "valid":
            return 0
        if name == "same":
            if f % 2 == 0:
                raise ValueError(
                    f"'same' padding (F-1)/2 needs an odd filter size. Received: F={f}"
                )
            return (f - 1) // 2
        raise ValueError(
            f"padding must be 'valid', 'same' or an integer >= 0. Received: padding={padding!r}"
        )
    return _check_int("padding", padding, 0)


def _size_parts(n: int, f: int, stride: int, padding: int) -> tuple[int, int, int]:
    n = _check_int("input size", n, 1)
    f = _check_int("filter size", f, 1)
    stride = _check_int("stride", stride, 1)
    padding = _check_int("padding", padding, 0)
    if f > n + 2 * padding:
        raise ValueError(
            f"the {f}x{f} filter is larger than the padded {n + 2 * padding}x{n + 2 * padding} "
            f"input (N={n}, P={padding}); use a smaller filter or more padding"
        )
    return n - f + 2 * padding, stride, padding


def output_size(n: int, f: int, stride: int = 1, padding: PaddingArg = 0) -> int:
    """Output size (N - F + 2P) / S + 1 of an N x N input and an F x F filter.

    Raises ``ValueError`` where the filter does not fit a whole number of times, with the
    fractional size in the message, as the lecture's stride-3 slide explains.

    >>> output_size(7, 3, stride=2)
    3
    >>> output_size(7, 3, stride=1, padding=1)
    7
    """
    p = resolve_padding(padding, f)
    span, stride, p = _size_parts(n, f, stride, p)
    if span % stride:
        exact = span / stride + 1
        raise ValueError(
            f"stride {stride} does not fit: ({n} - {f} + 2*{p})/{stride} + 1 = {exact:.2f}, "
            f"not a whole number, so the {f}x{f} window cannot cover the {n}x{n} input "
            f"evenly; {span % stride} row(s) and column(s) at the border would be missed"
        )
    return span // stride + 1


@dataclass(frozen=True)
class StrideFit:
    """How an F x F window with stride S and padding P fits an N x N input.

    ``exact`` is (N - F + 2P) / S + 1 (maybe fractional); ``size`` the number of whole
    steps (what frameworks compute); ``missed`` how many padded rows (and columns) at the
    bottom (and right) no window reaches; ``suggestions`` nearby (stride, padding) pairs
    that do fit, as ``(stride, padding, output size)``.
    """

    n: int
    f: int
    stride: int
    padding: int
    exact: float
    size: int
    missed: int
    suggestions: tuple[tuple[int, int, int], ...]

    @property
    def fits(self) -> bool:
        return self.missed == 0

    def formula(self) -> str:
        """The formula with the numbers filled in, e.g. ``(7 - 3 + 2*0)/2 + 1 = 3``."""
        value = f"{self.exact:.0f}" if self.fits else f"{self.exact:.2f}"
        return (
            f"(N - F + 2P)/S + 1 = ({self.n} - {self.f} + 2*{self.padding})/{self.stride} + 1"
            f" = {value}"
        )


def fit_report(n: int, f: int, stride: int = 1, padding: PaddingArg = 0) -> StrideFit:
    """Explain how (and whether) the window fits, without raising on a non-fitting stride.

    >>> r = fit_report(7, 3, stride=3)
    >>> r.fits, round(r.exact, 2), r.missed
    (False, 2.33, 1)
    """
    p = resolve_padding(padding, f)
    span, stride, p = _size_parts(n, f, stride, p)
    suggestions: list[tuple[int, int, int]] = []
    if span % stride:
        for s in sorted(range(1, max(stride + 3, 4)), key=lambda s: (abs(s - stride), s)):
            if (n - f + 2 * p) % s == 0 and s != stride:
                suggestions.append((s, p, (n - f + 2 * p) // s + 1))
                break
        for q in range(0, p + stride + 1):
            if q != p and (n - f + 2 * q) >= 0 and (n - f + 2 * q) % stride == 0:
                suggestions.append((stride, q, (n - f + 2 * q) // stride + 1))
                break
    return StrideFit(
        n=n,
        f=f,
        stride=stride,
        padding=p,
        exact=span / stride + 1,
        size=span // stride + 1,
        missed=span % stride,
        suggestions=tuple(suggestions),
    )


@dataclass(frozen=True)
class Window:
    """One position of the sliding window.

    ``row``/``col`` index the output cell; ``top``/``left`` the window's top-left corner
    in padded-input coordinates.
    """

    row: int
    col: int
    top: int
    left: int


def window_positions(n: int, f: int, stride: int = 1, padding: PaddingArg = 0) -> list[Window]:
    """Every window position in row-major order (the order of the lecture's slides).

    Where the stride does not fit, the windows that would run past the border are left
    out, as frameworks do; ``fit_report`` says which rows are missed.

    >>> [(w.top, w.left) for w in window_positions(5, 3, stride=2)]
    [(0, 0), (0, 2), (2, 0), (2, 2)]
    """
    r = fit_report(n, f, stride, padding)
    return [Window(i, j, i * r.stride, j * r.stride) for i in range(r.size) for j in range(r.size)]


def _steps(length: int, f: int, stride: int) -> int:
    return (length - f) // stride + 1


#: Output rows per band product (``_conv_band``): small, as the band's zeros are waste.
_BAND_ROWS = 2
#: Multiply-adds per BLAS call at most. OpenBLAS runs a call this small on one thread;
#: a larger call is split over its threads and waits for all of them, and where another
#: program (or TensorFlow training in the app) keeps a core busy, that wait made a 10 ms
#: convolution take a second. Many small calls go through one batched ``np.matmul``.
_ITEM_MACS = 1 << 18
#: About this many bytes of working memory per batched product or patch chunk.
_CHUNK_BYTES = 1 << 21


def conv2d(
    image: np.ndarray, kernel: np.ndarray, stride: int = 1, padding: PaddingArg = 0
) -> np.ndarray:
    """Slide ``kernel`` over ``image`` (cross-correlation, zero padding).

    Shapes: image (H, W) with kernel (F, F) gives (H', W'); image (H, W, C) with kernel
    (F, F, C) gives one map (H', W'); kernel (F, F, C, K) gives K maps (H', W', K).
    H' = floor((H - F + 2P) / S) + 1; where that division is not exact the rows the window
    cannot reach are dropped, as TensorFlow does (``output_size`` is the strict version).

    The result is float64 when the image or the kernel is float64, float32 otherwise.
    The sums run through small matrix products (BLAS, one thread each) in chunks of
    bounded memory: at stride 1 one kernel, or up to three unless they are 3x3 on a grey
    image, as band matrices over blocks of rows (``_conv_band``); everything else as
    tiles of copied patches ("im2col", ``_conv_patches``). Both equal a plain loop over
    the window up to rounding.

    >>> x = np.zeros((32, 32, 3)); w = np.zeros((5, 5, 3, 6))
    >>> print(conv2d(x, w).shape)
    (28, 28, 6)
    """
    x = np.asarray(image)
    k = np.asarray(kernel)
    if x.ndim not in (2, 3):
        raise ValueError(f"image must be (H, W) or (H, W, C). Received shape {x.shape}")
    if x.ndim == 2:
        x = x[:, :, None]
    if k.ndim == 2:
        if x.shape[2] != 1:
            raise ValueError(
                f"a 2-D kernel {k.shape} needs a 2-D image; the image has {x.shape[2]} "
                "channels, so give the kernel a channel axis (F, F, C)"
            )
        k4, squeeze = k[:, :, None, None], True
    elif k.ndim == 3:
        k4, squeeze = k[:, :, :, None], True
    elif k.ndim == 4:
        k4, squeeze = k, False
    else:
        raise ValueError(
            f"kernel must be (F, F), (F, F, C) or (F, F, C, K). Received shape {k.shape}"
        )
    fh, fw, kc, nk = k4.shape
    if fh != fw or fh < 1:
        raise ValueError(f"kernel must be square (F, F, ...). Received shape {k.shape}")
    if kc != x.shape[2]:
        raise ValueError(
            f"kernel depth {kc} does not match the image's {x.shape[2]} channel(s): "
            f"image {np.asarray(image).shape}, kernel {k.shape}"
        )
    if x.size == 0:
        raise ValueError(f"image is empty. Received shape {np.asarray(image).shape}")
    if not np.issubdtype(k4.dtype, np.number) or not np.all(np.isfinite(k4)):
        raise ValueError("kernel must contain finite numbers (no NaN, inf or text)")
    stride = _check_int("stride", stride, 1)
    p = resolve_padding(padding, fh)
    h, w = x.shape[0] + 2 * p, x.shape[1] + 2 * p
    if fh > h or fh > w:
        raise ValueError(
            f"the {fh}x{fh} kernel is larger than the padded {h}x{w} image "
            f"(padding {p}); use a smaller kernel or more padding"
        )
    dtype = np.float64 if np.float64 in (x.dtype, k4.dtype) else np.float32
    k4 = k4.astype(dtype, copy=False)
    result = None
    if stride == 1 and (nk == 1 or (nk <= 3 and fh * kc >= 5)):
        # Rows, then channels, then columns: a block of rows with all their channels is
        # then one (rows * C, W) matrix with unit column stride.
        rows = np.zeros((h, kc, w), dtype=dtype)
        rows[p : h - p, :, p : w - p] = x.transpose(0, 2, 1)
        # A band product spreads each value over a block of rows; a NaN or inf must only
        # reach the windows that contain it, so such images take the patch path.
        if np.isfinite(rows.sum()):
            result = _conv_band(rows, k4)
    if result is None:
        planes = np.zeros((kc, h, w), dtype=dtype)
        planes[:, p : h - p, p : w - p] = np.moveaxis(x, 2, 0)
        result = _conv_patches(planes, k4, stride)
    maps = np.moveaxis(result, 0, 2)  # (K, H', W') -> (H', W', K)
    return maps[:, :, 0] if squeeze else maps


def _band_matrix(k4: np.ndarray, block: int) -> np.ndarray:
    """The (K * F * block, (block + F - 1) * C) band matrix: row (k, j, y) holds column
    j of kernel k placed at input row y, so that multiplying it with ``block + F - 1``
    input rows (all channels) correlates ``block`` output rows with each kernel column."""
    f, _, c, nk = k4.shape
    band = np.zeros((nk, f, block, block + f - 1, c), dtype=k4.dtype)
    columns = k4.transpose(3, 1, 0, 2)  # (k, j, i, channel)
    for y in range(block):
        band[:, :, y, y : y + f, :] = columns
    return band.reshape(nk * f * block, (block + f - 1) * c)


def _conv_band(rows: np.ndarray, k4: np.ndarray) -> np.ndarray:
    """Stride 1, from the padded image laid out as (H + 2P, C, W + 2P); gives (K, H', W').

    For each block of output rows, the band matrix times the block's input rows (all
    channels, a range of columns) correlates them with every kernel column j at once:
    G[k, j, y, x]. A map is then the sum over j of G[k, j] shifted left by j, one
    reduction over a strided view. The image is read in place (no patches are copied);
    the band's zeros cost (block + F - 1) / F times the multiply-adds of a plain loop,
    all in BLAS. Blocks go through ``np.matmul`` in batches of about ``_CHUNK_BYTES``,
    each product at most ``_ITEM_MACS`` (see there).
    """
    f, _, c, nk = k4.shape
    h, w = rows.shape[0], rows.shape[2]
    oh, ow = h - f + 1, w - f + 1
    out = np.empty((nk, oh, ow), dtype=rows.dtype)
    block = min(_BAND_ROWS, oh)
    whole = oh - oh % block  # rows in whole blocks; the rest gets a band of its own
    band = _band_matrix(k4, block)
    span = max(1, min(ow, _ITEM_MACS // band.size - f + 1))  # output columns per product
    for x0 in range(0, ow, span):
        n = min(span, ow - x0)
        per_batch = max(1, _CHUNK_BYTES // (band.shape[0] * (n + f - 1) * rows.itemsize))
        for y0 in range(0, whole, per_batch * block):
            count = min(per_batch, (whole - y0) // block)
            _band_product(rows, band, k4.shape, block, count, y0, x0, n, out)
        if whole < oh:
            rest = _band_matrix(k4, oh - whole)
            _band_product(rows, rest, k4.shape, oh - whole, 1, whole, x0, n, out)
    return out


def _band_product(
    rows: np.ndarray,
    band: np.ndarray,
    shape: tuple[int, ...],
    block: int,
    count: int,
    y0: int,
    x0: int,
    n: int,
    out: np.ndarray,
) -> None:
    """Output rows y0 .. y0 + count * block, columns x0 .. x0 + n, of every map."""
    f, _, c, nk = shape
    w = rows.shape[2]
    width = n + f - 1
    item = rows.itemsize
    as_strided = np.lib.stride_tricks.as_strided
    # count overlapping (block + F - 1) * C x width matrices, each ``block`` rows down
    segments = as_strided(
        rows[y0:, :, x0 : x0 + width],
        shape=(count, band.shape[1], width),
        strides=(block * c * w * item, w * item, item),
    )
    g = np.matmul(band, segments)  # (count, K * F * block, width), C-contiguous
    # shifted[b, k, j, y, x] = g[b, k, j, y, x + j]; the last element read is g's last
    shifted = as_strided(
        g,
        shape=(count, nk, f, block, n),
        strides=(
            band.shape[0] * width * item,
            f * block * width * item,
            (block * width + 1) * item,
            width * item,
            item,
        ),
    )
    target = out[:, y0 : y0 + count * block, x0 : x0 + n].reshape(nk, count, block, n)
    np.add.reduce(shifted, axis=2, out=target.transpose(1, 0, 2, 3))


def _conv_patches(planes: np.ndarray, k4: np.ndarray, stride: int) -> np.ndarray:
    """From the padded image as channel planes (C, H + 2P, W + 2P); gives (K, H', W').

    A tile of output rows and columns at a time, the windows are copied into patches
    (rows, F * F * C, columns) and each row's patch matrix multiplied by the
    (K, F * F * C) kernels, all rows in one batched ``np.matmul``: the whole image's
    patches would be F * F * C times its size, a tile is about ``_CHUNK_BYTES`` and
    each product at most ``_ITEM_MACS``.
    """
    f, _, c, nk = k4.shape
    oh, ow = _steps(planes.shape[1], f, stride), _steps(planes.shape[2], f, stride)
    depth = f * f * c
    weights = np.ascontiguousarray(k4.reshape(depth, nk).T)  # (K, (i, j, channel))
    out = np.empty((nk, oh, ow), dtype=planes.dtype)
    span = max(1, min(ow, _ITEM_MACS // (nk * depth)))  # output columns per product
    chunk = max(1, min(oh, _CHUNK_BYTES // (depth * span * planes.itemsize)))
    patches = np.empty((chunk, f, f, c, span), dtype=planes.dtype)
    for x0 in range(0, ow, span):
        n = min(span, ow - x0)
        for y0 in range(0, oh, chunk):
            r = min(chunk, oh - y0)
            for i in range(f):
                top = y0 * stride + i
                for j in range(f):
                    left = x0 * stride + j
                    window = planes[
                        :,
                        top : top + (r - 1) * stride + 1 : stride,
                        left : left + (n - 1) * stride + 1 : stride,
                    ]
                    patches[:r, i, j, :, :n] = window.transpose(1, 0, 2)
            tile = out[:, y0 : y0 + r, x0 : x0 + n].transpose(1, 0, 2)  # a view
            np.matmul(weights, patches[:r, :, :, :, :n].reshape(r, depth, n), out=tile)
    return out


def pool2d(
    x: np.ndarray,
    size: int = 2,
    stride: int = 2,
    mode: PoolMode = "max",
    padding: PaddingArg = 0,
) -> np.ndarray:
    """Max or average pooling of (H, W) or (H, W, C), each channel separately.

    ``padding`` adds that many rows and columns of zeros around the input first, as the
    Stride & padding panel draws it, so a padded cell counts as 0 in a max and in an
    average. Frameworks differ here: Keras/TensorFlow pad max pooling with -inf (a padded
    cell never wins) and leave padded cells out of an average's count.

    >>> pool2d(np.array([[1, 1, 2, 4], [5, 6, 7, 8], [3, 2, 1, 0], [1, 2, 3, 4]]))
    array([[6, 8],
           [3, 4]])
    >>> pool2d(np.array([[-1, -2], [-3, -4]]), padding=1)  # each window has a padded 0
    array([[0, 0],
           [0, 0]])
    >>> pool2d(np.array([[-1, -2], [-3, -4]]), mode="avg", padding=1)
    array([[-0.25, -0.5 ],
           [-0.75, -1.  ]])
    """
    a = np.asarray(x)
    if a.ndim not in (2, 3):
        raise ValueError(f"pool2d takes (H, W) or (H, W, C). Received shape {a.shape}")
    size = _check_int("pool size", size, 1)
    stride = _check_int("stride", stride, 1)
    if mode not in ("max", "avg"):
        raise ValueError(f"mode must be 'max' or 'avg'. Received: mode={mode!r}")
    p = resolve_padding(padding, size)
    if size > a.shape[0] + 2 * p or size > a.shape[1] + 2 * p:
        padded = f" (padded by {p})" if p else ""
        raise ValueError(
            f"pool size {size} is larger than the {a.shape[0]}x{a.shape[1]} input{padded}"
        )
    if p:
        a = np.pad(a, [(p, p), (p, p)] + [(0, 0)] * (a.ndim - 2))
    windows = np.lib.stride_tricks.sliding_window_view(a, (size, size), axis=(0, 1))
    windows = windows[::stride, ::stride]
    reduce = np.max if mode == "max" else np.mean
    return reduce(windows, axis=(-2, -1))


def format_number(v: float) -> str:
    """A number as the panels write it: integers without decimals, others with up to two.

    >>> format_number(4.0), format_number(3.25), format_number(-0.001), format_number(1 / 3)
    ('4', '3.25', '0', '0.33')
    """
    v = float(v)
    if not np.isfinite(v):
        return str(v)
    if abs(v - round(v)) < 1e-9:
        text = str(int(round(v)))
    else:
        text = f"{v:.2f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def _operand(v: float) -> str:
    """A number inside a sum or a product: negative ones in brackets, ``(-1)``."""
    text = format_number(v)
    return f"({text})" if text.startswith("-") else text


@dataclass(frozen=True, eq=False)
class CellArithmetic:
    """The arithmetic of one output cell: the values under its window and what they give.

    ``window`` holds the F x F values under the window (padding zeros included);
    ``kernel`` the weights for a convolution (None for pooling); ``terms`` the products
    window x kernel for a convolution, the window's values for pooling; ``value`` the
    cell's value (the sum, the max or the average). ``top``/``left`` is the window's
    corner in padded coordinates, ``row``/``col`` the output cell, both counted from 0.
    """

    op: Operation
    row: int
    col: int
    top: int
    left: int
    window: np.ndarray
    kernel: np.ndarray | None
    terms: tuple[float, ...]
    value: float

    def text(self) -> str:
        """The cell's arithmetic as written on the lecture's slides.

        >>> window_arithmetic([[1, -2], [3, 4]], [[1, 0], [-1, 1]], "conv", 1, 0, 0, 0).text()
        '1x1 + (-2)x0 + 3x(-1) + 4x1 = 2'
        """
        values = self.window.ravel()
        value = format_number(self.value)
        if self.op == "max":
            return f"max({', '.join(format_number(v) for v in values)}) = {value}"
        if self.op == "avg":
            listed = ", ".join(format_number(v) for v in values)
            summed = " + ".join(_operand(v) for v in values)
            return f"avg({listed}) = ({summed})/{values.size} = {value}"
        if self.kernel is None:
            raise ValueError("a convolution's arithmetic needs its kernel. Received: None")
        products = " + ".join(
            f"{_operand(a)}x{_operand(b)}" for a, b in zip(values, self.kernel.ravel(), strict=True)
        )
        return f"{products} = {value}"


def window_arithmetic(
    x: np.ndarray,
    kernel: np.ndarray | None,
    op: Operation,
    stride: int,
    padding: PaddingArg,
    row: int,
    col: int,
    *,
    size: int | None = None,
) -> CellArithmetic:
    """The arithmetic behind output cell (``row``, ``col``) of a 2-D input ``x``.

    ``op`` is ``"conv"`` (needs the (F, F) ``kernel``), ``"max"`` or ``"avg"`` (need
    the window ``size`` F, or a kernel whose shape gives it). Padding is zeros, for
    pooling too, as ``pool2d`` does. The value equals ``conv2d`` / ``pool2d``'s cell.

    >>> from engine.teaching import lecture
    >>> a = window_arithmetic(lecture.BINARY_5X5, lecture.X_KERNEL, "conv", 1, 0, 0, 0)
    >>> a.value, a.text()
    (4.0, '1x1 + 1x0 + 1x1 + 0x0 + 1x1 + 1x0 + 0x1 + 0x0 + 1x1 = 4')
    >>> window_arithmetic(lecture.POOL_4X4, None, "max", 2, 0, 0, 0, size=2).text()
    'max(1, 1, 5, 6) = 6'
    """
    if op not in OPERATIONS:
        raise ValueError(f"op must be one of {', '.join(OPERATIONS)}. Received: op={op!r}")
    a = np.asarray(x, dtype=np.float64)
    if a.ndim != 2:
        raise ValueError(f"x must be a 2-D grid (H, W). Received shape {a.shape}")
    k: np.ndarray | None = None
    if kernel is not None:
        k = np.array(kernel, dtype=np.float64)
        if k.ndim != 2 or k.shape[0] != k.shape[1]:
            raise ValueError(f"kernel must be square (F, F). Received shape {k.shape}")
    if op == "conv" and k is None:
        raise ValueError("a convolution needs its kernel. Received: kernel=None")
    if size is None:
        if k is None:
            raise ValueError(f"pooling needs the window size. Received: size=None, op={op!r}")
        size = k.shape[0]
    f = _check_int("window size", size, 1)
    if op == "conv" and k is not None and k.shape[0] != f:
        raise ValueError(f"size {f} does not match the kernel's shape {k.shape}")
    stride = _check_int("stride", stride, 1)
    p = resolve_padding(padding, f)
    h, w = a.shape[0] + 2 * p, a.shape[1] + 2 * p
    if f > h or f > w:
        raise ValueError(f"the {f}x{f} window is larger than the padded {h}x{w} input")
    oh, ow = _steps(h, f, stride), _steps(w, f, stride)
    if not (0 <= row < oh and 0 <= col < ow):
        raise ValueError(
            f"output cell ({row}, {col}) is outside the {oh}x{ow} output "
            "(rows and columns count from 0)"
        )
    top, left = row * stride, col * stride
    window = np.pad(a, p)[top : top + f, left : left + f]
    window.flags.writeable = False
    if k is not None and op == "conv":
        k.flags.writeable = False
        products = window * k
        terms = tuple(float(t) for t in products.ravel())
        value = float(products.sum())
    else:
        terms = tuple(float(t) for t in window.ravel())
        value = float(window.max() if op == "max" else window.mean())
    return CellArithmetic(
        op=op,
        row=row,
        col=col,
        top=top,
        left=left,
        window=window,
        kernel=k if op == "conv" else None,
        terms=terms,
        value=value,
    )
