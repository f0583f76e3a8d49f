"""Mixup (Zhang et al., ICLR 2018) and Remix (Chou et al., ECCV workshops 2020), batched on the device.

A batch is mixed with a shuffled copy of itself: x~ = lam * x_a + (1 - lam) * x_b, one lam ~ Beta(alpha,
alpha) per batch as in the mixup paper. The target is the pair of labels (a, b) and the weight of a
per sample: lam for mixup; for Remix the weight moves to the minority class when the two classes' counts
differ by a factor kappa or more and the minority's share of the image is not too small (see
``remix_label_weight``). A loss consumes it through ``mixed_loss``: the batch mean of
w * loss(a) + (1 - w) * loss(b), each per-sample loss with its class weight (the Remix-DRW reference).

All random draws come from the training loop's CPU generator, so a mixed run is reproducible and
resumes exactly like an unmixed one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np
import torch

from balancelab.errors import ConfigError, DataError
from balancelab.options.targets import accepted_parameters, target_of


@dataclass
class MixedTargets:
    """Two labels per sample and the weight of the first: target = w * e_first + (1 - w) * e_second."""

    first: torch.Tensor    # (N,) labels of the batch
    second: torch.Tensor   # (N,) labels of the samples mixed in
    weight: torch.Tensor   # (N,) float, the weight of ``first`` in [0, 1]

    def __len__(self) -> int:
        return len(self.first)

    @property
    def dominant(self) -> torch.Tensor:
        """The label with the larger weight (the first on a tie): what training accuracy is counted on."""
        return torch.where(self.weight >= 0.5, self.first, self.second)


def _check_alpha(alpha, method: str) -> float:
    try:
        alpha = float(alpha)
    except (TypeError, ValueError):
        raise ConfigError(f"augmentation.mixup={method}: alpha must be a number > 0; got {alpha!r}.") from None
    if not np.isfinite(alpha) or alpha <= 0:
        raise ConfigError(f"augmentation.mixup={method}: alpha must be a finite number > 0 (the Beta(alpha, alpha) "
                          f"of the mixing weight; 1.0 is uniform); got {alpha}.")
    return alpha


def _draw(n: int, alpha: float, generator: Optional[torch.Generator], device) -> tuple[float, torch.Tensor]:
    """lam ~ Beta(alpha, alpha) and a permutation, both from ``generator`` (torch has no seeded Beta sampler:
    a seed drawn from the generator feeds NumPy's)."""
    seed = int(torch.randint(0, 2 ** 62, (1,), generator=generator).item())
    lam = float(np.random.default_rng(seed).beta(alpha, alpha))
    perm = torch.randperm(n, generator=generator).to(device)
    return lam, perm


def mixup(x: torch.Tensor, y: torch.Tensor, *, alpha: float, generator: Optional[torch.Generator] = None
          ) -> tuple[torch.Tensor, MixedTargets]:
    """Mixed inputs and targets, one lam per batch (label weight lam for every sample)."""
    alpha = _check_alpha(alpha, "mixup")
    lam, perm = _draw(len(x), alpha, generator, x.device)
    mixed = lam * x + (1.0 - lam) * x[perm]
    return mixed, MixedTargets(y, y[perm], torch.full((len(y),), lam, dtype=torch.float32, device=y.device))


def remix_label_weight(lam: float, counts_first: torch.Tensor, counts_second: torch.Tensor, *, kappa: float,
                       tau: float) -> torch.Tensor:
    """Remix's label weight of the first label (Chou et al. 2020, eq. 4), per sample:

    0   if n_first / n_second >= kappa and lam < tau          (first is the majority, second gets the label)
    1   if n_first / n_second <= 1 / kappa and 1 - lam < tau  (first is the minority, it keeps the label)
    lam otherwise (as mixup).
    """
    ratio = counts_first.double() / counts_second.double()
    weight = torch.full(ratio.shape, float(lam), dtype=torch.float32, device=ratio.device)
    weight = torch.where((ratio >= kappa) & (lam < tau), torch.zeros_like(weight), weight)
    return torch.where((ratio <= 1.0 / kappa) & (1.0 - lam < tau), torch.ones_like(weight), weight)


def remix(x: torch.Tensor, y: torch.Tensor, *, alpha: float, class_counts: Sequence[int], kappa: float = 3.0,
          tau: float = 0.5, generator: Optional[torch.Generator] = None) -> tuple[torch.Tensor, MixedTargets]:
    """Mixup's inputs with Remix's labels; ``class_counts``: the original training counts."""
    alpha = _check_alpha(alpha, "remix")
    counts = _check_remix(class_counts, kappa, tau)
    counts = torch.as_tensor(counts, dtype=torch.float64, device=y.device)
    if len(y) and int(y.max()) >= len(counts):
        raise DataError(f"remix: a label ({int(y.max())}) has no entry in class_counts ({len(counts)} classes).")
    if len(y) and bool((counts[y] <= 0).any()):
        raise DataError("remix: a training label has class count 0; class_counts must be the training split's.")
    lam, perm = _draw(len(x), alpha, generator, x.device)
    mixed = lam * x + (1.0 - lam) * x[perm]
    weight = remix_label_weight(lam, counts[y], counts[y[perm]], kappa=kappa, tau=tau)
    return mixed, MixedTargets(y, y[perm], weight)


def _check_remix(class_counts, kappa, tau) -> np.ndarray:
    counts = np.asarray(list(class_counts), dtype=np.float64)
    if counts.ndim != 1 or len(counts) < 2 or np.any(counts < 0) or not np.all(np.isfinite(counts)):
        raise ConfigError(f"augmentation.mixup=remix: class_counts must list a non-negative count per class; "
                          f"got {class_counts!r}.")
    if not float(kappa) >= 1:
        raise ConfigError(f"augmentation.mixup=remix: kappa must be >= 1 (the count ratio from which a pair "
                          f"counts as majority/minority; the paper uses 3); got {kappa}.")
    if not 0 <= float(tau) <= 1:
        raise ConfigError(f"augmentation.mixup=remix: tau must be in [0, 1] (the paper uses 0.5); got {tau}.")
    return counts


def per_sample_losses(criterion, logits: torch.Tensor, target: torch.Tensor) -> Optional[torch.Tensor]:
    """The criterion's (N,) per-sample losses, each with its class weight and without the batch's normalisation
    (a weighted mean divides by the sum of the weights): ``criterion.per_sample`` (the built-in losses), or
    torch's ``nn.CrossEntropyLoss``; None for a criterion that offers neither (e.g. a user's loss)."""
    if callable(getattr(criterion, "per_sample", None)):
        return criterion.per_sample(logits, target)
    if type(criterion) is torch.nn.CrossEntropyLoss:
        return torch.nn.functional.cross_entropy(logits.float(), target, weight=criterion.weight,
                                                 ignore_index=criterion.ignore_index,
                                                 label_smoothing=criterion.label_smoothing, reduction="none")
    return None


def mixed_loss(criterion, logits: torch.Tensor, targets: MixedTargets) -> torch.Tensor:
    """mean_i [w_i * loss(z_i, first_i) + (1 - w_i) * loss(z_i, second_i)]: the plain batch mean of the
    per-sample losses, each carrying its class weight (c_y * CE for a class-weighted CE, DRW or LDAM-DRW).

    This is the Remix-DRW / Mixup-DRW reference (ntucllab/imbalanced-DL: CrossEntropyLoss(weight=...,
    reduction='none') on both labels, then ``.mean()``). An unmixed batch keeps the criterion's own
    reduction (the LDAM-DRW code's weighted mean, sum c_y CE / sum c_y), so a class-weighted criterion
    averages a mixed batch over its size and a plain one over its weights, as the two references do.

    A criterion without per-sample losses (a user's loss) is called once per distinct weight (mixup: one,
    Remix: at most three -- lam, 0 and 1) on the samples with that weight, the groups combined by their
    share of the batch: exactly the formula above for a plain batch mean. A term with weight 0 is not computed.
    """
    loss_a = per_sample_losses(criterion, logits, targets.first)
    if loss_a is not None:
        weight = targets.weight.to(loss_a.dtype)
        loss_b = per_sample_losses(criterion, logits, targets.second)
        # 0 * a finite loss is 0; where() keeps a term of weight 0 out entirely, as the grouped form does
        terms = torch.where(weight > 0, weight * loss_a, 0.0) + torch.where(weight < 1, (1 - weight) * loss_b, 0.0)
        return terms.mean()
    n = len(targets)
    total = logits.new_zeros((), dtype=torch.float32)
    for value in torch.unique(targets.weight).tolist():
        idx = targets.weight == value
        share = idx.sum() / n
        if value > 0:
            total = total + share * value * criterion(logits[idx], targets.first[idx])
        if value < 1:
            total = total + share * (1.0 - value) * criterion(logits[idx], targets.second[idx])
    return total


class Mixup:
    """The ``mix`` callable of TrainSettings for mixup."""

    method = "mixup"  # its augmentation.mixup.method

    def __init__(self, *, alpha: float = 1.0):
        self.alpha = _check_alpha(alpha, "mixup")

    def __call__(self, x, y, generator):
        return mixup(x, y, alpha=self.alpha, generator=generator)

    def describe(self) -> dict:
        return {"method": "mixup", "alpha": self.alpha}


class Remix:
    """The ``mix`` callable of TrainSettings for Remix (``class_counts``: original training counts)."""

    method = "remix"

    def __init__(self, *, class_counts: Sequence[int], alpha: float = 1.0, kappa: float = 3.0, tau: float = 0.5):
        self.alpha = _check_alpha(alpha, "remix")
        self.counts = _check_remix(class_counts, kappa, tau)
        self.kappa, self.tau = float(kappa), float(tau)

    def __call__(self, x, y, generator):
        return remix(x, y, alpha=self.alpha, class_counts=self.counts, kappa=self.kappa, tau=self.tau,
                     generator=generator)

    def describe(self) -> dict:
        return {"method": "remix", "alpha": self.alpha, "kappa": self.kappa, "tau": self.tau,
                "class_counts": [int(c) for c in self.counts]}


BUILT_IN = (Mixup, Remix)  # each names itself by its ``method``; a user's own is named by its dotted path


def mix_class(method: str):
    """The class (or factory) of ``augmentation.mixup.method``: a built-in's ``method`` name, or the dotted
    path of your own (``my_project.mixing.CutMix``: called ``mix(x, y, generator) -> (x, MixedTargets)``)."""
    for cls in BUILT_IN:
        if cls.method == method:
            return cls
    if "." in method:
        return target_of({"_target_": method}, "augmentation.mixup.method")
    raise ConfigError(f"augmentation.mixup.method must be none, {', '.join(c.method for c in BUILT_IN)}, or the "
                      f"dotted path of your own mix class (e.g. my_project.mixing.CutMix); got {method!r}.")


def make_mix(*, method: str, alpha: float, kappa: float, tau: float, class_counts: Sequence[int]):
    """The TrainSettings ``mix`` callable for ``augmentation.mixup`` (None for method none), built with the
    settings its signature takes (a user's CutMix(alpha) gets alpha only)."""
    if method == "none":
        return None

    cls = mix_class(method)
    names, takes_any = accepted_parameters(cls)
    offered = {"alpha": alpha, "kappa": kappa, "tau": tau, "class_counts": class_counts}
    return cls(**{k: v for k, v in offered.items() if takes_any or k in names})
