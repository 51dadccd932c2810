"""The model zoo (every model's input convention, loading, untrained and offline) and the probe."""

import h5py
import keras
import numpy as np
import pytest

from engine.imaging.mosaic import tile_maps, tile_rgb
from engine.inspection.activations import ActivationProbe, block_of, conv_kernel, layer_summary
from engine.models import mnist_model, zoo
from engine.models.digits import PreparedDigit
from engine.models.zoo import ModelLoadError, PretrainedUnavailable
from tests.shared_models import untrained


@pytest.fixture(scope="module")
def resnet():
    return untrained(zoo.RESNET50)


def test_untrained_models_are_marked(resnet):
    assert not resnet.trained and resnet.label == "ResNet50 (ImageNet) (untrained)"
    assert "untrained" in resnet.note and resnet.input_shape == (224, 224, 3)


def test_resnet_probe_every_layer_one_pass(resnet):
    probe = ActivationProbe(resnet.model)
    image = np.random.default_rng(0).integers(0, 255, (300, 451, 3), dtype=np.uint8)
    x = resnet.prepare(image)
    assert x.shape == (224, 224, 3)
    acts = probe.run(x)
    rows = layer_summary(resnet.model)
    assert list(acts) == [r.name for r in rows]
    for r in rows:
        assert acts[r.name].shape == tuple(r.output_shape)
    np.testing.assert_allclose(
        acts["predictions"], resnet.model(x[None], training=False).numpy()[0], rtol=1e-4, atol=1e-6
    )
    adds = [r.name for r in rows if r.type == "Add"]
    assert len(adds) == 16 and block_of(adds[0]) == "conv2_block1"
    top = resnet.decode(acts["predictions"], 5)
    assert len(top) == 5 and top[0][1] >= top[-1][1]
    assert all(isinstance(name, str) and not name.startswith("class") for name, _ in top)


def test_first_conv_filters_are_rgb_patches(resnet):
    k = conv_kernel(resnet.model, "conv1_conv")
    assert k.shape == (7, 7, 3, 64)
    tiles = tile_rgb(np.moveaxis(k, 3, 0))
    assert tiles.shape == (8 * 8 - 1, 8 * 8 - 1, 3) and tiles.min() >= 0 and tiles.max() <= 1
    assert conv_kernel(resnet.model, "conv1_relu") is None


def test_vgg16_summary_matches_keras():
    vgg = zoo.load_zoo_model(zoo.VGG16, weights=None)
    rows = layer_summary(vgg.model)
    assert rows[0].name == "block1_conv1" and rows[0].output_shape == (224, 224, 64)
    assert rows[0].params == 1792 and sum(r.params for r in rows) == vgg.model.count_params()
    assert block_of("block3_conv2") == "block3" and block_of("fc1") == "fc1"


def test_imagenet_download_failure_is_clear(monkeypatch):
    from keras.src.utils import file_utils

    def offline(*_a, **_k):
        raise OSError("network is unreachable")

    monkeypatch.setattr(file_utils, "get_file", offline)
    with pytest.raises(PretrainedUnavailable, match="could not be downloaded.*untrained"):
        zoo.load_zoo_model(zoo.RESNET50, weights="imagenet")
    with pytest.raises(PretrainedUnavailable, match="MobileNetV2's ImageNet weights"):
        zoo.load_zoo_model(zoo.MOBILENETV2, weights="imagenet")


def test_weights_file_round_trip_and_wrong_architecture(resnet, tmp_path):
    path = tmp_path / "resnet.weights.h5"
    resnet.model.save_weights(path)
    again = zoo.load_zoo_model(zoo.RESNET50, weights=path)
    assert again.trained and str(path) in again.note
    np.testing.assert_array_equal(
        again.model.get_layer("conv1_conv").get_weights()[0],
        resnet.model.get_layer("conv1_conv").get_weights()[0],
    )
    with pytest.raises(ModelLoadError, match="does not hold ResNet50 weights"):
        zoo.load_zoo_model(zoo.RESNET50, weights=mnist_model.SHIPPED_WEIGHTS)
    with pytest.raises(ModelLoadError, match="does not exist"):
        zoo.load_zoo_model(zoo.RESNET50, weights=tmp_path / "nope.h5")


def _small_cnn():
    inputs = keras.Input((16, 16, 3))
    x = keras.layers.Conv2D(4, 3, activation="relu")(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(x))


