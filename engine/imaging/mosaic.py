"""Tile the C feature maps of one layer into one image (one ImageItem draws them all)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

Normalisation = Literal["per_map", "per_layer", "none"]


@dataclass(frozen=True)
class Mosaic:
    """A tiled image and where each map sits in it.

    ``image`` is float32 (rows*H + gaps, cols*W + gaps), NaN in the gaps; ``origins[i]``
    is the (top, left) pixel of map i; ``map_shape`` is (H, W).
    """

    image: np.ndarray
    origins: tuple[tuple[int, int], ...]
    map_shape: tuple[int, int]
    columns: int
    factor: int = 1  # each map was shrunk by this factor (mean of factor x factor blocks)
    levels: tuple[float, float] = (0.0, 1.0)  # the values that 0 and 1 of the image stand for

    def index_at(self, y: float, x: float) -> int | None:
        """The index of the map under pixel (y, x), or None in a gap or outside."""
        h, w = self.map_shape
        for i, (top, left) in enumerate(self.origins):
            if top <= y < top + h and left <= x < left + w:
                return i
        return None


def shrink(maps: np.ndarray, factor: int) -> np.ndarray:
    """(H, W, C) maps shrunk ``factor`` times by the mean of factor x factor blocks (the
    border that does not fill a block is dropped).

    >>> shrink(np.arange(16.0).reshape(4, 4, 1), 2)[:, :, 0].tolist()
    [[2.5, 4.5], [10.5, 12.5]]
    """
    if factor <= 1:
        return maps
    h, w, c = maps.shape
    hh, ww = max(h // factor, 1), max(w // factor, 1)
    if h < factor or w < factor:
        return maps
    blocks = maps[: hh * factor, : ww * factor].reshape(hh, factor, ww, factor, c)
    return blocks.mean(axis=(1, 3), dtype=np.float32)


def tile_maps(
    maps: np.ndarray,
    columns: int | None = None,
    normalisation: Normalisation = "per_map",
    gap: int = 1,
    max_side: int | None = None,
) -> Mosaic:
    """Arrange maps (H, W, C) in a grid of ``columns`` (default: near-square).

    ``per_map`` scales each map to [0, 1] on its own (shows the pattern of weak maps);
    ``per_layer`` scales all maps by the layer's common min and max (shows which maps are
    strong); ``none`` keeps raw values. With ``max_side``, maps are shrunk (``shrink``)
    so the mosaic's longer side is about that many pixels at most: for display, where
    a view cannot show more pixels than it has (full maps stay in the activations).

    >>> m = tile_maps(np.zeros((26, 26, 32)), columns=8)
    >>> print(m.image.shape)
    (107, 215)
    """
    a = np.asarray(maps, dtype=np.float32)
    if a.ndim == 2:
        a = a[:, :, None]
    if a.ndim != 3 or a.shape[2] == 0:
        raise ValueError(f"maps must be (H, W, C) with C >= 1. Received shape {a.shape}")
    if normalisation not in ("per_map", "per_layer", "none"):
        raise ValueError(
            "normalisation must be 'per_map', 'per_layer' or 'none'. "
            f"Received: normalisation={normalisation!r}"
        )
    h, w, c = a.shape
    cols = columns or max(1, math.ceil(math.sqrt(c)))
    cols = min(cols, c)
    rows = math.ceil(c / cols)
    factor = 1
    if max_side is not None:
        longest = max(rows * (h + gap), cols * (w + gap))
        factor = max(1, -(-longest // max_side))  # ceil: never more pixels than the view
        if factor > 1:
            a = shrink(a, factor)
            h, w, c = a.shape
    levels = (0.0, 1.0)
    if normalisation == "per_map":
        lo = a.min(axis=(0, 1), keepdims=True)
        hi = a.max(axis=(0, 1), keepdims=True)
        span = np.where(hi > lo, hi - lo, 1.0)
        a = (a - lo) / span
    elif normalisation == "per_layer":
        lo, hi = float(a.min()), float(a.max())
        a = (a - lo) / (hi - lo if hi > lo else 1.0)
        levels = (lo, hi if hi > lo else lo + 1.0)
    out = np.full((rows * h + (rows - 1) * gap, cols * w + (cols - 1) * gap), np.nan, np.float32)
    # Vectorised placement: pad the channel axis to rows*cols, then reshape into blocks.
    padded = np.full((h + gap, w + gap, rows * cols), np.nan, np.float32)
    padded[:h, :w, :c] = a
    blocks = padded.transpose(2, 0, 1).reshape(rows, cols, h + gap, w + gap)
    full = blocks.transpose(0, 2, 1, 3).reshape(rows * (h + gap), cols * (w + gap))
    out[:] = full[: out.shape[0], : out.shape[1]]
    origins = tuple(((i // cols) * (h + gap), (i % cols) * (w + gap)) for i in range(c))
    return Mosaic(
        image=out, origins=origins, map_shape=(h, w), columns=cols, factor=factor, levels=levels
    )


def tile_rgb(
    patches: np.ndarray, columns: int | None = None, gap: int = 1, normalise: bool = True
) -> np.ndarray:
    """Tile K small RGB patches (K, F, F, 3), each scaled to [0, 1] on its own (unless
    ``normalise`` is False: already in [0, 1]), into one (rows*F + gaps, cols*F + gaps, 3)
    float32 image with white gaps.

    Used to draw first-layer filters as colour patches, as in the lecture's slides.
    """
    p = np.asarray(patches, dtype=np.float32)
    if p.ndim != 4 or p.shape[3] != 3:
        raise ValueError(f"patches must be (K, F, F, 3). Received shape {p.shape}")
    k, fh, fw, _ = p.shape
    if normalise:
        lo = p.min(axis=(1, 2, 3), keepdims=True)
        hi = p.max(axis=(1, 2, 3), keepdims=True)
        p = (p - lo) / np.where(hi > lo, hi - lo, 1.0)
    cols = min(columns or max(1, math.ceil(math.sqrt(k))), k)
    rows = math.ceil(k / cols)
    out = np.ones((rows * (fh + gap) - gap, cols * (fw + gap) - gap, 3), np.float32)
    for i in range(k):
        top, left = (i // cols) * (fh + gap), (i % cols) * (fw + gap)
        out[top : top + fh, left : left + fw] = p[i]
    return out
