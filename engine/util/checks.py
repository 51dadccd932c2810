"""Argument checks shared by the engine's modules, with messages that say what came in."""

from __future__ import annotations

from typing import Any

import numpy as np


def check_int(name: str, value: Any, low: int, high: int | None = None) -> int:
    """``value`` as an int in [low, high) (no upper bound when ``high`` is None).

    >>> check_int("stride", 2, 1)
    2
    >>> check_int("channel", 64, 0, 64)
    Traceback (most recent call last):
    ...
    ValueError: channel must be in [0, 64). Received: channel=64
    """
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name} must be an int. Received: {name}={value!r}")
    v = int(value)
    if v < low or (high is not None and v >= high):
        bound = f">= {low}" if high is None else f"in [{low}, {high})"
        raise ValueError(f"{name} must be {bound}. Received: {name}={v}")
    return v
