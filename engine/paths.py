"""Where the app keeps its files: shipped resources and the user's data folder."""

from __future__ import annotations

import os
import sys
from pathlib import Path

RESOURCES = Path(__file__).resolve().parent.parent / "resources"
SAMPLES = RESOURCES / "samples"

APP_NAME = "feature-map-explorer"


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
