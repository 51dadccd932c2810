"""pyqtgraph binds PySide6 even when a PyQt6 is importable in the same environment."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_pyqtgraph_binds_pyside6_with_a_pyqt6_on_the_path(tmp_path):
    stub = tmp_path / "PyQt6"
    stub.mkdir()
    # A PyQt6 that imports fine but is not Qt: if pyqtgraph chose it, everything breaks.
    (stub / "__init__.py").write_text("IMPORTED_STUB = True\n")
    (stub / "QtCore.py").write_text("raise ImportError('stub PyQt6: not a real binding')\n")
    code = (
        "import PyQt6; assert PyQt6.IMPORTED_STUB\n"
        "import gui, pyqtgraph.Qt as q, sys\n"
        "from gui.widgets.map_view import MapView\n"
        "print(q.QT_LIB, 'PyQt6.QtCore' in sys.modules)\n"
    )
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT)]),
        "QT_QPA_PLATFORM": "offscreen",
    }
    env.pop("PYQTGRAPH_QT_LIB", None)
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split() == ["PySide6", "False"]
