"""report.html of a sweep: the comparison with its verdicts, the plots, and links to every job folder.

One self-contained page (balancelab.output.html): a reader who opens only this file sees which
experiments differ from the baseline, by how much, how sure that is, and where each number comes from.
Figures that show one seed per experiment use its *best* seed, chosen by validation macro-F1 (never by a
test metric, which would make the page look better than the evidence).
"""

from __future__ import annotations

from pathlib import Path
from typing import Dict, List, Optional

import numpy as np
import pandas as pd

from balancelab.output import html
from balancelab.output.contract import (COMPARISON_CSV, COMPARISON_MD, COMPARISON_PLOT, CONFUSION_MATRIX_FILE,
                                        HISTORY_FILE, PER_CLASS_DELTA_FILE, PER_CLASS_DELTA_PLOT,
                                        PER_CLASS_RECALL_PLOT, REPORT_FILE, STATISTICS_FILE, SWEEP_SUMMARY_FILE,
                                        SYNTHETIC_SAMPLES_FILE)
from balancelab.sweep.budget import budget_facts
from balancelab.sweep.columns import DERIVED, TRAINED, row_mark
from balancelab.sweep.jobs import trained_jobs
from balancelab.sweep.numbers import format_interval, format_mean, format_p, format_share
from balancelab.sweep.render import DERIVED_EXPLAINED, STATISTICS_EXPLAINED, best_row, difference_cell
from balancelab.sweep.statistics import FINISHED
from balancelab.sweep.statistics import TESTED_METRICS as STAT_METRICS
from balancelab.sweep.statistics import PRIMARY_METRIC, is_decided

METRIC_LABELS = {"macro_f1": "macro-F1", "balanced_accuracy": "balanced acc.", "minority_class_recall": "minority recall"}


def best_seed_jobs(jobs: pd.DataFrame) -> Dict[str, str]:
    """{trained experiment: job folder name} of its finished job with the highest validation macro-F1."""

    done = trained_jobs(jobs)
    done = done[done["status"].isin(FINISHED)]
    out = {}
    for name, group in done.groupby("experiment", sort=False):
        ranked = group.assign(_v=group["val_macro_f1"].fillna(-np.inf)).sort_values(["_v", "seed"], ascending=[False, True])
        out[name] = ranked["job"].iloc[0]
    return out


def _verdict_class(value) -> str:
    """The cell class of a verdict cell: its decision (better / worse), whatever scope follows it."""
    if not isinstance(value, str):
        return ""
    decision = value.split(" (", 1)[0]
    return decision if is_decided(decision) else ""


def comparison_frame(table: pd.DataFrame) -> pd.DataFrame:
    """The trained experiments: rank, mean, and each metric's corrected difference to baseline and verdict."""

    rows = []
    for _, r in table[table.get("row_kind", pd.Series(TRAINED, index=table.index)) == TRAINED].iterrows():
        row = {"rank": "—" if pd.isna(r["rank"]) else int(r["rank"]), "experiment": r["experiment"] + row_mark(r),
               "settings apart from baseline": r["settings"] or "—", "seeds": int(r["n_seeds"]),
               "macro-F1 (mean ± std)": format_mean(r["macro_f1_mean"], r["macro_f1_std"], n=r["n_seeds"])}
        for metric in STAT_METRICS:
            label = METRIC_LABELS[metric] + ("" if metric == PRIMARY_METRIC else ", secondary")
            row[f"Δ {label} [corrected CI]"] = difference_cell(r, metric)
            row[f"verdict ({label})"] = _verdict(r.get(f"{metric}_verdict"), r.get(f"{metric}_scope"))
        row["status"] = r["status"] + (f": {r['errors']}" if r["errors"] else "")
        rows.append(row)
    return pd.DataFrame(rows)


