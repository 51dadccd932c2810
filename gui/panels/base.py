"""What the main window may ask of any panel (instead of ``getattr`` protocols)."""

from __future__ import annotations

from PySide6.QtWidgets import QWidget


class Panel(QWidget):
    """A tab of the main window. Subclasses override what they support."""

    #: Whether File > Open image… (Ctrl+O) applies to this panel.
    opens_images = False
    #: The column of controls that presenter mode can hide (None: the panel has none
    #: apart from what it shows).
    controls: QWidget | None = None

    def set_controls_visible(self, visible: bool) -> None:
        """Show or hide the control column (View > Hide the controls)."""
        if self.controls is not None:
            self.controls.setVisible(visible)

    def open_image_dialog(self) -> None:
        """Ask for an image file and make it this panel's input."""
        raise NotImplementedError(f"{type(self).__name__} does not open images")

    def is_ready(self) -> bool:
        """True once the panel shows what it will show (for screenshots)."""
        return True

    def prepare_screenshot(self) -> None:
        """Put the panel into the state the README's screenshot shows."""

    def show_part(self, part: str) -> None:
        """Show a named part of the panel (a tab); unknown parts are ignored."""

    def scene(self) -> dict:
        """What the panel shows, as a scene (``engine.teaching.scene``): File > Save scene…"""
        return {}

    def apply_scene(self, scene: dict) -> None:
        """Show ``scene`` (checked by ``engine.teaching.scene.check_scene``), through the same
        controls and state intents a person's clicks use."""

    def figure_widget(self) -> QWidget:
        """What File > Export figure… and Copy figure render: what the panel shows."""
        return self

    def confirm_close(self) -> bool:
        """The window is closing: stop or ask; False keeps the window open."""
        return True
