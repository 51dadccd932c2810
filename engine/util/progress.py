"""How long work reports progress and hears that it is to stop, without knowing of Qt.

Every long function of the engine takes ``progress(fraction, message)`` (default: says
nothing) and, where it can stop between steps, ``cancelled()`` (default: never); a
worker thread passes its own (Orange's ``dummy_callback``; superqt's workers).

>>> no_progress(0.5, "half way"), never_cancelled(), ignore("a record")
(None, False, None)
"""

from __future__ import annotations

from collections.abc import Callable

#: ``progress(fraction, message)``: ``fraction`` from 0 to 1, ``message`` for a person.
ProgressCallback = Callable[[float, str], None]
#: ``cancelled()``: True once the work is to stop.
CancelCheck = Callable[[], bool]


def no_progress(fraction: float, message: str) -> None:
    """The default progress callback: says nothing."""


def never_cancelled() -> bool:
    """The default cancel check: the work is never asked to stop."""
    return False


def ignore(*_: object) -> None:
    """The default of any other callback (a record, a picture): does nothing."""
