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


# -- the value under the cursor ----------------------------------------------------------
def pixel_point(view, item, row, col):
    """Where image pixel (row, col) of ``item`` is on the view's viewport (its centre)."""
    from PySide6.QtCore import QPoint, QPointF

    return QPoint(view.mapFromScene(item.mapToScene(QPointF(col + 0.5, row + 0.5))))


def hover(qtbot, view, item, row, col):
    """Move the mouse over pixel (row, col), as a person would."""
    settle(qtbot, view)
    qtbot.wait(15)  # pyqtgraph drops moves closer than its mouse rate (100 a second)
    qtbot.mouseMove(view.viewport(), pixel_point(view, item, row, col))


def leave(view):
    from PySide6.QtCore import QEvent
    from PySide6.QtWidgets import QApplication

    QApplication.sendEvent(view, QEvent(QEvent.Type.Leave))


def shown_view(qtbot, view, size=(500, 420)):
    qtbot.addWidget(view)
    view.resize(*size)
    view.show()
    qtbot.waitExposed(view)
    return view


def settle(qtbot, view):
    """Wait until the image has stopped moving (a new image is fitted to the view)."""
    seen = []

    def still():
        seen.append(tuple(map(tuple, view.view.viewRange())))
        return len(seen) > 2 and seen[-1] == seen[-2] == seen[-3]

    qtbot.waitUntil(still, timeout=5_000)


def test_hovering_a_map_pixel_reads_its_row_column_and_value(qtbot):
    from gui.widgets.map_view import READOUT_SEPARATOR, format_value

    view = shown_view(qtbot, MapView("Feature map"))
    a = np.random.default_rng(1).normal(size=(12, 16))
    view.set_image(a)
    assert view.readout() == ""
    for row, col in [(9, 7), (0, 0), (11, 15), (3, 4)]:
        hover(qtbot, view, view.image_item, row, col)
        expected = f"row {row}, col {col}: {format_value(a[row, col])}"
        qtbot.waitUntil(lambda e=expected: view.readout() == e, timeout=2_000)
        # the title line says it, after the title
        assert view._label.text == "Feature map" + READOUT_SEPARATOR + expected
    assert view.title() == "Feature map"
    leave(view)  # the mouse leaves the view: the title alone again
    assert view.readout() == "" and view._label.text == "Feature map"


def test_the_readout_says_a_value_to_three_decimals():
    from gui.widgets.map_view import format_pixel, format_value

    assert format_value(0.7341) == "0.734" and format_value(4.0) == "4"
    assert format_value(-12.5) == "-12.5" and format_value(123456.7) == "1.235e+05"
    assert format_pixel(np.array([201, 143, 98], np.uint8)) == "R 201 G 143 B 98"


def test_hovering_a_colour_picture_reads_its_raw_integers(qtbot):
    view = shown_view(qtbot, MapView("Input", colour_bar=False))
    rgb = np.random.default_rng(2).integers(0, 256, (10, 14, 3)).astype(np.uint8)
    view.set_image(rgb)
    hover(qtbot, view, view.image_item, 6, 9)
    r, g, b = rgb[6, 9]
    qtbot.waitUntil(lambda: view.readout() == f"row 6, col 9: R {r} G {g} B {b}", timeout=2_000)


def test_off_the_image_and_in_a_mosaics_gap_nothing_is_read(qtbot):
    from engine.imaging.mosaic import tile_maps
    from gui.widgets.map_view import format_value

    view = shown_view(qtbot, MapView("Maps"), size=(600, 420))
    maps = np.random.default_rng(3).normal(size=(5, 6, 4))
    mosaic = tile_maps(maps, columns=2, normalisation="per_map", gap=2)
    view.set_image(mosaic.image, levels=(0, 1))
    view.set_labels(mosaic.origins, mosaic.map_shape, [10, 11, 12, 13])
    # The maps are drawn 0..1 each; the readout says their real values, by map.
    raw = tile_maps(maps, columns=2, normalisation="none", gap=2)
    view.set_readout_values(raw.image)
    top, left = mosaic.origins[3]
    hover(qtbot, view, view.image_item, top + 4, left + 2)
    expected = f"map 13, row 4, col 2: {format_value(maps[4, 2, 3])}"
    qtbot.waitUntil(lambda: view.readout() == expected, timeout=2_000)
    hover(qtbot, view, view.image_item, 5, 3)  # the gap under the first map: NaN
    qtbot.waitUntil(lambda: view.readout() == "", timeout=2_000)
    hover(qtbot, view, view.image_item, 1, 1)
    qtbot.waitUntil(lambda: view.readout().startswith("map 10, row 1, col 1"), timeout=2_000)
    # Over the colour bar, beside the image: nothing.
    bar = view.colour_bar.sceneBoundingRect().center()
    qtbot.wait(15)
    qtbot.mouseMove(view.viewport(), view.mapFromScene(bar))
    qtbot.waitUntil(lambda: view.readout() == "", timeout=2_000)


