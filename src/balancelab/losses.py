"""Losses for imbalanced classification: CE, class-weighted CE and focal loss."""

from __future__ import annotations

import logging
from typing import Optional, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from balancelab.errors import ConfigError
from balancelab.longtail_losses import ClassBalancedFocalLoss, CrossEntropyDRW
from balancelab.loss_terms import FocalLoss, effective_number_weights, inverse_frequency_weights
from balancelab.options import losses as options_losses
from balancelab.options.validate import rule_problem

log = logging.getLogger("balancelab")


class BinaryCrossEntropy(nn.Module):
    """BCE-with-logits on a single logit per sample; ``pos_weight`` scales the positive class's term."""

    output_units = 1  # the model outputs one logit: P(positive) = sigmoid(logit)

    def __init__(self, pos_weight: Optional[float] = None):
        super().__init__()
        self.register_buffer("pos_weight", None if pos_weight is None else torch.tensor([float(pos_weight)]))

    def per_sample(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return F.binary_cross_entropy_with_logits(logits.float().reshape(-1), target.float(), pos_weight=self.pos_weight,
                                                  reduction="none")

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


def weighting_counts(weights_from: str, original: Sequence[int], trained: Sequence[int], balanced_batches: bool,
                     loss_name: str) -> tuple[list, list]:
    """(counts the class weights are computed from, warnings about the combination).

    ``original``: the training split's counts before balancing (what class-balanced losses use, Cui et
    al. 2019). ``trained``: the class distribution the batches actually have — the counts after
    balancing, or uniform under balanced batches. Weights on top of batches that are already balanced
    correct twice; weights from an already balanced distribution are all equal and change nothing.
    """
    if weights_from not in ("original", "trained"):
        raise ConfigError(f"loss.weights_from must be 'original' or 'trained'; got {weights_from!r}.")
    trained = list(trained)
    present = [c for c in trained if c > 0]
    balanced = balanced_batches or (bool(present) and max(present) <= 1.05 * min(present))
    if weights_from == "trained" and balanced_batches:
        trained = [1 if c > 0 else 0 for c in trained]
    warnings = []
    if weights_from == "original" and balanced:
        warnings.append(f"loss={loss_name} weights classes by their original counts, but the batches are already "
                        f"class-balanced (by the balancing technique): a double correction that favours the rare "
                        f"classes twice. Use loss.weights_from=trained or balancing=none if that is not intended.")
    if weights_from == "trained" and balanced:
        warnings.append(f"loss={loss_name} weights classes by the counts the model trains on, which are already "
                        f"balanced: every class weight is equal, so the weighting has no effect here (the run is the "
                        f"unweighted loss). Use loss.weights_from=original to weight by the dataset's counts.")
    for w in warnings:
        log.warning("%s", w)
    return (list(original) if weights_from == "original" else trained), warnings


# The loss options' factories (configs/loss/*.yaml name them as _target_). Each takes its own keys and the
# run facts of the loss contract (balancelab/options/losses.py); class weights follow ``weights_from``.
def cross_entropy(*, label_smoothing: float, drw_epoch: Optional[int] = None, drw_beta: float = 0.9999,
                  class_counts: Sequence[int] = (), balanced_batches: bool = False) -> nn.Module:
    """CE; with ``drw_epoch``, deferred re-weighting (class-balanced weights from that epoch on)."""
    if drw_epoch is not None:
        return CrossEntropyDRW(class_counts=class_counts, drw_epoch=drw_epoch, beta=drw_beta,
                               label_smoothing=label_smoothing, num_classes=len(class_counts),
                               balanced_batches=balanced_batches)
    criterion = nn.CrossEntropyLoss(label_smoothing=label_smoothing)
    criterion.weighting_info = {}
    return criterion


def weighted_cross_entropy(*, weighting: str, beta: float, label_smoothing: float, weights_from: str,
                           class_counts: Sequence[int], trained_counts: Sequence[int],
                           balanced_batches: bool = False) -> nn.Module:
    used, info = _weighting(weights_from, class_counts, trained_counts, balanced_batches, "weighted_ce")
    problem = rule_problem(options_losses.WeightedCrossEntropy, "weighting", weighting, "loss.weighting")
    if problem:
        raise ConfigError(problem)
    w = inverse_frequency_weights(used) if weighting == "inverse_frequency" else effective_number_weights(used, beta)
    criterion = nn.CrossEntropyLoss(weight=torch.tensor(w, dtype=torch.float32), label_smoothing=label_smoothing)
    criterion.weighting_info = info
    return criterion


def focal(*, gamma: float, alpha, weights_from: str, class_counts: Sequence[int],
          trained_counts: Sequence[int], balanced_batches: bool = False, drw_epoch: Optional[int] = None,
          drw_beta: float = 0.9999) -> nn.Module:
    """Focal loss; with ``drw_epoch``, class-balanced (effective-number) weights from that epoch on."""
    if drw_epoch is not None:
        return ClassBalancedFocalLoss(class_counts=class_counts, gamma=gamma, beta=drw_beta, drw_epoch=drw_epoch,
                                      num_classes=len(class_counts), balanced_batches=balanced_batches)
    info: dict = {}
    counts = class_counts
    if alpha == "balanced":
        counts, info = _weighting(weights_from, class_counts, trained_counts, balanced_batches, "focal")
    criterion = FocalLoss(gamma=gamma, alpha=_alpha(alpha, counts))
    criterion.weighting_info = info
    return criterion


def binary_cross_entropy(*, pos_weight, weights_from: str, num_classes: int,
                         class_counts: Sequence[int], trained_counts: Sequence[int],
                         balanced_batches: bool = False) -> nn.Module:
    if num_classes != 2:
        raise ConfigError(f"loss=bce needs exactly two classes; this dataset has {num_classes}. Use loss=ce.")
    info: dict = {}
    if pos_weight == "auto":
        used, info = _weighting(weights_from, class_counts, trained_counts, balanced_batches, "bce")
        pos_weight = float(used[0]) / max(float(used[1]), 1.0)
    elif options_losses.BinaryCrossEntropy.cross_check({"pos_weight": pos_weight}):
        raise ConfigError(options_losses.BinaryCrossEntropy.cross_check({"pos_weight": pos_weight})[0])
    criterion = BinaryCrossEntropy(None if pos_weight is None else float(pos_weight))
    criterion.weighting_info = info
    return criterion


def _weighting(weights_from, original, trained, balanced_batches, loss_name) -> tuple:
    used, warnings = weighting_counts(weights_from, original, trained, balanced_batches, loss_name)
    return used, {"weights_from": weights_from, "counts_used": [int(c) for c in used], "warnings": warnings}


def describe_loss(criterion: nn.Module) -> dict:
    """Plain facts about the criterion for the run's summary, with where its class weights came from."""
    if callable(getattr(criterion, "describe", None)):  # a component that describes itself (e.g. a user's loss)
        return {**criterion.describe(), **getattr(criterion, "weighting_info", {})}
    # exact types: a subclass (a new loss built on one of these) is another loss, named by its own class below
    if type(criterion) is BinaryCrossEntropy:
        pw = criterion.pos_weight
        facts = {"type": "binary_cross_entropy", "pos_weight": None if pw is None else float(pw.item())}
    elif type(criterion) is FocalLoss:
        alpha = None if criterion.alpha is None else criterion.alpha.tolist()
        facts = {"type": "focal", "gamma": criterion.gamma, "alpha": alpha}
    elif type(criterion) is nn.CrossEntropyLoss:
        weight = criterion.weight
        facts = {"type": "cross_entropy", "class_weights": None if weight is None else weight.tolist()}
    else:  # a criterion that does not describe itself: named by its class, never passed off as cross-entropy
        cls = type(criterion)
        facts = {"type": f"{cls.__module__}.{cls.__qualname__}"}
        weight = getattr(criterion, "weight", None)
        if isinstance(weight, torch.Tensor):
            facts["class_weights"] = weight.tolist()
    return {**facts, **getattr(criterion, "weighting_info", {})}
