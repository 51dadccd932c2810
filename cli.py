"""The headless commands of ``main.py`` (no Qt): ``python main.py train ...``.

Progress goes to stdout, errors to stderr with exit status 2, so a script can tell.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from dataclasses import asdict
from pathlib import Path

from engine.mnist_data import MnistDataError, load_mnist
from engine.mnist_model import MNIST
from engine.training import TrainRecord, train_mnist

#: Exit status for an error the person can fix (bad data file, bad option, disk full).
EXIT_ERROR = 2


def _error(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return EXIT_ERROR


def train_cli(args: argparse.Namespace) -> int:
    """``python main.py train``: train, print progress, save the weights atomically.

    ``args`` has ``data``, ``epochs``, ``batch_size``, ``out``, ``augment`` and ``seed``,
    and may have ``model`` (default the MNIST CNN) and ``lr_decay`` (see
    ``main.parse_args``). Prints one line per epoch and the ``TrainResult`` as JSON.
    """
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        data = load_mnist(args.data)
    except MnistDataError as exc:
        return _error(str(exc))

    def on_record(r: TrainRecord) -> None:
        if r.kind == "epoch":
            print(
                f"epoch {r.epoch}/{r.epochs}: loss {r.loss:.4f} acc {r.accuracy:.4f} "
                f"val_loss {r.val_loss:.4f} val_acc {r.val_accuracy:.4f} "
                f"({r.elapsed_s:.0f} s, ~{r.seconds_left:.0f} s left)",
                flush=True,
            )

    try:
        result = train_mnist(
            data,
            epochs=args.epochs,
            batch_size=args.batch_size,
            out_path=args.out,
            augment=args.augment,
            seed=args.seed,
            on_record=on_record,
            model_key=getattr(args, "model", MNIST),
            lr_decay=getattr(args, "lr_decay", False),
        )
    except (ValueError, OSError) as exc:  # MnistDataError is a ValueError
        return _error(str(exc))
    print(json.dumps({k: str(v) if isinstance(v, Path) else v for k, v in asdict(result).items()}))
    return 0
