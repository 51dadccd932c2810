"""A zoo model's layer names do not depend on what was built before it.

Keras names unnamed layers (all of InceptionV3's) from per-thread counters that go on
across models: InceptionV3 opened after another model once read ``conv2d_94`` in the
window where ``main.py summary`` said ``conv2d``.
"""

import keras
import numpy as np

from engine.models import zoo


def _names(loaded):
    return [layer.name for layer in loaded.model.layers]


def test_inceptionv3_is_named_alike_whatever_was_opened_before():
    keras.layers.Conv2D(1, 1)  # counters already running, as in a long session
    first = zoo.load_zoo_model(zoo.INCEPTIONV3, weights=None)
    names = _names(first)
    # What a fresh process (main.py summary --model inceptionv3) names them.
    assert names[1:4] == ["conv2d", "batch_normalization", "activation"]
    assert names[-3:] == ["mixed10", "avg_pool", "predictions"]
    x = np.random.default_rng(0).uniform(-1, 1, (1, 299, 299, 3)).astype(np.float32)
    before = first.forward(x)

    vgg = zoo.load_zoo_model(zoo.VGG16, weights=None)
    keras.layers.Activation("relu")  # an unnamed layer between the two
    again = zoo.load_zoo_model(zoo.INCEPTIONV3, weights=None)
    assert _names(again) == names

    # No session was cleared: the models opened before still run, and alike.
    np.testing.assert_array_equal(first.forward(x), before)
    assert vgg.forward(np.zeros((1, 224, 224, 3), np.float32)).shape == (1, 1000)
    # Layers built afterwards outside the zoo are still named apart from the zoo's.
    assert keras.layers.Conv2D(1, 1).name not in set(names)
    assert keras.layers.Activation("relu").name not in set(names)
