"""Deferred re-sampling (DRS, Cao et al. 2019): plain shuffling first, class-balanced batches later.

A ``batch_order`` provider for TrainSettings: the training loop asks it for each epoch's sample order
with the 1-based epoch number. ``start_epoch`` counts finished epochs, like ``drw_epoch`` and the
multistep milestones: with start_epoch=160, epochs 1..160 are shuffles and epoch 161 is the first with
class-balanced draws (the same draws as ``balancing=weighted_sampler``, with replacement, every class
equally likely). start_epoch=0 balances from the start.
"""

from __future__ import annotations

import numpy as np
import torch

from balancelab.errors import ConfigError
from balancelab.training.batches import epoch_order


def _is_count(value) -> bool:
    """An integer >= 0 (an integral float such as 160.0 from a config is accepted too)."""
    return (not isinstance(value, bool) and isinstance(value, (int, float, np.integer, np.floating))
            and float(value).is_integer() and value >= 0)


class DeferredResampling:
    def __init__(self, *, start_epoch: int):
        if not _is_count(start_epoch):
            raise ConfigError(f"balancing=deferred_resampling: start_epoch must be an integer >= 0 (finished "
                              f"epochs of plain shuffling before class-balanced batches); got {start_epoch!r}.")
        self.start_epoch = int(start_epoch)

    def balanced(self, epoch: int) -> bool:
        return epoch > self.start_epoch

    def __call__(self, labels: np.ndarray, epoch: int, generator: torch.Generator) -> torch.Tensor:
        return epoch_order(labels, self.balanced(epoch), generator)

    def deferred_start(self):
        """For the loop's report of a run that ends before the balanced batches begin (None: from the start)."""
        return ("class-balanced re-sampling", "balancing.start_epoch", self.start_epoch) if self.start_epoch else None

    def describe(self) -> dict:
        return {"method": "deferred_resampling", "start_epoch": self.start_epoch,
                "first_balanced_epoch": self.start_epoch + 1, "draws": "class-balanced, with replacement"}
