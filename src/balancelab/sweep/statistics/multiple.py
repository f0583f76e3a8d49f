"""Holm's step-down correction (Holm, Scand. J. Statist. 6, 1979): the adjusted p-values, and the level at
which each hypothesis of a family is tested, so that an interval at that level excludes the null value
exactly when Holm rejects."""

from __future__ import annotations

from typing import Optional, Sequence

import numpy as np


def _family_size(p: np.ndarray, n_tests: Optional[int]) -> int:
    finite = int(np.isfinite(p).sum())
    m = finite if n_tests is None else int(n_tests)
    if m < finite:
        raise ValueError(f"n_tests={m} is smaller than the {finite} p-values given; pass the size of the whole "
                         "family (or leave it out).")
    return m


def holm(p_values: Sequence[float], n_tests: Optional[int] = None) -> np.ndarray:
    """Holm's adjusted p-values (reject H_i at level alpha when adjusted p_i < alpha).

    Sorted ascending, p_(j) becomes max_{i<=j} min(1, (m - i + 1) p_(i)); the running maximum keeps the adjusted
    values in the order of the raw ones. NaN entries (tests that could not be made) stay NaN; ``n_tests``
    (default: the number of finite p-values) is m, and may exceed it so that untestable hypotheses still count.
    """
    p = np.asarray(p_values, dtype=float)
    finite = ~np.isnan(p)
    if np.any((p[finite] < 0) | (p[finite] > 1)):
        raise ValueError(f"p-values must lie in [0, 1]; received {p.tolist()}.")
    m = _family_size(p, n_tests)
    adjusted = np.full(p.shape, np.nan)
    where = np.flatnonzero(finite)
    order = where[np.argsort(p[where], kind="stable")]
    factors = m - np.arange(len(order))
    adjusted[order] = np.minimum(1.0, np.maximum.accumulate(factors * p[order]))
    return adjusted


def holm_levels(p_values: Sequence[float], alpha: float = 0.05, n_tests: Optional[int] = None) -> np.ndarray:
    """The level at which Holm's step-down tests each hypothesis (NaN where p is NaN).

    Sorted ascending, p_(j) is tested at alpha / (m - j + 1) while every smaller p was rejected; from the first p
    that is not, every later hypothesis keeps that stopping level. So ``p < level`` is exactly Holm's rejection
    (``holm(p) < alpha``), and an interval at confidence 1 - level excludes the null value exactly when Holm
    rejects.
    """
    p = np.asarray(p_values, dtype=float)
    finite = ~np.isnan(p)
    m = _family_size(p, n_tests)
    levels = np.full(p.shape, np.nan)
    stopped: Optional[float] = None
    where = np.flatnonzero(finite)
    for j, i in enumerate(where[np.argsort(p[where], kind="stable")]):
        level = alpha / (m - j)
        if stopped is None and not (m - j) * p[i] < alpha:  # the comparison holm() makes
            stopped = level
        levels[i] = level if stopped is None else stopped
    return levels
