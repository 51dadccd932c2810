"""``python -m gui.panels.draw``: the panel alone in a window."""

import runpy

runpy.run_module("gui.panels.draw.panel", run_name="__main__")
