"""A conv layer's filters as pictures (numpy only): colour patches, grey tiles, or a matrix.

The lecture draws a first layer's filters as small RGB patches (a blue line, a dark
corner, a green surface); deeper filters have one weight per input channel, too many
to draw one by one, so each is shown as its mean over the input channels. A 1x1
convolution's filter is a single weight per input channel: normalised on its own it
would be one flat colour, so the whole layer is drawn as one matrix (out x in).

>>> w = np.zeros((3, 3, 3, 64)); w[1, 1, 2, 0] = 0.5
>>> f = filter_images(w)
>>> f.kind, f.images.shape, f.title
('rgb', (64, 3, 3, 3), '64 filters of 3x3x3, drawn as colour patches')
>>> f.images[0, 1, 1].tolist()  # blue at full strength, the zero weights mid grey
[0.5, 0.5, 1.0]
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

FilterKind = Literal["rgb", "per_filter", "matrix"]

__all__ = ["FilterImages", "FilterKind", "filter_images"]


@dataclass(frozen=True, eq=False)
class FilterImages:
    """The filters of one conv layer, ready to draw.

    ``kind`` and ``images`` (float32, in [0, 1], 0.5 where a weight is 0):

    - ``"rgb"``: (K, Fh, Fw, 3) colour patches, one per filter (input of 3 channels);
    - ``"per_filter"``: (K, Fh, Fw) grey tiles, each filter's mean over its input
      channels;
    - ``"matrix"``: (K, C_in), one row of weights per filter (1x1 convolutions).

    ``weights`` holds what is drawn before scaling (same shape as ``images``);
    ``scales`` the weight magnitude drawn as 0 or 1: one per filter, each filter scaled
    on its own and symmetrically around 0, except the matrix, which has one for all
    (its colours compare across filters). ``title`` says what the picture shows.
    """

    kind: FilterKind
    images: np.ndarray
    weights: np.ndarray
    scales: np.ndarray
    title: str


def _centred(weights: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """``weights`` to [0, 1] with 0 at 0.5 and +-scale at 1 / 0 (a zero scale: all 0.5)."""
    safe = np.where(scale > 0, scale, 1.0)
    return np.clip(0.5 + weights / (2.0 * safe), 0.0, 1.0).astype(np.float32)


def filter_images(kernel: np.ndarray) -> FilterImages:
    """Turn a conv kernel (Fh, Fw, C_in, K), Keras' layout, into displayable tiles.

    >>> f = filter_images(np.ones((3, 3, 32, 64)))
    >>> f.kind, f.images.shape
    ('per_filter', (64, 3, 3))
    >>> print(f.title)
    64 filters of 3x3x32, each drawn as its mean over the 32 input channels
    >>> m = filter_images(np.ones((1, 1, 256, 64)))
    >>> m.kind, m.images.shape
    ('matrix', (64, 256))
    >>> print(m.title)
    64 filters of 1x1x256, drawn as one 64 x 256 matrix of weights (out x in)
    """
    k = np.asarray(kernel)
    if k.ndim != 4:
        raise ValueError(
            f"kernel must be (Fh, Fw, C_in, K), as Keras' Conv2D keeps it. Received shape {k.shape}"
        )
    if 0 in k.shape:
        raise ValueError(f"kernel is empty. Received shape {k.shape}")
    if not np.issubdtype(k.dtype, np.number) or not np.all(np.isfinite(k)):
        raise ValueError("kernel must contain finite numbers (no NaN, inf or text)")
    fh, fw, c_in, n = k.shape
    w = k.astype(np.float64)
    count = f"{n} filter{'s' if n != 1 else ''} of {fh}x{fw}x{c_in}"
    if fh == 1 and fw == 1:
        weights = w[0, 0].T  # (K, C_in): a row per filter
        scale = np.array([np.abs(weights).max()])
        return FilterImages(
            kind="matrix",
            images=_centred(weights, scale),
            weights=weights,
            scales=scale,
            title=f"{count}, drawn as one {n} x {c_in} matrix of weights (out x in)",
        )
    if c_in == 3:
        weights = np.moveaxis(w, 3, 0)  # (K, Fh, Fw, 3)
        scales = np.abs(weights).reshape(n, -1).max(axis=1)
        return FilterImages(
            kind="rgb",
            images=_centred(weights, scales[:, None, None, None]),
            weights=weights,
            scales=scales,
            title=f"{count}, drawn as colour patches",
        )
    weights = np.moveaxis(w.mean(axis=2), 2, 0)  # (K, Fh, Fw)
    scales = np.abs(weights).reshape(n, -1).max(axis=1)
    how = (
        "drawn as grey patches"
        if c_in == 1
        else f"each drawn as its mean over the {c_in} input channels"
    )
    return FilterImages(
        kind="per_filter",
        images=_centred(weights, scales[:, None, None]),
        weights=weights,
        scales=scales,
        title=f"{count}, {how}",
    )
