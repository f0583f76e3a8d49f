"""The comparison of a sweep, rebuilt from its job folders alone (no training), and written: read the jobs
(sweep.jobs), aggregate them (sweep.aggregate), render (sweep.render, sweep.html_report), write (here).

Each job folder holds either experiment_summary.json (finished), failure.json (failed) or
neither (not run yet / interrupted). One row per job, then one row per experiment with the
mean and standard deviation over seeds, the difference to `baseline` and a rank by macro-F1,
and the paired statistics of balancelab.sweep.statistics (t-test over seeds or paired bootstrap
over test samples, Holm's correction within a family, a verdict) for the metrics it covers.

Two kinds of rows: the sweep's *trained* experiments, and the rows *derived* from a trained model
without training it again (``<experiment> + posthoc_la`` / ``+ posthoc_tau_norm``) or by
re-training only its classifier (``+ cRT``). Ranks, the best experiment, the job counts and the
Holm family of the comparison with ``baseline`` are the trained experiments'; derived rows are
ranked and tested apart (see balancelab.sweep.statistics), against ``baseline`` and against the
model they come from.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from balancelab.errors import DataError, OutputWriteError
from balancelab.output import atomic
from balancelab.output.contract import (COMPARISON_CSV, COMPARISON_MD, COMPARISON_PLOT, PER_CLASS_DELTA_FILE,
                                        PER_CLASS_DELTA_PLOT, PER_CLASS_RECALL_PLOT, REPORT_FILE, STATISTICS_FILE,
                                        SWEEP_SUMMARY_FILE, Status)
from balancelab.sweep.aggregate import (attach_statistics, column_of, comparison_table, paired_statistics,
                                       per_class_tables)
from balancelab.sweep.answer import sweep_answer
from balancelab.sweep.budget import budget_facts
from balancelab.sweep.columns import BOOTSTRAP_SEED, DERIVED, TRAINED, log
from balancelab.sweep.html_report import sweep_report_html
from balancelab.sweep.jobs import jobs_table, trained_jobs
from balancelab.sweep.render import best_row, derived_markdown, markdown, statistics_markdown
from balancelab.sweep.screen_notice import same_head_names, screen_budget_text, screen_info, screen_notice
from balancelab.sweep.statistics import FAMILIES, PRIMARY_METRIC


def one_dataset_and_model(sweep_dir: Path, jobs: pd.DataFrame) -> None:
    """A sweep compares experiments on one dataset with one model (its paired statistics pair seeds on one test
    split); a folder of runs on several is not a sweep (e.g. ``outputs/runs``)."""
    for column in ("dataset", "model"):
        values = sorted({str(v) for v in jobs[column].dropna()}) if column in jobs else []
        if len(values) > 1:
            raise DataError(f"{sweep_dir} holds jobs of several {column}s ({', '.join(values)}), so it is not one "
                            f"sweep: a comparison pairs each experiment's seeds with baseline's on one test split. "
                            f"Give one sweep's folder (outputs/sweeps/<name>), or several sweep folders to rank them "
                            f"(balance-report A B ...).")


def build_report(sweep_dir: str | Path, bootstrap_seed: int = BOOTSTRAP_SEED) -> dict:
    """Write comparison.csv/.md/.png, statistics.csv, per_class_recall.png, per_class_delta.csv/.png,
    sweep_summary.json and report.html."""
    from balancelab.sweep import plots

    sweep_dir = Path(sweep_dir)
    jobs = jobs_table(sweep_dir)
    if jobs.empty:
        raise FileNotFoundError(f"No job folders (with config.yaml) under {sweep_dir}.")
    one_dataset_and_model(sweep_dir, jobs)
    screen = screen_info(sweep_dir)
    merged = set((screen or {}).get("same_head") or {})
    if merged:  # folders of a screen made before same-head experiments were screened once: their row is another's
        jobs = jobs[~(jobs["experiment"].isin(merged) | column_of(jobs, "source_experiment").isin(merged))]
        jobs = jobs.reset_index(drop=True)
    for kept, others in same_head_names(screen).items():  # a screen's row that stands for several experiments
        rows = jobs["experiment"] == kept
        note = f"the same screened head as {', '.join(others)}"
        jobs.loc[rows, "settings"] = [f"{s}; {note}" if s else note for s in jobs.loc[rows, "settings"]]
    stats = paired_statistics(sweep_dir, jobs, bootstrap_seed)
    long, notes = stats.long, stats.notes
    n_resamples = int(long["n_resamples"].max()) if len(long) and long["n_resamples"].notna().any() else 0
    table = attach_statistics(comparison_table(jobs), long)
    answer = sweep_answer(table, jobs, stats.predictions, stats.minority_index, bootstrap_seed, groups=stats.groups)
    per_class = per_class_tables(jobs, sweep_dir)
    budget = budget_facts(jobs)
    if screen is not None:  # the heads trained trainer.feature_head_epochs, whatever trainer.budget says
        budget["text"] = screen_budget_text(screen, jobs)
    atomic.write_csv(sweep_dir / COMPARISON_CSV, table)
    atomic.write_csv(sweep_dir / STATISTICS_FILE, long)
    derived_text = derived_markdown(table)
    notice = screen_notice(sweep_dir)  # a screen of the classifier stage says so before anything else
    title = "# Screen of the classifier stage\n\n" + notice + "\n\n" if notice else "# Sweep comparison\n\n"
    atomic.write_text(sweep_dir / COMPARISON_MD, title + "**Answer.** " + answer.text + "\n\n"
                      + budget["text"] + "\n\nMean ± std over "
                      "seeds on the test split; Δ is the paired difference to `baseline` (see below); rank by "
                      "macro-F1 among the trained experiments.\n\n" + markdown(table)
                      + ("\n" + derived_text if derived_text else "") + "\n"
                      + statistics_markdown(long, notes, n_resamples, bootstrap_seed))
    atomic.write_csv(sweep_dir / PER_CLASS_DELTA_FILE, per_class)
    atomic.save_figure(sweep_dir / COMPARISON_PLOT, plots.comparison_bars(table))
    atomic.save_figure(sweep_dir / PER_CLASS_RECALL_PLOT, plots.per_class_heatmap(per_class, table["experiment"]))
    atomic.save_figure(sweep_dir / PER_CLASS_DELTA_PLOT, plots.per_class_delta_heatmap(per_class, table["experiment"]))
    real = trained_jobs(jobs)
    failed = real[real["status"] == Status.FAILED]
    trained_rows = table[table["row_kind"] == TRAINED]
    summary = {
        "sweep_dir": str(sweep_dir.resolve()), "jobs": int(len(real)),
        "status_counts": {k: int(v) for k, v in real["status"].value_counts().items()},
        "failed_jobs": [{"job": r["job"], "error": r["error"]} for _, r in failed.iterrows()],
        "best_experiment": best_row(table, TRAINED), "best_derived_row": best_row(table, DERIVED),
        "experiments": trained_rows["experiment"].tolist(),
        "derived_rows": table.loc[table["row_kind"] == DERIVED, "experiment"].tolist(),
        "budget": budget, "holm_families": list(FAMILIES), "primary_metric": PRIMARY_METRIC,
        "bootstrap": {"seed": bootstrap_seed, "resamples": n_resamples}, "answer": answer.as_dict(),
        "jobs_detail": json.loads(jobs.to_json(orient="records")),
        "screen": notice is not None,
    }
    atomic.write_json(sweep_dir / SWEEP_SUMMARY_FILE, summary)
    write_sweep_page(sweep_dir, jobs, table, long, per_class, notes, budget, bootstrap_seed, answer.text, notice)
    return summary


def write_sweep_page(sweep_dir: Path, jobs, table, long, per_class, notes, budget=None,
                     bootstrap_seed: int = BOOTSTRAP_SEED, answer: str = "", notice=None) -> None:
    """report.html; the comparison files above are the results, so an error drawing the page is logged, not
    raised. A page that cannot be written (a full disk) is the storage error every other file gives."""

    try:
        atomic.write_text(sweep_dir / REPORT_FILE, sweep_report_html(sweep_dir, jobs, table, long, per_class, notes,
                                                                     budget, bootstrap_seed, answer, notice))
    except OutputWriteError:
        raise
    except Exception as exc:
        log.error("Could not write %s (%s: %s); the comparison files are complete.", sweep_dir / REPORT_FILE,
                  type(exc).__name__, exc)
