"""Two-class tasks: operating threshold chosen on validation, ROC / PR curves, threshold table."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, precision_recall_curve, roc_auc_score, roc_curve


def choose_threshold(y_val: np.ndarray, p_val: np.ndarray, metric: str = "youden") -> float:
    """Threshold on P(positive) maximising Youden's J (TPR - FPR) or F1 on the validation split."""
    if len(np.unique(y_val)) < 2:
        return 0.5  # undefined without both classes; keep the natural threshold
    if metric == "f1":
        precision, recall, thresholds = precision_recall_curve(y_val, p_val)
        f1 = 2 * precision[:-1] * recall[:-1] / np.maximum(precision[:-1] + recall[:-1], 1e-12)
        return float(thresholds[int(np.argmax(f1))])
    fpr, tpr, thresholds = roc_curve(y_val, p_val)
    best = int(np.argmax(tpr - fpr))
    return float(min(thresholds[best], 1.0))


def threshold_table(y: np.ndarray, p: np.ndarray, split: str, thresholds=None, positive_class=None) -> pd.DataFrame:
    """Operating points per threshold on P(positive); ``positive_class`` names the class they are about."""
    thresholds = np.round(np.arange(0.05, 1.0, 0.05), 2) if thresholds is None else thresholds
    table = pd.DataFrame([{"split": split, "threshold": float(t), **operating_point(y, p, t)} for t in thresholds])
    if positive_class is not None:
        table.insert(1, "positive_class", str(positive_class))
    return table


def operating_point(y: np.ndarray, p: np.ndarray, threshold: float) -> dict:
    """Confusion counts and rates when predicting positive for P(positive) >= threshold."""
    pred = p >= threshold
    tp, fp = int((pred & (y == 1)).sum()), int((pred & (y == 0)).sum())
    fn, tn = int((~pred & (y == 1)).sum()), int((~pred & (y == 0)).sum())
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    return {"precision": precision, "recall": recall,
            "f1": 2 * precision * recall / (precision + recall) if precision + recall else 0.0,
            "specificity": tn / (tn + fp) if tn + fp else 0.0, "tp": tp, "fp": fp, "fn": fn, "tn": tn}


def ranking_metrics(y: np.ndarray, p: np.ndarray) -> dict:
    if len(np.unique(y)) < 2:
        return {"roc_auc": None, "average_precision": None}
    return {"roc_auc": float(roc_auc_score(y, p)), "average_precision": float(average_precision_score(y, p))}


def _positive(positive_class) -> str:
    return "" if positive_class is None else f" (positive class: {positive_class})"


def roc_figure(y, p, threshold, positive_class=None):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 5))
    if len(np.unique(y)) > 1:
        fpr, tpr, _ = roc_curve(y, p)
        ax.plot(fpr, tpr, label=f"ROC (AUC {roc_auc_score(y, p):.3f})")
        point = operating_point(y, p, threshold)
        ax.scatter([1 - point["specificity"]], [point["recall"]], color="red", zorder=3,
                   label=f"operating threshold {threshold:.3f} (from validation)")
    ax.plot([0, 1], [0, 1], "k--", linewidth=0.8)
    ax.set_xlabel("false positive rate")
    ax.set_ylabel(f"true positive rate{_positive(positive_class)}")
    ax.set_title(f"ROC curve (test){_positive(positive_class)}")
    ax.legend(loc="lower right")
    fig.tight_layout()
    return fig


def pr_figure(y, p, threshold, positive_class=None):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 5))
    if len(np.unique(y)) > 1:
        precision, recall, _ = precision_recall_curve(y, p)
        ax.plot(recall, precision, label=f"PR (AP {average_precision_score(y, p):.3f})")
        point = operating_point(y, p, threshold)
        ax.scatter([point["recall"]], [point["precision"]], color="red", zorder=3,
                   label=f"operating threshold {threshold:.3f}")
        ax.axhline((y == 1).mean(), color="gray", linestyle="--", linewidth=0.8, label="chance (positive rate)")
    ax.set_xlabel(f"recall{_positive(positive_class)}")
    ax.set_ylabel("precision")
    ax.set_title(f"Precision-recall curve (test){_positive(positive_class)}")
    ax.legend(loc="lower left")
    fig.tight_layout()
    return fig
