"""The comparison of a sweep, rebuilt from its job folders alone (no training).

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
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional

import logging

import numpy as np
import pandas as pd
import yaml

from balancelab.errors import DataError
from balancelab.evaluation.derived import BY_LABEL, DERIVED_RESULTS, job_file
from balancelab.identity import identity
from balancelab.output import atomic
from balancelab.output.deferred import checkpoint_precedes_switch
from balancelab.output.run_folder import FAILED_STATUSES
from balancelab.sweep import statistics
from balancelab.sweep.answer import sweep_answer
from balancelab.sweep.numbers import format_interval, format_mean, format_p, format_share
from balancelab.sweep.statistics import (DERIVED_VS_SOURCE_FAMILY, FAMILIES, N_RESAMPLES, PRIMARY_METRIC,
                                         is_decided)

METRICS = ["accuracy", "balanced_accuracy", "macro_f1", "weighted_f1", "minority_class_recall", "ece",
           "training_seconds", "val_test_gap"]
BASELINE = statistics.BASELINE
# The paired bootstrap's seed: fixed, so that rebuilding a report gives the same intervals (balance-report
# --bootstrap-seed changes it, to see that the verdicts do not depend on it).
BOOTSTRAP_SEED = 0
REFERENCE = "reference"  # the verdict column of the baseline row itself
TRAINED, DERIVED = "trained", "derived"  # row_kind
BEFORE_CRT_VERDICT = "not tested (the model before cRT; its result is the + cRT row)"
# Long-format statistics columns -> the comparison table's per-metric columns ({metric}_{suffix}): the
# comparison with baseline (trained and derived rows alike).
STAT_COLUMNS = {"family": "family", "n_comparisons": "family_size", "n_pairs": "n_pairs",
                "mean_difference": "paired_diff", "ci_low": "diff_ci_low", "ci_high": "diff_ci_high",
                "p_ttest": "p_ttest", "p_wilcoxon": "p_wilcoxon", "p_wilcoxon_holm": "p_wilcoxon_holm",
                "boot_ci_low": "boot_ci_low", "boot_ci_high": "boot_ci_high", "boot_p": "boot_p", "test": "test",
                "seed_share": "seed_share", "seed_variance_source": "seed_variance_source",
                "ci95_low": "diff_ci95_low", "ci95_high": "diff_ci95_high", "p_value": "p_value",
                "p_mc_error": "p_mc_error", "n_resamples": "n_resamples", "p_holm": "p_holm",
                "corrected_level": "ci_corrected_level", "ci_corrected_low": "diff_ci_corrected_low",
                "ci_corrected_high": "diff_ci_corrected_high", "verdict": "verdict", "scope": "scope",
                "note": "stat_note"}
# ... and a derived row's comparison with its own trained model: {metric}_vs_source_{suffix}.
SOURCE_COLUMNS = {"reference": "reference", "n_comparisons": "family_size", "n_pairs": "n_pairs",
                  "mean_difference": "paired_diff", "test": "test", "p_value": "p_value", "p_holm": "p_holm",
                  "scope": "scope",
                  "corrected_level": "ci_corrected_level", "ci_corrected_low": "diff_ci_corrected_low",
                  "ci_corrected_high": "diff_ci_corrected_high", "verdict": "verdict", "note": "stat_note"}

log = logging.getLogger("balancelab")


def job_folders(sweep_dir: Path) -> List[Path]:
    return sorted(p.parent for p in Path(sweep_dir).glob("*/config.yaml"))


class _Unreadable(Exception):
    """A job file that exists but does not parse (a copy cut short, a disk that filled outside our writes)."""


def _read(path: Path, parse):
    try:
        return parse(path.read_text())
    except (OSError, ValueError, yaml.YAMLError) as exc:
        raise _Unreadable(f"{path.name} does not parse ({type(exc).__name__}: {str(exc).splitlines()[0]})")


def _unreadable_job(folder: Path, error: str) -> Dict[str, object]:
    """The row of a job whose config cannot be read: it is listed, with the reason, but compares nothing."""
    return {"job": folder.name, "experiment": None, "group": None, "seed": None, "model": None, "dataset": None,
            "balancing": None, "loss": None, "error": error, "row_kind": TRAINED, "source_experiment": None,
            "derived": None, "crt_epochs": 0, "budget": None, "epochs": None, "planned_steps": None,
            "steps_done": None, "status": "incomplete"}


def _config_or_empty(folder: Path) -> dict:
    try:
        cfg = _read(folder / "config.yaml", yaml.safe_load)
    except _Unreadable:
        return {}  # its row already says why
    return cfg if isinstance(cfg, dict) else {}


def read_job(folder: Path) -> Dict[str, object]:
    """One job folder as a row. A file that does not parse makes the row incomplete (or failed), saying which."""
    try:
        cfg = _read(folder / "config.yaml", yaml.safe_load)
        if not isinstance(cfg, dict):
            raise _Unreadable("config.yaml does not parse (not a mapping)")
    except _Unreadable as exc:
        return _unreadable_job(folder, str(exc))
    missing = [f"{group}.name" for group in ("model", "dataset", "balancing", "loss")
               if not isinstance(cfg.get(group), dict) or "name" not in cfg[group]]
    if missing:  # a file cut short often still parses: what it lacks says so
        return _unreadable_job(folder, f"config.yaml is incomplete (no {', '.join(missing)})")
    try:
        return _job_row(folder, cfg)
    except _Unreadable as exc:
        row = _job_row(folder, cfg, results=False)
        row["status"] = "failed" if "failure.json" in str(exc) else "incomplete"
        row["error"] = str(exc)
        return row


def _job_row(folder: Path, cfg: dict, results: bool = True) -> Dict[str, object]:
    trainer = cfg.get("trainer") or {}
    row = {"job": folder.name, "experiment": cfg.get("experiment_name"), "group": cfg.get("experiment_group"),
           "seed": cfg.get("seed"), "model": cfg["model"]["name"], "dataset": cfg["dataset"]["name"],
           "balancing": cfg["balancing"]["name"], "loss": cfg["loss"]["name"], "error": None,
           "row_kind": TRAINED, "source_experiment": None, "derived": None,
           "crt_epochs": int(trainer.get("crt_epochs") or 0),
           # a config without the key predates trainer.budget, when every budget was epochs
           "budget": trainer.get("budget", "epochs") if trainer else None, "epochs": trainer.get("epochs"),
           "planned_steps": None, "steps_done": None,
           # a deferred job reported from a checkpoint before its switch (output/deferred.py); None otherwise
           "checkpoint_note": None}
    summary_path, failure_path = folder / "experiment_summary.json", folder / "failure.json"
    if not results:
        return row
    if summary_path.exists():
        summary = _read(summary_path, json.loads)
        if not isinstance(summary, dict) or "status" not in summary:
            raise _Unreadable("experiment_summary.json is incomplete (no status)")
        budget = summary.get("budget") or {}
        row["planned_steps"] = budget.get("total_steps")
        # The steps made (early stopping can end a job before its plan); older summaries only have the plan.
        row["steps_done"] = budget.get("steps_done", budget.get("total_steps"))
        test = summary.get("test") or {}
        row["status"] = summary["status"]
        for key in METRICS[:6]:
            row[key] = test.get(key)
        # All training sessions of a resumed run (stage_seconds holds the last session's only).
        row["training_seconds"] = summary.get("training_seconds", (summary.get("stage_seconds") or {}).get("training"))
        val = (summary.get("validation_at_best_epoch") or {}).get("macro_f1")
        row["val_macro_f1"] = val
        row["val_test_gap"] = None if val is None or test.get("macro_f1") is None else val - test["macro_f1"]
        row["checkpoint_note"] = checkpoint_precedes_switch(cfg, summary)
        if row["status"] in FAILED_STATUSES:  # a diverged job is a failure, not a dropped seed
            row["status"], row["error"] = "failed", f"{summary['status']}: {summary.get('message') or 'no message'}"
    elif failure_path.exists():
        failure = _read(failure_path, json.loads)
        if not isinstance(failure, dict):
            raise _Unreadable("failure.json is incomplete (not a mapping)")
        row["status"] = "failed"
        row["error"] = f"{failure.get('error_type', 'unknown error')}: {failure.get('error', 'no message')}"
    else:
        row["status"] = "incomplete"
    return row


def flat_settings(cfg: dict) -> Dict[str, str]:
    """A job's identity (its config without presentation keys) as dotted key -> value text, seed left out."""
    out: Dict[str, str] = {}

    def walk(node, prefix):
        for key, value in node.items():
            path = f"{prefix}{key}"
            if isinstance(value, dict):
                walk(value, path + ".")
            else:
                out[path] = json.dumps(value) if isinstance(value, (list, dict)) else str(value)

    walk({k: v for k, v in identity(cfg).items() if k != "seed"}, "")
    return out


