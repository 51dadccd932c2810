"""The headless commands of ``main.py`` (no Qt): ``train``, ``predict``, ``activations``
and ``summary``.

``--model`` is a zoo key, a Keras model file (.keras, .h5) or an ONNX file (.onnx, run by
ONNX Runtime: ``engine.models.onnx_model``); ``summary``'s blocks are the model's
single-entry regions (``engine.inspection.blocks``).

Results go to stdout (with ``--json``, exactly one JSON document); progress and notes to
stderr; an error the person can fix (a missing or damaged file, a bad option, no network
for pretrained weights) is one line on stderr naming the file and the problem, with exit
status 2, so a script can tell. ``train`` prints its epochs to stdout, as it always has.
TensorFlow's start-up chatter is silenced.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import sys
from collections.abc import Callable, Iterator
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from engine.models.mnist_data import MnistDataError, load_mnist
from engine.models.mnist_model import MNIST
from engine.models.training import TrainRecord, train_mnist

if TYPE_CHECKING:
    from engine.models.zoo import LoadedModel

#: Exit status for an error the person can fix (bad data file, bad option, disk full).
EXIT_ERROR = 2


class CliError(Exception):
    """An error the person can fix; its message is the one line printed."""


def _error(message: str) -> int:
    line = " ".join(str(message).split())  # one line, whatever the message holds
    print(f"error: {line}", file=sys.stderr)
    return EXIT_ERROR


def _progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def quiet_tensorflow() -> None:
    """Import TensorFlow and Keras without their start-up chatter on stderr.

    ``TF_CPP_MIN_LOG_LEVEL`` no longer hides the lines TensorFlow's C++ side writes while
    it loads (oneDNN's notice, "All log messages before absl::InitializeLog()"), so stderr
    is pointed at the null device for the import; absl's Python logging is then set to
    errors only. An import that fails still raises, with stderr back.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if "keras" not in sys.modules:
        sys.stderr.flush()
        saved = os.dup(2)
        try:
            with open(os.devnull, "w") as null:
                os.dup2(null.fileno(), 2)
                try:
                    import keras  # noqa: F401  (imports TensorFlow, its backend)
                finally:
                    os.dup2(saved, 2)
        finally:
            os.close(saved)
    import absl.logging

    absl.logging.set_verbosity(absl.logging.ERROR)


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


# -- predict, activations, summary ---------------------------------------------------------
def _load_model(args: argparse.Namespace, notes: bool = True) -> LoadedModel:
    """The model the options name, or a ``CliError`` that says why not; with ``notes``,
    what must be said about it (untrained, a guessed convention, ...) goes to stderr."""
    from engine.models.zoo import (
        APPLICATIONS,
        MODEL_TITLES,
        ModelLoadError,
        PretrainedUnavailable,
        load_model,
    )

    if args.weights is None:  # summary: an ImageNet model's table needs no download
        weights: str | None = None if args.model in APPLICATIONS else "imagenet"
    else:
        weights = {"imagenet": "imagenet", "none": None}.get(args.weights, args.weights)
    if args.size is not None and args.size < 1:
        raise CliError(f"--size must be >= 1. Received: --size {args.size}")
    _progress(f"loading {MODEL_TITLES.get(args.model, args.model)}…")
    scaling = None if args.scaling == "auto" else args.scaling
    try:
        if Path(args.model).suffix.lower() == ".onnx":
            loaded = _load_onnx(args, scaling)
        else:
            # Keras prints its download progress to stdout, which holds the results.
            with contextlib.redirect_stdout(sys.stderr):
                loaded = load_model(
                    args.model, weights, scaling=scaling, size=args.size, labels=args.labels
                )
    except PretrainedUnavailable as exc:
        raise CliError(f"{exc} (--weights FILE or --weights none)") from exc
    except (ModelLoadError, ValueError, OSError) as exc:
        raise CliError(str(exc)) from exc
    if notes:
        for note in (loaded.note, loaded.output_note):
            if note and not note.startswith("from "):
                _progress(f"note: {note}")
        if loaded.scaling_source.value in ("guessed", "detected"):
            _progress(f"note: {loaded.scaling_note}")
    return loaded


def _load_onnx(args: argparse.Namespace, scaling: str | None) -> LoadedModel:
    """An ONNX file (``engine.models.onnx_model``): its weights are in it."""
    from engine.models.onnx_model import load_onnx

    if args.weights not in (None, "imagenet"):
        raise CliError(
            f"'{Path(args.model).name}' is an ONNX file with its own weights: --weights is "
            "for the zoo's models and Keras files"
        )
    return load_onnx(args.model, scaling, args.size, args.labels)


def _read_image(path: str) -> np.ndarray:
    from engine.imaging.images import ImageLoadError, load_image

    try:
        return load_image(path)
    except ImageLoadError as exc:
        raise CliError(str(exc)) from exc


def _batches(items: list[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _forward_all(loaded: LoadedModel, xs: list[np.ndarray]) -> list[np.ndarray]:
    """The first output of each prepared input; inputs of one shape share a forward pass
    (a model of any input size gets images of several shapes)."""
    outputs: list[np.ndarray | None] = [None] * len(xs)
    by_shape: dict[tuple[int, ...], list[int]] = {}
    for i, x in enumerate(xs):
        by_shape.setdefault(x.shape, []).append(i)
    for indices in by_shape.values():
        out = loaded.forward(np.stack([xs[i] for i in indices]))
        for i, row in zip(indices, out, strict=True):
            outputs[i] = row
    return [o for o in outputs if o is not None]


def _prediction_json(image: str, reading: Any) -> dict[str, Any]:
    result: dict[str, Any] = {
        "image": image,
        "top": [
            {"index": p.index, "label": p.label, "probability": p.probability} for p in reading.top
        ],
    }
    if reading.kind.value == "values":  # not a classifier: its output, as it is
        result["values"] = np.asarray(reading.values, dtype=np.float64).tolist()
    return result


def _prediction_text(image: str, reading: Any) -> str:
    lines = [image]
    if reading.kind.value == "values":
        values = np.asarray(reading.values, dtype=np.float64)
        shown = np.array2string(values.ravel()[:20], precision=4, separator=", ")
        more = f" … ({values.size} values, shape {values.shape})" if values.size > 20 else ""
        lines.append(f"  values: {shown}{more}")
    lines += [
        f"  {p.probability:8.2%}  {p.label}" + ("" if p.label == str(p.index) else f" ({p.index})")
        for p in reading.top
    ]
    return "\n".join(lines)


def predict_cli(args: argparse.Namespace) -> int:
    """``python main.py predict``: the top ``--top`` classes of each image.

    With ``--json`` stdout holds one document: ``{"model", "input_scaling", "results":
    [{"image", "top": [{"index", "label", "probability"}]}]}`` (an output that is not
    class scores has an empty ``top`` and its ``values``).
    """
    if args.top < 1 or args.batch_size < 1:
        return _error(
            f"--top and --batch-size must be >= 1. Received: {args.top}, {args.batch_size}"
        )
    for image in args.images:
        if not Path(image).is_file():
            return _error(f"'{image}' does not exist or is not a file")
    try:
        loaded = _load_model(args)
        results, notes = [], {}
        done = 0
        for batch in _batches(args.images, args.batch_size):
            xs = [loaded.prepare(_read_image(image)) for image in batch]
            for image, out in zip(batch, _forward_all(loaded, xs), strict=True):
                reading = loaded.read_output(out, args.top)
                if reading.note and reading.note not in notes:
                    notes[reading.note] = True
                    _progress(f"note: {reading.note}")
                if args.json:
                    results.append(_prediction_json(image, reading))
                else:
                    print(_prediction_text(image, reading), flush=True)
            done += len(batch)
            if len(args.images) > 1:
                _progress(f"{done}/{len(args.images)} images")
    except CliError as exc:
        return _error(str(exc))
    if args.json:
        document = {
            "model": args.model,
            "input_scaling": loaded.spec.scaling.value,
            "results": results,
        }
        print(json.dumps(document))
    return 0


def activations_cli(args: argparse.Namespace) -> int:
    """``python main.py activations``: every (or each ``--layers``) layer's activation for
    ``--image``, batch axis removed, to the .npz ``--out``, keyed by layer name."""
    if not Path(args.image).is_file():
        return _error(f"'{args.image}' does not exist or is not a file")
    try:
        loaded = _load_model(args)
        from engine.inspection.activations import ActivationProbe, layer_summary

        names = [row.name for row in layer_summary(loaded.model)]
        wanted = None
        if args.layers:
            wanted = [n.strip() for n in args.layers.split(",") if n.strip()]
            unknown = [n for n in wanted if n not in names]
            if unknown or not wanted:
                listed = ", ".join(names[:12]) + (", …" if len(names) > 12 else "")
                raise CliError(
                    f"'{args.model}' has no layer {', '.join(map(repr, unknown)) or '(none named)'}"
                    f"; its layers: {listed}"
                )
        x = loaded.prepare(_read_image(args.image))
        count = len(wanted or names)
        _progress(f"running {count} layer{'s' if count != 1 else ''} on {Path(args.image).name}…")
        acts = dict(ActivationProbe(loaded.model, wanted).run(x))
    except CliError as exc:
        return _error(str(exc))
    from engine.util.files import atomic_write

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as fh:  # a file object: numpy adds no ".npz" to the name
            np.savez(fh, **acts)

    try:
        atomic_write(args.out, write)
    except OSError as exc:
        return _error(f"'{args.out}' could not be written: {exc.strerror or exc}")
    print(f"wrote the activations of {len(acts)} layers to {args.out}")
    return 0


def summary_table(loaded: LoadedModel) -> dict[str, Any]:
    """The ``summary --json`` document: every layer's name, type, output shape, params,
    MACs and block (``engine.inspection.blocks``: the model's single-entry regions), and
    the totals."""
    from engine.inspection.activations import layer_summary
    from engine.inspection.architecture import model_graph
    from engine.inspection.blocks import block_names

    graph = model_graph(loaded.model)
    macs = {node.name: node.macs for node in graph.nodes}
    blocks = block_names(graph)
    return {
        "layers": [
            {
                "name": row.name,
                "type": row.type,
                "output_shape": list(row.output_shape),
                "params": row.params,
                "macs": int(macs.get(row.name, 0)),
                "block": blocks.get(row.name, row.name),
            }
            for row in layer_summary(loaded.model)
        ],
        "total_params": int(graph.total_params),
        "total_macs": int(graph.total_macs),
        "device": _device(loaded),
    }


def _device(loaded: LoadedModel) -> str:
    """Which device runs the model: ONNX Runtime's CPU, or TensorFlow's device."""
    from engine.models.runtime import device_name

    return "CPU (ONNX Runtime)" if _is_onnx(loaded) else device_name()


def _is_onnx(loaded: LoadedModel) -> bool:
    from engine.models.onnx_model import is_onnx

    return is_onnx(loaded.model)


def summary_cli(args: argparse.Namespace) -> int:
    """``python main.py summary``: the layer table (``--json``: one document)."""
    try:
        loaded = _load_model(args, notes=False)  # the table does not depend on weights
        table = summary_table(loaded)
    except CliError as exc:
        return _error(str(exc))
    if args.json:
        print(json.dumps(table))
        return 0

    def shape(dims: list[int | None]) -> str:
        return "(" + ", ".join("None" if d is None else str(d) for d in dims) + ")"

    rows = [
        (f"{r['name']} ({r['type']})", shape(r["output_shape"]), r["params"], r["macs"], r["block"])
        for r in table["layers"]
    ]
    width = max([len("Layer (type)"), *(len(r[0]) for r in rows)])
    print(f"Model: {loaded.title}, input {shape(list(loaded.input_shape))}")
    print(f"{'Layer (type)':<{width}}  {'Output shape':<18} {'Params':>12} {'MACs':>15}  Block")
    for name, out, params, macs, block in rows:
        print(f"{name:<{width}}  {out:<18} {params:>12,} {macs:>15,}  {block}")
    print(f"Total params: {table['total_params']:,}")
    print(f"Total MACs: {table['total_macs']:,} (multiply-accumulates for one image)")
    print(f"Runs on: {table['device']}")
    if loaded.spec.free_size and _is_onnx(loaded):
        h, w = loaded.spec.size_for(loaded.spec.short_side or 224, loaded.spec.short_side or 224)
        print(f"(the input size is free: MACs at {h}x{w}, --size to choose)")
    elif loaded.spec.free_size:
        print("(the input size is free: MACs count one position of each unsized map)")
    return 0


#: The commands ``run`` knows, by name.
def lecture_cli(args: argparse.Namespace) -> int:
    """``lecture --list``: each step's number and title; ``lecture --scene N``: step N's
    scene as the JSON that File > Save scene writes. No TensorFlow, no Qt."""
    from engine.teaching.scene import LECTURE_FILE, SceneError, dumps, read_lecture

    try:
        lecture = read_lecture(args.file or LECTURE_FILE)
    except SceneError as exc:
        return _error(str(exc))
    if args.list:
        print(lecture.title)
        for i, step in enumerate(lecture.steps, start=1):
            print(f"{i:3d}  {step.get('title', '')}  [{step['panel']}]")
        return 0
    if not 1 <= args.scene <= len(lecture.steps):
        return _error(f"the lecture has steps 1 to {len(lecture.steps)}; there is no {args.scene}")
    print(dumps(lecture.steps[args.scene - 1]))
    return 0


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "lecture": lecture_cli,
    "train": train_cli,
    "predict": predict_cli,
    "activations": activations_cli,
    "summary": summary_cli,
}


def run(args: argparse.Namespace) -> int:
    """Run the command ``args.command`` (parsed by ``main.parse_args``)."""
    if args.command == "lecture":  # needs no TensorFlow
        return lecture_cli(args)
    try:
        quiet_tensorflow()
    except ImportError as exc:
        return _error(f"TensorFlow could not be imported: {exc}")
    return COMMANDS[args.command](args)
