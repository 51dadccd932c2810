"""Filter images: colour patches for first layers, grey means deeper, a matrix for 1x1."""

import numpy as np
import pytest

from engine.imaging.filters import filter_images

rng = np.random.default_rng(3)


def test_first_layer_filters_are_colour_patches_centred_on_grey():
    w = rng.normal(size=(3, 3, 3, 64))
    w[:, :, :, 5] = 0.0  # a dead filter
    f = filter_images(w)
    assert f.kind == "rgb"
    assert f.title == "64 filters of 3x3x3, drawn as colour patches"
    assert f.images.shape == (64, 3, 3, 3) and f.images.dtype == np.float32
    assert f.images.min() >= 0 and f.images.max() <= 1
    np.testing.assert_array_equal(f.weights[7], w[:, :, :, 7])
    for i in range(64):
        if i == 5:
            continue
        # scaled symmetrically: the largest |weight| reaches 0 or 1, zero stays 0.5
        strongest = np.unravel_index(np.abs(w[..., i]).argmax(), (3, 3, 3))
        expected = 1.0 if w[..., i][strongest] > 0 else 0.0
        assert f.images[i][strongest] == pytest.approx(expected)
        np.testing.assert_allclose(
            f.images[i], 0.5 + w[..., i] / (2 * np.abs(w[..., i]).max()), rtol=1e-6
        )
    np.testing.assert_array_equal(f.images[5], 0.5)  # all-zero filter: mid grey, no NaN
    assert f.scales[5] == 0


def test_a_blue_line_filter_looks_blue():
    w = np.zeros((5, 5, 3, 1))
    w[2, :, 2, 0] = 1.0  # blue horizontal line
    w[:, :, 0, 0] -= 0.2  # a little less red everywhere
    image = filter_images(w).images[0]
    assert (image[2, :, 2] == 1).all()
    assert (image[0, :, 2] == 0.5).all()
    assert (image[:, :, 0] == 0.4).all()


def test_deeper_layers_are_the_mean_over_input_channels():
    w = rng.normal(size=(3, 3, 32, 8))
    f = filter_images(w)
    assert f.kind == "per_filter" and f.images.shape == (8, 3, 3)
    assert f.title == "8 filters of 3x3x32, each drawn as its mean over the 32 input channels"
    means = w.mean(axis=2)
    for i in range(8):
        np.testing.assert_allclose(f.weights[i], means[:, :, i])
        m = np.abs(means[:, :, i]).max()
        np.testing.assert_allclose(f.images[i], 0.5 + means[:, :, i] / (2 * m), rtol=1e-6)


def test_grey_input_and_non_square_filters():
    f = filter_images(rng.normal(size=(3, 3, 1, 32)))  # MNIST's first layer
    assert f.kind == "per_filter" and f.title == "32 filters of 3x3x1, drawn as grey patches"
    g = filter_images(rng.normal(size=(1, 7, 128, 1)))  # Inception's 1x7
    assert g.kind == "per_filter" and g.images.shape == (1, 1, 7)
    assert g.title.startswith("1 filter of 1x7x128, ")


def test_one_by_one_convolutions_are_one_matrix_out_by_in():
    w = rng.normal(size=(1, 1, 16, 4))
    f = filter_images(w)
    assert f.kind == "matrix"
    assert f.images.shape == (4, 16) and f.weights.shape == (4, 16)
    assert f.title == "4 filters of 1x1x16, drawn as one 4 x 16 matrix of weights (out x in)"
    np.testing.assert_array_equal(f.weights[2], w[0, 0, :, 2])  # row = output filter
    # one scale for the whole matrix: only the strongest weight of all reaches 0 or 1
    assert f.scales.shape == (1,) and f.scales[0] == np.abs(w).max()
    extremes = np.isclose(f.images, 0) | np.isclose(f.images, 1)
    assert extremes.sum() == 1
    np.testing.assert_allclose(f.images, 0.5 + f.weights / (2 * np.abs(w).max()), rtol=1e-6)


@pytest.mark.parametrize(
    ("kernel", "message"),
    [
        (np.ones((3, 3, 3)), "Fh, Fw, C_in, K"),
        (np.ones((3, 3, 0, 4)), "empty"),
        (np.full((3, 3, 3, 1), np.nan), "finite"),
    ],
)
def test_bad_kernels_say_what_was_received(kernel, message):
    with pytest.raises(ValueError, match=message):
        filter_images(kernel)
