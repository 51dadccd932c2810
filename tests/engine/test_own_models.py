"""A model file of the person's own, read right: the exact array each convention receives,
its size, its channels, its class names, and how its output is shown.

Every model is tiny and saved once for the module; each test compares what
``LoadedModel.prepare`` gives with a hand computation from the photo, and the model's
output through ``LoadedModel.forward`` with the Keras model called on that hand-made array.
"""

import keras
import numpy as np
import pytest

from engine.imaging.images import to_grey
from engine.models import zoo
from engine.models.zoo import ModelLoadError, OutputKind, Scaling, ScalingSource

PHOTO = np.random.default_rng(3).integers(0, 256, (30, 45, 3), dtype=np.uint8)
GREY_PHOTO = PHOTO[:, :, 1].copy()
SIDE = 12


def _head(x, units=3, activation="softmax", name="scores"):
    x = keras.layers.Conv2D(2, 3, name="conv")(x)
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    return keras.layers.Dense(units, activation=activation, name=name)(x)


def _model(*front, shape=(SIDE, SIDE, 3), **head):
    inputs = keras.Input(shape, name="image")
    x = inputs
    for layer in front:
        x = layer(x)
    return keras.Model(inputs, _head(x, **head))


def _save(folder, name, model):
    path = folder / f"{name}.keras"
    model.save(path)
    return path


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("own-models")
    keras.utils.set_random_seed(0)
    nested = keras.Sequential(
        [keras.layers.Resizing(SIDE, SIDE), keras.layers.Rescaling(1 / 255, name="inner_rescale")],
        name="preprocessing",
    )
    two_in_a, two_in_b = keras.Input((SIDE, SIDE, 3)), keras.Input((SIDE, SIDE, 3))
    multi_out_in = keras.Input((SIDE, SIDE, 3))
    features = keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(4, 3)(multi_out_in))
    values_in = keras.Input((SIDE, SIDE, 3))
    paths = {
        "rescaling": _save(d, "rescaling", _model(keras.layers.Rescaling(1 / 255, name="rs"))),
        "nested": _save(d, "nested", _model(nested)),
        "plain": _save(d, "plain", _model()),
        "logits": _save(d, "logits", _model(activation=None)),
        "free": _save(d, "free", _model(shape=(None, None, 3))),
        "grey": _save(d, "grey", _model(shape=(10, 10, 1))),
        "labelled": _save(d, "labelled", _model()),
        "imagenet": _save(d, "imagenet", _model(units=1000)),
        "two_inputs": _save(
            d,
            "two_inputs",
            keras.Model([two_in_a, two_in_b], keras.layers.Add()([two_in_a, two_in_b])),
        ),
        "two_outputs": _save(
            d,
            "two_outputs",
            keras.Model(
                multi_out_in,
                [
                    keras.layers.Dense(3, activation="softmax", name="classes")(features),
                    keras.layers.Dense(1, name="box")(features),
                ],
            ),
        ),
        "one_value": _save(d, "one_value", _model(units=1, activation="sigmoid")),
        "features": _save(
            d, "features", keras.Model(values_in, keras.layers.GlobalAveragePooling2D()(values_in))
        ),
        "maps": _save(d, "maps", keras.Model(values_in, keras.layers.Conv2D(2, 3)(values_in))),
        "unit_rescale": _save(d, "unit_rescale", _model(keras.layers.Rescaling(2.0, offset=-1.0))),
        "norm_raw": _save(
            d,
            "norm_raw",
            _model(keras.layers.Normalization(mean=[124, 116, 104], variance=[9] * 3)),
        ),
        "norm_unit": _save(
            d, "norm_unit", _model(keras.layers.Normalization(mean=[0.5] * 3, variance=[0.1] * 3))
        ),
    }
    (d / "labelled.labels.txt").write_text("cat\ndog\n  fox  \n\n")
    return paths


def _resized(image=PHOTO, size=(SIDE, SIDE)):
    return zoo.resize_image(image, size)


def _receives(loaded, expected, image=PHOTO):
    """The model gets ``expected`` (exactly), and its output is the model's on it."""
    x = loaded.prepare(image)
    assert x.dtype == np.float32 and x.shape == expected.shape
    np.testing.assert_allclose(x, expected, rtol=1e-6, atol=1e-5)
    out = loaded.forward(x[None])
    reference = loaded.model(expected[None].astype(np.float32), training=False)
    if isinstance(reference, list):
        reference = reference[0]
    np.testing.assert_allclose(out, np.asarray(reference), rtol=1e-5, atol=1e-6)
    return out[0]


def test_rescaling_inside_takes_raw_pixels(files):
    loaded = zoo.load_user_model(files["rescaling"])
    assert loaded.spec.scaling is Scaling.RAW and loaded.scaling_source is ScalingSource.DETECTED
    assert (
        loaded.scaling_note == "input: raw 0..255 (detected: the model starts with Rescaling 'rs')"
    )
    out = _receives(loaded, _resized())
    reading = loaded.read_output(out, k=2)
    assert reading.kind is OutputKind.PROBABILITIES and reading.note == ""
    assert [p.label for p in reading.top] == [f"class {i}" for i in np.argsort(out)[::-1][:2]]
    assert reading.top[0].probability == pytest.approx(float(out.max()))


