"""The comparison as text: table cells, verdict words and the Markdown of comparison.md."""

from __future__ import annotations

from typing import List, Optional

import numpy as np
import pandas as pd

from balancelab.sweep.aggregate import column_of
from balancelab.sweep.columns import BOOTSTRAP_SEED, DERIVED, TRAINED, row_mark
from balancelab.sweep.grid import BASELINE
from balancelab.sweep.numbers import format_interval, format_mean, format_p, format_share
from balancelab.sweep.statistics import N_RESAMPLES, PRIMARY_METRIC, is_decided


def _cell(text: str, limit: int = 300) -> str:
    """Text that stays inside one Markdown table cell."""
    flat = " ".join(str(text).split()).replace("|", "\\|")
    return flat if len(flat) <= limit else flat[:limit] + "…"


def _pm(mean, std, digits=4, n=None) -> str:
    return format_mean(mean, std, digits, n)


def _interval(low, high, digits=4) -> str:
    return format_interval(low, high, digits)


def difference_cell(row, metric: str, prefix: str = "") -> str:
    """Paired mean difference and the corrected interval the verdict is read from, with its level:
    ``+0.0500 [+0.0100, +0.0900] (99.7%)``. ``prefix="vs_source_"``: a derived row against its own trained
    model."""
    key = f"{metric}_{prefix}"
    diff = row.get(f"{key}paired_diff", np.nan)
    if (not prefix and row["experiment"] == BASELINE) or pd.isna(diff):
        return "—"
    low, high = row.get(f"{key}diff_ci_corrected_low", np.nan), row.get(f"{key}diff_ci_corrected_high", np.nan)
    level = row.get(f"{key}ci_corrected_level", np.nan)
    if not (pd.isna(low) or pd.isna(high)):
        return f"{diff:+.4f} {_interval(low, high)} ({level:.1%})"
    return f"{diff:+.4f} (no test: {row.get(f'{key}stat_note') or 'nothing measures the noise'})"


def verdict_text(value, scope=None, secondary: bool = False) -> str:
    """The verdict as a report prints it: bold when decided, with its scope (one seed: about one trained model
    per side on this test set) and, for a secondary metric, that it is secondary."""
    if value is None or pd.isna(value):
        return "—"
    text = f"**{value}**" if is_decided(value) else str(value)
    if isinstance(scope, str) and scope:
        text += f" (about {scope})"
    return text + (" (secondary)" if secondary else "")


def _label(row) -> str:

    return _cell(f"{row['experiment']}{row_mark(row)}")


