"""Channel triage for wide layers: the orders a layer's channels can be read in.

A layer of 512 maps is too many to read one by one. Its channels can be ordered by a
measure of each one, strongest first, and cut to the top N (``channel_order``):

- ``CHANNEL``: the layer's own order;
- ``MEAN``, ``MAX``: the mean or maximum activation for one input
  (``engine.editing.surgery.channel_stats``: numpy, instant);
- ``DEAD``: the fraction of a batch of inputs for which the channel's map is all zero
  (``dead_over_batch``): ``digit_batch`` for a digit model, ``photo_batch`` otherwise;
- ``ABLATION``: how much a class's probability drops when that channel alone is
  switched off (``engine.editing.surgery.ablation_effect``).

The last two (``SLOW``) run a model over many inputs; they report progress and can be
cancelled. The Activations panel's triage row shows these orders; the keys are what it
remembers in its settings.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from engine.util.progress import CancelCheck, ProgressCallback, never_cancelled, no_progress

if TYPE_CHECKING:
    from engine.models.zoo import LoadedModel

#: The orders (keys: stored in settings, never shown).
CHANNEL, MEAN, MAX, DEAD, ABLATION = "channel", "mean", "max", "dead", "ablation"
#: The orders that run the model over many inputs.
SLOW = (DEAD, ABLATION)
#: How many of the bundled MNIST test digits make the batch for a digit model.
DIGIT_BATCH = 200


@dataclass(frozen=True)
class ChannelOrder:
    """Which channels to show, in which order, and how to say so.

    ``channels`` are the layer's real channel numbers, in display order; ``title`` says
    what was chosen ("top 32 of 512 by max activation"; "" for every channel in its own
    order); ``values`` is the measure of every channel (C,) (None by channel number).
    """

    channels: tuple[int, ...]
    total: int
    by: str
    title: str
    values: np.ndarray | None = field(default=None, compare=False)


def channel_order(
    total: int,
    top: int = 0,
    values: Any = None,
    by: str = CHANNEL,
    measure: str = "",
    note: str = "",
) -> ChannelOrder:
    """The first ``top`` channels of a layer of ``total``, strongest ``values`` first.

    Parameters
    ----------
    total : int
        The layer's channels.
    top : int
        How many to keep (0: all).
    values : array-like, optional
        (total,) the measure of each channel; None: the channels in their own order
        (``by`` is then ``CHANNEL``).
    by : str
        The order's key (``MEAN``, ``MAX``, ``DEAD``, ``ABLATION``).
    measure : str
        What the values are, for the title ("max activation").
    note : str
        Said after the title of an order by channel number (why no other order yet).

    Returns
    -------
    ChannelOrder
        Ties keep the channels' own order.

    Examples
    --------
    >>> order = channel_order(4, top=2, values=[0.5, 2.0, 0.5, 1.0], by=MAX,
    ...                       measure="max activation")
    >>> order.channels, order.title
    ((1, 3), 'top 2 of 4 by max activation')
    >>> channel_order(4, top=3).title
    'first 3 of 4 by channel number'
    """
    if total < 0 or top < 0:
        raise ValueError(f"total and top must be >= 0. Received: total={total}, top={top}")
    shown = total if top == 0 else min(top, total)
    if values is None:
        title = "" if shown == total else f"first {shown} of {total} by channel number"
        title = " ".join(t for t in (title, note) if t)
        return ChannelOrder(tuple(range(shown)), total, CHANNEL, title)
    v = np.asarray(values, np.float64)
    if v.shape != (total,):
        raise ValueError(f"values must be ({total},), one per channel. Received shape {v.shape}")
    ranking = np.argsort(-v, kind="stable")
    channels = tuple(int(i) for i in ranking[:shown])
    head = f"top {shown} of {total}" if shown < total else f"all {total}"
    return ChannelOrder(channels, total, by, f"{head} by {measure}", values)


def digit_batch(loaded: LoadedModel) -> np.ndarray:
    """The first ``DIGIT_BATCH`` bundled MNIST test digits as ``loaded`` receives them."""
    from engine.models.mnist_data import bundled_test_digits

    x, _y = bundled_test_digits()
    return loaded.prepare_digits(x[:DIGIT_BATCH])


def photo_batch(
    loaded: LoadedModel, current: np.ndarray, current_sample: str | None = None
) -> list[np.ndarray]:
    """The sample photos and the current input ``current`` as ``loaded`` receives them.

    ``current_sample``: the name of the sample photo that is the current input (not
    counted twice), else None.
    """
    from engine.imaging.images import load_image
    from engine.util.paths import sample_images

    xs = [
        loaded.prepare(load_image(p))
        for name, p in sample_images().items()
        if name != current_sample
    ]
    return [*xs, current]


def dead_over_batch(
    model: Any,
    layer: str,
    inputs: list[np.ndarray] | np.ndarray,
    progress: ProgressCallback = no_progress,
    cancelled: CancelCheck = never_cancelled,
) -> np.ndarray:
    """(C,) the fraction of ``inputs`` for which each channel's map is all zero.

    Inputs of different shapes (a model of any size) are run in groups of one shape
    (``engine.editing.surgery.dead_fraction`` each), weighted by their sizes.
    """
    from engine.editing.surgery import dead_fraction

    groups: dict[tuple[int, ...], list[np.ndarray]] = {}
    for x in inputs:
        groups.setdefault(tuple(np.shape(x)), []).append(np.asarray(x, np.float32))
    total = sum(len(g) for g in groups.values())
    if total == 0:
        raise ValueError("inputs must hold at least one input. Received none")
    done, weighted = 0, None
    for group in groups.values():

        def part(fraction: float, _message: str, start: int = done, n: int = len(group)) -> None:
            progress((start + fraction * n) / total, f"{layer}: dead maps over {total} inputs")

        dead = dead_fraction(
            model, layer, np.stack(group), batch_size=25, progress=part, cancelled=cancelled
        )
        weighted = dead * len(group) if weighted is None else weighted + dead * len(group)
        done += len(group)
    return np.asarray(weighted, np.float64) / total
