"""``python -m gui.panels.activations``: the panel alone in a window."""

import runpy

runpy.run_module("gui.panels.activations.panel", run_name="__main__")
