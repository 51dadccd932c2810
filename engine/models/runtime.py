"""Importing TensorFlow: slow (seconds), so the app does it on a worker thread."""

from __future__ import annotations

import os

from engine.util.progress import ProgressCallback, no_progress


def _quiet_tensorflow() -> None:
    # TensorFlow's C++ start-up chatter is noise for a person using the app.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def load_tensorflow(progress: ProgressCallback = no_progress, **_: object) -> str:
    """Import TensorFlow and Keras; return a line naming their versions."""
    _quiet_tensorflow()
    progress(0.1, "Importing TensorFlow…")
    import tensorflow as tf

    progress(0.8, "Importing Keras…")
    import keras

    progress(1.0, "TensorFlow ready")
    return f"TensorFlow {tf.__version__}, Keras {keras.__version__}"
