"""``balance-sweep screen=true``: the grid screened on a frozen representation (docs/balancing.md, Screening).

Per seed: the baseline (balancing=none, loss=ce and the sweep's shared overrides) is trained ONCE, as an ordinary
run, into ``<sweep>/representation/seed<S>/``; its best model's features of the training, validation and test
splits are extracted once and cached in ``<sweep>/representation/features_seed<S>.npz``. Then every experiment
of the grid trains only a linear head on the cached features (pipeline/screening.py) and gets a job folder with
the files the report reads, so the same comparison, statistics and verdicts run, under a notice that says this
is a screen of the classifier stage. An experiment whose difference from the baseline is not in its balancing
or loss (a cosine classifier, mixup, cRT), or whose balancing cannot act on feature rows (offline image
augmentation, deferred re-sampling), is not screenable: it is listed with the reason in ``screen.json`` and
the report, and gets no job.

With ``trainer.epochs=0`` (a pretrained model: options.validate.frozen_backbone_problems) no representation is
trained: the features are the pretrained model's as built (eval mode), and the baseline row is a linear probe, a
plain head trained on the unbalanced features; the report's notice says so.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional

import numpy as np

from balancelab.checkpoint import load_checkpoint
from balancelab.errors import BalancelabError, ConfigError, DataError, OutputFolderError, RunLockedError
from balancelab.experiment import run_experiment
from balancelab.identity import PRESENTATION_KEYS
from balancelab.options.build import build
from balancelab.output import atomic
from balancelab.output.contract import CHECKPOINT_FILE, FINISHED
from balancelab.output.lock import FolderLock
from balancelab.output.run_folder import prepare_run_folder, read_summary
from balancelab.pipeline import artifacts
from balancelab.pipeline.feature_space import FROZEN
from balancelab.pipeline.screening import (PRETRAINED_SCREEN_NOTE, SCREEN_NOTE, CachedFeatures, balancing_refusal,
                                           extract_features, screen_job, screen_loss, screened_balancing)
from balancelab.sweep.jobs import flat_settings
from balancelab.sweep.screen_notice import NOTICE, PRETRAINED_NOTICE, SCREEN_FILE
from balancelab.task import record_failure
from balancelab.training.assembly import pretrained_model
from balancelab.training.batches import DeviceImages
from balancelab.training.runtime import select_device

log = logging.getLogger("balancelab")

REPRESENTATION_DIR = "representation"
# What an experiment may change and still be screened: what the head is trained with (and its epochs).
SCREENED_GROUPS = ("balancing", "loss", "feature_balancing")
HEAD_KEYS = ("trainer.feature_head_epochs",
             "trainer.crt_epochs")  # cRT: class-balanced sampling of the frozen features (screened_balancing)



@dataclass
class ScreenJob:
    """One experiment x seed of the screen: its validated config and run identity (balance-run's)."""

    experiment: str
    seed: int
    cfg: dict
    identity: str


def frozen(cfg: dict) -> bool:
    """``trainer.epochs=0``: the representation is the pretrained model as built, not trained by the screen."""
    return cfg["trainer"]["epochs"] == 0


def representation_dir(sweep_dir: Path, seed: int) -> Path:
    return Path(sweep_dir) / REPRESENTATION_DIR / f"seed{seed}"


def features_file(sweep_dir: Path, seed: int) -> Path:
    return Path(sweep_dir) / REPRESENTATION_DIR / f"features_seed{seed}.npz"


def not_screenable(cfg: dict, base_cfg: dict) -> Optional[str]:
    """Why an experiment cannot be screened on the baseline's representation (None: it can)."""
    mine, base = flat_settings(cfg), flat_settings(base_cfg)
    differ = sorted(k for k in set(mine) | set(base) if k.split(".", 1)[0] not in SCREENED_GROUPS
                    and k not in HEAD_KEYS and mine.get(k) != base.get(k))
    if differ:
        shown = ", ".join(f"{k}={mine.get(k, '(unset)')}" for k in differ[:3]) + (" ..." if len(differ) > 3 else "")
        return f"it changes the representation's training, not only the classifier's ({shown})"
    return balancing_refusal(cfg)


def head_config(cfg: dict) -> str:
    """What a screened head is trained from, apart from the seed (canonical JSON): the balancing applied to the
    feature rows (its class and parameters, not its name: smote and smote_features apply the same SMOTE), the loss
    on the head's logits, the head's epochs and batch size. Two experiments with equal head configs train the
    same head on the same features: a screen trains it once and tests it once."""
    node = dict(screened_balancing(cfg))
    node.pop("feature_size", None)  # not used on feature rows
    node.pop("name", None)
    trainer = cfg["trainer"]
    return json.dumps({"balancing": node, "loss": cfg["loss"], "head_epochs": trainer["feature_head_epochs"],
                       "batch_size": trainer["batch_size"]}, sort_keys=True, default=str)


def same_heads(jobs: List[ScreenJob]) -> Dict[str, str]:
    """{experiment: the earlier experiment (grid order) whose screened head it equals} (head_config)."""
    first: Dict[str, str] = {}
    same: Dict[str, str] = {}
    for job in jobs:
        if job.experiment in same or job.experiment in first.values():
            continue
        key = head_config(job.cfg)
        if key in first:
            same[job.experiment] = first[key]
        else:
            first[key] = job.experiment
    return same


def screen_identity(job: ScreenJob, representation: str) -> str:
    """A screen job's folder identity: the experiment's, on that representation, screened (never a full run's)."""
    head_epochs = job.cfg["trainer"]["feature_head_epochs"]
    return hashlib.sha256(f"screen\n{job.identity}\n{representation}\nhead epochs {head_epochs}".encode()).hexdigest()[:8]


def train_representation(sweep_dir: Path, base: ScreenJob, stale_after_s: float) -> dict:
    """The baseline of ``base.seed`` trained (or found finished) in its representation folder; its summary."""
    folder = representation_dir(sweep_dir, base.seed)
    with FolderLock(folder, stale_after_s=stale_after_s, what="screen representation"):
        action = prepare_run_folder(folder, base.identity, overwrite=False, skip_finished=True)
        if action == "skip":
            log.info("Screen: the representation of seed %d is already trained (%s).", base.seed, folder)
        else:
            log.info("Screen: training the representation of seed %d (the baseline) in %s.", base.seed, folder)
            run_experiment(base.cfg, folder, base.identity)
    summary = read_summary(folder)
    if summary.get("status") not in FINISHED or not (folder / CHECKPOINT_FILE).exists():
        raise DataError(f"The screen's representation for seed {base.seed} did not finish ({summary.get('status')}: "
                        f"{summary.get('message')}); see {folder}.")
    return summary


def load_features(sweep_dir: Path, base: ScreenJob) -> CachedFeatures:
    """The cached features of ``base.seed``'s representation, extracted (one backbone pass per split) when the
    cache is missing or belongs to another representation."""
    path = features_file(sweep_dir, base.seed)
    if path.exists():
        try:
            cache = CachedFeatures.load(path)
            if cache.identity == base.identity:
                return cache
        except (OSError, ValueError, KeyError):
            pass  # a cache cut short is extracted again
    cache = extract_representation_features(representation_dir(sweep_dir, base.seed), base)
    cache.save(path)
    return cache


def extract_representation_features(folder: Path, base: ScreenJob) -> CachedFeatures:
    """The features of the representation's best model (its checkpoint in ``folder``), or of the pretrained model
    as built when the screen trains none (``frozen``)."""
    cfg, trainer = base.cfg, base.cfg["trainer"]
    device = select_device(trainer["device"])
    splits = build(cfg["dataset"], "dataset", name=cfg["dataset"]["name"], input_size=cfg["model"]["input_size"],
                   cache_dir=cfg["cache_dir"] if cfg["use_cache"] else None)
    if frozen(cfg):
        model, norm = pretrained_model(cfg, splits, device)
    else:
        model, meta = load_checkpoint(folder / CHECKPOINT_FILE)
        model.to(device)
        norm = meta["normalization"]
    parts = {"train": splits.train, "val": splits.val, "test": splits.test}
    data = {s: DeviceImages(p.X, p.y, device, norm["mean"], norm["std"]) for s, p in parts.items()}
    return extract_features(model, data, {s: p.y for s, p in parts.items()}, splits.test.source_ids,
                            splits.class_names, trainer["eval_batch_size"] or trainer["batch_size"], base.identity)


def run_screen(sweep_dir: Path, bases: Dict[int, ScreenJob], jobs: List[ScreenJob],
               stale_after_s: float = 600.0) -> dict:
    """Screen ``jobs`` (each seed's representation from ``bases[seed]``); writes screen.json and returns it."""
    sweep_dir = Path(sweep_dir)
    skipped: Dict[str, str] = {}
    failed_seeds: Dict[int, str] = {}
    # One job per distinct head (the seeds share the experiments' settings, so one seed's jobs decide it); the
    # others are named on its row, and the report's Holm family counts the comparison once.
    first_seed = [j for j in jobs if j.seed == next(iter(bases), None)]
    same = same_heads([j for j in first_seed if not not_screenable(j.cfg, bases[j.seed].cfg)])
    for experiment, kept in same.items():
        log.info("Screen: %s trains the same head as %s (the same balancing of the features, the same loss); "
                 "screened once, as %s.", experiment, kept, kept)
    for seed, base in bases.items():
        mine = [j for j in jobs if j.seed == seed and j.experiment not in same]
        try:
            if not frozen(base.cfg):  # trainer.epochs=0: the pretrained model as built is the representation
                train_representation(sweep_dir, base, stale_after_s)
            cache = load_features(sweep_dir, base)
        except BalancelabError as exc:
            failed_seeds[seed] = str(exc)
            log.error("Screen, seed %d: %s", seed, exc)
            for job in mine:  # each screenable experiment's row says why it has no result
                if not not_screenable(job.cfg, base.cfg):
                    folder = sweep_dir / f"{job.experiment}_seed{seed}"
                    folder.mkdir(parents=True, exist_ok=True)
                    artifacts.write_config(folder, job.cfg, screen_identity(job, base.identity), PRESENTATION_KEYS)
                    record_failure(folder, exc, None)
            continue
        device = select_device(base.cfg["trainer"]["device"])
        counts = np.bincount(cache.labels["train"], minlength=len(cache.class_names))
        for job in mine:
            reason = not_screenable(job.cfg, base.cfg)
            if reason is None:
                try:
                    screen_loss(job.cfg["loss"], counts, counts, False)
                except ConfigError as exc:
                    reason = str(exc)
            if reason:
                skipped[job.experiment] = reason
                log.warning("Screen: %s is not screenable: %s. Skipped.", job.experiment, reason)
                continue
            try:
                _screen_one(sweep_dir, job, base, cache, device, stale_after_s)
            except (OutputFolderError, RunLockedError) as exc:  # a folder that is not this job's: left as it is
                log.error("Screen: %s seed %d: %s", job.experiment, seed, exc)
    pretrained = bool(bases) and frozen(next(iter(bases.values())).cfg)
    representation = ({"training": FROZEN, "model": next(iter(bases.values())).cfg["model"].get("architecture")}
                      if pretrained else
                      {"training": "the baseline, trained once per seed", "experiment": "baseline",
                       "folders": {str(s): str(representation_dir(sweep_dir, s)) for s in bases}})
    info = {"mode": "screen", "what": PRETRAINED_SCREEN_NOTE if pretrained else SCREEN_NOTE,
            "notice": PRETRAINED_NOTICE if pretrained else NOTICE,
            "representation": {**representation,
                               "features": {str(s): str(features_file(sweep_dir, s)) for s in bases}},
            "head_epochs": sorted({j.cfg["trainer"]["feature_head_epochs"] for j in jobs}),
            "screened": sorted({j.experiment for j in jobs} - set(skipped) - set(same)), "not_screenable": skipped,
            "same_head": same,
            "failed_seeds": {str(s): e for s, e in failed_seeds.items()}}
    atomic.write_json(sweep_dir / SCREEN_FILE, info)
    return info


def _screen_one(sweep_dir: Path, job: ScreenJob, base: ScreenJob, cache: CachedFeatures, device,
                stale_after_s: float) -> None:
    folder = sweep_dir / f"{job.experiment}_seed{job.seed}"
    identity = screen_identity(job, base.identity)
    with FolderLock(folder, stale_after_s=stale_after_s, what="screen job"):
        if prepare_run_folder(folder, identity, overwrite=False, skip_finished=True) == "skip":
            log.info("Screen: %s seed %d already screened.", job.experiment, job.seed)
            return
        artifacts.write_config(folder, job.cfg, identity, PRESENTATION_KEYS)
        try:
            if frozen(base.cfg):  # the pretrained model as built: no representation folder
                screen_job(folder, job.cfg, cache, representation=FROZEN, device=device, note=PRETRAINED_SCREEN_NOTE)
            else:
                screen_job(folder, job.cfg, cache, representation=str(representation_dir(sweep_dir, job.seed)),
                           device=device)
        except Exception as exc:  # one experiment's failure is its row; the screen goes on
            log.exception("Screen: %s seed %d failed: %s", job.experiment, job.seed, exc)
            record_failure(folder, exc, None)
