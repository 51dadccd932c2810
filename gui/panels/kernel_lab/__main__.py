"""``python -m gui.panels.kernel_lab``: the panel alone in a window."""

import runpy

runpy.run_module("gui.panels.kernel_lab.panel", run_name="__main__")