def test_a_new_image_under_a_still_cursor_is_read_again(qtbot):
    view = shown_view(qtbot, MapView("Live"))
    view.set_image(np.zeros((8, 8)))
    hover(qtbot, view, view.image_item, 2, 5)
    qtbot.waitUntil(lambda: view.readout() == "row 2, col 5: 0", timeout=2_000)
    view.set_image(np.full((8, 8), 7.0))  # a new frame of a live input, say
    assert view.readout() == "row 2, col 5: 7"


def test_the_readout_keeps_whole_when_the_title_is_cut(qtbot):
    view = shown_view(qtbot, MapView("Feature maps"), size=(420, 400))
    view.set_image(np.arange(48.0).reshape(6, 8))
    view.set_title(LONG)
    hover(qtbot, view, view.image_item, 5, 7)
    qtbot.waitUntil(lambda: view.readout() == "row 5, col 7: 47", timeout=2_000)
    shown = view._label.text
    assert shown.endswith("row 5, col 7: 47") and "…" in shown
    right = view.colour_bar.sceneBoundingRect().right()
    assert right <= view.width() + 1, (right, view.width())  # still within the widget


def test_a_click_on_a_pixel_says_which(qtbot):
    from PySide6.QtCore import Qt

    view = shown_view(qtbot, MapView("Input", colour_bar=False))
    view.set_image(np.zeros((10, 10, 3), np.uint8))
    settle(qtbot, view)
    with qtbot.waitSignal(view.pixel_clicked, timeout=2_000) as clicked:
        qtbot.mouseClick(
            view.viewport(),
            Qt.MouseButton.LeftButton,
            pos=pixel_point(view, view.image_item, 7, 3),
        )
    assert clicked.args == [7, 3]


def test_the_overlay_reads_the_pixel_and_the_heat_with_its_unit(qtbot):
    from engine.explanation.attribution import HeatMap
    from gui.widgets.map_view import format_value
    from gui.widgets.overlay_view import OverlayView

    view = shown_view(qtbot, OverlayView("Input"))
    rgb = np.random.default_rng(4).integers(0, 256, (9, 9, 3)).astype(np.uint8)
    view.set_image(rgb)
    hover(qtbot, view, view.base, 4, 6)
    r, g, b = rgb[4, 6]
    pixel = f"row 4, col 6: R {r} G {g} B {b}"
    qtbot.waitUntil(lambda: view.readout() == pixel, timeout=2_000)
    assert view._label.text.endswith(pixel) and view.title() == "Input"
    # A heat map with real values: 0..1 drawn stands for 0..2 percentage points.
    shown = np.linspace(0, 1, 81, dtype=np.float32).reshape(9, 9)
    view.set_heat(HeatMap(shown, 0.0, 2.0, "the drop", unit="percentage points", axis="drop"))
    value = format_value(2.0 * float(shown[4, 6]))
    assert view.readout() == f"{pixel}, heat {value} percentage points"
    # A plain 0..1 heat map has no unit: its value alone.
    view.set_heat(shown)
    assert view.readout() == f"{pixel}, heat {format_value(shown[4, 6])}"
    leave(view)
    assert view.readout() == "" and view._label.text == "Input"


def test_an_overlay_of_a_grey_picture_reads_one_integer(qtbot):
    from gui.widgets.overlay_view import OverlayView

    view = shown_view(qtbot, OverlayView("What the model sees (28x28)"))
    digit = (np.arange(28 * 28) % 256).astype(np.uint8).reshape(28, 28)
    view.set_image(digit)
    hover(qtbot, view, view.base, 20, 11)
    qtbot.waitUntil(lambda: view.readout() == f"row 20, col 11: {digit[20, 11]}", timeout=2_000)


def test_map_labels_are_read_from_the_back_of_a_room_where_a_map_has_room():
    """A map's number is a quarter of the map, but at least the window's smallest text on
    screen (24 px in presenter mode) while half the map holds it."""
    import doctest

    from gui.widgets import map_view

    assert doctest.testmod(map_view).failed == 0
    assert map_view.label_px(26, 3.0, 24) * 3.0 == 24  # MNIST's 26x26 maps at 3x: 24 px
    assert map_view.label_px(26, 3.0, 12) * 3.0 == 19.5  # a quarter of the map: more
    assert map_view.label_px(12, 3.0, 24) * 3.0 == 18  # half the map: all there is
