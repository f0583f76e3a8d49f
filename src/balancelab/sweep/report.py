"""The comparison of a sweep, rebuilt from its job folders alone (no training).

Each job folder holds either experiment_summary.json (finished), failure.json (failed) or
neither (not run yet / interrupted). One row per job, then one row per experiment with the
mean and standard deviation over seeds, the difference to `baseline` and a rank by macro-F1.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Dict, List

import numpy as np
import pandas as pd
import yaml

from balancelab.output import atomic

METRICS = ["accuracy", "balanced_accuracy", "macro_f1", "weighted_f1", "minority_class_recall", "ece",
           "training_seconds", "val_test_gap"]
BASELINE = "baseline"


def job_folders(sweep_dir: Path) -> List[Path]:
    return sorted(p.parent for p in Path(sweep_dir).glob("*/config.yaml"))


def read_job(folder: Path) -> Dict[str, object]:
    cfg = yaml.safe_load((folder / "config.yaml").read_text())
    row = {"job": folder.name, "experiment": cfg.get("experiment_name"), "group": cfg.get("experiment_group"),
           "seed": cfg.get("seed"), "model": cfg["model"]["name"], "dataset": cfg["dataset"]["name"],
           "balancing": cfg["balancing"]["name"], "loss": cfg["loss"]["name"], "error": None}
    summary_path, failure_path = folder / "experiment_summary.json", folder / "failure.json"
    if summary_path.exists():
        summary = json.loads(summary_path.read_text())
        test = summary.get("test") or {}
        row["status"] = summary["status"]
        for key in METRICS[:6]:
            row[key] = test.get(key)
        row["training_seconds"] = summary.get("stage_seconds", {}).get("training")
        val = (summary.get("validation_at_best_epoch") or {}).get("macro_f1")
        row["val_macro_f1"] = val
        row["val_test_gap"] = None if val is None or test.get("macro_f1") is None else val - test["macro_f1"]
    elif failure_path.exists():
        failure = json.loads(failure_path.read_text())
        row["status"], row["error"] = "failed", f"{failure['error_type']}: {failure['error']}"
    else:
        row["status"] = "incomplete"
    return row


def jobs_table(sweep_dir: Path) -> pd.DataFrame:
    rows = [read_job(f) for f in job_folders(sweep_dir)]
    frame = pd.DataFrame(rows)
    for key in METRICS + ["val_macro_f1"]:
        if key not in frame:
            frame[key] = np.nan
        frame[key] = pd.to_numeric(frame[key], errors="coerce")
    return frame


def comparison_table(jobs: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for name, group in jobs.groupby("experiment", sort=False):
        ok = group[group["status"].isin(["completed", "early_stopped"])]
        row = {"experiment": name, "group": group["group"].iloc[0], "balancing": group["balancing"].iloc[0],
               "loss": group["loss"].iloc[0], "n_seeds": int(len(ok)), "n_failed": int((group["status"] == "failed").sum()),
               "n_incomplete": int((~group["status"].isin(["completed", "early_stopped", "failed"])).sum())}
        row["status"] = "ok" if row["n_failed"] == 0 and row["n_incomplete"] == 0 else (
            "failed" if len(ok) == 0 and row["n_failed"] else "partial")
        errors = [e for e in group["error"].dropna()]
        row["errors"] = " | ".join(errors) if errors else ""
        for key in METRICS:
            values = ok[key].dropna()
            row[f"{key}_mean"] = float(values.mean()) if len(values) else np.nan
            row[f"{key}_std"] = float(values.std(ddof=1)) if len(values) > 1 else (0.0 if len(values) else np.nan)
        rows.append(row)
    table = pd.DataFrame(rows)
    base = table[table["experiment"] == BASELINE]
    for key in METRICS:
        ref = base[f"{key}_mean"].iloc[0] if len(base) else np.nan
        table[f"{key}_delta_vs_baseline"] = table[f"{key}_mean"] - ref
    table["rank"] = table["macro_f1_mean"].rank(ascending=False, method="min")
    return table.sort_values(["rank", "experiment"], na_position="last").reset_index(drop=True)


def per_class_tables(jobs: pd.DataFrame, sweep_dir: Path) -> pd.DataFrame:
    """Mean per-class recall/F1 per experiment (over seeds) and the difference to baseline."""
    frames = []
    for _, job in jobs[jobs["status"].isin(["completed", "early_stopped"])].iterrows():
        path = Path(sweep_dir) / job["job"] / "test_metrics.csv"
        if path.exists():
            m = pd.read_csv(path)
            m = m[~m["class"].isin(["macro avg", "weighted avg", "accuracy", "balanced accuracy"])]
            frames.append(m.assign(experiment=job["experiment"])[["experiment", "class", "recall", "f1"]])
    if not frames:
        return pd.DataFrame(columns=["experiment", "class", "recall", "f1", "recall_delta", "f1_delta"])
    per = pd.concat(frames).astype({"class": str}).groupby(["experiment", "class"], sort=False).mean().reset_index()
    base = per[per["experiment"] == BASELINE].set_index("class")
    per["recall_delta"] = per.apply(lambda r: r["recall"] - base["recall"].get(r["class"], np.nan), axis=1)
    per["f1_delta"] = per.apply(lambda r: r["f1"] - base["f1"].get(r["class"], np.nan), axis=1)
    return per


def _pm(mean, std, digits=4) -> str:
    return "—" if pd.isna(mean) else f"{mean:.{digits}f} ± {0 if pd.isna(std) else std:.{digits}f}"


def markdown(table: pd.DataFrame) -> str:
    head = ["rank", "experiment", "group", "seeds", "accuracy", "balanced acc.", "macro-F1", "Δ macro-F1",
            "weighted F1", "minority recall", "ECE", "val−test gap", "train s", "status"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for _, r in table.iterrows():
        delta = r["macro_f1_delta_vs_baseline"]
        lines.append("| " + " | ".join([
            "—" if pd.isna(r["rank"]) else str(int(r["rank"])), r["experiment"], str(r["group"]), str(r["n_seeds"]),
            _pm(r["accuracy_mean"], r["accuracy_std"]), _pm(r["balanced_accuracy_mean"], r["balanced_accuracy_std"]),
            _pm(r["macro_f1_mean"], r["macro_f1_std"]), "—" if pd.isna(delta) else f"{delta:+.4f}",
            _pm(r["weighted_f1_mean"], r["weighted_f1_std"]),
            _pm(r["minority_class_recall_mean"], r["minority_class_recall_std"]), _pm(r["ece_mean"], r["ece_std"]),
            _pm(r["val_test_gap_mean"], r["val_test_gap_std"]), _pm(r["training_seconds_mean"], r["training_seconds_std"], 1),
            r["status"] + (f" ({r['errors']})" if r["errors"] else "")]) + " |")
    return "\n".join(lines) + "\n"


def build_report(sweep_dir: str | Path) -> dict:
    """Write comparison.csv/.md/.png, per_class_recall.png, per_class_delta.csv, sweep_summary.json."""
    from balancelab.evaluation import plots

    sweep_dir = Path(sweep_dir)
    jobs = jobs_table(sweep_dir)
    if jobs.empty:
        raise FileNotFoundError(f"No job folders (with config.yaml) under {sweep_dir}.")
    table = comparison_table(jobs)
    per_class = per_class_tables(jobs, sweep_dir)
    atomic.write_csv(sweep_dir / "comparison.csv", table)
    atomic.write_text(sweep_dir / "comparison.md", "# Sweep comparison\n\nMean ± std over seeds on the test split; "
                      "Δ is the difference to `baseline`; rank by macro-F1.\n\n" + markdown(table))
    atomic.write_csv(sweep_dir / "per_class_delta.csv", per_class)
    atomic.save_figure(sweep_dir / "comparison.png", plots.comparison_bars(table))
    atomic.save_figure(sweep_dir / "per_class_recall.png", plots.per_class_heatmap(per_class))
    failed = jobs[jobs["status"] == "failed"]
    summary = {
        "sweep_dir": str(sweep_dir.resolve()), "jobs": int(len(jobs)),
        "status_counts": {k: int(v) for k, v in jobs["status"].value_counts().items()},
        "failed_jobs": [{"job": r["job"], "error": r["error"]} for _, r in failed.iterrows()],
        "best_experiment": None if table["macro_f1_mean"].isna().all() else table.iloc[0]["experiment"],
        "experiments": table["experiment"].tolist(),
        "jobs_detail": json.loads(jobs.to_json(orient="records")),
    }
    atomic.write_json(sweep_dir / "sweep_summary.json", summary)
    return summary
