"""MapView: a long heading never pushes the maps out of the widget."""

import numpy as np

from gui.widgets.map_view import MapView

LONG = "block4_conv1: top 20 of 512 by max activation (512 maps of 28x28; each map scaled to its own min..max) [UNTRAINED MODEL]"  # noqa: E501


def test_a_long_heading_is_cut_to_the_view_after_a_resize(qtbot):
    view = MapView("Feature maps")
    qtbot.addWidget(view)
    view.resize(1400, 500)
    view.show()
    qtbot.waitExposed(view)
    view.set_image(np.random.default_rng(0).random((60, 150)))
    view.set_title(LONG)
    qtbot.wait(20)
    view.resize(420, 400)  # a window made smaller
    qtbot.waitUntil(lambda: view.width() == 420, timeout=2_000)
    qtbot.wait(20)
    assert view.title() == LONG  # the whole heading is kept
    shown = view._label.text
    assert shown.endswith("…") and len(shown) < len(LONG)
    right = view.colour_bar.sceneBoundingRect().right()
    assert right <= view.width() + 1, (right, view.width())  # the colour bar is in sight