def markdown(table: pd.DataFrame) -> str:
    """The trained experiments' table."""
    head = ["rank", "experiment", "settings apart from baseline", "seeds", "accuracy", "balanced acc.", "macro-F1",
            "Δ macro-F1 [corrected CI] (level)", "verdict (macro-F1, primary)", "weighted F1", "minority recall", "ECE",
            "val−test gap", "train s", "optimiser steps", "status"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for _, r in table[column_of(table, "row_kind", TRAINED) == TRAINED].iterrows():
        n = int(r["n_seeds"])
        lines.append("| " + " | ".join([
            "—" if pd.isna(r["rank"]) else str(int(r["rank"])), _label(r), r["settings"] or "—",
            str(r["n_seeds"]),
            _pm(r["accuracy_mean"], r["accuracy_std"], n=n), _pm(r["balanced_accuracy_mean"], r["balanced_accuracy_std"], n=n),
            _pm(r["macro_f1_mean"], r["macro_f1_std"], n=n), difference_cell(r, "macro_f1"),
            verdict_text(r.get("macro_f1_verdict"), r.get("macro_f1_scope")),
            _pm(r["weighted_f1_mean"], r["weighted_f1_std"], n=n),
            _pm(r["minority_class_recall_mean"], r["minority_class_recall_std"], n=n), _pm(r["ece_mean"], r["ece_std"], n=n),
            _pm(r["val_test_gap_mean"], r["val_test_gap_std"], n=n), _pm(r["training_seconds_mean"], r["training_seconds_std"], 1, n=n),
            "—" if pd.isna(r.get("optimiser_steps", np.nan)) else f"{r['optimiser_steps']:,.0f}",
            r["status"] + (f" ({_cell(r['errors'])})" if r["errors"] else "")]) + " |")
    return "\n".join(lines) + "\n"


DERIVED_EXPLAINED = (
    "Each row applies a free correction to a trained model (post-hoc logit adjustment, τ-normalisation; τ chosen "
    "on validation) or re-trains only its classifier (cRT). They are ranked apart from the trained experiments "
    "(rank among all rows) and tested in families of their own: against `baseline`, and against the trained "
    "model they come from.")


def derived_markdown(table: pd.DataFrame) -> str:
    """The derived rows' table (empty text when there are none)."""
    rows = table[column_of(table, "row_kind", TRAINED) == DERIVED]
    if rows.empty:
        return ""
    head = ["rank (all rows)", "row", "derived from", "seeds", "macro-F1", "Δ macro-F1 vs baseline [corrected CI]",
            "verdict vs baseline", "Δ macro-F1 vs its trained model [corrected CI]", "verdict vs its trained model",
            "balanced acc.", "minority recall", "status"]
    lines = ["## Derived rows: post-hoc corrections and cRT of the trained models", "", DERIVED_EXPLAINED, "",
             "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for _, r in rows.iterrows():
        n = int(r["n_seeds"])
        lines.append("| " + " | ".join([
            "—" if pd.isna(r["rank_with_derived"]) else str(int(r["rank_with_derived"])), _label(r),
            str(r["source_experiment"]), str(n), _pm(r["macro_f1_mean"], r["macro_f1_std"], n=n),
            difference_cell(r, "macro_f1"), verdict_text(r.get("macro_f1_verdict"), r.get("macro_f1_scope")),
            difference_cell(r, "macro_f1", "vs_source_"),
            verdict_text(r.get("macro_f1_vs_source_verdict"), r.get("macro_f1_vs_source_scope")),
            _pm(r["balanced_accuracy_mean"], r["balanced_accuracy_std"], n=n),
            _pm(r["minority_class_recall_mean"], r["minority_class_recall_std"], n=n),
            r["status"] + (f" ({_cell(r['errors'])})" if r["errors"] else "")]) + " |")
    return "\n".join(lines) + "\n"


STATISTICS_EXPLAINED = (
    "Seed s of a row is paired with seed s of its reference; both were scored on the same test images. Δ: the "
    "mean over seeds of the paired differences. Decisive test (two-level): the difference must stand out against "
    "both kinds of chance at once - training randomness (the spread of the per-seed differences, moderated "
    "towards the family's common spread by empirical Bayes unless it is clearly wider, when its own is used) and "
    "test-set "
    "sampling (the variance of Δ over {n} paired bootstrap resamples of the test images, seed {seed}; the same "
    "resample for both sides and every seed). One rule for any number of seeds; with one seed on every "
    "comparison it is about one trained model per side on this test set. Holm's correction runs within one "
    "family and metric: `trained vs baseline` (the sweep's trained experiments only, so post-hoc rows never "
    "change their verdicts), `derived vs baseline` and `derived vs its trained model`. Corrected CI: the "
    "two-level interval at the confidence at which Holm's step-down tested the comparison (1 − 0.05/m for the "
    "smallest p, 1 − 0.05/(m − 1) for the next while they are rejected, then the level of the first one kept). "
    "Verdict: `better`/`worse` when the corrected CI lies above/below 0 (exactly Holm-adjusted p < 0.05), "
    "otherwise `no detectable difference`; a side with failed seeds cannot win (`unstable`), nor one with seeds without a result (`incomplete`). macro-F1 is the "
    "primary metric; the others are secondary. Informative only: the paired t-test over seeds (training "
    "randomness on this test set alone), the percentile bootstrap over test images (test-set noise alone), "
    "Wilcoxon from 6 seeds on. \"seeds\" in the variance split is the share of Var(Δ) from training "
    "randomness; p ± is the Monte-Carlo error of p (another bootstrap seed).")


def statistics_markdown(long: pd.DataFrame, notes: List[str], n_resamples: int = N_RESAMPLES,
                        bootstrap_seed: int = BOOTSTRAP_SEED) -> str:
    """The paired comparisons, family by family, one row per comparison and metric."""
    out = ["## Paired comparisons", "", STATISTICS_EXPLAINED.format(n=n_resamples, seed=bootstrap_seed), ""]
    out += [f"> {note}" for note in notes] + ([""] if notes else [])
    head = ["experiment", "reference", "metric", "paired seeds", "Δ", "variance split (seeds)", "p ± MC error",
            "p (Holm)", "m", "corrected CI (level)", "verdict", "t-test over seeds: 95% CI, p",
            "image bootstrap: 95% CI, p", "p (Wilcoxon, Holm)", "note"]
    for family, part in long.groupby("family", sort=False) if len(long) else []:
        out += [f"### {family}", "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for _, r in part.iterrows():
            note = "; ".join(str(n) for n in (r.get("note"), r.get("boot_note")) if isinstance(n, str) and n)
            corrected = _interval(r["ci_corrected_low"], r["ci_corrected_high"])
            level = 1 - r["corrected_level"] if not pd.isna(r["corrected_level"]) else None
            if corrected != "—":
                corrected += f" ({r['corrected_level']:.1%})"
            p = format_p(r["p_value"], level)
            if p != "—" and r.get("p_mc_error", 0) and not pd.isna(r.get("p_mc_error")):
                p += f" ± {format_p(r['p_mc_error'])}"
            boot_bound = 2 / r["n_resamples_used"] if r.get("n_resamples_used") else None
            out.append("| " + " | ".join([
                _cell(r["experiment"]), _cell(r["reference"]),
                r["metric"] + ("" if r["metric"] == PRIMARY_METRIC else " (secondary)"), str(int(r["n_pairs"])),
                "—" if pd.isna(r["mean_difference"]) else f"{r['mean_difference']:+.4f}",
                format_share(r.get("seed_share")), p, format_p(r["p_holm"], 0.05), str(int(r["n_comparisons"])),
                corrected, verdict_text(r["verdict"], r.get("scope")),
                f"{_interval(r['ci_low'], r['ci_high'])}, {format_p(r['p_ttest'])}",
                f"{_interval(r.get('boot_ci_low', np.nan), r.get('boot_ci_high', np.nan))}, "
                f"{format_p(r.get('boot_p'), zero_bound=boot_bound)}",
                format_p(r["p_wilcoxon_holm"], 0.05), _cell(note or "")]) + " |")
        out.append("")
    return "\n".join(out) + "\n"


def best_row(table: pd.DataFrame, kind: str) -> Optional[str]:
    rows = table[(column_of(table, "row_kind", TRAINED) == kind) & table["macro_f1_mean"].notna()]
    return None if rows.empty else str(rows.sort_values("macro_f1_mean", ascending=False, kind="stable").iloc[0]["experiment"])
