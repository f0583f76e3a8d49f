"""Classifier re-training (cRT, Kang et al., ICLR 2020): decoupling representation and classifier.

Stage two of a run, as the authors' code runs it (facebookresearch/classifier-balancing: run_networks.py with
config/*/cls_crt.yaml):

- the backbone keeps its weights (frozen at the best checkpoint the caller loaded: ``fix: true``) but the
  whole model is in train mode (``model.train()`` on every network), so its batch norm normalises each batch
  with the batch's statistics and its running averages follow the class-aware, augmented batches; dropout
  is active. Only the classifier's weight and bias are optimised;
- the final linear layer starts afresh (a new ``DotProductClassifier`` with ``stage1_weights: false``:
  nn.Linear's own initialisation), drawn from the cRT seed;
- batches are class-aware (``ClassAwareSampler``, 4 images a class visit: training/class_aware.py) from the
  original training split, with the run's online augmentation (the reference reads the training transforms);
  an epoch is ``len(train) // batch_size`` batches (its ``epoch_steps``; at least one);
- SGD (momentum 0.9, weight decay 5e-4; lr 0.1, Places-LT's) with a cosine decay to 0 over the epochs
  (``coslr: true, endlr: 0``): epoch e of E at lr (1 + cos(pi (e-1) / E)) / 2, the schedule of the
  reference's step-at-epoch-start under the PyTorch (< 1.1) it was written for;
- after every epoch the model is scored on *validation* (eval mode) and the weights of the best epoch (the
  first of ties) are kept, batch-norm statistics included; the test split is never seen here.

Differences kept on purpose: the validation score is macro-F1, the run's one selection metric (the reference
uses top-1 accuracy on its class-balanced validation sets), and training is in fp32 without autocast.
"""

from __future__ import annotations

import copy
import logging
import math
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Callable, List, Optional

import numpy as np
import torch
from torch import nn

from balancelab.errors import ConfigError
from balancelab.evaluation.metrics import split_scores
from balancelab.evaluation.forward import final_linear, predicted_labels
from balancelab.training.batches import ImageBatches, OnlineAugmentation
from balancelab.training.class_aware import ClassAwareSampler
from balancelab.training.loop import Interrupted

log = logging.getLogger("balancelab")
IMAGES_PER_CLASS_VISIT = 4  # cls_crt.yaml: sampler {type: ClassAwareSampler, num_samples_cls: 4}


@dataclass(kw_only=True)
class Retraining:
    """How a re-trained classifier was chosen: its best validation epoch among the epochs trained (shared by cRT
    and the feature-space head, training/feature_space.py, which train and select the same way)."""

    best_epoch: int = 0                                      # 1-based
    val_macro_f1: List[float] = field(default_factory=list)  # one per epoch
    lrs: List[float] = field(default_factory=list)           # the lr each epoch trained at
    steps_per_epoch: int = 0
    best_score: float = -np.inf

    def keep_if_best(self, score: float, epoch: int) -> bool:
        """Record epoch ``epoch``'s validation macro-F1; True when it is the best so far (strictly: ties keep the
        earlier epoch, as Kang et al.'s reference does)."""
        self.val_macro_f1.append(score)
        if score > self.best_score:
            self.best_score, self.best_epoch = score, epoch
            return True
        return False


@dataclass(kw_only=True)
class ClassifierRetraining(Retraining):
    """The re-trained model (at its best validation epoch) and how it was chosen."""

    model: nn.Module


def sgd_cosine(parameters, epochs: int, lr: float, momentum: float, weight_decay: float):
    """The reference's stage-2 optimiser (SGD with momentum and weight decay) and its cosine schedule to 0 over
    ``epochs`` (stepped once an epoch)."""
    optimizer = torch.optim.SGD(parameters, lr=lr, momentum=momentum, weight_decay=weight_decay)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda e: 0.5 * (1 + math.cos(math.pi * e / epochs)))
    return optimizer, schedule


def optimiser_step(optimizer, loss, stop_requested: Callable[[], Optional[str]], epoch: int, rows_done: int,
                   stage: str) -> float:
    """One step of a stage-2 optimiser on ``loss`` (its value returned); then, if a stop was asked for (a signal),
    Interrupted: nothing of the stage is kept, a rerun starts it over to the same result."""
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    value = loss.item()
    signal = stop_requested()
    if signal is not None:
        raise Interrupted(signal, epoch, rows_done, saved=True, stage=stage)
    return value


