"""Random undersampling to a per-class target, and the combined resample-to-target.

Each class above its target is reduced to it at random (imbalanced-learn's RandomUnderSampler,
on indices); classes below keep everything they have. ``overrides`` sets a class's own target:
an integer is a count, a float a multiple of ``target_per_class`` (e.g. ``normal: 1.5``).
"""

from __future__ import annotations

import numpy as np
from imblearn.under_sampling import RandomUnderSampler

from balancelab.balancing.base import Balancer, Resampled
from balancelab.errors import BalancingError


def class_targets(y: np.ndarray, target_per_class, overrides: dict, technique: str) -> np.ndarray:
    counts = np.bincount(y)
    present = counts > 0
    if target_per_class is None:
        target = int(counts[present].min())  # like imbalanced-learn's 'auto': down to the smallest class
    else:
        target = int(target_per_class)
        if target < 1:
            raise BalancingError(f"{technique}: target_per_class must be at least 1; got {target}.")
    targets = np.full(len(counts), target, dtype=np.int64)
    for c, value in (overrides or {}).items():
        c = int(c)
        if c >= len(counts):
            raise BalancingError(f"{technique}: overrides name class {c}, which has no training samples.")
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
            raise BalancingError(f"{technique}: override for class {c} must be a positive count (integer) or "
                                 f"a multiple of target_per_class (float, e.g. 1.5); got {value!r}.")
        targets[c] = int(round(value * target)) if isinstance(value, float) else int(value)
    return targets


def undersample_indices(y: np.ndarray, targets: np.ndarray, seed) -> np.ndarray:
    counts = np.bincount(y, minlength=len(targets))
    strategy = {int(c): int(min(counts[c], targets[c])) for c in np.flatnonzero(counts)}
    if all(strategy[c] == counts[c] for c in strategy):
        return np.arange(len(y))
    sampler = RandomUnderSampler(sampling_strategy=strategy, random_state=seed)
    sampler.fit_resample(np.arange(len(y)).reshape(-1, 1), y)
    return np.sort(sampler.sample_indices_)


class RandomUndersampling(Balancer):
    name = "random_undersampling"

    def _resample(self, X, y):
        targets = class_targets(y, self.params.get("target_per_class"), self.params.get("overrides"), self.name)
        return Resampled(kept=undersample_indices(y, targets, self.random_state),
                         details={"targets": {str(c): int(t) for c, t in enumerate(targets)}})


class ResampleToTarget(Balancer):
    """Reduce the classes above the target, then oversample those below (random or SMOTE)."""

    name = "resample_to_target"

    def _resample(self, X, y):
        from balancelab.balancing.registry import make_balancer

        targets = class_targets(y, self.params.get("target_per_class"), self.params.get("overrides"), self.name)
        kept = undersample_indices(y, targets, self.random_state)
        y_kept = y[kept]
        counts = np.bincount(y_kept, minlength=len(targets))
        below = {int(c): int(targets[c]) for c in np.flatnonzero((counts > 0) & (counts < targets))}
        method = self.params.get("oversampler", "random")
        if not below:
            return Resampled(kept=kept, details={"targets": {str(c): int(t) for c, t in enumerate(targets)}})
        name = "smote" if method == "smote" else "random_oversampling"
        extra = {k: self.params[k] for k in ("k_neighbors", "feature_size", "knn_backend") if k in self.params} \
            if name == "smote" else {}
        over = make_balancer(name, random_state=self.random_state, device=self.device, sampling_strategy=below, **extra)
        X_over, y_over = over.fit_resample(X[kept], y_kept)
        prov = over.provenance_
        copies = prov >= 0
        details = {"targets": {str(c): int(t) for c, t in enumerate(targets)}, "oversampler": name}
        for key in ("k_used", "synthetic_parents"):
            if key in over.report_:
                details[key] = over.report_[key]
        if "synthetic_parents" in details:  # parents are rows of the reduced set: map them back
            for side in ("a", "b"):
                details["synthetic_parents"][side] = kept[np.asarray(details["synthetic_parents"][side], int)].tolist()
        return Resampled(kept=kept[prov[copies]], X_synthetic=X_over[~copies], y_synthetic=y_over[~copies],
                         adjustments=list(over.report_["adjustments"]), details=details)
