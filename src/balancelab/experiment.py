"""One experiment, top to bottom: data -> balance -> model -> train -> evaluate -> summary.

Takes the validated config as a plain dict and a run folder decided by the caller. Every component
is built from its config node (``_target_``) with the run facts of its group's contract; the files
are written by :mod:`balancelab.pipeline.artifacts`.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Optional

from balancelab.balancing.apply import balance_training_set
from balancelab.identity import PRESENTATION_KEYS
from balancelab.options.build import build
from balancelab.output import atomic
from balancelab.output.contract import SUMMARY_FILE, Status
from balancelab.pipeline import artifacts
from balancelab.pipeline.best_model import classifier_retraining, evaluate_best_model
from balancelab.pipeline.feature_space import feature_space_retraining, frozen_representation_facts, pretrained_frozen
from balancelab.pipeline.run_page import write_run_report
from balancelab.provenance import run_facts
from balancelab.training.assembly import assemble, describe_training
from balancelab.training.batch_prior import counts_prior, trained_prior
from balancelab.training.loop import Interrupted, fit
from balancelab.training.runtime import StageTimer, job_device, seed_everything
from balancelab.training.signals import StopCheck, no_stop
from balancelab.training.state import TrainingStateStore
from balancelab.training.threads import configure_threads

log = logging.getLogger("balancelab")


def run_experiment(cfg: dict, run_dir: Path, identity: str, launcher: str | None = None,
                   stop: StopCheck = no_stop, job_index: Optional[int] = None) -> dict:
    """Run one experiment into ``run_dir`` (already prepared) and return its summary.

    The tracker is finished in ``finally`` (marked failed if the run raised), so one failing job never
    leaves a dangling wandb run or takes a sweep down with it.
    """
    run_dir = Path(run_dir)
    artifacts.write_config(run_dir, cfg, identity, PRESENTATION_KEYS)
    tracker = build(cfg["logger"], "logger", run_dir=run_dir, run_config=cfg, identity=identity)
    failed = True
    try:
        # A multirun's job on a node with several GPUs claims the least-loaded one until it ends.
        with job_device(cfg["trainer"]["device"], job_index, cfg["output_root"]) as (device, assignment):
            summary = _run(cfg, run_dir, identity, tracker, launcher, stop, device, assignment)
        failed = summary["status"] == Status.DIVERGED
        return summary
    finally:
        tracker.finish(failed=failed)


def evaluation_cost(seconds: float, history) -> dict:
    """The evaluation stage against one training epoch (whose time includes a validation pass): one forward
    pass per split, so about one epoch's worth or less on data the size of the validation set."""
    epochs = [row["seconds"] for row in history if row.get("seconds")]
    epoch = sum(epochs) / len(epochs) if epochs else None  # no epoch (trainer.epochs=0): no ratio, and no NaN
    return {"seconds": round(seconds, 3), "mean_epoch_seconds": None if epoch is None else round(epoch, 3),
            "epochs_equivalent": round(seconds / epoch, 3) if epoch else None}