def test_user_model_files(tmp_path):
    good = tmp_path / "small.keras"
    _small_cnn().save(good)
    loaded = zoo.load_user_model(good)
    assert loaded.prepare(np.zeros((40, 30, 3), np.uint8)).shape == (16, 16, 3)
    assert [r.type for r in layer_summary(loaded.model)] == [
        "Conv2D",
        "GlobalAveragePooling2D",
        "Dense",
    ]

    lam = tmp_path / "lambda.keras"
    inputs = keras.Input((8, 8, 3))
    keras.Model(inputs, keras.layers.Lambda(lambda t: t * 2)(inputs)).save(lam)
    with pytest.raises(ModelLoadError, match="Lambda layer"):
        zoo.load_user_model(lam)

    flat = tmp_path / "flat.keras"
    inputs = keras.Input((10,))
    keras.Model(inputs, keras.layers.Dense(2)(inputs)).save(flat)
    with pytest.raises(ModelLoadError, match="input is an image"):
        zoo.load_user_model(flat)

    empty = tmp_path / "empty.keras"
    empty.write_bytes(b"")
    with pytest.raises(ModelLoadError, match="empty"):
        zoo.load_user_model(empty)
    truncated = tmp_path / "truncated.keras"
    truncated.write_bytes(good.read_bytes()[:200])
    with pytest.raises(ModelLoadError, match="could not be read"):
        zoo.load_user_model(truncated)
    not_keras = tmp_path / "data.h5"
    with h5py.File(not_keras, "w") as fh:
        fh["x"] = np.arange(5)
    with pytest.raises(ModelLoadError, match="could not be read"):
        zoo.load_user_model(not_keras)
    with pytest.raises(ModelLoadError, match="not a Keras model file"):
        zoo.load_user_model(mnist_model.SHIPPED_INFO)


def test_mnist_entry_reads_photos_and_drawn_digits():
    m = zoo.load_zoo_model(zoo.MNIST)
    assert m.trained and m.input_shape == (28, 28, 1)
    pixels = np.zeros((28, 28), np.float32)
    pixels[4:24, 12:16] = 1
    x = m.prepare(PreparedDigit(pixels))
    np.testing.assert_array_equal(x[:, :, 0], pixels)  # a prepared digit goes in as it is
    paper = np.full((100, 80, 3), 255, np.uint8)
    paper[10:90, 35:45] = 0  # dark ink on white paper is inverted to MNIST's light on black
    x = m.prepare(paper)
    assert x.max() == pytest.approx(1, abs=0.05) and x[0, 0, 0] == 0
    with pytest.raises(ValueError, match="uint8"):
        m.prepare(pixels)  # a float array is neither an image nor a digit: refused, not guessed


RGB = np.random.default_rng(1).integers(0, 256, (224, 224, 3), dtype=np.uint8)


@pytest.mark.parametrize(
    ("scaling", "reference"),
    [
        (zoo.Scaling.CAFFE, lambda x: keras.applications.vgg16.preprocess_input(x)),
        (zoo.Scaling.SYMMETRIC, lambda x: keras.applications.mobilenet_v2.preprocess_input(x)),
        (zoo.Scaling.TORCH, lambda x: keras.applications.densenet.preprocess_input(x)),
        (zoo.Scaling.UNIT, lambda x: x / 255.0),
        (zoo.Scaling.RAW, lambda x: x),
    ],
)
def test_one_prepare_function_follows_the_keras_conventions(scaling, reference):
    spec = zoo.InputSpec((224, 224), 3, scaling)
    expected = reference(RGB.astype(np.float32).copy())
    np.testing.assert_allclose(zoo.prepare_image(RGB, spec), expected, rtol=1e-5, atol=1e-4)


PHOTO = np.random.default_rng(2).integers(0, 256, (300, 451, 3), dtype=np.uint8)
PREPROCESS = {  # each keras.applications model's own preprocess_input
    zoo.VGG16: keras.applications.vgg16.preprocess_input,
    zoo.VGG19: keras.applications.vgg19.preprocess_input,
    zoo.RESNET50: keras.applications.resnet50.preprocess_input,
    zoo.INCEPTIONV3: keras.applications.inception_v3.preprocess_input,
    zoo.MOBILENETV2: keras.applications.mobilenet_v2.preprocess_input,
    zoo.EFFICIENTNETB0: keras.applications.efficientnet.preprocess_input,
    zoo.CONVNEXT_TINY: keras.applications.convnext.preprocess_input,
}


@pytest.mark.parametrize("key", list(PREPROCESS))
def test_every_imagenet_model_gets_what_its_preprocess_input_gives(key):
    spec = zoo.input_spec(key)
    assert spec.size == ((299, 299) if key == zoo.INCEPTIONV3 else (224, 224))
    resized = zoo.resize_image(PHOTO, spec.size)
    expected = PREPROCESS[key](resized.copy())
    np.testing.assert_allclose(zoo.prepare_image(PHOTO, spec), expected, rtol=1e-5, atol=1e-4)


