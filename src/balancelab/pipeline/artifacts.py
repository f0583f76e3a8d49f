"""The run folder's files written from a run's results (their names: output.contract).

Every write goes through :mod:`balancelab.output.atomic` (temporary file, then rename), so a reader never
sees half a file and a full disk is reported as such.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional, Sequence

import numpy as np
import pandas as pd

from balancelab.evaluation.calibration import confidence_table, expected_calibration_error
from balancelab.output import atomic
from balancelab.output.contract import (BALANCING_ANALYSIS_FILE, CLASS_MAPPING_FILE, CONFIDENCE_ANALYSIS_FILE,
                                        CONFIDENCE_PLOT, CONFIG_FILE, CONFUSION_MATRIX_FILE, CONFUSION_MATRIX_PLOT,
                                        DATASET_STATISTICS_FILE, HISTORY_COLUMNS, HISTORY_FILE, IDENTITY_FILE,
                                        PR_CURVE_FILE, PREDICTIONS_FILE, ROC_CURVE_FILE, SKIPPED_FILES_FILE,
                                        SPLIT_MANIFEST_FILE, SYNTHETIC_PROVENANCE_FILE, SYNTHETIC_SAMPLES_FILE,
                                        TEST_METRICS_FILE, THRESHOLD_ANALYSIS_FILE, TRAINING_CURVES_FILE)
from balancelab.training.budget import steps_taken


def imbalance_ratio(counts) -> Optional[float]:
    present = [c for c in counts if c > 0]
    return float(max(present) / min(present)) if present else None


def write_config(run_dir: Path, plain_cfg: dict, identity: str, presentation_keys: Sequence[str]) -> None:
    from omegaconf import OmegaConf

    atomic.write_text(run_dir / CONFIG_FILE, OmegaConf.to_yaml(OmegaConf.create(plain_cfg)))
    atomic.write_json(run_dir / IDENTITY_FILE, {
        "hash": identity, "excluded_keys": list(presentation_keys),
        "meaning": "hash of config.yaml without the excluded (presentation-only) keys"})


def write_data(run_dir: Path, splits) -> dict:
    """class_mapping.json, the split manifest and skipped files; returns the loader's remaining notes."""
    notes = dict(splits.notes)
    manifest = notes.pop("manifest", None)
    if manifest is not None:
        atomic.write_csv(run_dir / SPLIT_MANIFEST_FILE, manifest)
    if "skipped_files" in notes:
        skipped = notes.pop("skipped_files")
        atomic.write_text(run_dir / SKIPPED_FILES_FILE, "".join(f"{path}\t{reason}\n" for path, reason in skipped))
    names = splits.class_names
    atomic.write_json(run_dir / CLASS_MAPPING_FILE,
                      {"class_to_index": {n: i for i, n in enumerate(names)}, "index_to_class": names})
    return notes


def write_balancing(run_dir: Path, splits, balanced, dataset_name: str, notes: dict, seconds: float,
                    seed: int) -> tuple[np.ndarray, np.ndarray]:
    """balancing_analysis.json, dataset_statistics.json, synthetic provenance and samples.

    Returns the training class counts before and after balancing.
    """
    from balancelab.evaluation import plots

    names = splits.class_names
    counts_before = splits.train.class_counts(len(names))
    counts_after = np.bincount(balanced.y, minlength=len(names))
    report = dict(balanced.report)
    per_class = {names[int(c)]: v for c, v in report["per_class"].items() if int(c) < len(names)}
    empty = {"before": 0, "after": 0, "added": 0, "removed": 0, "duplicated": 0, "synthetic": 0}
    report["per_class"] = {n: per_class.get(n, dict(empty)) for n in names}  # full mapping, absent classes too
    write_synthetic_provenance(run_dir, report, balanced, splits.train.source_ids, names)
    report["stage_seconds"] = seconds
    atomic.write_json(run_dir / BALANCING_ANALYSIS_FILE, report)
    stats = {
        "dataset": dataset_name, "num_classes": len(names), "image_shape": list(splits.image_shape),
        "class_counts": {**splits.counts(), "train_balanced": {n: int(c) for n, c in zip(names, counts_after)}},
        "split_sizes": {"train": len(splits.train), "val": len(splits.val), "test": len(splits.test),
                        "train_balanced": int(len(balanced.y))},
        "imbalance_ratio": {"train_before_balancing": imbalance_ratio(counts_before),
                            "train_after_balancing": imbalance_ratio(counts_after),
                            "val": imbalance_ratio(splits.val.class_counts(len(names))),
                            "test": imbalance_ratio(splits.test.class_counts(len(names)))},
        "notes": notes,
    }
    atomic.write_json(run_dir / DATASET_STATISTICS_FILE, stats)
    synthetic = balanced.provenance < 0
    if synthetic.any():
        figure = plots.synthetic_samples(splits.train.X, splits.train.y, balanced.X[np.flatnonzero(synthetic)],
                                         balanced.y[synthetic], names, seed=seed)
        atomic.save_figure(run_dir / SYNTHETIC_SAMPLES_FILE, figure)
    return counts_before, counts_after


