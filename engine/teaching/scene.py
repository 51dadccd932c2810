"""Scenes and lectures: a panel's state as a small JSON document, and a list of them.

A scene names the panel and what it shows (the Kernel lab's input and kernels, the
Stride panel's set-up, a model, layer, map and tab), with a title and a caption. Saving
a scene writes it; opening one puts the app into it; a lecture is a title and a list of
scenes, stepped like slides. The lecture of the course ships as
``resources/lecture/lecture.json``. No Qt and no TensorFlow here: ``main.py lecture``
reads them headless.

>>> scene = check_scene({"panel": "stride", "size": 7, "kernel": [[1, 0, 1]] * 3,
...                      "stride": 2, "padding": 0, "operation": "convolution"})
>>> scene["panel"], scene["stride"]
('stride', 2)
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from engine.arithmetic.kernels import KERNEL_SIZES
from engine.util.files import atomic_write
from engine.util.paths import RESOURCES

PANELS = ("kernels", "stride", "draw", "activations", "testset")
#: The Stride panel's operations, as a scene writes them, and the panel's keys for them.
OPERATIONS = {"convolution": "conv", "max pooling": "max", "average pooling": "avg"}
#: The Activations panel's tabs, as a scene names them.
ACTIVATIONS_TABS = (
    "maps",
    "map",
    "filters",
    "explain",
    "wants",
    "edit",
    "blocks",
    "architecture",
)
KERNEL_LAB_TABS = ("maps", "mlp", "numbers")
DRAW_TABS = ("maps", "model")
DRAW_MODELS = ("mnist", "lenet5", "both")
#: Dialogs a scene can open beside its panel.
DIALOGS = ("compare", "residual")
#: The largest input a scene holds as numbers (32x32, or 32x32x3).
MAX_INPUT_SIDE = 32
#: The Stride panel's largest N.
MAX_STRIDE_SIZE = 32
#: How many scenes a lecture may hold (a typo'd file should not allocate forever).
MAX_STEPS = 500

LECTURE_FILE = RESOURCES / "lecture" / "lecture.json"


class SceneError(ValueError):
    """A scene or lecture that cannot be used; ``str()`` is one sentence naming the field."""

    def __init__(self, field_name: str, problem: str) -> None:
        self.field = field_name
        self.problem = problem
        super().__init__(f'The scene\'s "{field_name}" {problem}.')


@dataclass
class Lecture:
    """A lecture: its title and its steps (scenes with titles and captions), in order."""

    title: str
    steps: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"title": self.title, "steps": self.steps}


def plain(values: Any) -> Any:
    """An array as JSON lists, whole numbers written without ".0".

    >>> plain(np.array([[1.0, 0.5], [-2.0, 0.0]]))
    [[1, 0.5], [-2, 0]]
    """
    a = np.asarray(values)
    if a.ndim == 0:
        v = a.item()
        return int(v) if isinstance(v, float) and v.is_integer() else v
    return [plain(row) for row in a]


# -- checking ----------------------------------------------------------------------------
def _number(value: object) -> bool:
    return (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and math.isfinite(float(value))
    )


def _int(scene: dict[str, Any], name: str, lo: int, hi: int) -> None:
    if name not in scene:
        return
    value = scene[name]
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise SceneError(name, f"must be a whole number from {lo} to {hi}, not {value!r}")


def _text(scene: dict[str, Any], name: str) -> None:
    if name in scene and not isinstance(scene[name], str):
        raise SceneError(name, f"must be text, not {scene[name]!r}")


def _choice(scene: dict[str, Any], name: str, choices: tuple[str, ...]) -> None:
    if name in scene and scene[name] not in choices:
        raise SceneError(name, f"must be one of {', '.join(choices)}, not {scene[name]!r}")


def _grid(
    value: object, name: str, max_side: int, colour: bool = False, pixels: bool = True
) -> list[list[Any]]:
    """A rectangular list of rows of numbers (or of [r, g, b] with ``colour``: pixel
    values 0..255, or any numbers for a kernel's slices with ``pixels=False``)."""
    if not isinstance(value, list) or not value or not all(isinstance(r, list) for r in value):
        raise SceneError(name, "must be a list of rows, each a list of numbers")
    width = len(value[0])
    if width == 0 or any(len(r) != width for r in value):
        raise SceneError(name, "must have rows of one length, none empty")
    if len(value) > max_side or width > max_side:
        raise SceneError(name, f"is {len(value)}x{width}; at most {max_side}x{max_side} is allowed")
    for r, row in enumerate(value):
        for c, cell in enumerate(row):
            if _number(cell):
                continue
            # A pixel is [r, g, b]; a kernel's cell has a weight per input channel.
            deep = isinstance(cell, list) and (len(cell) == 3 or (not pixels and cell))
            if colour and deep and all(_number(v) and (not pixels or 0 <= v <= 255) for v in cell):
                continue
            what = "a number or [r, g, b]" + (" (0..255)" if pixels else "")
            what = what if colour else "a number"
            raise SceneError(name, f"has {cell!r} in row {r}, column {c}, which is not {what}")
    kinds = {isinstance(cell, list) for row in value for cell in row}
    if len(kinds) > 1:
        raise SceneError(name, "mixes numbers and [r, g, b] cells")
    return value


def _padding(scene: dict[str, Any]) -> None:
    if "padding" not in scene:
        return
    value = scene["padding"]
    if value in ("valid", "same"):
        return
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 8:
        raise SceneError("padding", f'must be "valid", "same" or 0 to 8, not {value!r}')


def check_scene(data: object) -> dict[str, Any]:
    """``data`` as a scene, or a ``SceneError`` naming the first field that is wrong.

    Fields the panel does not use are kept (a later version may read them).
    """
    if not isinstance(data, dict):
        raise SceneError("scene", "must be a JSON object {...}")
    scene = dict(data)
    if "panel" not in scene:
        raise SceneError("panel", f"is missing; it names the panel ({', '.join(PANELS)})")
    _choice(scene, "panel", PANELS)
    for name in ("title", "caption", "image", "model", "model_file", "weights", "layer"):
        _text(scene, name)
    _choice(scene, "dialog", DIALOGS)
    if "controls" in scene and not isinstance(scene["controls"], bool):
        raise SceneError("controls", f"must be true or false, not {scene['controls']!r}")
    panel = scene["panel"]
    if panel == "kernels":
        if "input" in scene:
            _grid(scene["input"], "input", MAX_INPUT_SIDE, colour=True)
        if "kernels" in scene:
            kernels = scene["kernels"]
            if not isinstance(kernels, list) or not kernels:
                raise SceneError("kernels", "must be a list of kernels, each a list of rows")
            sizes = set()
            for i, k in enumerate(kernels):
                _grid(k, f"kernels[{i}]", max(KERNEL_SIZES), colour=True, pixels=False)
                if len(k) != len(k[0]) or len(k) not in KERNEL_SIZES:
                    raise SceneError(f"kernels[{i}]", "must be square: 3x3, 5x5 or 7x7")
                sizes.add(len(k))
            if len(sizes) > 1:
                raise SceneError("kernels", "must all have one size (they stack into one layer)")
        _layers(scene)
        _int(scene, "stride", 1, 8)
        _int(scene, "size", 2, 512)
        _padding(scene)
        for flag in ("relu", "colour"):
            if flag in scene and not isinstance(scene[flag], bool):
                raise SceneError(flag, f"must be true or false, not {scene[flag]!r}")
        kernels = scene.get("kernels", [])
        depths = {isinstance(k[0][0], list) for k in kernels}
        if len(depths) > 1:
            raise SceneError("kernels", "mixes F x F and F x F x 3 kernels")
        if "colour" in scene and depths and scene["colour"] != depths.pop():
            raise SceneError("colour", "does not match the kernels (F x F x 3 is colour)")
        _choice(scene, "tab", KERNEL_LAB_TABS)
        _int(scene, "selected", 0, 1000)
        _cell(scene)
    elif panel == "stride":
        _int(scene, "size", 3, MAX_STRIDE_SIZE)
        _int(scene, "filter", 1, 7)
        _int(scene, "stride", 1, 8)
        _int(scene, "step", 0, 10_000)
        _padding(scene)
        _choice(scene, "operation", tuple(OPERATIONS))
        if "kernel" in scene:
            k = _grid(scene["kernel"], "kernel", 7)
            if len(k) != len(k[0]):
                raise SceneError("kernel", "must be square")
            if "filter" in scene and scene["filter"] != len(k):
                n = len(k)
                raise SceneError("filter", f"is {scene['filter']} but the kernel is {n}x{n}")
        if "input" in scene:
            grid = _grid(scene["input"], "input", MAX_STRIDE_SIZE)
            if len(grid) != len(grid[0]) or len(grid) < 3:
                raise SceneError("input", "must be square (N x N), at least 3x3")
            if "size" in scene and scene["size"] != len(grid):
                n = len(grid)
                raise SceneError("size", f"is {scene['size']} but the input is {n}x{n}")
    elif panel == "draw":
        _choice(scene, "model", DRAW_MODELS)
        _choice(scene, "tab", DRAW_TABS)
        _int(scene, "test_digit", 0, 100_000)
        if "digit" in scene:
            grid = _grid(scene["digit"], "digit", 28)
            if len(grid) != 28 or len(grid[0]) != 28:
                raise SceneError("digit", "must be 28x28 (rows of 0..255)")
        if "explain" in scene and not isinstance(scene["explain"], bool):
            raise SceneError("explain", f"must be true or false, not {scene['explain']!r}")
    elif panel == "activations":
        _choice(scene, "tab", ACTIVATIONS_TABS)
        _choice(scene, "weights", ("imagenet", "none"))
        _int(scene, "map", 0, 1_000_000)
        _int(scene, "test_digit", 0, 100_000)
        if "model" in scene and "model_file" in scene:
            raise SceneError("model_file", 'cannot go with "model": name one of them')
    return scene


def _layers(scene: dict[str, Any]) -> None:
    """Later layers (``"layers"``): lists of kernels, each with a slice per map of the
    layer before (10 kernels 5x5x6 after 6 kernels)."""
    if "layers" not in scene:
        _int(scene, "layer_shown", 0, 0)
        return
    layers = scene["layers"]
    if not isinstance(layers, list) or "kernels" not in scene:
        raise SceneError("layers", 'must be a list of layers after "kernels", each a list')
    before = len(scene["kernels"])
    for n, layer in enumerate(layers, start=2):
        name = f"layers[{n - 2}]"
        if not isinstance(layer, list) or not layer:
            raise SceneError(name, "must be a list of kernels")
        sizes = set()
        for i, k in enumerate(layer):
            _grid(k, f"{name}[{i}]", max(KERNEL_SIZES), colour=True, pixels=False)
            depth = len(k[0][0]) if isinstance(k[0][0], list) else 1
            if len(k) != len(k[0]) or len(k) not in KERNEL_SIZES:
                raise SceneError(f"{name}[{i}]", "must be square: 3x3, 5x5 or 7x7")
            if depth != before:
                raise SceneError(
                    f"{name}[{i}]",
                    f"has {depth} slice(s) per cell; layer {n} takes the {before} maps before it",
                )
            sizes.add(len(k))
        if len(sizes) > 1:
            raise SceneError(name, "must have kernels of one size")
        before = len(layer)
    _int(scene, "layer_shown", 0, len(layers))


def _cell(scene: dict[str, Any]) -> None:
    if "cell" not in scene:
        return
    cell = scene["cell"]
    if (
        not isinstance(cell, list)
        or len(cell) != 2
        or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in cell)
    ):
        raise SceneError("cell", f"must be [row, column] counted from 0, not {cell!r}")


