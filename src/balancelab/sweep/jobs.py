"""Reading a sweep's job folders: one row per job (finished, failed or incomplete), with the settings that set
an experiment apart from baseline and the rows derived from a trained model."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Dict, List, Optional

import numpy as np
import pandas as pd
import yaml

from balancelab.evaluation.derived import BY_LABEL, DERIVED_RESULTS
from balancelab.identity import identity
from balancelab.output.contract import (CONFIG_FILE, FAILED_STATUSES, FAILURE_FILE, FINISHED, HEADLINE_METRICS,
                                        IDENTITY_FILE, PREDICTIONS_FILE, SUMMARY_FILE, TEST_METRICS_FILE, Status)
from balancelab.output.deferred import checkpoint_precedes_switch
from balancelab.output.run_folder import UnreadableRunFile, read_job_record, read_summary
from balancelab.sweep.columns import DERIVED, DERIVED_METRICS, TABLE_METRICS, TRAINED
from balancelab.sweep.grid import BASELINE

log = logging.getLogger("balancelab")


def job_folders(sweep_dir: Path) -> List[Path]:
    return sorted(p.parent for p in Path(sweep_dir).glob(f"*/{CONFIG_FILE}"))


def _read(path: Path, parse):
    try:
        return parse(path.read_text())
    except (OSError, ValueError, yaml.YAMLError) as exc:
        raise UnreadableRunFile(f"{path.name} does not parse ({type(exc).__name__}: {str(exc).splitlines()[0]})",
                                path.name)


def _unreadable_job(folder: Path, error: str) -> Dict[str, object]:
    """The row of a job whose config cannot be read: it is listed, with the reason, but compares nothing."""
    return {"job": folder.name, "experiment": None, "group": None, "seed": None, "model": None, "dataset": None,
            "balancing": None, "loss": None, "error": error, "row_kind": TRAINED, "source_experiment": None,
            "derived": None, "crt_epochs": 0, "budget": None, "epochs": None, "planned_steps": None,
            "steps_done": None, "status": Status.INCOMPLETE.value}


def _config_or_empty(folder: Path) -> dict:
    try:
        cfg = _read(folder / CONFIG_FILE, yaml.safe_load)
    except UnreadableRunFile:
        return {}  # its row already says why
    return cfg if isinstance(cfg, dict) else {}


def read_job(folder: Path) -> Dict[str, object]:
    """One job folder as a row. A file that does not parse makes the row incomplete (or failed), saying which."""
    try:
        cfg = _read(folder / CONFIG_FILE, yaml.safe_load)
        if not isinstance(cfg, dict):
            raise UnreadableRunFile(f"{CONFIG_FILE} does not parse (not a mapping)", CONFIG_FILE)
    except UnreadableRunFile as exc:
        return _unreadable_job(folder, str(exc))
    missing = [f"{group}.name" for group in ("model", "dataset", "balancing", "loss")
               if not isinstance(cfg.get(group), dict) or "name" not in cfg[group]]
    if missing:  # a file cut short often still parses: what it lacks says so
        return _unreadable_job(folder, f"{CONFIG_FILE} is incomplete (no {', '.join(missing)})")
    try:
        return _job_row(folder, cfg)
    except UnreadableRunFile as exc:
        row = _job_row(folder, cfg, results=False)
        row["status"] = Status.FAILED.value if exc.file == FAILURE_FILE else Status.INCOMPLETE.value
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
    if not results:
        return row
    record = read_job_record(folder)  # UnreadableRunFile: read_job makes the row incomplete or failed, saying why
    if record.summary is not None:
        summary = record.summary
        if summary.get("screen"):  # a screen trained crt's cRT head already (class-balanced sampling of the
            row["crt_epochs"] = 0  # features): its row is the result, not a model before its cRT stage
        budget = summary.get("budget") or {}
        row["planned_steps"] = budget.get("total_steps")
        # The steps made (early stopping can end a job before its plan); older summaries only have the plan.
        row["steps_done"] = budget.get("steps_done", budget.get("total_steps"))
        head = (summary.get("feature_balancing") or {}).get("head") or {}
        if head.get("steps_per_epoch") and head.get("val_macro_f1"):  # the head trained on the features, too
            row["head_steps"] = int(head["steps_per_epoch"]) * len(head["val_macro_f1"])
        test = summary.get("test") or {}
        row["status"] = summary["status"]
        for key in HEADLINE_METRICS:
            row[key] = test.get(key)
        # All training sessions of a resumed run (stage_seconds holds the last session's only).
        row["training_seconds"] = summary.get("training_seconds", (summary.get("stage_seconds") or {}).get("training"))
        val = (summary.get("validation_at_best_epoch") or {}).get("macro_f1")
        row["val_macro_f1"] = val
        row["val_test_gap"] = None if val is None or test.get("macro_f1") is None else val - test["macro_f1"]
        row["checkpoint_note"] = checkpoint_precedes_switch(cfg, summary)
        if row["status"] in FAILED_STATUSES:  # a diverged job is a failure, not a dropped seed
            row["status"], row["error"] = Status.FAILED.value, f"{summary['status']}: {summary.get('message') or 'no message'}"
    elif record.failure is not None:
        failure = record.failure
        row["status"] = Status.FAILED.value
        row["error"] = f"{failure.get('error_type', 'unknown error')}: {failure.get('error', 'no message')}"
    else:
        row["status"] = Status.INCOMPLETE.value
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
    if row["status"] not in FINISHED or not (folder / SUMMARY_FILE).exists():
        return []
    summary = read_summary(folder)  # read once already for the row: it parses
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
        for metric in DERIVED_METRICS:
            derived[metric] = test.get(metric)
        out.append(derived)
    return out


def _identity_hash(folder: Path) -> Optional[str]:
    """The hash a job folder's identity.json records (None when it has none or it does not parse)."""
    try:
        return str(json.loads((folder / IDENTITY_FILE).read_text())["hash"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def jobs_table(sweep_dir: Path) -> pd.DataFrame:
    folders = job_folders(sweep_dir)
    rows, row_folders = [], []
    finished_runs: Dict[tuple, Path] = {}
    for folder in folders:
        row = read_job(folder)
        # the same run: the same identity under the same row label (the label is not part of the identity: two
        # experiments of a grid may be the same configuration, e.g. a screen's twins, and stay two labels)
        identity_hash = _identity_hash(folder) if row["status"] in FINISHED else None
        same_run = None if identity_hash is None else (identity_hash, row["experiment"])
        if same_run is not None and same_run in finished_runs:
            # One run under two folder names (a newer balancelab named the run's folder otherwise, and a re-run
            # trained it again beside the old one): the same experiment, compared once.
            log.warning("%s and %s are the same run (identity %s; a folder renamed by a newer balancelab): "
                        "compared once, as %s.", finished_runs[same_run].name, folder.name,
                        identity_hash, finished_runs[same_run].name)
            continue
        if same_run is not None:
            finished_runs[same_run] = folder
        for r in [row, *derived_rows(folder, row)]:
            rows.append(r)
            row_folders.append(folder)
    frame = pd.DataFrame(rows)
    settings = settings_apart_from_baseline(row_folders, [r["experiment"] for r in rows])
    frame["settings"] = [settings[r["experiment"]] for r in rows]
    for key in TABLE_METRICS + ["val_macro_f1", "planned_steps", "steps_done", "epochs"]:
        if key not in frame:
            frame[key] = np.nan
        frame[key] = pd.to_numeric(frame[key], errors="coerce")
    return frame


def trained_jobs(jobs: pd.DataFrame) -> pd.DataFrame:
    """The rows of real jobs (not the post-hoc/cRT rows derived from them)."""
    return jobs[jobs["row_kind"] == TRAINED] if "row_kind" in jobs else jobs


def job_file(sweep_dir: Path, job: str, kind: str) -> Path:
    """The file of a comparison row's job: ``kind`` is "predictions" or "metrics"; a derived row's job is
    ``<folder>#<label>``, a trained row's is its folder."""
    folder, _, label = str(job).partition("#")
    if not label:
        return Path(sweep_dir) / folder / (PREDICTIONS_FILE if kind == "predictions" else TEST_METRICS_FILE)
    derived = BY_LABEL[label]
    return Path(sweep_dir) / folder / (derived.predictions_file if kind == "predictions" else derived.metrics_file)
