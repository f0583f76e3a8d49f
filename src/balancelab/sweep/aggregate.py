"""From jobs to experiments: one row per experiment (mean and spread over seeds, the difference to baseline,
rank), and the paired statistics attached to it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional

import numpy as np
import pandas as pd

from balancelab.errors import DataError
from balancelab.evaluation.derived import BY_LABEL
from balancelab.sweep.jobs import job_file
from balancelab.output.contract import FINISHED, Status
from balancelab.sweep import statistics
from balancelab.sweep.columns import (BEFORE_CRT_VERDICT, BOOTSTRAP_SEED, DERIVED, REFERENCE, SOURCE_COLUMNS,
                                      STAT_COLUMNS, TABLE_METRICS, TRAINED, RowStatus, log)
from balancelab.sweep.grid import BASELINE
from balancelab.sweep.statistics import DERIVED_VS_SOURCE_FAMILY


def mean_interval(values: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """t-interval of the mean over seeds (NaN below two values; the mean itself when they are all equal)."""
    if len(values) < 2:
        return np.nan, np.nan
    from scipy import stats

    half = stats.t.ppf(0.5 + level / 2, len(values) - 1) * values.std(ddof=1) / np.sqrt(len(values))
    return float(values.mean() - half), float(values.mean() + half)




def column_of(jobs: pd.DataFrame, name: str, default=None) -> pd.Series:
    """A jobs-table column, or ``default`` in every row for tables built without it."""
    return jobs[name] if name in jobs else pd.Series(default, index=jobs.index, dtype=object)


def _outcome(group: pd.DataFrame) -> Dict[str, object]:
    n_ok = int(group["status"].isin(FINISHED).sum())
    n_failed = int((group["status"] == Status.FAILED).sum())
    n_incomplete = int((~group["status"].isin([*FINISHED, Status.FAILED.value])).sum())
    errors = [e for e in group["error"].dropna()]
    return {"n_ok": n_ok, "n_failed": n_failed, "n_incomplete": n_incomplete, "errors": errors}


def _status(n_ok: int, n_failed: int, n_incomplete: int, n_missing: int = 0) -> str:
    if n_failed == 0 and n_incomplete == 0 and n_missing == 0:
        return RowStatus.OK
    return RowStatus.FAILED if n_ok == 0 and n_failed else RowStatus.PARTIAL


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
    kinds, sources = column_of(jobs, "row_kind", TRAINED), column_of(jobs, "source_experiment")
    labels, crt = column_of(jobs, "derived"), pd.to_numeric(column_of(jobs, "crt_epochs", 0), errors="coerce")
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
               "budget": ", ".join(sorted({str(b) for b in column_of(group, "budget").dropna()})) or None,
               "optimiser_steps": float(ok["steps_done"].mean()) if "steps_done" in ok and
               ok["steps_done"].notna().any() else np.nan}
        for key in TABLE_METRICS:
            values = ok[key].dropna()
            row[f"{key}_mean"] = float(values.mean()) if len(values) else np.nan
            row[f"{key}_std"] = float(values.std(ddof=1)) if len(values) > 1 else (0.0 if len(values) else np.nan)
            row[f"{key}_mean_ci_low"], row[f"{key}_mean_ci_high"] = mean_interval(values.to_numpy(float))
        rows.append(row)
    table = pd.DataFrame(rows)
    base = table[table["experiment"] == BASELINE]
    for key in TABLE_METRICS:
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
    groups: Optional[dict] = None  # {source_id: group} of the test set (split with dataset.group), else None


def paired_statistics(sweep_dir: Path, jobs: pd.DataFrame, bootstrap_seed: int = BOOTSTRAP_SEED) -> PairedStatistics:
    """The sweep's paired statistics (balancelab.sweep.statistics.compare_to_baseline) and notes for the reader.

    The bootstrap needs the jobs' predictions.csv on one test split; when they are missing or do not
    match, the seed statistics are still reported and a note says why the bootstrap is absent.
    """
    notes: List[str] = []
    predictions, minority, groups = None, None, None
    try:
        predictions = statistics.read_predictions(sweep_dir, jobs) or None
        if predictions is not None:
            statistics.align_predictions(predictions)  # checked here so that its error can become a note
            minority = statistics.minority_class_index(sweep_dir, jobs, predictions)
            groups = statistics.read_test_groups(sweep_dir, jobs)
            if groups is not None:
                statistics.groups_in_order(predictions, groups.of)  # every test sample has a group
    except DataError as exc:
        notes.append(f"No paired bootstrap: {exc}")
        predictions, groups = None, None
    if groups is not None:
        n_test = len(next(iter(predictions.values())))
        notes.append(f"The paired bootstrap resamples whole groups of test images (the jobs were split with "
                     f"dataset.group; split_manifest.csv's {groups.column}): resampled by group, {groups.count} "
                     f"groups of {n_test} test images. Frames of one group are not independent test cases."
                     + "".join(f" Note: {n}." for n in groups.notes))
    if predictions is None and not notes:
        notes.append("No paired bootstrap: no finished job has a predictions.csv.")
    elif predictions is not None and minority is None:
        notes.append("The minority-class recall is not bootstrapped: no job summary names the minority class.")
    if predictions is not None:
        done = jobs[jobs["status"].isin(FINISHED)]
        lacking = sorted({e for e, s, k in zip(done["experiment"], done["seed"], column_of(done, "row_kind", TRAINED))
                          if k == DERIVED and (e, s) not in predictions})
        if lacking:
            notes.append(f"No paired bootstrap for {', '.join(lacking)}: their runs wrote no test predictions for "
                         "the derived result (runs made before predictions_posthoc_*.csv / predictions_crt.csv "
                         "were written); their seed statistics are reported.")
    group_of = groups.of if groups is not None else None
    frame = statistics.compare_to_baseline(jobs, predictions, minority_index=minority, seed=bootstrap_seed,
                                           groups=group_of)
    for note in notes:
        log.warning("%s", note)
    return PairedStatistics(frame, notes, predictions, minority, group_of)


def attach_statistics(table: pd.DataFrame, long: pd.DataFrame) -> pd.DataFrame:
    """The comparison table with one block of columns per metric: ``{metric}_{paired_diff, diff_ci_low, ...,
    verdict}`` (the comparison with baseline; the baseline row's verdict is ``reference``) and, for derived
    rows, ``{metric}_vs_source_{...}`` (the comparison with the trained model they come from)."""
    added = {}
    for metric in statistics.TESTED_METRICS:
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
    for metric in statistics.TESTED_METRICS:
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
    for _, job in jobs[jobs["status"].isin(FINISHED)].iterrows():
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
