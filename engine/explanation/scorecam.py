"""Score-CAM: a class activation map without gradients, for any model given as a function.

Wang et al., CVPR-W 2020, "Score-CAM: Score-Weighted Visual Explanations for
Convolutional Neural Networks". Grad-CAM weighs a layer's maps by gradients, which an
ONNX model does not give here; Score-CAM weighs each map by how much the class score
rises when the input is seen only through that map:

1. each map ``A_k`` (h, w) is up-sampled bilinearly to the input size (H, W) (half-pixel
   centres, edges clamped: ``tf.image.resize(..., "bilinear")``, PyTorch's
   ``align_corners=False``) and min-max normalised to a mask ``M_k`` in [0, 1];
2. ``x_k = baseline + (x - baseline) * M_k`` (the paper multiplies, baseline 0);
3. ``s_k = p_c(x_k) - p_c(baseline)``, the paper's "channel-wise increase of confidence"
   (Definition 2);
4. the map is ``ReLU(sum_k w_k * A_k)`` at the maps' resolution (h, w).

Weights. The default, ``weighting="increase"``, is the paper's Eq. (4) with
``w_k = s_k``: a map whose region lowers the class gets a negative weight, and the map
changes with the class. The paper's Algorithm 1 (and pytorch-grad-cam's ``ScoreCAM``)
instead takes a softmax over k of the scores, ``weighting="softmax"``; with
probabilities in [0, 1] that softmax is nearly uniform (each weight about ``1/K``), so
its map is close to the plain mean of the maps whatever the class, which is why it is
not the default. The official code (haofanwang/Score-CAM) weighs by ``p_c(x_k)`` without
subtracting the baseline; with ``weighting="softmax"`` the subtraction changes nothing,
as a softmax ignores a common shift.

A map that is constant (max == min) gives no mask and is skipped with weight 0.

Only numpy here: the model is a function, so a Keras model (``model.predict``) and an ONNX
session work alike.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from engine.models.zoo import is_distribution, softmax
from engine.util.checks import check_int
from engine.util.progress import CancelCheck, ProgressCallback, never_cancelled, no_progress

#: ``forward(batch)``: (N, H, W, C) float32 in, (N, classes) model outputs out.
Forward = Callable[[np.ndarray], Any]

WEIGHTINGS = ("increase", "softmax")


def bilinear_matrix(size_in: int, size_out: int) -> np.ndarray:
    """(size_out, size_in) float64 matrix of 1-D bilinear resampling, half-pixel centres.

    Output pixel ``i`` samples the input at ``(i + 0.5) * size_in / size_out - 0.5``,
    clamped to the edges (``tf.image.resize`` bilinear without antialias).

    >>> bilinear_matrix(2, 4).round(2).tolist()
    [[1.0, 0.0], [0.75, 0.25], [0.25, 0.75], [0.0, 1.0]]
    """
    size_in = check_int("size_in", size_in, 1)
    size_out = check_int("size_out", size_out, 1)
    src = (np.arange(size_out) + 0.5) * (size_in / size_out) - 0.5
    src = np.clip(src, 0.0, size_in - 1)
    low = np.floor(src).astype(np.int64)
    high = np.minimum(low + 1, size_in - 1)
    frac = src - low
    m = np.zeros((size_out, size_in), dtype=np.float64)
    rows = np.arange(size_out)
    np.add.at(m, (rows, low), 1.0 - frac)
    np.add.at(m, (rows, high), frac)
    return m


def upsample_maps(maps: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Maps (h, w, K) bilinearly resized to (H, W, K) float64 (see ``bilinear_matrix``).

    >>> upsample_maps(np.ones((2, 3, 4)), (8, 9)).shape
    (8, 9, 4)
    """
    a = np.asarray(maps, dtype=np.float64)
    if a.ndim != 3:
        raise ValueError(f"maps must be (h, w, K). Received: maps.shape={a.shape}")
    rows = bilinear_matrix(a.shape[0], size[0])
    cols = bilinear_matrix(a.shape[1], size[1])
    return np.einsum("Yy,yxk,Xx->YXk", rows, a, cols)


