"""Cost of ``engine.explanation.featurevis.maximize``: time to an image, and a step
against one pass.

For the lecture's MNIST CNN (trained, 28x28, layer conv2d_2) and VGG16 (random weights:
no download needed, the cost does not depend on them; ``include_top=False`` so it takes
any size) at 128 and 224 px (layer block5_conv3, the deepest and dearest to climb):
- time to an image of ``--steps`` steps (128): the first (compiling the step) and the
  median of ``--runs`` more, each on another channel (no retracing);
- one step: the median time from one ``progress`` call to the next of those runs (every
  8 steps) divided by 8, so it counts all a step costs in the app (making the image
  shown as it forms included);
- one forward + backward pass of the same model on an input of the same size: a
  compiled ``d mean(output) / d input``, and the same to the layer only, timed inside
  each ``progress`` call (so steps and passes alternate and see the same machine load;
  their time is taken out of the time to an image);
- ratio step / (forward + backward), goal <= 1.3x.

    .venv/bin/python bench/featurevis.py [--runs 3] [--steps 128] [--models mnist,vgg16]

About 8 minutes on 2 busy CPU cores (VGG16 at 224 px takes most of it); ``--runs 1``
for a quicker look.

``--whole-layer``: the gallery of ``maximize_layer`` instead, a picture of each channel's
centre unit on its receptive field: VGG16 (random weights) block4_conv1, 512 channels of
``--steps`` steps, ``--batch`` channels at a time, timed on ``--batches`` batches (the
first with planning and compiling, then steady ones) and extrapolated to 512; beside it
the full-size picture of ``maximize`` (224x224, the map's mean) timed on one channel
for ``--old-steps`` steps after a warm-up, extrapolated the same way. About 1 minute:

    .venv/bin/python bench/featurevis.py --whole-layer [--batch 16] [--batches 2]
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from engine.explanation.featurevis import maximize, maximize_layer, unit_canvas  # noqa: E402
from engine.models.zoo import Scaling  # noqa: E402

EVERY = 8


def compiled_forward_backward(model):
    """A compiled forward + backward pass: ``x -> d mean(model(x)) / d x``."""
    import tensorflow as tf

    def fb(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = tf.reduce_mean(model(x, training=False))
        return tape.gradient(y, x)

    return tf.function(fb, autograph=False)


def bench(name, model, layer, size, scaling, steps, runs) -> None:
    import keras
    import tensorflow as tf

    to_layer = keras.Model(model.inputs[0], model.get_layer(layer).output)
    channels = int(to_layer.outputs[0].shape[-1])
    h = w = size or int(model.inputs[0].shape[1])
    c = int(model.inputs[0].shape[-1])
    x = tf.constant(np.random.default_rng(0).uniform(-1, 1, (1, h, w, c)).astype(np.float32))
    references = {
        "model": compiled_forward_backward(model),
        "layer": compiled_forward_backward(to_layer),
    }
    for fn in references.values():
        fn(x).numpy()
    images, step_times = [], []
    fb: dict[str, list[float]] = {key: [] for key in references}
    cold = 0.0
    for run in range(runs + 1):
        stamps: list[float] = []  # when each EVERY steps ended, and the next began
        spent = [0.0]  # seconds of the references, taken out of the time to an image

        def progress(fraction, image, stamps=stamps, spent=spent):
            begin = time.perf_counter()
            stamps.append(begin)
            if fraction < 1.0:  # one pass of each reference, interleaved with the steps
                for key, fn in references.items():
                    t = time.perf_counter()
                    fn(x).numpy()
                    fb[key].append(time.perf_counter() - t)
            end = time.perf_counter()
            stamps.append(end)
            spent[0] += end - begin

        t = time.perf_counter()
        maximize(
            model,
            layer,
            (7 * run + 3) % channels,
            size=size,
            steps=steps,
            scaling=scaling,
            every=EVERY,
            progress=progress,
        )
        total = time.perf_counter() - t - spent[0]
        if run == 0:
            cold = total
            for values in fb.values():
                values.clear()
            continue
        images.append(total)
        # From the end of one progress call to the start of the next: EVERY steps (the
        # first span also holds the set-up, the last the final image: both left out).
        spans = np.array(stamps[2:-2:2]) - np.array(stamps[1:-3:2])
        step_times += list(spans[1:] / EVERY)
    step = statistics.median(step_times)
    fb_model, fb_layer = statistics.median(fb["model"]), statistics.median(fb["layer"])
    print(
        f"{name:<8} {h:>4}px {layer:<13} {cold:8.2f} {statistics.median(images):8.2f}"
        f" {step * 1e3:9.2f} {fb_model * 1e3:9.2f} {step / fb_model:6.2f}x"
        f" {fb_layer * 1e3:10.2f} {step / fb_layer:6.2f}x",
        flush=True,
    )


def whole_layer(steps: int, batch: int, batches: int, old_steps: int) -> None:
    """The gallery of VGG16's block4_conv1, timed on ``batches`` batches, against the
    full-size picture of one channel, both extrapolated to the layer's 512 channels."""
    import keras

    layer, channels = "block4_conv1", 512
    vgg = keras.applications.VGG16(weights=None, include_top=False, input_shape=(None, None, 3))

    # The full-size picture (``maximize``): a warm-up compiles, then ``old_steps`` steps.
    maximize(vgg, layer, 0, size=224, steps=1, scaling=Scaling.CAFFE)
    t = time.perf_counter()
    maximize(vgg, layer, 1, size=224, steps=old_steps, scaling=Scaling.CAFFE)
    old_step = (time.perf_counter() - t) / old_steps
    old_channel = old_step * steps
    print(
        f"full size  (maximize, 224x224, the map's mean): {old_step * 1e3:8.1f} ms a step, "
        f"{old_channel:7.1f} s a channel of {steps} steps, {old_channel * channels:8.0f} s "
        f"for {channels} channels (estimated from {old_steps} steps of 1 channel)",
        flush=True,
    )

    # The gallery (``maximize_layer``): the first batch plans, checks and compiles.
    k = batch * batches
    ends: list[float] = []
    t = time.perf_counter()
    canvas = unit_canvas(vgg, layer)
    maximize_layer(
        vgg,
        layer,
        range(k),
        steps=steps,
        batch=batch,
        scaling=Scaling.CAFFE,
        on_picture=lambda picture: ends.append(time.perf_counter()),
    )
    batch_ends = [ends[i] for i in range(batch - 1, k, batch)]
    first = batch_ends[0] - t
    steady = (
        statistics.median(np.diff(batch_ends)) if len(batch_ends) > 1 else first
    )  # one batch only: its time includes the compiling, so the estimate is high
    total = first + (math.ceil(channels / batch) - 1) * steady
    per_channel = steady / batch
    h, w = canvas.size
    print(
        f"centre unit (maximize_layer, {h}x{w}, cone {canvas.cone}): "
        f"{per_channel / steps * 1e3:8.1f} ms a step, {per_channel:7.1f} s a channel of "
        f"{steps} steps, batches of {batch}: first {first:.1f} s (planning, compiling), "
        f"then {steady:.1f} s each",
        flush=True,
    )
    print(f"ratio: {old_channel * channels / total:.1f}x less time for the whole layer")
    print(f"whole layer: vgg16 {layer} {channels} channels in {total:.0f} s (estimated from {k})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--steps", type=int, default=128)
    parser.add_argument("--models", default="mnist,vgg16")
    parser.add_argument("--whole-layer", action="store_true")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--batches", type=int, default=2)
    parser.add_argument("--old-steps", type=int, default=4)
    args = parser.parse_args()
    models = args.models.split(",")

    import keras
    import tensorflow as tf

    if args.whole_layer:
        print(f"TensorFlow {tf.__version__}, Keras {keras.__version__}, {os.cpu_count()} CPUs")
        whole_layer(args.steps, args.batch, args.batches, args.old_steps)
        return

    print(
        f"TensorFlow {tf.__version__}, Keras {keras.__version__}, "
        f"{os.cpu_count()} CPUs; {args.steps} steps per image, medians of {args.runs} runs"
    )
    print(
        f"{'model':<8} {'size':>6} {'layer':<13} {'first s':>8} {'image s':>8} "
        f"{'step ms':>9} {'fwd+bwd':>9} {'ratio':>7} {'to layer':>10} {'ratio':>7}"
    )
    if "mnist" in models:
        from engine.models.mnist_model import load_trained_mnist_cnn

        bench("mnist", load_trained_mnist_cnn(), "conv2d_2", None, None, args.steps, args.runs)
    if "vgg16" in models:
        vgg = keras.applications.VGG16(weights=None, include_top=False, input_shape=(None, None, 3))
        for size in (128, 224):
            bench("vgg16", vgg, "block5_conv3", size, Scaling.CAFFE, args.steps, args.runs)
    print(
        "first/image: seconds to an image (first: with compiling); step: one step in the "
        "app; fwd+bwd: d mean(output)/d input of the whole model; to layer: of the model "
        "up to the layer; ratio: step / that (goal <= 1.3x)"
    )


if __name__ == "__main__":
    main()
