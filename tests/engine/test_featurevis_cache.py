"""engine.explanation.featurevis_cache without Qt: a picture is made once, kept under the
key of the weights it was made from, read back as it was, and never remade.

Checked independently: the file is where ``featurevis.cache_key`` of the model itself
(not its digest) says, and the picture's ``activation`` is the mean of the channel's map
that a Keras sub-model built here gives on its ``x``.
"""

import keras
import numpy as np
import pytest

from engine.explanation import featurevis, featurevis_cache
from engine.explanation.featurevis_cache import (
    SEED,
    Picture,
    PictureSettings,
    cache_dir,
    make_picture,
    missing_channels,
    read_cached,
)
from engine.models import zoo

LAYER = "conv2d_2"
STEPS = 8  # a few steps: the picture's quality is test_featurevis's business


@pytest.fixture(scope="module")
def loaded():
    return zoo.load_zoo_model(zoo.MNIST)


@pytest.fixture
def settings(loaded):
    return PictureSettings(LAYER, (28, 28), None, STEPS, loaded.spec.scaling)


def test_the_path_is_the_cache_key_of_the_model_and_settings(loaded, settings):
    digest = featurevis.weights_digest(loaded)
    plain = {"size": [28, 28], "steps": STEPS, "seed": SEED, "scaling": loaded.spec.scaling}
    key = featurevis.cache_key(loaded.model, LAYER, 7, plain)
    assert settings.path(7, digest) == cache_dir() / f"{key}.npz"
    assert settings.path(7, digest) != settings.path(8, digest)
    other = PictureSettings(LAYER, (28, 28), None, STEPS + 1, loaded.spec.scaling)
    assert other.path(7, digest) != settings.path(7, digest)
    assert cache_dir().is_dir()


def test_a_picture_is_made_once_then_read_from_the_cache(loaded, settings, monkeypatch):
    digest, todo = missing_channels(loaded, settings, 64)
    assert digest == featurevis.weights_digest(loaded) and todo == list(range(64))
    frames = []
    made = make_picture(loaded, settings, 3, frame=lambda f, image: frames.append((f, image)))
    assert isinstance(made, Picture)
    assert (made.channel, made.digest, made.save_error) == (3, digest, "")
    assert made.seconds is not None and made.seconds > 0
    assert made.vis.steps == STEPS and made.vis.x.shape == (28, 28, 1)
    assert frames and frames[-1][0] == pytest.approx(1.0)
    assert all(a[0] <= b[0] for a, b in zip(frames, frames[1:], strict=False))
    # The activation is what an independent forward pass gives on the picture.
    sub = keras.Model(loaded.model.inputs[0], loaded.model.get_layer(LAYER).output)
    maps = np.asarray(sub(made.vis.x[None], training=False))[0, :, :, 3]
    assert made.vis.activation == pytest.approx(float(maps.mean()), rel=1e-4, abs=1e-5)
    # Kept where the key says; the channel is no longer missing.
    assert settings.path(3, digest).is_file()
    assert missing_channels(loaded, settings, 64) == (digest, [c for c in range(64) if c != 3])
    # Asked again: read from the cache, nothing made.

    def refuse(*args, **kwargs):
        raise AssertionError("made again")

    monkeypatch.setattr(featurevis, "maximize", refuse)
    again = make_picture(loaded, settings, 3, expect=digest)
    assert again.seconds is None and again.digest == digest
    np.testing.assert_array_equal(again.vis.x, made.vis.x)
    np.testing.assert_array_equal(again.vis.image, made.vis.image)
    assert again.vis.activation == made.vis.activation


def test_other_weights_than_expected_make_nothing(loaded, settings, monkeypatch):
    monkeypatch.setattr(featurevis, "maximize", lambda *a, **k: pytest.fail("made"))
    assert make_picture(loaded, settings, 0, expect="not these weights") is None
    assert not any(cache_dir().iterdir())


def test_cancelled_makes_nothing(loaded, settings):
    with pytest.raises(InterruptedError):
        make_picture(loaded, settings, 0, cancelled=lambda: True)
    calls = []

    def after_two_checks():
        calls.append(1)
        return len(calls) > 2

    with pytest.raises(InterruptedError):
        make_picture(loaded, settings, 0, cancelled=after_two_checks)
    assert not any(cache_dir().iterdir())


def test_a_picture_that_cannot_be_kept_still_comes_back(loaded, settings, monkeypatch):
    def full(path, vis):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(featurevis, "save_visualisation", full)
    made = make_picture(loaded, settings, 1)
    assert made is not None and made.seconds is not None
    assert made.save_error.startswith("OSError:") and "No space left" in made.save_error
    assert not settings.path(1, made.digest).exists()


def test_read_cached_ignores_what_it_cannot_read(tmp_path):
    assert read_cached(tmp_path / "none.npz") is None
    broken = tmp_path / "broken.npz"
    broken.write_bytes(b"not a zip")
    assert read_cached(broken) is None
    vis = featurevis.Visualisation(
        np.zeros((4, 4, 1), np.float32), np.zeros((4, 4), np.uint8), 0.5, 3
    )
    featurevis.save_visualisation(tmp_path / "ok.npz", vis)
    back = read_cached(tmp_path / "ok.npz")
    assert back is not None and (back.activation, back.steps) == (0.5, 3)


def test_bad_arguments(loaded, settings):
    with pytest.raises(ValueError, match="channels must be >= 0"):
        missing_channels(loaded, settings, -1)
    assert featurevis_cache.SEED == 0  # part of every key: changing it orphans the cache
