"""Classifier re-training on a balanced feature matrix: the head half of balancing in feature space.

After the representation is trained, the training split's features (the input of the final linear layer, taken
once with the model in eval mode: evaluation/forward.py) are balanced by any balancing technique
(pipeline/feature_space.py) and a fresh linear head is trained on them here. cRT's optimisation, epoch for
epoch (training/crt.py): a new ``nn.Linear`` (its own initialisation, drawn from the seed), SGD (lr 0.1,
momentum 0.9, weight decay 5e-4) with a cosine decay to 0, plain cross-entropy (the balancing does the
balancing), ``len(rows) // batch_size`` batches an epoch (at least one), and the epoch best on validation
macro-F1 kept (the first of ties). What differs from cRT is where the batches come from:

- by default, a fresh random permutation of the *balanced* feature rows each epoch;
- ``class_balanced_batches`` (a technique that asks the trainer for class-balanced batches, weighted_sampler):
  cRT's class-aware sampler (4 rows a class visit) over the rows as given, i.e. cRT on cached features.

The features are fixed: there is no batch norm in train mode and no online augmentation, which cRT has.
"""

from __future__ import annotations

import copy
import logging
from dataclasses import dataclass
from typing import Callable, Optional, Sequence

import numpy as np
import torch
from torch import nn

from balancelab.errors import ConfigError
from balancelab.evaluation.forward import predicted_labels
from balancelab.evaluation.metrics import split_scores
from balancelab.options.build import build
from balancelab.training.class_aware import ClassAwareSampler
from balancelab.training.crt import (IMAGES_PER_CLASS_VISIT, Retraining, check_retraining, optimiser_step,
                                     seeded_stream, sgd_cosine)

log = logging.getLogger("balancelab")


@dataclass(kw_only=True)
class HeadRetraining(Retraining):
    """The re-trained head (at its best validation epoch) and how it was chosen."""

    head: nn.Linear
    sampling: str = ""


