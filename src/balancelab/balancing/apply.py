"""Balance the training split (and only it), through the cache, and describe what was done."""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np

from balancelab.balancing.cache import BalancedSetCache, cache_key, data_fingerprint
from balancelab.balancing.strategy import resolve_class_keys
from balancelab.data import rows
from balancelab.options.build import build
from balancelab.options.targets import target_of

log = logging.getLogger("balancelab")


@dataclass
class BalancedTrainingSet:
    X: rows.Rows             # BalancedRows over the training split (kept rows by number, synthetic pixels)
    y: np.ndarray
    provenance: np.ndarray   # input row each output row copies, -1 if synthetic
    report: dict
    from_cache: bool


def technique_params(balancing_node: dict, class_names: Sequence[str]) -> dict:
    """The balancer's own parameters from its config node, class names resolved to indices."""
    params = {k: v for k, v in balancing_node.items() if k not in ("name", "_target_")}
    if "sampling_strategy" in params:
        params["sampling_strategy"] = resolve_class_keys(params["sampling_strategy"], class_names)
    if "overrides" in params:
        params["overrides"] = resolve_class_keys(params["overrides"], class_names)
    if isinstance(params.get("augmentation"), dict):  # the batch mixing of the preset is the trainer's, not ours
        params["augmentation"] = {k: v for k, v in params["augmentation"].items() if k != "mixup"}
    return params


def balance_training_set(X: np.ndarray, y: np.ndarray, balancing_node: dict, class_names: Sequence[str],
                         seed: int, cache_dir: Optional[str], device: str = "cpu") -> BalancedTrainingSet:
    """Balance (X, y) with the technique of ``balancing_node`` (a plain config dict with ``_target_``)."""

    name = balancing_node["name"]
    params = technique_params(balancing_node, class_names)
    cache = BalancedSetCache(cache_dir) if cache_dir else None
    key = cache_key(training_fingerprint(X, y), f"{name}:{balancing_node['_target_']}", params, seed) if cache else None
    if cache is not None:
        hit = cache.load(key)
        if hit is not None:
            kept, synthetic, y_res, provenance, report = hit
            log.info("Balanced training set (%s) loaded from cache %s.", name, key)
            X_res = rows.BalancedRows(X, kept, synthetic if len(synthetic) else None)
            return BalancedTrainingSet(X_res, y_res, provenance, {**report, "cache": {"hit": True, "key": key}}, True)
    # The device only picks the neighbour-search backend: it never changes the result's key.
    balancer = build({"_target_": balancing_node["_target_"], **params}, "balancing", random_state=seed, device=device)
    X_res, y_res = (balancer.fit_resample_rows(X, y) if hasattr(balancer, "fit_resample_rows")
                    else balancer.fit_resample(X, y))  # a user's balancer may only have imbalanced-learn's method
    report = dict(balancer.report_)
    if not isinstance(X_res, rows.BalancedRows):  # a balancer of imbalanced-learn's interface gives arrays:
        X_res = rows.BalancedRows(X, np.empty(0, np.int64), np.asarray(X_res))  # kept whole, as its own pixels
    if cache is not None:
        cache.store(key, X_res.kept, X_res.synthetic, y_res, balancer.provenance_, report)
    report["cache"] = {"hit": False, "key": key}
    return BalancedTrainingSet(X_res, y_res, balancer.provenance_, report, False)


def training_fingerprint(X: rows.Rows, y: np.ndarray) -> str:
    """The cache's key for the training data: its pixels and labels (images on disk: their file and rows)."""
    if not rows.is_lazy(X):
        return data_fingerprint(X, y)
    h = hashlib.sha256(X.fingerprint().encode())
    h.update(np.ascontiguousarray(np.asarray(y, dtype=np.int64)).data)
    return h.hexdigest()


def batch_sampling(balancing_node: dict, seed: int) -> tuple:
    """(class-balanced batches every epoch?, an epoch -> order schedule or None) that the technique asks of the
    trainer: ``balanced_batches = True`` on its class (weighted_sampler), or a ``batch_order()`` method
    (deferred_resampling)."""

    cls = target_of(balancing_node, "balancing")
    if getattr(cls, "balanced_batches", False):
        return True, None
    if hasattr(cls, "batch_order"):
        params = {k: v for k, v in balancing_node.items() if k not in ("name", "_target_")}
        balancer = build({"_target_": balancing_node["_target_"], **params}, "balancing", random_state=seed, device="cpu")
        return False, balancer.batch_order()
    return False, None
