"""The screening mode's two halves below the command line (``balance-sweep screen=true``; the driver is
sweep/screening.py): a frozen representation's features cached once per sweep and seed, and one experiment's
classifier trained on them.

A screen is a screen of the *classifier stage*: every experiment of the grid keeps the baseline's
representation (trained once per seed) and trains only a fresh linear head, with its own balancing applied to
the cached training features (as ``feature_balancing`` does, pipeline/feature_space.py) and its own loss on the
head's logits (class weights, margins, logit adjustment). The head's optimisation is cRT's, as in feature
space (training/feature_space.py): ``trainer.feature_head_epochs`` epochs, the epoch best on validation
macro-F1 kept. The job folder gets the files the sweep report reads (config.yaml, identity.json,
predictions.csv, test_metrics.csv, experiment_summary.json ...), so the same report, statistics and verdicts
run on it.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Optional, Sequence

import numpy as np
import torch

from balancelab.balancing.apply import technique_params
from balancelab.errors import ConfigError
from balancelab.evaluation.binary import choose_threshold
from balancelab.evaluation.decision import DecisionRule
from balancelab.evaluation.forward import final_linear, forward_pass
from balancelab.evaluation.metrics import split_scores
from balancelab.options.build import build
from balancelab.options.validate import feature_space_refusal
from balancelab.output import atomic
from balancelab.output.contract import SUMMARY_FILE, Status
from balancelab.pipeline import artifacts
from balancelab.training.feature_space import head_loss, layer_name, retrain_head

log = logging.getLogger("balancelab")

SPLITS = ("train", "val", "test")
SCREEN_NOTE = ("screen of the classifier stage: the baseline's representation (trained once per seed) frozen, "
               "only a fresh linear head trained with this experiment's balancing (in feature space) and loss")
# trainer.epochs=0: no representation is trained; the baseline row's head on the unbalanced features is a linear probe
PRETRAINED_SCREEN_NOTE = ("screen of the classifier stage: the pretrained backbone as built (trainer.epochs=0: not "
                          "trained) frozen, only a fresh linear head trained with this experiment's balancing (in "
                          "feature space) and loss; the baseline's is a linear probe on the unbalanced features")


@dataclass
class CachedFeatures:
    """The frozen representation's features of every split (the input of its final linear layer, eval mode,
    unaugmented), their labels, and what the head must look like."""

    features: Dict[str, np.ndarray]   # split -> N x D float32
    labels: Dict[str, np.ndarray]     # split -> N int64
    test_source_ids: np.ndarray
    class_names: list
    layer: str                        # the classifier's name in the model (its state-dict prefix)
    out_features: int
    bias: bool
    identity: str                     # the representation's run identity (a cache of another one is not reused)

    def save(self, path: Path) -> None:
        arrays = {f"{s}_features": self.features[s] for s in SPLITS}
        arrays.update({f"{s}_labels": self.labels[s] for s in SPLITS})
        arrays.update(test_source_ids=np.asarray(self.test_source_ids, dtype=str),
                      class_names=np.asarray(self.class_names, dtype=str), layer=np.asarray(self.layer),
                      out_features=np.asarray(self.out_features), bias=np.asarray(self.bias),
                      identity=np.asarray(self.identity))
        atomic.write_with(path, lambda p: _savez(p, arrays))

    @classmethod
    def load(cls, path: Path) -> "CachedFeatures":
        with np.load(path, allow_pickle=False) as data:
            return cls({s: data[f"{s}_features"] for s in SPLITS}, {s: data[f"{s}_labels"] for s in SPLITS},
                       data["test_source_ids"], [str(n) for n in data["class_names"]], str(data["layer"]),
                       int(data["out_features"]), bool(data["bias"]), str(data["identity"]))


def _savez(path, arrays) -> None:
    with open(path, "wb") as handle:  # np.savez on a name would append .npz to the temporary file's name
        np.savez(handle, **arrays)


def extract_features(model: torch.nn.Module, data: Dict[str, object], labels: Dict[str, np.ndarray],
                     test_source_ids, class_names, batch_size: int, identity: str) -> CachedFeatures:
    """One forward pass of the frozen ``model`` over each split (``data``: split -> DeviceImages): the only
    backbone passes of a screen's seed."""
    layer = final_linear(model)
    if layer.out_features != len(class_names):
        raise ConfigError(f"A screen trains a classifier with one output per class, but the representation's "
                          f"final linear layer has {layer.out_features} output(s) for {len(class_names)} classes "
                          f"(loss=bce?). Screen with loss=ce (the baseline's).")
    features = {s: forward_pass(model, data[s], batch_size, features=True, strict=True, keep_logits=False)
                .features.astype(np.float32, copy=False) for s in SPLITS}
    return CachedFeatures(features, {s: np.asarray(labels[s], dtype=np.int64) for s in SPLITS},
                          np.asarray(test_source_ids), list(class_names), layer_name(model, layer),
                          layer.out_features, layer.bias is not None, identity)


