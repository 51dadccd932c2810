"""What a model input looks like to a person: the scaling conventions undone.

``engine.models.zoo.prepare_image`` turns pixels into what a model receives (resized, [0, 1],
[-1, 1], BGR with the ImageNet mean removed…); this turns such an input back into
pixels, so a view can draw exactly what the model saw and overlay explanations on it.
"""

from __future__ import annotations

import numpy as np

from engine.models.zoo import CAFFE_MEAN_BGR, TORCH_MEAN, TORCH_STD, Scaling


def input_to_pixels(x: np.ndarray, scaling: Scaling) -> np.ndarray:
    """One model input (H, W, C) back to displayable uint8: (H, W) for one channel,
    (H, W, 3) RGB for three.

    >>> from engine.models.zoo import InputSpec, prepare_image
    >>> rgb = np.random.default_rng(0).integers(0, 256, (8, 8, 3), dtype=np.uint8)
    >>> x = prepare_image(rgb, InputSpec((8, 8), 3, Scaling.CAFFE))
    >>> bool((input_to_pixels(x, Scaling.CAFFE) == rgb).all())
    True
    """
    a = np.asarray(x, dtype=np.float32)
    if a.ndim != 3 or a.shape[2] not in (1, 3):
        raise ValueError(f"x must be (H, W, 1) or (H, W, 3). Received shape {a.shape}")
    rgb = a.shape[2] == 3
    if scaling is Scaling.RAW:
        p = a
    elif scaling is Scaling.UNIT:
        p = a * 255.0
    elif scaling is Scaling.SYMMETRIC:
        p = (a + 1.0) * 127.5
    elif scaling is Scaling.CAFFE:
        p = (a + CAFFE_MEAN_BGR)[:, :, ::-1] if rgb else a + float(CAFFE_MEAN_BGR.mean())
    elif scaling is Scaling.TORCH:
        mean, std = (TORCH_MEAN, TORCH_STD) if rgb else (TORCH_MEAN.mean(), TORCH_STD.mean())
        p = (a * std + mean) * 255.0
    else:
        raise ValueError(f"unknown scaling {scaling!r}")
    out = np.clip(np.rint(p), 0, 255).astype(np.uint8)
    return out if rgb else out[:, :, 0]
