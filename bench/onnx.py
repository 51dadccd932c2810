"""An ONNX model's probe against a plain run, and against the same network in Keras.

VGG16 at 224x224 with random weights (``keras.applications.VGG16(weights=None)``, no
download), written as an ONNX graph here with ``onnx.helper`` (NCHW, as a PyTorch export
is: Conv, Relu, MaxPool, Flatten, Gemm) from the Keras model's own weights, so the two
compute the same function. Prints medians, measured in interleaved rounds (every figure
of a round sees the same machine load; the cores are shared):

- ONNX: one plain session run (the first output only), ``OnnxProbe.run`` (every node's
  output from one run of a session with every layer a graph output; Relu computed in
  numpy when read) and its ratio to the plain run (goal: at most 1.2), and the probe
  with every layer read (``dict(acts)``);
- Keras: one forward pass through a compiled ``tf.function`` and ``ActivationProbe.run``;
- how far the two networks' outputs are apart (they must agree).

    .venv/bin/python bench/onnx.py [--runs 10] [--size 224]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
# This file is called onnx.py: its own folder must not stand before the onnx package.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))


def interleaved(fns: list[Callable[[], object]], runs: int) -> list[list[float]]:
    """Seconds of each function in each of ``runs`` rounds; every round runs them all."""
    for fn in fns:  # warm up: session set-up, tracing, first allocations
        fn()
        fn()
    rounds = []
    for _ in range(runs):
        times = []
        for fn in fns:
            t = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t)
        rounds.append(times)
    return rounds


def vgg16_onnx(model, path: Path) -> None:
    """VGG16's layers as an ONNX graph (NCHW), with the Keras model's weights."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    nodes, weights = [], []
    x = "input"
    flattened = False
    for layer in model.layers[1:]:
        kind = type(layer).__name__
        name = layer.name
        if kind == "Conv2D":
            kernel, bias = layer.get_weights()
            weights += [
                numpy_helper.from_array(kernel.transpose(3, 2, 0, 1), f"{name}.weight"),
                numpy_helper.from_array(bias, f"{name}.bias"),
            ]
            nodes.append(
                helper.make_node(
                    "Conv",
                    [x, f"{name}.weight", f"{name}.bias"],
                    [name],
                    name,
                    kernel_shape=[3, 3],
                    pads=[1, 1, 1, 1],
                )
            )
            nodes.append(helper.make_node("Relu", [name], [f"{name}_relu"], f"{name}_relu"))
            x = f"{name}_relu"
        elif kind == "MaxPooling2D":
            nodes.append(
                helper.make_node("MaxPool", [x], [name], name, kernel_shape=[2, 2], strides=[2, 2])
            )
            x = name
        elif kind == "Flatten":
            # Keras flattens (H, W, C); ONNX's maps are (C, H, W): transpose first.
            nodes.append(helper.make_node("Transpose", [x], ["hwc"], "to_hwc", perm=[0, 2, 3, 1]))
            nodes.append(helper.make_node("Flatten", ["hwc"], [name], name))
            x, flattened = name, True
        elif kind == "Dense" and flattened:
            kernel, bias = layer.get_weights()
            weights += [
                numpy_helper.from_array(kernel, f"{name}.weight"),
                numpy_helper.from_array(bias, f"{name}.bias"),
            ]
            nodes.append(
                helper.make_node("Gemm", [x, f"{name}.weight", f"{name}.bias"], [name], name)
            )
            x = name
            if layer.activation.__name__ == "relu":
                nodes.append(helper.make_node("Relu", [x], [f"{name}_relu"], f"{name}_relu"))
                x = f"{name}_relu"
            elif layer.activation.__name__ == "softmax":
                nodes.append(helper.make_node("Softmax", [x], ["probabilities"], "softmax"))
                x = "probabilities"
    graph = helper.make_graph(
        nodes,
        "vgg16",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 3, "H", "W"])],
        [helper.make_tensor_value_info(x, TensorProto.FLOAT, ["N", 1000])],
        weights,
    )
    onnx_model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    onnx.save(onnx_model, path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--size", type=int, default=224)
    args = parser.parse_args()

    import keras
    import onnxruntime
    import tensorflow as tf

    from engine.inspection.activations import ActivationProbe
    from engine.models.onnx_model import load_onnx

    print(f"ONNX Runtime {onnxruntime.__version__}, TensorFlow {tf.__version__}, "
          f"{os.cpu_count()} CPUs")  # fmt: skip
    size = args.size
    model = keras.applications.VGG16(weights=None, input_shape=(size, size, 3))
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "vgg16.onnx"
        t = time.perf_counter()
        vgg16_onnx(model, path)
        print(f"wrote {path.name}: {path.stat().st_size / 2**20:.0f} MB in "
              f"{time.perf_counter() - t:.1f} s")  # fmt: skip
        t = time.perf_counter()
        loaded = load_onnx(path, size=size)
        print(f"load_onnx (graph, shapes, plain session): {time.perf_counter() - t:.1f} s")
    net = loaded.model
    x = np.random.default_rng(0).normal(0, 1, (size, size, 3)).astype(np.float32)
    batch = x[None]

    t = time.perf_counter()
    probe = ActivationProbe(net)
    probe.run(x)
    print(f"probe session built and first run: {time.perf_counter() - t:.1f} s; "
          f"{len(probe.layer_names)} layers, {len(probe.derived)} computed in numpy")  # fmt: skip
    keras_probe = ActivationProbe(model)
    keras_forward = tf.function(lambda a: model(a, training=False), reduce_retracing=True)

    gap = float(np.max(np.abs(net.forward(batch) - np.asarray(keras_forward(batch)))))
    print(f"largest difference of the outputs, ONNX vs Keras: {gap:.2e}")
    acts, keras_acts = probe.run(x), keras_probe.run(x)
    # Keras' Conv2D and Dense hold their ReLU; the ONNX graph has it as a node of its own.
    pairs = (("block1_conv1_relu", "block1_conv1"), ("block3_conv3_relu", "block3_conv3"),
             ("block5_pool", "block5_pool"), ("fc2_relu", "fc2"))  # fmt: skip
    worst = max(
        float(np.max(np.abs(acts[o] - keras_acts[k])) / (np.max(np.abs(keras_acts[k])) + 1e-12))
        for o, k in pairs
    )
    print(f"largest relative difference of four layers' maps: {worst:.2e}")

    fns = {
        "onnx plain run": lambda: net.forward(batch),
        "onnx probe run (all layers)": lambda: probe.run(x),
        "onnx probe run + read all": lambda: dict(probe.run(x)),
        "keras forward (tf.function)": lambda: keras_forward(batch),
        "keras ActivationProbe.run": lambda: keras_probe.run(x),
    }
    rounds = interleaved(list(fns.values()), args.runs)
    medians = {name: statistics.median(r[i] for r in rounds) * 1000 for i, name in enumerate(fns)}
    ratios = [r[1] / r[0] for r in rounds]
    print(f"\nVGG16 at {size}x{size}, batch 1, medians of {args.runs} interleaved rounds:")
    for name, ms in medians.items():
        print(f"  {name:<30} {ms:9.1f} ms")
    q = statistics.quantiles(ratios, n=4) if len(ratios) > 1 else [ratios[0]] * 3
    print(
        f"  probe / plain run (ONNX)       {statistics.median(ratios):9.2f}x  (goal <= 1.2; "
        f"per round, quartiles {q[0]:.2f}..{q[2]:.2f})"
    )
    versus = medians["onnx plain run"] / medians["keras forward (tf.function)"]
    print(f"  onnx plain / keras forward     {versus:9.2f}x")


if __name__ == "__main__":
    main()
