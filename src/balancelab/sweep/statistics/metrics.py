"""The compared metrics, computed from per-class counts so that thousands of test-set resamples are scored at
once, exactly as the runs compute them (balancelab.evaluation.metrics).

Higher is better for each. ``macro_f1`` is the *primary* metric: the verdict a sweep answers with. The others
are secondary: they get the same test in Holm families of their own, and the reports mark them secondary.
"""

from __future__ import annotations

from typing import Optional

import numpy as np
from scipy import sparse

PRIMARY_METRIC = "macro_f1"
SECONDARY_METRICS = ("balanced_accuracy", "minority_class_recall")
# The metrics the statistics test (the primary decides the verdict); the comparison table shows more
# (sweep/columns.py TABLE_METRICS).
TESTED_METRICS = (PRIMARY_METRIC, *SECONDARY_METRICS)


def metric_from_counts(metric: str, tp: np.ndarray, support: np.ndarray, predicted: np.ndarray,
                       minority_index: Optional[int] = None) -> np.ndarray:
    """``metric`` from per-class counts (last axis = class), as the runs compute it.

    tp: correct predictions of the class, support: true samples of it, predicted: samples predicted as it.
    Macro-F1 and balanced accuracy average over the classes present in the true labels (F1 = 2 tp / (support +
    predicted) is then always defined); the minority recall is NaN where the class has no true sample.
    """
    present = support > 0
    n_present = present.sum(-1)
    safe_support = np.where(present, support, 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        if metric == "macro_f1":
            f1 = np.where(present, 2 * tp / np.where(present, support + predicted, 1), 0.0)
            return f1.sum(-1) / n_present
        if metric == "balanced_accuracy":
            recall = np.where(present, tp / safe_support, 0.0)
            return recall.sum(-1) / n_present
        if metric == "minority_class_recall":
            if minority_index is None:
                raise ValueError("minority_class_recall needs minority_index (the class index of the minority class).")
            return np.where(present[..., minority_index], tp[..., minority_index] / safe_support[..., minority_index],
                            np.nan)
    raise ValueError(f"Unknown metric {metric!r}; valid: {', '.join(TESTED_METRICS)}.")


def _indicator(labels: np.ndarray, n_classes: int, weight: Optional[np.ndarray] = None) -> sparse.csr_array:
    n = len(labels)
    data = np.ones(n) if weight is None else weight.astype(float)
    return sparse.csr_array((data, (np.arange(n), labels)), shape=(n, n_classes))


def count_matrix(y_true: np.ndarray, predictions, n_classes: int) -> sparse.csr_array:
    """(K + 2 V K) x samples indicators: [true class | predicted class of each vector | correct class of each]."""
    blocks = [_indicator(y_true, n_classes)]
    blocks += [_indicator(p, n_classes) for p in predictions]
    blocks += [_indicator(y_true, n_classes, p == y_true) for p in predictions]
    return sparse.hstack(blocks).T.tocsr()


def class_counts(weights: np.ndarray, matrix: sparse.csr_array, n_classes: int, n_vectors: int):
    """(tp, support, predicted) per resample, vector and class from per-sample multiplicities.

    ``weights`` (resamples x samples) says how often each test sample was drawn; one sparse product scores every
    prediction vector on the same draws. Counts are integers, exact in float64.
    """
    counts = (matrix @ weights.T).T  # resamples x (K + 2 V K)
    k, v = n_classes, n_vectors
    support = counts[:, None, :k]
    predicted = counts[:, k:k + v * k].reshape(-1, v, k)
    tp = counts[:, k + v * k:].reshape(-1, v, k)
    return tp, np.broadcast_to(support, tp.shape), predicted


def metric_value(y_true, y_pred, metric: str, minority_index: Optional[int] = None) -> float:
    """``metric`` of one prediction vector (the same code path as every bootstrap resample)."""
    y_true, y_pred = np.asarray(y_true, int), np.asarray(y_pred, int)
    k = int(max(y_true.max(initial=0), y_pred.max(initial=0), -1 if minority_index is None else minority_index)) + 1
    counts = class_counts(np.ones((1, len(y_true))), count_matrix(y_true, [y_pred], k), k, 1)
    return float(metric_from_counts(metric, *(c[0] for c in counts), minority_index=minority_index)[0])