def _bookkeeping(key: str) -> bool:
    return key.rsplit(".", 1)[-1] in ("_target_", "_partial_", "name")


def settings_apart_from_baseline(folders: List[Path], experiments: List[str],
                                 baseline: str = BASELINE) -> Dict[str, str]:
    """Per experiment, what sets it apart from ``baseline``: the options it chose instead (``loss=focal``) and
    the settings whose values differ from baseline's (``model.normed_classifier=True``).

    A key of an option the baseline did not choose (``loss.gamma`` of ``loss=focal``) is shown only when it
    varies among the sweep's jobs that chose that option and differs from baseline's value (``loss.drw_epoch=24``
    of ldam_drw against ldam): that focal has a gamma is already said by its name. A key that takes several values inside one experiment (jobs
    that should be seeds of one setting but are not) shows as ``key=mixed(a|b)``. Without a baseline in the
    sweep, every setting that varies across its jobs is shown.
    """
    settings = [flat_settings(_config_or_empty(f)) for f in folders]
    reference = [s for s, e in zip(settings, experiments) if e == baseline]

    def values(rows: List[dict], key: str) -> List[str]:
        return sorted({r.get(key, "∅") for r in rows})

    def option_varies(key: str, option_key: str, option: str) -> bool:
        return len(values([t for t in settings if t.get(option_key) == option], key)) > 1

    out = {}
    for experiment in dict.fromkeys(experiments):
        mine = [s for s, e in zip(settings, experiments) if e == experiment]
        parts = []
        keys = {k for s in mine + reference for k in s}
        # a group's option first (loss=ldam), then its keys (loss.drw_epoch=24)
        for key in sorted(keys, key=lambda k: (k.split(".", 1)[0], k != f"{k.split('.', 1)[0]}.name", k)):
            group = key.split(".", 1)[0]
            option_key = f"{group}.name"
            own = values(mine, key)
            if key == option_key:
                if reference and own != values(reference, key):
                    parts.append(f"{group}={own[0]}" if len(own) == 1 else f"{group}=mixed({'|'.join(own)})")
                continue
            if _bookkeeping(key) or own == ["∅"]:
                continue
            if reference:
                other_option = option_key in mine[0] and values(mine, option_key) != values(reference, option_key)
                if other_option:  # its keys where they vary among that option's jobs and differ from baseline's
                    show = len(own) > 1 or (option_varies(key, option_key, mine[0][option_key])
                                            and own != values(reference, key))
                else:
                    show = own != values(reference, key)
            else:
                show = len(values(settings, key)) > 1
            if show:
                parts.append(f"{key}={own[0]}" if len(own) == 1 else f"{key}=mixed({'|'.join(own)})")
        out[experiment] = ", ".join(parts)
    return out


