"""How fast the Kernel lab's map follows typing: conv2d on a 1024x1024 RGB image.

.venv/bin/python bench/kernel_lab.py
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from engine.convolution import conv2d  # noqa: E402


def median_ms(fn, repeat: int = 9) -> float:
    fn()
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1000


def main() -> None:
    rng = np.random.default_rng(0)
    rgb = rng.random((1024, 1024, 3), dtype=np.float32)
    grey = rgb.mean(axis=2)
    k7 = rng.normal(size=(7, 7))
    k6 = rng.normal(size=(7, 7, 1, 6))
    cases = {
        "1024x1024 RGB (7x7x3 kernel)": lambda: conv2d(rgb, np.stack([k7] * 3, -1), padding="same"),
        "1024x1024 grey (one map)": lambda: conv2d(grey, k7, padding="same"),
        "1024x1024 grey, six kernels": lambda: conv2d(grey[..., None], k6, padding="same"),
    }
    print("conv2d, 7x7 kernel, 'same' padding, median of 9 runs:")
    for name, fn in cases.items():
        print(f"  {name:32s} {median_ms(fn):7.1f} ms")


if __name__ == "__main__":
    main()
