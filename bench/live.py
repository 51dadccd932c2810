"""Live input: frames per second through the real path, on a generated video.

The Activations panel's live input, without the window: a thread drains a video file
(``engine.imaging.live.read_frames``) into a ``LatestFrame`` slot at the file's own pace (25
frames/s, 640x480, MJPG); the main thread takes the newest frame whenever the previous
one is done and runs what ``gui.state.compute_activations`` runs for it (the model's
preparation, then ``ActivationProbe.run`` of every layer, then the top-5). Frames the
model has no time for are dropped, as in the app.

For each model: the median milliseconds a frame (prepare + probe + top-5), frames shown
per second (rolling median of the intervals, as the app shows it), and frames read and
dropped. The lecture's MNIST CNN has its shipped trained weights; VGG16 and ResNet50
are untrained (``weights=None``: the same arithmetic, no download).

    .venv/bin/python bench/live.py [--seconds 20] [--cores 2] [--models mnist,vgg16,resnet50]
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import write_video  # noqa: E402


def open_model(key: str):
    from engine.inspection.activations import ActivationProbe
    from engine.models.zoo import load_zoo_model
    from gui.state import OpenModel

    loaded = load_zoo_model(key, weights=None)  # the digit models load their own weights
    return OpenModel(loaded, ActivationProbe(loaded.model))


def run_live(model, video: Path, seconds: float) -> dict:
    """Stream ``video`` into ``model`` for ``seconds``; the figures."""
    from engine.imaging.live import FpsMeter, LatestFrame, RollingMedian, read_frames
    from gui.state import InputImage, InputKind, compute_activations

    slot, stop = LatestFrame(), threading.Event()
    grabber = threading.Thread(
        target=read_frames, args=(video, slot.put, stop.is_set), kwargs={"on_open": slot.opened}
    )
    shown, per_frame = FpsMeter(window=1000), RollingMedian(1000)
    grabber.start()
    end = time.monotonic() + seconds
    try:
        while time.monotonic() < end:
            got = slot.take()
            if got is None:
                time.sleep(0.002)
                continue
            frame, _index = got
            t = time.perf_counter()
            compute_activations(model, InputImage(frame, InputKind.LIVE, video.name))
            per_frame.add(time.perf_counter() - t)
            shown.tick()
    finally:
        stop.set()
        grabber.join(10)
        slot.close()
    counts = slot.counts()
    return {
        "ms": per_frame.median() * 1000 if len(per_frame) else float("nan"),
        "fps": shown.fps() or 0.0,
        "shown": counts.taken,
        "read": counts.read,
        "dropped": counts.dropped,
        "source_fps": slot.fps,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=20.0, help="streaming time per model")
    parser.add_argument("--cores", type=int, default=2, help="CPU cores to run on (0: all)")
    parser.add_argument("--models", default="mnist,vgg16,resnet50")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    if args.cores and hasattr(os, "sched_setaffinity"):
        cores = sorted(os.sched_getaffinity(0))[: args.cores]
        os.sched_setaffinity(0, cores)
    import tensorflow as tf

    from gui.state import InputImage, InputKind, compute_activations

    if args.cores:
        tf.config.threading.set_intra_op_parallelism_threads(args.cores)
        tf.config.threading.set_inter_op_parallelism_threads(args.cores)
    n_cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        video = write_video(Path(tmp) / "scene.avi")
        for key in args.models.split(","):
            model = open_model(key)
            x = np.zeros((480, 640, 3), np.uint8)
            for _ in range(2):  # tracing and first allocations
                compute_activations(model, InputImage(x, InputKind.LIVE, "warm-up"))
            figures = run_live(model, video, args.seconds)
            rows.append(
                (model.loaded.title + ("" if model.loaded.trained else ", untrained"), figures)
            )
            print(f"  {key}: done", flush=True)
    print(
        f"\nLive input, a 640x480 MJPG video at 25 frames/s, {args.seconds:g} s per model, "
        f"{n_cores} cores, TensorFlow {tf.__version__}:"
    )
    print(
        f"{'model':<38} {'ms a frame':>10} {'frames/s':>9} {'shown':>6} {'read':>5} "
        f"{'dropped':>8} {'model-bound frames/s':>21}"
    )
    for title, f in rows:
        print(
            f"{title:<38} {f['ms']:10.1f} {f['fps']:9.2f} {f['shown']:6d} {f['read']:5d} "
            f"{f['dropped']:8d} {1000 / f['ms']:21.2f}"
        )
    print(
        "ms a frame: median of prepare + ActivationProbe.run (every layer) + top-5, as "
        "gui.state.compute_activations; frames/s: frames shown a second (rolling median of "
        "the intervals; at most the file's 25); model-bound: 1000 / ms a frame, what a faster "
        "source would get."
    )


if __name__ == "__main__":
    main()
