"""One experiment, top to bottom: data -> balance -> model -> train -> evaluate -> artifacts.

Takes a validated config and a run folder decided by the caller; everything below this module
takes plain arguments.
"""

from __future__ import annotations

import logging
import os
import platform
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from omegaconf import DictConfig, OmegaConf

from balancelab.balancing.apply import balance_training_set
from balancelab.checkpoint import save_checkpoint
from balancelab.data.loading import load_dataset
from balancelab.evaluation import binary, plots
from balancelab.evaluation.binary import choose_threshold, threshold_table
from balancelab.evaluation.calibration import confidence_table, expected_calibration_error
from balancelab.evaluation.metrics import confusion_table, headline_metrics, per_class_table
from balancelab.losses import build_loss, describe_loss, output_units
from balancelab.models import IMAGENET_MEAN, IMAGENET_STD, build_model
from balancelab.output import atomic
from balancelab.output.run_folder import SUMMARY_FILE, TRAINING_STATE_FILE
from balancelab.provenance import git_state, library_versions
from balancelab.schema import to_plain
from balancelab.training.batches import DeviceImages, OnlineAugmentation, channel_stats
from balancelab.training.loop import fit, predict
from balancelab.training.optim import build_optimizer, build_scheduler
from balancelab.training.runtime import amp_dtype, seed_everything, select_device

log = logging.getLogger("balancelab")


def imbalance_ratio(counts) -> float | None:
    present = [c for c in counts if c > 0]
    return float(max(present) / min(present)) if present else None


def run_experiment(cfg: DictConfig, run_dir: Path, launcher: str | None = None) -> dict:
    """Run one experiment into ``run_dir`` (already prepared) and return its summary.

    The tracker is finished in ``finally`` (marked failed if the run raised), so one failing
    job never leaves a dangling wandb run or takes a sweep down with it.
    """
    from balancelab.tracking import make_tracker

    run_dir = Path(run_dir)
    plain_cfg = to_plain(cfg)
    atomic.write_text(run_dir / "config.yaml", OmegaConf.to_yaml(OmegaConf.create(plain_cfg)))
    tracker = make_tracker(plain_cfg["logger"], plain_cfg, run_dir)
    failed = True
    try:
        summary = _run(cfg, plain_cfg, run_dir, tracker, launcher)
        failed = summary["status"] == "diverged"
        return summary
    finally:
        tracker.finish(failed=failed)


