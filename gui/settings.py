"""Where the app's settings live: Qt's usual place, or the data folder's override."""

from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtCore import QCoreApplication, QSettings

ORGANISATION = APP = "feature-map-explorer"


def configure_settings() -> Path | None:
    """Name the app for QSettings; with ``FME_DATA_DIR`` set, keep the settings there too
    (an INI file under ``$FME_DATA_DIR/settings``), so one variable moves all the app's
    files. Returns that folder, or None for Qt's usual place."""
    QCoreApplication.setOrganizationName(ORGANISATION)
    QCoreApplication.setApplicationName(APP)
    override = os.environ.get("FME_DATA_DIR")
    if not override:
        return None
    folder = Path(override) / "settings"
    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(folder))
    return folder
