"""What the main window may ask of any panel (instead of ``getattr`` protocols)."""

from __future__ import annotations

from PySide6.QtWidgets import QWidget


class Panel(QWidget):
    """A tab of the main window. Subclasses override what they support."""

    #: Whether File > Open image… (Ctrl+O) applies to this panel.
    opens_images = False

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

    def confirm_close(self) -> bool:
        """The window is closing: stop or ask; False keeps the window open."""
        return True
