"""Cost of the explanations of ``engine.explanation.attribution``, side by side for three models.

The lecture's MNIST CNN (trained, 28x28) and VGG16 / ResNet50 at 224x224 (random
weights: no download needed; the cost does not depend on the weights). Medians, with
each model's figures measured in interleaved rounds (every round runs them all, so they
see the same machine load):
- one forward pass (the compiled call the explainer reuses);
- Grad-CAM (default layer, top class), saliency, SmoothGrad with 16 samples;
- a full occlusion sweep, batched (64 per call), and the same sweep one position per
  call; for the big models the one-per-position figure is timed on a few positions
  (the sweep is cancelled after them) and extrapolated to the whole sweep;
- the ratios Grad-CAM / forward (goal <= 3x) and one-per-position / batched (goal >= 4x).
Then the Draw panel's live path: a drawn 280x280 canvas, ``DigitClassifier.classify``
(preprocess + compiled call), median ms (goal <= 10 ms).

    .venv/bin/python bench/attribution.py [--runs 5] [--models mnist,vgg16,resnet50]

About 3 to 4 minutes on 2 CPU cores (VGG16's occlusion sweeps take most of it).
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

from engine.explanation.attribution import Explainer  # noqa: E402

SMOOTHGRAD_SAMPLES = 16


def interleaved(fns: dict[str, Callable[[], object]], runs: int) -> dict[str, float]:
    """Median seconds of each function over ``runs`` rounds that run them all."""
    for fn in fns.values():  # warm up: tracing, first allocations
        fn()
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(runs):
        for name, fn in fns.items():
            t = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t)
    return {name: statistics.median(ts) for name, ts in times.items()}


def sweep(ex: Explainer, x, c, patch, stride, batch_size: int, positions: int | None) -> float:
    """Seconds of an occlusion sweep; after ``positions`` positions it is cancelled and the
    time extrapolated to the whole sweep (None: the whole sweep is run)."""
    h, w = x.shape[:2]
    total = ((h - patch) // stride + 1) * ((w - patch) // stride + 1)
    done = [0]

    def progress(fraction: float, message: str) -> None:
        done[0] = round(fraction * total)

    def cancelled() -> bool:
        return positions is not None and done[0] >= positions

    t = time.perf_counter()
    try:
        ex.occlusion(
            x, c, patch, stride, batch_size=batch_size, progress=progress, cancelled=cancelled
        )
    except InterruptedError:
        pass
    return (time.perf_counter() - t) / done[0] * total


def mnist_input() -> np.ndarray:
    fixture = ROOT / "tests" / "data" / "mnist_fixture.npz"
    if fixture.exists():
        with np.load(fixture) as data:
            return (data["x_test"][0] / 255.0).astype(np.float32)[..., None]
    from engine.models.digits import preprocess_drawing

    return preprocess_drawing(drawings(1)[0])[..., None]


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


def measure(key: str, runs: int) -> dict[str, float | str]:
    from engine.models.zoo import load_zoo_model

    loaded = load_zoo_model(key, weights=None)
    if key == "mnist":
        x, patch, stride, occ_runs, few = mnist_input(), 6, 2, runs, None
    else:
        image = np.random.default_rng(0).integers(0, 256, (224, 224, 3), dtype=np.uint8)
        x, patch, stride, occ_runs, few = loaded.prepare(image), 32, 16, max(2, runs // 3), 8
    ex = Explainer(loaded.model)
    c = int(np.argmax(ex.probabilities(x)))
    fast = interleaved(
        {
            "forward": lambda: ex.probabilities(x),
            "grad_cam": lambda: ex.grad_cam(x),
            "saliency": lambda: ex.saliency(x, c),
            "smoothgrad": lambda: ex.saliency(x, c, samples=SMOOTHGRAD_SAMPLES),
        },
        runs,
    )
    sweep(ex, x, c, patch, stride, 64, 1)  # warm up: one batch traces any batch size
    batched = statistics.median(sweep(ex, x, c, patch, stride, 64, None) for _ in range(occ_runs))
    single = statistics.median(sweep(ex, x, c, patch, stride, 1, few) for _ in range(occ_runs))
    h, w = x.shape[:2]
    positions = ((h - patch) // stride + 1) * ((w - patch) // stride + 1)
    return {
        **fast,
        "occ_batched": batched,
        "occ_single": single,
        "occ_note": f"{positions} pos, patch {patch}/{stride}"
        + ("" if few is None else f", 1-per-call: {few} timed"),
        "input": "x".join(str(d) for d in x.shape),
    }


def live_path(runs: int) -> tuple[float, float]:
    from engine.models.digits import DigitClassifier, preprocess_drawing

    clf = DigitClassifier()
    canvases = drawings(runs)
    for canvas in canvases[:5]:
        clf.classify(canvas)
    live, prep = [], []
    for canvas in canvases:
        t = time.perf_counter()
        clf.classify(canvas)
        live.append(time.perf_counter() - t)
        t = time.perf_counter()
        preprocess_drawing(canvas)
        prep.append(time.perf_counter() - t)
    return statistics.median(live) * 1000, statistics.median(prep) * 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--runs",
        type=int,
        default=5,
        help="rounds per figure (occlusion of the big models: a third, >= 2)",
    )
    parser.add_argument("--models", default="mnist,vgg16,resnet50")
    args = parser.parse_args()
    keys = args.models.split(",")
    results = {}
    for key in keys:
        print(f"measuring {key}…", file=sys.stderr, flush=True)
        results[key] = measure(key, args.runs * (3 if key == "mnist" else 1))

    def ms(v: float) -> str:
        return f"{v * 1000:10.1f}" if v < 100 else f"{v * 1000:10.0f}"

    col = 16
    print(
        f"engine.explanation.attribution, medians in ms ({args.runs} rounds; MNIST x3; "
        "big occlusion /3, >= 2)"
    )
    print(f"{'':34}" + "".join(f"{k:>{col}}" for k in keys))
    print(f"{'input':34}" + "".join(f"{results[k]['input']:>{col}}" for k in keys))
    rows = [
        ("forward pass (compiled)", "forward"),
        ("Grad-CAM", "grad_cam"),
        ("saliency", "saliency"),
        (f"SmoothGrad ({SMOOTHGRAD_SAMPLES} samples)", "smoothgrad"),
        ("occlusion sweep, batched 64", "occ_batched"),
        ("occlusion sweep, 1 per call (*)", "occ_single"),
    ]
    for label, name in rows:
        print(f"{label:34}" + "".join(f"{ms(results[k][name]):>{col}}" for k in keys))
    ratio = {k: results[k]["grad_cam"] / results[k]["forward"] for k in keys}
    batching = {k: results[k]["occ_single"] / results[k]["occ_batched"] for k in keys}
    print(
        f"{'Grad-CAM / forward (goal <= 3x)':34}"
        + "".join(f"{ratio[k]:>{col - 1}.2f}x" for k in keys)
    )
    print(
        f"{'1-per-call / batched (goal >= 4x)':34}"
        + "".join(f"{batching[k]:>{col - 1}.2f}x" for k in keys)
    )
    for k in keys:
        print(f"  (*) {k}: {results[k]['occ_note']}")
    print("  (*) big models: the 1-per-call sweep is cancelled after the timed positions and")
    print("      extrapolated to all positions (per-position cost x positions).")
    live, prep = live_path(args.runs * 30)
    print(
        "MNIST live path: brush stroke -> new probabilities "
        f"(280x280 canvas, {args.runs * 30} drawings)"
    )
    print(
        f"  preprocess (prepare_digit) + classify (DigitClassifier): {live:6.2f} ms  goal <= 10 ms"
    )
    print(f"  of which preprocessing alone:                            {prep:6.2f} ms")


if __name__ == "__main__":
    main()
