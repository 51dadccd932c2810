"""The engine never imports Qt: import it in a fresh interpreter and look."""

import subprocess
import sys


def test_engine_imports_without_qt_or_tensorflow():
    code = (
        "import sys, engine, engine.convolution, engine.images, engine.kernels, engine.mosaic;"
        "bad = [m for m in ('PySide6', 'pyqtgraph', 'gui', 'tensorflow') if m in sys.modules];"
        "print(bad); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
