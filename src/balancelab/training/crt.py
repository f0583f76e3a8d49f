"""Classifier re-training (cRT, Kang et al., ICLR 2020): decoupling representation and classifier.

Stage two of a run: the backbone stays as trained (frozen, at the best checkpoint the caller loaded),
the final linear layer is re-initialised and trained alone on class-balanced batches (draws with
replacement, every class equally likely: ``balancing=weighted_sampler``'s order), with SGD and a cosine
lr decay per epoch, as in the paper. The whole model runs in eval mode, so batch-norm statistics and
dropout stay as they were: only the classifier's weight and bias change.
"""

from __future__ import annotations

import logging
import math
from typing import Callable, Optional

import torch
from torch import nn

from balancelab.errors import ConfigError
from balancelab.evaluation.posthoc import final_linear
from balancelab.training.batches import DeviceImages, OnlineAugmentation, epoch_order
from balancelab.training.loop import Interrupted

log = logging.getLogger("balancelab")


def _check(epochs, batch_size, lr, momentum, weight_decay) -> None:
    for name, value in (("crt_epochs", epochs), ("batch_size", batch_size)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(f"cRT: {name} must be an integer >= 1; got {value!r}.")
    for name, value, ok in (("lr", lr, lr > 0), ("momentum", momentum, 0 <= momentum < 1),
                            ("weight_decay", weight_decay, weight_decay >= 0)):
        if not (math.isfinite(value) and ok):
            raise ConfigError(f"cRT: {name}={value} is out of range (lr > 0, momentum in [0, 1), weight_decay >= 0).")


def retrain_classifier(model: nn.Module, train: DeviceImages, *, epochs: int, batch_size: int, seed: int,
                       lr: float = 0.1, momentum: float = 0.9, weight_decay: float = 5e-4,
                       augment: Optional[OnlineAugmentation] = None, criterion: Optional[nn.Module] = None,
                       stop_requested: Callable[[], Optional[str]] = lambda: None) -> nn.Module:
    """Re-initialise the model's final nn.Linear and train it alone for ``epochs`` on class-balanced batches.

    ``criterion``: plain cross-entropy by default (the sampling does the balancing). Returns ``model``,
    changed in place; the parameters' ``requires_grad`` flags are restored afterwards. ``stop_requested``
    is asked after every batch: a signal name raises Interrupted (nothing of cRT is kept; it starts over).
    """
    _check(epochs, batch_size, float(lr), float(momentum), float(weight_decay))
    layer = final_linear(model)
    if criterion is None:
        if layer.out_features < 2:
            raise ConfigError("cRT: the classifier has a single output (binary cross-entropy); pass its criterion.")
        criterion = nn.CrossEntropyLoss()
    flags = {p: p.requires_grad for p in model.parameters()}
    for p in model.parameters():
        p.requires_grad_(False)
    layer.reset_parameters()
    for p in layer.parameters():
        p.requires_grad_(True)
    optimizer = torch.optim.SGD(layer.parameters(), lr=lr, momentum=momentum, weight_decay=weight_decay)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda e: 0.5 * (1 + math.cos(math.pi * e / epochs)))
    generator = torch.Generator().manual_seed(seed)
    captured = []
    hook = layer.register_forward_hook(lambda module, inputs, output: captured.append(inputs[0]))
    model.eval()
    try:
        for epoch in range(1, epochs + 1):
            order = epoch_order(train.y, True, generator)
            total, seen = 0.0, 0
            for start in range(0, len(order), batch_size):
                x, y = train.batch(order[start:start + batch_size].to(train.device), augment, generator)
                captured.clear()
                with torch.no_grad():
                    model(x)
                features = captured[0].detach()
                loss = criterion(layer(features), y)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                total, seen = total + loss.item() * len(y), seen + len(y)
                if stop_requested() is not None:
                    raise Interrupted(stop_requested(), epoch, seen, saved=True, stage="classifier re-training")
            schedule.step()
            log.info("cRT epoch %d/%d  loss %.4f", epoch, epochs, total / max(seen, 1))
    finally:
        hook.remove()
        for p, flag in flags.items():
            p.requires_grad_(flag)
    return model
