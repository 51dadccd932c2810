"""The lecture's "latest trends" networks as their papers draw them: AlexNet and GoogLeNet.

Keras ships neither, and no ImageNet weights for them can be had here, so they are built
from the papers' tables, untrained (the app says so): their layers, shapes, parameters and
modules are real, their maps and answers are not.

- AlexNet (Krizhevsky, Sutskever and Hinton 2012): five convolutions and three dense
  layers, eight layers with weights, 227x227x3 in (the paper's "224" does not give its own
  55x55 maps). Built as one tower: the paper split convolutions 2, 4 and 5 over two GPUs
  (``groups=2`` here) and used local response normalisation, which later work dropped
  and which this build leaves out.
- GoogLeNet (Szegedy et al. 2014, "Going deeper with convolutions", table 1): 22 layers
  with weights, nine inception modules 3a..5b, each a ``Concatenate`` of a 1x1, a 3x3 and
  a 5x5 convolution and a pooling branch (the 3x3 and 5x5 after 1x1 reductions). The two
  auxiliary classifiers of training and the local response normalisations are left out.

>>> [name for name, *_ in GOOGLENET_MODULES][:3]
['inception_3a', 'inception_3b', 'inception_4a']
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import keras

ALEXNET, GOOGLENET = "alexnet", "googlenet"

#: GoogLeNet's table 1: module, #1x1, #3x3 reduce, #3x3, #5x5 reduce, #5x5, pool proj.
GOOGLENET_MODULES = (
    ("inception_3a", 64, 96, 128, 16, 32, 32),
    ("inception_3b", 128, 128, 192, 32, 96, 64),
    ("inception_4a", 192, 96, 208, 16, 48, 64),
    ("inception_4b", 160, 112, 224, 24, 64, 64),
    ("inception_4c", 128, 128, 256, 24, 64, 64),
    ("inception_4d", 112, 144, 288, 32, 64, 64),
    ("inception_4e", 256, 160, 320, 32, 128, 128),
    ("inception_5a", 256, 160, 320, 32, 128, 128),
    ("inception_5b", 384, 192, 384, 48, 128, 128),
)
#: After these modules a 3x3 max pooling with stride 2 halves the maps (28 -> 14 -> 7).
_POOL_AFTER = ("inception_3b", "inception_4e")


def build_alexnet(classes: int = 1000) -> keras.Model:
    """AlexNet, untrained: 227x227x3 -> 55x55x96 -> … -> 6x6x256 -> 4096 -> 4096 -> 1000.

    >>> m = build_alexnet()
    >>> m.get_layer("conv1").output.shape, m.get_layer("pool5").output.shape
    ((None, 55, 55, 96), (None, 6, 6, 256))
    """
    import keras
    from keras import layers

    conv = dict(activation="relu")
    pool = dict(pool_size=3, strides=2)
    model = keras.Sequential(
        [
            keras.Input((227, 227, 3), name="image"),
            layers.Conv2D(96, 11, strides=4, name="conv1", **conv),
            layers.MaxPooling2D(name="pool1", **pool),
            layers.Conv2D(256, 5, padding="same", groups=2, name="conv2", **conv),
            layers.MaxPooling2D(name="pool2", **pool),
            layers.Conv2D(384, 3, padding="same", name="conv3", **conv),
            layers.Conv2D(384, 3, padding="same", groups=2, name="conv4", **conv),
            layers.Conv2D(256, 3, padding="same", groups=2, name="conv5", **conv),
            layers.MaxPooling2D(name="pool5", **pool),
            layers.Flatten(name="flatten"),
            layers.Dense(4096, activation="relu", name="fc6"),
            layers.Dropout(0.5, name="drop6"),
            layers.Dense(4096, activation="relu", name="fc7"),
            layers.Dropout(0.5, name="drop7"),
            layers.Dense(classes, activation="softmax", name="fc8"),
        ],
        name="alexnet",
    )
    return model


def _inception(x, name: str, n1: int, r3: int, n3: int, r5: int, n5: int, proj: int):
    from keras import layers

    def conv(y, filters: int, size: int, suffix: str):
        return layers.Conv2D(
            filters, size, padding="same", activation="relu", name=f"{name}_{suffix}"
        )(y)

    b1 = conv(x, n1, 1, "1x1")
    b3 = conv(conv(x, r3, 1, "3x3_reduce"), n3, 3, "3x3")
    b5 = conv(conv(x, r5, 1, "5x5_reduce"), n5, 5, "5x5")
    bp = layers.MaxPooling2D(3, strides=1, padding="same", name=f"{name}_pool")(x)
    bp = conv(bp, proj, 1, "pool_proj")
    return layers.Concatenate(name=name)([b1, b3, b5, bp])


def build_googlenet(classes: int = 1000) -> keras.Model:
    """GoogLeNet (Inception v1), untrained: 224x224x3 -> nine inception modules -> 1000.

    >>> m = build_googlenet()
    >>> m.get_layer("inception_3a").output.shape, m.get_layer("inception_5b").output.shape
    ((None, 28, 28, 256), (None, 7, 7, 1024))
    """
    import keras
    from keras import layers

    inputs = keras.Input((224, 224, 3), name="image")
    x = layers.Conv2D(64, 7, strides=2, padding="same", activation="relu", name="conv1")(inputs)
    x = layers.MaxPooling2D(3, strides=2, padding="same", name="pool1")(x)
    x = layers.Conv2D(64, 1, activation="relu", name="conv2_reduce")(x)
    x = layers.Conv2D(192, 3, padding="same", activation="relu", name="conv2")(x)
    x = layers.MaxPooling2D(3, strides=2, padding="same", name="pool2")(x)
    for name, *filters in GOOGLENET_MODULES:
        x = _inception(x, name, *filters)
        if name in _POOL_AFTER:
            x = layers.MaxPooling2D(3, strides=2, padding="same", name=f"pool_{name[-2:]}")(x)
    x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    x = layers.Dropout(0.4, name="dropout")(x)
    outputs = layers.Dense(classes, activation="softmax", name="classifier")(x)
    return keras.Model(inputs, outputs, name="googlenet")


BUILDERS = {ALEXNET: build_alexnet, GOOGLENET: build_googlenet}
