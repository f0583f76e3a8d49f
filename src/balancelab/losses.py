"""Losses for imbalanced classification: CE, class-weighted CE and focal loss."""

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

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if self.gamma == 0 and self.alpha is None:
            # The formula is plain CE here; the fused reduction makes the identity bit-exact.
            return F.cross_entropy(logits.float(), target)
        ce = F.cross_entropy(logits.float(), target, reduction="none")
        loss = ce if self.gamma == 0 else (1.0 - torch.exp(-ce)).pow(self.gamma) * ce
        if self.alpha is not None:
            loss = loss * (self.alpha[target] if self.alpha.ndim else self.alpha)
        return loss.mean()


class BinaryCrossEntropy(nn.Module):
    """BCE-with-logits on a single logit per sample; ``pos_weight`` scales the positive class's term."""

    def __init__(self, pos_weight: Optional[float] = None):
        super().__init__()
        self.register_buffer("pos_weight", None if pos_weight is None else torch.tensor([float(pos_weight)]))

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return F.binary_cross_entropy_with_logits(logits.float().reshape(-1), target.float(), pos_weight=self.pos_weight)


def _alpha(alpha, counts: Sequence[int]):
    if alpha is None:
        return None
    if isinstance(alpha, str):
        if alpha != "balanced":
            raise ConfigError(f"loss.alpha='{alpha}' is not understood. Use null, a number, a per-class list or 'balanced'.")
        return inverse_frequency_weights(counts).tolist()
    if isinstance(alpha, (int, float)):
        # Binary focal loss (Lin et al.): alpha weights the positive class, 1 - alpha the negative.
        return [1.0 - float(alpha), float(alpha)] if len(counts) == 2 else float(alpha)
    alpha = [float(a) for a in alpha]
    if len(alpha) != len(counts):
        raise ConfigError(f"loss.alpha lists {len(alpha)} values but the dataset has {len(counts)} classes.")
    return alpha


def build_loss(loss_cfg, train_counts: Sequence[int]) -> nn.Module:
    """The criterion for ``loss_cfg``; class weights come from the counts the model trains on."""
    name = loss_cfg.name
    if name == "ce":
        return nn.CrossEntropyLoss(label_smoothing=loss_cfg.label_smoothing)
    if name == "weighted_ce":
        if loss_cfg.weighting == "inverse_frequency":
            w = inverse_frequency_weights(train_counts)
        else:
            w = effective_number_weights(train_counts, loss_cfg.beta)
        return nn.CrossEntropyLoss(weight=torch.tensor(w, dtype=torch.float32), label_smoothing=loss_cfg.label_smoothing)
    if name == "focal":
        return FocalLoss(gamma=loss_cfg.gamma, alpha=_alpha(loss_cfg.alpha, train_counts))
    if name == "bce":
        if len(train_counts) != 2:
            raise ConfigError(f"loss=bce needs exactly two classes; this dataset has {len(train_counts)}. Use loss=ce.")
        pos_weight = loss_cfg.pos_weight
        if pos_weight == "auto":
            pos_weight = float(train_counts[0]) / max(float(train_counts[1]), 1.0)
        return BinaryCrossEntropy(None if pos_weight is None else float(pos_weight))
    raise ConfigError(f"Unknown loss '{name}'. Valid: ce, weighted_ce, focal, bce.")


def output_units(loss_name: str, num_classes: int) -> int:
    """Logits the model needs: one for BCE, one per class otherwise."""
    return 1 if loss_name == "bce" else num_classes


def describe_loss(criterion: nn.Module) -> dict:
    """Plain facts about the criterion for the run's summary."""
    if isinstance(criterion, BinaryCrossEntropy):
        pw = criterion.pos_weight
        return {"type": "binary_cross_entropy", "pos_weight": None if pw is None else float(pw.item())}
    if isinstance(criterion, FocalLoss):
        alpha = None if criterion.alpha is None else criterion.alpha.tolist()
        return {"type": "focal", "gamma": criterion.gamma, "alpha": alpha}
    weight = getattr(criterion, "weight", None)
    return {"type": "cross_entropy", "class_weights": None if weight is None else weight.tolist()}
