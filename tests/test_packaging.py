"""Installs like a real application: the wheel carries the shipped weights, their figures
and the sample photos, and the installed engine finds them; on a Linux desktop without
Qt's X11 libraries the app says which to install instead of Qt's abort.

The wheel is built offline from a copy of the sources (``pip wheel --no-deps
--no-build-isolation``: setuptools and wheel from this environment, no build folder
left in the working tree), then unpacked and imported in a fresh interpreter, as a
non-editable install would be.
"""

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import main

ROOT = Path(__file__).resolve().parent.parent
SOURCES = ("engine", "gui", "resources", "main.py", "cli.py", "pyproject.toml", "README.md")


def _can_build_offline() -> bool:
    if importlib.util.find_spec("setuptools") is None:
        return False
    import setuptools

    major, minor = (int(p) for p in setuptools.__version__.split(".")[:2])
    # setuptools builds wheels itself from 70.1; before that it needs the wheel package.
    return (major, minor) >= (70, 1) or importlib.util.find_spec("wheel") is not None


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    if not _can_build_offline():
        pytest.skip("setuptools (with wheel) is not installed here: cannot build offline")
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"
    src.mkdir()
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    for name in SOURCES:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, src / name, ignore=ignore)
        else:
            shutil.copy2(ROOT / name, src / name)
    cmd = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q"]
    result = subprocess.run(
        [*cmd, "--disable-pip-version-check", str(src), "-w", str(tmp / "dist")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    [built] = (tmp / "dist").glob("feature_map_explorer-*.whl")
    return built


def _shipped() -> list[str]:
    """What the wheel must carry, as paths inside it."""
    resources = ROOT / "resources"
    files = [
        *resources.glob("*.weights.h5"),
        *resources.glob("*.json"),
        resources / "README.md",
        *(resources / "samples").glob("*.jpg"),
    ]
    return sorted(f"engine/resources/{p.relative_to(resources).as_posix()}" for p in files)


def test_the_wheel_carries_the_resources_and_every_module(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    shipped = _shipped()
    assert "engine/resources/mnist_cnn.weights.h5" in shipped
    assert "engine/resources/lenet5.json" in shipped
    assert len([n for n in shipped if n.startswith("engine/resources/samples/")]) >= 4
    assert set(shipped) <= names, set(shipped) - names
    modules = {
        p.relative_to(ROOT).as_posix()
        for package in ("engine", "gui")
        for p in (ROOT / package).rglob("*.py")
        if "__pycache__" not in p.parts
    }
    assert modules | {"main.py", "cli.py"} <= names, sorted(modules - names)
    assert not any(n.startswith(("tests/", "resources/", "bench/")) for n in names)
    [entry_points] = [n for n in names if n.endswith(".dist-info/entry_points.txt")]
    text = zipfile.ZipFile(wheel).read(entry_points).decode()
    assert "feature-map-explorer = main:main" in text


def test_the_installed_engine_finds_its_resources_and_weights(wheel, tmp_path):
    site = tmp_path / "site-packages"
    zipfile.ZipFile(wheel).extractall(site)
    code = (
        "import json, engine, engine.util.paths as p\n"
        "from engine.models import mnist_model, zoo\n"
        "m = zoo.load_zoo_model('mnist')\n"
        "print(json.dumps({'engine': engine.__file__, 'resources': str(p.RESOURCES),\n"
        "    'samples': sorted(str(v) for v in p.sample_images().values()),\n"
        "    'weights': str(m.weights), 'trained': m.trained,\n"
        "    'info': mnist_model.weights_info('lenet5').test_accuracy}))\n"
    )
    env = {
        **os.environ,
        "PYTHONPATH": str(site),
        "FME_DATA_DIR": str(tmp_path / "user-data"),
        "TF_CPP_MIN_LOG_LEVEL": "3",
    }
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout.strip().splitlines()[-1])
    installed = site / "engine"
    assert found["engine"] == str(installed / "__init__.py")  # not the source tree
    assert found["resources"] == str(installed / "resources")
    assert [Path(s).name for s in found["samples"]] == sorted(
        p.name for p in (ROOT / "resources" / "samples").glob("*.jpg")
    )
    assert all(s.startswith(str(installed / "resources" / "samples")) for s in found["samples"])
    assert found["weights"] == str(installed / "resources" / "mnist_cnn.weights.h5")
    assert found["trained"] is True and found["info"] is not None


# -- Qt's system libraries ------------------------------------------------------------------
def _loads_all_but(*missing):
    return lambda name: name not in missing


def test_a_desktop_without_xcb_libraries_is_told_what_to_install():
    missing = main.missing_qt_libraries(
        {"DISPLAY": ":0"}, "linux", _loads_all_but("libxcb-cursor.so.0")
    )
    assert missing == [("libxcb-cursor.so.0", "libxcb-cursor0")]
    assert main.qt_libraries_message(missing) == (
        "Qt cannot open a window: libxcb-cursor.so.0 is missing. "
        "Install it with: sudo apt-get install libxcb-cursor0"
    )
    two = main.missing_qt_libraries(
        {"QT_QPA_PLATFORM": "xcb", "DISPLAY": ":1"},
        "linux",
        _loads_all_but("libxcb-icccm.so.4", "libEGL.so.1"),
    )
    assert main.qt_libraries_message(two) == (
        "Qt cannot open a window: libEGL.so.1 and libxcb-icccm.so.4 are missing. "
        "Install them with: sudo apt-get install libegl1 libxcb-icccm4"
    )


def test_only_what_the_platform_needs_is_checked():
    none = _loads_all_but(*(lib for lib, _ in main.QT_LIBRARIES + main.QT_XCB_LIBRARIES))
    offscreen = main.missing_qt_libraries({"QT_QPA_PLATFORM": "offscreen"}, "linux", none)
    assert [lib for lib, _ in offscreen] == [lib for lib, _ in main.QT_LIBRARIES]
    wayland = main.missing_qt_libraries({"DISPLAY": ":0", "WAYLAND_DISPLAY": "w-0"}, "linux", none)
    assert "libxcb-cursor.so.0" not in dict(wayland)
    assert main.missing_qt_libraries({"DISPLAY": ":0"}, "darwin", none) == []
    assert main.missing_qt_libraries({"DISPLAY": ":0"}, "win32", none) == []


def test_the_app_exits_with_the_line_instead_of_starting_qt(monkeypatch, capsys):
    monkeypatch.setattr(
        main, "missing_qt_libraries", lambda: [("libxcb-keysyms.so.1", "libxcb-keysyms1")]
    )
    assert main.main([]) == 1
    err = capsys.readouterr().err
    assert err == (
        "Qt cannot open a window: libxcb-keysyms.so.1 is missing. "
        "Install it with: sudo apt-get install libxcb-keysyms1\n"
    )


def test_this_machine_has_what_qt_needs_offscreen():
    # The suite imports PySide6 offscreen, so these must load here (see the README).
    assert main.missing_qt_libraries({"QT_QPA_PLATFORM": "offscreen"}) == []
