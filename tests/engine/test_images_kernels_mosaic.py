import numpy as np
import pytest
from PIL import Image

from engine.arithmetic.kernels import KERNEL_SIZES, PRESET_NAMES, normalise, preset
from engine.imaging import images
from engine.imaging.images import ImageLoadError, load_image
from engine.imaging.mosaic import tile_maps
from engine.util.paths import sample_images


def _save(tmp_path, img, name, **kw):
    p = tmp_path / name
    img.save(p, **kw)
    return p


def _write(path, data):
    path.write_bytes(data)
    return path


def test_samples_load_as_rgb_uint8():
    found = sample_images()
    assert len(found) >= 3
    for path in found.values():
        a = load_image(path)
        assert a.dtype == np.uint8 and a.ndim == 3 and a.shape[2] == 3


def test_palette_with_transparency_composites_on_white(tmp_path):
    img = Image.new("P", (4, 4), 0)
    img.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    img.putpixel((1, 1), 1)
    p = _save(tmp_path, img, "pal.png", transparency=0)
    a = load_image(p)
    assert tuple(a[0, 0]) == (255, 255, 255) and tuple(a[1, 1]) == (255, 0, 0)


def test_16_bit_greyscale_keeps_its_range(tmp_path):
    data = np.array([[0, 65535], [32768, 1000]], dtype=np.uint16)
    p = _save(tmp_path, Image.fromarray(data), "g16.png")
    a = load_image(p)
    assert a[0, 0, 0] == 0 and a[0, 1, 0] == 255 and a[1, 0, 0] == 128


def test_cmyk_and_exif_rotation(tmp_path):
    p = _save(tmp_path, Image.new("CMYK", (6, 3), (0, 255, 255, 0)), "c.jpg")
    a = load_image(p)
    assert a.shape == (3, 6, 3) and a[1, 1, 0] > 200 and a[1, 1, 1] < 60
    img = Image.new("RGB", (6, 3), (10, 200, 10))
    exif = img.getexif()
    exif[0x0112] = 6  # rotate 90 degrees when shown
    p = _save(tmp_path, img, "rot.jpg", exif=exif)
    assert load_image(p).shape == (6, 3, 3)


def test_large_images_are_downscaled_to_the_display_bound(tmp_path):
    p = _save(tmp_path, Image.new("RGB", (3000, 300)), "wide.png")
    assert load_image(p).shape == (102, 1024, 3)
    assert load_image(p, max_side=None).shape == (300, 3000, 3)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda d: d / "missing.png", "does not exist"),
        (lambda d: d, "is a folder"),
        (lambda d: _write(d / "empty.png", b""), "empty"),
        (lambda d: _write(d / "t.png", b"hello, not a PNG"), "not an image"),
    ],
)
def test_bad_files_raise_one_clear_error(tmp_path, make, message):
    with pytest.raises(ImageLoadError, match=message):
        load_image(make(tmp_path))


def test_truncated_png_and_bomb(tmp_path, monkeypatch):
    p = _save(
        tmp_path,
        Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)),
        "a.png",
    )
    p.write_bytes(p.read_bytes()[:300])
    with pytest.raises(ImageLoadError, match="damaged or truncated"):
        load_image(p)
    big = _save(tmp_path, Image.new("L", (200, 200)), "big.png")
    monkeypatch.setattr(images, "MAX_PIXELS", 10_000)
    with pytest.raises(ImageLoadError, match=r"'big.png' is too large to open: 200x200 = 40,000"):
        load_image(big)


def test_a_huge_image_is_refused_in_the_apps_words(tmp_path):
    from tests.corpus.make_corpus import _bomb_png

    for side in (12000, 30000):  # over Pillow's warning limit; over twice it
        p = tmp_path / f"huge{side}.png"
        p.write_bytes(_bomb_png(side, side))
        with pytest.raises(ImageLoadError) as err:
            load_image(p)
        text = str(err.value)
        assert "DOS attack" not in text and "decompression bomb" not in text
        assert f"too large to open: {side * side:,} pixels" in text or (
            f"{side}x{side} = {side * side:,} pixels" in text
        )
        assert "more than the 100,000,000 this app opens" in text


def test_a_too_large_image_opens_reduced_when_asked(tmp_path, monkeypatch):
    from PIL import Image

    from engine.imaging import images

    monkeypatch.setattr(images, "MAX_PIXELS", 10_000)
    rng = np.random.default_rng(0)
    for name in ("big.png", "big.jpg"):
        Image.fromarray(rng.integers(0, 255, (300, 400, 3), np.uint8)).save(tmp_path / name)
        with pytest.raises(images.ImageTooLarge, match="too large to open") as err:
            load_image(tmp_path / name)
        assert err.value.reducible
        reduced = load_image(tmp_path / name, reduce=True)
        h, w = reduced.shape[:2]
        assert h * w <= 10_000 and abs(w / h - 4 / 3) < 0.05, reduced.shape
        assert h * w > 9_000  # reduced to the limit, not below it
    monkeypatch.setattr(images, "REDUCE_MAX_PIXELS", 100_000)  # too large even reduced
    with pytest.raises(images.ImageTooLarge) as err:
        load_image(tmp_path / "big.png", reduce=True)
    assert not err.value.reducible


def test_presets():
    assert set(PRESET_NAMES) >= {
        "Identity",
        "Lecture X",
        "Vertical edge",
        "Horizontal edge",
        "Sobel x",
        "Sobel y",
        "Box blur",
        "Gaussian blur",
        "Sharpen",
        "Emboss",
        "Laplacian",
    }
    np.testing.assert_array_equal(preset("Vertical edge"), [[-1, 0, 1]] * 3)
    np.testing.assert_array_equal(preset("Horizontal edge"), [[-1, -1, -1], [0, 0, 0], [1, 1, 1]])
    for size in KERNEL_SIZES:
        for name in PRESET_NAMES:
            assert preset(name, size).shape == (size, size)
        assert preset("Gaussian blur", size).sum() == pytest.approx(1)
    np.testing.assert_allclose(normalise(np.full((3, 3), 2.0)).sum(), 1)
    np.testing.assert_array_equal(normalise(preset("Sobel x")), preset("Sobel x"))
    with pytest.raises(ValueError, match="unknown kernel preset"):
        preset("Nope")


def test_mosaic_places_every_map():
    maps = np.random.default_rng(1).normal(size=(5, 4, 7))
    m = tile_maps(maps, columns=3, normalisation="none", gap=1)
    assert m.image.shape == (3 * 5 + 2, 3 * 4 + 2)
    for i, (top, left) in enumerate(m.origins):
        np.testing.assert_allclose(
            m.image[top : top + 5, left : left + 4], maps[:, :, i], rtol=1e-6
        )
        assert m.index_at(top + 1, left + 1) == i
    assert np.isnan(m.image[5, 0]) and m.index_at(5, 0) is None
    per_map = tile_maps(maps, normalisation="per_map")
    top, left = per_map.origins[2]
    block = per_map.image[top : top + 5, left : left + 4]
    assert block.min() == 0 and block.max() == pytest.approx(1)
