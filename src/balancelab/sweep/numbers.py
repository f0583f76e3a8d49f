"""Numbers as a report prints them: p-values that never round across the level they are compared with,
intervals, and mean ± std that says when there is no spread to show."""

from __future__ import annotations

import math
from typing import Optional

import pandas as pd

MAX_DIGITS = 6


def format_p(p, threshold: Optional[float] = None, zero_bound: Optional[float] = None) -> str:
    """``p`` with 2 significant digits, more where rounding would put the printed number on the other side of
    ``threshold`` (0.0496 next to a verdict at 0.05 prints as 0.0496, not 0.050); below 0.001 in scientific
    notation. A p of exactly 0 with ``zero_bound`` (a bootstrap with no resample beyond 0) prints as
    ``< bound``."""
    if p is None or pd.isna(p):
        return "—"
    p = float(p)
    if p == 0 and zero_bound is not None:
        return f"< {min(1.0, zero_bound):.2g}"
    for digits in range(2, MAX_DIGITS + 1):
        text = f"{p:.{digits - 1}e}" if 0 < p < 0.001 else f"{p:.{digits}g}"
        if threshold is None or (float(text) < threshold) == (p < threshold):
            return text
    return text


def format_interval(low, high, digits: int = 4) -> str:
    return "—" if low is None or high is None or pd.isna(low) or pd.isna(high) else \
        f"[{low:+.{digits}f}, {high:+.{digits}f}]"


def format_mean(mean, std, digits: int = 4, n=None) -> str:
    """mean ± std over seeds; one seed has no spread, and says so instead of a zero-width "± 0"."""
    if mean is None or pd.isna(mean):
        return "—"
    if n is not None and not pd.isna(n) and int(n) == 1:
        return f"{mean:.{digits}f} (n = 1)"
    return f"{mean:.{digits}f} ± {0 if std is None or pd.isna(std) else std:.{digits}f}"


def format_share(value) -> str:
    return "—" if value is None or pd.isna(value) or not math.isfinite(value) else f"{100 * value:.0f}%"
