"""Make ``mnist_fixture.npz``, the tests' own cut of MNIST (not a test; run it by hand).

Takes the first 1,000 training and the first 500 test digits of
``../shared/data/mnist_8k.npz`` (deterministic), in Keras' mnist layout, compressed:

    .venv/bin/python tools/make_mnist_fixture.py [SOURCE.npz]
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT.parent / "shared" / "data" / "mnist_8k.npz"
TARGET = ROOT / "tests" / "data" / "mnist_fixture.npz"
N_TRAIN, N_TEST = 1000, 500


def main(source: Path = SOURCE) -> None:
    with np.load(source, allow_pickle=False) as data:
        arrays = {
            "x_train": data["x_train"][:N_TRAIN].astype(np.uint8),
            "y_train": data["y_train"][:N_TRAIN].astype(np.uint8),
            "x_test": data["x_test"][:N_TEST].astype(np.uint8),
            "y_test": data["y_test"][:N_TEST].astype(np.uint8),
        }
    np.savez_compressed(TARGET, **arrays)
    size = TARGET.stat().st_size
    if size > 1_000_000:
        raise SystemExit(f"{TARGET.name} is {size:,} bytes; the limit is 1 MB")
    print(f"wrote {TARGET} ({size:,} bytes)")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else SOURCE)
