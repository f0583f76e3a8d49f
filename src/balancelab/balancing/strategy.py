"""Sampling strategies from configs: 'auto', a ratio, or per-class target counts."""

from __future__ import annotations

from typing import Any, Dict, Sequence

import numpy as np

from balancelab.errors import BalancingError

NAMED = ("auto", "not majority", "minority", "not minority", "all")


def resolve_class_keys(strategy: Any, class_names: Sequence[str]) -> Any:
    """Turn a per-class mapping keyed by class *names* (as users write them) into class indices."""
    if not isinstance(strategy, dict):
        return strategy
    lookup = {name: i for i, name in enumerate(class_names)}
    resolved = {}
    for key, value in strategy.items():
        if str(key) in lookup:
            resolved[lookup[str(key)]] = value
        elif isinstance(key, int) and 0 <= key < len(class_names):
            resolved[key] = value
        else:
            raise BalancingError(
                f"sampling_strategy names class '{key}', which is not in this dataset. "
                f"Classes: {', '.join(class_names)}."
            )
    return resolved


def oversampling_targets(strategy: Any, y: np.ndarray, technique: str) -> np.ndarray:
    """The per-class counts an over-sampler must reach under ``strategy``: one rule for every technique.

    Every over-sampling technique (random_oversampling, smote, adasyn, offline_augmentation)
    resolves its strategy here, and those that call imbalanced-learn give it the resulting
    per-class counts, never the strategy itself, so the same strategy means the same counts.

    - ``'auto'`` / ``'not majority'`` / ``'all'``: every class up to the largest class's count;
      ``'minority'``: the smallest class only; ``'not minority'``: every class but the smallest
      (ties for smallest go to the lowest class index).
    - a ratio ``r`` in (0, 1], two-class data only: imbalanced-learn's convention, the minority
      target is ``floor(r * n_majority)`` (computed as imbalanced-learn does, ``int(n_majority * r)``),
      but never below the minority's own count: a ratio the minority already meets adds nothing
      (where imbalanced-learn would raise).
    - ``{class_index: count}``: those classes to those counts, the others unchanged; a count
      below the class's size is an error (an over-sampler cannot remove samples).

    Returns an int64 array with one final count per class index ``0..max(y)``; classes absent
    from ``y`` stay at 0.
    """
    counts = np.bincount(y)
    present = np.flatnonzero(counts)
    targets = counts.copy()
    if isinstance(strategy, str):
        if strategy not in NAMED:
            raise BalancingError(f"{technique}: sampling_strategy '{strategy}' is not one of {', '.join(NAMED)}.")
        smallest = present[counts[present].argmin()]
        raise_up = {"auto": present, "not majority": present, "all": present, "minority": [smallest],
                    "not minority": [c for c in present if c != smallest]}[strategy]
        targets[raise_up] = counts.max()
        return targets
    if isinstance(strategy, (int, float)) and not isinstance(strategy, bool):
        if len(present) != 2 or not 0 < float(strategy) <= 1:
            raise BalancingError(
                f"{technique}: a ratio sampling_strategy ({strategy}) only applies to two-class data and must be "
                f"in (0, 1]; this data has {len(present)} classes. Give per-class target counts instead, e.g. "
                f"balancing.sampling_strategy={{'3': 100}}, or 'auto'."
            )
        majority = present[counts[present].argmax()]
        minority = present[present != majority][0]
        targets[minority] = max(int(counts[majority] * float(strategy)), counts[minority])
        return targets
    if isinstance(strategy, dict):
        for c, target in strategy.items():
            c = int(c)
            if c >= len(counts) or counts[c] == 0:
                raise BalancingError(f"{technique}: sampling_strategy targets class {c}, which has no training samples.")
            if int(target) < counts[c]:
                raise BalancingError(
                    f"{technique}: target {target} for class {c} is below its {counts[c]} samples; an over-sampler "
                    f"cannot remove samples. Use balancing=random_undersampling or resample_to_target."
                )
            targets[c] = int(target)
        return targets
    raise BalancingError(f"{technique}: sampling_strategy must be 'auto', a ratio or a per-class mapping; got {strategy!r}.")


def imblearn_strategy(targets: np.ndarray, y: np.ndarray) -> Dict[int, int]:
    """Targets in imbalanced-learn's explicit form, ``{class: final count}``, for the classes that grow."""
    counts = np.bincount(y, minlength=len(targets))
    return {int(c): int(targets[c]) for c in np.flatnonzero(targets > counts)}
