"""One stratified, seeded split into train/val/test."""

from __future__ import annotations

import numpy as np
from sklearn.model_selection import train_test_split


def stratified_split(y: np.ndarray, val_fraction: float, test_fraction: float, seed: int):
    """Return (train_idx, val_idx, test_idx); every class present in y appears in each split if it can."""
    index = np.arange(len(y))
    counts = np.bincount(y)
    # Stratification needs two members per class; tiny classes fall back to a plain split.
    stratify = y if counts[counts > 0].min() >= 3 else None
    rest, test = train_test_split(index, test_size=test_fraction, random_state=seed, stratify=stratify)
    val_share = val_fraction / (1.0 - test_fraction)
    stratify_rest = y[rest] if stratify is not None else None
    train, val = train_test_split(rest, test_size=val_share, random_state=seed, stratify=stratify_rest)
    return np.sort(train), np.sort(val), np.sort(test)
