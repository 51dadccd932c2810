"""Start-up time: process start -> window shown, and -> TensorFlow imported.

Runs ``main.py --timing`` (offscreen) several times and prints the medians.

    .venv/bin/python bench/startup.py [--runs 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def one_run() -> tuple[float, float]:
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    t0 = time.time()
    out = subprocess.run(
        [sys.executable, str(ROOT / "main.py"), "--timing"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=True,
    ).stdout
    marks = dict(line.split() for line in out.splitlines() if line.count(" ") == 1)
    return float(marks["window_shown"]) - t0, float(marks["tensorflow_ready"]) - t0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    one_run()  # warm the OS file cache, as a second start of the app would be
    runs = [one_run() for _ in range(args.runs)]
    shown = statistics.median(r[0] for r in runs)
    ready = statistics.median(r[1] for r in runs)
    print(f"runs: {args.runs} (after one warm-up run), {os.cpu_count()} CPU cores")
    print(
        f"window shown:      median {shown:.2f} s  (all: {', '.join(f'{r[0]:.2f}' for r in runs)})"
    )
    print(
        f"TensorFlow ready:  median {ready:.2f} s  (all: {', '.join(f'{r[1]:.2f}' for r in runs)})"
    )
    print(f"goal: window shown within 1.5 s -> {'met' if shown <= 1.5 else 'NOT met'}")


if __name__ == "__main__":
    main()