def test_rescaling_inside_a_nested_sequential_is_found(files):
    loaded = zoo.load_user_model(files["nested"])
    assert loaded.spec.scaling is Scaling.RAW and loaded.scaling_source is ScalingSource.DETECTED
    assert "Rescaling 'inner_rescale'" in loaded.scaling_note
    _receives(loaded, _resized())


def test_without_a_rescaling_layer_unit_is_a_guess(files):
    loaded = zoo.load_user_model(files["plain"])
    assert loaded.spec.scaling is Scaling.UNIT and loaded.scaling_source is ScalingSource.GUESSED
    assert "guess" in loaded.scaling_note
    _receives(loaded, _resized() / 255.0)


@pytest.mark.parametrize(
    ("scaling", "by_hand"),
    [
        ("raw", lambda x: x),
        ("unit", lambda x: x / 255.0),
        ("symmetric", lambda x: x / 127.5 - 1.0),
        ("caffe", lambda x: x[:, :, ::-1] - np.array([103.939, 116.779, 123.68])),
        (
            "torch",
            lambda x: (
                (x / 255.0 - np.array([0.485, 0.456, 0.406])) / np.array([0.229, 0.224, 0.225])
            ),
        ),
    ],
)
def test_a_chosen_convention_is_what_the_model_receives(files, scaling, by_hand):
    loaded = zoo.load_user_model(files["plain"], scaling=scaling)
    assert loaded.spec.scaling is Scaling(scaling)
    assert loaded.scaling_source is ScalingSource.CHOSEN
    assert loaded.scaling_note.endswith("(chosen)")
    _receives(loaded, by_hand(_resized()).astype(np.float32))


def test_choosing_again_keeps_the_model_and_none_goes_back_to_detection(files):
    loaded = zoo.load_user_model(files["rescaling"])
    caffe = loaded.with_scaling(Scaling.CAFFE)
    assert caffe.model is loaded.model and caffe.scaling_source is ScalingSource.CHOSEN
    back = caffe.with_scaling(None)
    assert back.spec.scaling is Scaling.RAW and back.scaling_source is ScalingSource.DETECTED
    with pytest.raises(ValueError, match="scaling must be one of raw, unit"):
        loaded.with_scaling("0..1")


def test_a_chosen_convention_that_contradicts_the_model_is_said(files):
    loaded = zoo.load_user_model(files["rescaling"])  # starts with Rescaling(1/255)
    unit = loaded.with_scaling(Scaling.UNIT)
    assert "Rescaling" in unit.scaling_reason and "raw 0..255" in unit.scaling_reason
    assert unit.scaling_note.startswith("input: [0, 1] (chosen, but the model starts with")
    assert "its answers mean little" in unit.scaling_note
    again = zoo.load_user_model(files["rescaling"], scaling="unit")  # remembered choice
    assert again.scaling_note == unit.scaling_note
    # A choice that agrees with the model, or a model that does not say: no warning.
    assert loaded.with_scaling(Scaling.RAW).scaling_note == "input: raw 0..255 (chosen)"
    plain = zoo.load_user_model(files["plain"], scaling="caffe")
    assert plain.scaling_reason == "" and plain.scaling_note.endswith("(chosen)")


def test_rescaling_and_normalization_that_expect_unit_pixels(files):
    for key, scaling in [("unit_rescale", "unit"), ("norm_raw", "raw"), ("norm_unit", "unit")]:
        loaded = zoo.load_user_model(files[key])
        assert loaded.spec.scaling is Scaling(scaling), key
        assert loaded.scaling_source is ScalingSource.DETECTED, key


def test_logits_are_shown_through_softmax(files):
    loaded = zoo.load_user_model(files["logits"])
    out = _receives(loaded, _resized() / 255.0)
    reading = loaded.read_output(out, k=3)
    assert reading.kind is OutputKind.LOGITS and reading.note == "logits → softmax"
    e = np.exp(out.astype(np.float64) - out.max())
    np.testing.assert_allclose(reading.probabilities, e / e.sum())
    assert [p.index for p in reading.top] == list(np.argsort(out)[::-1])
    assert loaded.decode(out, 1) == [(reading.top[0].label, reading.top[0].probability)]
    # A vector with a negative value or a sum far from 1 is logits for any classifier.
    assert loaded.read_output(np.array([0.2, 0.3, 0.1])).kind is OutputKind.LOGITS
    assert loaded.read_output(np.array([0.2, 0.7, 0.1])).kind is OutputKind.PROBABILITIES


def test_any_size_input_is_scaled_to_the_chosen_shorter_side(files):
    loaded = zoo.load_user_model(files["free"], size=20)
    assert loaded.input_shape == (None, None, 3) and loaded.spec.free_size
    _receives(loaded, _resized(size=(20, 30)) / 255.0)  # 30x45 -> shorter side 20
    default = zoo.load_user_model(files["free"])
    assert default.spec.size_for(30, 45) == (224, 336)
    assert default.spec.size_for(10, 5000) == (2, 1024)  # the longer side capped
    own = default.with_short_side(None)
    _receives(own, PHOTO.astype(np.float32) / 255.0)  # as it is
    assert default.prepare(GREY_PHOTO).shape == (224, 336, 3)


