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
