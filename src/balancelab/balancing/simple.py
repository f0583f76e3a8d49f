"""Techniques that only choose input rows: none, random over- and under-sampling."""

from __future__ import annotations

import numpy as np
from imblearn.over_sampling import RandomOverSampler

from balancelab.balancing.base import Balancer, Resampled
from balancelab.balancing.strategy import imblearn_strategy, oversampling_targets


class NoBalancing(Balancer):
    """The training set unchanged (also the data side of ``weighted_sampler``)."""

    name = "none"

    def _resample(self, X, y):
        return Resampled(kept=np.arange(len(y)))


class WeightedSamplerBalancing(NoBalancing):
    """Leaves the data alone: balanced batches come from the loader's weighted sampler."""

    name = "weighted_sampler"
    balanced_batches = True  # the trainer draws class-balanced batches (see balancing.apply.draws_balanced_batches)

    def _resample(self, X, y):
        result = super()._resample(X, y)
        result.details["note"] = "data unchanged; batches drawn with inverse-frequency weights"
        return result


class RandomOversampling(Balancer):
    """imbalanced-learn's RandomOverSampler applied to row indices, so no pixels are copied to decide."""

    name = "random_oversampling"

    def __init__(self, *, sampling_strategy="auto", random_state=None, device="cpu"):
        super().__init__(random_state=random_state, device=device)
        self.sampling_strategy = sampling_strategy

    def _resample(self, X, y):
        strategy = imblearn_strategy(oversampling_targets(self.sampling_strategy, y, self.name), y)
        if not strategy:
            return Resampled(kept=np.arange(len(y)))
        sampler = RandomOverSampler(sampling_strategy=strategy, random_state=self.random_state)
        sampler.fit_resample(np.arange(len(y)).reshape(-1, 1), y)
        return Resampled(kept=np.sort(sampler.sample_indices_))


class DeferredResamplingBalancing(NoBalancing):
    """Not a resampler: plain shuffled batches for ``start_epoch`` epochs, then re-balanced batches
    (deferred re-sampling, Cao et al. 2019; ``weighting`` and ``beta``: see balancing.deferred_sampling).
    The trainer asks for the schedule through ``batch_order()``."""

    name = "deferred_resampling"
    feature_space_refusal = ("it switches the representation's training batches from shuffled to re-balanced at "
                             "balancing.start_epoch, and the classifier re-trained on features has no such schedule")

    def __init__(self, *, start_epoch: int = 0, weighting: str = "effective_number", beta: float = 0.9999,
                 random_state=None, device="cpu"):
        super().__init__(random_state=random_state, device=device)
        self.start_epoch, self.weighting, self.beta = start_epoch, weighting, beta

    def batch_order(self):
        from balancelab.balancing.deferred_sampling import DeferredResampling

        return DeferredResampling(start_epoch=self.start_epoch, weighting=self.weighting, beta=self.beta)

    def _resample(self, X, y):
        result = super()._resample(X, y)
        result.details["note"] = (f"data unchanged; shuffled batches for {self.start_epoch} epoch(s), then "
                                  f"batches re-balanced by {self.weighting.replace('_', '-')} weights")
        return result
