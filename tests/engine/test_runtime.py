"""engine.models.runtime: the device line, against TensorFlow's own device list and fakes."""

from types import SimpleNamespace

import tensorflow as tf

from engine.models import runtime
from engine.models.runtime import describe_device, device_name


def test_the_device_is_what_tensorflow_sees():
    if tf.config.get_visible_devices("GPU"):
        assert device_name().startswith("GPU 0")
    else:
        assert device_name() == "CPU"  # this machine: no GPU


def test_describe_device_formats_tensorflows_details():
    h100 = {"compute_capability": (9, 0), "device_name": "NVIDIA H100 80GB HBM3"}
    assert describe_device("/physical_device:GPU:0", h100) == "GPU 0: NVIDIA H100 80GB HBM3"
    assert describe_device("/physical_device:GPU:0", h100, count=2) == (
        "GPU 0 (of 2): NVIDIA H100 80GB HBM3"
    )
    assert describe_device("/physical_device:GPU:0", {}) == "GPU 0"  # no details
    assert describe_device("/physical_device:GPU:0", {"device_name": "  "}) == "GPU 0"
    assert describe_device("gpu", {"device_name": "X"}) == "gpu: X"  # another name form


def test_device_name_reads_the_first_visible_gpu(monkeypatch):
    gpus = [
        SimpleNamespace(name="/physical_device:GPU:0", device_type="GPU"),
        SimpleNamespace(name="/physical_device:GPU:1", device_type="GPU"),
    ]
    asked = []

    def details(device):
        asked.append(device.name)
        return {"device_name": "NVIDIA H200"}

    monkeypatch.setattr(tf.config, "get_visible_devices", lambda kind=None: gpus)
    monkeypatch.setattr(tf.config.experimental, "get_device_details", details)
    assert runtime.device_name() == "GPU 0 (of 2): NVIDIA H200"
    assert asked == ["/physical_device:GPU:0"]

    def fails(device):
        raise ValueError("not a GPU TensorFlow can describe")

    monkeypatch.setattr(tf.config.experimental, "get_device_details", fails)
    assert runtime.device_name() == "GPU 0 (of 2)"
