"""Techniques that only choose input rows: none, random over- and under-sampling."""

from __future__ import annotations

import numpy as np
from imblearn.over_sampling import RandomOverSampler

from balancelab.balancing.base import Balancer, Resampled
from balancelab.balancing.strategy import check_strategy


class NoBalancing(Balancer):
    """The training set unchanged (also the data side of ``weighted_sampler``)."""

    name = "none"

    def _resample(self, X, y):
        return Resampled(kept=np.arange(len(y)))


class WeightedSamplerBalancing(NoBalancing):
    """Leaves the data alone: balanced batches come from the loader's weighted sampler."""

    name = "weighted_sampler"

    def _resample(self, X, y):
        result = super()._resample(X, y)
        result.details["note"] = "data unchanged; batches drawn with inverse-frequency weights"
        return result


class RandomOversampling(Balancer):
    """imbalanced-learn's RandomOverSampler applied to row indices, so no pixels are copied to decide."""

    name = "random_oversampling"

    def _resample(self, X, y):
        strategy = check_strategy(self.params.get("sampling_strategy", "auto"), y, self.name)
        sampler = RandomOverSampler(sampling_strategy=strategy, random_state=self.random_state)
        sampler.fit_resample(np.arange(len(y)).reshape(-1, 1), y)
        return Resampled(kept=np.sort(sampler.sample_indices_))
