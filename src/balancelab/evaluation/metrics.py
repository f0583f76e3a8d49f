"""Classification metrics over the full class mapping (absent classes still get a row).

Averages over classes (macro-F1, balanced accuracy, bucket accuracies) cover the classes *present*
in the split's true labels, as scikit-learn's balanced accuracy does: a class with no sample has no
recall, and scoring it 0 would punish a model for the split, not for its predictions. Predicting an
absent class still costs, through the recall of the true class. Absent classes are listed.
"""

from __future__ import annotations

from typing import Dict, List, Sequence

import numpy as np
import pandas as pd
from sklearn.metrics import accuracy_score, confusion_matrix, precision_recall_fscore_support


def present_labels(y_true: np.ndarray) -> List[int]:
    return [int(c) for c in np.unique(y_true)]


def split_scores(y_true: np.ndarray, y_pred: np.ndarray) -> Dict[str, float]:
    """accuracy, macro-F1 and balanced accuracy, averaged over the classes present in ``y_true``.

    The one definition used for validation (epoch choice) and test alike.
    """
    if len(y_true) == 0:
        return {"accuracy": float("nan"), "macro_f1": float("nan"), "balanced_accuracy": float("nan")}
    labels = present_labels(y_true)
    _, recall, f1, _ = precision_recall_fscore_support(y_true, y_pred, labels=labels, zero_division=0)
    return {"accuracy": float(accuracy_score(y_true, y_pred)), "macro_f1": float(f1.mean()),
            "balanced_accuracy": float(recall.mean())}


def per_class_table(y_true: np.ndarray, y_pred: np.ndarray, class_names: Sequence[str]) -> pd.DataFrame:
    """test_metrics.csv: per class precision/recall/F1/support, macro and weighted rows, accuracies.

    Recall and F1 of a class absent from the split are undefined (NaN); so is the precision of a class
    that was never predicted. The macro row averages the present classes.
    """
    labels = list(range(len(class_names)))
    p, r, f, s = precision_recall_fscore_support(y_true, y_pred, labels=labels, zero_division=np.nan)
    present = s > 0
    r, f = np.where(present, r, np.nan), np.where(present, f, np.nan)
    rows = [{"class": name, "precision": p[i], "recall": r[i], "f1": f[i], "support": int(s[i])}
            for i, name in enumerate(class_names)]
    scores = split_scores(y_true, y_pred)
    macro_p = precision_recall_fscore_support(y_true, y_pred, labels=present_labels(y_true), average="macro",
                                              zero_division=0)[0] if len(y_true) else np.nan
    rows.append({"class": "macro avg", "precision": macro_p, "recall": scores["balanced_accuracy"],
                 "f1": scores["macro_f1"], "support": int(s.sum())})
    wp, wr, wf, _ = precision_recall_fscore_support(y_true, y_pred, labels=labels, average="weighted", zero_division=0)
    rows.append({"class": "weighted avg", "precision": wp, "recall": wr, "f1": wf, "support": int(s.sum())})
    rows.append({"class": "accuracy", "precision": np.nan, "recall": np.nan, "f1": scores["accuracy"],
                 "support": int(s.sum())})
    rows.append({"class": "balanced accuracy", "precision": np.nan, "recall": np.nan,
                 "f1": scores["balanced_accuracy"], "support": int(s.sum())})
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
    _, recall, _, support = precision_recall_fscore_support(y_true, y_pred, labels=labels, zero_division=0)
    counts = np.asarray(train_counts)
    present = np.flatnonzero(support > 0)
    # The minority class is the one with the fewest *training* samples among those scored on test.
    minority = present[np.argmin(counts[present])] if len(present) else None
    buckets = shot_buckets(counts, many_shot_min, few_shot_max)

    def bucket_accuracy(members):
        scored = [c for c in members if support[c] > 0]
        return float(np.mean(recall[scored])) if scored else None

    weighted = precision_recall_fscore_support(y_true, y_pred, labels=labels, average="weighted", zero_division=0)[2]
    return {
        **split_scores(y_true, y_pred),
        "weighted_f1": float(weighted),
        "averaged_over": "classes present in the split",
        "absent_classes": [class_names[c] for c in labels if support[c] == 0],
        "minority_class": None if minority is None else class_names[minority],
        "minority_class_recall": None if minority is None else float(recall[minority]),
        "many_shot_accuracy": bucket_accuracy(buckets["many"]),
        "medium_shot_accuracy": bucket_accuracy(buckets["medium"]),
        "few_shot_accuracy": bucket_accuracy(buckets["few"]),
        "shot_buckets": {k: [class_names[c] for c in v] for k, v in buckets.items()},
    }
