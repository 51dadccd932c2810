"""``python -m gui.panels.testset``: the panel alone in a window."""

import runpy

runpy.run_module("gui.panels.testset.panel", run_name="__main__")
