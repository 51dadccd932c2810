"""The disk cache of feature-visualisation pictures: one ``.npz`` per channel.

A picture of what a channel wants (``featurevis.maximize``) takes seconds to minutes, so
each one is kept in ``cache_dir()`` under a key of the model's weights, the layer, the
channel and the settings (``featurevis.cache_key``): a layer's gallery is made once and
browsed instantly later, and a model edited in place gets pictures of its own.

- ``PictureSettings``: what a picture is made with besides the model and the channel;
  ``path(channel, digest)`` where its picture is kept.
- ``read_cached``: the picture in a file, or None.
- ``missing_channels``: which channels of a layer have no picture yet.
- ``make_picture``: read a channel's picture from the cache, or make and keep it.

The "What it wants" tab runs these on the model thread; so can the command line.
TensorFlow is imported only by ``featurevis``' functions, when a picture is made.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from engine.explanation import featurevis
from engine.util.paths import user_data_dir
from engine.util.progress import CancelCheck, never_cancelled

if TYPE_CHECKING:
    from engine.models.zoo import LoadedModel

log = logging.getLogger(__name__)

#: The seed of every picture (part of the cache key): the same picture every time.
SEED = 0


def cache_dir() -> Path:
    """Where the pictures are kept: ``user_data_dir()/featurevis`` (made on demand)."""
    folder = user_data_dir() / "featurevis"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _no_frame(fraction: float, image: np.ndarray) -> None:
    """The default ``frame`` callback of ``make_picture``: does nothing."""


@dataclass(frozen=True)
class PictureSettings:
    """What a picture is made with, besides the model and the channel.

    ``size`` is the picture's (height, width); ``ask_size`` what ``maximize`` is given
    (None: the model's own size, for a model of a fixed size); ``scaling`` the model's
    input convention (``InputSpec.scaling``), part of the key.

    >>> s = PictureSettings("conv2d_1", (28, 28), None, 64, "unit")
    >>> s.key_settings()
    {'size': [28, 28], 'steps': 64, 'seed': 0, 'scaling': 'unit'}
    """

    layer: str
    size: tuple[int, int]
    ask_size: int | None
    steps: int
    scaling: Any

    def key_settings(self) -> dict[str, Any]:
        """The settings that go into the cache key (``featurevis.cache_key``)."""
        return {"size": list(self.size), "steps": self.steps, "seed": SEED, "scaling": self.scaling}

    def path(self, channel: int, digest: str) -> Path:
        """Where the picture of ``channel`` is kept, for weights of ``digest``
        (``featurevis.weights_digest``)."""
        key = featurevis.cache_key(None, self.layer, channel, self.key_settings(), digest=digest)
        return cache_dir() / f"{key}.npz"


@dataclass(frozen=True)
class Picture:
    """A channel's picture: ``seconds`` it took to make (None: read from the cache);
    ``digest`` of the weights it was made from; ``save_error`` why it could not be kept
    in the cache ("" when it was, or came from it)."""

    channel: int
    vis: featurevis.Visualisation
    seconds: float | None
    digest: str
    save_error: str = ""


def read_cached(path: Path) -> featurevis.Visualisation | None:
    """The picture in ``path``, or None when there is none or it cannot be read."""
    if not path.is_file():
        return None
    try:
        return featurevis.load_visualisation(path)
    except ValueError as exc:
        log.warning("ignoring a cached picture that cannot be read: %s", exc)
        return None


def missing_channels(
    loaded: LoadedModel, settings: PictureSettings, channels: int
) -> tuple[str, list[int]]:
    """The weights digest of ``loaded`` and the channels (of ``0..channels - 1``) with no
    picture in the cache yet.

    Returns
    -------
    tuple
        ``(digest, todo)``: ``featurevis.weights_digest(loaded)`` and the channel numbers
        in increasing order.
    """
    if channels < 0:
        raise ValueError(f"channels must be >= 0. Received: channels={channels}")
    digest = featurevis.weights_digest(loaded)
    return digest, [c for c in range(channels) if not settings.path(c, digest).is_file()]


def make_picture(
    loaded: LoadedModel,
    settings: PictureSettings,
    channel: int,
    expect: str | None = None,
    frame: Callable[[float, np.ndarray], None] = _no_frame,
    cancelled: CancelCheck = never_cancelled,
    split: Callable[[], bool] = never_cancelled,
) -> Picture | None:
    """The picture of ``channel``: read from the cache, or made and kept there.

    The weights digest is computed here, with the picture, so the picture is kept under
    the weights it was made from (a model edited in place between two calls gets its own
    pictures). When the digest is not ``expect`` (the weights changed since the caller
    asked), nothing is made and None comes back.

    Parameters
    ----------
    loaded : LoadedModel
    settings : PictureSettings
    channel : int
    expect : str, optional
        The weights digest the caller expects (None: any).
    frame : callable
        ``frame(fraction, image)`` as the picture forms (``featurevis.maximize``'s
        ``progress``).
    cancelled : callable
        Checked before the work and between steps: ``InterruptedError("cancelled")``.
    split : callable
        ``featurevis.maximize``'s: cut a slow step finer now (a person is at work).

    Returns
    -------
    Picture or None
        A picture that could not be kept in the cache still comes back, with
        ``save_error`` saying why.
    """
    if cancelled():
        raise InterruptedError("cancelled")
    digest = featurevis.weights_digest(loaded)
    if expect is not None and digest != expect:
        return None
    path = settings.path(channel, digest)
    vis = read_cached(path)
    if vis is not None:
        return Picture(channel, vis, None, digest)
    start = time.perf_counter()
    vis = featurevis.maximize(
        loaded,
        settings.layer,
        channel,
        size=settings.ask_size,
        steps=settings.steps,
        seed=SEED,
        progress=frame,
        cancelled=cancelled,
        split=split,
        every=max(1, min(8, settings.steps // 16)),
    )
    seconds = time.perf_counter() - start
    error = ""
    try:
        featurevis.save_visualisation(path, vis)
    except OSError as exc:
        log.warning("could not keep the picture in the cache %s: %s", path, exc)
        error = f"{type(exc).__name__}: {exc}"
    return Picture(channel, vis, seconds, digest, error)