def test_the_zoo_lists_every_model():
    expected = {zoo.MNIST, zoo.LENET5, zoo.ALEXNET, zoo.GOOGLENET, zoo.EFFICIENTNET_LITE0}
    expected |= set(PREPROCESS)
    assert set(zoo.MODEL_TITLES) == expected
    assert zoo.MODEL_TITLES[zoo.LENET5] == "LeNet-5 (1998)"
    with pytest.raises(ValueError, match="unknown model 'lenet6'; choose one of mnist, lenet5"):
        zoo.load_zoo_model("lenet6")
    with pytest.raises(ValueError, match="unknown model"):
        zoo.input_spec("lenet6")
    with pytest.raises(ValueError, match=r"size must be \(32, 32\)"):
        zoo.InputSpec((28, 28), 1, zoo.Scaling.UNIT, digit=True, pad=2)


def test_grey_and_digits_reach_models_in_their_channels():
    grey = RGB[:, :, 0]
    rgb_model = zoo.prepare_image(grey, zoo.InputSpec((32, 32), 3, zoo.Scaling.UNIT))
    assert rgb_model.shape == (32, 32, 3)
    np.testing.assert_array_equal(rgb_model[:, :, 0], rgb_model[:, :, 2])  # grey, repeated
    grey_model = zoo.prepare_image(RGB, zoo.InputSpec((32, 32), 1, zoo.Scaling.UNIT))
    assert grey_model.shape == (32, 32, 1) and 0 <= grey_model.min() <= grey_model.max() <= 1
    pixels = np.zeros((28, 28), np.float32)
    pixels[5:20, 10:14] = 1
    x = zoo.prepare_image(PreparedDigit(pixels), zoo.IMAGENET_SPEC)
    assert x.shape == (224, 224, 3)  # a drawn digit fed to VGG16: resized, BGR, mean removed
    np.testing.assert_allclose(x[0, 0], -zoo.CAFFE_MEAN_BGR, atol=1e-4)


def test_mosaic_of_512_maps():
    m = tile_maps(np.random.default_rng(0).random((14, 14, 512)).astype(np.float32))
    assert len(m.origins) == 512 and m.columns == 23


def test_imagenet_names_are_wordnets_and_unique():
    names = zoo.imagenet_class_names()
    assert len(names) == 1000 and len(set(names)) == 1000
    # The names Keras' decode_predictions gives, not a rewording ("a cat having a striped coat").
    assert names[0] == "tench" and names[282] == "tiger cat" and names[285] == "Egyptian cat"
    # Two classes that share a WordNet name carry their index; no top-5 lists "missile" twice.
    assert names[657] == "missile (657)" and names[744] == "projectile, missile (744)"
    assert names[134] == "crane (134)" and names[517] == "crane (517)"
    assert names[639] == "maillot, tank suit (639)"


def test_unique_class_names_from_synonyms():
    assert zoo.unique_class_names([["a"], ["b", "c"]]) == ["a", "b"]
    assert zoo.unique_class_names([["x", "y"], ["x"], ["z"]]) == ["x, y (0)", "x (1)", "z"]
    with pytest.raises(ValueError, match="at least one name"):
        zoo.unique_class_names([["a"], []])


def test_a_text_file_renamed_keras_is_said_not_to_be_a_model(tmp_path):
    text = tmp_path / "notes.keras"
    text.write_text("these are my lecture notes, not a model\n")
    with pytest.raises(ModelLoadError, match="'notes.keras' is not a Keras model file") as err:
        zoo.load_user_model(text)
    assert "zip archive" in str(err.value) and "File not found" not in str(err.value)
    h5 = tmp_path / "notes.h5"
    h5.write_bytes(b"\x00\x01binary junk" * 20)
    with pytest.raises(ModelLoadError, match="'notes.h5' is not a Keras model file: an .h5"):
        zoo.load_user_model(h5)


def test_an_untrained_model_opened_again_has_the_same_weights():
    """Untrained weights are seeded: a model let go to stay within the memory budget and
    opened again is the same network (its maps and exports stay comparable)."""
    import random

    first = zoo.load_zoo_model(zoo.MOBILENETV2, None).model.get_layer("Conv1").get_weights()[0]
    before = (random.random(), np.random.random())
    again = zoo.load_zoo_model(zoo.MOBILENETV2, None).model.get_layer("Conv1").get_weights()[0]
    np.testing.assert_array_equal(first, again)
    assert (random.random(), np.random.random()) != before  # the app's own streams go on
