"""Figures made from the CSV/JSON results (never the other way round)."""

from __future__ import annotations

from typing import Sequence

import matplotlib

matplotlib.use("Agg")  # headless: runs on servers and in CI
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402


def training_curves(history: pd.DataFrame):
    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    if len(history):
        e = history["epoch"]
        axes[0].plot(e, history["train_loss"], label="train")
        axes[0].plot(e, history["val_loss"], label="validation (CE)")
        axes[0].set_title("loss")
        axes[1].plot(e, history["train_accuracy"], label="train accuracy")
        axes[1].plot(e, history["val_accuracy"], label="val accuracy")
        axes[1].plot(e, history["val_macro_f1"], label="val macro-F1")
        axes[1].plot(e, history["val_balanced_accuracy"], label="val balanced acc.")
        axes[1].set_title("accuracy / F1")
        axes[2].plot(e, history["lr"])
        axes[2].set_title("learning rate")
    for ax in axes:
        ax.set_xlabel("epoch")
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


def confidence_distribution(confidence: np.ndarray, correct: np.ndarray):
    fig, ax = plt.subplots(figsize=(7, 4))
    bins = np.linspace(0, 1, 21)
    ax.hist(confidence[correct], bins=bins, alpha=0.6, label=f"correct (n={int(correct.sum())})", color="tab:green")
    ax.hist(confidence[~correct], bins=bins, alpha=0.6, label=f"wrong (n={int((~correct).sum())})", color="tab:red")
    ax.set_xlabel("confidence (max softmax probability)")
    ax.set_ylabel("test samples")
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


def comparison_bars(table: pd.DataFrame):
    """Macro-F1 per experiment, mean with std over seeds as error bars."""
    fig, ax = plt.subplots(figsize=(max(6, 0.9 * len(table) + 2), 4.5))
    means = table["macro_f1_mean"].fillna(0).to_numpy()
    colours = ["tab:gray" if e == "baseline" else ("tab:red" if s == "failed" else "tab:blue")
               for e, s in zip(table["experiment"], table["status"])]
    ax.bar(range(len(table)), means, yerr=table["macro_f1_std"].fillna(0).to_numpy(), capsize=4, color=colours)
    ax.set_xticks(range(len(table)), table["experiment"], rotation=30, ha="right")
    base = table.loc[table["experiment"] == "baseline", "macro_f1_mean"]
    if len(base) and not np.isnan(base.iloc[0]):
        ax.axhline(base.iloc[0], color="tab:gray", linestyle="--", linewidth=1, label="baseline")
        ax.legend()
    ax.set_ylabel("test macro-F1 (mean ± std over seeds)")
    ax.set_ylim(0, 1)
    fig.tight_layout()
    return fig


def per_class_heatmap(per_class: pd.DataFrame):
    """Experiments x classes, test recall (mean over seeds)."""
    fig, ax = plt.subplots(figsize=(8, 4))
    if per_class.empty:
        ax.text(0.5, 0.5, "no finished jobs", ha="center")
        return fig
    grid = per_class.pivot(index="experiment", columns="class", values="recall")
    grid = grid[list(dict.fromkeys(per_class["class"]))]
    fig.set_size_inches(max(6, 0.6 * grid.shape[1] + 3), max(3, 0.45 * grid.shape[0] + 1.5))
    im = ax.imshow(grid.to_numpy(), cmap="viridis", vmin=0, vmax=1, aspect="auto")
    ax.set_xticks(range(grid.shape[1]), grid.columns, rotation=90 if grid.shape[1] > 12 else 0)
    ax.set_yticks(range(grid.shape[0]), grid.index)
    if grid.size <= 400:
        for i in range(grid.shape[0]):
            for j in range(grid.shape[1]):
                ax.text(j, i, f"{grid.iat[i, j]:.2f}", ha="center", va="center", fontsize=7, color="white")
    ax.set_xlabel("class")
    ax.set_title("test recall per class")
    fig.colorbar(im, ax=ax, fraction=0.046)
    fig.tight_layout()
    return fig
