"""Model surgery on the lecture's MNIST CNN: edit latency, evaluation, channel triage.

- an edit (``ModelEditor.set_filter`` of a conv2d_1 filter) followed by the new class
  probabilities of one drawn digit (``DigitClassifier.classify_prepared`` on the edited
  copy, its compiled call reused: the edit needs no rebuild), goal <= 30 ms;
- ``evaluate`` on the 500 real MNIST test digits the app ships, goal <= 1 s;
- ``ablation_effect`` over the 64 channels of conv2d_2, for one digit and for 100.

Medians; the first (cold) call of each, which traces the compiled functions, is printed
apart.

    .venv/bin/python bench/surgery.py [--runs 100]
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

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from engine.arithmetic.kernels import preset  # noqa: E402
from engine.editing.surgery import ModelEditor, ablation_effect, evaluate  # noqa: E402
from engine.models.digits import DigitClassifier, prepare_digit  # noqa: E402
from engine.models.mnist_data import bundled_test_digits  # noqa: E402
from engine.models.mnist_model import load_trained_mnist_cnn  # noqa: E402


def drawing(seed: int = 0) -> np.ndarray:
    """Thick random strokes on a 280x280 canvas, like a person's drawing."""
    rng = np.random.default_rng(seed)
    canvas = np.zeros((280, 280), np.float32)
    yy, xx = np.mgrid[0:280, 0:280]
    pts = rng.uniform(50, 230, size=(4, 2))
    for (y0, x0), (y1, x1) in zip(pts, pts[1:], strict=False):
        for t in np.linspace(0, 1, 30):
            y, x = y0 + (y1 - y0) * t, x0 + (x1 - x0) * t
            canvas[(yy - y) ** 2 + (xx - x) ** 2 < 81] = 255
    return canvas


def timed(fn: Callable[[], object], runs: int) -> tuple[float, float]:
    """(first call, median of the next ``runs``) in milliseconds."""
    t = time.perf_counter()
    fn()
    first = time.perf_counter() - t
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return first * 1000, statistics.median(times) * 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=100, help="edits timed")
    args = parser.parse_args()
    model = load_trained_mnist_cnn()
    editor = ModelEditor(model)
    clf = DigitClassifier(editor.model)
    digit = prepare_digit(drawing())
    kernels = [
        preset(name) for name in ("Vertical edge", "Horizontal edge", "Sobel x", "Lecture X")
    ]
    step = iter(range(10**9))

    def edit_and_predict() -> None:
        i = next(step)
        editor.set_filter("conv2d_1", i % 32, kernels[i % len(kernels)])
        clf.classify_prepared(digit)

    def timed_edits(runs: int) -> float:
        times = []
        for _ in range(runs):
            t = time.perf_counter()
            edit_and_predict()
            times.append(time.perf_counter() - t)
            editor.revert()  # not timed: keeps the edit list short
        return statistics.median(times) * 1000

    edit_and_predict()
    editor.revert()
    edit_ms = timed_edits(args.runs)
    before = clf.classify_prepared(digit).probabilities
    editor.ablate("conv2d_2", range(0, 64, 2))
    after = clf.classify_prepared(digit).probabilities
    editor.revert()
    assert before is not None and after is not None and not np.array_equal(before, after)

    x, y = bundled_test_digits()  # the 500 test digits the app ships
    eval_first, eval_ms = timed(lambda: evaluate(model, x, y), 7)
    accuracy = evaluate(model, x, y).accuracy
    one = digit.pixels[None]
    cls = int(np.argmax(before))
    abl_first, abl_ms = timed(lambda: ablation_effect(model, "conv2d_2", one, cls), 7)
    _, abl100_ms = timed(lambda: ablation_effect(model, "conv2d_2", x[:100], 3), 3)

    print("Model surgery on the lecture's MNIST CNN (median; first call apart):")
    print(
        f"  edit (set_filter conv2d_1) -> probabilities of a drawn digit: {edit_ms:7.2f} ms"
        "   goal <= 30 ms"
    )
    print(
        f"  evaluate, 500 test digits:  {eval_ms:7.1f} ms (first {eval_first:6.1f} ms)"
        f"   goal <= 1000 ms; accuracy {accuracy:.3f}"
    )
    print(
        f"  ablation_effect, 64 channels of conv2d_2, 1 digit:    {abl_ms:7.1f} ms"
        f" (first {abl_first:6.1f} ms)"
    )
    print(
        f"  ablation_effect, 64 channels of conv2d_2, 100 digits: {abl100_ms:7.1f} ms"
        " (6,400 forward passes of the tail)"
    )


if __name__ == "__main__":
    main()
