"""Post-hoc corrections of a trained classifier, free in every run: no retraining.

- Post-hoc logit adjustment (Menon et al., ICLR 2021): predict argmax_j z_j - tau * log pi_j, pi the
  prior of the batches the model was trained under (after balancing; training/batch_prior.py); tau = 1 is
  the Bayes-optimal rule for the balanced error if softmax(z) estimates the training posterior.
- tau-normalisation (Kang et al., ICLR 2020): rescale each class's weight vector of the final linear
  layer, w_j / ||w_j||^tau; long-tailed training leaves the frequent classes with larger norms. As the
  authors' tau_norm.py (facebookresearch/classifier-balancing): scores x . w_j / ||w_j||^tau *without*
  the trained bias, over tau in linspace(0, 2, 21).

tau is chosen on the *validation* split (the metric the run selects epochs by, macro-F1, ties to the
smaller tau: the milder correction); the test split is scored once, at that tau, and never looked at
before. For logit adjustment tau = 0 is the uncorrected model, and its grid must contain it, so a
correction is only applied when validation prefers it to none; for tau-normalisation tau = 0 is the
trained weights without their bias (the reference's scores), so its row can differ from the model's.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, Optional, Sequence

import numpy as np
import torch
from torch import nn

from balancelab.errors import ConfigError, DataError
from balancelab.evaluation.forward import forward_pass
from balancelab.evaluation.metrics import split_scores
from balancelab.longtail_losses import log_prior

DEFAULT_TAUS = tuple(float(t) for t in np.arange(0.0, 2.0001, 0.25))   # 0, 0.25, ..., 2
# tau_norm.py's grid, `for p in np.linspace(0, 2, 21)` (rounded so that the summary's keys read 0.1, not 0.1000...02)
TAU_NORM_TAUS = tuple(round(float(t), 10) for t in np.linspace(0.0, 2.0, 21))   # 0, 0.1, ..., 2
SELECTION_METRICS = ("macro_f1", "balanced_accuracy", "accuracy")


@dataclass
class PosthocResult:
    """The chosen tau, its validation scores over the grid, and the test predictions and scores at it."""

    method: str
    tau: float
    metric: str
    val_scores: Dict[float, float]
    test_predictions: np.ndarray = field(repr=False)
    test_metrics: Dict[str, float]
    chosen_on: str = "validation"

    def summary(self) -> dict:
        """JSON-able facts for experiment_summary.json (predictions left out)."""
        out = {"method": self.method, "tau": self.tau, "chosen_on": self.chosen_on, "selection_metric": self.metric,
               "val_scores": {str(t): s for t, s in self.val_scores.items()}, "test": dict(self.test_metrics)}
        if len(self.val_scores) > 1 and self.tau == max(self.val_scores):
            # The best tau is the largest tried: validation may prefer a stronger correction than the grid holds.
            out["note"] = (f"tau {self.tau:g} is the largest of the grid ({min(self.val_scores):g} to "
                           f"{max(self.val_scores):g}): validation might prefer a stronger correction")
        return out


def _check_grid(taus: Sequence[float], method: str, need_zero: bool = True) -> list:
    try:
        grid = sorted({float(t) for t in taus})
    except (TypeError, ValueError):
        raise ConfigError(f"posthoc {method}: taus must be a list of numbers; got {taus!r}.") from None
    if not grid or not all(np.isfinite(grid)):
        raise ConfigError(f"posthoc {method}: taus must be a non-empty list of finite numbers; got {list(taus)}.")
    if need_zero and 0.0 not in grid:
        raise ConfigError(f"posthoc {method}: taus must include 0 (the uncorrected model) so that validation can "
                          f"prefer no correction; got {list(taus)}. Add 0 to the grid.")
    return grid


def _labels(labels, n: int, split: str) -> np.ndarray:
    labels = np.asarray(labels, dtype=np.int64).reshape(-1)
    if len(labels) != n:
        raise DataError(f"posthoc: the {split} split has {n} outputs but {len(labels)} labels.")
    if split == "validation" and n == 0:
        raise DataError("posthoc: the validation split is empty, so no tau can be chosen. Use a validation split.")
    return labels


def _two_columns(logits: np.ndarray) -> np.ndarray:
    """A single binary logit z (BCE) as the two logits [0, z]: softmax([0, z]) = [1 - sigmoid z, sigmoid z]."""
    logits = np.asarray(logits, dtype=np.float64)
    if logits.ndim != 2:
        raise DataError(f"posthoc: logits must be a (samples, classes) array; got shape {logits.shape}.")
    return np.concatenate([np.zeros_like(logits), logits], 1) if logits.shape[1] == 1 else logits


def _choose(predict, val_labels: np.ndarray, grid: list, metric: str) -> tuple[float, Dict[float, float]]:
    if metric not in SELECTION_METRICS:
        raise ConfigError(f"posthoc: metric must be one of {SELECTION_METRICS}; got {metric!r}.")
    scores = {tau: split_scores(val_labels, predict(tau))[metric] for tau in grid}
    best = max(scores.values())
    return next(tau for tau in grid if scores[tau] == best), scores  # ties: the smallest tau


def _prior_counts(class_counts, classes: int) -> np.ndarray:
    """Per-class counts of the training batches: non-negative, finite, fractional allowed (expected draws)."""
    try:
        counts = np.asarray(list(class_counts), dtype=np.float64)
    except (TypeError, ValueError):
        counts = np.asarray([np.nan])
    if counts.ndim != 1 or len(counts) != classes or not np.all(np.isfinite(counts)) or np.any(counts < 0) \
            or not counts.any():
        raise ConfigError(f"posthoc logit adjustment: class_counts must be non-negative finite numbers, one per "
                          f"class ({classes}), not all 0 (the prior the model was trained under); got "
                          f"{list(class_counts) if np.ndim(class_counts) else class_counts!r}.")
    return counts


def adjusted_logits(logits: np.ndarray, class_counts: Sequence[float], tau: float) -> np.ndarray:
    """z - tau * log pi, pi from ``class_counts`` (an absent class counted as one sample, as in the
    logit-adjusted loss; fractional counts, e.g. the expected draws of a weighted sampler, are fine)."""
    logits = _two_columns(logits)
    return logits - float(tau) * log_prior(_prior_counts(class_counts, logits.shape[1]))


def posthoc_logit_adjustment(*, val_logits, val_labels, test_logits, test_labels, class_counts: Sequence[float],
                             taus: Sequence[float] = DEFAULT_TAUS, metric: str = "macro_f1") -> PosthocResult:
    """Post-hoc logit adjustment with tau chosen on validation; ``class_counts``: the class counts of the
    batches the model was trained under (training/batch_prior.py), which give the prior pi."""
    grid = _check_grid(taus, "logit adjustment")
    val_logits, test_logits = _two_columns(val_logits), _two_columns(test_logits)
    val_labels = _labels(val_labels, len(val_logits), "validation")
    test_labels = _labels(test_labels, len(test_logits), "test")
    tau, scores = _choose(lambda t: adjusted_logits(val_logits, class_counts, t).argmax(1), val_labels, grid, metric)
    test_pred = adjusted_logits(test_logits, class_counts, tau).argmax(1)
    return PosthocResult("logit_adjustment", tau, metric, scores, test_pred, split_scores(test_labels, test_pred))


def tau_normalised_weight(weight: torch.Tensor, tau: float) -> torch.Tensor:
    """w_j / ||w_j||^tau for each class's row of a linear layer's (classes, features) weight.

    A row of norm 0 stays 0 (its norm is floored at 1e-12 so that 0 / 0^tau is not NaN).
    """
    norms = weight.norm(dim=1, keepdim=True).clamp_min(1e-12)
    return weight / norms.pow(float(tau))


def tau_normalised_logits(features: torch.Tensor, weight: torch.Tensor, tau: float) -> torch.Tensor:
    """Scores of the tau-normalised classifier, x . w_j / ||w_j||^tau, without a bias: as Kang et al.'s
    tau_norm.py scores them (its dot product leaves the checkpoint's bias out at every tau)."""
    return features @ tau_normalised_weight(weight, tau).T


def tau_normalisation(*, weight, val_features, val_labels, test_features, test_labels,
                      taus: Sequence[float] = TAU_NORM_TAUS, metric: str = "macro_f1") -> PosthocResult:
    """tau-normalisation of a final linear layer's ``weight`` (C, D) (its bias is not used), tau chosen on
    validation from the features that enter the layer."""
    grid = _check_grid(taus, "tau-normalisation", need_zero=False)
    weight = torch.as_tensor(weight, dtype=torch.float64).detach().cpu()
    val_x = torch.as_tensor(val_features, dtype=torch.float64).cpu()
    test_x = torch.as_tensor(test_features, dtype=torch.float64).cpu()
    for name, x in (("validation", val_x), ("test", test_x)):
        if x.ndim != 2 or x.shape[1] != weight.shape[1]:
            raise DataError(f"posthoc tau-normalisation: {name} features must be (samples, {weight.shape[1]}) to "
                            f"match the layer's weight {tuple(weight.shape)}; got {tuple(x.shape)}.")
    val_labels = _labels(val_labels, len(val_x), "validation")
    test_labels = _labels(test_labels, len(test_x), "test")

    def predict(x, tau):
        return _two_columns(tau_normalised_logits(x, weight, tau).numpy()).argmax(1)

    tau, scores = _choose(lambda t: predict(val_x, t), val_labels, grid, metric)
    test_pred = predict(test_x, tau)
    return PosthocResult("tau_normalisation", tau, metric, scores, test_pred, split_scores(test_labels, test_pred))


def model_outputs(model: nn.Module, data, batch_size: int, *, features: bool = True
                  ) -> tuple[np.ndarray, Optional[np.ndarray]]:
    """(logits, features entering the final linear layer) for every sample of ``data`` (a DeviceImages), in
    float32 and in order, with the model in eval mode (one ``forward_pass``).

    ``features=False``: logits only (features None), for any model, also one without a final nn.Linear
    (e.g. resnet32's cosine classifier): all that post-hoc logit adjustment needs.
    """
    outputs = forward_pass(model, data, batch_size, features=features, strict=True)
    return outputs.logits, outputs.features


