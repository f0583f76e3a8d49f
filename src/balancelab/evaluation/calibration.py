"""Confidence analysis: correct vs wrong confidence per class, reliability bins and ECE."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd


def expected_calibration_error(confidence: np.ndarray, correct: np.ndarray, bins: int = 15) -> float:
    """ECE with equal-width confidence bins: sum_b |B_b|/N * |acc(B_b) - conf(B_b)|."""
    if len(confidence) == 0:
        return float("nan")
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1], right=True), 0, bins - 1)
    ece = 0.0
    for b in range(bins):
        mask = which == b
        if mask.any():
            ece += mask.mean() * abs(correct[mask].mean() - confidence[mask].mean())
    return float(ece)


def confidence_table(y_true: np.ndarray, probs: np.ndarray, class_names: Sequence[str], bins: int = 15) -> pd.DataFrame:
    """confidence_analysis.csv: rows of kind 'class', 'overall' and 'calibration_bin'."""
    pred = probs.argmax(1)
    conf = probs.max(1)
    correct = pred == y_true
    rows = []

    def summary(kind, name, mask):
        c, w = mask & correct, mask & ~correct
        rows.append({
            "kind": kind, "name": name, "count": int(mask.sum()),
            "correct_count": int(c.sum()), "wrong_count": int(w.sum()),
            "mean_confidence_correct": float(conf[c].mean()) if c.any() else np.nan,
            "mean_confidence_wrong": float(conf[w].mean()) if w.any() else np.nan,
            "accuracy": float(correct[mask].mean()) if mask.any() else np.nan,
            "mean_confidence": float(conf[mask].mean()) if mask.any() else np.nan,
            "bin_lower": np.nan, "bin_upper": np.nan,
            "ece": expected_calibration_error(conf[mask], correct[mask], bins) if mask.any() else np.nan,
        })

    for i, name in enumerate(class_names):  # by true class, over the full mapping
        summary("class", name, y_true == i)
    summary("overall", "all", np.ones_like(correct, dtype=bool))
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(conf, edges[1:-1], right=True), 0, bins - 1)
    for b in range(bins):
        mask = which == b
        summary("calibration_bin", f"bin_{b:02d}", mask)
        rows[-1].update(bin_lower=float(edges[b]), bin_upper=float(edges[b + 1]), ece=np.nan)
    return pd.DataFrame(rows)
