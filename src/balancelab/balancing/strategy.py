"""Sampling strategies from configs: 'auto', a ratio, or per-class target counts."""

from __future__ import annotations

from typing import Any, Dict, Optional, Sequence

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


def check_strategy(strategy: Any, y: np.ndarray, technique: str) -> Any:
    """Validate an over-sampling strategy and return it in imbalanced-learn's form."""
    if isinstance(strategy, str):
        if strategy not in NAMED:
            raise BalancingError(f"{technique}: sampling_strategy '{strategy}' is not one of {', '.join(NAMED)}.")
        return strategy
    if isinstance(strategy, (int, float)) and not isinstance(strategy, bool):
        if len(np.unique(y)) != 2 or not 0 < float(strategy) <= 1:
            raise BalancingError(
                f"{technique}: a ratio sampling_strategy ({strategy}) only applies to two-class data and must be "
                f"in (0, 1]. For {len(np.unique(y))} classes give per-class target counts, e.g. "
                f"balancing.sampling_strategy={{'3': 100}}, or 'auto'."
            )
        return float(strategy)
    if isinstance(strategy, dict):
        counts = np.bincount(y)
        out: Dict[int, int] = {}
        for c, target in strategy.items():
            c = int(c)
            if c >= len(counts) or counts[c] == 0:
                raise BalancingError(f"{technique}: sampling_strategy targets class {c}, which has no training samples.")
            if int(target) < counts[c]:
                raise BalancingError(
                    f"{technique}: target {target} for class {c} is below its {counts[c]} samples; an over-sampler "
                    f"cannot remove samples. Use balancing=random_undersampling or resample_to_target."
                )
            out[c] = int(target)
        return out
    raise BalancingError(f"{technique}: sampling_strategy must be 'auto', a ratio or a per-class mapping; got {strategy!r}.")


def auto_targets(y: np.ndarray, strategy: Any, num_classes: Optional[int] = None) -> np.ndarray:
    """Final per-class counts an over-sampler should reach under ``strategy``."""
    counts = np.bincount(y, minlength=num_classes or 0)
    targets = counts.copy()
    present = counts > 0
    if isinstance(strategy, dict):
        for c, t in strategy.items():
            targets[int(c)] = max(int(t), counts[int(c)])
        return targets
    if isinstance(strategy, float):
        majority = counts.argmax()
        minority = [c for c in np.flatnonzero(present) if c != majority][0]
        targets[minority] = max(counts[minority], int(round(strategy * counts[majority])))
        return targets
    n_max = counts.max()
    if strategy in ("auto", "not majority", "all"):
        targets[present] = n_max
    elif strategy == "minority":
        m = np.flatnonzero(present)[counts[present].argmin()]
        targets[m] = n_max
    elif strategy == "not minority":
        m = np.flatnonzero(present)[counts[present].argmin()]
        keep = targets[m]
        targets[present] = n_max
        targets[m] = keep
    return targets
