"""Untrained ImageNet models built once per test worker, for the tests that only read them.

Building InceptionV3 or ResNet50 costs seconds each time, and a test worker would
otherwise build each of them in several test files. A test that changes a model's
weights, or that checks what building does, builds its own.
"""

from engine.models import zoo

# The real builder, taken before any test can patch ``zoo.load_zoo_model``.
_load_zoo_model = zoo.load_zoo_model
_UNTRAINED: dict[str, zoo.LoadedModel] = {}


def untrained(key: str) -> zoo.LoadedModel:
    """``zoo.load_zoo_model(key, weights=None)``, built on first use; never change it."""
    if key not in _UNTRAINED:
        _UNTRAINED[key] = _load_zoo_model(key, weights=None)
    return _UNTRAINED[key]


def is_shared(loaded: zoo.LoadedModel) -> bool:
    """Whether ``loaded`` is one of the shared models."""
    return any(loaded is m for m in _UNTRAINED.values())
