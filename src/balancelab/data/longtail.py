"""Long-tailed class profiles (the convention of LDAM-DRW's long-tailed CIFAR) and the images kept for them.

Two selection rules give each class its profile count: :func:`make_long_tailed` (a random subset per class
from a ``default_rng(seed)`` stream; the digits and image-folder datasets) and :func:`ldam_drw_long_tailed`,
the rule of LDAM-DRW's ``IMBALANCECIFAR10`` (the torchvision datasets, so that CIFAR-10-LT is the paper's).
"""

from __future__ import annotations

import numpy as np


def _exponential(n_max: int, i: np.ndarray, ratio: float) -> np.ndarray:
    """n_i = n_max * ratio^(-i/(C-1))."""
    return n_max * np.power(float(ratio), -(i / max(len(i) - 1, 1)))


def _step(n_max: int, i: np.ndarray, ratio: float) -> np.ndarray:
    """The first half of the classes keep n_max, the rest get n_max / ratio."""
    return np.where(i < len(i) // 2, n_max, n_max / ratio)


def _none(n_max: int, i: np.ndarray, ratio: float) -> np.ndarray:
    """n_max for every class (the ratio is not used: the config check refuses one that is set)."""
    return np.full(len(i), float(n_max))


# dataset.imbalance_profile -> the shape of the per-class counts (a new profile is one function and one entry).
PROFILE_SHAPES = {"exponential": _exponential, "step": _step, "none": _none}


def long_tail_counts(n_max: int, num_classes: int, imbalance_ratio: float, profile: str = "exponential") -> np.ndarray:
    """Per-class target counts, largest first, shaped by ``PROFILE_SHAPES[profile]``."""
    if imbalance_ratio < 1:
        raise ValueError(f"imbalance_ratio must be >= 1, got {imbalance_ratio}")
    if profile not in PROFILE_SHAPES:
        raise ValueError(f"Unknown imbalance profile '{profile}'. Valid: {', '.join(PROFILE_SHAPES)}.")
    counts = PROFILE_SHAPES[profile](n_max, np.arange(num_classes), imbalance_ratio)
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


def ldam_drw_long_tailed(y: np.ndarray, num_classes: int, imbalance_ratio: float, profile: str,
                         seed: int = 0) -> np.ndarray:
    """Indices of the long-tailed subset LDAM-DRW's code selects (kaidic/LDAM-DRW, imbalance_cifar.py).

    One legacy ``RandomState(seed)`` (the reference seeds numpy's global one with ``rand_number``, 0); each
    class in order has its indices shuffled by it and keeps the first n_c, the head class (which keeps all
    of them) shuffled too, so the stream reaches every later class as it does there. With CIFAR-10's files
    and seed 0 this is the paper's CIFAR-10-LT image for image.
    """
    available = np.bincount(y, minlength=num_classes)
    targets = long_tail_counts(int(available.max()), num_classes, imbalance_ratio, profile)
    stream = np.random.RandomState(seed)
    keep = []
    for c in range(num_classes):
        members = np.flatnonzero(y == c)
        if len(members) == 0:  # the reference iterates the classes present; a missing one draws nothing
            continue
        stream.shuffle(members)
        keep.append(members[:min(int(targets[c]), len(members))])
    return np.sort(np.concatenate(keep))
