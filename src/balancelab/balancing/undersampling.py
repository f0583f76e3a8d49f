"""Random undersampling to a per-class target, and the combined resample-to-target.

Each class above its target is reduced to it at random (imbalanced-learn's RandomUnderSampler,
on indices); classes below keep everything they have. ``overrides`` sets a class's own target:
an integer is a count, a float a multiple of ``target_per_class`` (e.g. ``normal: 1.5``).
"""

from __future__ import annotations

import numpy as np
from imblearn.under_sampling import RandomUnderSampler

from balancelab.balancing.base import Balancer, Resampled
from balancelab.balancing.simple import RandomOversampling
from balancelab.balancing.synthetic import Smote
from balancelab.data import rows
from balancelab.errors import BalancingError
from balancelab.options.balancing import ResampleToTarget as ResampleToTargetOptions
from balancelab.options.validate import rule_problem

# resample_to_target's ``oversampler`` -> the balancer that grows the classes below the target. It gets
# ResampleToTarget's own parameters of the same name (SMOTE's k_neighbors, feature_size, knn_backend).
OVERSAMPLERS = {"random": RandomOversampling, "smote": Smote}


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

    def __init__(self, *, target_per_class=None, overrides=None, random_state=None, device="cpu"):
        super().__init__(random_state=random_state, device=device)
        self.target_per_class = target_per_class  # None = the smallest class's count
        self.overrides = overrides  # {class: count (int) or multiple of target_per_class (float)}

    def _resample(self, X, y):
        targets = class_targets(y, self.target_per_class, self.overrides, self.name)
        return Resampled(kept=undersample_indices(y, targets, self.random_state),
                         details={"targets": {str(c): int(t) for c, t in enumerate(targets)}})


class ResampleToTarget(Balancer):
    """Reduce the classes above the target, then oversample those below (random or SMOTE)."""

    name = "resample_to_target"

    def __init__(self, *, target_per_class=None, overrides=None, oversampler="random", k_neighbors=5,
                 feature_size=None, knn_backend="auto", random_state=None, device="cpu"):
        super().__init__(random_state=random_state, device=device)
        self.target_per_class = target_per_class
        self.overrides = overrides
        self.oversampler = oversampler  # "random" or "smote"; the last three parameters are SMOTE's
        self.k_neighbors = k_neighbors
        self.feature_size = feature_size
        self.knn_backend = knn_backend

    def _resample(self, X, y):
        problem = rule_problem(ResampleToTargetOptions, "oversampler", self.oversampler, "balancing.oversampler")
        if problem:
            raise BalancingError(problem)
        targets = class_targets(y, self.target_per_class, self.overrides, self.name)
        kept = undersample_indices(y, targets, self.random_state)
        y_kept = y[kept]
        counts = np.bincount(y_kept, minlength=len(targets))
        below = {int(c): int(targets[c]) for c in np.flatnonzero((counts > 0) & (counts < targets))}
        if not below:
            return Resampled(kept=kept, details={"targets": {str(c): int(t) for c, t in enumerate(targets)}})
        grower = OVERSAMPLERS[self.oversampler]
        shared = {k: getattr(self, k) for k in grower.parameter_names()
                  if k not in ("sampling_strategy", "random_state", "device") and hasattr(self, k)}
        over = grower(random_state=self.random_state, device=self.device, sampling_strategy=below, **shared)
        # The reduced set as rows of X (no copy): the oversampler's kept rows are numbers into it, and only its
        # synthetic images are new pixels.
        X_over, y_over = over.fit_resample_rows(rows.subset(X, kept), y_kept)
        prov = over.provenance_
        copies = prov >= 0
        details = {"targets": {str(c): int(t) for c, t in enumerate(targets)}, "oversampler": over.name}
        for key in ("k_used", "synthetic_parents"):
            if key in over.report_:
                details[key] = over.report_[key]
        if "synthetic_parents" in details:  # parents are rows of the reduced set: map them back
            for side in ("a", "b"):
                details["synthetic_parents"][side] = kept[np.asarray(details["synthetic_parents"][side], int)].tolist()
        return Resampled(kept=kept[prov[copies]], X_synthetic=X_over.synthetic, y_synthetic=y_over[~copies],
                         adjustments=list(over.report_["adjustments"]), details=details)
