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
from balancelab.sweep.statistics import FINISHED, METRICS as STAT_METRICS, N_RESAMPLES

REPORT_FILE = "report.html"
METRIC_LABELS = {"macro_f1": "macro-F1", "balanced_accuracy": "balanced acc.", "minority_class_recall": "minority recall"}


def best_seed_jobs(jobs: pd.DataFrame) -> Dict[str, str]:
    """{trained experiment: job folder name} of its finished job with the highest validation macro-F1."""
    from balancelab.sweep.report import trained_jobs

    done = trained_jobs(jobs)
    done = done[done["status"].isin(FINISHED)]
    out = {}
    for name, group in done.groupby("experiment", sort=False):
        ranked = group.assign(_v=group["val_macro_f1"].fillna(-np.inf)).sort_values(["_v", "seed"], ascending=[False, True])
        out[name] = ranked["job"].iloc[0]
    return out


def _verdict_class(value) -> str:
    return value if value in ("better", "worse") else ""


def _pm(mean, std) -> str:
    return "—" if pd.isna(mean) else f"{mean:.4f} ± {0 if pd.isna(std) else std:.4f}"


def comparison_frame(table: pd.DataFrame) -> pd.DataFrame:
    """The trained experiments: rank, mean, and each metric's corrected difference to baseline and verdict."""
    from balancelab.evaluation.plots import row_mark
    from balancelab.sweep.report import TRAINED, difference_cell

    rows = []
    for _, r in table[table.get("row_kind", pd.Series(TRAINED, index=table.index)) == TRAINED].iterrows():
        row = {"rank": "—" if pd.isna(r["rank"]) else int(r["rank"]), "experiment": r["experiment"] + row_mark(r),
               "settings that differ": r["settings"] or "—", "seeds": int(r["n_seeds"]),
               "macro-F1 (mean ± std)": _pm(r["macro_f1_mean"], r["macro_f1_std"])}
        for metric in STAT_METRICS:
            label = METRIC_LABELS[metric]
            row[f"Δ {label} [corrected CI]"] = difference_cell(r, metric)
            row[f"verdict ({label})"] = r.get(f"{metric}_verdict")
        row["status"] = r["status"] + (f": {r['errors']}" if r["errors"] else "")
        rows.append(row)
    return pd.DataFrame(rows)


def derived_frame(table: pd.DataFrame) -> pd.DataFrame:
    """The derived rows (post-hoc corrections, cRT): against baseline and against their own trained model."""
    from balancelab.evaluation.plots import row_mark
    from balancelab.sweep.report import DERIVED, difference_cell

    rows = []
    for _, r in table[table.get("row_kind", pd.Series(dtype=object)) == DERIVED].iterrows():
        rows.append({"rank (all rows)": "—" if pd.isna(r["rank_with_derived"]) else int(r["rank_with_derived"]),
                     "row": r["experiment"] + row_mark(r), "derived from": r["source_experiment"],
                     "seeds": int(r["n_seeds"]), "macro-F1 (mean ± std)": _pm(r["macro_f1_mean"], r["macro_f1_std"]),
                     "Δ macro-F1 vs baseline [corrected CI]": difference_cell(r, "macro_f1"),
                     "verdict vs baseline": r.get("macro_f1_verdict"),
                     "Δ macro-F1 vs its trained model [corrected CI]": difference_cell(r, "macro_f1", "vs_source_"),
                     "verdict vs its trained model": r.get("macro_f1_vs_source_verdict"),
                     "status": r["status"] + (f": {r['errors']}" if r["errors"] else "")})
    return pd.DataFrame(rows)


