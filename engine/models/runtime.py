"""Importing TensorFlow: slow (seconds), so the app does it on a worker thread."""

from __future__ import annotations

import os
from collections.abc import Callable


def _quiet_tensorflow() -> None:
    # TensorFlow's C++ start-up chatter is noise for a person using the app.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def load_tensorflow(progress: Callable[[float, str], None] = lambda f, m: None, **_: object) -> str:
    """Import TensorFlow and Keras; return a line naming their versions."""
    _quiet_tensorflow()
    progress(0.1, "Importing TensorFlow…")
    import tensorflow as tf

    progress(0.8, "Importing Keras…")
    import keras

    progress(1.0, "TensorFlow ready")
    return f"TensorFlow {tf.__version__}, Keras {keras.__version__}"
