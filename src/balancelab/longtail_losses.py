"""Loss-level methods of the long-tail literature: LDAM, logit adjustment, Balanced Softmax,
class-balanced focal loss and deferred re-weighting (DRW).

Every loss takes ``class_counts``: the training split's counts per class *before* any balancing (the
counts the papers use), and exposes what it derived from them through ``describe()``.

Absent classes (count 0). A class with no training sample is never a training target, so what a loss
does for its own target never matters; what matters is that nothing becomes inf or NaN:
- the prior-based losses (logit adjustment, Balanced Softmax) give it a pseudo-count of 1, i.e. rarer
  than any present class but finite (log 0 = -inf would put -inf into the logits, and 0 * -inf = NaN at
  tau = 0). A pseudo-count only changes the prior of the *other* classes by a common factor, which
  cancels in the softmax, so the loss on present classes is exactly that of the paper;
- LDAM sets the scale C from the present classes alone (an absent class must not shrink the others'
  margins) and records ``max_margin`` for the absent class;
- effective-number weights are 0 for an absent class (``losses.effective_number_weights``).

Epochs. The training loop calls ``set_epoch(epoch)`` with its 1-based epoch number at the start of each
epoch. ``drw_epoch`` counts *finished* epochs, like the reference code's ``epoch // 160`` with 0-based
epochs and like torch's MultiStepLR milestones: with ``drw_epoch=160`` epochs 1..160 are unweighted and
epoch 161 is the first weighted one — the epoch in which the LDAM-DRW schedule divides the lr by 100.
``drw_epoch=0`` weights from the start (class-balanced loss); ``None`` never weights.

Run facts. Every constructor also accepts the facts a run passes to any loss: ``num_classes`` (checked
against ``class_counts``), ``balanced_batches`` (a warning: these losses already correct for the
imbalance) and ``trained_counts`` (accepted and unused: these methods are defined on the original counts).
"""

from __future__ import annotations

import logging
from typing import Optional, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from balancelab.errors import ConfigError
from balancelab.loss_terms import FocalLoss, effective_number_weights

log = logging.getLogger("balancelab")

DEFAULT_BETA = 0.9999  # Cui et al. 2019 and the LDAM-DRW code


def validated_counts(class_counts, *, loss: str, num_classes: Optional[int] = None) -> np.ndarray:
    """``class_counts`` as a float array, after checking it is a list of >= 2 non-negative integers."""
    try:
        counts = np.asarray(list(class_counts), dtype=np.float64)
    except (TypeError, ValueError):
        raise ConfigError(f"loss={loss}: class_counts must be a list of per-class training counts; "
                          f"got {class_counts!r}.") from None
    if counts.ndim != 1 or len(counts) < 2:
        raise ConfigError(f"loss={loss}: class_counts must list one count per class (at least 2 classes); "
                          f"got {class_counts!r}.")
    if not np.all(np.isfinite(counts)) or np.any(counts < 0) or np.any(counts != np.round(counts)):
        raise ConfigError(f"loss={loss}: class_counts must be non-negative integers; got {class_counts!r}.")
    if not counts.any():
        raise ConfigError(f"loss={loss}: every class count is 0; the training split has no samples.")
    if num_classes is not None and int(num_classes) != len(counts):
        raise ConfigError(f"loss={loss}: class_counts lists {len(counts)} classes but num_classes={num_classes}. "
                          f"Pass the counts of the training split, one per class.")
    return counts


def log_prior(counts: np.ndarray) -> np.ndarray:
    """log pi_j = log(n_j / N), an absent class counted as 1 sample (see the module docstring)."""
    floored = np.maximum(counts, 1.0)
    return np.log(floored / floored.sum())


def ldam_margins(counts: np.ndarray, max_margin: float) -> np.ndarray:
    """Delta_j = C / n_j^(1/4), C such that the rarest present class gets ``max_margin``."""
    present = counts > 0
    raw = np.zeros_like(counts)
    raw[present] = counts[present] ** -0.25
    margins = raw * (max_margin / raw[present].max())
    margins[~present] = max_margin
    return margins


