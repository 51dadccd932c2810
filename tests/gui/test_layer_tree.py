"""The layer tree's words: a concatenation is written as one, and "1 input pixel apart"."""

from engine.explanation.attribution import ReceptiveField
from engine.inspection.activations import inbound_layers, layer_summary, merge_text
from gui.panels.activations.layer_tree import COLUMNS, LayerTree
from gui.state import receptive_fields


def _inception_like():
    import keras

    inputs = keras.Input((16, 16, 3))
    a = keras.layers.Conv2D(2, 1, name="branch_a")(inputs)
    b = keras.layers.Conv2D(2, 3, padding="same", name="branch_b")(inputs)
    c = keras.layers.Conv2D(2, 5, padding="same", name="branch_c")(inputs)
    joined = keras.layers.Concatenate(name="mixed0")([a, b, c])
    added = keras.layers.Add(name="block_add")([a, b])
    return keras.Model(inputs, [joined, added])


def test_a_concatenation_is_not_written_as_a_sum(qtbot):
    model = _inception_like()
    tree = LayerTree()
    qtbot.addWidget(tree)
    tree.set_layers(layer_summary(model), inbound_layers(model), receptive_fields(model))
    names = [row[0] for row in tree.rows_text()]
    assert "mixed0 = concatenate(branch_a, branch_b, branch_c)" in names
    assert "block_add = branch_a + branch_b" in names
    assert not any("+" in n for n in names if n.startswith("mixed0"))


def test_one_input_pixel_apart_is_singular(qtbot):
    model = _inception_like()
    tree = LayerTree()
    qtbot.addWidget(tree)
    tree.set_layers(layer_summary(model), inbound_layers(model), receptive_fields(model))
    tip = tree.item_for("branch_b").toolTip(4)
    assert tip.endswith("neighbouring map pixels are 1 input pixel apart"), tip
    assert ReceptiveField(size=7, jump=2, start=3.0).apart_text() == "2 input pixels apart"
    assert merge_text("Multiply", ["x", "y"]) == "x × y"


def test_a_long_name_leaves_the_other_columns_in_view(qtbot):
    import keras

    inputs = keras.Input((16, 16, 3))
    a = keras.layers.Conv2D(2, 1, name="conv2_block1_0_conv_with_a_very_long_name_indeed")(inputs)
    b = keras.layers.Conv2D(2, 3, padding="same", name="conv2_block1_3_conv_also_long_enough")(
        inputs
    )
    added = keras.layers.Add(name="conv2_block1_add")([a, b])
    model = keras.Model(inputs, added)
    tree = LayerTree()
    qtbot.addWidget(tree)
    tree.resize(560, 300)
    tree.show()
    qtbot.waitExposed(tree)
    tree.set_layers(layer_summary(model), inbound_layers(model), receptive_fields(model))
    header = tree.header()
    last = len(COLUMNS) - 1
    right = header.sectionViewportPosition(last) + header.sectionSize(last)
    assert right <= tree.viewport().width(), (right, tree.viewport().width())
    item = tree.item_for("conv2_block1_add")
    assert item.toolTip(0).startswith("conv2_block1_add = conv2_block1_0_conv_with_a_very")
    assert tree.columnWidth(0) < tree.fontMetrics().horizontalAdvance(item.text(0))  # elided
    tree.resize(1600, 300)  # room enough: the whole name
    qtbot.waitUntil(
        lambda: tree.columnWidth(0) >= tree.fontMetrics().horizontalAdvance(item.text(0))
    )
