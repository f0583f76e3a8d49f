"""The terms the loss options share: class weights (inverse frequency, effective number) and the focal loss.
Both the plain losses (losses.py) and the long-tail ones (longtail_losses.py) build on them, so neither
imports the other's internals."""

from __future__ import annotations

from typing import Optional, Sequence, Union

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from balancelab.errors import ConfigError


def inverse_frequency_weights(counts: Sequence[int]) -> np.ndarray:
    """w_c proportional to 1/n_c, normalised to sum to the number of classes (absent classes: 0)."""
    counts = np.asarray(counts, dtype=np.float64)
    w = np.where(counts > 0, 1.0 / np.maximum(counts, 1), 0.0)
    return w * (np.count_nonzero(counts) / w.sum())


def effective_number_weights(counts: Sequence[int], beta: float) -> np.ndarray:
    """Cui et al. (2019): w_c proportional to (1 - beta) / (1 - beta^n_c), normalised to sum to C."""
    if not 0 <= beta < 1:
        raise ConfigError(f"loss.beta must be in [0, 1); got {beta}. Typical values: 0.9, 0.99, 0.999, 0.9999.")
    counts = np.asarray(counts, dtype=np.float64)
    effective = 1.0 - np.power(beta, counts)
    w = np.where(counts > 0, (1.0 - beta) / np.maximum(effective, 1e-12), 0.0)
    return w * (np.count_nonzero(counts) / w.sum())


def focal_factor(ce: torch.Tensor, gamma: float) -> torch.Tensor:
    """(1 - p_t)^gamma from the per-sample CE, with a finite gradient for every gamma >= 0.

    d/dx x^gamma = gamma x^(gamma-1) is infinite at x = 0 for gamma < 1, and x = 1 - p_t is exactly 0 in
    float32 once p_t rounds to 1 (a logit margin of ~17 suffices); 0 * inf then makes the gradient NaN.
    Where x is below 1e-12 the factor is set to 0 through a branch that carries no gradient: the loss there
    is x^gamma * CE <= 1e-12, so nothing measurable is lost. ``-expm1(-ce)`` keeps x accurate near p_t = 1.
    """
    x = -torch.expm1(-ce)
    usable = x > 1e-12
    return torch.where(usable, torch.where(usable, x, torch.ones_like(x)).pow(gamma), torch.zeros_like(x))


class FocalLoss(nn.Module):
    """alpha_t * (1 - p_t)^gamma * CE, averaged over the batch (Lin et al. 2017).

    With gamma=0 and alpha=None it is exactly ``F.cross_entropy``. A per-class ``alpha`` weights
    each sample by its true class; a scalar scales every class alike (multi-class focal loss).
    """

    def __init__(self, gamma: float = 2.0, alpha: Optional[Union[float, Sequence[float]]] = None):
        super().__init__()
        if gamma < 0:
            raise ConfigError(f"loss.gamma must be >= 0; got {gamma}.")
        self.gamma = float(gamma)
        alpha_tensor = None if alpha is None else torch.as_tensor(alpha, dtype=torch.float32)
        self.register_buffer("alpha", alpha_tensor)

    def per_sample(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """alpha_t * (1 - p_t)^gamma * CE of each sample (the batch loss is their plain mean)."""
        ce = F.cross_entropy(logits.float(), target, reduction="none")
        loss = ce if self.gamma == 0 else focal_factor(ce, self.gamma) * ce
        if self.alpha is not None:
            loss = loss * (self.alpha[target] if self.alpha.ndim else self.alpha)
        return loss

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if self.gamma == 0 and self.alpha is None:
            # The formula is plain CE here; the fused reduction makes the identity bit-exact.
            return F.cross_entropy(logits.float(), target)
        return self.per_sample(logits, target).mean()
