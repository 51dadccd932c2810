"""Start the feature-map explorer (or train the MNIST model headless).

python main.py                                  # the app
python main.py --screenshot out.png --panel kernels
python main.py train --data mnist.npz --epochs 12 --out weights.weights.h5
python main.py train --model lenet5 --data mnist.npz --epochs 30 --augment
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time

PANELS = ("kernels", "stride", "draw", "activations")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="feature-map-explorer",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--screenshot", metavar="FILE.png", help="render the window offscreen to FILE.png and exit"
    )
    parser.add_argument(
        "--panel", default="kernels", choices=PANELS, help="the panel to show (default: kernels)"
    )
    parser.add_argument(
        "--timing",
        action="store_true",
        help="print when the window is shown and TensorFlow is ready, then exit",
    )
    sub = parser.add_subparsers(dest="command")
    train = sub.add_parser("train", help="train a digit model (MNIST CNN, LeNet-5) without the GUI")
    train.add_argument(
        "--model",
        default="mnist",
        choices=("mnist", "lenet5"),
        help="the lecture's MNIST CNN (default) or LeNet-5",
    )
    train.add_argument("--data", help="an .npz in Keras' mnist layout (default: Keras' cache)")
    train.add_argument("--epochs", type=int, default=12)
    train.add_argument("--batch-size", type=int, default=128)
    train.add_argument(
        "--augment",
        action="store_true",
        help="random small shifts, rotations and zooms of the training digits",
    )
    train.add_argument(
        "--lr-decay",
        action="store_true",
        help="lower the learning rate along a cosine to 0 over the epochs",
    )
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--out", help="weights file to write (default: the user's data folder)")
    return parser.parse_args(argv)


def setup_logging() -> str:
    """Log to a rotating file in the user's data folder; return its path."""
    from logging.handlers import RotatingFileHandler

    from engine.paths import user_data_dir

    path = user_data_dir() / "logs" / "app.log"
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = RotatingFileHandler(path, maxBytes=1_000_000, backupCount=3, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.setLevel(logging.INFO)
    root.addHandler(handler)
    return str(path)


def run_gui(args: argparse.Namespace) -> int:
    if args.screenshot or args.timing:
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    app = QApplication(sys.argv[:1])
    from gui.settings import configure_settings

    configure_settings()
    log_path = setup_logging()

    from gui.errors import ErrorReporter
    from gui.main_window import MainWindow

    window = MainWindow(remember=not (args.screenshot or args.timing))
    ErrorReporter(window, log_path).install()
    if args.timing:
        window.shown.connect(lambda: print(f"window_shown {time.time():.4f}", flush=True))

        def ready(_v: str) -> None:
            print(f"tensorflow_ready {time.time():.4f}", flush=True)
            window.close()

        window.state.tensorflow_ready.connect(ready)
    window.show()
    if args.screenshot:

        def shoot() -> None:
            try:
                window.save_screenshot(args.screenshot, args.panel)
                print(f"wrote {args.screenshot}")
                app.exit(0)
            except Exception as exc:  # the exit code tells the caller
                print(f"screenshot failed: {exc}", file=sys.stderr)
                app.exit(1)
            finally:
                window.close()

        QTimer.singleShot(0, shoot)
    return app.exec()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.command == "train":
        import cli  # headless: no Qt

        return cli.train_cli(args)
    return run_gui(args)


if __name__ == "__main__":
    sys.exit(main())
