"""Balancing in feature space (``feature_balancing: <balancing option>``): after training, the training split's
features are extracted once (eval mode, no augmentation: the input of the final linear layer), balanced by the
chosen technique (any balancing option that makes sense on vectors), and a fresh classifier is trained on them
(training/feature_space.py); the re-trained head is then put back on the best model's weights, so the checkpoint,
the evaluation and ``balance-predict`` see one ordinary model.

With ``trainer.epochs=0`` there is no representation training: the backbone is the pretrained one as built,
frozen (``pretrained_frozen``), and the head trained here is the run's only training.

The generalisation of cRT (Kang et al. 2020), whose class-balanced sampling on frozen features is one choice
among the balancers here (weighted_sampler; random_oversampling is the same up to sampling order). Deep
over-sampling (Ando & Huang 2017) and feature-space augmentation (Chu et al. 2020) are its SMOTE/ADASYN rows.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Optional

import numpy as np

from balancelab.balancing.apply import BalancedTrainingSet, technique_params
from balancelab.errors import ConfigError
from balancelab.evaluation.forward import final_linear, forward_pass
from balancelab.options.build import build
from balancelab.options.validate import feature_space_refusal, frozen_backbone_problems
from balancelab.output.contract import Status
from balancelab.pipeline import artifacts
from balancelab.training.batch_prior import prior_correction_note
from balancelab.training.feature_space import head_loss, layer_name, retrain_head, with_head
from balancelab.training.loop import FitResult

log = logging.getLogger("balancelab")


def feature_space_retraining(run_dir: Path, model, best_state: dict, train_data, val_data, splits, node: dict, *,
                             epochs: int, batch_size: int, eval_batch_size: int, seed: int, device,
                             loss_node: Optional[dict] = None, stop_requested=lambda: None) -> tuple[dict, dict]:
    """(the summary's ``feature_balancing`` block, the best state with the re-trained head in it).

    ``train_data``: the training split's images (unbalanced, unaugmented) placed as the training set's;
    ``node``: the balancing option (plain config dict with ``_target_``); ``loss_node``: the run's loss, which the
    head is trained with as the representation was (class weights from the balanced rows' counts; None: plain
    cross-entropy)."""
    problem = feature_space_refusal(node)
    if problem:
        raise ConfigError(problem)
    names = splits.class_names
    start = time.perf_counter()
    model.load_state_dict(best_state)
    layer = final_linear(model)
    if layer.out_features != len(names):
        raise ConfigError(f"Balancing in feature space re-trains a classifier with one output per class, but the "
                          f"model's final linear layer has {layer.out_features} output(s) for {len(names)} classes "
                          f"(loss=bce?). Use loss=ce (or weighted_ce, focal), or feature_balancing=null.")
    train = forward_pass(model, train_data, eval_batch_size, features=True, strict=True, keep_logits=False)
    val = forward_pass(model, val_data, eval_batch_size, features=True, strict=True, keep_logits=False)
    extract_seconds = time.perf_counter() - start
    features, labels = train.features.astype(np.float32, copy=False), np.asarray(splits.train.y, dtype=np.int64)

    start = time.perf_counter()
    params = technique_params(node, names)
    balancer = build({"_target_": node["_target_"], **params}, "balancing", random_state=seed, device=str(device))
    X_res, y_res = (balancer.fit_resample_rows(features, labels) if hasattr(balancer, "fit_resample_rows")
                    else balancer.fit_resample(features, labels))  # a user's balancer: imbalanced-learn's method
    X_bal, y_bal = np.asarray(X_res, dtype=np.float32), np.asarray(y_res, dtype=np.int64)
    provenance = getattr(balancer, "provenance_", None)
    if provenance is None or len(provenance) != len(y_bal):
        provenance = matched_provenance(features, X_bal)  # an imbalanced-learn sampler: no provenance_ of its own
    report = dict(getattr(balancer, "report_", {}) or {})
    balance_seconds = time.perf_counter() - start
    artifacts.write_synthetic_provenance(run_dir, report, BalancedTrainingSet(X_res, y_bal, provenance, report, False),
                                         splits.train.source_ids, names, space="features")

    balanced_batches = bool(getattr(type(balancer), "balanced_batches", False))
    before, after = np.bincount(labels, minlength=len(names)), np.bincount(y_bal, minlength=len(names))
    criterion = None if loss_node is None else head_loss(loss_node, before, after, balanced_batches)
    start = time.perf_counter()
    head = retrain_head(X_bal, y_bal, val.features, splits.val.y, out_features=layer.out_features,
                        bias=layer.bias is not None, epochs=epochs, batch_size=batch_size, seed=seed,
                        class_balanced_batches=balanced_batches, device=layer.weight.device,
                        stop_requested=stop_requested, criterion=criterion)
    head_seconds = time.perf_counter() - start
    state = with_head(best_state, layer_name(model, layer), head.head)
    block = {
        "technique": node.get("name"), "parameters": report.get("parameters", params),
        "features": {"layer": layer_name(model, layer), "shape": list(features.shape), "extracted_in": "eval mode, "
                     "unaugmented training split, once"},
        "rows_before": int(len(labels)), "rows_after": int(len(y_bal)),
        "synthetic_rows": int((provenance < 0).sum()),
        "class_counts_before": {n: int(c) for n, c in zip(names, before)},
        "class_counts_after": {n: int(c) for n, c in zip(names, after)},
        "adjustments": report.get("adjustments", []), "warnings": report.get("warnings", []),
        "head": {"epochs": epochs, "steps_per_epoch": head.steps_per_epoch, "best_epoch": head.best_epoch,
                 "chosen_on": "validation",
                 "selection_metric": "macro_f1", "val_macro_f1": head.val_macro_f1, "lr_per_epoch": head.lrs,
                 "batch_size": batch_size, "sampling": head.sampling, "optimizer": "SGD lr 0.1 momentum 0.9 "
                 "weight decay 5e-4, cosine to 0 (cRT's)",
                 "loss": (loss_node or {}).get("name", "ce") + " (the run's loss, built as a run builds it: the "
                 "training split's class counts, and the feature rows' counts where the loss weights by the counts "
                 "trained on)",
                 "prior_note": None if criterion is None else prior_correction_note(criterion),
                 "initialisation": "fresh nn.Linear"},
        "seconds": {"extract": round(extract_seconds, 3), "balance": round(balance_seconds, 3),
                    "head": round(head_seconds, 3)},
        "relation_to_crt": "cRT is class-balanced sampling on frozen features: feature_balancing=weighted_sampler "
                           "(or random_oversampling) here, without cRT's batch norm in train mode and augmentation",
    }
    log.info("Balancing in feature space (%s): %d -> %d feature rows of %d values; head epoch %d kept.",
             node.get("name"), len(labels), len(y_bal), features.shape[1], head.best_epoch)
    return block, state


FROZEN = "pretrained, frozen: not trained"


def pretrained_frozen(model, cfg: dict) -> FitResult:
    """``trainer.epochs=0``: the representation is not trained; the model as built (its pretrained weights, its
    fresh classifier, which the feature-space head replaces) is the "best state", with no history and no best epoch
    (nothing was chosen). ConfigError where no head follows (the config check refuses it first)."""
    problems = frozen_backbone_problems(cfg)
    if problems:
        raise ConfigError(problems[0])
    state = {key: value.detach().clone() for key, value in model.state_dict().items()}
    note = (f"No representation training (trainer.epochs=0): the pretrained backbone taken frozen as built; only the "
            f"classifier was trained, on its features (feature_balancing={cfg['feature_balancing'].get('name')}).")
    log.info("trainer.epochs=0: the representation is the pretrained %s as built, frozen; no epoch is trained.",
             cfg["model"].get("architecture", cfg["model"].get("name")))
    return FitResult(history=[], best_state=state, best_epoch=None, best_val_macro_f1=None,
                     status=Status.COMPLETED.value, message=None, notes=[note])


def frozen_representation_facts(cfg: dict, summary: dict) -> None:
    """The summary of a run with ``trainer.epochs=0`` says what its representation is (the head's validation
    score is the run's, as for every feature-space run: experiment.py)."""
    if cfg["trainer"]["epochs"]:
        return
    model = cfg["model"]
    summary["representation"] = {
        "training": FROZEN, "epochs": 0,
        "weights": model.get("weights_path") or "the architecture's pretrained weights (model.pretrained=true)",
        "features": "the pretrained model as built, eval mode, unaugmented training split (once)"}


def matched_provenance(features: np.ndarray, balanced: np.ndarray) -> np.ndarray:
    """Per balanced row, the index of the training row it is a copy of (its bytes equal), or -1 for a row made
    anew: what a balancer that keeps no provenance (an imbalanced-learn sampler used directly) did, recovered
    from its output, so its kept and copied rows are not counted as synthetic."""
    index = {row.tobytes(): i for i, row in enumerate(np.ascontiguousarray(features, dtype=np.float32))}
    rows = np.ascontiguousarray(balanced, dtype=np.float32)
    return np.array([index.get(row.tobytes(), -1) for row in rows], dtype=np.int64)
