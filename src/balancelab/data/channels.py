"""Convert uint8 (N, H, W, C) image arrays between one (gray) and three (RGB) channels."""

from __future__ import annotations

import numpy as np

# ITU-R BT.601 luma, the weights Pillow's convert("L") uses, so arrays and files agree.
_LUMA = np.array([0.299, 0.587, 0.114], np.float32)


def convert_channels(X: np.ndarray, channels: int) -> np.ndarray:
    """``X`` with ``channels`` channels: RGB -> gray by luma, gray -> RGB by replicating the channel."""
    have = X.shape[-1]
    if have == channels:
        return X
    if have == 3 and channels == 1:
        return np.rint(X.astype(np.float32) @ _LUMA)[..., None].astype(np.uint8)
    if have == 1 and channels == 3:
        return np.repeat(X, 3, axis=-1)
    raise ValueError(f"Cannot convert images with {have} channel(s) to {channels}; only 1 <-> 3 is supported.")
