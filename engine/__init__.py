"""Headless engine of the feature-map explorer: numpy, Pillow and TensorFlow/Keras only.

Nothing here imports Qt. TensorFlow is imported inside the modules that need it
(``engine.mnist_model``, ``engine.zoo``, ``engine.activations``), never from this file, so
``import engine`` and ``engine.convolution`` stay instant.
"""
