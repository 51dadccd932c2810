"""EfficientNet-Lite0 offline: the .pth read without PyTorch (and nothing else unpickled),
the Keras conversion checked against an independent numpy forward pass of the PyTorch
model, the preprocessing its weights were trained with, the cache, the zoo and the CLI."""

import collections
import io
import math
import os
import pickle
import subprocess
import sys
import types
import zipfile
from pathlib import Path

import numpy as np
import pytest

from engine.imaging.images import load_image
from engine.models import efficientnet_lite as lite
from engine.models import zoo
from engine.util.paths import SAMPLES

ROOT = Path(__file__).resolve().parents[2]
ESPRESSO, CATS = 967, (281, 282, 283, 284, 285)  # tabby, tiger, Persian, Siamese, Egyptian
ROCKETS = (657, 744, 812)  # missile, projectile, space shuttle


# -- fixtures ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def state():
    return lite.read_state_dict(lite.packaged_weights())


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    """A data folder shared by this module's tests: the weights are converted once."""
    return tmp_path_factory.mktemp("lite-data")


@pytest.fixture(scope="module")
def logits_model(data_dir):
    return lite.load_pretrained(folder=data_dir / "converted", classifier_activation=None)


def _photo(name: str) -> np.ndarray:
    """A sample photo as the zoo feeds Lite0: 224x224, raw 0..255, float32."""
    return zoo.prepare_image(
        load_image(SAMPLES / f"{name}.jpg"), zoo.input_spec("efficientnet_lite0")
    )


# -- an independent numpy EfficientNet-Lite0, from the PyTorch port's own definition ------
#: efficientnet_lite_pytorch's blocks_args for lite0 (repeats, kernel, stride, expansion,
#: in, out), as its strings say them.
_BLOCK_STRINGS = (
    "r1_k3_s11_e1_i32_o16",
    "r2_k3_s22_e6_i16_o24",
    "r2_k5_s22_e6_i24_o40",
    "r3_k3_s22_e6_i40_o80",
    "r3_k5_s11_e6_i80_o112",
    "r4_k5_s22_e6_i112_o192",
    "r1_k3_s11_e6_i192_o320",
)


def _torch_blocks():
    """(kernel, stride, expansion, in, out) of each of the PyTorch model's 16 blocks."""
    blocks = []
    for text in _BLOCK_STRINGS:
        o = {part[0]: part[1:] for part in text.split("_")}
        r, k, s, e, i, out = (
            int(o["r"]),
            int(o["k"]),
            int(o["s"][0]),
            int(o["e"]),
            int(o["i"]),
            int(o["o"]),
        )
        blocks.append((k, s, e, i, out))
        blocks += [(k, 1, e, out, out)] * (r - 1)
    return blocks


