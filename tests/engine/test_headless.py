"""The engine never imports Qt, nor TensorFlow at import time; its doctests pass.

Each import check runs in a fresh interpreter, so what this test process has already
imported cannot hide anything.
"""

import doctest
import importlib
import json
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import engine

ROOT = Path(__file__).resolve().parents[2]
ENGINE_MODULES = sorted(
    m.name
    for m in pkgutil.walk_packages(engine.__path__, "engine.")
    if m.name != "engine.resources"
)
FORBIDDEN = ("PySide6", "pyqtgraph", "gui", "tensorflow", "keras")


def _imports_leave_out(modules: list[str], forbidden: tuple[str, ...]) -> list[str]:
    code = (
        "import importlib, json, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        f"print(json.dumps(sorted(m for m in {forbidden!r} if m in sys.modules)))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_every_engine_module_imports_without_qt_or_tensorflow():
    assert (
        "engine.inspection.activations" in ENGINE_MODULES
        and "engine.models.digits" in ENGINE_MODULES
    )
    assert _imports_leave_out(["engine", *ENGINE_MODULES], FORBIDDEN) == []


def test_the_command_line_module_imports_without_qt():
    assert _imports_leave_out(["cli"], ("PySide6", "pyqtgraph", "gui", "tensorflow")) == []


@pytest.mark.parametrize("name", ENGINE_MODULES)
def test_doctests(name):
    module = importlib.import_module(name)
    flags = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
    result = doctest.testmod(module, optionflags=flags, verbose=False)
    assert result.failed == 0, f"{result.failed} of {result.attempted} doctests failed"
