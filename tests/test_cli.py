"""The headless command line: ``predict``, ``activations`` and ``summary`` as a script
uses them (``predict`` in real subprocesses, started together since each imports
TensorFlow), their JSON checked against the engine; the rest in-process through
``main.main``, which is what the ``feature-map-explorer`` entry point calls.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest
from PIL import Image

import cli
import main
from engine.imaging.images import load_image
from engine.inspection.activations import ActivationProbe, layer_summary
from engine.inspection.architecture import model_graph
from engine.inspection.blocks import block_names
from engine.models import zoo
from engine.util.paths import SAMPLES

ROOT = Path(__file__).resolve().parent.parent
PHOTO = SAMPLES / "chelsea.jpg"


def _tiny_model(folder: Path) -> Path:
    """Raw pixels in (Rescaling inside), logits out, its labels in a file beside it."""
    keras.utils.set_random_seed(1)
    inputs = keras.Input((8, 8, 3), name="image")
    x = keras.layers.Rescaling(1 / 255, name="rescale")(inputs)
    x = keras.layers.Conv2D(2, 3, name="conv")(x)
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    outputs = keras.layers.Dense(3, name="logits", bias_initializer="ones")(x)
    path = folder / "tiny.keras"
    keras.Model(inputs, outputs).save(path)
    (folder / "tiny.labels.txt").write_text("ant\nbee\ncow\n")
    return path


@pytest.fixture(scope="module")
def files(tmp_path_factory, mnist_npz):
    d = tmp_path_factory.mktemp("cli")
    with np.load(mnist_npz) as data:
        digit, label = data["x_test"][0], int(data["y_test"][0])
    Image.fromarray(digit).save(d / "mnist.png")  # white on black, as in MNIST
    Image.fromarray(255 - digit).save(d / "paper.png")  # a dark digit on light paper
    return {"dir": d, "label": label, "model": _tiny_model(d)}


def _start(data_dir: Path, *args: str) -> subprocess.Popen:
    env = {**os.environ, "FME_DATA_DIR": str(data_dir)}  # never the person's own weights
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)  # the command line silences TensorFlow itself
    return subprocess.Popen(
        [sys.executable, str(ROOT / "main.py"), *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.fixture(scope="module")
def runs(files):
    """Two commands run at once (each pays a TensorFlow import): rc, stdout, stderr."""
    d = files["dir"]
    started = {
        "digits": _start(
            d / "user-data",
            "predict",
            "--model",
            "mnist",
            "--top",
            "3",
            "--json",
            str(d / "mnist.png"),
            str(d / "paper.png"),
        ),  # fmt: skip
        "file": _start(
            d / "user-data", "predict", "--model", str(files["model"]), "--json", str(PHOTO)
        ),
    }
    results = {}
    for name, process in started.items():
        out, err = process.communicate(timeout=120)
        results[name] = (process.returncode, out, err)
    return results


def _no_chatter(err: str) -> None:
    for noise in ("oneDNN", "absl", "tensorflow/", "I0000", "cuda"):
        assert noise not in err, err


def test_predict_digits_json(runs, files):
    rc, out, err = runs["digits"]
    assert rc == 0, err
    _no_chatter(err)
    doc = json.loads(out)  # exactly one JSON document on stdout
    assert list(doc) == ["model", "input_scaling", "results"]
    assert doc["model"] == "mnist" and doc["input_scaling"] == "unit"
    assert [r["image"] for r in doc["results"]] == [
        str(files["dir"] / "mnist.png"),
        str(files["dir"] / "paper.png"),
    ]
    loaded = zoo.load_zoo_model(zoo.MNIST)
    for result in doc["results"]:
        assert list(result) == ["image", "top"] and len(result["top"]) == 3
        assert all(list(p) == ["index", "label", "probability"] for p in result["top"])
        # Prepared as the Draw panel prepares a drawing, through the same function.
        x = loaded.prepare(load_image(result["image"]))
        probs = loaded.forward(x[None])[0]
        order = np.argsort(probs)[::-1][:3]
        assert [p["index"] for p in result["top"]] == order.tolist()
        assert [p["label"] for p in result["top"]] == [str(i) for i in order]
        np.testing.assert_allclose([p["probability"] for p in result["top"]], probs[order], 1e-5)
    first, second = (r["top"][0] for r in doc["results"])
    assert first["index"] == second["index"] == files["label"]  # either ink, the same digit
    assert first["probability"] == pytest.approx(second["probability"], abs=1e-3)


def test_predict_a_model_file_json(runs, files):
    rc, out, err = runs["file"]
    assert rc == 0, err
    _no_chatter(err)
    assert "Rescaling 'rescale'" in err and "logits → softmax" in err  # notes on stderr
    doc = json.loads(out)
    assert doc["model"] == str(files["model"]) and doc["input_scaling"] == "raw"
    [result] = doc["results"]
    # What the model receives, by hand: resized to 8x8, raw 0..255, then softmax of logits.
    x = zoo.resize_image(load_image(PHOTO), (8, 8))
    logits = np.asarray(keras.saving.load_model(files["model"])(x[None]))[0].astype(np.float64)
    probs = np.exp(logits - logits.max()) / np.exp(logits - logits.max()).sum()
    order = np.argsort(probs)[::-1]
    assert [p["label"] for p in result["top"]] == [["ant", "bee", "cow"][i] for i in order]
    np.testing.assert_allclose([p["probability"] for p in result["top"]], probs[order], 1e-5)


def test_summary_json(capsys):
    assert main.main(["summary", "--model", "mnist", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert list(doc) == ["layers", "total_params", "total_macs", "device"]
    assert doc["device"] == "CPU"  # no GPU here
    model = zoo.load_zoo_model(zoo.MNIST).model
    graph = model_graph(model)
    assert doc["layers"] == [
        {
            "name": r.name,
            "type": r.type,
            "output_shape": list(r.output_shape),
            "params": r.params,
            "macs": graph.node(r.name).macs,
            "block": block_names(model)[r.name],
        }
        for r in layer_summary(model)
    ]
    assert {r["block"] for r in doc["layers"]} == {"block 1", "top"}
    assert doc["layers"][0]["macs"] == 26 * 26 * 32 * 3 * 3 * 1
    assert doc["total_params"] == 1_199_882 and doc["total_macs"] == graph.total_macs


def test_activations_writes_the_named_layers(files, tmp_path, capsys):
    out = tmp_path / "acts.npz"
    image = files["dir"] / "paper.png"
    args = ["activations", "--model", str(files["model"]), "--image", str(image)]
    assert main.main([*args, "--out", str(out), "--layers", "conv,logits"]) == 0
    assert capsys.readouterr().out == f"wrote the activations of 2 layers to {out}\n"
    loaded = zoo.load_user_model(files["model"])
    expected = ActivationProbe(loaded.model).run(loaded.prepare(load_image(image)))
    with np.load(out) as saved:
        assert sorted(saved) == ["conv", "logits"]
        for name in saved:
            np.testing.assert_allclose(saved[name], expected[name], rtol=1e-6)
    assert main.main([*args, "--out", str(out), "--layers", "conv,nope"]) == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if "error" in line]
    assert errors == [
        f"error: '{files['model']}' has no layer 'nope'; its layers: rescale, conv, pool, logits"
    ]


def test_summary_text_and_a_model_of_any_size(tmp_path, capsys):
    inputs = keras.Input((None, None, 1))
    path = tmp_path / "free.keras"
    keras.Model(inputs, keras.layers.Conv2D(4, 3, name="c")(inputs)).save(path)
    assert main.main(["summary", "--model", str(path)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "Model: free.keras, input (None, None, 1)"
    assert out[2].split() == ["c", "(Conv2D)", "(None,", "None,", "4)", "40", "36", "block", "1"]
    assert out[3:5] == ["Total params: 40", "Total MACs: 36 (multiply-accumulates for one image)"]


def _fails(argv, capsys, *fragments):
    assert main.main(argv) == cli.EXIT_ERROR == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    line = captured.err.strip().splitlines()[-1]
    assert line.startswith("error: ") and captured.err.count("error: ") == 1
    for fragment in fragments:
        assert fragment in line, line


def test_bad_input_is_one_line_naming_the_file(files, tmp_path, capsys):
    missing = tmp_path / "nope.png"
    _fails(["predict", "--model", "mnist", str(missing)], capsys, f"'{missing}' does not exist")
    damaged = tmp_path / "damaged.jpg"
    damaged.write_bytes(b"not an image")
    _fails(["predict", "--model", "mnist", str(damaged)], capsys, "'damaged.jpg' is not an image")
    photo = str(PHOTO)
    _fails(["predict", "--model", "lenet6", photo], capsys, "unknown model 'lenet6'")
    _fails(["predict", "--model", str(tmp_path / "m.keras"), photo], capsys, "m.keras' does not")
    wrong = files["dir"] / "wrong.labels.txt"
    wrong.write_text("one\ntwo\n")
    _fails(
        ["predict", "--model", str(files["model"]), "--labels", str(wrong), photo],
        capsys,
        "'wrong.labels.txt' has 2 labels but 'tiny.keras''s output has 3 values",
    )
    _fails(
        ["summary", "--model", "mnist", "--weights", str(files["model"])],
        capsys,
        "'tiny.keras' does not hold MNIST CNN (the lecture's) weights",
    )


def test_imagenet_weights_offline_is_a_clear_error(monkeypatch, capsys):
    from keras.src.utils import file_utils

    def offline(*_a, **_k):
        raise OSError("network is unreachable")

    monkeypatch.setattr(file_utils, "get_file", offline)
    _fails(
        ["predict", "--model", "mobilenetv2", str(PHOTO)],
        capsys,
        "MobileNetV2's ImageNet weights could not be downloaded",
        "network is unreachable",
        "--weights none",
    )


def test_untrained_and_chosen_scaling_options(files, capsys):
    argv = [
        "predict",
        "--model",
        str(files["model"]),
        "--scaling",
        "unit",
        "--top",
        "1",
        str(PHOTO),
    ]
    assert main.main([*argv, "--json"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["input_scaling"] == "unit" and "Rescaling" not in captured.err
    assert main.main(["predict", "--model", "lenet5", "--weights", "none", str(PHOTO)]) == 0
    captured = capsys.readouterr()
    assert "untrained" in captured.err and captured.out.startswith(f"{PHOTO}\n")


def test_the_help_names_every_zoo_model(capsys):
    with pytest.raises(SystemExit):
        main.main(["predict", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert all(key in text for key in zoo.MODEL_TITLES), text


# -- ONNX files -----------------------------------------------------------------------------
def _onnx_model(folder: Path) -> Path:
    """A PyTorch-style export: NCHW with a dynamic batch and size, scoped node names,
    logits out; weights from a Keras model that serves as the reference."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    keras.utils.set_random_seed(2)
    inputs = keras.Input((None, None, 3))
    x = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="conv")(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    reference = keras.Model(inputs, keras.layers.Dense(3, bias_initializer="ones")(x))
    kernel, bias = reference.layers[1].get_weights()
    dense_w, dense_b = reference.layers[-1].get_weights()
    weights = {
        "conv.w": kernel.transpose(3, 2, 0, 1),
        "conv.b": bias,
        "fc.w": dense_w,
        "fc.b": dense_b,
    }
    nodes = [
        helper.make_node("Conv", ["x", "conv.w", "conv.b"], ["c"], "/conv1/Conv", pads=[1] * 4),
        helper.make_node("Relu", ["c"], ["r"], "/relu/Relu"),
        helper.make_node("GlobalAveragePool", ["r"], ["g"], "/avgpool/GlobalAveragePool"),
        helper.make_node("Flatten", ["g"], ["f"], "/Flatten"),
        helper.make_node("Gemm", ["f", "fc.w", "fc.b"], ["logits"], "/fc/Gemm"),
    ]
    graph = helper.make_graph(
        nodes,
        "torch_jit",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 3, "h", "w"])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 3])],
        [numpy_helper.from_array(v.astype(np.float32), k) for k, v in weights.items()],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    helper.set_model_props(model, {"classes": '["ant", "bee", "cow"]'})
    path = folder / "torchlike.onnx"
    onnx.save(model, path)
    return path, reference