def retrain_head(train_features: np.ndarray, train_labels: np.ndarray, val_features: np.ndarray,
                 val_labels: np.ndarray, *, out_features: int, bias: bool = True, epochs: int, batch_size: int,
                 seed: int, lr: float = 0.1, momentum: float = 0.9, weight_decay: float = 5e-4,
                 class_balanced_batches: bool = False, device: torch.device | str = "cpu",
                 stop_requested: Callable[[], Optional[str]] = lambda: None,
                 criterion: Optional[nn.Module] = None) -> HeadRetraining:
    """A new ``nn.Linear(D, out_features)`` trained on ``(train_features, train_labels)`` (N x D, already
    balanced), the epoch best on ``(val_features, val_labels)`` kept (see the module docstring).

    ``stop_requested`` is asked after every batch: a signal name raises Interrupted (nothing of this stage is
    kept; a rerun starts it over, to the same result). ``criterion``: the loss on the head's logits (default
    plain cross-entropy; the screening mode, pipeline/screening.py, gives each experiment's own loss)."""
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise ConfigError(f"Balancing in feature space: trainer.feature_head_epochs must be an integer >= 1; got "
                          f"{epochs!r}.")
    check_retraining(epochs, batch_size, float(lr), float(momentum), float(weight_decay))
    if len(val_labels) == 0:
        raise ConfigError("Balancing in feature space chooses the head's epoch on validation, but the validation "
                          "split is empty. Give the dataset a validation split (e.g. dataset.val_fraction).")
    if len(train_labels) == 0:
        raise ConfigError("Balancing in feature space left no training rows to train the classifier on.")
    device = torch.device(device)
    X = torch.as_tensor(np.asarray(train_features, dtype=np.float32), device=device)
    y = torch.as_tensor(np.asarray(train_labels, dtype=np.int64), device=device)
    X_val = torch.as_tensor(np.asarray(val_features, dtype=np.float32), device=device)
    with seeded_stream(seed, device):
        head = nn.Linear(X.shape[1], out_features, bias=bias).to(device)  # nn.Linear's own initialisation
    optimizer, schedule = sgd_cosine(head.parameters(), epochs, lr, momentum, weight_decay)
    criterion = nn.CrossEntropyLoss() if criterion is None else criterion.to(device)
    generator = torch.Generator().manual_seed(seed)
    steps = max(1, len(y) // batch_size)
    sampler = ClassAwareSampler(np.asarray(train_labels), IMAGES_PER_CLASS_VISIT, generator) \
        if class_balanced_batches else None
    sampling = (f"class-aware ({IMAGES_PER_CLASS_VISIT} rows a class visit) over the feature rows, {steps} batches "
                f"an epoch" if sampler is not None else
                f"a random permutation of the balanced feature rows each epoch, {steps} batches an epoch")
    result = HeadRetraining(head=head, steps_per_epoch=steps, sampling=sampling)
    best_state = None
    for epoch in range(1, epochs + 1):
        head.train()
        result.lrs.append(optimizer.param_groups[0]["lr"])
        order = None if sampler is not None else torch.randperm(len(y), generator=generator)
        total = 0.0
        for step in range(steps):
            if sampler is not None:
                index = torch.as_tensor(sampler.take(batch_size))
            else:
                index = order[step * batch_size:(step + 1) * batch_size]
            index = index.to(device)
            total += optimiser_step(optimizer, criterion(head(X[index]), y[index]), stop_requested, epoch,
                                    (step + 1) * batch_size, "balancing in feature space")
        schedule.step()
        head.eval()
        with torch.no_grad():
            predictions = predicted_labels(head(X_val)).cpu().numpy()
        if result.keep_if_best(split_scores(np.asarray(val_labels), predictions)["macro_f1"], epoch):
            best_state = copy.deepcopy(head.state_dict())
        log.info("feature-space head epoch %d/%d  loss %.4f  val macro-F1 %.4f", epoch, epochs, total / steps,
                 result.val_macro_f1[-1])
    head.load_state_dict(best_state)
    head.eval()
    log.info("Feature space: the classifier of epoch %d (best validation macro-F1, %.4f) is kept.", result.best_epoch,
             result.best_score)
    return result


def layer_name(model: nn.Module, layer: nn.Module) -> str:
    """The dotted name of ``layer`` in ``model`` (its keys in the state dict are ``<name>.weight``)."""
    for name, module in model.named_modules():
        if module is layer:
            return name
    raise ConfigError(f"{type(layer).__name__} is not a module of {type(model).__name__}.")


def with_head(state: dict, name: str, head: nn.Linear) -> dict:
    """A copy of the state dict ``state`` whose layer ``name`` holds ``head``'s weights (on the state's device)."""
    out = dict(state)
    for key, value in head.state_dict().items():
        target = f"{name}.{key}" if name else key
        if target not in out or out[target].shape != value.shape:
            raise ConfigError(f"The model's classifier has no parameter {target} of shape {tuple(value.shape)}; "
                              f"the re-trained head cannot be put back.")
        out[target] = value.detach().to(out[target].device, out[target].dtype).clone()
    return out


def head_loss(loss_node: dict, counts_before: Sequence[int], counts_after: Sequence[int], balanced_batches: bool,
              scaled: bool = True) -> nn.Module:
    """The experiment's loss for a head re-trained on features, built as a run builds it (class weights from the
    counts, as training/assembly.py does); ConfigError for a loss a linear head on frozen features cannot take.
    ``scaled``: the caller applies the loss's logit scale at evaluation (a run does, through its checkpoint; a
    screen's head is scored with a plain softmax and refuses it)."""
    criterion = build(loss_node, "loss", num_classes=len(counts_before), class_counts=[int(c) for c in counts_before],
                      trained_counts=[int(c) for c in counts_after], balanced_batches=balanced_batches)
    name = loss_node.get("name")
    if getattr(criterion, "output_units", len(counts_before)) != len(counts_before):
        raise ConfigError(f"loss={name} trains a model with {criterion.output_units} output(s), not one per class")
    if not scaled and float(getattr(criterion, "logit_scale", 1.0)) != 1.0:
        raise ConfigError(f"loss={name} scales a cosine classifier's outputs (logit_scale "
                          f"{criterion.logit_scale}); the screen's head is a plain linear layer")
    if loss_node.get("drw_epoch"):
        raise ConfigError(f"loss={name} starts its re-weighting at epoch {loss_node['drw_epoch']} of the "
                          f"representation's training; a head re-trained on features has epochs of its own")
    return criterion
