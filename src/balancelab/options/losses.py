"""Loss options. Contract: the factory named by ``_target_`` returns an ``nn.Module`` criterion(logits, target)
and is called with its own keys plus, where its signature takes them: ``num_classes``, ``class_counts`` (the
training split's counts before balancing), ``trained_counts`` (after balancing) and ``balanced_batches``
(True when the trainer draws class-balanced batches). A criterion with ``output_units = 1`` makes the model
output one logit (binary cross-entropy); ``describe()`` (optional) adds facts to the run's summary.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, List, Optional

from balancelab.options.fields import components, field_default, option

WEIGHTS_FROM_HELP = ("class counts the weights come from: original (the training split before balancing) or "
                     "trained (the distribution the batches have after balancing)")


@dataclass
class LossBase:
    _target_: str = "???"
    name: str = "???"


DRW_HELP = ("deferred re-weighting (Cao et al. 2019): unweighted until this many epochs have finished, then "
            "class-balanced weights by effective number; null = never")
DRW_BETA_HELP = "effective-number beta of the deferred class-balanced weights (Cui et al. 2019)"


@dataclass
class CrossEntropy(LossBase):
    _target_: str = "balancelab.losses.cross_entropy"
    name: str = "ce"
    label_smoothing: float = option(0.0, "label smoothing of the targets", ge=0.0, lt=1.0)
    drw_epoch: Optional[int] = option(None, DRW_HELP, ge=0)
    drw_beta: float = option(0.9999, DRW_BETA_HELP, ge=0.0, lt=1.0)


@dataclass
class WeightedCrossEntropy(LossBase):
    _target_: str = "balancelab.losses.weighted_cross_entropy"
    name: str = "weighted_ce"
    weighting: str = option("inverse_frequency", "inverse_frequency (1/n_c) or effective_number (Cui et al. 2019)",
                            choices=("inverse_frequency", "effective_number"))
    beta: float = option(0.999, "effective-number beta (weighting=effective_number)", ge=0.0, lt=1.0)
    label_smoothing: float = option(0.0, "label smoothing of the targets", ge=0.0, lt=1.0)
    weights_from: str = option("original", WEIGHTS_FROM_HELP, choices=("original", "trained"))

    @classmethod
    def cross_check(cls, node) -> List[str]:
        if node.get("weighting") == "inverse_frequency" and node.get("beta") != field_default(cls, "beta"):
            return ["'loss.beta' is used only with loss.weighting=effective_number; with inverse_frequency it does "
                    "nothing. Set loss.weighting=effective_number or remove loss.beta."]
        return []


@dataclass
class Focal(LossBase):
    _target_: str = "balancelab.losses.focal"
    name: str = "focal"
    gamma: float = option(2.0, "focusing parameter (0 with alpha=null is exactly CE)", ge=0.0)
    alpha: Any = option(None, "null, a number (binary: the positive class's weight), a per-class list, or 'balanced'")
    weights_from: str = option("original", WEIGHTS_FROM_HELP + " (alpha=balanced)", choices=("original", "trained"))
    drw_epoch: Optional[int] = option(None, DRW_HELP + " (replaces alpha)", ge=0)
    drw_beta: float = option(0.9999, DRW_BETA_HELP, ge=0.0, lt=1.0)

    @staticmethod
    def cross_check(node) -> List[str]:
        if node.get("weights_from") != "original" and node.get("alpha") != "balanced":
            return ["'loss.weights_from' is used only with loss.alpha=balanced (the weights it computes); here it "
                    "does nothing. Set loss.alpha=balanced or remove loss.weights_from."]
        if node.get("drw_epoch") is not None and node.get("alpha") is not None:
            return ["loss.alpha and loss.drw_epoch both weight the classes; set one of them (loss.alpha=null to use "
                    "deferred re-weighting)."]
        alpha = node.get("alpha")
        ok = (alpha is None or alpha == "balanced" or (isinstance(alpha, (int, float)) and not isinstance(alpha, bool)
              and alpha >= 0) or (isinstance(alpha, list) and alpha
                                 and all(isinstance(a, (int, float)) and not isinstance(a, bool) and a >= 0 for a in alpha)))
        if not ok:
            return [f"'loss.alpha' must be null, a number >= 0, a list of per-class numbers >= 0, or 'balanced'; "
                    f"got {alpha!r}. Fix it with loss.alpha=balanced (or loss.alpha=null)."]
        return []


@dataclass
class BinaryCrossEntropy(LossBase):
    _target_: str = "balancelab.losses.binary_cross_entropy"
    name: str = "bce"
    pos_weight: Any = option("auto", "null (no weighting), auto (n_negative / n_positive) or a number")

    @staticmethod
    def cross_check(node) -> List[str]:
        value = node.get("pos_weight")
        if value is None or value == "auto" or (isinstance(value, (int, float)) and not isinstance(value, bool)
                                                 and value > 0):
            return []
        return [f"'loss.pos_weight' must be null, auto or a number > 0; got {value!r}. Fix it with loss.pos_weight=auto."]
    weights_from: str = option("original", WEIGHTS_FROM_HELP + " (pos_weight=auto)", choices=("original", "trained"))

    two_classes_only = True  # class attributes, not keys: the validation pass checks the dataset,
    output_units = 1         # and that nothing needs one output per class (cRT); the criterion says the same


@dataclass
class LDAM(LossBase):
    _target_: str = "balancelab.longtail_losses.LDAMLoss"
    name: str = "ldam"
    max_margin: float = option(0.5, "largest per-class margin (the rarest class's); margins C / n_j^(1/4)", gt=0.0)
    scale: float = option(30.0, "logit scale s (30 with a cosine classifier, as in the paper)", gt=0.0)
    drw_epoch: Optional[int] = option(None, DRW_HELP, ge=0)
    beta: float = option(0.9999, DRW_BETA_HELP, ge=0.0, lt=1.0)
    weight: Optional[List[float]] = option(None, "fixed per-class weights, one per class in class order (null = "
                                           "none); not with drw_epoch")

    @staticmethod
    def cross_check(node) -> List[str]:
        if node.get("weight") is not None and node.get("drw_epoch") is not None:
            return ["loss=ldam: give either fixed class weights (loss.weight) or deferred re-weighting "
                    "(loss.drw_epoch), not both. Remove one of them."]
        return []


@dataclass
class LogitAdjusted(LossBase):
    _target_: str = "balancelab.longtail_losses.LogitAdjustedLoss"
    name: str = "logit_adjusted"
    tau: float = option(1.0, "CE on logits + tau * log(prior) (Menon et al. 2021); 0 is plain CE", ge=0.0)


@dataclass
class BalancedSoftmax(LossBase):
    _target_: str = "balancelab.longtail_losses.BalancedSoftmaxLoss"
    name: str = "balanced_softmax"


@dataclass
class ClassBalancedFocal(LossBase):
    _target_: str = "balancelab.longtail_losses.ClassBalancedFocalLoss"
    name: str = "cb_focal"
    gamma: float = option(1.0, "focal focusing parameter", ge=0.0)
    beta: float = option(0.9999, "effective-number beta of the class-balanced weights (Cui et al. 2019)", ge=0.0, lt=1.0)
    drw_epoch: Optional[int] = option(0, "epochs before the class-balanced weights start (0 = from the start)", ge=0)


SCHEMAS = components(globals(), LossBase)
