"""Exported pictures that stand on their own: a title, the image, a colour bar with values.

Colours come in from the caller (the GUI's colour map as a 256 x 3 lookup table), so
this module needs only numpy and Pillow.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw, ImageFont

#: Small images are enlarged (nearest neighbour: every value stays a crisp square) to
#: at least this many pixels on their longer side.
READABLE_SIDE = 512


def enlarge(rgb: np.ndarray, min_side: int = READABLE_SIDE) -> np.ndarray:
    """Scale an (H, W, 3) image up by a whole factor, nearest neighbour, so that its
    longer side is at least ``min_side`` (never down).

    >>> enlarge(np.zeros((14, 10, 3), np.uint8)).shape
    (518, 370, 3)
    """
    a = np.asarray(rgb)
    factor = max(1, -(-min_side // max(a.shape[0], a.shape[1])))
    return np.repeat(np.repeat(a, factor, axis=0), factor, axis=1) if factor > 1 else a


def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1 has one bitmap size only
        return ImageFont.load_default()


def compose(
    rgb: np.ndarray,
    title: str,
    lut: np.ndarray | None = None,
    levels: tuple[float, float] | None = None,
    note: str = "",
) -> np.ndarray:
    """A figure: ``title`` (and ``note``, e.g. "UNTRAINED MODEL", in red) above the
    image, and, with a ``lut`` (256, 3) uint8, a colour bar labelled with ``levels``
    (the values its ends stand for).

    >>> out = compose(np.zeros((100, 80, 3), np.uint8), "conv2d_1",
    ...               np.zeros((256, 3), np.uint8), (0.0, 2.5))
    >>> out.shape[0] > 100 and out.shape[1] > 80, out.dtype
    (True, dtype('uint8'))
    """
    img = np.asarray(rgb, dtype=np.uint8)
    h, w = img.shape[:2]
    font = _font(16)
    small = _font(13)
    margin, bar_w = 10, 18
    title_h = 26 + (20 if note else 0)
    bar_space = 0 if lut is None else bar_w + 80
    canvas = Image.new("RGB", (w + 2 * margin + bar_space, h + title_h + 2 * margin), "white")
    draw = ImageDraw.Draw(canvas)
    draw.text((margin, margin), title, fill="black", font=font)
    if note:
        draw.text((margin, margin + 22), note, fill=(176, 0, 32), font=font)
    top = margin + title_h
    canvas.paste(Image.fromarray(img), (margin, top))
    if lut is not None:
        table = np.asarray(lut, dtype=np.uint8)[:, :3]
        ramp = table[np.linspace(len(table) - 1, 0, h).round().astype(int)]  # high at the top
        bar = np.repeat(ramp[:, None, :], bar_w, axis=1)
        x = margin + w + 12
        canvas.paste(Image.fromarray(bar), (x, top))
        draw.rectangle((x, top, x + bar_w - 1, top + h - 1), outline="black")
        if levels is not None:
            lo, hi = levels
            draw.text((x + bar_w + 4, top), f"{hi:.4g}", fill="black", font=small)
            draw.text((x + bar_w + 4, top + h - 14), f"{lo:.4g}", fill="black", font=small)
    return np.asarray(canvas, dtype=np.uint8)
