"""The worked examples of the lecture, as arrays (the app replays each of them)."""

from __future__ import annotations

import numpy as np

#: Slide "why not an MLP": a 3x3 image that gets flattened into a 9-vector.
FLATTEN_3X3 = np.array([[1, 1, 0], [4, 2, 1], [0, 2, 1]])

#: Slide "kernel": the 5x5 binary image and the "X" kernel; their map's first cell is 4.
BINARY_5X5 = np.array(
    [
        [1, 1, 1, 0, 0],
        [0, 1, 1, 1, 0],
        [0, 0, 1, 1, 1],
        [0, 0, 1, 1, 0],
        [0, 1, 1, 0, 0],
    ]
)
X_KERNEL = np.array([[1, 0, 1], [0, 1, 0], [1, 0, 1]])

#: Slide "pooling": max pooling 2x2 with stride 2 gives [[6, 8], [3, 4]].
POOL_4X4 = np.array([[1, 1, 2, 4], [5, 6, 7, 8], [3, 2, 1, 0], [1, 2, 3, 4]])
