"""Classification metrics over the full class mapping (absent classes still get a row)."""

from __future__ import annotations

from typing import Dict, List, Sequence

import numpy as np
import pandas as pd
from sklearn.metrics import (accuracy_score, balanced_accuracy_score, confusion_matrix,
                             precision_recall_fscore_support)


def per_class_table(y_true: np.ndarray, y_pred: np.ndarray, class_names: Sequence[str]) -> pd.DataFrame:
    """test_metrics.csv: per class precision/recall/F1/support, macro and weighted rows, accuracies."""
    labels = list(range(len(class_names)))
    p, r, f, s = precision_recall_fscore_support(y_true, y_pred, labels=labels, zero_division=0)
    rows = [{"class": name, "precision": p[i], "recall": r[i], "f1": f[i], "support": int(s[i])}
            for i, name in enumerate(class_names)]
    for avg in ("macro", "weighted"):
        pa, ra, fa, _ = precision_recall_fscore_support(y_true, y_pred, labels=labels, average=avg, zero_division=0)
        rows.append({"class": f"{avg} avg", "precision": pa, "recall": ra, "f1": fa, "support": int(s.sum())})
    acc = accuracy_score(y_true, y_pred)
    bacc = balanced_accuracy_score(y_true, y_pred) if len(y_true) else float("nan")
    rows.append({"class": "accuracy", "precision": np.nan, "recall": np.nan, "f1": acc, "support": int(s.sum())})
    rows.append({"class": "balanced accuracy", "precision": np.nan, "recall": np.nan, "f1": bacc, "support": int(s.sum())})
    return pd.DataFrame(rows, columns=["class", "precision", "recall", "f1", "support"])


def confusion_table(y_true, y_pred, class_names: Sequence[str]) -> pd.DataFrame:
    cm = confusion_matrix(y_true, y_pred, labels=list(range(len(class_names))))
    frame = pd.DataFrame(cm, columns=list(class_names))
    frame.insert(0, "true_class", list(class_names))
    return frame


def shot_buckets(train_counts: Sequence[int], many_shot_min: int, few_shot_max: int) -> Dict[str, List[int]]:
    """Class indices per bucket from training counts: many > many_shot_min, few < few_shot_max."""
    counts = np.asarray(train_counts)
    return {
        "many": [int(c) for c in np.flatnonzero(counts > many_shot_min)],
        "medium": [int(c) for c in np.flatnonzero((counts <= many_shot_min) & (counts >= few_shot_max))],
        "few": [int(c) for c in np.flatnonzero(counts < few_shot_max)],
    }


def headline_metrics(y_true, y_pred, class_names: Sequence[str], train_counts: Sequence[int],
                     many_shot_min: int, few_shot_max: int) -> Dict[str, object]:
    """The numbers a comparison is made of; bucket accuracies are mean per-class recall."""
    labels = list(range(len(class_names)))
    _, recall, f1, support = precision_recall_fscore_support(y_true, y_pred, labels=labels, zero_division=0)
    counts = np.asarray(train_counts)
    present = np.flatnonzero(support > 0)
    # The minority class is the one with the fewest *training* samples among those scored on test.
    minority = present[np.argmin(counts[present])] if len(present) else None
    buckets = shot_buckets(counts, many_shot_min, few_shot_max)

    def bucket_accuracy(members):
        scored = [c for c in members if support[c] > 0]
        return float(np.mean(recall[scored])) if scored else None

    macro = precision_recall_fscore_support(y_true, y_pred, labels=labels, average="macro", zero_division=0)[2]
    weighted = precision_recall_fscore_support(y_true, y_pred, labels=labels, average="weighted", zero_division=0)[2]
    return {
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "balanced_accuracy": float(balanced_accuracy_score(y_true, y_pred)),
        "macro_f1": float(macro),
        "weighted_f1": float(weighted),
        "minority_class": None if minority is None else class_names[minority],
        "minority_class_recall": None if minority is None else float(recall[minority]),
        "many_shot_accuracy": bucket_accuracy(buckets["many"]),
        "medium_shot_accuracy": bucket_accuracy(buckets["medium"]),
        "few_shot_accuracy": bucket_accuracy(buckets["few"]),
        "shot_buckets": {k: [class_names[c] for c in v] for k, v in buckets.items()},
    }