def derived_frame(table: pd.DataFrame) -> pd.DataFrame:
    """The derived rows (post-hoc corrections, cRT): against baseline and against their own trained model."""

    rows = []
    for _, r in table[table.get("row_kind", pd.Series(dtype=object)) == DERIVED].iterrows():
        rows.append({"rank (all rows)": "—" if pd.isna(r["rank_with_derived"]) else int(r["rank_with_derived"]),
                     "row": r["experiment"] + row_mark(r), "derived from": r["source_experiment"],
                     "seeds": int(r["n_seeds"]),
                     "macro-F1 (mean ± std)": format_mean(r["macro_f1_mean"], r["macro_f1_std"], n=r["n_seeds"]),
                     "Δ macro-F1 vs baseline [corrected CI]": difference_cell(r, "macro_f1"),
                     "verdict vs baseline": _verdict(r.get("macro_f1_verdict"), r.get("macro_f1_scope")),
                     "Δ macro-F1 vs its trained model [corrected CI]": difference_cell(r, "macro_f1", "vs_source_"),
                     "verdict vs its trained model": _verdict(r.get("macro_f1_vs_source_verdict"),
                                                              r.get("macro_f1_vs_source_scope")),
                     "status": r["status"] + (f": {r['errors']}" if r["errors"] else "")})
    return pd.DataFrame(rows)


def _verdict(value, scope=None) -> Optional[str]:
    if not isinstance(value, str):
        return None
    return value + (f" (about {scope})" if isinstance(scope, str) and scope else "")


