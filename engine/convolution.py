"""Convolution arithmetic in pure numpy: output sizes, conv2d, pooling, window positions.

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

__all__ = [
    "Window",
    "StrideFit",
    "conv2d",
    "fit_report",
    "output_size",
    "pool2d",
    "resolve_padding",
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


def conv2d(
    image: np.ndarray, kernel: np.ndarray, stride: int = 1, padding: PaddingArg = 0
) -> np.ndarray:
    """Slide ``kernel`` over ``image`` (cross-correlation, zero padding).

    Shapes: image (H, W) with kernel (F, F) gives (H', W'); image (H, W, C) with kernel
    (F, F, C) gives one map (H', W'); kernel (F, F, C, K) gives K maps (H', W', K).
    H' = floor((H - F + 2P) / S) + 1; where that division is not exact the rows the window
    cannot reach are dropped, as TensorFlow does (``output_size`` is the strict version).

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
    # Channels-first planes make each shifted slice a plain 2-D view; the sum over
    # kernel cells is then F*F*C scaled additions of whole planes (vectorised, no loop
    # per pixel), with memory bounded by one output map per kernel.
    planes = np.zeros((x.shape[2], h, w), dtype=dtype)
    planes[:, p : p + x.shape[0], p : p + x.shape[1]] = np.moveaxis(x, 2, 0)
    k4 = k4.astype(dtype, copy=False)
    oh, ow = _steps(h, fh, stride), _steps(w, fh, stride)
    out = np.zeros((nk, oh, ow), dtype=dtype)
    for i in range(fh):
        for j in range(fw):
            window = planes[
                :, i : i + (oh - 1) * stride + 1 : stride, j : j + (ow - 1) * stride + 1 : stride
            ]
            for c in range(kc):
                for m in range(nk):
                    weight = k4[i, j, c, m]
                    if weight != 0:
                        out[m] += weight * window[c]
    result = np.moveaxis(out, 0, 2)
    return result[:, :, 0] if squeeze else result


def pool2d(x: np.ndarray, size: int = 2, stride: int = 2, mode: PoolMode = "max") -> np.ndarray:
    """Max or average pooling of (H, W) or (H, W, C), each channel separately.

    >>> pool2d(np.array([[1, 1, 2, 4], [5, 6, 7, 8], [3, 2, 1, 0], [1, 2, 3, 4]]))
    array([[6, 8],
           [3, 4]])
    """
    a = np.asarray(x)
    if a.ndim not in (2, 3):
        raise ValueError(f"pool2d takes (H, W) or (H, W, C). Received shape {a.shape}")
    size = _check_int("pool size", size, 1)
    stride = _check_int("stride", stride, 1)
    if mode not in ("max", "avg"):
        raise ValueError(f"mode must be 'max' or 'avg'. Received: mode={mode!r}")
    if size > a.shape[0] or size > a.shape[1]:
        raise ValueError(f"pool size {size} is larger than the {a.shape[0]}x{a.shape[1]} input")
    windows = np.lib.stride_tricks.sliding_window_view(a, (size, size), axis=(0, 1))
    windows = windows[::stride, ::stride]
    reduce = np.max if mode == "max" else np.mean
    return reduce(windows, axis=(-2, -1))
