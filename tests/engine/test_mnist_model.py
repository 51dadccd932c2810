"""The digit models' architecture, shipped and saved weights (engine.models.mnist_model)."""

import numpy as np
import pytest

from engine.inspection.activations import layer_summary
from engine.models import mnist_model
from engine.models.mnist_data import load_mnist


@pytest.fixture(scope="module")
def model():
    return mnist_model.build_mnist_cnn()


def test_summary_matches_the_lecture_table(model):
    rows = layer_summary(model)
    assert [(r.type, r.output_shape, r.params) for r in rows] == list(mnist_model.LECTURE_SUMMARY)
    assert model.count_params() == mnist_model.LECTURE_TOTAL_PARAMS == 1_199_882
    assert rows[0].shape_text() == "(26, 26, 32)"


def test_shipped_weights_reach_the_goal_on_the_test_digits(mnist_npz):
    # The fixture's 500 test digits (none of them trained on): the shipped weights get
    # 98.8% (494 of 500), measured when the fixture was made; the lecture's model gets
    # about 99.2% on the full 10,000 with the full training set.
    _, (x_test, y_test) = load_mnist(mnist_npz)
    assert len(x_test) == 500
    model = mnist_model.load_trained("mnist")
    probs = model(x_test[..., None].astype("float32") / 255.0, training=False).numpy()
    accuracy = float((probs.argmax(axis=1) == y_test).mean())
    assert accuracy >= 0.98, accuracy


def test_a_failing_write_keeps_the_previous_weights(tmp_path, monkeypatch):
    model = mnist_model.build_mnist_cnn(compile=False)  # saved as it is, through save_weights
    out = tmp_path / "w.weights.h5"
    mnist_model.save_weights(model, out)
    before = out.read_bytes()

    def disk_full(path, *a, **k):
        with open(path, "wb") as fh:
            fh.write(b"half")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(model, "save_weights", disk_full)
    with pytest.raises(OSError, match="No space"):
        mnist_model.save_weights(model, out)
    assert out.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["w.weights.h5"]  # no temp left


@pytest.mark.parametrize("key", ["mnist", "lenet5"])
def test_damaged_user_weights_fall_back_to_the_shipped_ones(key):
    mnist_model.user_weights_path(key).write_bytes(b"not hdf5")
    model = mnist_model.load_trained(key)
    shipped = mnist_model.build_digit_model(key, compile=False)
    shipped.load_weights(mnist_model.digit_model(key).shipped_weights)
    np.testing.assert_array_equal(
        model.layers[0].get_weights()[0], shipped.layers[0].get_weights()[0]
    )


def test_the_mnist_cnn_keeps_its_old_names():
    # The GUI (Draw panel, train dialog) still calls these.
    assert mnist_model.user_weights_path() == mnist_model.user_weights_path("mnist")
    assert mnist_model.user_weights_path().name == mnist_model.WEIGHTS_NAME
    assert mnist_model.digit_model("mnist").shipped_weights == mnist_model.SHIPPED_WEIGHTS
    assert mnist_model.weights_info() == mnist_model.weights_info("mnist")
    model = mnist_model.load_trained_mnist_cnn()
    assert model.name == "mnist_cnn" and model.input_shape == (None, 28, 28, 1)


def test_weights_info_says_whose_weights_are_used(model):
    info = mnist_model.weights_info("mnist")
    assert info.source == "shipped" and info.path == mnist_model.SHIPPED_WEIGHTS
    assert info.test_accuracy is not None and info.test_accuracy > 0.98
    assert info.test_digits == 1000  # the figure says what it was measured on
    assert (
        info.label() == f"shipped with the app ({info.test_accuracy:.2%} on its 1,000 test digits)"
    )
    mnist_model.save_weights(model, mnist_model.user_weights_path("mnist"))
    info = mnist_model.weights_info("mnist")
    assert info.source == "yours" and info.test_accuracy is None  # no .json beside it


def test_trained_weights_are_kept_and_chosen(tmp_path):
    from engine.models import mnist_model as mm

    shipped = mm.weights_info()
    assert [w.source for w in mm.list_weights()] == ["shipped"]
    model = mm.build_mnist_cnn(compile=False)
    first, second = mm.new_weights_path(), None
    mm.save_weights(model, first)
    second = mm.new_weights_path()
    assert second != first and second.parent == first.parent == mm.weights_folder()
    mm.save_weights(model, second)
    assert [w.path for w in mm.list_weights()][0] == shipped.path
    assert {w.path for w in mm.list_weights()[1:]} == {first, second}
    assert mm.weights_info() == shipped  # nothing chosen: the shipped ones
    mm.use_weights("mnist", first)
    assert mm.weights_info().path == first and mm.weights_info().source == "yours"
    assert mm.weights_info("lenet5").source == "shipped"  # each model its own choice
    mm.use_weights("mnist", shipped.path)
    assert mm.weights_info() == shipped
    with pytest.raises(ValueError, match="does not exist"):
        mm.use_weights("mnist", tmp_path / "nope.weights.h5")