def test_predict_summary_and_activations_of_an_onnx_file(tmp_path, capsys):
    path, reference = _onnx_model(tmp_path)
    assert main.main(["predict", "--model", str(path), "--json", "--size", "32", str(PHOTO)]) == 0
    captured = capsys.readouterr()
    _no_chatter(captured.err)
    assert "torchvision" in captured.err and "a guess" in captured.err
    assert "logits → softmax" in captured.err
    doc = json.loads(captured.out)
    assert doc["input_scaling"] == "torch"
    # By hand: shorter side 32, torchvision's mean and std, the Keras reference, softmax.
    image = load_image(PHOTO)
    h, w = image.shape[:2]
    x = zoo.resize_image(image, (32, round(w * 32 / h))) / 255.0
    x = (x - zoo.TORCH_MEAN) / zoo.TORCH_STD
    logits = np.asarray(reference(x[None].astype(np.float32)))[0]
    probs = zoo.softmax(logits)
    order = np.argsort(probs)[::-1]
    [result] = doc["results"]
    assert [p["label"] for p in result["top"]] == [["ant", "bee", "cow"][i] for i in order]
    np.testing.assert_allclose([p["probability"] for p in result["top"]], probs[order], 1e-4)

    assert main.main(["summary", "--model", str(path), "--json"]) == 0
    table = json.loads(capsys.readouterr().out)
    assert [(r["name"], r["block"]) for r in table["layers"]] == [
        ("/conv1/Conv", "block 1"),
        ("/relu/Relu", "block 1"),
        ("/avgpool/GlobalAveragePool", "block 1"),
        ("/Flatten", "top"),
        ("/fc/Gemm", "top"),
    ]
    assert table["layers"][0]["output_shape"] == [None, None, 4]
    assert table["layers"][0]["macs"] == 224 * 224 * 4 * 3 * 3 * 3  # measured at 224x224
    assert table["total_params"] == reference.count_params()

    out = tmp_path / "acts.npz"
    argv = ["activations", "--model", str(path), "--image", str(PHOTO), "--out", str(out)]
    assert main.main([*argv, "--size", "32", "--layers", "/relu/Relu,/fc/Gemm"]) == 0
    with np.load(out) as saved:
        assert sorted(saved) == ["/fc/Gemm", "/relu/Relu"]
        assert saved["/relu/Relu"].shape == (32, round(w * 32 / h), 4)
        np.testing.assert_allclose(saved["/fc/Gemm"], logits, rtol=1e-4, atol=1e-5)


def test_a_bad_onnx_file_is_one_line(tmp_path, capsys):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"\x00\x01 not protobuf at all \xff\xfe")
    _fails(["predict", "--model", str(bad), str(PHOTO)], capsys, "'bad.onnx' is not an ONNX model")
    missing = tmp_path / "missing.onnx"
    _fails(["summary", "--model", str(missing)], capsys, f"'{missing}' does not exist")
    path, _ = _onnx_model(tmp_path)
    _fails(
        ["predict", "--model", str(path), "--weights", "none", str(PHOTO)],
        capsys,
        "'torchlike.onnx' is an ONNX file with its own weights",
    )
