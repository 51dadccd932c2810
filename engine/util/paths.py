"""Where the app keeps its files: shipped resources and the user's data folder.

The shipped weights, their figures and the sample photos are the package data
``engine/resources`` of an installed wheel (``pyproject.toml`` maps the repository's
top-level ``resources/`` there); run from the source tree, they are that folder itself.

>>> (RESOURCES / "mnist_cnn.weights.h5").is_file(), SAMPLES.name
(True, 'samples')
"""

from __future__ import annotations

import os
import sys
from importlib import resources
from pathlib import Path

APP_NAME = "feature-map-explorer"


def _find_resources() -> Path:
    """The installed package data if there is any, else the source tree's ``resources/``."""
    installed = resources.files("engine") / "resources"
    if installed.is_dir():
        # A wheel unpacked on the file system: a real folder, usable by Keras and Pillow.
        return Path(str(installed))
    return Path(__file__).resolve().parents[2] / "resources"


RESOURCES = _find_resources()
SAMPLES = RESOURCES / "samples"


def user_data_dir() -> Path:
    """The per-user folder for trained weights and logs (created on demand).

    ``FME_DATA_DIR`` overrides it (tests point it at a temporary folder).
    """
    override = os.environ.get("FME_DATA_DIR")
    if override:
        base = Path(override)
    elif sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA", Path.home() / "AppData" / "Local")) / APP_NAME
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Application Support" / APP_NAME
    else:
        base = Path(os.environ.get("XDG_DATA_HOME", Path.home() / ".local" / "share")) / APP_NAME
    base.mkdir(parents=True, exist_ok=True)
    return base


def sample_images() -> dict[str, Path]:
    """The shipped sample photographs, by display name."""
    return {p.stem.capitalize(): p for p in sorted(SAMPLES.glob("*.jpg"))}
