"""How fast the Kernel lab's maps follow typing: our conv2d against scipy and TensorFlow.

.venv/bin/python bench/kernel_lab.py [--repeat 15]

For each case (1024x1024 grey and RGB with one 7x7 kernel, grey with six 3x3 kernels;
'same' padding, stride 1; float32 and float64) it prints the median time of:

- ``conv2d`` (engine/convolution.py, numpy only);
- ``scipy.signal.correlate(..., mode="same")``, one call per channel and kernel, the
  channels summed (scipy picks its own method, FFT or direct);
- ``tf.nn.conv2d`` inside a ``tf.function``, warmed up, on tensors made beforehand and
  read back with ``.numpy()``;

and the ratios ours/scipy and ours/tf (below 1: ours is faster). Each is timed in a
block of rounds of its own (TensorFlow's worker threads keep spinning for a while after
each call, which slowed whatever ran right after them when the three alternated). It
also prints the largest difference from scipy relative to the map's largest value.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from engine.arithmetic.convolution import conv2d  # noqa: E402


def scipy_conv(x: np.ndarray, k4: np.ndarray) -> np.ndarray:
    """One map per kernel, each the sum over channels of scipy's 2-D correlation."""
    from scipy.signal import correlate

    maps = [
        sum(correlate(x[:, :, c], k4[:, :, c, m], mode="same") for c in range(x.shape[2]))
        for m in range(k4.shape[3])
    ]
    return np.stack(maps, axis=-1)


def tf_conv(x: np.ndarray, k4: np.ndarray) -> Callable[[], np.ndarray]:
    import tensorflow as tf

    conv = tf.function(lambda a, b: tf.nn.conv2d(a, b, strides=1, padding="SAME"))
    xt, kt = tf.constant(x[None]), tf.constant(k4)
    conv(xt, kt)  # trace and compile once
    return lambda: conv(xt, kt).numpy()[0]


def median_ms(fn: Callable[[], object], repeat: int) -> float:
    """Median wall time of ``fn()`` in ms, after one untimed call."""
    fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def cases(dtype: type) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(0)
    rgb = rng.random((1024, 1024, 3)).astype(dtype)
    grey = rgb.mean(axis=2, keepdims=True)
    return {
        "grey, one 7x7": (grey, rng.normal(size=(7, 7, 1, 1)).astype(dtype)),
        "RGB, one 7x7x3": (rgb, rng.normal(size=(7, 7, 3, 1)).astype(dtype)),
        "grey, six 3x3": (grey, rng.normal(size=(3, 3, 1, 6)).astype(dtype)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=15, help="rounds per case")
    args = parser.parse_args()
    print(
        f"1024x1024 input, 'same' padding, stride 1; median of {args.repeat} rounds; "
        f"OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', '(unset)')}, "
        f"{os.cpu_count()} CPUs"
    )
    header = (
        f"{'case':16s} {'dtype':8s} {'ours ms':>8s} {'scipy ms':>9s} {'tf ms':>8s} "
        f"{'ours/scipy':>10s} {'ours/tf':>8s} {'rel. diff':>10s}"
    )
    print(header)
    print("-" * len(header))
    for dtype in (np.float32, np.float64):
        for name, (x, k4) in cases(dtype).items():
            ours = lambda x=x, k4=k4: conv2d(x, k4, padding="same")  # noqa: E731
            ref = lambda x=x, k4=k4: scipy_conv(x, k4)  # noqa: E731
            runners = {"ours": ours, "scipy": ref, "tf": tf_conv(x, k4)}
            expected = ref()
            diff = float(np.abs(ours() - expected).max() / np.abs(expected).max())
            ms = {key: median_ms(fn, args.repeat) for key, fn in runners.items()}
            print(
                f"{name:16s} {np.dtype(dtype).name:8s} {ms['ours']:8.1f} {ms['scipy']:9.1f} "
                f"{ms['tf']:8.1f} {ms['ours'] / ms['scipy']:10.2f} {ms['ours'] / ms['tf']:8.2f} "
                f"{diff:10.1e}"
            )


if __name__ == "__main__":
    main()
