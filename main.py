"""Start the feature-map explorer, or use its engine from the command line (no Qt).

python main.py                                  # the app
python main.py --screenshot out.png --panel kernels
python main.py train --data mnist.npz --epochs 12 --out weights.weights.h5
python main.py train --model lenet5 --data mnist.npz --epochs 30 --augment
python main.py predict --model vgg16 --top 3 --json cat.jpg dog.jpg
python main.py activations --model mnist --image seven.png --out seven.npz
python main.py summary --model resnet50 --json
python main.py lecture --list                   # the lecture's steps
python main.py lecture --scene 6                # step 6 as the JSON Save scene writes
python main.py --screenshot slide6.png --slide 6 [--presenter]
"""

from __future__ import annotations

import argparse
import ctypes
import logging
import os
import sys
import time
from collections.abc import Callable, Mapping

PANELS = ("kernels", "stride", "draw", "activations", "testset")


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
        "--slide",
        type=int,
        metavar="N",
        help="with --screenshot: render step N of the lecture (main.py lecture --list)",
    )
    parser.add_argument(
        "--presenter",
        action="store_true",
        help="with --screenshot: in presenter mode at 1920x1080",
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
    _add_model_commands(sub)
    lecture = sub.add_parser(
        "lecture",
        help="the lecture's steps, headless",
        description="List the lecture's steps, or print one step's scene as the JSON that "
        "File > Save scene writes.",
    )
    what = lecture.add_mutually_exclusive_group(required=True)
    what.add_argument("--list", action="store_true", help="each step's number and title")
    what.add_argument("--scene", type=int, metavar="N", help="step N's scene as JSON")
    lecture.add_argument(
        "--file", metavar="LECTURE.json", help="another lecture (default: the course's)"
    )
    args = parser.parse_args(argv)
    if args.slide is not None and not args.screenshot:
        parser.error("--slide renders a screenshot: give --screenshot FILE.png too")
    return args


SCALINGS = ("auto", "raw", "unit", "symmetric", "caffe", "torch")


def _model_options(weights_default: str | None) -> argparse.ArgumentParser:
    """The options every model command shares: which model, its weights and input."""
    options = argparse.ArgumentParser(add_help=False)
    options.add_argument(
        "--model",
        required=True,
        metavar="KEY|FILE",
        help="a zoo model (mnist, lenet5, alexnet, googlenet, vgg16, vgg19, resnet50, "
        "inceptionv3, mobilenetv2, efficientnetb0, efficientnet_lite0, convnext_tiny; alexnet "
        "and googlenet are built from their papers, untrained; efficientnet_lite0's ImageNet "
        "weights come with the app) or a model file (.keras, .h5, .onnx)",
    )
    options.add_argument(
        "--weights",
        default=weights_default,
        metavar="imagenet|none|FILE",
        help="imagenet: the pretrained weights (for mnist and lenet5 their trained ones); "
        "none: random, untrained; or a weights file (default: "
        + (
            weights_default
            or "none for the ImageNet models, which need no download for a table, else imagenet"
        )
        + ")",
    )
    options.add_argument(
        "--scaling",
        default="auto",
        choices=SCALINGS,
        help="the pixel convention the model expects (default auto: the zoo model's own; "
        "for a Keras file, raw when it starts with Rescaling or Normalization, else unit; "
        "for an ONNX file of 3 channels NCHW, torch: torchvision's mean and std)",
    )
    options.add_argument(
        "--size",
        type=int,
        metavar="N",
        help="for a model that takes any input size: scale images so their shorter side "
        "is N pixels (default 224; the longer side at most 1024)",
    )
    options.add_argument(
        "--labels",
        metavar="FILE",
        help="class names, one a line (default: MODEL.labels.txt beside a model file)",
    )
    return options


def _add_model_commands(sub: argparse._SubParsersAction) -> None:
    """``predict``, ``activations`` and ``summary`` (cli.py runs them)."""
    predict = sub.add_parser(
        "predict",
        parents=[_model_options("imagenet")],
        help="the top classes of images, headless",
        description="Predict the classes of images. Progress and notes go to stderr.",
    )
    predict.add_argument("--top", type=int, default=5, metavar="K", help="classes per image")
    predict.add_argument("--json", action="store_true", help="one JSON document on stdout")
    predict.add_argument(
        "--batch-size", type=int, default=32, metavar="N", help="images per forward pass"
    )
    predict.add_argument("images", nargs="+", metavar="IMAGE")
    activations = sub.add_parser(
        "activations",
        parents=[_model_options("imagenet")],
        help="every layer's activation for an image, to an .npz",
        description="Write every (or each named) layer's activation for one image to an "
        ".npz keyed by layer name, batch axis removed.",
    )
    activations.add_argument("--image", required=True, metavar="IMAGE")
    activations.add_argument("--out", required=True, metavar="FILE.npz")
    activations.add_argument("--layers", metavar="NAME,...", help="only these layers")
    summary = sub.add_parser(
        "summary",
        parents=[_model_options(None)],
        help="the layer table: output shapes, parameters, MACs, blocks",
        description="The model's layers with type, output shape, parameters, "
        "multiply-accumulates and block, and the totals (weights do not change them).",
    )
    summary.add_argument("--json", action="store_true", help="one JSON document on stdout")


#: What Qt needs from the system on Linux to import at all (any platform plugin), and in
#: addition for X11 (the xcb plugin); with the Debian / Ubuntu package that has each.
QT_LIBRARIES = (
    ("libEGL.so.1", "libegl1"),
    ("libGL.so.1", "libgl1"),
    ("libfontconfig.so.1", "libfontconfig1"),
    ("libxkbcommon.so.0", "libxkbcommon0"),
)
QT_XCB_LIBRARIES = (
    ("libxcb.so.1", "libxcb1"),
    ("libX11-xcb.so.1", "libx11-xcb1"),
    ("libxcb-cursor.so.0", "libxcb-cursor0"),
    ("libxcb-icccm.so.4", "libxcb-icccm4"),
    ("libxcb-keysyms.so.1", "libxcb-keysyms1"),
    ("libxcb-image.so.0", "libxcb-image0"),
    ("libxcb-render-util.so.0", "libxcb-render-util0"),
    ("libxcb-randr.so.0", "libxcb-randr0"),
    ("libxcb-shape.so.0", "libxcb-shape0"),
    ("libxcb-shm.so.0", "libxcb-shm0"),
    ("libxcb-sync.so.1", "libxcb-sync1"),
    ("libxcb-xfixes.so.0", "libxcb-xfixes0"),
    ("libxcb-xkb.so.1", "libxcb-xkb1"),
    ("libxcb-util.so.1", "libxcb-util1"),
    ("libxkbcommon-x11.so.0", "libxkbcommon-x11-0"),
)


def will_use_xcb(env: Mapping[str, str]) -> bool:
    """True when Qt will open its window through X11 (the xcb platform plugin).

    >>> will_use_xcb({"DISPLAY": ":0"}), will_use_xcb({"DISPLAY": ":0", "WAYLAND_DISPLAY": "w"})
    (True, False)
    >>> will_use_xcb({"QT_QPA_PLATFORM": "xcb", "DISPLAY": ":0"}), will_use_xcb({})
    (True, False)
    """
    platform = env.get("QT_QPA_PLATFORM", "").split(";")[0].split(":")[0].strip()
    if platform:
        return platform == "xcb"
    # Unset: Qt 6 takes Wayland in a Wayland session, else X11 where there is a display.
    return bool(env.get("DISPLAY")) and not env.get("WAYLAND_DISPLAY")


def _loads(name: str) -> bool:
    try:
        ctypes.CDLL(name)
    except OSError:
        return False
    return True


def missing_qt_libraries(
    env: Mapping[str, str] = os.environ,
    platform: str = sys.platform,
    loads: Callable[[str], bool] = _loads,
) -> list[tuple[str, str]]:
    """The (library, Debian package) pairs Qt needs here that cannot be loaded.

    Only on Linux; the X11 ones only when Qt will use X11 (``will_use_xcb``).
    """
    if not platform.startswith("linux"):
        return []
    wanted = QT_LIBRARIES + (QT_XCB_LIBRARIES if will_use_xcb(env) else ())
    return [(lib, package) for lib, package in wanted if not loads(lib)]


def qt_libraries_message(missing: list[tuple[str, str]]) -> str:
    """One line naming what is missing and the ``apt-get install`` that fixes it: "Qt
    cannot open a window: libxcb-cursor.so.0 is missing. Install it with: sudo apt-get
    install libxcb-cursor0"."""
    libs = [lib for lib, _ in missing]
    names = libs[0] if len(libs) == 1 else ", ".join(libs[:-1]) + " and " + libs[-1]
    verb, it = ("is", "it") if len(libs) == 1 else ("are", "them")
    packages = " ".join(dict.fromkeys(package for _, package in missing))
    return (
        f"Qt cannot open a window: {names} {verb} missing. "
        f"Install {it} with: sudo apt-get install {packages}"
    )


def setup_logging() -> str:
    """Log to a rotating file in the user's data folder; return its path."""
    from logging.handlers import RotatingFileHandler

    from engine.util.paths import user_data_dir

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
    missing = missing_qt_libraries()
    if missing:  # instead of Qt's abort ("could not load the Qt platform plugin")
        print(qt_libraries_message(missing), file=sys.stderr)
        return 1
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
                if args.slide is not None:
                    window.save_slide_screenshot(args.screenshot, args.slide, args.presenter)
                else:
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
    if args.command is not None:
        import cli  # headless: no Qt

        return cli.run(args)
    return run_gui(args)


if __name__ == "__main__":
    sys.exit(main())
