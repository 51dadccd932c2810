"""Qt front of the feature-map explorer.

PySide6 is imported before pyqtgraph so pyqtgraph binds to it (it would try PyQt6
first), and pyqtgraph is configured once, here, for row-major numpy images.
"""

import pyqtgraph as pg
import PySide6.QtCore  # noqa: F401  (binding choice must precede pyqtgraph)

pg.setConfigOptions(imageAxisOrder="row-major", antialias=True)