def write_synthetic_provenance(run_dir: Path, report: dict, balanced, source_ids, names, space: str = "pixels") -> None:
    """synthetic_provenance.csv: each generated training row and the real image(s) it came from.

    Interpolations (SMOTE, ADASYN) list both parents and the step t (row = a + t (b - a));
    augmentations list their source. The long lists move out of the JSON report into this CSV.
    ``space``: "pixels" (new images, the balancing before training) or "features" (new feature rows, balancing in
    feature space after it: pipeline/feature_space.py); each row says which in its ``space`` column, and ``row``
    numbers the row in that space's balanced set. Writing one space replaces that space's earlier rows and keeps
    the other's.
    """
    rows = np.flatnonzero(balanced.provenance < 0)
    parents = report.pop("synthetic_parents", None)
    sources = report.pop("synthetic_sources", None)
    path = run_dir / SYNTHETIC_PROVENANCE_FILE
    if not len(rows) and space == "pixels":
        return
    table = pd.DataFrame({"space": space, "row": rows, "class": [names[c] for c in balanced.y[rows]]})
    if parents and len(parents["a"]) == len(rows):
        a, b = np.asarray(parents["a"], int), np.asarray(parents["b"], int)
        table["parent_a"], table["parent_b"], table["t"] = source_ids[a], source_ids[b], parents["t"]
        table["parent_a_index"], table["parent_b_index"] = a, b
    elif sources and len(sources) == len(rows):
        table["source"] = source_ids[np.asarray(sources, int)]
        table["source_index"] = sources
    if space != "pixels" and path.exists():
        earlier = pd.read_csv(path)
        earlier = earlier[earlier.get("space", pd.Series("pixels", index=earlier.index)) != space]
        table = pd.concat([earlier, table], ignore_index=True) if len(earlier) else table
    if len(table):
        atomic.write_csv(path, table)
    elif path.exists():
        path.unlink()


def run_summary(cfg: dict, result, training, batches: dict, device) -> dict:
    """experiment_summary.json's training part (the test and validation blocks are added by the evaluation)."""
    from balancelab.losses import describe_loss

    return {
        "run_name": cfg["run_name"], "status": result.status, "message": result.message, "notes": list(result.notes),
        "model": cfg["model"]["name"], "dataset": cfg["dataset"]["name"], "balancing": cfg["balancing"]["name"],
        "loss": cfg["loss"]["name"], "seed": cfg["seed"], "device": str(device),
        "best_epoch": result.best_epoch, "epochs_run": len(result.history),
        # a deferred method's switch and the best epoch relative to it (output/deferred.py); null: none
        "deferred": getattr(result, "deferred", None),
        # every session of a resumed run (stage_seconds.training is the last session's): the epochs' own time
        "training_seconds": round(sum(float(row.get("seconds") or 0.0) for row in result.history), 3),
        "best_val_macro_f1": result.best_val_macro_f1, "loss_details": describe_loss(training.criterion),
        "batches": batches, "model_notes": list(getattr(training.model, "build_notes", [])),
        "budget": {**training.budget, "steps_done": steps_taken(training.budget, len(result.history))}, "test": None,
    }


