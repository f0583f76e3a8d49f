"""Confidence analysis: correct vs wrong confidence per class, reliability bins and ECE."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd


def reliability_bins(prob: np.ndarray, event: np.ndarray, bins: int = 15) -> pd.DataFrame:
    """Equal-width bins of ``prob``: count, mean probability and observed frequency of ``event`` per bin."""
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(prob, edges[1:-1], right=True), 0, bins - 1)
    rows = []
    for b in range(bins):
        mask = which == b
        rows.append({"bin_lower": float(edges[b]), "bin_upper": float(edges[b + 1]), "count": int(mask.sum()),
                     "mean_probability": float(prob[mask].mean()) if mask.any() else np.nan,
                     "observed_frequency": float(np.mean(event[mask])) if mask.any() else np.nan})
    return pd.DataFrame(rows)


def expected_calibration_error(prob: np.ndarray, event: np.ndarray, bins: int = 15) -> float:
    """ECE: sum over bins of |B|/N * |frequency of the event in B - mean probability in B|."""
    if len(prob) == 0:
        return float("nan")
    table = reliability_bins(np.asarray(prob, float), np.asarray(event, bool), bins)
    filled = table[table["count"] > 0]
    gap = (filled["observed_frequency"] - filled["mean_probability"]).abs()
    return float((filled["count"] / len(prob) * gap).sum())


def confidence_table(y_true: np.ndarray, pred: np.ndarray, confidence: np.ndarray, class_names: Sequence[str],
                     calibration_prob: np.ndarray, calibration_event: np.ndarray, calibration_of: str,
                     bins: int = 15) -> pd.DataFrame:
    """confidence_analysis.csv: rows of kind 'class', 'overall' and 'calibration_bin'.

    'class' and 'overall' rows describe the confidence of the run's predictions (correct vs wrong);
    'calibration_bin' rows are the reliability diagram of ``calibration_of`` (its mean probability
    against the observed frequency of its event), and 'overall' carries that quantity's ECE.
    """
    correct = pred == y_true
    rows = []

    def summary(kind, name, mask):
        c, w = mask & correct, mask & ~correct
        rows.append({
            "kind": kind, "name": name, "count": int(mask.sum()),
            "correct_count": int(c.sum()), "wrong_count": int(w.sum()),
            "mean_confidence_correct": float(confidence[c].mean()) if c.any() else np.nan,
            "mean_confidence_wrong": float(confidence[w].mean()) if w.any() else np.nan,
            "accuracy": float(correct[mask].mean()) if mask.any() else np.nan,
            "mean_confidence": float(confidence[mask].mean()) if mask.any() else np.nan,
        })

    for i, name in enumerate(class_names):  # by true class, over the full mapping
        summary("class", name, y_true == i)
    summary("overall", "all", np.ones_like(correct, dtype=bool))
    rows[-1]["calibration_of"] = calibration_of
    rows[-1]["ece"] = expected_calibration_error(calibration_prob, calibration_event, bins)
    reliability = reliability_bins(calibration_prob, calibration_event, bins)
    for b, r in reliability.iterrows():
        rows.append({"kind": "calibration_bin", "name": f"bin_{b:02d}", "calibration_of": calibration_of, **r})
    columns = ["kind", "name", "count", "correct_count", "wrong_count", "mean_confidence_correct",
               "mean_confidence_wrong", "accuracy", "mean_confidence", "calibration_of", "bin_lower", "bin_upper",
               "mean_probability", "observed_frequency", "ece"]
    return pd.DataFrame(rows, columns=columns)
