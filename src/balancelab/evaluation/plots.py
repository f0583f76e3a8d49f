"""A run's figures, drawn from its arrays and tables (never the other way round); the sweep's: sweep.plots."""

from __future__ import annotations

from typing import Optional, Sequence

import matplotlib

matplotlib.use("Agg")  # headless: runs on servers and in CI
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402


# Up to this many epochs every epoch is drawn as a marker: one epoch is a single point, which a line
# without markers does not show at all, and a few points read better as points.
MARKER_EPOCHS = 20
# Up to this many distinct epochs every one gets its own tick.
TICK_EVERY_EPOCH = 12


def epoch_style(epochs) -> dict:
    return {"marker": "o", "markersize": 5} if len(set(epochs)) <= MARKER_EPOCHS else {}


def training_curves(history: pd.DataFrame):
    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    epochs = list(history["epoch"]) if len(history) else []
    if len(history):
        e, style = history["epoch"], epoch_style(epochs)
        axes[0].plot(e, history["train_loss"], label="train", **style)
        axes[0].plot(e, history["val_loss"], label="validation (CE)", **style)
        axes[0].set_title("loss")
        axes[1].plot(e, history["train_accuracy"], label="train accuracy", **style)
        axes[1].plot(e, history["val_accuracy"], label="val accuracy", **style)
        axes[1].plot(e, history["val_macro_f1"], label="val macro-F1", **style)
        axes[1].plot(e, history["val_balanced_accuracy"], label="val balanced acc.", **style)
        axes[1].set_title("accuracy / F1")
        axes[2].plot(e, history["lr"], **style)
        axes[2].set_title("learning rate")
    for ax in axes:
        ax.set_xlabel("epoch")
        integer_epochs(ax, epochs)
        if ax.get_legend_handles_labels()[0]:
            ax.legend()
    fig.tight_layout()
    return fig


def confusion_matrices(cm: np.ndarray, class_names: Sequence[str]):
    """Counts and row-normalised (recall) side by side."""
    n = len(class_names)
    size = max(5.0, 0.45 * n + 3)
    fig, axes = plt.subplots(1, 2, figsize=(2 * size, size))
    rows = cm.sum(1, keepdims=True)
    normalised = np.divide(cm, rows, out=np.zeros_like(cm, dtype=float), where=rows > 0)
    for ax, data, title, fmt in ((axes[0], cm, "counts", "d"), (axes[1], normalised, "row-normalised (recall)", ".2f")):
        im = ax.imshow(data, cmap="Blues")
        ax.set_title(title)
        ax.set_xticks(range(n), class_names, rotation=90 if n > 10 else 0)
        ax.set_yticks(range(n), class_names)
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        if n <= 30:
            threshold = data.max() / 2 if data.size else 0
            for i in range(n):
                for j in range(n):
                    ax.text(j, i, format(data[i, j], fmt), ha="center", va="center", fontsize=7,
                            color="white" if data[i, j] > threshold else "black")
        fig.colorbar(im, ax=ax, fraction=0.046)
    fig.tight_layout()
    return fig


def confidence_distribution(confidence: np.ndarray, correct: np.ndarray, decision: Optional[str] = None):
    """Histogram of the confidence of the test predictions: the probability the model gives the class it
    predicts. Under the arg-max rule that is the maximum softmax probability; under a two-class threshold
    rule it is P(positive) or 1 - P(positive) and can lie below 0.5, so the label names the general
    quantity. ``decision`` (e.g. "P(positive) >= 0.31") goes into the title."""
    fig, ax = plt.subplots(figsize=(7, 4))
    bins = np.linspace(0, 1, 21)
    ax.hist(confidence[correct], bins=bins, alpha=0.6, label=f"correct (n={int(correct.sum())})", color="tab:green")
    ax.hist(confidence[~correct], bins=bins, alpha=0.6, label=f"wrong (n={int((~correct).sum())})", color="tab:red")
    ax.set_xlabel("confidence (probability of the predicted class)")
    ax.set_ylabel("test samples")
    if decision:
        ax.set_title(f"decision rule: {decision}", fontsize=10)
    ax.legend()
    fig.tight_layout()
    return fig


def synthetic_samples(X_real: np.ndarray, y_real: np.ndarray, X_new: np.ndarray, y_new: np.ndarray,
                      class_names: Sequence[str], per_side: int = 6, seed: int = 0):
    """One row per class that gained images: real images (left) beside generated ones (right)."""
    classes = [c for c in range(len(class_names)) if (y_new == c).any()]
    rng = np.random.default_rng(seed)
    fig, axes = plt.subplots(len(classes), 2 * per_side, figsize=(1.1 * 2 * per_side, 1.2 * len(classes) + 0.6),
                             squeeze=False)
    for row, c in enumerate(classes):
        real = np.flatnonzero(y_real == c)
        new = np.flatnonzero(y_new == c)
        picks = [X_real[i] for i in rng.choice(real, min(per_side, len(real)), replace=False)]
        picks += [None] * (per_side - len(picks))
        picks += [X_new[i] for i in rng.choice(new, min(per_side, len(new)), replace=False)]
        for col, ax in enumerate(axes[row]):
            ax.axis("off")
            img = picks[col] if col < len(picks) else None
            if img is not None:
                ax.imshow(img[..., 0] if img.shape[-1] == 1 else img, cmap="gray" if img.shape[-1] == 1 else None,
                          vmin=0, vmax=255)
        axes[row][0].set_title(f"{class_names[c]}: real", fontsize=8, loc="left")
        axes[row][per_side].set_title("generated", fontsize=8, loc="left")
    fig.suptitle("Real (left) vs generated (right) training images per class", fontsize=10)
    fig.tight_layout()
    return fig


def integer_epochs(ax, epochs: Sequence[float] = ()) -> None:
    """Epochs are whole numbers: whole-number ticks at any length of run.

    ``MaxNLocator(integer=True)`` falls back to fractional ticks (0.945, 0.960, ...) when the axis spans
    fewer whole numbers than it wants ticks, as one or two epochs do; so short runs get one tick per epoch
    and half an epoch of margin on each side.
    """
    from matplotlib.ticker import FixedLocator, MaxNLocator, StrMethodFormatter

    whole = sorted({int(e) for e in epochs if np.isfinite(e)})
    if whole and len(whole) <= TICK_EVERY_EPOCH:
        ax.xaxis.set_major_locator(FixedLocator(whole))
        ax.set_xlim(whole[0] - 0.5, whole[-1] + 0.5)
    else:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
    ax.xaxis.set_major_formatter(StrMethodFormatter("{x:.0f}"))

