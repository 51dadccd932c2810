"""Generate the bad-input corpus: odd images, broken model files, bad MNIST archives.

Everything is made here (nothing downloaded). Tests call ``build(folder)``; run this
file to write the corpus into a folder and look at it:

    .venv/bin/python -m tests.corpus.make_corpus /tmp/corpus
"""

from __future__ import annotations

import io
import struct
import sys
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image


@dataclass(frozen=True)
class Case:
    """One input; ``error`` is a regex of the message expected, None when it must load."""

    name: str
    path: Path
    error: str | None
    shape: tuple[int, ...] | None = None  # the loaded array's shape, when it loads


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _bomb_png(width: int, height: int) -> bytes:
    """A valid PNG header claiming a huge image, with almost no data behind it."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 64)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", ihdr)
        + _png_chunk(b"IDAT", idat)
        + _png_chunk(b"IEND", b"")
    )


def _photo(h: int = 64, w: int = 96) -> Image.Image:
    rng = np.random.default_rng(0)
    return Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8))


def image_cases(d: Path) -> list[Case]:
    d.mkdir(parents=True, exist_ok=True)
    cases: list[Case] = []

    def add(name: str, error: str | None, shape: tuple[int, ...] | None = None) -> Path:
        p = d / name
        cases.append(Case(name, p, error, shape))
        return p

    add("empty.png", "empty").write_bytes(b"")
    buf = io.BytesIO()
    _photo().save(buf, "PNG")
    add("truncated.png", "damaged or truncated").write_bytes(buf.getvalue()[:300])
    buf = io.BytesIO()
    _photo(256, 256).save(buf, "JPEG", quality=95)
    add("truncated.jpg", "damaged or truncated").write_bytes(
        buf.getvalue()[: len(buf.getvalue()) // 2]
    )
    add("text.png", "not an image").write_text("This is a text file with a .png name.\n")
    add("bomb.png", "too large|decompression bomb").write_bytes(_bomb_png(30000, 30000))
    Image.new("RGB", (1, 1), (10, 20, 30)).save(add("one_pixel.png", None, (1, 1, 3)))
    Image.new("L", (20000, 200), 128).save(add("strip.png", None, (10, 1024, 3)))
    grey16 = (np.arange(64 * 64, dtype=np.uint32).reshape(64, 64) * 16).astype(np.uint16)
    Image.fromarray(grey16).save(add("grey16.png", None, (64, 64, 3)))
    pal = Image.new("P", (8, 8), 0)
    pal.putpalette([0, 0, 0, 200, 30, 30] + [0] * 762)
    pal.putpixel((2, 2), 1)
    pal.save(add("palette_alpha.png", None, (8, 8, 3)), transparency=0)
    Image.new("CMYK", (12, 8), (0, 200, 200, 0)).save(add("cmyk.jpg", None, (8, 12, 3)))
    rot = _photo(20, 40)
    exif = rot.getexif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise when shown"
    rot.save(add("exif_rotated.jpg", None, (40, 20, 3)), exif=exif)
    frames = [Image.new("RGB", (16, 16), c) for c in ((255, 0, 0), (0, 255, 0), (0, 0, 255))]
    frames[0].save(
        add("animated.gif", None, (16, 16, 3)),
        save_all=True,
        append_images=frames[1:],
        duration=100,
        loop=0,
    )
    add("missing.png", "does not exist")
    add("a_folder", "is a folder").mkdir(exist_ok=True)
    _photo(10, 10).save(add("ünïcødé_画像.png", None, (10, 10, 3)))
    locked = add("no_read_permission.png", None, (10, 10, 3))  # root reads it anyway
    _photo(10, 10).save(locked)
    locked.chmod(0)
    return cases


def model_cases(d: Path) -> list[Case]:
    """Broken or refused Keras files (needs TensorFlow)."""
    import h5py
    import keras

    d.mkdir(parents=True, exist_ok=True)
    inputs = keras.Input((16, 16, 3))
    good = keras.Model(inputs, keras.layers.Dense(2)(keras.layers.Flatten()(inputs)))
    good_path = d / "good.keras"
    good.save(good_path)
    cases = [Case("empty.keras", d / "empty.keras", "empty")]
    cases[0].path.write_bytes(b"")
    cases.append(Case("truncated.keras", d / "truncated.keras", "could not be read"))
    cases[-1].path.write_bytes(good_path.read_bytes()[:300])
    cases.append(Case("not_keras.h5", d / "not_keras.h5", "could not be read"))
    with h5py.File(cases[-1].path, "w") as fh:
        fh["numbers"] = np.arange(10)
    inputs = keras.Input((8, 8, 3))
    lam = keras.Model(inputs, keras.layers.Lambda(lambda t: t * 2)(inputs))
    cases.append(Case("lambda.keras", d / "lambda.keras", "Lambda layer"))
    lam.save(cases[-1].path)
    inputs = keras.Input((10,))
    cases.append(Case("flat_input.keras", d / "flat_input.keras", "input is an image"))
    keras.Model(inputs, keras.layers.Dense(2)(inputs)).save(cases[-1].path)
    return cases


def mnist_cases(d: Path) -> list[Case]:
    d.mkdir(parents=True, exist_ok=True)
    ok_x, ok_y = np.zeros((4, 28, 28), np.uint8), np.arange(4)
    specs = {
        "wrong_keys.npz": ({"images": ok_x, "labels": ok_y}, "missing"),
        "wrong_shape.npz": (
            {"x_train": np.zeros((4, 32, 32)), "y_train": ok_y, "x_test": ok_x, "y_test": ok_y},
            r"must be \(N, 28, 28\)",
        ),
        "labels_out_of_range.npz": (
            {"x_train": ok_x, "y_train": np.array([0, 1, 2, 11]), "x_test": ok_x, "y_test": ok_y},
            "labels must be digits",
        ),
    }
    cases = [Case("missing.npz", d / "missing.npz", "does not exist")]
    for name, (arrays, error) in specs.items():
        np.savez(d / name, **arrays)
        cases.append(Case(name, d / name, error))
    return cases


def build(folder: Path, models: bool = True) -> dict[str, list[Case]]:
    out = {"images": image_cases(folder / "images"), "mnist": mnist_cases(folder / "mnist")}
    if models:
        out["models"] = model_cases(folder / "models")
    return out


if __name__ == "__main__":
    target = Path(sys.argv[1] if len(sys.argv) > 1 else "corpus")
    for group, cases in build(target).items():
        for case in cases:
            print(f"{group:7s} {case.name:28s} {case.error or 'loads'}")
