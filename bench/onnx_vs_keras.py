"""The same VGG16 as a Keras file and as an ONNX file, through the app's own loaders.

VGG16 with random weights (``keras.utils.set_random_seed(0)``,
``keras.applications.VGG16(weights=None)``, no download) is saved as ``vgg16.keras`` and
written as ``vgg16.onnx`` by ``bench/onnx.py``'s ``vgg16_onnx`` (NCHW Conv, Relu,
MaxPool, Flatten, Gemm, Softmax) in a temporary folder. Both are opened as the CLI opens
them (``zoo.load_user_model``, ``onnx_model.load_onnx``) with the caffe convention,
VGG16's own, and run on one shipped photo (the ONNX graph's height and width are free
but its Gemm wants 7x7 maps: the loader finds that out and fixes the input at 224x224,
so any photo runs, resized as the Keras side resizes it). Prints the top-5 of each side
by side and the largest activation difference of every layer the two share: a Keras
Conv2D or Dense holds its ReLU (or softmax), which is a node of its own in the ONNX
graph (``NAME_relu``, ``softmax``), so those are compared.

    .venv/bin/python bench/onnx_vs_keras.py [--image resources/samples/astronaut.jpg]
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
# bench/ holds onnx.py: it must not stand before the onnx package.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))


def _vgg16_onnx():
    """``vgg16_onnx`` from bench/onnx.py, imported under another name."""
    spec = importlib.util.spec_from_file_location("bench_onnx", _HERE / "onnx.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.vgg16_onnx


def counterpart(layer, onnx_names: set[str]) -> str | None:
    """The ONNX node that holds what the Keras layer gives (its activation included)."""
    activation = getattr(getattr(layer, "activation", None), "__name__", "linear")
    if activation == "softmax":
        return "softmax" if "softmax" in onnx_names else None
    if activation == "relu" and f"{layer.name}_relu" in onnx_names:
        return f"{layer.name}_relu"
    return layer.name if layer.name in onnx_names else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image", default=str(_HERE.parent / "resources/samples/astronaut.jpg"))
    args = parser.parse_args()

    import keras

    from engine.imaging.images import load_image
    from engine.inspection.activations import ActivationProbe
    from engine.models.onnx_model import load_onnx
    from engine.models.zoo import load_user_model

    keras.utils.set_random_seed(0)
    model = keras.applications.VGG16(weights=None)
    image = load_image(args.image)
    with tempfile.TemporaryDirectory() as folder:
        t = time.perf_counter()
        model.save(Path(folder) / "vgg16.keras")
        _vgg16_onnx()(model, Path(folder) / "vgg16.onnx")
        print(f"wrote vgg16.keras and vgg16.onnx in {time.perf_counter() - t:.1f} s")
        sides = {
            "keras": load_user_model(Path(folder) / "vgg16.keras", scaling="caffe"),
            "onnx": load_onnx(Path(folder) / "vgg16.onnx", scaling="caffe"),
        }
    tops, acts = {}, {}
    for side, loaded in sides.items():
        x = loaded.prepare(image)
        tops[side] = loaded.read_output(loaded.forward(x[None])[0], 5).top
        acts[side] = dict(ActivationProbe(loaded.model).run(x))

    print(f"\n{Path(args.image).name}, input caffe; top-5:")
    print(f"  {'keras':<36} {'onnx':<36}")
    for k, o in zip(tops["keras"], tops["onnx"], strict=True):
        print(f"  {k.probability:.7f}  {k.label:<25} {o.probability:.7f}  {o.label:<25}")
    same_top = [p.index for p in tops["keras"]] == [p.index for p in tops["onnx"]]
    pairs = zip(tops["keras"], tops["onnx"], strict=True)
    prob_gap = max(abs(k.probability - o.probability) for k, o in pairs)
    print(f"  largest probability difference: {prob_gap:.2e}")

    onnx_names = set(acts["onnx"])
    print("\nlayer (keras -> onnx)                     max |difference|   relative")
    worst, shared = 0.0, 0
    for layer in model.layers[1:]:
        other = counterpart(layer, onnx_names)
        a = acts["keras"].get(layer.name)
        if other is None or a is None or a.shape != acts["onnx"][other].shape:
            print(f"  {layer.name:<40} no ONNX counterpart of the same shape")
            continue
        gap = float(np.max(np.abs(a - acts["onnx"][other])))
        rel = gap / (float(np.max(np.abs(a))) + 1e-12)
        worst, shared = max(worst, gap), shared + 1
        print(f"  {layer.name + ' -> ' + other:<40} {gap:12.3e}   {rel:9.2e}")
    print(f"  {shared} layers compared")
    print(
        f"\nonnx vs keras: top-5 equal: {'yes' if same_top else 'no'}, "
        f"max |activation difference| {worst:.3e}"
    )


if __name__ == "__main__":
    main()