# -- files -------------------------------------------------------------------------------
def _read_json(path: str | os.PathLike[str]) -> Any:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SceneError("file", f"{path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SceneError("file", f"{path} cannot be read ({exc})") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise SceneError(
            "file", f"{path.name} is not JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})"
        ) from None


def _depth(value: Any) -> int:
    if isinstance(value, dict):
        return 99
    if isinstance(value, list):
        return 1 + max((_depth(v) for v in value), default=0)
    return 0


def dumps(data: Any, indent: str = "", parent_depth: int = 0) -> str:
    """JSON with one key a line and each row of a grid on one line (a kernel reads as a
    kernel, by hand too; a colour image writes a row of [r, g, b] a line).

    >>> print(dumps({"kernel": [[1, 0], [0, 1]]}))
    {
     "kernel": [
      [1, 0],
      [0, 1]
     ]
    }
    """
    inner = indent + " "
    depth = _depth(data)
    if isinstance(data, dict) and data:
        items = [f"{inner}{json.dumps(k)}: {dumps(v, inner, depth)}" for k, v in data.items()]
        return "{\n" + ",\n".join(items) + f"\n{indent}}}"
    one_line = depth <= 1 or (depth == 2 and parent_depth == 3)
    if isinstance(data, list) and data and not one_line:
        items = [f"{inner}{dumps(v, inner, depth)}" for v in data]
        return "[\n" + ",\n".join(items) + f"\n{indent}]"
    return json.dumps(data, ensure_ascii=False)