def derived_rows(folder: Path, row: dict) -> List[dict]:
    """``<experiment> + posthoc_la`` etc.: the job's post-hoc and cRT results (balancelab.evaluation.derived)
    as comparison rows of kind ``derived``."""
    path = folder / "experiment_summary.json"
    if row["status"] not in ("completed", "early_stopped") or not path.exists():
        return []
    summary = json.loads(path.read_text())
    out = []
    for result in DERIVED_RESULTS:
        block = result.result_of(summary)
        if block is None:
            continue
        test = block["test"]
        derived = {**row, "experiment": f"{row['experiment']} + {result.label}", "job": f"{row['job']}#{result.label}",
                   "row_kind": DERIVED, "source_experiment": row["experiment"], "derived": result.label,
                   "training_seconds": None, "val_test_gap": None, "ece": None, "val_macro_f1": None,
                   "planned_steps": None, "steps_done": None}
        for metric in METRICS[:5]:
            derived[metric] = test.get(metric)
        out.append(derived)
    return out


def jobs_table(sweep_dir: Path) -> pd.DataFrame:
    folders = job_folders(sweep_dir)
    rows, row_folders = [], []
    for folder in folders:
        row = read_job(folder)
        for r in [row, *derived_rows(folder, row)]:
            rows.append(r)
            row_folders.append(folder)
    frame = pd.DataFrame(rows)
    settings = settings_apart_from_baseline(row_folders, [r["experiment"] for r in rows])
    frame["settings"] = [settings[r["experiment"]] for r in rows]
    for key in METRICS + ["val_macro_f1", "planned_steps", "steps_done", "epochs"]:
        if key not in frame:
            frame[key] = np.nan
        frame[key] = pd.to_numeric(frame[key], errors="coerce")
    return frame