def _run(cfg: dict, run_dir: Path, identity: str, tracker, launcher, stop: StopCheck, device,
         assignment: Optional[dict] = None) -> dict:
    trainer, timer = cfg["trainer"], StageTimer()
    threads = configure_threads(trainer["num_threads"])
    seed_everything(cfg["seed"], trainer["deterministic"])
    cache_dir = cfg["cache_dir"] if cfg["use_cache"] else None

    with timer("data"):
        splits = build(cfg["dataset"], "dataset", name=cfg["dataset"]["name"], input_size=cfg["model"]["input_size"],
                       cache_dir=cache_dir)
        notes = artifacts.write_data(run_dir, splits)
    with timer("balancing"):  # the training split only
        balanced = balance_training_set(splits.train.X, splits.train.y, cfg["balancing"], splits.class_names,
                                        cfg["seed"], cache_dir, str(device))
    counts_before, counts_after = artifacts.write_balancing(run_dir, splits, balanced, cfg["dataset"]["name"], notes,
                                                            timer.seconds["balancing"], cfg["seed"])
    stop_if_requested(stop)  # a signal while loading or balancing: nothing to save yet (both are cached)

    training = assemble(cfg, splits, balanced, counts_before, counts_after, device)
    log.info("Training %s on %s (%d images after %s, %d classes) on %s%s.", cfg["model"]["name"],
             cfg["dataset"]["name"], len(balanced.y), cfg["balancing"]["name"], splits.num_classes, device,
             "" if training.settings.amp_dtype is None else f" with {str(training.settings.amp_dtype)[6:]} autocast")
    store = TrainingStateStore(run_dir, identity, facts={"cpu_threads": threads, "device": device.type})
    with timer("training"):  # validation picks the epoch; test is not touched. trainer.epochs=0: nothing trained
        result = fit(training.model, training.train_data, training.val_data, training.criterion, training.optimizer,
                     training.scheduler, training.settings, store=store, on_epoch_end=tracker.log_epoch,
                     stop_requested=stop) if trainer["epochs"] else pretrained_frozen(training.model, cfg)
    artifacts.write_history(run_dir, result.history)

    summary = artifacts.run_summary(cfg, result, training, describe_training(training), device)
    summary["notes"] += store.notes
    if assignment:
        summary["device_assignment"] = assignment
    if result.best_state is not None:
        # A signal from here on: training is over and its state saved; the run stops before (or right after)
        # the evaluation and before cRT, and a rerun redoes them from that state (exit 75, as the log promised).
        stop_if_requested(stop, epoch=len(result.history), stage="evaluation")
        # post-hoc logit adjustment divides out the prior the chosen checkpoint was trained under
        prior = trained_prior(training.settings, training.criterion, counts_before, counts_after, result.best_epoch)
        best_state, kept = result.best_state, result  # kept: the model the checkpoint holds
        if cfg.get("feature_balancing"):  # the classifier re-trained on balanced features replaces the trained one
            with timer("feature_balancing"):
                summary["feature_balancing"], best_state = feature_space_retraining(
                    run_dir, training.model, best_state, training.images(splits.train.X, splits.train.y),
                    training.val_data, splits, cfg["feature_balancing"], epochs=trainer["feature_head_epochs"],
                    batch_size=trainer["batch_size"], eval_batch_size=training.settings.evaluation_batch_size,
                    seed=cfg["seed"], device=device, loss_node=cfg["loss"], stop_requested=stop)
            summary["feature_balancing"]["stage_seconds"] = round(timer.seconds["feature_balancing"], 3)
            head_counts = list(summary["feature_balancing"]["class_counts_after"].values())
            balanced_draws = "class-aware" in summary["feature_balancing"]["head"]["sampling"]
            prior = counts_prior([1] * len(head_counts) if balanced_draws else head_counts,
                                 f"the feature rows the classifier was re-trained on "
                                 f"(feature_balancing={cfg['feature_balancing']['name']})")
            if summary["feature_balancing"]["head"].get("prior_note"):
                prior["note"] = summary["feature_balancing"]["head"]["prior_note"]
            # The run's model is now the re-trained head on the representation: its validation score is what the
            # run reports (and an Optuna objective optimises), the representation's is kept beside it.
            summary["representation_best_val_macro_f1"] = summary["best_val_macro_f1"]
            summary["best_val_macro_f1"] = max(summary["feature_balancing"]["head"]["val_macro_f1"])
            # the checkpoint's epoch and score are the head's; the representation's epoch is the summary's best_epoch
            kept = dataclasses.replace(result, best_val_macro_f1=summary["best_val_macro_f1"],
                                       best_epoch=summary["feature_balancing"]["head"]["best_epoch"])
            summary["feature_balancing"]["checkpoint"] = ("best_model.pt's best_epoch and best_val_macro_f1 are the "
                                                          "head's; the representation's epoch is best_epoch here")
            stop_if_requested(stop, epoch=len(result.history), stage="evaluation")
        with timer("evaluation"):
            summary.update(evaluate_best_model(run_dir, training.model, best_state, splits, training.val_data,
                                               training.normalization, artifacts.checkpoint_metadata(cfg, splits,
                                                                                                     training, kept),
                                               counts_before, cfg["evaluation"],
                                               training.settings.evaluation_batch_size, device, training.images,
                                               prior=prior))
        stop_if_requested(stop, epoch=len(result.history), stage="evaluation")
        summary["evaluation_cost"] = evaluation_cost(timer.seconds["evaluation"], result.history)
        if trainer["crt_epochs"]:
            with timer("crt"):
                summary["crt"] = classifier_retraining(
                    run_dir, training.model, training.images(splits.train.X, splits.train.y), training.val_data,
                    training.images(splits.test.X, splits.test.y), splits, counts_before, cfg["evaluation"],
                    trainer["crt_epochs"], trainer["batch_size"], cfg["seed"], augment=training.settings.augment,
                    stop_requested=stop)
    else:
        log.error("No epoch finished with a usable model; no checkpoint or test metrics were written.")

    frozen_representation_facts(cfg, summary)
    summary.update(artifacts.count_facts(splits.class_names, counts_before, counts_after), identity=identity,
                   stage_seconds=timer.rounded(), balancing_from_cache=balanced.from_cache, cpu_threads=threads,
                   **run_facts(run_dir, launcher))
    tracker.log_summary(summary, run_dir)
    atomic.write_json(run_dir / SUMMARY_FILE, summary)  # last: its presence marks the run finished
    store.clear()
    write_run_report(run_dir)  # report.html, a view of the files above; logs (never raises) on error
    return summary


def stop_if_requested(stop: StopCheck, epoch: int = 0, stage: str = "training") -> None:
    """End the run now if a stop signal came: before training (nothing saved; it resumes from the caches),
    or after it (``stage``; the finished training state is saved and a rerun redoes the stage)."""

    if stop() is not None:
        raise Interrupted(stop(), epoch=epoch, sample=0, saved=epoch > 0, stage=stage)
