"""Scenes and the shipped lecture: every heading of the slides has a step, the steps hold
the slides' own numbers (checked against scipy and plain numpy), bad scenes are named."""

import json

import numpy as np
import pytest
from scipy.signal import correlate2d

import main
from engine.teaching import lecture as slides
from engine.teaching.scene import (
    LECTURE_FILE,
    Lecture,
    SceneError,
    check_lecture,
    check_scene,
    dumps,
    read_lecture,
    read_scene,
    write_lecture,
    write_scene,
)

#: The lecture's headings (lecture/slides.txt) as the lecturer's trial listed them.
HEADINGS = (
    "Topics",
    "Key terminologies: the input image",
    "Multilayer Perceptron",
    "Why not Multilayer Perceptron?",
    "Key terminologies: kernel",
    "Convolution - 2D",
    "CNN: Architecture",
    "Key Idea",
    "Strides 1",
    "Strides 2",
    "Strides 3",
    "Feature map dimensions",
    "Padding",
    "Subsampling: Pooling",
    "Max-pooling",
    "CNN: Visualization of filters",
    "Deeper layers",
    "Deep Visualization Toolbox",
    "What happens after Convolution & Activation?",
    "CNN Architecture: Overview",
    "Model Summary in Keras",
    "Overall Architecture",
    "Demo",
    "Latest trends",
    "Inception Module",
    "ResNet",
    "Network Examples",
)


@pytest.fixture(scope="module")
def shipped():
    return read_lecture()


def _step(lecture, title):
    return next(s for s in lecture.steps if s["title"] == title)


def test_every_heading_of_the_slides_has_a_step_in_order(shipped):
    titles = [s["title"] for s in shipped.steps]
    position = -1
    for heading in HEADINGS:
        found = [i for i, t in enumerate(titles) if heading in t and i > position]
        assert found, f"no step for {heading!r} after step {position + 1}"
        position = found[0]
    for step in shipped.steps:
        assert step["caption"] and len(step["caption"]) < 450  # one to three sentences


def test_the_steps_hold_the_slides_numbers(shipped):
    conv = _step(shipped, "Convolution - 2D")
    image, kernel = np.array(conv["input"]), np.array(conv["kernels"][0])
    assert image.tolist() == slides.BINARY_5X5.tolist()
    assert kernel.tolist() == slides.X_KERNEL.tolist()
    feature = correlate2d(image, kernel, mode="valid")
    assert feature[0, 0] == 4 and conv["cell"] == [0, 0]
    assert _step(shipped, "Multilayer Perceptron")["input"] == [[1, 1, 0], [4, 2, 1], [0, 2, 1]]
    pool = _step(shipped, "Max-pooling")
    x = np.array(pool["input"])
    assert pool["operation"] == "max pooling" and pool["filter"] == 2 and pool["stride"] == 2
    assert x.reshape(2, 2, 2, 2).max(axis=(1, 3)).tolist() == [[6, 8], [3, 4]]
    for title, stride, size in (("Strides 1", 1, 5), ("Strides 2", 2, 3), ("Strides 3", 3, 2.33)):
        step = _step(shipped, title)
        assert (step["size"], len(step["kernel"]), step["stride"]) == (7, 3, stride)
        assert round((7 - 3) / stride + 1, 2) == size
    assert _step(shipped, "Padding")["padding"] == 1
    key_idea = _step(shipped, "Convolutional Neural Network: Key Idea")
    assert key_idea["kernels"] == [[[-1, 0, 1]] * 3, [[-1, -1, -1], [0, 0, 0], [1, 1, 1]]]
    grid = np.array(_step(shipped, "Key terminologies: the input image")["input"])
    assert grid.shape == (20, 20) and grid[0, :4].tolist() == [8, 2, 22, 97]
    six = _step(shipped, "CNN: Architecture (six 5x5x3 filters, a 28x28x6 new image)")
    assert six["size"] == 32 and six["colour"] and np.shape(six["kernels"]) == (6, 5, 5, 3)


def test_a_bad_scene_is_named_in_one_sentence():
    with pytest.raises(SceneError, match=r'"stride" must be a whole number from 1 to 8'):
        check_scene({"panel": "kernels", "stride": "two"})
    with pytest.raises(SceneError, match=r'"panel" is missing'):
        check_scene({"stride": 1})
    with pytest.raises(SceneError, match=r'"kernels" must all have one size'):
        check_scene({"panel": "kernels", "kernels": [[[1, 0, 1]] * 3, [[0] * 5] * 5]})
    with pytest.raises(SceneError, match=r'"input" has \'x\' in row 1, column 0'):
        check_scene({"panel": "stride", "input": [[1, 2, 3], ["x", 2, 3], [1, 2, 3]]})
    with pytest.raises(SceneError, match=r'"operation" must be one of convolution'):
        check_scene({"panel": "stride", "operation": "min pooling"})
    with pytest.raises(SceneError, match=r'"steps\[2\].tab" must be one of'):
        check_lecture({"steps": [{"panel": "draw"}, {"panel": "activations", "tab": "x"}]})


def test_a_damaged_file_names_its_line(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text('{"panel": "kernels",\n "stride": }')
    with pytest.raises(SceneError, match=r"broken.json is not JSON \(line 2"):
        read_scene(path)
    with pytest.raises(SceneError, match="does not exist"):
        read_scene(tmp_path / "missing.json")


def test_scenes_and_lectures_round_trip_and_are_never_half_written(tmp_path):
    scene = {
        "title": "Six kernels",
        "caption": "c",
        "panel": "kernels",
        "input": np.arange(32 * 32).reshape(32, 32).tolist(),
        "kernels": [np.eye(5, dtype=int).tolist()] * 6,
        "stride": 1,
        "padding": "valid",
    }
    path = write_scene(tmp_path / "scene.json", scene)
    assert read_scene(path) == scene
    before = path.read_text()
    with pytest.raises(SceneError):
        write_scene(path, {**scene, "stride": 0})
    assert path.read_text() == before and list(tmp_path.iterdir()) == [path]
    lecture = Lecture("Mine", [scene, {"panel": "draw", "title": "t", "caption": ""}])
    write_lecture(tmp_path / "lecture.json", lecture)
    assert read_lecture(tmp_path / "lecture.json") == lecture
    # A row of a grid is one line, so a person can edit the file by hand.
    assert "\n  [0, 1, 0, 0, 0],\n" in dumps({"kernel": np.eye(5, dtype=int).tolist()})
    assert "\n  [32, 33, 34, " in path.read_text()


def test_the_lecture_command_lists_steps_and_prints_scenes(capsys):
    lecture = read_lecture(LECTURE_FILE)
    assert main.main(["lecture", "--list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == lecture.title and len(lines) == len(lecture.steps) + 1
    assert lines[6].split()[:4] == ["6", "Convolution", "-", "2D"]
    assert main.main(["lecture", "--scene", "6"]) == 0
    assert json.loads(capsys.readouterr().out) == lecture.steps[5]
    assert main.main(["lecture", "--scene", "0"]) == 2
    assert "there is no 0" in capsys.readouterr().err


def test_a_file_is_read_once_as_a_scene_or_a_lecture(tmp_path):
    from engine.teaching.scene import read_file

    path = write_lecture(tmp_path / "l.json", Lecture("L", [{"panel": "draw"}]))
    assert isinstance(read_file(path), Lecture)
    with pytest.raises(SceneError, match="this file is a lecture"):
        read_scene(path)
    scene = write_scene(tmp_path / "s.json", {"panel": "stride", "stride": 2})
    assert read_file(scene) == {"panel": "stride", "stride": 2}