def _run(cfg: DictConfig, plain_cfg: dict, run_dir: Path, logger, launcher) -> dict:
    stage_seconds: dict = {}
    if cfg.trainer.num_threads:
        torch.set_num_threads(cfg.trainer.num_threads)
    seed_everything(cfg.seed, cfg.trainer.deterministic)
    device = select_device(cfg.trainer.device)

    # -- data -------------------------------------------------------------------------------
    t = time.perf_counter()
    splits = load_dataset(cfg.dataset, cfg.model.input_size, cfg.cache_dir if cfg.use_cache else None)
    names = splits.class_names
    notes = dict(splits.notes)
    manifest = notes.pop("manifest", None)
    if manifest is not None:
        atomic.write_csv(run_dir / "split_manifest.csv", manifest)
    if "skipped_files" in notes:
        skipped = notes.pop("skipped_files")
        atomic.write_text(run_dir / "skipped_files.txt", "".join(f"{path}\t{reason}\n" for path, reason in skipped))
    atomic.write_json(run_dir / "class_mapping.json",
                      {"class_to_index": {n: i for i, n in enumerate(names)}, "index_to_class": names})
    stage_seconds["data"] = time.perf_counter() - t

    # -- balancing (training split only) --------------------------------------------------------
    t = time.perf_counter()
    balanced = balance_training_set(
        splits.train.X, splits.train.y, plain_cfg["balancing"], names, cfg.seed,
        cfg.cache_dir if cfg.use_cache else None, plain_cfg.get("augmentation"), device.type)
    stage_seconds["balancing"] = time.perf_counter() - t
    counts_before = splits.train.class_counts(len(names))
    counts_after = np.bincount(balanced.y, minlength=len(names))
    report = dict(balanced.report)
    per_class = {names[int(c)]: v for c, v in report["per_class"].items() if int(c) < len(names)}
    empty = {"before": 0, "after": 0, "added": 0, "removed": 0, "duplicated": 0, "synthetic": 0}
    report["per_class"] = {n: per_class.get(n, dict(empty)) for n in names}  # full mapping, absent classes too
    write_synthetic_provenance(run_dir, report, balanced, splits.train.source_ids, names)
    report["stage_seconds"] = stage_seconds["balancing"]
    atomic.write_json(run_dir / "balancing_analysis.json", report)
    stats = {
        "dataset": cfg.dataset.name, "num_classes": len(names), "image_shape": list(splits.image_shape),
        "class_counts": {**splits.counts(), "train_balanced": {n: int(c) for n, c in zip(names, counts_after)}},
        "split_sizes": {"train": len(splits.train), "val": len(splits.val), "test": len(splits.test),
                        "train_balanced": int(len(balanced.y))},
        "imbalance_ratio": {"train_before_balancing": imbalance_ratio(counts_before),
                            "train_after_balancing": imbalance_ratio(counts_after),
                            "val": imbalance_ratio(splits.val.class_counts(len(names))),
                            "test": imbalance_ratio(splits.test.class_counts(len(names)))},
        "notes": notes,
    }
    atomic.write_json(run_dir / "dataset_statistics.json", stats)
    synthetic = balanced.provenance < 0
    if synthetic.any():
        figure = plots.synthetic_samples(splits.train.X, splits.train.y, balanced.X[synthetic],
                                         balanced.y[synthetic], names, seed=cfg.seed)
        atomic.save_figure(run_dir / "synthetic_samples.png", figure)

    # -- model, loss, optimisation ---------------------------------------------------------------
    channels = splits.image_shape[-1]
    if cfg.model.pretrained:
        mean = [float(np.mean(IMAGENET_MEAN))] * channels if channels != 3 else list(IMAGENET_MEAN)
        std = [float(np.mean(IMAGENET_STD))] * channels if channels != 3 else list(IMAGENET_STD)
    else:
        mean, std = channel_stats(splits.train.X)
    units = output_units(cfg.loss.name, len(names))
    model = build_model(cfg.model.name, units, channels, cfg.model.input_size, cfg.model.width,
                        cfg.model.small_input, cfg.model.pretrained, cfg.model.weights_path, cfg.model.dropout).to(device)
    criterion = build_loss(cfg.loss, counts_after).to(device)
    optimizer = build_optimizer(model.parameters(), cfg.optimizer)
    scheduler = build_scheduler(optimizer, cfg.scheduler, cfg.trainer.epochs)
    train_data = DeviceImages(balanced.X, balanced.y, device, mean, std)
    val_data = DeviceImages(splits.val.X, splits.val.y, device, mean, std)
    augment = OnlineAugmentation(**plain_cfg["dataset"].get("online_augmentation", {}))
    precision = amp_dtype(device, cfg.trainer.amp)
    log.info("Training %s on %s (%d images after %s, %d classes) on %s%s.", cfg.model.name, cfg.dataset.name,
             len(balanced.y), cfg.balancing.name, len(names), device,
             f" with {str(precision).replace('torch.', '')} autocast" if precision else "")

    # -- training (validation picks the epoch; test is not touched) ------------------------------
    t = time.perf_counter()
    result = fit(model, train_data, balanced.y, val_data, splits.val.y, criterion, optimizer, scheduler,
                 cfg.trainer.epochs, cfg.trainer.batch_size, augment,
                 weighted_sampling=cfg.balancing.name == "weighted_sampler", seed=cfg.seed,
                 patience=cfg.trainer.early_stopping_patience, amp_dtype=precision,
                 grad_clip_norm=cfg.trainer.grad_clip_norm, progress=cfg.trainer.progress,
                 on_epoch_end=logger.log_epoch if logger else None, state_path=run_dir / TRAINING_STATE_FILE)
    stage_seconds["training"] = time.perf_counter() - t
    history = pd.DataFrame(result.history, columns=[
        "epoch", "lr", "train_loss", "train_accuracy", "val_loss", "val_accuracy", "val_macro_f1",
        "val_balanced_accuracy", "seconds"])
    atomic.write_csv(run_dir / "history.csv", history)
    atomic.save_figure(run_dir / "training_curves.png", plots.training_curves(history))

    metadata = {
        "class_names": list(names), "input_size": cfg.model.input_size, "in_channels": channels,
        "output_units": units,
        "normalization": {"mean": list(mean), "std": list(std)}, "model": plain_cfg["model"],
        "best_epoch": result.best_epoch, "best_val_macro_f1": result.best_val_macro_f1, "config": plain_cfg,
    }
    summary = {
        "run_name": cfg.run_name, "status": result.status, "message": result.message,
        "model": cfg.model.name, "dataset": cfg.dataset.name, "balancing": cfg.balancing.name,
        "loss": cfg.loss.name, "seed": cfg.seed, "device": str(device),
        "best_epoch": result.best_epoch, "epochs_run": len(result.history),
        "best_val_macro_f1": result.best_val_macro_f1, "loss_details": describe_loss(criterion),
    }

    # -- test: once, for the best-on-validation weights ------------------------------------------
    if result.best_state is not None:
        t = time.perf_counter()
        model.load_state_dict(result.best_state)
        threshold = None
        if len(names) == 2:  # binary: the operating threshold comes from validation, never from test
            val_probs, _ = predict(model, val_data, cfg.trainer.batch_size)
            threshold = choose_threshold(splits.val.y, val_probs[:, 1], cfg.evaluation.threshold_metric)
            metadata["threshold"] = {"value": threshold, "metric": cfg.evaluation.threshold_metric,
                                     "chosen_on": "validation"}
        save_checkpoint(run_dir / "best_model.pt", result.best_state, metadata)
        test_data = DeviceImages(splits.test.X, splits.test.y, device, mean, std)
        probs, test_loss = predict(model, test_data, cfg.trainer.batch_size)  # fp32: reproducible from the file
        summary["test"] = evaluate_test(run_dir, splits.test.y, probs, splits.test.source_ids, names,
                                        counts_before, cfg.evaluation, threshold)
        if threshold is not None:
            summary["test"].update(evaluate_binary(run_dir, splits.val.y, val_probs[:, 1], splits.test.y,
                                                   probs[:, 1], threshold, cfg.evaluation.threshold_metric))
        summary["test"]["loss"] = test_loss
        best_row = history.loc[history["epoch"] == result.best_epoch].iloc[0]
        summary["validation_at_best_epoch"] = {
            "accuracy": float(best_row["val_accuracy"]), "macro_f1": float(best_row["val_macro_f1"]),
            "balanced_accuracy": float(best_row["val_balanced_accuracy"]), "loss": float(best_row["val_loss"])}
        stage_seconds["evaluation"] = time.perf_counter() - t
    else:
        summary["test"] = None
        log.error("No epoch finished with a usable model; no checkpoint or test metrics were written.")

    summary.update({
        "train_counts": {n: int(c) for n, c in zip(names, counts_before)},
        "train_balanced_counts": {n: int(c) for n, c in zip(names, counts_after)},
        "stage_seconds": {k: round(v, 3) for k, v in stage_seconds.items()},
        "balancing_from_cache": balanced.from_cache,
        "library_versions": library_versions(), "git": git_state(),
        "output_dir": str(run_dir.resolve()),
        "process": {"pid": os.getpid(), "host": platform.node(), "launcher": launcher},
    })
    if logger:
        logger.log_summary(summary, run_dir)
    atomic.write_json(run_dir / SUMMARY_FILE, summary)  # last: its presence marks the run finished
    (run_dir / TRAINING_STATE_FILE).unlink(missing_ok=True)
    return summary