def trained_jobs(jobs: pd.DataFrame) -> pd.DataFrame:
    """The rows of real jobs (not the post-hoc/cRT rows derived from them)."""
    return jobs[jobs["row_kind"] == TRAINED] if "row_kind" in jobs else jobs


def mean_interval(values: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """t-interval of the mean over seeds (NaN below two values; the mean itself when they are all equal)."""
    if len(values) < 2:
        return np.nan, np.nan
    from scipy import stats

    half = stats.t.ppf(0.5 + level / 2, len(values) - 1) * values.std(ddof=1) / np.sqrt(len(values))
    return float(values.mean() - half), float(values.mean() + half)


FINISHED = ("completed", "early_stopped")


def _column(jobs: pd.DataFrame, name: str, default=None) -> pd.Series:
    """A jobs-table column, or ``default`` in every row for tables built without it."""
    return jobs[name] if name in jobs else pd.Series(default, index=jobs.index, dtype=object)


def _outcome(group: pd.DataFrame) -> Dict[str, object]:
    n_ok = int(group["status"].isin(FINISHED).sum())
    n_failed = int((group["status"] == "failed").sum())
    n_incomplete = int((~group["status"].isin([*FINISHED, "failed"])).sum())
    errors = [e for e in group["error"].dropna()]
    return {"n_ok": n_ok, "n_failed": n_failed, "n_incomplete": n_incomplete, "errors": errors}


def _status(n_ok: int, n_failed: int, n_incomplete: int, n_missing: int = 0) -> str:
    if n_failed == 0 and n_incomplete == 0 and n_missing == 0:
        return "ok"
    return "failed" if n_ok == 0 and n_failed else "partial"


def _description(kind: str, name: str, source, derived, ran_crt: bool) -> str:
    if kind == DERIVED:
        return f"{BY_LABEL[derived].description if derived in BY_LABEL else derived} ({source})"
    if ran_crt:
        return f"trained model, before its cRT stage (the cRT result is the row '{name} + {BY_LABEL['cRT'].label}')"
    return "trained model"


def comparison_table(jobs: pd.DataFrame) -> pd.DataFrame:
    """One row per experiment (trained) and per derived result of one (derived, after them).

    ``rank`` ranks the trained experiments only, ``rank_with_derived`` every row. A derived row
    inherits its trained experiment's failed and unfinished seeds (its status is ``partial`` when that
    experiment's is, or when some finished seed has no such result).
    """
    kinds, sources = _column(jobs, "row_kind", TRAINED), _column(jobs, "source_experiment")
    labels, crt = _column(jobs, "derived"), pd.to_numeric(_column(jobs, "crt_epochs", 0), errors="coerce")
    groups = dict(list(jobs.groupby("experiment", sort=False)))
    outcomes = {name: _outcome(group) for name, group in groups.items()}
    rows = []
    for name, group in groups.items():
        ok = group[group["status"].isin(FINISHED)]
        kind = kinds[group.index[0]]
        source, label = sources[group.index[0]], labels[group.index[0]]
        mine = outcomes[name]
        n_failed, n_incomplete, errors, n_missing = mine["n_failed"], mine["n_incomplete"], list(mine["errors"]), 0
        if kind == DERIVED:
            parent = outcomes.get(source, mine)
            n_failed, n_incomplete = parent["n_failed"], parent["n_incomplete"]
            n_missing = max(parent["n_ok"] - len(ok), 0)
            errors = [f"{source}: {e}" for e in parent["errors"]]
            if n_missing:
                errors.append(f"{n_missing} finished seed(s) of {source} have no {label} result")
        ran_crt = kind == TRAINED and bool((crt[group.index].fillna(0) > 0).any())
        row = {"experiment": name, "row_kind": kind, "source_experiment": source if kind == DERIVED else None,
               "row_description": _description(kind, name, source, label, ran_crt), "before_crt": ran_crt,
               "group": group["group"].iloc[0], "settings": group["settings"].iloc[0],
               "balancing": group["balancing"].iloc[0], "loss": group["loss"].iloc[0], "n_seeds": int(len(ok)),
               "n_failed": n_failed, "n_incomplete": n_incomplete,
               "status": _status(len(ok), n_failed, n_incomplete, n_missing), "errors": " | ".join(errors),
               "budget": ", ".join(sorted({str(b) for b in _column(group, "budget").dropna()})) or None,
               "optimiser_steps": float(ok["steps_done"].mean()) if "steps_done" in ok and
               ok["steps_done"].notna().any() else np.nan}
        for key in METRICS:
            values = ok[key].dropna()
            row[f"{key}_mean"] = float(values.mean()) if len(values) else np.nan
            row[f"{key}_std"] = float(values.std(ddof=1)) if len(values) > 1 else (0.0 if len(values) else np.nan)
            row[f"{key}_mean_ci_low"], row[f"{key}_mean_ci_high"] = mean_interval(values.to_numpy(float))
        rows.append(row)
    table = pd.DataFrame(rows)
    base = table[table["experiment"] == BASELINE]
    for key in METRICS:
        ref = base[f"{key}_mean"].iloc[0] if len(base) else np.nan
        table[f"{key}_delta_vs_baseline"] = table[f"{key}_mean"] - ref
    trained = table["row_kind"] == TRAINED
    table["rank"] = table["macro_f1_mean"].where(trained).rank(ascending=False, method="min")
    table["rank_with_derived"] = table["macro_f1_mean"].rank(ascending=False, method="min")
    table["_derived"] = ~trained
    table = table.sort_values(["_derived", "rank_with_derived", "experiment"], na_position="last")
    return table.drop(columns="_derived").reset_index(drop=True)


@dataclass
class PairedStatistics:
    long: pd.DataFrame             # balancelab.sweep.statistics.compare_to_baseline's table
    notes: List[str]               # for the reader
    predictions: Optional[dict]    # {(experiment, seed): predictions.csv frame}, None without a usable set
    minority_index: Optional[int]


def paired_statistics(sweep_dir: Path, jobs: pd.DataFrame, bootstrap_seed: int = BOOTSTRAP_SEED) -> PairedStatistics:
    """The sweep's paired statistics (balancelab.sweep.statistics.compare_to_baseline) and notes for the reader.

    The bootstrap needs the jobs' predictions.csv on one test split; when they are missing or do not
    match, the seed statistics are still reported and a note says why the bootstrap is absent.
    """
    notes: List[str] = []
    predictions, minority = None, None
    try:
        predictions = statistics.read_predictions(sweep_dir, jobs) or None
        if predictions is not None:
            statistics.align_predictions(predictions)  # checked here so that its error can become a note
            minority = statistics.minority_class_index(sweep_dir, jobs, predictions)
    except DataError as exc:
        notes.append(f"No paired bootstrap: {exc}")
        predictions = None
    if predictions is None and not notes:
        notes.append("No paired bootstrap: no finished job has a predictions.csv.")
    elif predictions is not None and minority is None:
        notes.append("The minority-class recall is not bootstrapped: no job summary names the minority class.")
    if predictions is not None:
        done = jobs[jobs["status"].isin(FINISHED)]
        lacking = sorted({e for e, s, k in zip(done["experiment"], done["seed"], _column(done, "row_kind", TRAINED))
                          if k == DERIVED and (e, s) not in predictions})
        if lacking:
            notes.append(f"No paired bootstrap for {', '.join(lacking)}: their runs wrote no test predictions for "
                         "the derived result (runs made before predictions_posthoc_*.csv / predictions_crt.csv "
                         "were written); their seed statistics are reported.")
    frame = statistics.compare_to_baseline(jobs, predictions, minority_index=minority, seed=bootstrap_seed)
    for note in notes:
        log.warning("%s", note)
    return PairedStatistics(frame, notes, predictions, minority)


def attach_statistics(table: pd.DataFrame, long: pd.DataFrame) -> pd.DataFrame:
    """The comparison table with one block of columns per metric: ``{metric}_{paired_diff, diff_ci_low, ...,
    verdict}`` (the comparison with baseline; the baseline row's verdict is ``reference``) and, for derived
    rows, ``{metric}_vs_source_{...}`` (the comparison with the trained model they come from)."""
    added = {}
    for metric in statistics.METRICS:
        of_metric = long[long["metric"] == metric]
        for part, columns, prefix in ((of_metric[of_metric["family"] != DERIVED_VS_SOURCE_FAMILY], STAT_COLUMNS, ""),
                                      (of_metric[of_metric["family"] == DERIVED_VS_SOURCE_FAMILY], SOURCE_COLUMNS,
                                       "vs_source_")):
            part = part.set_index("experiment")
            for source, suffix in columns.items():
                values = part[source] if source in part else pd.Series(dtype=object)
                added[f"{metric}_{prefix}{suffix}"] = table["experiment"].map(values)
    table = pd.concat([table.drop(columns=[c for c in added if c in table]), pd.DataFrame(added, index=table.index)],
                      axis=1)
    for metric in statistics.METRICS:
        # object dtype: with no other experiment the mapped column is all-NaN float and refuses text
        verdicts = table[f"{metric}_verdict"].astype(object)
        verdicts[table["experiment"] == BASELINE] = REFERENCE
        if "before_crt" in table:  # trained as baseline (statistics.before_crt_experiments): its result is "+ cRT"
            verdicts[table["before_crt"].fillna(False).astype(bool) & verdicts.isna()] = BEFORE_CRT_VERDICT
        table[f"{metric}_verdict"] = verdicts
    return table


def per_class_tables(jobs: pd.DataFrame, sweep_dir: Path) -> pd.DataFrame:
    """Mean per-class recall/F1 per experiment (over seeds) and the difference to baseline."""
    frames = []
    for _, job in jobs[jobs["status"].isin(["completed", "early_stopped"])].iterrows():
        path = job_file(sweep_dir, job["job"], "metrics")
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
    from balancelab.evaluation.plots import row_mark

    return _cell(f"{row['experiment']}{row_mark(row)}")


def markdown(table: pd.DataFrame) -> str:
    """The trained experiments' table."""
    head = ["rank", "experiment", "settings apart from baseline", "seeds", "accuracy", "balanced acc.", "macro-F1",
            "Δ macro-F1 [corrected CI] (level)", "verdict (macro-F1, primary)", "weighted F1", "minority recall", "ECE",
            "val−test gap", "train s", "optimiser steps", "status"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for _, r in table[_column(table, "row_kind", TRAINED) == TRAINED].iterrows():
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
    rows = table[_column(table, "row_kind", TRAINED) == DERIVED]
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
    "otherwise `no detectable difference`; a side with failed seeds cannot win (`unstable`). macro-F1 is the "
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


def _best(table: pd.DataFrame, kind: str) -> Optional[str]:
    rows = table[(_column(table, "row_kind", TRAINED) == kind) & table["macro_f1_mean"].notna()]
    return None if rows.empty else str(rows.sort_values("macro_f1_mean", ascending=False, kind="stable").iloc[0]["experiment"])


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
    from balancelab.evaluation import plots
    from balancelab.sweep.budget import budget_facts

    sweep_dir = Path(sweep_dir)
    jobs = jobs_table(sweep_dir)
    if jobs.empty:
        raise FileNotFoundError(f"No job folders (with config.yaml) under {sweep_dir}.")
    one_dataset_and_model(sweep_dir, jobs)
    stats = paired_statistics(sweep_dir, jobs, bootstrap_seed)
    long, notes = stats.long, stats.notes
    n_resamples = int(long["n_resamples"].max()) if len(long) and long["n_resamples"].notna().any() else 0
    table = attach_statistics(comparison_table(jobs), long)
    answer = sweep_answer(table, jobs, stats.predictions, stats.minority_index, bootstrap_seed)
    per_class = per_class_tables(jobs, sweep_dir)
    budget = budget_facts(jobs)
    atomic.write_csv(sweep_dir / "comparison.csv", table)
    atomic.write_csv(sweep_dir / "statistics.csv", long)
    derived_text = derived_markdown(table)
    atomic.write_text(sweep_dir / "comparison.md", "# Sweep comparison\n\n**Answer.** " + answer.text + "\n\n"
                      + budget["text"] + "\n\nMean ± std over "
                      "seeds on the test split; Δ is the paired difference to `baseline` (see below); rank by "
                      "macro-F1 among the trained experiments.\n\n" + markdown(table)
                      + ("\n" + derived_text if derived_text else "") + "\n"
                      + statistics_markdown(long, notes, n_resamples, bootstrap_seed))
    atomic.write_csv(sweep_dir / "per_class_delta.csv", per_class)
    atomic.save_figure(sweep_dir / "comparison.png", plots.comparison_bars(table))
    atomic.save_figure(sweep_dir / "per_class_recall.png", plots.per_class_heatmap(per_class, table["experiment"]))
    atomic.save_figure(sweep_dir / "per_class_delta.png", plots.per_class_delta_heatmap(per_class, table["experiment"]))
    real = trained_jobs(jobs)
    failed = real[real["status"] == "failed"]
    trained_rows = table[table["row_kind"] == TRAINED]
    summary = {
        "sweep_dir": str(sweep_dir.resolve()), "jobs": int(len(real)),
        "status_counts": {k: int(v) for k, v in real["status"].value_counts().items()},
        "failed_jobs": [{"job": r["job"], "error": r["error"]} for _, r in failed.iterrows()],
        "best_experiment": _best(table, TRAINED), "best_derived_row": _best(table, DERIVED),
        "experiments": trained_rows["experiment"].tolist(),
        "derived_rows": table.loc[table["row_kind"] == DERIVED, "experiment"].tolist(),
        "budget": budget, "holm_families": list(FAMILIES), "primary_metric": PRIMARY_METRIC,
        "bootstrap": {"seed": bootstrap_seed, "resamples": n_resamples}, "answer": answer.as_dict(),
        "jobs_detail": json.loads(jobs.to_json(orient="records")),
    }
    atomic.write_json(sweep_dir / "sweep_summary.json", summary)
    write_sweep_page(sweep_dir, jobs, table, long, per_class, notes, budget, bootstrap_seed, answer.text)
    return summary


def write_sweep_page(sweep_dir: Path, jobs, table, long, per_class, notes, budget=None,
                     bootstrap_seed: int = BOOTSTRAP_SEED, answer: str = "") -> None:
    """report.html; the comparison files above are the results, so an error drawing the page is logged, not
    raised. A page that cannot be written (a full disk) is the storage error every other file gives."""
    from balancelab.errors import OutputWriteError
    from balancelab.sweep.html_report import REPORT_FILE, sweep_report_html

    try:
        atomic.write_text(sweep_dir / REPORT_FILE, sweep_report_html(sweep_dir, jobs, table, long, per_class, notes,
                                                                     budget, bootstrap_seed, answer))
    except OutputWriteError:
        raise
    except Exception as exc:
        log.error("Could not write %s (%s: %s); the comparison files are complete.", sweep_dir / REPORT_FILE,
                  type(exc).__name__, exc)
