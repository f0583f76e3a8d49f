"""Balance the training split (and only it), through the cache, and describe what was done."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np

from balancelab.balancing.cache import BalancedSetCache, cache_key, data_fingerprint
from balancelab.balancing.registry import make_balancer
from balancelab.balancing.strategy import resolve_class_keys

log = logging.getLogger("balancelab")


@dataclass
class BalancedTrainingSet:
    X: np.ndarray
    y: np.ndarray
    provenance: np.ndarray   # input row each output row copies, -1 if synthetic
    report: dict
    from_cache: bool


def technique_params(balancing_cfg: dict, class_names: Sequence[str], augmentation_cfg: Optional[dict]) -> dict:
    """Constructor parameters from the ``balancing`` config node (class names resolved to indices)."""
    params = {k: v for k, v in balancing_cfg.items() if k != "name"}
    if "sampling_strategy" in params:
        params["sampling_strategy"] = resolve_class_keys(params["sampling_strategy"], class_names)
    if "overrides" in params:
        params["overrides"] = resolve_class_keys(params["overrides"], class_names)
    if balancing_cfg["name"] == "offline_augmentation":
        params["augmentation"] = augmentation_cfg
    return params


def balance_training_set(X: np.ndarray, y: np.ndarray, balancing_cfg: dict, class_names: Sequence[str],
                         seed: int, cache_dir: Optional[str], augmentation_cfg: Optional[dict] = None,
                         device: str = "cpu") -> BalancedTrainingSet:
    name = balancing_cfg["name"]
    params = technique_params(balancing_cfg, class_names, augmentation_cfg)
    cache = BalancedSetCache(cache_dir) if cache_dir else None
    key = cache_key(data_fingerprint(X, y), name, params, seed) if cache else None
    if cache is not None:
        hit = cache.load(key)
        if hit is not None:
            X_res, y_res, provenance, report = hit
            log.info("Balanced training set (%s) loaded from cache %s.", name, key)
            return BalancedTrainingSet(X_res, y_res, provenance, {**report, "cache": {"hit": True, "key": key}}, True)
    # The device only picks the neighbour-search backend: it never changes the result's key.
    balancer = make_balancer(name, random_state=seed, device=device, **params)
    X_res, y_res = balancer.fit_resample(X, y)
    report = dict(balancer.report_)
    if cache is not None:
        cache.store(key, X_res, y_res, balancer.provenance_, report)
    report["cache"] = {"hit": False, "key": key}
    return BalancedTrainingSet(X_res, y_res, balancer.provenance_, report, False)
