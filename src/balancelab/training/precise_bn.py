"""Precise batch-norm statistics (Wu & Johnson, "Rethinking 'Batch' in BatchNorm", 2021).

Batch norm trains on each batch's own statistics but evaluates on running averages, an exponential moving
average (momentum 0.1) of past batches' statistics. Early in a short run those averages describe older
weights: with ~14 steps an epoch, after the first epoch 0.9^14 = 23 % of each average is still the (0, 1)
initialisation, and the rest mixes statistics of weights that have since moved. The error compounds
through the layers: measured on the default run (shufflenet_v2, digits_lt), the eval-mode network
predicts one class for the first three epochs while the train-mode network is right on 40-50 % of the
training images; with the statistics recomputed for the current weights both agree.

So before each validation the population statistics are recomputed with the current weights: the running
averages are reset, every batch-norm layer takes an exact average (``momentum=None``) over a bounded number
of unaugmented training images, and the layers' momentum is put back. Only the batch-norm layers run in
training mode during that pass (dropout stays off, so no random number is drawn and the training run is
the same with or without it); nothing gets a gradient.
"""

from __future__ import annotations

from typing import List

import torch
from torch import nn

from balancelab.training.batches import DeviceImages


def batch_norm_layers(model: nn.Module) -> List[nn.modules.batchnorm._BatchNorm]:
    """The layers whose evaluation uses running statistics."""
    return [m for m in model.modules()
            if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats]


def pass_batch_sizes(available: int, images: int, batch_size: int) -> List[int]:
    """The batches of the pass over ``images`` of ``available`` training images: only full batches, so each
    weighs the same in the average (``momentum=None`` averages batches, not images), or one batch of them all
    when they are fewer than a batch; none below 2 images (a batch of one has no variance)."""
    count = min(int(images), int(available))
    if count < 2:
        return []
    batch = min(batch_size, count)
    return [batch] * (count // batch)


@torch.no_grad()
def recompute_batch_norm_statistics(model: nn.Module, data: DeviceImages, order: torch.Tensor, images: int,
                                    batch_size: int) -> int:
    """Replace the running statistics of ``model``'s batch-norm layers by their average over the first
    ``images`` rows of ``order`` (rows of ``data``), in batches of ``batch_size``; return the images used.

    The batches are :func:`pass_batch_sizes`' (``min(images, len(order))`` rounded down to full batches);
    batches of the training size normalise the earlier layers as training did. A model without batch norm,
    ``images`` = 0 or fewer than 2 images: nothing is done (0).
    """
    layers = batch_norm_layers(model)
    sizes = pass_batch_sizes(len(order), images, batch_size)
    if not layers or not sizes:
        return 0
    momenta = [layer.momentum for layer in layers]
    was_training = model.training
    model.eval()  # dropout off: the statistics of the network as it is evaluated, and no random draws
    for layer in layers:
        layer.reset_running_stats()
        layer.momentum = None  # cumulative average: every batch weighs the same
        layer.train()
    try:
        for start in range(0, sum(sizes), sizes[0]):
            x, _ = data.batch(order[start:start + sizes[0]].to(data.device))
            model(x)
    finally:
        for layer, momentum in zip(layers, momenta):
            layer.momentum = momentum
        model.train(was_training)
    return sum(sizes)