def _positive(value, name: str, loss: str, allow_zero: bool = False) -> float:
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"loss={loss}: {name} must be a number; got {value!r}.") from None
    if not np.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
        rule = ">= 0" if allow_zero else "> 0"
        raise ConfigError(f"loss={loss}: {name} must be a finite number {rule}; got {value}.")
    return value


def _double_correction_warning(loss: str, balanced_batches: bool) -> list:
    if not balanced_batches:
        return []
    message = (f"loss={loss} corrects for the original class imbalance, but the batches are already "
               f"class-balanced (by the balancing technique): a double correction that favours the rare "
               f"classes twice. Use balancing=none with this loss unless that is intended.")
    log.warning("%s", message)
    return [message]


class DeferredReweighting(nn.Module):
    """Base of the losses with class weights that can start at an epoch (DRW, Cao et al. 2019).

    The weights are effective-number weights (Cui et al. 2019) of the original counts; before
    ``drw_epoch`` finished epochs the loss is unweighted. Subclasses read ``self.class_weight``.
    """

    def __init__(self, *, class_counts, loss: str, drw_epoch: Optional[int], beta: float,
                 num_classes: Optional[int] = None, balanced_batches: bool = False):
        super().__init__()
        self.loss_name = loss
        self.counts = validated_counts(class_counts, loss=loss, num_classes=num_classes)
        numeric = isinstance(drw_epoch, (int, float, np.integer, np.floating)) and not isinstance(drw_epoch, bool)
        if drw_epoch is not None and not (numeric and float(drw_epoch).is_integer() and drw_epoch >= 0):
            raise ConfigError(f"loss={loss}: drw_epoch must be an integer >= 0 (finished epochs before the "
                              f"class weights start; 0 = from the start) or null (never); got {drw_epoch!r}.")
        self.drw_epoch = None if drw_epoch is None else int(drw_epoch)
        self.beta = float(beta)
        self.warnings = _double_correction_warning(loss, balanced_batches) if self.drw_epoch is not None else []
        # Validated by effective_number_weights (beta in [0, 1)) even when drw_epoch is None.
        weights = torch.tensor(effective_number_weights(self.counts, self.beta), dtype=torch.float32)
        self.register_buffer("balanced_weight", weights)
        self.epoch = 1  # before the loop says otherwise: the first epoch
        self._announced = False

    def set_epoch(self, epoch: int) -> None:
        """Called by the training loop at the start of each (1-based) epoch."""
        self.epoch = int(epoch)
        if self.reweighting and not self._announced and self.drw_epoch:
            log.info("loss=%s: class-balanced weights from epoch %d on (deferred re-weighting).",
                     self.loss_name, self.epoch)
        self._announced = self._announced or self.reweighting

    def deferred_start(self):
        """For the loop's report of a run that ends before the weights begin (None: weighted from the start, or never)."""
        return ("class-balanced re-weighting", "loss.drw_epoch", self.drw_epoch) if self.drw_epoch else None

    @property
    def reweighting(self) -> bool:
        return self.drw_epoch is not None and self.epoch > self.drw_epoch

    @property
    def class_weight(self) -> Optional[torch.Tensor]:
        return self.balanced_weight if self.reweighting else None

    def _weighting_facts(self) -> dict:
        return {"class_counts": [int(c) for c in self.counts], "drw_epoch": self.drw_epoch, "beta": self.beta,
                "deferred_weights": self.balanced_weight.tolist() if self.drw_epoch is not None else None,
                "class_weights": None if self.class_weight is None else self.class_weight.tolist(),
                "counts_from": "original training split", "warnings": list(self.warnings)}


