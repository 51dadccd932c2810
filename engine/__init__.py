"""Headless engine of the feature-map explorer: numpy, Pillow and TensorFlow/Keras only.

Nothing here imports Qt. TensorFlow is imported inside the modules that need it
(``engine.models.zoo``, ``engine.inspection.activations``, …), never from this file or
a subpackage's ``__init__``, so ``import engine`` and ``engine.arithmetic`` stay instant.
"""
