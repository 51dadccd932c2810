"""Incremental occlusion (``engine.explanation.incremental``) against full re-inference.

VGG16 and ResNet50 at 224x224 (random weights, seeded: no download needed; the cost does
not depend on the weights), the sample photo ``chelsea.jpg`` as input, patch 16, stride 8:
27 x 27 = 729 positions, the class the model ranks first. Three sweeps, medians over
interleaved rounds (every round runs them all, so they see the same machine load):

- full: ``Explainer.occlusion``'s loop, the whole network once per position, 64 per call;
- exact: ``occlusion_map(mode="exact")``, each layer recomputed only where the patch reaches;
- approximate: ``occlusion_map(mode="approximate")`` (tau = ``DEFAULT_TAU``), which first
  checks itself against the exact pass on 32 positions.

To stay short on 2 cores, each sweep is timed on a subset of the positions (``--positions``,
default 128, spread evenly over the grid) and extrapolated to all 729: full and exact as
time x 729 / n (the per-input costs, one or two single-image forward passes, are scaled
too, which slightly overstates the exact pass's time); approximate as its check (the exact
pass on 32 positions) plus its own pass scaled to 729. ``--positions 729`` times the whole
sweeps instead. Also printed: the largest difference between the exact and the full
drops (probabilities), and the correlation of the approximate heat map with the exact one
on the timed positions.

    .venv/bin/python bench/occlusion.py [--runs 3] [--positions 128] [--models vgg16,resnet50]

About 2 to 5 minutes on 2 shared CPU cores. The last line sums it up.
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

from engine.explanation import incremental  # noqa: E402
from engine.explanation.attribution import Explainer  # noqa: E402

PATCH, STRIDE, SIDE = 16, 8, 224
GRID = (SIDE - PATCH) // STRIDE + 1
TOTAL = GRID * GRID


def interleaved(fns: dict[str, Callable[[], object]], runs: int) -> dict[str, float]:
    """Median seconds of each function over ``runs`` rounds that run them all."""
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(runs):
        for name, fn in fns.items():
            t = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t)
    return {name: statistics.median(ts) for name, ts in times.items()}


def measure(key: str, runs: int, n: int) -> dict[str, object]:
    import keras

    from engine.imaging.images import load_image
    from engine.models.zoo import load_zoo_model

    keras.utils.set_random_seed(0)
    loaded = load_zoo_model(key, weights=None)
    x = loaded.prepare(load_image(ROOT / "resources" / "samples" / "chelsea.jpg"))
    ex = Explainer(loaded.model)
    c = int(np.argmax(ex.probabilities(x)))
    positions = np.unique(np.linspace(0, TOTAL - 1, n).round().astype(int))
    n = len(positions)
    out: dict[str, np.ndarray] = {}

    def full(pos: np.ndarray = positions) -> None:
        drops = ex._occlusion_full(
            x, c, (PATCH, PATCH), (STRIDE, STRIDE), 0.0, 64, lambda f, m: None, lambda: False, pos
        )
        out["full"] = drops.ravel()[pos]

    def sweep(mode: str, pos: np.ndarray = positions) -> None:
        result = ex.occlusion_map(x, c, PATCH, STRIDE, mode=mode, positions=pos)
        out[mode] = result.drops.ravel()[pos]
        out[mode + " method"] = result.method  # type: ignore[assignment]
        out[mode + " note"] = result.note  # type: ignore[assignment]

    print(f"  {key}: warming up (plans, tracing)…", file=sys.stderr, flush=True)
    full(positions[:64])
    sweep("approximate", positions[: min(n, 2 * incremental.CHECK_POSITIONS + 1)])
    sweep("exact", positions[:8])
    print(f"  {key}: {runs} rounds on {n} positions…", file=sys.stderr, flush=True)
    t = interleaved(
        {
            "full": full,
            "exact": lambda: sweep("exact"),
            "approximate": lambda: sweep("approximate"),
        },
        runs,
    )
    scale = TOTAL / n
    check = min(n, incremental.CHECK_POSITIONS)
    approx_own = max(t["approximate"] - t["exact"] * check / n, 0.0)
    approximate_total = t["exact"] * check / n + approx_own * scale
    if n >= TOTAL:
        approximate_total = t["approximate"]
    plan = ex._occlusion_plan((PATCH, PATCH), (STRIDE, STRIDE), (GRID, GRID), None)
    whole = next(s.node.operation.name for s in plan.steps if s.mode == "batch")
    crops = sum(s.mode == "crop" for s in plan.steps)
    return {
        "full": t["full"] * scale,
        "exact": t["exact"] * scale,
        "approximate": approximate_total,
        "max_diff": float(np.abs(out["exact"] - out["full"]).max()),
        "range": float(np.abs(out["full"]).max()),
        "corr": float(np.corrcoef(out["approximate"], out["exact"])[0, 1]),
        "approx_method": out["approximate method"],
        "approx_note": out["approximate note"],
        "plan": f"{crops} of {len(plan.steps)} layers on crops; whole maps from '{whole}' on",
        "n": n,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3, help="interleaved rounds per figure")
    parser.add_argument("--positions", type=int, default=128, help=f"positions timed (of {TOTAL})")
    parser.add_argument("--models", default="vgg16,resnet50")
    args = parser.parse_args()
    keys = args.models.split(",")
    results = {}
    for key in keys:
        print(f"measuring {key}…", file=sys.stderr, flush=True)
        results[key] = measure(key, args.runs, min(args.positions, TOTAL))

    n = results[keys[0]]["n"]
    how = "measured" if n >= TOTAL else f"timed on {n} spread positions, extrapolated"
    col = 16
    print(
        f"occlusion sweep, {SIDE}x{SIDE}, patch {PATCH}, stride {STRIDE}: {TOTAL} positions "
        f"({how}); medians of {args.runs} interleaved rounds, seconds"
    )
    print(f"{'':34}" + "".join(f"{k:>{col}}" for k in keys))
    for label, name in (
        ("full re-inference (64 per call)", "full"),
        ("incremental, exact", "exact"),
        (f"incremental, approximate (tau {incremental.DEFAULT_TAU:g})", "approximate"),
    ):
        print(f"{label:34}" + "".join(f"{results[k][name]:>{col}.1f}" for k in keys))
    for label, name in (("speed-up, exact", "exact"), ("speed-up, approximate", "approximate")):
        print(
            f"{label:34}"
            + "".join(f"{results[k]['full'] / results[k][name]:>{col - 1}.2f}x" for k in keys)
        )
    print(
        f"{'max |exact - full| (probability)':34}"
        + "".join(f"{results[k]['max_diff']:>{col}.1e}" for k in keys)
    )
    print(
        f"{'  largest drop, for scale':34}"
        + "".join(f"{results[k]['range']:>{col}.1e}" for k in keys)
    )
    print(
        f"{'corr(approximate, exact)':34}"
        + "".join(f"{results[k]['corr']:>{col}.4f}" for k in keys)
    )
    for k in keys:
        print(f"  {k}: {results[k]['plan']}")
        print(
            f"  {k} approximate ran as '{results[k]['approx_method']}': {results[k]['approx_note']}"
        )
    parts = []
    for k in keys:
        r = results[k]
        part = f"{k} exact {r['full'] / r['exact']:.2f}x"
        if k == "vgg16":
            part += (
                f" (max diff {r['max_diff']:.1e}), approximate "
                f"{r['full'] / r['approximate']:.2f}x (corr {r['corr']:.3f})"
            )
        parts.append(part)
    print("occlusion: " + "; ".join(parts))


if __name__ == "__main__":
    main()