def statistics_frame(long: pd.DataFrame) -> pd.DataFrame:
    from balancelab.sweep.report import _p

    def interval(a, b):
        return "—" if pd.isna(a) or pd.isna(b) else f"[{a:+.4f}, {b:+.4f}]"

    rows = []
    for _, r in long.iterrows():
        notes = [n for n in (r.get("note"), r.get("boot_note")) if isinstance(n, str) and n]
        test = r["test"] if isinstance(r["test"], str) else None
        corrected = interval(r["ci_corrected_low"], r["ci_corrected_high"])
        rows.append({"family": r["family"], "experiment": r["experiment"], "reference": r["reference"],
                     "metric": r["metric"], "paired seeds": int(r["n_pairs"]),
                     "Δ": "—" if pd.isna(r["mean_difference"]) else f"{r['mean_difference']:+.4f}",
                     "t 95% CI": interval(r["ci_low"], r["ci_high"]),
                     "bootstrap 95% CI": interval(r.get("boot_ci_low", np.nan), r.get("boot_ci_high", np.nan)),
                     "test": test or "none", "p": _p(r["p_value"], test), "p (Holm)": _p(r["p_holm"], test),
                     "m": int(r["n_comparisons"]),
                     "corrected CI (level)": corrected + ("" if corrected == "—" else f" ({r['corrected_level']:.1%})"),
                     "p Wilcoxon (Holm)": _p(r["p_wilcoxon_holm"]), "verdict": r["verdict"],
                     "note": "; ".join(notes)})
    return pd.DataFrame(rows)


def jobs_frame(sweep_dir: Path, jobs: pd.DataFrame) -> pd.DataFrame:
    from balancelab.sweep.report import trained_jobs

    rows = []
    for _, j in trained_jobs(jobs).iterrows():
        folder = html.escape(j["job"])
        links = f'<a href="{folder}/">{folder}</a>'
        if (Path(sweep_dir) / j["job"] / "report.html").is_file():
            links += f' (<a href="{folder}/report.html">report</a>)'
        rows.append({"job folder": links, "experiment": j["experiment"], "seed": j["seed"], "status": j["status"],
                     "test macro-F1": "—" if pd.isna(j["macro_f1"]) else f"{j['macro_f1']:.4f}",
                     "val macro-F1": "—" if pd.isna(j["val_macro_f1"]) else f"{j['val_macro_f1']:.4f}",
                     "error": j["error"] or ""})
    return pd.DataFrame(rows)


def _histories(sweep_dir: Path, best: Dict[str, str]) -> Dict[str, pd.DataFrame]:
    out = {}
    for experiment, job in best.items():
        path = Path(sweep_dir) / job / "history.csv"
        if path.is_file():
            history = pd.read_csv(path)
            if len(history):
                out[f"{experiment} ({job})"] = history
    return out


def _confusions(sweep_dir: Path, best: Dict[str, str]):
    matrices, names = {}, None
    for experiment, job in best.items():
        path = Path(sweep_dir) / job / "confusion_matrix.csv"
        if path.is_file():
            frame = pd.read_csv(path)
            classes = [str(c) for c in frame["true_class"]]
            if names is None:
                names = classes
            if classes == names:  # one dataset per sweep; a mismatch would not be side by side
                matrices[experiment] = frame[[c for c in frame.columns if c != "true_class"]].to_numpy()
    return matrices, names or []


def _best(table: pd.DataFrame, kind: str) -> str:
    from balancelab.sweep.report import _best as best_row

    return best_row(table, kind) or "—"


