"""Colour maps by key, and the one function that colours a map for export."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg

#: key (stored in settings) -> (label a student understands, pyqtgraph's name)
COLOUR_MAPS = {
    "viridis": ("Viridis (blue → yellow)", "viridis"),
    "inferno": ("Inferno (black → yellow)", "inferno"),
    "grey": ("Grey (black → white)", "CET-L1"),
}


def diverging_map() -> pg.ColorMap:
    """Blue below zero, white at zero, red above (levels set symmetric about 0)."""
    return pg.ColorMap(
        pos=[0.0, 0.5, 1.0], color=[(33, 102, 172), (255, 255, 255), (178, 24, 43)]
    )


def colour_map(key: str) -> pg.ColorMap:
    """The pyqtgraph colour map for ``key`` (viridis for an unknown key)."""
    return pg.colormap.get(COLOUR_MAPS.get(key, COLOUR_MAPS["viridis"])[1])


def colourise(data: np.ndarray, key: str, levels: tuple[float, float] | None = None) -> np.ndarray:
    """(H, W) values -> (H, W, 3) uint8 through colour map ``key``, as the views show them.

    ``levels`` (low, high) map to the ends of the colour map (default: the data's finite
    min and max); NaN (the gaps of a mosaic) becomes white.
    """
    a = np.asarray(data, dtype=np.float64)
    finite = np.isfinite(a)
    if levels is None:
        lo, hi = (float(a[finite].min()), float(a[finite].max())) if finite.any() else (0.0, 1.0)
    else:
        lo, hi = levels
    scaled = np.clip((np.where(finite, a, lo) - lo) / (hi - lo if hi > lo else 1.0), 0.0, 1.0)
    rgb = colour_map(key).map(scaled.ravel(), mode=pg.ColorMap.BYTE)[:, :3]
    rgb = rgb.reshape(*a.shape, 3).astype(np.uint8)
    rgb[~finite] = 255
    return rgb


def colour_lut(key: str, n: int = 256) -> np.ndarray:
    """The colour map as an (n, 3) uint8 lookup table, low to high."""
    return colour_map(key).getLookupTable(0.0, 1.0, n, alpha=False).astype(np.uint8)