def score_cam(
    forward: Forward,
    x: np.ndarray,
    maps: np.ndarray,
    class_index: int,
    *,
    baseline: float | np.ndarray | None = None,
    batch_size: int = 32,
    probabilities: bool = True,
    weighting: str = "increase",
    progress: ProgressCallback = no_progress,
    cancelled: CancelCheck = never_cancelled,
) -> np.ndarray:
    """Score-CAM of class ``class_index`` for input ``x``: (h, w) float32, >= 0.

    Parameters
    ----------
    forward
        The model: (N, H, W, C) float32 -> (N, classes) outputs (``model.predict``, an
        ONNX session's run wrapped in a function).
    x
        One input (H, W, C), as the model receives it.
    maps
        The chosen layer's activations for ``x``: (h, w, K), channels last.
    class_index
        The class to explain, in [0, classes).
    baseline
        What "nothing" is in the model's input space (a number or an array broadcastable
        to (H, W, C)); None: zeros. Pass the value that means grey for the model.
    batch_size
        Masked inputs per ``forward`` call.
    probabilities
        True: score with probabilities; outputs that are not a distribution
        (``is_distribution``) get a softmax, as the app reads outputs. False: score the
        raw outputs.
    weighting
        "increase" (default): ``w_k = s_k``, the paper's Eq. (4); "softmax": a softmax of
        ``s_k`` over the maps (the paper's Algorithm 1). See the module docstring.
    progress, cancelled
        ``progress(fraction, message)`` before the first and after each batch;
        ``cancelled()`` is checked before each batch, and True raises
        ``InterruptedError("cancelled")``.

    Returns
    -------
    ``ReLU(sum_k w_k * A_k)`` at the maps' resolution, not normalised (zeros when no
    map is usable); up-sample it for display as Grad-CAM's.

    >>> fwd = lambda b: np.stack([b.mean(axis=(1, 2, 3)), -b.mean(axis=(1, 2, 3))], 1)
    >>> x = np.zeros((4, 4, 1), np.float32); x[:2, :2] = 1.0
    >>> cam = score_cam(fwd, x, x[::2, ::2], 0, probabilities=False)
    >>> cam.shape, cam.dtype, bool(cam[0, 0] > 0)
    ((2, 2), dtype('float32'), True)
    """
    a, acts, base, batch_size = _check(x, maps, baseline, batch_size, weighting)
    h, w, k = acts.shape
    outputs = _Scores(forward, probabilities)
    base_scores = outputs(base[None])  # (1, classes)
    c = check_int("class_index", class_index, 0, base_scores.shape[1])
    p_base = float(base_scores[0, c])

    # A constant map cannot be normalised; judged on the maps themselves, as rounding in
    # the up-sampling would turn a constant into noise stretched to [0, 1].
    lows, highs = acts.min(axis=(0, 1)), acts.max(axis=(0, 1))
    usable = np.flatnonzero(highs > lows)
    scores = np.zeros(k, dtype=np.float64)
    done = np.zeros(k, dtype=bool)
    rows = bilinear_matrix(h, a.shape[0])
    cols = bilinear_matrix(w, a.shape[1])
    n_batches = -(-usable.size // batch_size)
    progress(0.0, f"Score-CAM: 0 of {usable.size} masks")
    for b in range(n_batches):
        if cancelled():
            raise InterruptedError("cancelled")
        chunk = usable[b * batch_size : (b + 1) * batch_size]
        up = np.einsum("Yy,yxk,Xx->kYX", rows, acts[:, :, chunk], cols)
        lo = up.min(axis=(1, 2), keepdims=True)
        span = up.max(axis=(1, 2), keepdims=True) - lo
        # span is 0 only when down-sampling hides a map's variation: no mask, skipped
        ok = span[:, 0, 0] > 0
        masks = np.where(span > 0, (up - lo) / np.where(span > 0, span, 1.0), 0.0)
        batch = base + (a - base) * masks[..., None]
        p = outputs(batch.astype(np.float32))[:, c]
        scores[chunk] = p - p_base
        done[chunk] = ok
        progress(
            (b + 1) / n_batches,
            f"Score-CAM: {min((b + 1) * batch_size, usable.size)} of {usable.size} masks",
        )

    weights = np.zeros(k, dtype=np.float64)
    if done.any():
        if weighting == "softmax":
            weights[done] = softmax(scores[done])
        else:
            weights[done] = scores[done]
    cam = np.maximum(acts @ weights, 0.0)
    return cam.astype(np.float32)


def default_layer(
    layer_names: Sequence[str],
    has_maps: Callable[[str], bool],
    shape_of: Callable[[str], Sequence[int | None]] | None = None,
) -> str | None:
    """The last layer with spatial maps larger than 1 x 1, for Score-CAM; None if none.

    ``has_maps(name)``: the one "has maps" rule (``engine.inspection.activations.has_maps``
    with the model bound); ``shape_of(name)``: its (h, w, K) (``layer_shape``); layers whose
    h and w are both known and both 1 are passed over, as a 1 x 1 map shows no place.
    Without ``shape_of`` every layer with maps counts.

    >>> shapes = {"conv": (8, 8, 4), "pool": (1, 1, 4), "dense": (10,)}
    >>> default_layer(list(shapes), lambda n: len(shapes[n]) == 3, shapes.__getitem__)
    'conv'
    """
    for name in reversed(list(layer_names)):
        if not has_maps(name):
            continue
        if shape_of is not None:
            hw = tuple(shape_of(name))[:2]
            if all(d is not None and int(d) <= 1 for d in hw):
                continue
        return name
    return None


# -- helpers ------------------------------------------------------------------------------
class _Scores:
    """Calls ``forward`` and reads (N, classes) scores; decides once, on the first call,
    whether the outputs are already probabilities (the app reads outputs the same way)."""

    def __init__(self, forward: Forward, probabilities: bool) -> None:
        self._forward = forward
        self._probabilities = probabilities
        self._softmax: bool | None = None

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        out = np.asarray(self._forward(batch), dtype=np.float64)
        n = batch.shape[0]
        if out.ndim != 2 or out.shape[0] != n:
            raise ValueError(
                f"forward must return (N, classes) for N = {n} inputs. "
                f"Received: output shape {out.shape}"
            )
        if not self._probabilities:
            return out
        if self._softmax is None:
            self._softmax = not is_distribution(out)
        if self._softmax:
            return softmax(out)
        return out


def _check(
    x: Any, maps: Any, baseline: Any, batch_size: Any, weighting: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    a = np.asarray(x, dtype=np.float64)
    if a.ndim != 3 or min(a.shape) < 1:
        raise ValueError(f"x must be one input (H, W, C). Received: x.shape={a.shape}")
    acts = np.asarray(maps, dtype=np.float64)
    if acts.ndim != 3 or min(acts.shape) < 1:
        raise ValueError(f"maps must be (h, w, K). Received: maps.shape={acts.shape}")
    if not (np.isfinite(a).all() and np.isfinite(acts).all()):
        raise ValueError("x and maps must be finite. Received: NaN or inf")
    if baseline is None:
        base = np.zeros_like(a)
    else:
        b = np.asarray(baseline, dtype=np.float64)
        try:
            base = np.broadcast_to(b, a.shape).copy()
        except ValueError as exc:
            raise ValueError(
                f"baseline must broadcast to x's shape {a.shape}. "
                f"Received: baseline.shape={b.shape}"
            ) from exc
    if weighting not in WEIGHTINGS:
        raise ValueError(f"weighting must be one of {WEIGHTINGS}. Received: {weighting!r}")
    return a, acts, base, check_int("batch_size", batch_size, 1)