def _write_json(path: str | os.PathLike[str], data: Any) -> Path:
    text = dumps(data) + "\n"
    return atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def read_file(path: str | os.PathLike[str]) -> dict[str, Any] | Lecture:
    """The scene in ``path``, or the lecture (an object with ``"steps"`` and no
    ``"panel"``): what File > Open scene or lecture opens, the file read once."""
    data = _read_json(path)
    if isinstance(data, dict) and "steps" in data and "panel" not in data:
        return check_lecture(data)
    return check_scene(data)


def read_scene(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The scene in ``path`` (a lecture file is not one: a ``SceneError`` says so)."""
    item = read_file(path)
    if isinstance(item, Lecture):
        raise SceneError("panel", "is missing: this file is a lecture (open it as one)")
    return item


def write_scene(path: str | os.PathLike[str], scene: dict[str, Any]) -> Path:
    """Write ``scene`` to ``path`` (whole or not at all)."""
    return _write_json(path, check_scene(scene))


def check_lecture(data: object) -> Lecture:
    """``data`` as a lecture; a ``SceneError`` names the step and field that is wrong."""
    if not isinstance(data, dict):
        raise SceneError("lecture", 'must be a JSON object {"title": ..., "steps": [...]}')
    steps = data.get("steps")
    if not isinstance(steps, list):
        raise SceneError("steps", "must be a list of scenes")
    if len(steps) > MAX_STEPS:
        raise SceneError("steps", f"has {len(steps)} scenes; at most {MAX_STEPS} are allowed")
    title = data.get("title", "")
    if not isinstance(title, str):
        raise SceneError("title", f"must be text, not {title!r}")
    checked = []
    for i, step in enumerate(steps, start=1):
        try:
            checked.append(check_scene(step))
        except SceneError as exc:
            raise SceneError(f"steps[{i}].{exc.field}", exc.problem) from None
    return Lecture(title, checked)


def read_lecture(path: str | os.PathLike[str] = LECTURE_FILE) -> Lecture:
    """The lecture in ``path`` (default: the course's, shipped with the app)."""
    return check_lecture(_read_json(path))


def write_lecture(path: str | os.PathLike[str], lecture: Lecture) -> Path:
    """Write ``lecture`` to ``path`` (whole or not at all)."""
    return _write_json(path, check_lecture(lecture.to_json()).to_json())
