"""Per-epoch learning-rate schedules (configs/scheduler/*.yaml name them as _target_).

Each returns a ``LambdaLR`` stepped once per epoch: a multiplier of the base lr for the 0-based epoch,
after an optional linear warm-up from lr/(warmup+1) to lr.

``multistep_with_warmup`` is the long-tail papers' schedule, as the LDAM-DRW code's ``adjust_learning_rate``
(0-based ``epoch``): during the first ``warmup_epochs`` epochs the lr rises linearly, (e + 1) / warmup_epochs
of the base lr in 0-based epoch e, reaching the base lr in the last warm-up epoch; afterwards it is
multiplied by ``gamma`` once per milestone passed. Milestones count *finished* epochs, as torch's
MultiStepLR does: milestone 160 lowers the lr from 0-based epoch 160 on, the 161st epoch (1-based 161 in
the training loop's numbering). Milestones are not shifted by the warm-up.

The LDAM-DRW protocol: base lr 0.1, milestones (160, 180), gamma 0.01, 5 warm-up epochs gives
0.02, 0.04, ..., 0.1 in epochs 0..4, 0.1 until 159, 0.001 in 160..179 and 0.00001 from 180.
"""

from __future__ import annotations

import bisect
import math
from typing import Callable, Sequence

import torch

from balancelab.errors import ConfigError


def _with_warmup(optimizer, warmup_epochs: int, after: Callable[[int], float]):
    def factor(epoch: int) -> float:
        if warmup_epochs and epoch < warmup_epochs:
            return (epoch + 1) / (warmup_epochs + 1)
        return after(epoch - warmup_epochs)

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def _floor(optimizer, min_lr: float) -> float:
    return float(min_lr) / optimizer.param_groups[0]["lr"]


def step_schedule(optimizer, *, step_size: int, gamma: float, warmup_epochs: int, min_lr: float,
                  total_epochs: int | None = None):
    """lr x gamma every ``step_size`` epochs, never below ``min_lr``."""
    floor = _floor(optimizer, min_lr)
    return _with_warmup(optimizer, warmup_epochs, lambda e: max(gamma ** (e // max(step_size, 1)), floor))


def cosine_schedule(optimizer, *, warmup_epochs: int, min_lr: float, total_epochs: int):
    """Cosine from lr to ``min_lr`` over the epochs after the warm-up."""
    floor = _floor(optimizer, min_lr)
    span = max(total_epochs - warmup_epochs, 1)
    return _with_warmup(optimizer, warmup_epochs, lambda e: floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * e / span)))


def constant_schedule(optimizer, *, warmup_epochs: int):
    """The base lr throughout (after the warm-up)."""
    return _with_warmup(optimizer, warmup_epochs, lambda e: 1.0)


def multistep_factor(epoch: int, *, milestones: Sequence[int], gamma: float, warmup_epochs: int = 0) -> float:
    """Multiplier of the base lr in 0-based ``epoch``."""
    if epoch < warmup_epochs:
        return (epoch + 1) / warmup_epochs
    return gamma ** bisect.bisect_right(sorted(milestones), epoch)


def _check(milestones, gamma, warmup_epochs) -> tuple[list, float, int]:
    try:
        ms = [int(m) for m in milestones]
    except (TypeError, ValueError):
        raise ConfigError(f"scheduler=multistep: milestones must be a list of epoch numbers; "
                          f"got {milestones!r}.") from None
    if any(m != float(x) or m < 1 for m, x in zip(ms, milestones)) or ms != sorted(set(ms)):
        raise ConfigError(f"scheduler=multistep: milestones must be increasing integers >= 1 (finished epochs "
                          f"after which the lr is multiplied by gamma); got {list(milestones)}.")
    if not 0 < float(gamma) <= 1:
        raise ConfigError(f"scheduler=multistep: gamma must be in (0, 1]; got {gamma}. The LDAM-DRW protocol "
                          f"uses 0.01 at milestones [160, 180].")
    if isinstance(warmup_epochs, bool) or int(warmup_epochs) != warmup_epochs or warmup_epochs < 0:
        raise ConfigError(f"scheduler=multistep: warmup_epochs must be an integer >= 0; got {warmup_epochs!r}.")
    if ms and warmup_epochs > ms[0]:
        raise ConfigError(f"scheduler=multistep: the warm-up ({warmup_epochs} epochs) must end before the first "
                          f"milestone ({ms[0]}).")
    return ms, float(gamma), int(warmup_epochs)


def multistep_with_warmup(optimizer: torch.optim.Optimizer, *, milestones: Sequence[int], gamma: float,
                          warmup_epochs: int = 5) -> torch.optim.lr_scheduler.LambdaLR:
    """A per-epoch LambdaLR: linear warm-up, then the base lr times gamma per milestone passed."""
    ms, gamma, warmup = _check(milestones, gamma, warmup_epochs)
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda e: multistep_factor(e, milestones=ms, gamma=gamma, warmup_epochs=warmup))
