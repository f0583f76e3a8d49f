"""Long-tailed class profiles (the convention of LDAM-DRW's long-tailed CIFAR)."""

from __future__ import annotations

import numpy as np


def long_tail_counts(n_max: int, num_classes: int, imbalance_ratio: float, profile: str = "exponential") -> np.ndarray:
    """Per-class target counts, largest first.

    exponential: n_i = n_max * ratio^(-i/(C-1)); step: the first half of the classes keep
    n_max, the rest get n_max/ratio; none: n_max for every class.
    """
    if imbalance_ratio < 1:
        raise ValueError(f"imbalance_ratio must be >= 1, got {imbalance_ratio}")
    i = np.arange(num_classes)
    if profile == "exponential":
        exponent = i / max(num_classes - 1, 1)
        counts = n_max * np.power(float(imbalance_ratio), -exponent)
    elif profile == "step":
        counts = np.where(i < num_classes // 2, n_max, n_max / imbalance_ratio)
    elif profile == "none":
        counts = np.full(num_classes, float(n_max))
    else:
        raise ValueError(f"Unknown imbalance profile '{profile}'. Valid: exponential, step, none.")
    return np.maximum(counts.astype(np.int64), 1)


def make_long_tailed(y: np.ndarray, num_classes: int, imbalance_ratio: float, profile: str,
                     seed: int) -> np.ndarray:
    """Indices of a long-tailed subset of ``y`` (class 0 the head, class C-1 the tail)."""
    available = np.bincount(y, minlength=num_classes)
    targets = long_tail_counts(int(available.max()), num_classes, imbalance_ratio, profile)
    rng = np.random.default_rng(seed)
    keep = []
    for c in range(num_classes):
        members = np.flatnonzero(y == c)
        n = min(int(targets[c]), len(members))
        keep.append(np.sort(rng.choice(members, size=n, replace=False)))
    return np.sort(np.concatenate(keep))
