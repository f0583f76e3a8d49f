"""The sweep's figures: the difference dot-plot, the comparison bars, per-class heat maps, the best seeds'
curves and the confusion grid, drawn from the report's tables (the run's own figures: evaluation.plots)."""

from __future__ import annotations

from typing import List, Optional, Sequence

import matplotlib

matplotlib.use("Agg")  # headless: runs on servers and in CI
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from balancelab.evaluation.plots import epoch_style, integer_epochs
from balancelab.output.contract import Status
from balancelab.sweep.columns import row_mark
from balancelab.sweep.grid import BASELINE


VERDICT_COLOURS = {"better": "tab:green", "worse": "tab:red", "no detectable difference": "tab:gray",
                   "not available": "0.8", "reference": "black"}


COMPARED_METRICS = (("macro_f1", "macro-F1"), ("balanced_accuracy", "balanced accuracy"),
                    ("minority_class_recall", "minority-class recall"))


def difference_intervals(table: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Per experiment: paired Δ to baseline, the corrected interval its verdict is read from and whether a test
    made it (``two-level``: seeds and test images) or not (``none``)."""
    rows = []
    for _, r in table.iterrows():
        test = r.get(f"{metric}_test")
        source = test if isinstance(test, str) else "none"
        rows.append({"experiment": r["experiment"], "difference": r.get(f"{metric}_paired_diff", np.nan),
                     "low": r.get(f"{metric}_diff_ci_corrected_low", np.nan),
                     "high": r.get(f"{metric}_diff_ci_corrected_high", np.nan), "source": source,
                     "verdict": r.get(f"{metric}_verdict") if isinstance(r.get(f"{metric}_verdict"), str)
                     else "not available"})
    return pd.DataFrame(rows)


def _zoomed(values: np.ndarray, floor: float = 0.0, ceiling: float = 1.0):
    """Axis limits around the finite ``values`` with a margin, kept inside [floor, ceiling]."""
    finite = values[np.isfinite(values)]
    if not len(finite):
        return floor, ceiling
    low, high = float(finite.min()), float(finite.max())
    margin = max(0.1 * (high - low), 0.01)
    return max(floor, low - margin), min(ceiling, high + margin)


def difference_dotplot(table: pd.DataFrame, metric: str = "macro_f1"):
    """The trained experiments' paired Δ to baseline, sorted by effect (largest first), each with the corrected
    interval its verdict is read from, coloured by verdict, on an axis zoomed to the differences."""
    intervals = difference_intervals(table[table["experiment"] != BASELINE], metric)
    intervals = intervals[intervals["difference"].notna()].sort_values("difference", ascending=False)
    fig, ax = plt.subplots(figsize=(8, max(2.2, 0.38 * len(intervals) + 1.4)))
    y = np.arange(len(intervals))
    for i, (_, r) in enumerate(intervals.iterrows()):
        colour = VERDICT_COLOURS.get(str(r["verdict"]).split(":")[0], "0.6")
        if not (np.isnan(r["low"]) or np.isnan(r["high"])):
            ax.plot([r["low"], r["high"]], [i, i], color=colour, linewidth=2.5, gid="corrected_ci")
        ax.plot([r["difference"]], [i], "o" if r["source"] != "none" else "x", color=colour, markersize=7)
        ax.annotate(str(r["verdict"]), (r["difference"], i), xytext=(0, 7), textcoords="offset points",
                    ha="center", fontsize=7, color="0.3")
    ax.axvline(0, color="black", linewidth=1)
    values = np.concatenate([intervals[c].to_numpy(float) for c in ("difference", "low", "high")] + [np.zeros(1)])
    finite = values[np.isfinite(values)]
    span = float(finite.max() - finite.min()) if len(finite) else 1.0
    ax.set_xlim(finite.min() - 0.08 * span - 1e-3, finite.max() + 0.08 * span + 1e-3)
    ax.set_yticks(y, intervals["experiment"].tolist())
    ax.set_ylim(len(intervals) - 0.5, -0.8)
    ax.set_xlabel(f"Δ {dict(COMPARED_METRICS).get(metric, metric)} vs baseline (Holm-corrected two-level interval)")
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    return fig


def comparison_bars(table: pd.DataFrame):
    """Left: macro-F1 per experiment, mean over seeds with its 95 % t-interval (no interval from one seed).
    Right: the paired difference to baseline of each compared metric with the corrected interval its verdict
    is read from, coloured by verdict. Rows are marked failed / partial / before cRT / n=1; derived rows
    (post-hoc corrections, cRT) come after a dashed line."""
    n = len(table)
    fig, axes = plt.subplots(1, 1 + len(COMPARED_METRICS), figsize=(15, max(3.0, 0.45 * n + 1.8)), sharey=True,
                             gridspec_kw={"width_ratios": [1.3] + [1] * len(COMPARED_METRICS)})
    y = np.arange(n)
    labels = [f"{e}{row_mark(r)}" for e, (_, r) in zip(table["experiment"], table.iterrows())]
    ax = axes[0]
    means = table["macro_f1_mean"].to_numpy(float)
    low = table.get("macro_f1_mean_ci_low", pd.Series(np.nan, index=table.index)).to_numpy(float)
    high = table.get("macro_f1_mean_ci_high", pd.Series(np.nan, index=table.index)).to_numpy(float)
    colours = [VERDICT_COLOURS.get(v, "0.8") if isinstance(v, str) else "0.8"
               for v in table.get("macro_f1_verdict", pd.Series([None] * n))]
    # dots, not bars: the axis is zoomed to the scores, and a bar's length would no longer be its value
    ax.scatter(means, y, color=colours, s=40, zorder=3)
    has_ci = ~np.isnan(low)
    ax.errorbar(means[has_ci], y[has_ci], xerr=[means[has_ci] - low[has_ci], high[has_ci] - means[has_ci]],
                fmt="none", ecolor="black", capsize=3, gid="mean_ci")
    for i, (_, r) in enumerate(table.iterrows()):
        if r.get("status") == Status.FAILED or np.isnan(means[i]):
            ax.text(0.02, i, "failed: no finished seed", va="center", fontsize=8, color="tab:red",
                    transform=ax.get_yaxis_transform())
    base = table.loc[table["experiment"] == BASELINE, "macro_f1_mean"]
    if len(base) and not np.isnan(base.iloc[0]):
        ax.axvline(base.iloc[0], color="black", linestyle="--", linewidth=1, label="baseline mean")
        ax.legend(loc="lower right", fontsize=8)
    # zoomed to the scores: from 0, 0.79 and 0.94 look alike
    ax.set_xlim(*_zoomed(np.concatenate([means, low, high])))
    ax.set_yticks(y, labels)
    ax.invert_yaxis()
    ax.set_xlabel("test macro-F1\n(mean, 95% t-interval over seeds)")
    for ax, (metric, title) in zip(axes[1:], COMPARED_METRICS):
        intervals = difference_intervals(table, metric)
        for i, r in intervals.iterrows():
            if np.isnan(r["difference"]):
                continue
            colour = VERDICT_COLOURS.get(r["verdict"], "0.8")
            ax.plot([r["difference"]], [i], "x" if r["source"] == "none" else "o", color=colour)
            if not (np.isnan(r["low"]) or np.isnan(r["high"])):
                ax.plot([r["low"], r["high"]], [i, i], color=colour, linewidth=2, gid=f"ci_{r['source']}")
        ax.axvline(0, color="black", linewidth=1)
        ax.set_title(f"Δ {title} vs baseline", fontsize=10)
        ax.set_xlabel("paired difference\n(Holm-corrected two-level CI)")
    handles = [plt.Line2D([], [], color=c, marker="o", linestyle="-", label=v) for v, c in VERDICT_COLOURS.items()
               if v != "reference"]
    handles.append(plt.Line2D([], [], color="0.3", marker="x", linestyle="", label="no interval (no test possible)"))
    if "row_kind" in table:
        first_derived = np.flatnonzero(table["row_kind"].to_numpy() == "derived")
        if len(first_derived) and first_derived[0] > 0:
            for ax in axes:
                ax.axhline(first_derived[0] - 0.5, color="0.4", linestyle="--", linewidth=0.8, gid="derived_rows")
            axes[0].text(0.99, first_derived[0] - 0.45, "derived rows (post-hoc, cRT)", ha="right", va="top",
                         fontsize=7, color="0.3", transform=axes[0].get_yaxis_transform(),
                         bbox=dict(facecolor="white", edgecolor="none", pad=1.0))  # readable over a bar
    fig.legend(handles=handles, loc="lower center", ncol=3, fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    return fig


def _row_order(frame: pd.DataFrame, order: Optional[Sequence[str]]) -> List[str]:
    """Experiments in the given order (the comparison's rank order), then any others as they come."""
    present = list(dict.fromkeys(frame["experiment"]))
    ordered = [e for e in ([] if order is None else list(order)) if e in present]
    return ordered + [e for e in present if e not in ordered]


def _class_grid(fig, ax, grid: pd.DataFrame, title: str, text_of, text_colour, **imshow):
    """Experiments x classes as an image, each cell labelled (``text_of(value)``, or none for None) while the
    grid is small enough to read, and a colour bar; the shared body of the two per-class heatmaps."""
    fig.set_size_inches(max(6, 0.6 * grid.shape[1] + 3), max(3, 0.45 * grid.shape[0] + 1.5))
    im = ax.imshow(grid.to_numpy(), aspect="auto", **imshow)
    ax.set_xticks(range(grid.shape[1]), grid.columns, rotation=90 if grid.shape[1] > 12 else 0)
    ax.set_yticks(range(grid.shape[0]), grid.index)
    if grid.size <= 400:
        for i in range(grid.shape[0]):
            for j in range(grid.shape[1]):
                value = grid.iat[i, j]
                text = text_of(value)
                if text is not None:
                    ax.text(j, i, text, ha="center", va="center", fontsize=7, color=text_colour(value))
    ax.set_xlabel("class")
    ax.set_title(title)
    fig.colorbar(im, ax=ax, fraction=0.046)
    fig.tight_layout()
    return fig


def _experiments_by_class(rows: pd.DataFrame, values: str, order: Optional[Sequence[str]]) -> pd.DataFrame:
    grid = rows.pivot(index="experiment", columns="class", values=values)
    return grid[list(dict.fromkeys(rows["class"]))].reindex(_row_order(rows, order))


def per_class_heatmap(per_class: pd.DataFrame, order: Optional[Sequence[str]] = None):
    """Experiments (rows, in ``order``: the comparison's rank order) x classes, test recall (mean over seeds)."""
    fig, ax = plt.subplots(figsize=(8, 4))
    if per_class.empty:
        ax.text(0.5, 0.5, "no finished jobs", ha="center")
        return fig
    grid = _experiments_by_class(per_class, "recall", order)
    # viridis is light (yellow-green) at the top: dark text there, white on the dark end.
    return _class_grid(fig, ax, grid, "test recall per class (rows in rank order)",
                       lambda v: "—" if np.isnan(v) else f"{v:.2f}",
                       lambda v: "black" if v > 0.6 else "white", cmap="viridis", vmin=0, vmax=1)


def per_class_delta_heatmap(per_class: pd.DataFrame, order: Optional[Sequence[str]] = None):
    """Experiments x classes: test recall minus the baseline's (mean over seeds), diverging around 0."""
    fig, ax = plt.subplots(figsize=(8, 4))
    rows = per_class[per_class["experiment"] != BASELINE] if len(per_class) else per_class
    if rows.empty or rows["recall_delta"].isna().all():
        ax.text(0.5, 0.5, "no per-class difference to baseline (baseline or other experiments missing)", ha="center")
        ax.axis("off")
        return fig
    grid = _experiments_by_class(rows, "recall_delta", order)
    limit = max(0.05, float(np.nanmax(np.abs(grid.to_numpy()))))
    return _class_grid(fig, ax, grid, "test recall per class: experiment − baseline (mean over seeds)",
                       lambda v: None if np.isnan(v) else f"{v:+.2f}",
                       lambda v: "white" if abs(v) > 0.6 * limit else "black", cmap="RdBu", vmin=-limit, vmax=limit)


def best_seed_curves(histories: dict):
    """{experiment: history.csv table of its best seed}: training loss and validation macro-F1 per epoch."""
    fig, axes = plt.subplots(1, 2, figsize=(13, 4))
    epochs = [e for history in histories.values() for e in history["epoch"]]
    style = epoch_style(epochs)
    for name, history in histories.items():
        axes[0].plot(history["epoch"], history["train_loss"], label=name, **style)
        axes[1].plot(history["epoch"], history["val_macro_f1"], label=name, **style)
    axes[0].set_title("training loss")
    axes[1].set_title("validation macro-F1")
    for ax in axes:
        ax.set_xlabel("epoch")
        integer_epochs(ax, epochs)
    if histories:
        axes[1].legend(fontsize=8, loc="best")
    fig.tight_layout()
    return fig


def confusion_grid(matrices: dict, class_names: Sequence[str]):
    """{experiment: counts matrix}: row-normalised (recall) confusion matrices side by side."""
    n = len(matrices)
    k = len(class_names)
    cols = min(n, 4)
    rows = int(np.ceil(n / cols)) if n else 1
    size = max(3.0, 0.3 * k + 1.5)
    fig, axes = plt.subplots(rows, max(cols, 1), figsize=(size * max(cols, 1), size * rows + 0.3), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for ax, (name, cm) in zip(axes.ravel(), matrices.items()):
        ax.axis("on")
        cm = np.asarray(cm, dtype=float)
        totals = cm.sum(1, keepdims=True)
        normalised = np.divide(cm, totals, out=np.zeros_like(cm), where=totals > 0)
        ax.imshow(normalised, cmap="Blues", vmin=0, vmax=1)
        ax.set_title(name, fontsize=9)
        ticks = range(k) if k <= 20 else range(0, k, max(1, k // 10))
        ax.set_xticks(list(ticks), [class_names[i] for i in ticks], fontsize=7, rotation=90 if k > 10 else 0)
        ax.set_yticks(list(ticks), [class_names[i] for i in ticks], fontsize=7)
        ax.set_xlabel("predicted", fontsize=8)
        ax.set_ylabel("true", fontsize=8)
        if k <= 12:
            for i in range(k):
                for j in range(k):
                    ax.text(j, i, f"{normalised[i, j]:.2f}", ha="center", va="center", fontsize=6,
                            color="white" if normalised[i, j] > 0.5 else "black")
    fig.suptitle("Row-normalised test confusion matrices (recall), best seed of each experiment", fontsize=10)
    fig.tight_layout()
    return fig
