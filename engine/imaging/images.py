"""Safe image loading: any format Pillow reads becomes an (H, W, 3) uint8 array.

Every failure (no such file, a folder, no permission, not an image, truncated, a
decompression bomb) raises ``ImageLoadError`` with a message a person can act on.
"""

from __future__ import annotations

import os
import re
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

#: Photos are downscaled so that their longer side is at most this many pixels for the
#: interactive panels (a 1024x1024 RGB image convolves with a 7x7 kernel in ~40 ms).
DISPLAY_MAX_SIDE = 1024

#: Refuse images with more pixels than this (Pillow's own bomb guard is 2x its limit).
MAX_PIXELS = 100_000_000


#: The most pixels an image opened reduced may have: Pillow refuses to open more
#: (twice its own limit, which warns) without its guard being switched off for everyone.
REDUCE_MAX_PIXELS = 2 * int(Image.MAX_IMAGE_PIXELS or 89_478_485)


class ImageLoadError(ValueError):
    """An image file could not be read; the message says why in plain words."""


class ImageTooLarge(ImageLoadError):
    """An image has more than ``MAX_PIXELS`` pixels.

    ``reducible`` is True when ``load_image(path, reduce=True)`` opens it reduced.
    """

    def __init__(self, message: str, reducible: bool) -> None:
        super().__init__(message)
        self.reducible = reducible


def reduced_size(size: tuple[int, int], max_side: int | None, max_pixels: int) -> tuple[int, int]:
    """(width, height) scaled down, keeping the aspect ratio, to at most ``max_side`` on
    the longer side and ``max_pixels`` in all; a size within both is kept.

    >>> reduced_size((12000, 12000), 1024, 100_000_000)
    (1024, 1024)
    >>> reduced_size((400, 100), None, 10_000)
    (200, 50)
    """
    w, h = size
    scale = 1.0 if max_side is None else min(1.0, max_side / max(w, h))
    scale = min(scale, (max_pixels / (w * h)) ** 0.5) if w * h else scale
    return max(1, int(w * scale)), max(1, int(h * scale))


def _to_uint8_rgb(img: Image.Image) -> np.ndarray:
    mode = img.mode
    if mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        # Pillow's convert("L") clips 16/32-bit values to 255; scale the real range instead.
        a = np.asarray(img, dtype=np.float64)
        lo, hi = float(a.min()), float(a.max())
        if mode.startswith("I;16"):
            lo, hi = 0.0, 65535.0
        scaled = np.zeros_like(a) if hi <= lo else (a - lo) / (hi - lo) * 255.0
        grey = np.clip(np.rint(scaled), 0, 255).astype(np.uint8)
        return np.repeat(grey[:, :, None], 3, axis=2)
    has_alpha = mode in ("RGBA", "LA", "PA") or (mode == "P" and "transparency" in img.info)
    if has_alpha:
        # Composite over white so transparent pixels do not become black blobs.
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        img = Image.alpha_composite(background, rgba)
    return np.asarray(img.convert("RGB"), dtype=np.uint8).copy()


def load_image(
    path: str | os.PathLike[str],
    max_side: int | None = DISPLAY_MAX_SIDE,
    reduce: bool = False,
) -> np.ndarray:
    """Read an image file as an (H, W, 3) uint8 array.

    Handles palette, greyscale, 16-bit, alpha (over white), CMYK and EXIF-rotated files;
    an animated file gives its first frame. With ``max_side`` set (the default,
    ``DISPLAY_MAX_SIDE``) the image is downscaled, keeping its aspect ratio, so that its
    longer side is at most that many pixels.

    An image of more than ``MAX_PIXELS`` pixels raises ``ImageTooLarge``; with
    ``reduce=True`` one of up to ``REDUCE_MAX_PIXELS`` is opened downscaled to within
    both limits instead (a JPEG is decoded reduced, others whole, then scaled).

    >>> load_image("resources/samples/chelsea.jpg").shape
    (300, 451, 3)
    """
    p = Path(path)
    if not p.exists():
        raise ImageLoadError(f"'{p}' does not exist")
    if p.is_dir():
        raise ImageLoadError(f"'{p}' is a folder, not an image file")
    if not os.access(p, os.R_OK):
        raise ImageLoadError(f"'{p.name}' cannot be read: permission denied")
    if p.stat().st_size == 0:
        raise ImageLoadError(f"'{p.name}' is empty (0 bytes)")
    try:
        with warnings.catch_warnings():
            # Pillow warns from its own limit (about 89M pixels) and refuses from twice it,
            # in words about "DOS attacks"; the app's own limit below says it plainly.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(p) as img:
                w, h = img.size
                large = w * h > MAX_PIXELS
                if large and not (reduce and w * h <= REDUCE_MAX_PIXELS):
                    raise ImageTooLarge(
                        _too_large(p.name, w * h, (w, h)), w * h <= REDUCE_MAX_PIXELS
                    )
                img.seek(0)
                target = reduced_size(img.size, max_side, MAX_PIXELS)
                if large and img.format == "JPEG":
                    img.draft("RGB", target)  # decoded at 1/2, 1/4 or 1/8: less memory
                img.load()
                img = ImageOps.exif_transpose(img) or img
                box = (max_side, max_side) if max_side is not None else img.size
                if large:  # within the pixel limit too
                    box = reduced_size(img.size, max_side, MAX_PIXELS)
                if img.size[0] > box[0] or img.size[1] > box[1]:
                    if img.mode not in ("RGB", "RGBA", "L", "LA"):
                        img = Image.fromarray(_to_uint8_rgb(img))
                    img.thumbnail(box, Image.Resampling.LANCZOS)
                return _to_uint8_rgb(img)
    except ImageLoadError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        found = re.search(r"\((\d+) pixels\)", str(exc))
        pixels = int(found.group(1)) if found else None
        raise ImageTooLarge(_too_large(p.name, pixels, None), False) from exc
    except UnidentifiedImageError as exc:
        raise ImageLoadError(f"'{p.name}' is not an image Pillow can read") from exc
    except PermissionError as exc:
        raise ImageLoadError(f"'{p.name}' cannot be read: permission denied") from exc
    except (OSError, SyntaxError, ValueError) as exc:
        # Pillow reports truncated or corrupt data as OSError ("image file is truncated").
        raise ImageLoadError(f"'{p.name}' is damaged or truncated: {exc}") from exc


def _too_large(name: str, pixels: int | None, size: tuple[int, int] | None) -> str:
    """The refusal of an image that is too large, in the app's words."""
    if size is not None:
        what = f"{size[0]}x{size[1]} = {size[0] * size[1]:,} pixels"
    elif pixels is not None:
        what = f"{pixels:,} pixels"
    else:
        what = "too many pixels"
    return (
        f"'{name}' is too large to open: {what}, more than the {MAX_PIXELS:,} this app "
        "opens (decoding it would take gigabytes of memory). Open a smaller copy of it (an "
        "image editor can scale it down)."
    )


def to_grey(image: np.ndarray) -> np.ndarray:
    """ITU-R 601 luma of an (H, W, 3) image as float32 (H, W) in the image's own range."""
    a = np.asarray(image, dtype=np.float32)
    if a.ndim == 2:
        return a
    return a[..., 0] * 0.299 + a[..., 1] * 0.587 + a[..., 2] * 0.114