def sweep_report_html(sweep_dir: Path, jobs: pd.DataFrame, table: pd.DataFrame, long: pd.DataFrame,
                      per_class: pd.DataFrame, notes: List[str], budget: Optional[dict] = None) -> str:
    from balancelab.evaluation import plots
    from balancelab.sweep.budget import budget_facts
    from balancelab.sweep.report import (BOOTSTRAP_SEED, DERIVED, DERIVED_EXPLAINED, STATISTICS_EXPLAINED, TRAINED,
                                         trained_jobs)

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
             ("best trained experiment (macro-F1)", _best(table, TRAINED)),
             ("training budget", budget["text"])]
    if (kinds == DERIVED).any():
        facts += [("derived rows (post-hoc, cRT)", int((kinds == DERIVED).sum())),
                  ("best derived row (macro-F1)", _best(table, DERIVED))]
    parts = [f"<h1>Sweep {html.escape(sweep_dir.name)}</h1>", html.facts(facts)]
    parts += ["<h2>Comparison with the baseline</h2>",
              f'<p class="note">{html.escape(STATISTICS_EXPLAINED.format(n=N_RESAMPLES, seed=BOOTSTRAP_SEED))} '
              "Rows marked [n=1] rest on one seed, [partial] on fewer seeds than planned, [failed] on none; "
              "[before cRT] is a model before its cRT stage (its row &ldquo;+ cRT&rdquo; is after it).</p>"]
    parts += [f'<p class="warning">{html.escape(n)}</p>' for n in notes]
    verdict_columns = {f"verdict ({METRIC_LABELS[m]})": _verdict_class for m in STAT_METRICS}
    parts.append(html.table(comparison_frame(table), text_columns=["experiment", "settings that differ", "status"],
                            cell_classes=verdict_columns))
    derived = derived_frame(table)
    if len(derived):
        parts += ["<h2>Derived rows: post-hoc corrections and cRT of the trained models</h2>",
                  f'<p class="note">{html.escape(DERIVED_EXPLAINED)}</p>',
                  html.table(derived, text_columns=["row", "derived from", "status"],
                             cell_classes={"verdict vs baseline": _verdict_class,
                                           "verdict vs its trained model": _verdict_class})]
    parts.append(html.image_from_file(sweep_dir / "comparison.png", "comparison", "Test macro-F1 per experiment "
                                      "(95% t-interval over seeds) and paired differences to baseline (Holm-corrected "
                                      "intervals)"))
    if len(long):
        parts += ["<h2>Paired statistics, every metric</h2>",
                  html.table(statistics_frame(long), text_columns=["family", "experiment", "reference", "metric",
                                                                   "test", "verdict", "note"],
                             cell_classes={"verdict": _verdict_class})]
    parts += ["<h2>Per class</h2>", '<div class="grid">',
              html.image_from_file(sweep_dir / "per_class_recall.png", "per-class recall", "Test recall per class"),
              html.image_from_file(sweep_dir / "per_class_delta.png", "per-class deltas",
                                   "Test recall per class minus the baseline's"), "</div>"]
    histories = _histories(sweep_dir, best)
    if histories:
        parts += ["<h2>Training curves (best seed of each experiment, by validation macro-F1)</h2>",
                  html.image_from_figure(plots.best_seed_curves(histories), "training curves")]
    matrices, names = _confusions(sweep_dir, best)
    if matrices:
        parts += ["<h2>Confusion matrices (best seed of each experiment)</h2>",
                  html.image_from_figure(plots.confusion_grid(matrices, names), "confusion matrices")]
    grids = [html.image_from_file(sweep_dir / job / "synthetic_samples.png", f"synthetic samples of {e}",
                                  f"{e} ({job})") for e, job in best.items()]
    if any(grids):
        parts += ["<h2>Generated training images (best seed of each experiment that generates)</h2>",
                  "".join(g for g in grids if g)]
    parts += ["<h2>Jobs</h2>", html.table(jobs_frame(sweep_dir, jobs), text_columns=["job folder", "experiment",
                                                                                     "status", "error"],
                                          raw_columns=["job folder"])]
    files = [n for n in ("comparison.csv", "comparison.md", "statistics.csv", "per_class_delta.csv",
                         "sweep_summary.json") if (sweep_dir / n).is_file() or n == "sweep_summary.json"]
    parts.append("<p>Files: " + ", ".join(f'<a href="{n}">{n}</a>' for n in files) + "</p>")
    return html.page(f"balancelab sweep {sweep_dir.name}", "\n".join(parts))