def _static_same_pad(x, k, s):
    """The port's Conv2dStaticSamePadding: TensorFlow's 'same', odd pixel after; x (H, W, C)."""
    h, w = x.shape[:2]
    ph = max((math.ceil(h / s) - 1) * s + k - h, 0)
    pw = max((math.ceil(w / s) - 1) * s + k - w, 0)
    return np.pad(x, ((ph // 2, ph - ph // 2), (pw // 2, pw - pw // 2), (0, 0)))


def _conv(x, w, s=1):
    """PyTorch's conv2d of an (H, W, C) map with an (O, I, kh, kw) kernel, 'same' padded."""
    k = w.shape[2]
    ho, wo = math.ceil(x.shape[0] / s), math.ceil(x.shape[1] / s)
    x = _static_same_pad(x, k, s)
    out = np.zeros((ho, wo, w.shape[0]))
    for i in range(k):
        for j in range(k):
            out += x[i : i + s * (ho - 1) + 1 : s, j : j + s * (wo - 1) + 1 : s] @ w[:, :, i, j].T
    return out


def _depthwise(x, w, s):
    """A depthwise conv2d (groups = channels) with a (C, 1, kh, kw) kernel."""
    k = w.shape[2]
    ho, wo = math.ceil(x.shape[0] / s), math.ceil(x.shape[1] / s)
    x = _static_same_pad(x, k, s)
    out = np.zeros((ho, wo, w.shape[0]))
    for i in range(k):
        for j in range(k):
            out += x[i : i + s * (ho - 1) + 1 : s, j : j + s * (wo - 1) + 1 : s] * w[:, 0, i, j]
    return out


def _bn(x, sd, name):
    mean, var = sd[f"{name}.running_mean"], sd[f"{name}.running_var"]
    return (x - mean) / np.sqrt(var + 1e-3) * sd[f"{name}.weight"] + sd[f"{name}.bias"]


def _relu6(x):
    return np.clip(x, 0.0, 6.0)


def numpy_lite0(image, sd):
    """The PyTorch model's forward pass in float64 numpy: {checkpoint: activation}.

    ``image``: (224, 224, 3) raw 0..255; normalised (x - 127) / 128 as the TF lite models.
    """
    sd = {k: v.astype(np.float64) for k, v in sd.items()}
    out = {}
    x = (np.asarray(image, np.float64) - 127.0) / 128.0
    x = _relu6(_bn(_conv(x, sd["_conv_stem.weight"], 2), sd, "_bn0"))
    out["stem"] = x
    for n, (k, s, e, c_in, c_out) in enumerate(_torch_blocks()):
        b = f"_blocks.{n}"
        assert sd[f"{b}._depthwise_conv.weight"].shape[2:] == (k, k)
        y = x
        if e != 1:
            y = _relu6(_bn(_conv(y, sd[f"{b}._expand_conv.weight"]), sd, f"{b}._bn0"))
        y = _relu6(_bn(_depthwise(y, sd[f"{b}._depthwise_conv.weight"], s), sd, f"{b}._bn1"))
        y = _bn(_conv(y, sd[f"{b}._project_conv.weight"]), sd, f"{b}._bn2")
        if s == 1 and c_in == c_out:
            y = y + x
        x = out[f"block {n}"] = y
    x = _relu6(_bn(_conv(x, sd["_conv_head.weight"]), sd, "_bn1"))
    out["head"] = x
    out["pooled"] = x.mean(axis=(0, 1))
    out["logits"] = out["pooled"] @ sd["_fc.weight"].T + sd["_fc.bias"]
    return out


#: The Keras layer whose output is each checkpoint of the numpy pass.
CHECKPOINTS = {
    "stem_activation": "stem",
    "block1a_project_bn": "block 0",
    "block2b_add": "block 2",
    "block3b_add": "block 4",
    "block4c_add": "block 7",
    "block5c_add": "block 10",
    "block6d_add": "block 14",
    "block7a_project_bn": "block 15",
    "top_activation": "head",
    "avg_pool": "pooled",
    "predictions": "logits",
}


def _close(actual, expected, rel=1e-4):
    """Every value within ``rel`` of the reference's largest magnitude."""
    scale = float(np.abs(expected).max())
    err = float(np.abs(np.asarray(actual, np.float64) - expected).max())
    return err <= rel * scale, f"max error {err:.3g} for values up to {scale:.3g}"


# -- reading .pth files safely -------------------------------------------------------------
class _Evil:
    def __init__(self, func, arg):
        self.func, self.arg = func, arg

    def __reduce__(self):
        return self.func, (self.arg,)


def _legacy_bytes(main_pickle: bytes, tail: bytes = b"") -> bytes:
    info = {"protocol_version": 1001, "little_endian": True, "type_sizes": {"long": 4}}
    head = b"".join(pickle.dumps(v, protocol=2) for v in (lite._LEGACY_MAGIC, 1001, info))
    return head + main_pickle + tail


@pytest.mark.parametrize("fmt", ["legacy", "zip"])
@pytest.mark.parametrize("func", [os.system, exec], ids=["os.system", "exec"])
def test_a_pickle_asking_for_anything_but_tensors_is_refused(tmp_path, fmt, func):
    marker = tmp_path / "ran"
    arg = f"touch {marker}" if func is os.system else f"open({str(marker)!r}, 'w')"
    evil = pickle.dumps(collections.OrderedDict(w=_Evil(func, arg)), protocol=2)
    path = tmp_path / "weights.pth"
    if fmt == "legacy":
        path.write_bytes(_legacy_bytes(evil))
    else:
        with zipfile.ZipFile(path, "w") as z:
            z.writestr("archive/data.pkl", evil)
    with pytest.raises(lite.RefusedPickle) as info:
        lite.read_state_dict(path)
    message = str(info.value)
    asked = f"{func.__module__}.{func.__name__}"  # posix.system, builtins.exec
    assert f"'weights.pth' was refused: it asks for {asked}" in message
    assert "only tensors and ordered dicts" in message
    assert not marker.exists()
    assert isinstance(info.value, pickle.UnpicklingError)


def test_not_a_torch_file_is_said_so(tmp_path):
    bad = tmp_path / "notes.pth"
    bad.write_text("hello")
    with pytest.raises(lite.TorchFileError, match="not a readable PyTorch file"):
        lite.read_state_dict(bad)
    real = lite.packaged_weights().read_bytes()
    cut = tmp_path / "cut.pth"
    cut.write_bytes(real[: len(real) // 2])
    with pytest.raises(lite.TorchFileError, match="truncated"):
        lite.read_state_dict(cut)


def _fake_torch(monkeypatch):
    """Just enough of a ``torch`` module for pickle to name torch's classes by reference."""
    torch = types.ModuleType("torch")
    utils = types.ModuleType("torch._utils")

    def _rebuild_tensor_v2(*args):  # never called: only its name is pickled
        raise AssertionError

    _rebuild_tensor_v2.__module__ = "torch._utils"
    _rebuild_tensor_v2.__qualname__ = "_rebuild_tensor_v2"
    utils._rebuild_tensor_v2 = _rebuild_tensor_v2
    torch._utils = utils
    for name in ("FloatStorage", "LongStorage"):
        setattr(torch, name, type(name, (), {"__module__": "torch"}))
    monkeypatch.setitem(sys.modules, "torch", torch)
    monkeypatch.setitem(sys.modules, "torch._utils", utils)
    return torch


def _torch_save(path, tensors, storages, fmt, monkeypatch):
    """Write ``tensors`` ({key: (storage key, offset, size, stride)}) over ``storages``
    ({key: 1-D array}) as torch.save's legacy or zip format does."""
    with monkeypatch.context() as m:
        torch = _fake_torch(m)

        class Storage:
            def __init__(self, key):
                self.key = key

        class Tensor:
            def __init__(self, key, offset, size, stride):
                self.args = (Storage(key), offset, size, stride, False, collections.OrderedDict())

            def __reduce__(self):
                return torch._utils._rebuild_tensor_v2, self.args

        class Pickler(pickle.Pickler):
            def persistent_id(self, obj):
                if not isinstance(obj, Storage):
                    return None
                data = storages[obj.key]
                kind = torch.LongStorage if data.dtype == np.int64 else torch.FloatStorage
                pid = ("storage", kind, obj.key, "cpu", data.size)
                return pid + (None,) if fmt == "legacy" else pid

        buf = io.BytesIO()
        Pickler(buf, protocol=2).dump(
            collections.OrderedDict((k, Tensor(*v)) for k, v in tensors.items())
        )
    if fmt == "legacy":
        keys = list(storages)
        tail = pickle.dumps(keys, protocol=2) + b"".join(
            np.asarray(storages[k].size, "<i8").tobytes() + storages[k].tobytes() for k in keys
        )
        path.write_bytes(_legacy_bytes(buf.getvalue(), tail))
    else:
        with zipfile.ZipFile(path, "w") as z:
            z.writestr("archive/data.pkl", buf.getvalue())
            z.writestr("archive/byteorder", "little")
            for k, data in storages.items():
                z.writestr(f"archive/data/{k}", data.tobytes())


@pytest.mark.parametrize("fmt", ["legacy", "zip"])
def test_both_torch_formats_read_strided_and_shared_tensors(tmp_path, monkeypatch, fmt):
    flat = np.arange(24, dtype=np.float32)
    storages = {"0": flat, "1": np.array([7], np.int64)}
    tensors = {
        "a.weight": ("0", 0, (2, 3, 4), (12, 4, 1)),  # contiguous
        "a.t": ("0", 0, (4, 3, 2), (1, 4, 12)),  # the same storage, transposed (a view)
        "b.bias": ("0", 5, (3,), (2,)),  # offset and step
        "b.num_batches_tracked": ("1", 0, (), ()),
    }
    path = tmp_path / f"small-{fmt}.pth"
    _torch_save(path, tensors, storages, fmt, monkeypatch)
    assert "torch" not in sys.modules  # the stand-in is gone: read without any torch
    got = lite.read_state_dict(path)
    assert list(got) == list(tensors)
    cube = flat.reshape(2, 3, 4)
    np.testing.assert_array_equal(got["a.weight"], cube)
    np.testing.assert_array_equal(got["a.t"], cube.transpose(2, 1, 0))
    np.testing.assert_array_equal(got["b.bias"], [5.0, 7.0, 9.0])
    assert got["b.num_batches_tracked"].shape == () and got["b.num_batches_tracked"] == 7
    assert got["a.t"].flags.c_contiguous and got["a.t"].flags.writeable


@pytest.mark.parametrize(
    "tensor, says",
    [
        (("0", 2, (3,), (1,)), "reaches past its storage"),
        (("0", 0, (2**15, 2**15), (0, 0)), "too large to read"),  # 4 bytes made 4 GiB
    ],
    ids=["past", "stride-0"],
)
def test_a_tensor_the_storage_cannot_hold_is_refused(tmp_path, monkeypatch, tensor, says):
    path = tmp_path / "odd.pth"
    _torch_save(path, {"w": tensor}, {"0": np.zeros(4, np.float32)}, "zip", monkeypatch)
    with pytest.raises(lite.TorchFileError, match=says):
        lite.read_state_dict(path)


def test_the_packaged_state_dict(state):
    assert len(state) == 296 and list(state)[:2] == ["_conv_stem.weight", "_bn0.weight"]
    assert state["_conv_stem.weight"].shape == (32, 3, 3, 3)
    assert state["_blocks.15._depthwise_conv.weight"].shape == (1152, 1, 3, 3)
    assert state["_fc.weight"].shape == (1000, 1280) and state["_fc.weight"].dtype == np.float32
    assert state["_bn0.num_batches_tracked"].dtype == np.int64
    assert state["_bn0.num_batches_tracked"].shape == ()
    assert not any("_se_" in k for k in state)  # Lite: no squeeze-and-excitation


# -- the preprocessing ---------------------------------------------------------------------
def test_the_weights_expect_pixels_minus_127_over_128(state):
    """The stem's batch norm learnt the mean of its input over ImageNet. Each stem channel
    is linear in the pixels, so ImageNet's mean pixel predicts that mean under each
    candidate normalisation: (x - 127) / 128 (the TF lite models') fits it, ImageNet's
    per-channel mean and std (PyTorch's usual) predicts about zero everywhere."""
    mean_pixel = np.array([123.68, 116.78, 103.94])  # ImageNet's, RGB
    taps = state["_conv_stem.weight"].astype(np.float64).sum(axis=(2, 3))  # (32, 3)
    running = state["_bn0.running_mean"]
    tf_lite = taps @ ((mean_pixel - 127.0) / 128.0)
    torch_norm = taps @ ((mean_pixel / 255 - zoo.TORCH_MEAN) / zoo.TORCH_STD)
    assert np.corrcoef(tf_lite, running)[0, 1] > 0.95
    assert np.corrcoef(torch_norm, running)[0, 1] < 0
    assert np.abs(torch_norm).max() < 0.2 * np.abs(running).max()


def test_the_model_normalises_raw_pixels_itself():
    spec = zoo.input_spec(zoo.EFFICIENTNET_LITE0)
    assert spec.size == (224, 224) and spec.scaling is zoo.Scaling.RAW
    model = lite.build_model()
    rescale = model.get_layer("rescaling")
    out = np.asarray(rescale(np.array([[0.0, 127.0, 255.0]], np.float32)))
    np.testing.assert_allclose(out, [[-127 / 128, 0.0, 1.0]], atol=1e-6)
    assert zoo.detect_scaling(model)[0] is zoo.Scaling.RAW


# -- the conversion ------------------------------------------------------------------------
def test_keras_matches_an_independent_numpy_forward_pass(logits_model, state):
    import keras

    outputs = [logits_model.get_layer(n).output for n in CHECKPOINTS]
    probe = keras.Model(logits_model.input, outputs)
    photos = {name: _photo(name) for name in ("coffee", "chelsea")}
    outs = probe(np.stack(list(photos.values())), training=False)
    for i, (name, x) in enumerate(photos.items()):
        reference = numpy_lite0(x, state)
        for (layer, point), out in zip(CHECKPOINTS.items(), outs, strict=True):
            ok, why = _close(np.asarray(out)[i], reference[point])
            assert ok, f"{name}: {layer} vs the numpy {point}: {why}"
        if name == "coffee":
            assert int(np.argmax(reference["logits"])) == ESPRESSO


def test_layers_parameters_and_blocks(logits_model, state):
    model = logits_model
    names = [layer.name for layer in model.layers]
    assert names[:6] == [
        "input_layer",
        "rescaling",
        "stem_conv_pad",
        "stem_conv",
        "stem_bn",
        "stem_activation",
    ]
    assert names[-6:] == [
        "top_conv",
        "top_bn",
        "top_activation",
        "avg_pool",
        "top_dropout",
        "predictions",
    ]
    blocks = sorted({n.split("_")[0] for n in names if n.startswith("block")})
    assert len(blocks) == 16 and blocks[:3] == ["block1a", "block2a", "block2b"]
    assert "block6d_add" in names and "block2a_add" not in names  # stride 2: no skip
    assert model.get_layer("block3a_dwconv_pad").padding == ((1, 2), (1, 2))
    tensors = sum(v.size for k, v in state.items() if not k.endswith("num_batches_tracked"))
    assert model.count_params() == tensors == 4_694_024
    assert model.get_layer("stem_bn").epsilon == pytest.approx(1e-3)


def test_a_wrong_state_dict_is_named_and_changes_nothing(logits_model, state):
    broken = dict(state)
    del broken["_fc.bias"]
    broken["_blocks.3._depthwise_conv.weight"] = np.zeros((144, 1, 3, 3), np.float32)
    broken["_blocks.3._se_reduce.weight"] = np.zeros((6, 144, 1, 1), np.float32)
    before = logits_model.get_layer("block3a_dwconv").get_weights()[0].copy()
    with pytest.raises(lite.TorchFileError) as info:
        lite.set_state_dict(logits_model, broken)
    text = str(info.value)
    assert "_fc.bias is missing" in text and "_blocks.3._depthwise_conv" in text
    assert "_blocks.3._se_reduce.weight" in text
    np.testing.assert_array_equal(logits_model.get_layer("block3a_dwconv").get_weights()[0], before)


# -- the cache -----------------------------------------------------------------------------
def test_converted_once_then_read_from_the_data_folder(logits_model, data_dir):
    folder = data_dir / "converted"
    cached = lite.converted_path(folder=folder)
    assert cached.is_file() and cached.name == "efficientnet-lite0-57934424.v1.weights.h5"
    assert [p.name for p in folder.iterdir()] == [cached.name]  # no temporary file left
    messages = []
    again = lite.load_pretrained(folder=folder, progress=lambda f, m: messages.append(m))
    assert any("converted weights" in m for m in messages)
    assert not any("Converting" in m for m in messages)
    np.testing.assert_array_equal(
        again.get_layer("top_conv").get_weights()[0],
        logits_model.get_layer("top_conv").get_weights()[0],
    )


def test_a_damaged_cache_is_converted_again(tmp_path):
    cached = lite.converted_path(folder=tmp_path)
    cached.write_bytes(b"not hdf5")
    messages = []
    model = lite.load_pretrained(folder=tmp_path, progress=lambda f, m: messages.append(m))
    assert any("Converting" in m for m in messages)
    assert cached.stat().st_size > 1_000_000
    assert model.get_layer("predictions").get_weights()[1].shape == (1000,)


# -- the zoo and the command line ----------------------------------------------------------
def test_the_zoo_model_reads_photos(data_dir, monkeypatch):
    monkeypatch.setenv("FME_DATA_DIR", str(data_dir))  # the weights converted above
    loaded = zoo.load_zoo_model(zoo.EFFICIENTNET_LITE0)
    assert loaded.trained and loaded.title == "EfficientNet-Lite0 (ImageNet, offline)"
    assert zoo.EFFICIENTNET_LITE0 in zoo.IMAGENET_MODELS
    assert loaded.class_names[ESPRESSO] == "espresso" and loaded.input_shape == (224, 224, 3)
    photos = np.stack([_photo(n) for n in ("coffee", "chelsea", "rocket")])
    coffee, chelsea, rocket = (loaded.read_output(p, 5) for p in loaded.forward(photos))
    assert coffee.kind is zoo.OutputKind.PROBABILITIES and coffee.note == ""
    assert coffee.top[0].index == ESPRESSO and coffee.top[0].probability > 0.5
    assert chelsea.top[0].index in CATS and sum(p.index in CATS for p in chelsea.top) >= 3
    assert any(p.index in ROCKETS for p in rocket.top)


def test_untrained_and_from_a_weights_file(tmp_path):
    untrained = zoo.load_zoo_model(zoo.EFFICIENTNET_LITE0, weights=None)
    assert not untrained.trained and "untrained" in untrained.note
    from_pth = zoo.load_zoo_model(zoo.EFFICIENTNET_LITE0, weights=lite.packaged_weights())
    assert from_pth.trained and from_pth.weights == lite.packaged_weights()
    evil = tmp_path / "evil.pth"
    evil.write_bytes(_legacy_bytes(pickle.dumps(_Evil(os.system, "true"), protocol=2)))
    with pytest.raises(zoo.ModelLoadError, match="refused: it asks for"):
        zoo.load_zoo_model(zoo.EFFICIENTNET_LITE0, weights=evil)


def test_cli_predicts_espresso_without_network(data_dir, tmp_path):
    env = dict(os.environ, FME_DATA_DIR=str(data_dir), KERAS_HOME=str(tmp_path / "keras"))
    # Any download would go to a closed port and fail at once.
    env |= {"HTTP_PROXY": "http://127.0.0.1:9", "HTTPS_PROXY": "http://127.0.0.1:9"}
    result = subprocess.run(
        [
            sys.executable,
            "main.py",
            "predict",
            "--model",
            "efficientnet_lite0",
            str(SAMPLES / "coffee.jpg"),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    first = result.stdout.splitlines()[1]
    assert "espresso (967)" in first, result.stdout
