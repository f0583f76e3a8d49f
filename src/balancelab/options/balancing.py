"""Balancing options. Contract: ``_target_`` names a :class:`balancelab.balancing.base.Balancer` subclass
(``fit_resample(X, y)``, ``provenance_``, ``report_``; check yours with ``balancelab.testing.check_balancer``).
It is built with its own keys plus ``random_state`` (the run's seed) and ``device`` (where helpers such as
the neighbour search may run). A class attribute ``balanced_batches = True`` tells the trainer to draw
class-balanced batches instead of resampling the data (``weighted_sampler``).

Only the training split is balanced. Class names in ``sampling_strategy`` / ``overrides`` are mapped to
class indices before the balancer sees them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, List, Optional

from balancelab.options.fields import components, field_default, option

KNN_BACKENDS = ("auto", "sklearn", "torch")
STRATEGY_HELP = ("auto (every class up to the largest), {class: target count}, or a ratio minority/majority "
                 "(two classes)")


IMBLEARN_STRATEGIES = ("auto", "minority", "not minority", "not majority", "all")


def check_sampling_strategy(node) -> List[str]:
    """``sampling_strategy``: an imbalanced-learn word, {class: count}, or a ratio in (0, 1] (two classes)."""
    value = node.get("sampling_strategy", "auto")
    if isinstance(value, str) and value in IMBLEARN_STRATEGIES or isinstance(value, dict):
        return []
    if isinstance(value, (int, float)) and not isinstance(value, bool) and 0 < value <= 1:
        return []
    return [f"'balancing.sampling_strategy' must be one of {', '.join(IMBLEARN_STRATEGIES)}, a mapping "
            f"{{class: count}} (+balancing.sampling_strategy.<class>=N), or a ratio in (0, 1] for two classes; "
            f"got {value!r}."]


@dataclass
class BalancingBase:
    _target_: str = "???"
    name: str = "???"


@dataclass
class NoBalancing(BalancingBase):
    _target_: str = "balancelab.balancing.simple.NoBalancing"
    name: str = "none"


@dataclass
class WeightedSampler(BalancingBase):
    _target_: str = "balancelab.balancing.simple.WeightedSamplerBalancing"
    name: str = "weighted_sampler"


@dataclass
class RandomOversampling(BalancingBase):
    _target_: str = "balancelab.balancing.simple.RandomOversampling"
    name: str = "random_oversampling"
    sampling_strategy: Any = option("auto", STRATEGY_HELP)
    cross_check = staticmethod(check_sampling_strategy)


@dataclass
class NeighbourSearch:
    feature_size: Optional[int] = option(None, "resolution (px) of the neighbour search; null = training resolution",
                                         ge=2)
    knn_backend: str = option("auto", "auto (batched torch k-NN, on the GPU when training there) | torch | sklearn",
                              choices=KNN_BACKENDS)


@dataclass
class Smote(BalancingBase, NeighbourSearch):
    _target_: str = "balancelab.balancing.synthetic.Smote"
    name: str = "smote"
    sampling_strategy: Any = option("auto", STRATEGY_HELP)
    k_neighbors: int = option(5, "same-class neighbours each new image may be interpolated towards", ge=1)
    cross_check = staticmethod(check_sampling_strategy)


@dataclass
class Adasyn(BalancingBase, NeighbourSearch):
    _target_: str = "balancelab.balancing.synthetic.Adasyn"
    name: str = "adasyn"
    sampling_strategy: Any = option("auto", STRATEGY_HELP)
    n_neighbors: int = option(5, "neighbours (any class) that measure how hard each minority image is", ge=1)
    cross_check = staticmethod(check_sampling_strategy)


@dataclass
class OfflineAugmentation(BalancingBase):
    _target_: str = "balancelab.balancing.augmentation.OfflineAugmentation"
    name: str = "offline_augmentation"
    sampling_strategy: Any = option("auto", STRATEGY_HELP)
    # The preset of the `augmentation` group (augmentation=default | conservative).
    augmentation: Any = option("${augmentation}", "the augmentation preset (set with augmentation=<preset>)")
    cross_check = staticmethod(check_sampling_strategy)


@dataclass
class RandomUndersampling(BalancingBase):
    _target_: str = "balancelab.balancing.undersampling.RandomUndersampling"
    name: str = "random_undersampling"
    target_per_class: Optional[int] = option(None, "images kept per class; null = the smallest class's count", ge=1)
    overrides: Dict[str, Any] = option(help="{class: count, or multiple of target_per_class}", default_factory=dict)


@dataclass
class ResampleToTarget(BalancingBase, NeighbourSearch):
    _target_: str = "balancelab.balancing.undersampling.ResampleToTarget"
    name: str = "resample_to_target"
    target_per_class: Optional[int] = option(None, "every class is brought to this count; null = the smallest class's",
                                             ge=1)
    overrides: Dict[str, Any] = option(help="{class: count, or multiple of target_per_class}", default_factory=dict)
    oversampler: str = option("random", "how classes below the target grow: random | smote", choices=("random", "smote"))
    k_neighbors: int = option(5, "SMOTE's neighbours (oversampler=smote)", ge=1)

    @classmethod
    def cross_check(cls, node) -> List[str]:
        if node.get("oversampler") == "random":
            unused = [k for k in ("k_neighbors", "feature_size", "knn_backend") if node.get(k) != field_default(cls, k)]
            if unused:
                return [f"balancing.{', balancing.'.join(unused)} only apply with balancing.oversampler=smote; with "
                        f"oversampler=random they would do nothing. Set balancing.oversampler=smote or remove them."]
        return []


@dataclass
class DeferredResampling(BalancingBase):
    _target_: str = "balancelab.balancing.simple.DeferredResamplingBalancing"
    name: str = "deferred_resampling"
    start_epoch: int = option("${fraction_of_epochs:0.8}", "epochs of plain shuffling before re-balanced batches "
                              "(default: 80% of trainer.epochs, the DRS schedule of Cao et al. 2019)", ge=0)
    weighting: str = option("effective_number", "how the deferred draws weigh each sample: effective_number "
                            "((1 - beta) / (1 - beta^n_class), the LDAM-DRW code's resampler) | inverse_frequency "
                            "(1 / n_class: every class equally likely)", choices=("effective_number", "inverse_frequency"))
    beta: float = option(0.9999, "effective-number beta of the deferred draws (weighting=effective_number)", ge=0, lt=1)

    @classmethod
    def cross_check(cls, node) -> List[str]:
        if node.get("weighting") == "inverse_frequency" and node.get("beta") != field_default(cls, "beta"):
            return [f"balancing.beta only applies with balancing.weighting=effective_number; with weighting="
                    f"inverse_frequency it would do nothing (got beta={node.get('beta')}). Remove balancing.beta or "
                    f"set balancing.weighting=effective_number."]
        return []


SCHEMAS = components(globals(), BalancingBase)