# cRT (Kang et al. 2020) on frozen features: its classifier re-trained on class-aware batches (cRT's sampler).
CRT_IN_FEATURE_SPACE = {"_target_": "balancelab.balancing.simple.WeightedSamplerBalancing", "name": "weighted_sampler"}


def screened_balancing(cfg: dict) -> dict:
    """The balancing a screen applies to the features: ``feature_balancing`` when the experiment has one (it
    already is a feature-space method); class-balanced sampling for a cRT experiment on unbalanced data (cRT is
    that, on frozen features); else its ``balancing``."""
    if cfg.get("feature_balancing"):
        return cfg["feature_balancing"]
    if (cfg.get("trainer") or {}).get("crt_epochs") and cfg["balancing"].get("name") == "none":
        return CRT_IN_FEATURE_SPACE
    return cfg["balancing"]


def balancing_refusal(cfg: dict) -> Optional[str]:
    """Why the experiment's balancing cannot be applied to feature rows (None: it can)."""
    node = dict(screened_balancing(cfg))
    node.pop("feature_size", None)  # an image side for SMOTE's neighbour search: rows are searched as they are
    why = feature_space_refusal(node)
    return None if why is None else f"balancing={node.get('name')} does not apply to features ({why.split(': ', 1)[-1].split('. ')[0]})"


def screen_loss(loss_node: dict, counts_before: Sequence[int], counts_after: Sequence[int],
                balanced_batches: bool) -> torch.nn.Module:
    """The experiment's loss on the screen's head (plain softmax at evaluation: no logit scale)."""
    return head_loss(loss_node, counts_before, counts_after, balanced_batches, scaled=False)


