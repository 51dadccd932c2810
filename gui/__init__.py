"""Qt front of the feature-map explorer.

pyqtgraph picks its Qt binding when first imported and would try PyQt6 before PySide6.
The binding is named here, before pyqtgraph can be imported by anything in ``gui``, in
a way an import sorter cannot undo (an environment variable, not import order); and
pyqtgraph is configured once, here, for row-major numpy images.
"""

import os

os.environ.setdefault("PYQTGRAPH_QT_LIB", "PySide6")

import pyqtgraph as pg  # noqa: E402

pg.setConfigOptions(imageAxisOrder="row-major", antialias=True)

from engine.util.memory import tune_allocator  # noqa: E402

tune_allocator()  # large arrays go back to the system when freed (engine.util.memory)