def statistics_frame(long: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for _, r in long.iterrows():
        notes = [n for n in (r.get("note"), r.get("boot_note")) if isinstance(n, str) and n]
        corrected = format_interval(r["ci_corrected_low"], r["ci_corrected_high"])
        level = None if pd.isna(r["corrected_level"]) else 1 - r["corrected_level"]
        p = format_p(r["p_value"], level)
        if p != "—" and not pd.isna(r.get("p_mc_error")) and r.get("p_mc_error"):
            p += f" ± {format_p(r['p_mc_error'])}"
        boot_bound = 2 / r["n_resamples_used"] if r.get("n_resamples_used") else None
        rows.append({"family": r["family"], "experiment": r["experiment"], "reference": r["reference"],
                     "metric": r["metric"] + ("" if r["metric"] == PRIMARY_METRIC else " (secondary)"),
                     "paired seeds": int(r["n_pairs"]),
                     "Δ": "—" if pd.isna(r["mean_difference"]) else f"{r['mean_difference']:+.4f}",
                     "variance from seeds": format_share(r.get("seed_share")), "p ± MC error": p,
                     "p (Holm)": format_p(r["p_holm"], 0.05), "m": int(r["n_comparisons"]),
                     "corrected CI (level)": corrected + ("" if corrected == "—" else f" ({r['corrected_level']:.1%})"),
                     "verdict": _verdict(r["verdict"], r.get("scope")),
                     "t-test over seeds (95% CI)": format_interval(r["ci_low"], r["ci_high"]),
                     "p t-test": format_p(r["p_ttest"]),
                     "image bootstrap (95% CI)": format_interval(r.get("boot_ci_low"), r.get("boot_ci_high")),
                     "p image bootstrap": format_p(r.get("boot_p"), zero_bound=boot_bound),
                     "p Wilcoxon (Holm)": format_p(r["p_wilcoxon_holm"], 0.05), "note": "; ".join(notes)})
    return pd.DataFrame(rows)


def jobs_frame(sweep_dir: Path, jobs: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for _, j in trained_jobs(jobs).iterrows():
        folder = html.escape(j["job"])
        links = f'<a href="{folder}/">{folder}</a>'
        if (Path(sweep_dir) / j["job"] / REPORT_FILE).is_file():
            links += f' (<a href="{folder}/report.html">report</a>)'
        rows.append({"job folder": links, "experiment": j["experiment"], "seed": j["seed"], "status": j["status"],
                     "test macro-F1": "—" if pd.isna(j["macro_f1"]) else f"{j['macro_f1']:.4f}",
                     "val macro-F1": "—" if pd.isna(j["val_macro_f1"]) else f"{j['val_macro_f1']:.4f}",
                     "error": j["error"] or ""})
    return pd.DataFrame(rows)


def _histories(sweep_dir: Path, best: Dict[str, str]) -> Dict[str, pd.DataFrame]:
    out = {}
    for experiment, job in best.items():
        path = Path(sweep_dir) / job / HISTORY_FILE
        if path.is_file():
            history = pd.read_csv(path)
            if len(history):
                out[f"{experiment} ({job})"] = history
    return out


def _confusions(sweep_dir: Path, best: Dict[str, str]):
    matrices, names = {}, None
    for experiment, job in best.items():
        path = Path(sweep_dir) / job / CONFUSION_MATRIX_FILE
        if path.is_file():
            frame = pd.read_csv(path)
            classes = [str(c) for c in frame["true_class"]]
            if names is None:
                names = classes
            if classes == names:  # one dataset per sweep; a mismatch would not be side by side
                matrices[experiment] = frame[[c for c in frame.columns if c != "true_class"]].to_numpy()
    return matrices, names or []


def _best_label(table: pd.DataFrame, kind: str) -> str:
    return best_row(table, kind) or "—"


def sweep_report_html(sweep_dir: Path, jobs: pd.DataFrame, table: pd.DataFrame, long: pd.DataFrame,
                      per_class: pd.DataFrame, notes: List[str], budget: Optional[dict] = None,
                      bootstrap_seed: int = 0, answer: str = "", notice: Optional[str] = None) -> str:
    from balancelab.sweep import plots

    sweep_dir = Path(sweep_dir)
    budget = budget or budget_facts(jobs)
    best = best_seed_jobs(jobs)
    real = trained_jobs(jobs)  # the post-hoc / cRT rows are not jobs
    counts = real["status"].value_counts().to_dict()
    kinds = table.get("row_kind", pd.Series(TRAINED, index=table.index))
    datasets = ", ".join(sorted({str(d) for d in real["dataset"].dropna()}))
    models = ", ".join(sorted({str(m) for m in real["model"].dropna()}))
    facts = [("folder", str(sweep_dir.resolve())), ("dataset", datasets), ("model", models),
             ("jobs", ", ".join(f"{v} {k}" for k, v in counts.items())),
             ("trained experiments", int((kinds == TRAINED).sum())),
             ("best trained experiment (macro-F1)", _best_label(table, TRAINED)),
             ("training budget", budget["text"])]
    if (kinds == DERIVED).any():
        facts += [("derived rows (post-hoc, cRT)", int((kinds == DERIVED).sum())),
                  ("best derived row (macro-F1)", _best_label(table, DERIVED))]
    n_resamples = int(long["n_resamples"].max()) if len(long) and long["n_resamples"].notna().any() else 0
    parts = [f"<h1>Sweep {html.escape(sweep_dir.name)}</h1>"]
    if notice:  # a screen of the classifier stage (sweep/screen_notice.py): said before any result
        lines = [line.lstrip("- ").replace("**", "").replace("`", "") for line in notice.splitlines()]
        parts.append(f'<p class="screen-notice"><b>Screen of the classifier stage.</b> {html.escape(lines[0])}</p>')
        if len(lines) > 1:
            parts.append("<ul>" + "".join(f"<li>{html.escape(line)}</li>" for line in lines[1:]) + "</ul>")
    if answer:
        parts.append(f'<p class="answer"><b>Answer.</b> {html.escape(answer)}</p>')
    trained_rows = table[kinds == TRAINED]
    if trained_rows["macro_f1_paired_diff"].notna().any() if "macro_f1_paired_diff" in trained_rows else False:
        parts.append(html.image_from_figure(plots.difference_dotplot(trained_rows), "differences to baseline",
                                            "Δ macro-F1 to baseline, sorted by effect, with the Holm-corrected "
                                            "two-level interval each verdict is read from (the axis is zoomed to "
                                            "the differences)"))
    parts.append(html.facts(facts))
    parts += ["<h2>Comparison with the baseline</h2>",
              f'<p class="note">{html.escape(STATISTICS_EXPLAINED.format(n=n_resamples, seed=bootstrap_seed))} '
              "Rows marked [n=1] rest on one seed, [partial] on fewer seeds than planned, [failed] on none; "
              "[before cRT] is a model before its cRT stage (its row &ldquo;+ cRT&rdquo; is after it).</p>"]
    parts += [f'<p class="warning">{html.escape(n)}</p>' for n in notes]
    trained_frame = comparison_frame(table)
    verdict_columns = {c: _verdict_class for c in trained_frame.columns if c.startswith("verdict")}
    parts.append(html.table(trained_frame, text_columns=["experiment", "settings apart from baseline", "status"],
                            cell_classes=verdict_columns))
    derived = derived_frame(table)
    if len(derived):  # folded: they follow the trained rows' answer, they do not bury it
        parts += [f"<details><summary><b>Derived rows ({len(derived)}): post-hoc corrections and cRT of the trained "
                  "models</b></summary>", f'<p class="note">{html.escape(DERIVED_EXPLAINED)}</p>',
                  html.table(derived, text_columns=["row", "derived from", "status"],
                             cell_classes={"verdict vs baseline": _verdict_class,
                                           "verdict vs its trained model": _verdict_class}), "</details>"]
    parts.append(html.image_from_file(sweep_dir / COMPARISON_PLOT, "comparison", "Test macro-F1 per experiment "
                                      "(95% t-interval over seeds) and paired differences to baseline (Holm-corrected "
                                      "intervals)"))
    if len(long):
        parts += ["<details><summary><b>Paired statistics, every metric and family</b></summary>",
                  html.table(statistics_frame(long), text_columns=["family", "experiment", "reference", "metric",
                                                                   "verdict", "note"],
                             cell_classes={"verdict": _verdict_class}), "</details>"]
    parts += ["<h2>Per class</h2>", '<div class="grid">',
              html.image_from_file(sweep_dir / PER_CLASS_RECALL_PLOT, "per-class recall", "Test recall per class"),
              html.image_from_file(sweep_dir / PER_CLASS_DELTA_PLOT, "per-class deltas",
                                   "Test recall per class minus the baseline's"), "</div>"]
    histories = _histories(sweep_dir, best)
    if histories:
        parts += ["<h2>Training curves (best seed of each experiment, by validation macro-F1)</h2>",
                  html.image_from_figure(plots.best_seed_curves(histories), "training curves")]
    matrices, names = _confusions(sweep_dir, best)
    if matrices:
        parts += ["<h2>Confusion matrices (best seed of each experiment)</h2>",
                  html.image_from_figure(plots.confusion_grid(matrices, names), "confusion matrices")]
    grids = [html.image_from_file(sweep_dir / job / SYNTHETIC_SAMPLES_FILE, f"synthetic samples of {e}",
                                  f"{e} ({job})") for e, job in best.items()]
    if any(grids):
        parts += ["<h2>Generated training images (best seed of each experiment that generates)</h2>",
                  "".join(g for g in grids if g)]
    parts += ["<h2>Jobs</h2>", html.table(jobs_frame(sweep_dir, jobs), text_columns=["job folder", "experiment",
                                                                                     "status", "error"],
                                          raw_columns=["job folder"])]
    files = [n for n in (COMPARISON_CSV, COMPARISON_MD, STATISTICS_FILE, PER_CLASS_DELTA_FILE,
                         SWEEP_SUMMARY_FILE) if (sweep_dir / n).is_file() or n == SWEEP_SUMMARY_FILE]
    parts.append("<p>Files: " + ", ".join(f'<a href="{n}">{n}</a>' for n in files) + "</p>")
    return html.page(f"balancelab sweep {sweep_dir.name}", "\n".join(parts))