class CrossEntropyDRW(DeferredReweighting):
    """Cross-entropy, unweighted until ``drw_epoch`` finished epochs, then with effective-number weights.

    Weighted like ``nn.CrossEntropyLoss(weight=...)`` (a weighted mean), as in the LDAM-DRW code.
    """

    def __init__(self, *, class_counts: Sequence[int], drw_epoch: Optional[int] = None,
                 beta: float = DEFAULT_BETA, label_smoothing: float = 0.0, num_classes: Optional[int] = None,
                 balanced_batches: bool = False, trained_counts=None):
        super().__init__(class_counts=class_counts, loss="ce_drw", drw_epoch=drw_epoch, beta=beta,
                         num_classes=num_classes, balanced_batches=balanced_batches)
        if not 0 <= float(label_smoothing) < 1:
            raise ConfigError(f"loss=ce_drw: label_smoothing must be in [0, 1); got {label_smoothing}.")
        self.label_smoothing = float(label_smoothing)

    def per_sample(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Each sample's loss with its class weight, not normalised (mixed batches: training.mixing.mixed_loss)."""
        return F.cross_entropy(logits.float(), target, weight=self.class_weight,
                               label_smoothing=self.label_smoothing, reduction="none")

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(logits.float(), target, weight=self.class_weight,
                               label_smoothing=self.label_smoothing)

    def describe(self) -> dict:
        return {"type": "cross_entropy", "label_smoothing": self.label_smoothing, **self._weighting_facts()}


class ClassBalancedFocalLoss(DeferredReweighting):
    """Focal loss with effective-number class weights as its alpha (Cui et al. 2019).

    ``drw_epoch=0`` (default): weighted from the start, the class-balanced focal loss. ``drw_epoch=k``:
    plain focal loss for k epochs, then weighted (focal + DRW). The focal term is
    ``losses.FocalLoss`` (softmax focal, alpha_t * (1 - p_t)^gamma * CE, mean over the batch; Cui et al.
    used the sigmoid form). gamma defaults to 1.0, the LDAM-DRW code's focal loss on CIFAR.
    """

    def __init__(self, *, class_counts: Sequence[int], gamma: float = 1.0, beta: float = DEFAULT_BETA,
                 drw_epoch: Optional[int] = 0, num_classes: Optional[int] = None, balanced_batches: bool = False,
                 trained_counts=None):
        super().__init__(class_counts=class_counts, loss="cb_focal", drw_epoch=drw_epoch, beta=beta,
                         num_classes=num_classes, balanced_batches=balanced_batches)
        self.focal = FocalLoss(gamma=gamma)  # validates gamma >= 0

    def per_sample(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        self.focal.alpha = self.class_weight  # a buffer of FocalLoss: None = unweighted
        return self.focal.per_sample(logits, target)

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        self.focal.alpha = self.class_weight  # a buffer of FocalLoss: None = unweighted
        return self.focal(logits, target)

    def describe(self) -> dict:
        return {"type": "class_balanced_focal", "gamma": self.focal.gamma, **self._weighting_facts()}


class LDAMLoss(DeferredReweighting):
    """Label-distribution-aware margin loss (Cao et al., NeurIPS 2019).

    CE on ``scale * (z - Delta_y e_y)``: the true class's logit is lowered by its margin
    Delta_j = C / n_j^(1/4), C such that the largest margin is ``max_margin``. ``weight``: fixed
    per-class weights; ``drw_epoch``: effective-number weights after that many epochs (LDAM-DRW).
    The paper pairs it with a normalised (cosine) classifier, whose logits lie in [-1, 1] — hence
    ``scale=30``; on an ordinary linear layer a smaller scale may suit better.
    """

    def __init__(self, *, class_counts: Sequence[int], max_margin: float = 0.5, scale: float = 30.0,
                 weight: Optional[Sequence[float]] = None, drw_epoch: Optional[int] = None,
                 beta: float = DEFAULT_BETA, num_classes: Optional[int] = None, balanced_batches: bool = False,
                 trained_counts=None):
        super().__init__(class_counts=class_counts, loss="ldam", drw_epoch=drw_epoch, beta=beta,
                         num_classes=num_classes, balanced_batches=balanced_batches)
        self.max_margin = _positive(max_margin, "max_margin", "ldam", allow_zero=True)
        self.scale = _positive(scale, "scale", "ldam")
        self.logit_scale = self.scale  # the model's outputs times this are the logits (for probabilities)
        if weight is not None and drw_epoch is not None:
            raise ConfigError("loss=ldam: give either fixed class weights (weight) or deferred re-weighting "
                              f"(drw_epoch), not both; got weight={list(weight)} and drw_epoch={drw_epoch}.")
        fixed = None
        if weight is not None:
            fixed = torch.as_tensor([float(w) for w in weight], dtype=torch.float32)
            if len(fixed) != len(self.counts) or not torch.all(torch.isfinite(fixed)) or torch.any(fixed < 0):
                raise ConfigError(f"loss=ldam: weight must list {len(self.counts)} finite non-negative numbers, "
                                  f"one per class; got {list(weight)}.")
        self.register_buffer("fixed_weight", fixed)
        margins = torch.tensor(ldam_margins(self.counts, self.max_margin), dtype=torch.float32)
        self.register_buffer("margins", margins)

    @property
    def class_weight(self) -> Optional[torch.Tensor]:
        return self.fixed_weight if self.fixed_weight is not None else super().class_weight

    def _margin_logits(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        logits = logits.float()
        true_class = F.one_hot(target, logits.shape[1]).to(logits.dtype)
        return self.scale * (logits - true_class * self.margins[target].unsqueeze(1))

    def per_sample(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Each sample's loss with its class weight, not normalised (mixed batches: training.mixing.mixed_loss)."""
        return F.cross_entropy(self._margin_logits(logits, target), target, weight=self.class_weight, reduction="none")

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(self._margin_logits(logits, target), target, weight=self.class_weight)

    def describe(self) -> dict:
        return {"type": "ldam", "max_margin": self.max_margin, "scale": self.scale,
                "margins": self.margins.tolist(), **self._weighting_facts()}


class _PriorOffsetLoss(nn.Module):
    """CE on ``logits + offset``, a fixed per-class offset derived from the class counts."""

    def __init__(self, offset: np.ndarray):
        super().__init__()
        self.register_buffer("offset", torch.tensor(offset, dtype=torch.float32))

    def per_sample(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(logits.float() + self.offset, target, reduction="none")

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(logits.float() + self.offset, target)


class LogitAdjustedLoss(_PriorOffsetLoss):
    """Logit-adjusted loss (Menon et al., ICLR 2021): CE on z + tau * log(pi), pi the training prior.

    At test time the plain logits are used: the adjustment during training makes them estimate the
    balanced (class-uniform) posterior. tau = 0 is plain CE.
    """

    def __init__(self, *, class_counts: Sequence[int], tau: float = 1.0, num_classes: Optional[int] = None,
                 balanced_batches: bool = False, trained_counts=None):
        counts = validated_counts(class_counts, loss="logit_adjusted", num_classes=num_classes)
        self.tau = _positive(tau, "tau", "logit_adjusted", allow_zero=True)
        super().__init__(self.tau * log_prior(counts))
        self.counts = counts
        self.warnings = _double_correction_warning("logit_adjusted", balanced_batches) if self.tau else []

    def prior_correction(self) -> Optional[str]:
        """What the loss does to the prior in training, for the post-hoc adjustment's note (None at tau = 0)."""
        return f"loss=logit_adjusted adds tau * log(prior) (tau = {self.tau:g}) to the logits" if self.tau else None

    def describe(self) -> dict:
        return {"type": "logit_adjusted", "tau": self.tau, "class_counts": [int(c) for c in self.counts],
                "log_prior": log_prior(self.counts).tolist(), "counts_from": "original training split",
                "absent_classes_counted_as": 1, "warnings": list(self.warnings)}


class BalancedSoftmaxLoss(_PriorOffsetLoss):
    """Balanced Softmax (Ren et al., NeurIPS 2020): CE on z + log(n_j).

    log n_j = log pi_j + log N, a constant shift of every logit, so this is exactly the logit-adjusted
    loss with tau = 1.
    """

    def __init__(self, *, class_counts: Sequence[int], num_classes: Optional[int] = None,
                 balanced_batches: bool = False, trained_counts=None):
        counts = validated_counts(class_counts, loss="balanced_softmax", num_classes=num_classes)
        super().__init__(np.log(np.maximum(counts, 1.0)))
        self.counts = counts
        self.warnings = _double_correction_warning("balanced_softmax", balanced_batches)

    def prior_correction(self) -> Optional[str]:
        return "loss=balanced_softmax adds log(n_j) (logit adjustment with tau = 1) to the logits"

    def describe(self) -> dict:
        return {"type": "balanced_softmax", "class_counts": [int(c) for c in self.counts],
                "log_counts": self.offset.tolist(), "counts_from": "original training split",
                "absent_classes_counted_as": 1, "warnings": list(self.warnings)}
