"""Named kernel presets: the lecture's hand-designed filters and the classic ones.

>>> preset("Lecture X").tolist()
[[1.0, 0.0, 1.0], [0.0, 1.0, 0.0], [1.0, 0.0, 1.0]]
>>> preset("Box blur", size=5).shape
(5, 5)
"""

from __future__ import annotations

import numpy as np

KERNEL_SIZES = (3, 5, 7)

_FIXED: dict[str, list[list[float]]] = {
    "Lecture X": [[1, 0, 1], [0, 1, 0], [1, 0, 1]],
    "Vertical edge": [[-1, 0, 1], [-1, 0, 1], [-1, 0, 1]],
    "Horizontal edge": [[-1, -1, -1], [0, 0, 0], [1, 1, 1]],
    "Sobel x": [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]],
    "Sobel y": [[-1, -2, -1], [0, 0, 0], [1, 2, 1]],
    "Sharpen": [[0, -1, 0], [-1, 5, -1], [0, -1, 0]],
    "Emboss": [[-2, -1, 0], [-1, 1, 1], [0, 1, 2]],
    "Laplacian": [[0, 1, 0], [1, -4, 1], [0, 1, 0]],
}

PRESET_NAMES: tuple[str, ...] = (
    "Identity",
    "Lecture X",
    "Vertical edge",
    "Horizontal edge",
    "Sobel x",
    "Sobel y",
    "Box blur",
    "Gaussian blur",
    "Sharpen",
    "Emboss",
    "Laplacian",
)


def _gaussian(size: int) -> np.ndarray:
    sigma = size / 6.0 + 0.5
    r = np.arange(size) - (size - 1) / 2
    g = np.exp(-(r**2) / (2 * sigma**2))
    k = np.outer(g, g)
    return k / k.sum()


def preset(name: str, size: int = 3) -> np.ndarray:
    """The preset ``name`` as a float64 (size, size) kernel.

    Blurs and the identity are built at ``size``; the fixed 3x3 filters are placed in the
    centre of a larger zero kernel, which gives the same map with 'same' padding.
    """
    if size not in KERNEL_SIZES:
        raise ValueError(f"kernel size must be one of {KERNEL_SIZES}. Received: size={size}")
    if name == "Identity":
        k = np.zeros((size, size))
        k[size // 2, size // 2] = 1.0
        return k
    if name == "Box blur":
        return np.full((size, size), 1.0 / size**2)
    if name == "Gaussian blur":
        return _gaussian(size)
    if name not in _FIXED:
        raise ValueError(f"unknown kernel preset {name!r}; choose one of {', '.join(PRESET_NAMES)}")
    small = np.asarray(_FIXED[name], dtype=np.float64)
    k = np.zeros((size, size))
    o = (size - 3) // 2
    k[o : o + 3, o : o + 3] = small
    return k


def sums_to_zero(kernel: np.ndarray) -> bool:
    """True when the weights sum to 0 (up to rounding), as edge filters do by design: they
    answer 0 on a flat patch, so only changes of brightness show.

    >>> sums_to_zero(preset("Vertical edge")), sums_to_zero(preset("Box blur"))
    (True, False)
    """
    return bool(abs(np.asarray(kernel, dtype=np.float64).sum()) <= 1e-12)


def normalise(kernel: np.ndarray) -> np.ndarray:
    """Scale a kernel so that its weights sum to 1 (kernels summing to 0 stay as they are).

    Normalised kernels keep the image's brightness; edge filters sum to 0 and are left
    alone (``sums_to_zero`` says so beforehand).
    """
    k = np.asarray(kernel, dtype=np.float64)
    return k.copy() if sums_to_zero(k) else k / k.sum()