def test_grey_models_get_grey_input_and_rgb_models_repeat_grey_photos(files):
    grey = zoo.load_user_model(files["grey"])
    assert grey.spec.channels == 1 and grey.input_shape == (10, 10, 1)
    _receives(grey, to_grey(_resized(size=(10, 10)))[:, :, None] / 255.0)
    _receives(grey, _resized(GREY_PHOTO, (10, 10))[:, :, None] / 255.0, image=GREY_PHOTO)
    rgb = zoo.load_user_model(files["plain"])
    expected = np.repeat(_resized(GREY_PHOTO)[:, :, None], 3, axis=2) / 255.0
    _receives(rgb, expected, image=GREY_PHOTO)


def test_a_labels_file_beside_the_model_names_its_classes(files, tmp_path):
    assert zoo.labels_file_for(files["labelled"]).name == "labelled.labels.txt"
    loaded = zoo.load_user_model(files["labelled"])
    assert loaded.class_names == ["cat", "dog", "fox"]
    out = _receives(loaded, _resized() / 255.0)
    reading = loaded.read_output(out, k=3)
    assert [p.label for p in reading.top] == [
        ["cat", "dog", "fox"][i] for i in np.argsort(out)[::-1]
    ]
    given = zoo.load_user_model(files["plain"], labels=["a", "b", "c"])
    assert given.class_names == ["a", "b", "c"]
    assert given.with_class_names(["x", "y", "z"]).read_output(out).top[0].label in "xyz"
    wrong = tmp_path / "four.labels.txt"
    wrong.write_text("a\nb\nc\nd\n")
    with pytest.raises(ModelLoadError, match="'four.labels.txt' has 4 labels but 'plain.keras'"):
        zoo.load_user_model(files["plain"], labels=wrong)
    with pytest.raises(ValueError, match="2 class names for an output of 3 values"):
        given.with_class_names(["a", "b"])


def test_a_1000_way_output_is_named_with_imagenet_classes(files):
    loaded = zoo.load_user_model(files["imagenet"])
    names = zoo.imagenet_class_names()
    assert loaded.class_names == names
    out = _receives(loaded, _resized() / 255.0)
    top = loaded.read_output(out, k=5).top
    assert [p.label for p in top] == [names[i] for i in np.argsort(out)[::-1][:5]]


def test_multi_input_models_are_refused(files):
    with pytest.raises(
        ModelLoadError, match=r"'two_inputs.keras' takes 2 inputs .*one image input"
    ):
        zoo.load_user_model(files["two_inputs"])


def test_multi_output_models_use_the_first_output_and_say_so(files):
    loaded = zoo.load_user_model(files["two_outputs"])
    assert loaded.output_layer == "classes"
    assert loaded.output_note == "the model has 2 outputs; the first ('classes') is shown"
    out = _receives(loaded, _resized() / 255.0)
    assert out.shape == (3,)
    reading = loaded.read_output(out)
    assert reading.kind is OutputKind.PROBABILITIES and reading.note == loaded.output_note


def test_outputs_that_are_not_class_scores_are_values(files):
    one = zoo.load_user_model(files["one_value"])
    out = _receives(one, _resized() / 255.0)
    reading = one.read_output(out)
    assert reading.kind is OutputKind.VALUES and reading.top == ()
    assert reading.note == "not a classifier: one value" and reading.values.shape == (1,)
    features = zoo.load_user_model(files["features"])
    assert not features.classifier
    reading = features.read_output(_receives(features, _resized() / 255.0))
    assert reading.kind is OutputKind.VALUES and "3 values, not class scores" in reading.note
    maps = zoo.load_user_model(files["maps"])
    reading = maps.read_output(_receives(maps, _resized() / 255.0))
    assert reading.kind is OutputKind.VALUES and reading.note.endswith("shape (10, 10, 2)")


@pytest.mark.filterwarnings("ignore:Skipping nested container")  # the wrong-weights case
def test_load_model_takes_zoo_keys_and_files(files):
    digits = zoo.load_model(zoo.MNIST)
    assert digits.trained and digits.class_names == [str(i) for i in range(10)]
    untrained = zoo.load_model(zoo.MNIST, weights=None)
    assert not untrained.trained and "untrained" in untrained.note
    shipped = zoo.load_model(zoo.MNIST, weights=zoo.load_model(zoo.MNIST).weights)
    assert shipped.trained
    mine = zoo.load_model(files["plain"], scaling="symmetric")
    assert mine.spec.scaling is Scaling.SYMMETRIC
    with pytest.raises(ValueError, match="unknown model 'lenet6': give one of mnist"):
        zoo.load_model("lenet6")
    with pytest.raises(ModelLoadError, match="does not hold the weights of 'plain.keras'"):
        zoo.load_model(files["plain"], weights=digits.weights)
    with pytest.raises(ModelLoadError, match="untrained weights are for the zoo"):
        zoo.load_model(files["plain"], weights=None)
