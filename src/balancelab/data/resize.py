"""Resize image arrays to the training resolution with OpenCV."""

from __future__ import annotations

import cv2
import numpy as np


def resize_images(X: np.ndarray, size: int) -> np.ndarray:
    """Resize uint8 (N, H, W, C) images to (N, size, size, C)."""
    n, h, w, c = X.shape
    if (h, w) == (size, size):
        return X
    # Enlarging: bicubic keeps strokes smooth; shrinking: area averaging avoids aliasing.
    interpolation = cv2.INTER_CUBIC if size > max(h, w) else cv2.INTER_AREA
    out = np.empty((n, size, size, c), dtype=np.uint8)
    for i in range(n):
        resized = cv2.resize(X[i], (size, size), interpolation=interpolation)
        out[i] = resized.reshape(size, size, c)
    return out