def write_synthetic_provenance(run_dir: Path, report: dict, balanced, source_ids, names) -> None:
    """synthetic_provenance.csv: each generated training image and the real image(s) it came from.

    Interpolations (SMOTE, ADASYN) list both parents and the step t (image = a + t (b - a));
    augmentations list their source. The long lists move out of the JSON report into this CSV.
    """
    rows = np.flatnonzero(balanced.provenance < 0)
    parents = report.pop("synthetic_parents", None)
    sources = report.pop("synthetic_sources", None)
    if not len(rows):
        return
    table = pd.DataFrame({"row": rows, "class": [names[c] for c in balanced.y[rows]]})
    if parents and len(parents["a"]) == len(rows):
        a, b = np.asarray(parents["a"], int), np.asarray(parents["b"], int)
        table["parent_a"], table["parent_b"], table["t"] = source_ids[a], source_ids[b], parents["t"]
        table["parent_a_index"], table["parent_b_index"] = a, b
    elif sources and len(sources) == len(rows):
        table["source"] = source_ids[np.asarray(sources, int)]
        table["source_index"] = sources
    atomic.write_csv(run_dir / "synthetic_provenance.csv", table)


def evaluate_binary(run_dir: Path, y_val, p_val, y_test, p_test, threshold: float, metric: str) -> dict:
    """ROC/PR curves, threshold table (validation and test) and ranking metrics for two classes."""
    table = pd.concat([threshold_table(y_val, p_val, "validation"), threshold_table(y_test, p_test, "test")])
    atomic.write_csv(run_dir / "threshold_analysis.csv", table)
    atomic.save_figure(run_dir / "roc_curve.png", binary.roc_figure(y_test, p_test, threshold))
    atomic.save_figure(run_dir / "pr_curve.png", binary.pr_figure(y_test, p_test, threshold))
    return {**binary.ranking_metrics(y_test, p_test), "threshold": threshold, "threshold_metric": metric,
            "threshold_chosen_on": "validation"}


