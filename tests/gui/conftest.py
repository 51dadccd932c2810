"""GUI tests run offscreen with settings of their own.

PySide6 is imported at module level on purpose: if it cannot be imported (a machine
without libEGL.so.1, say) the suite fails loudly instead of skipping the GUI tests.
"""

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest  # noqa: E402
from PySide6.QtCore import QCoreApplication, QSettings  # noqa: E402

import gui  # noqa: E402, F401  (binds pyqtgraph to PySide6 and configures it)


@pytest.fixture(autouse=True)
def _isolated_settings(tmp_path):
    QCoreApplication.setOrganizationName("feature-map-explorer-tests")
    QCoreApplication.setApplicationName("feature-map-explorer-tests")
    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(tmp_path / "ini"))
    yield
    QSettings().clear()