def check_retraining(epochs, batch_size, lr, momentum, weight_decay) -> None:
    for name, value in (("crt_epochs", epochs), ("batch_size", batch_size)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(f"cRT: {name} must be an integer >= 1; got {value!r}.")
    for name, value, ok in (("lr", lr, lr > 0), ("momentum", momentum, 0 <= momentum < 1),
                            ("weight_decay", weight_decay, weight_decay >= 0)):
        if not (math.isfinite(value) and ok):
            raise ConfigError(f"cRT: {name}={value} is out of range (lr > 0, momentum in [0, 1), weight_decay >= 0).")


@contextmanager
def seeded_stream(seed: int, device: torch.device):
    """torch's global generator(s) seeded with ``seed`` inside, restored after: the classifier's
    initialisation and dropout depend on the cRT seed alone, and the caller's stream is left as it was."""
    devices = [device.index if device.index is not None else torch.cuda.current_device()] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.default_generator.manual_seed(seed)
        for index in devices:
            torch.cuda.default_generators[index].manual_seed(seed)
        yield


def validation_macro_f1(model: nn.Module, val: ImageBatches, batch_size: int) -> float:
    """Macro-F1 of ``model`` (eval mode) on the validation batches."""
    model.eval()
    with torch.no_grad():
        predictions = [predicted_labels(model(x).float()).cpu() for x, _ in val.ordered_batches(batch_size)]
    return split_scores(val.y, torch.cat(predictions).numpy())["macro_f1"]


def retrain_classifier(model: nn.Module, train: ImageBatches, val: ImageBatches, *, epochs: int, batch_size: int,
                       seed: int, lr: float = 0.1, momentum: float = 0.9, weight_decay: float = 5e-4,
                       augment: Optional[OnlineAugmentation] = None, criterion: Optional[nn.Module] = None,
                       stop_requested: Callable[[], Optional[str]] = lambda: None) -> ClassifierRetraining:
    """Re-initialise the model's final nn.Linear and train it alone for ``epochs`` on class-aware batches of
    ``train``; keep the epoch best on ``val`` (see the module docstring).

    ``criterion``: plain cross-entropy by default (the sampling does the balancing). ``model`` is changed in
    place (left in eval mode, at the best epoch); the parameters' ``requires_grad`` flags are restored.
    ``stop_requested`` is asked after every batch: a signal name raises Interrupted (nothing of cRT is kept;
    it starts over, to the same result).
    """
    check_retraining(epochs, batch_size, float(lr), float(momentum), float(weight_decay))
    if len(val) == 0:
        raise ConfigError("cRT chooses its epoch on validation, but the validation split is empty. Give the "
                          "dataset a validation split (e.g. dataset.val_fraction) or set trainer.crt_epochs=0.")
    layer = final_linear(model)
    if criterion is None:
        if layer.out_features < 2:
            raise ConfigError("cRT: the classifier has a single output (binary cross-entropy); pass its criterion.")
        criterion = nn.CrossEntropyLoss()
    flags = {p: p.requires_grad for p in model.parameters()}
    captured = []
    hook = layer.register_forward_hook(lambda module, inputs, output: captured.append(inputs[0]))
    try:
        with seeded_stream(seed, layer.weight.device):
            return _train(model, layer, train, val, criterion, epochs, batch_size, seed, lr, momentum, weight_decay,
                          augment, stop_requested, captured)
    finally:
        hook.remove()
        for p, flag in flags.items():
            p.requires_grad_(flag)


def _train(model, layer, train, val, criterion, epochs, batch_size, seed, lr, momentum, weight_decay, augment,
           stop_requested, captured) -> ClassifierRetraining:
    for p in model.parameters():
        p.requires_grad_(False)
    layer.reset_parameters()
    for p in layer.parameters():
        p.requires_grad_(True)
    optimizer, schedule = sgd_cosine(layer.parameters(), epochs, lr, momentum, weight_decay)
    generator = torch.Generator().manual_seed(seed)
    sampler = ClassAwareSampler(train.y, IMAGES_PER_CLASS_VISIT, generator)
    steps = max(1, len(train) // batch_size)
    result = ClassifierRetraining(model=model, steps_per_epoch=steps)
    best_state = None
    for epoch in range(1, epochs + 1):
        model.train()
        result.lrs.append(optimizer.param_groups[0]["lr"])
        total = 0.0
        for step in range(steps):
            x, y = train.batch(sampler.take(batch_size), augment, generator)
            captured.clear()
            with torch.no_grad():  # the backbone's forward (batch norm's running averages move, as in train mode)
                model(x)
            total += optimiser_step(optimizer, criterion(layer(captured[0].detach()), y), stop_requested, epoch,
                                    (step + 1) * batch_size, "classifier re-training")
        schedule.step()
        if result.keep_if_best(validation_macro_f1(model, val, batch_size), epoch):
            best_state = copy.deepcopy(model.state_dict())
        log.info("cRT epoch %d/%d  loss %.4f  val macro-F1 %.4f", epoch, epochs, total / steps,
                 result.val_macro_f1[-1])
    model.load_state_dict(best_state)
    model.eval()
    log.info("cRT: the classifier of epoch %d (best validation macro-F1, %.4f) is kept.", result.best_epoch,
             result.best_score)
    return result