def screen_job(run_dir: Path, cfg: dict, cache: CachedFeatures, *, representation: str, device,
               stop_requested=lambda: None, note: str = SCREEN_NOTE) -> dict:
    """Train the head of one experiment on ``cache`` and write its job folder's results (the caller wrote its
    config and identity). Returns the summary, written last as a run's is."""
    names, seed, trainer = cache.class_names, int(cfg["seed"]), cfg["trainer"]
    X, y = cache.features["train"], cache.labels["train"]
    node = dict(screened_balancing(cfg))
    node.pop("feature_size", None)
    start = time.perf_counter()
    params = technique_params(node, names)
    balancer = build({"_target_": node["_target_"], **params}, "balancing", random_state=seed, device=str(device))
    X_res, y_res = (balancer.fit_resample_rows(X, y) if hasattr(balancer, "fit_resample_rows")
                    else balancer.fit_resample(X, y))
    X_bal, y_bal = np.asarray(X_res, dtype=np.float32), np.asarray(y_res, dtype=np.int64)
    balanced_batches = bool(getattr(type(balancer), "balanced_batches", False))
    balance_seconds = time.perf_counter() - start
    counts_before = np.bincount(y, minlength=len(names))
    counts_after = np.bincount(y_bal, minlength=len(names))
    criterion = screen_loss(cfg["loss"], counts_before, counts_after, balanced_batches)

    start = time.perf_counter()
    head = retrain_head(X_bal, y_bal, cache.features["val"], cache.labels["val"], out_features=cache.out_features,
                        bias=cache.bias, epochs=trainer["feature_head_epochs"], batch_size=trainer["batch_size"],
                        seed=seed, class_balanced_batches=balanced_batches, device=device,
                        stop_requested=stop_requested, criterion=criterion)
    head_seconds = time.perf_counter() - start

    with torch.no_grad():
        probs = {s: torch.softmax(head.head(torch.as_tensor(cache.features[s], device=device)), 1).cpu().numpy()
                 for s in ("val", "test")}
    threshold = None
    if len(names) == 2:
        threshold = choose_threshold(cache.labels["val"], probs["val"][:, 1], cfg["evaluation"]["threshold_metric"])
    rule = DecisionRule(threshold)
    test = artifacts.write_test(run_dir, cache.labels["test"], probs["test"], cache.test_source_ids, names,
                                counts_before, cfg["evaluation"], rule)
    val_pred, _ = rule.predict(probs["val"])
    steps = head.steps_per_epoch * len(head.val_macro_f1)
    summary = {
        "run_name": cfg["run_name"], "status": Status.COMPLETED.value, "message": None,
        "notes": [f"Screen: {note}."], "model": cfg["model"]["name"], "dataset": cfg["dataset"]["name"],
        "balancing": cfg["balancing"]["name"], "loss": cfg["loss"]["name"], "seed": seed, "device": str(device),
        "best_epoch": head.best_epoch, "epochs_run": len(head.val_macro_f1), "deferred": None,
        "training_seconds": round(head_seconds, 3), "best_val_macro_f1": max(head.val_macro_f1),
        "budget": {"budget": "epochs", "epochs": len(head.val_macro_f1), "steps_per_epoch": head.steps_per_epoch,
                   "total_steps": steps, "steps_done": steps, "what": "the screen's linear head only"},
        "test": test,
        "validation_at_best_epoch": {**split_scores(cache.labels["val"], val_pred), "decision_rule":
                                     rule.describe(names)},
        "screen": {
            "what": note, "representation": representation, "features_layer": cache.layer,
            "feature_shape": list(X.shape), "balancing_in_feature_space": node.get("name"),
            "parameters": (getattr(balancer, "report_", {}) or {}).get("parameters", params),
            "loss_on_head_logits": cfg["loss"]["name"], "rows_before": int(len(y)), "rows_after": int(len(y_bal)),
            "class_counts_before": {n: int(c) for n, c in zip(names, counts_before)},
            "class_counts_after": {n: int(c) for n, c in zip(names, counts_after)},
            "head": {"epochs": len(head.val_macro_f1), "best_epoch": head.best_epoch, "sampling": head.sampling,
                     "val_macro_f1": head.val_macro_f1, "optimizer": "SGD lr 0.1 momentum 0.9 weight decay 5e-4, "
                     "cosine to 0 (cRT's)", "initialisation": "fresh nn.Linear"},
            "seconds": {"balance": round(balance_seconds, 3), "head": round(head_seconds, 3)},
        },
        "train_counts": {n: int(c) for n, c in zip(names, counts_before)},
        "train_balanced_counts": {n: int(c) for n, c in zip(names, counts_after)},
    }
    atomic.write_json(run_dir / SUMMARY_FILE, summary)  # last: its presence marks the job finished
    log.info("Screen %s seed %d: head epoch %d kept, test macro-F1 %.4f.", cfg.get("experiment_name"), seed,
             head.best_epoch, test.get("macro_f1", float("nan")))
    return summary
