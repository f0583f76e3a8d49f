"""Deferred re-sampling (DRS, Cao et al. 2019): plain shuffling first, re-balanced batches later.

A ``batch_order`` provider for TrainSettings: the training loop asks it for each epoch's sample order
with the 1-based epoch number. ``start_epoch`` counts finished epochs, like ``drw_epoch`` and the
multistep milestones: with start_epoch=160, epochs 1..160 are shuffles and epoch 161 is the first with
re-balanced draws (with replacement, as many as the training set has). start_epoch=0 re-balances from
the start.

How the draws are weighted (``weighting``):
- ``effective_number`` (default): each sample weighs (1 - beta) / (1 - beta^n_c), beta = 0.9999, the
  resampler of the LDAM-DRW code (kaidic/LDAM-DRW, utils.ImbalancedDatasetSampler). A class is drawn
  with probability proportional to n_c (1 - beta) / (1 - beta^n_c), its *effective number*: equal shares
  for small classes, more for classes whose count approaches 1 / (1 - beta) and beyond.
- ``inverse_frequency``: each sample weighs 1 / n_c, every class equally likely (the draws of
  ``balancing=weighted_sampler``; the limit beta -> 1 of the above).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from torch.utils.data import WeightedRandomSampler

from balancelab.balancing.sample_order import epoch_order
from balancelab.errors import ConfigError
from balancelab.options import balancing as options_balancing
from balancelab.options.validate import rule_problem

DEFAULT_BETA = 0.9999  # the LDAM-DRW code's resampler


def _is_count(value) -> bool:
    """An integer >= 0 (an integral float such as 160.0 from a config is accepted too)."""
    return (not isinstance(value, bool) and isinstance(value, (int, float, np.integer, np.floating))
            and float(value).is_integer() and value >= 0)


def _check_beta(beta) -> float:
    numeric = isinstance(beta, (int, float, np.integer, np.floating)) and not isinstance(beta, bool)
    if not numeric or not 0 <= float(beta) < 1:
        raise ConfigError(f"balancing.beta must be a number in [0, 1) (the effective-number beta of the deferred "
                          f"draws; the LDAM-DRW code uses 0.9999); got {beta!r}.")
    return float(beta)


class DeferredResampling:
    def __init__(self, *, start_epoch: int, weighting: str = "effective_number", beta: float = DEFAULT_BETA):
        if not _is_count(start_epoch):
            raise ConfigError(f"balancing=deferred_resampling: start_epoch must be an integer >= 0 (finished "
                              f"epochs of plain shuffling before re-balanced batches); got {start_epoch!r}.")
        problem = rule_problem(options_balancing.DeferredResampling, "weighting", weighting, "balancing.weighting")
        if problem:
            raise ConfigError(problem)
        self.start_epoch = int(start_epoch)
        self.weighting = weighting
        self.beta = _check_beta(beta)

    def balanced(self, epoch: int) -> bool:
        return epoch > self.start_epoch

    def class_weights(self, counts: Sequence[float]) -> np.ndarray:
        """Each sample's draw weight, per class (0 for an absent class)."""
        counts = np.asarray(counts, dtype=np.float64)
        if self.weighting == "inverse_frequency":
            return np.where(counts > 0, 1.0 / np.maximum(counts, 1.0), 0.0)
        effective = 1.0 - np.power(self.beta, counts)
        return np.where(counts > 0, (1.0 - self.beta) / np.maximum(effective, 1e-300), 0.0)

    def class_shares(self, counts: Sequence[float], epoch: int) -> np.ndarray:
        """Each class's expected share of the draws of the 1-based ``epoch`` (the prior its batches have)."""
        counts = np.asarray(counts, dtype=np.float64)
        mass = counts * self.class_weights(counts) if self.balanced(epoch) else counts
        return mass / mass.sum()

    def __call__(self, labels: np.ndarray, epoch: int, generator: torch.Generator) -> torch.Tensor:
        if not self.balanced(epoch):
            return epoch_order(labels, False, generator)
        if self.weighting == "inverse_frequency":
            return epoch_order(labels, True, generator)  # the same draws as balancing=weighted_sampler
        weights = self.class_weights(np.bincount(labels))[labels]
        sampler = WeightedRandomSampler(torch.as_tensor(weights, dtype=torch.double), len(labels), replacement=True,
                                        generator=generator)
        return torch.as_tensor(list(sampler), dtype=torch.long)

    def deferred_start(self):
        """For the loop's report of a run that ends before the re-balanced batches begin (None: from the start)."""
        return ("class-balanced re-sampling", "balancing.start_epoch", self.start_epoch) if self.start_epoch else None

    def describe(self) -> dict:
        draws = (f"effective-number weights (beta {self.beta:g}), with replacement"
                 if self.weighting == "effective_number" else "class-balanced (1 / n_c), with replacement")
        return {"method": "deferred_resampling", "start_epoch": self.start_epoch,
                "first_balanced_epoch": self.start_epoch + 1, "weighting": self.weighting,
                "beta": self.beta if self.weighting == "effective_number" else None, "draws": draws}