def evaluate_test(run_dir: Path, y_true, probs, source_ids, names, train_counts, eval_cfg,
                  threshold: float | None = None) -> dict:
    """Test-split artifacts; for two classes the prediction is P(positive) >= the validation threshold."""
    pred = probs.argmax(1) if threshold is None else (probs[:, 1] >= threshold).astype(np.int64)
    conf = probs.max(1)
    table = pd.DataFrame({"source_id": source_ids, "true_index": y_true, "true_class": [names[i] for i in y_true],
                          "pred_index": pred, "pred_class": [names[i] for i in pred], "confidence": conf})
    for i, n in enumerate(names):
        table[f"prob_{n}"] = probs[:, i]
    atomic.write_csv(run_dir / "predictions.csv", table)
    atomic.write_csv(run_dir / "test_metrics.csv", per_class_table(y_true, pred, names))
    cm = confusion_table(y_true, pred, names)
    atomic.write_csv(run_dir / "confusion_matrix.csv", cm)
    atomic.save_figure(run_dir / "confusion_matrix.png", plots.confusion_matrices(cm[list(names)].to_numpy(), names))
    atomic.write_csv(run_dir / "confidence_analysis.csv", confidence_table(y_true, probs, names, eval_cfg.calibration_bins))
    atomic.save_figure(run_dir / "confidence_distribution.png", plots.confidence_distribution(conf, pred == y_true))
    metrics = headline_metrics(y_true, pred, names, train_counts, eval_cfg.many_shot_min, eval_cfg.few_shot_max)
    metrics["ece"] = expected_calibration_error(conf, pred == y_true, eval_cfg.calibration_bins)
    return metrics
