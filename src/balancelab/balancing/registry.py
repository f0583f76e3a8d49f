"""``make_balancer(name, **params)``: the one way code builds a balancing technique."""

from __future__ import annotations

from typing import Any

from balancelab.balancing.base import Balancer
from balancelab.errors import BalancingError


def _techniques() -> dict:
    # Imported lazily so that `import balancelab.balancing` stays cheap.
    from balancelab.balancing.simple import NoBalancing, RandomOversampling, WeightedSamplerBalancing

    from balancelab.balancing.augmentation import OfflineAugmentation
    from balancelab.balancing.synthetic import Adasyn, Smote
    from balancelab.balancing.undersampling import RandomUndersampling, ResampleToTarget

    return {
        "none": NoBalancing,
        "weighted_sampler": WeightedSamplerBalancing,
        "random_oversampling": RandomOversampling,
        "smote": Smote,
        "adasyn": Adasyn,
        "offline_augmentation": OfflineAugmentation,
        "random_undersampling": RandomUndersampling,
        "resample_to_target": ResampleToTarget,
    }


def available_balancers() -> list:
    return sorted(_techniques())


def make_balancer(name: str, **params: Any) -> Balancer:
    techniques = _techniques()
    if name not in techniques:
        raise BalancingError(f"Unknown balancing technique '{name}'. Valid: {', '.join(sorted(techniques))}.")
    return techniques[name](**params)