def checkpoint_metadata(cfg: dict, splits, training, result) -> dict:
    """What best_model.pt carries besides the weights: enough to rebuild the model and preprocess inputs."""
    return {"class_names": list(splits.class_names), "input_size": cfg["model"]["input_size"],
            "in_channels": splits.image_shape[-1], "output_units": training.output_units,
            "logit_scale": training.logit_scale, "normalization": training.normalization, "model": cfg["model"],
            "best_epoch": result.best_epoch, "best_val_macro_f1": result.best_val_macro_f1, "config": cfg}


def count_facts(names, counts_before, counts_after) -> dict:
    return {"train_counts": {n: int(c) for n, c in zip(names, counts_before)},
            "train_balanced_counts": {n: int(c) for n, c in zip(names, counts_after)}}


def write_history(run_dir: Path, history_rows) -> pd.DataFrame:
    from balancelab.evaluation import plots

    history = pd.DataFrame(history_rows, columns=HISTORY_COLUMNS)
    atomic.write_csv(run_dir / HISTORY_FILE, history)
    atomic.save_figure(run_dir / TRAINING_CURVES_FILE, plots.training_curves(history))
    return history


def write_test(run_dir: Path, y_true, probs, source_ids, names, train_counts, evaluation, rule) -> dict:
    """Test-split artifacts, every one under the run's decision rule (see evaluation.decision); returns metrics."""
    from balancelab.evaluation import plots
    from balancelab.evaluation.metrics import confusion_table, headline_metrics, per_class_table

    pred, conf = rule.predict(probs)
    table = pd.DataFrame({"source_id": source_ids, "true_index": y_true, "true_class": [names[i] for i in y_true],
                          "pred_index": pred, "pred_class": [names[i] for i in pred], "confidence": conf})
    for i, n in enumerate(names):
        table[f"prob_{n}"] = probs[:, i]
    atomic.write_csv(run_dir / PREDICTIONS_FILE, table)
    atomic.write_csv(run_dir / TEST_METRICS_FILE, per_class_table(y_true, pred, names))
    cm = confusion_table(y_true, pred, names)
    atomic.write_csv(run_dir / CONFUSION_MATRIX_FILE, cm)
    atomic.save_figure(run_dir / CONFUSION_MATRIX_PLOT, plots.confusion_matrices(cm[list(names)].to_numpy(), names))
    cal_prob, cal_event, cal_of = rule.calibration_target(probs, y_true, pred, conf)
    atomic.write_csv(run_dir / CONFIDENCE_ANALYSIS_FILE,
                     confidence_table(y_true, pred, conf, names, cal_prob, cal_event, cal_of,
                                      evaluation["calibration_bins"]))
    decision = None if rule.threshold is None else f"predict {names[1]} when P({names[1]}) >= {rule.threshold:.3g}"
    atomic.save_figure(run_dir / CONFIDENCE_PLOT, plots.confidence_distribution(conf, pred == y_true, decision=decision))
    metrics = headline_metrics(y_true, pred, names, train_counts, evaluation["many_shot_min"],
                               evaluation["few_shot_max"])
    metrics["ece"] = expected_calibration_error(cal_prob, cal_event, evaluation["calibration_bins"])
    metrics["calibration_of"] = cal_of
    metrics["decision_rule"] = rule.describe(names)
    return metrics


def write_binary(run_dir: Path, y_val, p_val, y_test, p_test, threshold: float, metric: str,
                 positive_class: Optional[str] = None) -> dict:
    """ROC/PR curves, threshold table (validation and test) and ranking metrics for two classes, each naming
    the positive class (index 1)."""
    from balancelab.evaluation import binary

    table = pd.concat([binary.threshold_table(y_val, p_val, "validation", positive_class=positive_class),
                       binary.threshold_table(y_test, p_test, "test", positive_class=positive_class)])
    atomic.write_csv(run_dir / THRESHOLD_ANALYSIS_FILE, table)
    atomic.save_figure(run_dir / ROC_CURVE_FILE, binary.roc_figure(y_test, p_test, threshold, positive_class))
    atomic.save_figure(run_dir / PR_CURVE_FILE, binary.pr_figure(y_test, p_test, threshold, positive_class))
    return {**binary.ranking_metrics(y_test, p_test), "threshold": threshold, "threshold_metric": metric,
            "threshold_chosen_on": "validation"}
