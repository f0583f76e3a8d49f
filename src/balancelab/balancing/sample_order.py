"""The sample order of one training epoch: a plain shuffle, or class-balanced draws with replacement (what
balancing=weighted_sampler means, and what deferred re-sampling switches to)."""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import WeightedRandomSampler


def epoch_order(labels: np.ndarray, weighted: bool, generator: torch.Generator) -> torch.Tensor:
    """Sample order for one epoch: a shuffle, or class-balanced draws with replacement."""
    n = len(labels)
    if not weighted:
        return torch.randperm(n, generator=generator)
    counts = np.bincount(labels)
    weights = 1.0 / counts[labels]
    sampler = WeightedRandomSampler(torch.as_tensor(weights, dtype=torch.double), n, replacement=True,
                                    generator=generator)
    return torch.as_tensor(list(sampler), dtype=torch.long)
