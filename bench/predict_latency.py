"""Latency of one drawn digit: preprocessing + the CNN, live path versus model.predict.

The live path is ``DigitClassifier.classify`` (a compiled tf.function reused between
calls, returning the probabilities and the conv maps of the same pass). Both are
measured in the same run on the same drawings.

    .venv/bin/python bench/predict_latency.py [--runs 200] [--model mnist|lenet5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from engine.models.digits import DigitClassifier, prepare_digit, preprocess_drawing  # noqa: E402
from engine.models.mnist_model import DIGIT_MODELS  # noqa: E402


def drawings(n: int) -> list[np.ndarray]:
    """Thick random strokes on a 280x280 canvas, like a person's drawing."""
    rng = np.random.default_rng(0)
    out = []
    yy, xx = np.mgrid[0:280, 0:280]
    for _ in range(n):
        canvas = np.zeros((280, 280), np.float32)
        pts = rng.uniform(50, 230, size=(4, 2))
        for (y0, x0), (y1, x1) in zip(pts, pts[1:], strict=False):
            for t in np.linspace(0, 1, 30):
                y, x = y0 + (y1 - y0) * t, x0 + (x1 - x0) * t
                canvas[(yy - y) ** 2 + (xx - x) ** 2 < 81] = 255
        out.append(canvas)
    return out


def median_ms(fn, inputs) -> float:
    times = []
    for x in inputs:
        t = time.perf_counter()
        fn(x)
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--model", default="mnist", choices=tuple(DIGIT_MODELS))
    args = parser.parse_args()
    clf = DigitClassifier(model_key=args.model)
    model = clf.model

    def predict_one(x: np.ndarray) -> np.ndarray:
        return model.predict(prepare_digit(x).model_input(clf.pad)[None], verbose=0)

    inputs = drawings(args.runs)
    for x in inputs[:5]:  # warm both paths
        clf.classify(x)
        predict_one(x)
    live = median_ms(clf.classify, inputs)
    predict = median_ms(predict_one, inputs)
    prep = median_ms(preprocess_drawing, inputs)
    title = DIGIT_MODELS[args.model].title
    print(f"{title}: one drawn digit (280x280 canvas), median of {args.runs} drawings:")
    print(f"  preprocessing alone:                     {prep:6.2f} ms")
    print(f"  live path (preprocess + compiled call):  {live:6.2f} ms   goal <= 10 ms")
    print(f"  preprocess + model.predict:              {predict:6.2f} ms")
    print(f"  ratio predict / live:                    {predict / live:6.1f}x  goal >= 5x")


if __name__ == "__main__":
    main()
