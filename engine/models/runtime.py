"""Importing TensorFlow: slow (seconds), so the app does it on a worker thread; which
device runs the models (``device_name``)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

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
    return f"TensorFlow {tf.__version__}, Keras {keras.__version__}, on {device_name()}"


def device_name() -> str:
    """Which device runs the models, for a person: ``"CPU"``, or the GPU TensorFlow
    places them on, as ``"GPU 0: NVIDIA H100 80GB HBM3"``.

    Reads TensorFlow's visible GPUs (``tf.config.get_visible_devices``, the physical
    GPUs less any hidden with ``set_visible_devices``) and the first one's details
    (``tf.config.experimental.get_device_details``); imports TensorFlow (seconds the
    first time: call it on a worker, after ``load_tensorflow``).
    """
    _quiet_tensorflow()
    import tensorflow as tf

    gpus = tf.config.get_visible_devices("GPU")
    if not gpus:
        return "CPU"
    try:
        details = tf.config.experimental.get_device_details(gpus[0])
    except (ValueError, RuntimeError):  # a device TensorFlow cannot describe: its name only
        details = {}
    return describe_device(gpus[0].name, details, len(gpus))


def describe_device(name: str, details: Mapping[str, Any], count: int = 1) -> str:
    """A physical device as a person reads it: its kind and number, and its model.

    ``name``: TensorFlow's ``PhysicalDevice.name``; ``details``: what
    ``tf.config.experimental.get_device_details`` says of it (a GPU's ``device_name``);
    ``count``: how many such devices TensorFlow sees (the models run on the first).

    >>> describe_device("/physical_device:GPU:0", {"device_name": "NVIDIA H100 80GB HBM3"})
    'GPU 0: NVIDIA H100 80GB HBM3'
    >>> describe_device("/physical_device:GPU:1", {}, count=2)
    'GPU 1 (of 2)'
    """
    parts = str(name).rsplit(":", 2)
    kind, number = (parts[-2], parts[-1]) if len(parts) == 3 else (str(name), "")
    text = f"{kind} {number}".strip()
    if count > 1:
        text += f" (of {count})"
    model = str(details.get("device_name", "")).strip()
    return f"{text}: {model}" if model else text
