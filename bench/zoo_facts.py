"""Compute again the figures of ``engine.inspection.architecture.ZOO_FACTS`` that come
from the models.

Builds every zoo model with random weights (no download), counts its parameters and its
multiply-accumulates (``engine.inspection.architecture.total_macs``) at the model's input size, and
prints them beside the recorded ones; exits 1 if any differs.

    .venv/bin/python bench/zoo_facts.py
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def build(key: str):
    from engine.models import mnist_model, zoo

    if key in mnist_model.DIGIT_MODELS:
        return mnist_model.build_digit_model(key, compile=False)
    return zoo.load_zoo_model(key, weights=None).model


def main() -> int:
    from engine.inspection.architecture import ZOO_FACTS, model_graph

    bad = 0
    print(f"{'model':16} {'params':>12} {'MACs':>15}  {'build s':>7}  recorded")
    for key, facts in ZOO_FACTS.items():
        start = time.perf_counter()
        model = build(key)
        seconds = time.perf_counter() - start
        graph = model_graph(model)
        size = tuple(int(d) for d in model.inputs[0].shape[1:3])
        same = (
            graph.total_params == facts.params
            and graph.total_macs == facts.macs
            and size == facts.input_size
        )
        bad += not same
        print(
            f"{key:16} {graph.total_params:12,} {graph.total_macs:15,}  {seconds:7.1f}  "
            f"{'ok' if same else f'DIFFERS: {facts.params:,} {facts.macs:,} {facts.input_size}'}"
        )
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
