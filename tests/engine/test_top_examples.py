"""engine.explanation.top_examples without Qt: the folder scan and the top 9 search.

The ranking is checked against a brute force (a Keras sub-model called once per input,
built here), the patches against the lecture CNN's 5x5 receptive field counted by hand.
"""

import keras
import numpy as np
import pytest
from PIL import Image

from engine.explanation import top_examples
from engine.explanation.top_examples import (
    MNIST_SOURCE,
    crop_box_to,
    find_top,
    scan_folder,
)
from engine.imaging.images import load_image
from engine.models import zoo
from engine.models.mnist_data import bundled_test_digits

LAYER = "conv2d_2"  # two 3x3 'valid' convolutions: map (r, c) sees input r..r+4, c..c+4


@pytest.fixture(scope="module")
def loaded():
    return zoo.load_zoo_model(zoo.MNIST)


@pytest.fixture(scope="module")
def sub(loaded):
    return keras.Model(loaded.model.inputs[0], loaded.model.get_layer(LAYER).output)


def brute_force(sub, xs, channel, k=9):
    """(index, value, row, col) of the k inputs whose map peaks highest, one call each."""
    found = []
    for i, x in enumerate(xs):
        m = np.asarray(sub(x[None], training=False))[0, :, :, channel]
        r, c = np.unravel_index(np.argmax(m), m.shape)
        found.append((i, float(m[r, c]), int(r), int(c)))
    found.sort(key=lambda e: (-e[1], e[0]))
    return found[:k]


@pytest.fixture
def folder(tmp_path):
    """Five image files (one of them broken, one named in capitals), and a text file."""
    rng = np.random.default_rng(0)
    digits, _ = bundled_test_digits()
    for name, d in (("b.png", digits[0]), ("A.PNG", digits[1]), ("c.png", digits[2])):
        Image.fromarray(d).save(tmp_path / name)
    Image.fromarray(rng.integers(0, 256, (40, 30, 3), dtype=np.uint8)).save(tmp_path / "d.jpg")
    (tmp_path / "broken.png").write_bytes(b"not an image")
    (tmp_path / "notes.txt").write_text("not an image either")
    return tmp_path


def test_scan_folder_keeps_the_readable_images_by_name(folder):
    fractions = []
    scan = scan_folder(folder, lambda f, _m: fractions.append(f))
    assert [p.name for p in scan.paths] == ["A.PNG", "b.png", "c.png", "d.jpg"]
    assert [name for name, _why in scan.unreadable] == ["broken.png"]
    assert scan.found == 5 and scan.folder == folder
    assert scan.stamp == folder.stat().st_mtime
    assert fractions == sorted(fractions) and 0 <= fractions[0] and fractions[-1] < 0.3


def test_scan_folder_reads_the_first_images_only(folder, monkeypatch):
    monkeypatch.setattr(top_examples, "MAX_IMAGES", 2)
    scan = scan_folder(folder)
    assert [p.name for p in scan.paths] == ["A.PNG", "b.png"] and scan.found == 5


def test_scan_folder_says_what_is_wrong(tmp_path):
    with pytest.raises(ValueError, match="is not a folder"):
        scan_folder(tmp_path / "gone")


def test_the_top_9_of_the_mnist_digits_is_the_brute_force(loaded, sub):
    digits, labels = bundled_test_digits()
    xs = loaded.prepare_digits(digits)
    fractions = []
    result = find_top(loaded, LAYER, 5, progress=lambda f, _m: fractions.append(f))
    expected = brute_force(sub, xs, 5)
    assert [it.index for it in result.items] == [e[0] for e in expected]
    np.testing.assert_allclose([it.value for it in result.items], [e[1] for e in expected], 1e-5)
    assert (result.layer, result.channel, result.source) == (LAYER, 5, MNIST_SOURCE)
    assert result.searched == 500 and result.notes == []
    assert fractions and fractions[-1] == pytest.approx(1.0)
    for item, (i, _v, r, c) in zip(result.items, expected, strict=True):
        assert item.digit and item.box == (r, c, r + 5, c + 5)
        np.testing.assert_array_equal(item.pixels, digits[i])
        patch = digits[i][r : r + 5, c : c + 5]
        np.testing.assert_array_equal(item.crop, np.repeat(patch[:, :, None], 3, axis=2))
        assert item.label == f"#{i} ({labels[i]})"


def test_the_top_of_a_folder_is_the_brute_force(loaded, sub, folder):
    scan = scan_folder(folder)
    result = find_top(loaded, LAYER, 40, scan)
    xs = [loaded.prepare(load_image(p)) for p in scan.paths]
    expected = brute_force(sub, xs, 40)
    assert [it.name for it in result.items] == [scan.paths[e[0]].name for e in expected]
    np.testing.assert_allclose([it.value for it in result.items], [e[1] for e in expected], 1e-5)
    assert result.source == str(folder) and result.searched == 4
    assert result.description == f"4 images in '{folder.name}'"
    assert len(result.notes) == 1 and "1 of 5 files could not be read" in result.notes[0]
    assert "broken.png" in result.notes[0]
    for item in result.items:
        assert not item.digit and item.crop.ndim == 3 and item.crop.shape[2] == 3
        np.testing.assert_array_equal(item.pixels, load_image(folder / item.name))


def test_a_capped_folder_says_so(loaded, folder, monkeypatch):
    monkeypatch.setattr(top_examples, "MAX_IMAGES", 2)
    result = find_top(loaded, LAYER, 0, scan_folder(folder))
    assert result.searched == 2
    assert any("Only the first 2 of the folder's 5 images" in n for n in result.notes)


def test_no_readable_image_and_cancel(loaded, tmp_path):
    (tmp_path / "broken.png").write_bytes(b"no")
    with pytest.raises(ValueError, match="no readable images"):
        find_top(loaded, LAYER, 0, scan_folder(tmp_path))
    with pytest.raises(InterruptedError):
        find_top(loaded, LAYER, 0, cancelled=lambda: True)


def test_crop_box_to():
    grey = np.arange(20, dtype=np.uint8).reshape(4, 5)
    crop = crop_box_to((1, 1, 3, 4), grey)
    np.testing.assert_array_equal(crop[:, :, 0], grey[1:3, 1:4])
    assert crop.shape == (2, 3, 3)
    # An empty box still gives one pixel; an RGB image stays RGB.
    assert crop_box_to((2, 2, 2, 2), grey).shape == (1, 1, 3)
    rgb = np.zeros((4, 5, 3), np.uint8)
    assert crop_box_to((0, 0, 4, 5), rgb).shape == (4, 5, 3)
