"""The zoo comparison table: one row per ZOO_FACTS entry, sortable by a header click."""

from PySide6.QtCore import QPoint, Qt

from engine.inspection.architecture import ZOO_FACTS
from gui.zoo_table import COLUMNS, ZooTable


def click_header(qtbot, table, column):
    header = table.table.horizontalHeader()
    i = [c for c, _h, _t in COLUMNS].index(column)
    pos = QPoint(
        header.sectionViewportPosition(i) + header.sectionSize(i) // 2, header.height() // 2
    )
    qtbot.mouseClick(header.viewport(), Qt.MouseButton.LeftButton, pos=pos)


def test_rows_are_the_zoo_facts(qtbot):
    table = ZooTable()
    qtbot.addWidget(table)
    assert table.keys() == list(ZOO_FACTS)
    for row, (key, facts) in enumerate(ZOO_FACTS.items()):
        assert table.value(row, "title") == facts.title
        for column in ("year", "depth", "params", "macs", "input_size", "top1"):
            assert table.value(row, column) == getattr(facts, column), (key, column)
        assert table.text(row, "year") == str(facts.year)
        assert table.text(row, "input_size") == "{}x{}".format(*facts.input_size)
    resnet = list(ZOO_FACTS).index("resnet50")
    assert table.text(resnet, "params") == "25.6 M" and table.text(resnet, "top1") == "74.9%"
    assert table.text(resnet, "macs") == "3.9 G"
    lenet = list(ZOO_FACTS).index("lenet5")
    assert table.text(lenet, "top1").startswith("–") and table.value(lenet, "top1") is None


def test_sorting_by_a_header_click(qtbot):
    table = ZooTable()
    qtbot.addWidget(table)
    table.resize(900, 400)
    table.show()
    qtbot.waitExposed(table)

    click_header(qtbot, table, "params")
    by_params = sorted(ZOO_FACTS, key=lambda k: ZOO_FACTS[k].params)
    order = table.keys()
    assert order in (by_params, by_params[::-1])
    click_header(qtbot, table, "params")
    assert table.keys() == order[::-1]

    click_header(qtbot, table, "top1")
    tops = [table.value(r, "top1") for r in range(len(ZOO_FACTS))]
    known = [t for t in tops if t is not None]
    assert known in (sorted(known), sorted(known, reverse=True))
    assert set(tops[:2]) == {None} or set(tops[-2:]) == {None}  # the digit models together

    with qtbot.waitSignal(table.model_activated) as signal:
        row = table.keys().index("inceptionv3")
        rect = table.table.visualRect(table.model.index(row, 0))
        # A person's double-click: a click, then the second press that Qt reports as a
        # double-click (QTest's mouseDClick sends only the latter).
        qtbot.mouseClick(table.table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
        qtbot.mouseDClick(table.table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert signal.args == ["inceptionv3"]


def chart_shown(qtbot, width=1300, height=520):
    table = ZooTable()
    qtbot.addWidget(table)
    table.resize(width, height)
    table.show()
    qtbot.waitExposed(table)
    qtbot.wait(50)  # the labels are placed once the plot has its size
    return table


def test_the_chart_by_year_shows_each_measure(qtbot):
    import math

    from gui.theme import theme

    from .helpers import pick

    table = chart_shown(qtbot)
    chart = table.chart
    assert chart.measure() == "depth" and chart.isVisible()
    depths = {k: f for k, f in ZOO_FACTS.items() if f.depth is not None}
    assert {k: (x, y) for k, x, y in chart.points()} == {
        k: (float(f.year), float(f.depth)) for k, f in depths.items()
    }
    assert "ConvNeXt-Tiny" in chart.missing.text()  # no depth given: said, not drawn at 0
    for label, measure in (("Parameters", "params"), ("Multiply-accumulates", "macs")):
        pick(qtbot, chart.measure_combo, label)
        assert chart.measure() == measure and chart.missing.isHidden()
        points = {k: (x, y) for k, x, y in chart.points()}
        assert points == {  # a log scale: log10 of the value
            k: (float(f.year), math.log10(getattr(f, measure))) for k, f in ZOO_FACTS.items()
        }
        ticks = dict(chart.plot.getAxis("left")._tickLevels[0])
        assert ticks[6] == "1 M" and ticks[8] == "100 M"  # powers of ten, readable
        # Every model is named; names never cover one another, and stay in the plot.
        qtbot.wait(50)
        named = [n for text in chart.label_texts() for n in text.split(", ")]
        assert sorted(named) == sorted(f.title for f in ZOO_FACTS.values())
        items = chart.label_items()
        rects = [i.sceneBoundingRect() for i in items]
        box = chart.plot.getPlotItem().getViewBox().sceneBoundingRect()
        for a, ra in enumerate(rects):
            assert box.contains(ra), items[a].textItem.toPlainText()
            for b in range(a + 1, len(rects)):
                pair = (items[a].textItem.toPlainText(), items[b].textItem.toPlainText())
                assert not ra.intersects(rects[b]), pair
        assert all(i.textItem.font().pixelSize() == theme().px(12) for i in items)
    # VGG16 and VGG19 (the same year, nearly the same size) share one label.
    assert "VGG19, VGG16" in chart.label_texts()


def test_a_point_clicked_selects_its_row_and_the_current_model_is_marked(qtbot):
    from gui.zoo_table import CURRENT

    table = chart_shown(qtbot)
    chart = table.chart
    with qtbot.waitSignal(chart.model_clicked) as signal:
        qtbot.mouseClick(
            chart.plot.viewport(), Qt.MouseButton.LeftButton, pos=chart.point_position("resnet50")
        )
    assert signal.args == ["resnet50"]
    rows = table.table.selectionModel().selectedRows()
    assert [table.keys()[r.row()] for r in rows] == ["resnet50"]
    table.highlight("mnist")
    spots = {p.data(): p for p in chart.scatter.points()}
    assert spots["mnist"].brush().color().name() == CURRENT.lower()
    assert spots["vgg16"].brush().color().name() != CURRENT.lower()
    assert spots["mnist"].size() > spots["vgg16"].size()


def test_the_chart_reads_on_a_projector(qtbot):
    from gui.theme import PRESENTER_MIN_PX, small_texts, theme

    t = theme()
    t.set_presenter(True)
    try:
        table = chart_shown(qtbot, 1900, 1000)
        for measure in ("depth", "params", "macs"):
            table.chart.set_measure(measure)
            qtbot.wait(30)
            table.grab()
            assert small_texts(table, PRESENTER_MIN_PX) == [], measure
    finally:
        t.set_presenter(False)
        t.reset_zoom()
