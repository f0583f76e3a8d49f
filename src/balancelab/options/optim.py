"""Optimizer and learning-rate schedule options.

Optimizer contract: ``_target_`` is a ``torch.optim`` class (or any callable) built with ``_partial_: true``;
the trainer calls the partial with the model's parameters. Schedule contract: ``_target_`` returns a
per-epoch ``torch.optim.lr_scheduler`` and is called with its own keys plus ``optimizer`` and ``total_epochs``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import List

from balancelab.options.fields import components, option


@dataclass
class OptimizerBase:
    _target_: str = "???"
    _partial_: bool = True
    name: str = "???"
    lr: float = option(5e-4, "learning rate", gt=0.0)
    weight_decay: float = option(1e-4, "L2 weight decay (decoupled for adamw)", ge=0.0)


@dataclass
class Adam(OptimizerBase):
    _target_: str = "torch.optim.Adam"
    name: str = "adam"


@dataclass
class AdamW(OptimizerBase):
    _target_: str = "torch.optim.AdamW"
    name: str = "adamw"
    weight_decay: float = option(1e-2, "decoupled weight decay", ge=0.0)


@dataclass
class SGD(OptimizerBase):
    _target_: str = "torch.optim.SGD"
    name: str = "sgd"
    lr: float = option(0.05, "learning rate", gt=0.0)
    weight_decay: float = option(5e-4, "L2 weight decay", ge=0.0)
    momentum: float = option(0.9, "momentum", ge=0.0, lt=1.0)
    nesterov: bool = option(True, "Nesterov momentum")


@dataclass
class ScheduleBase:
    _target_: str = "???"
    name: str = "???"
    warmup_epochs: int = option(0, "epochs of linear warm-up from lr/(warmup+1) to lr", ge=0)


@dataclass
class StepSchedule(ScheduleBase):
    _target_: str = "balancelab.training.schedules.step_schedule"
    name: str = "step"
    step_size: int = option(15, "multiply the lr by gamma every step_size epochs", ge=1)
    gamma: float = option(0.5, "factor applied every step_size epochs", gt=0.0, le=1.0)
    min_lr: float = option(0.0, "the lr never goes below this", ge=0.0)


@dataclass
class CosineSchedule(ScheduleBase):
    _target_: str = "balancelab.training.schedules.cosine_schedule"
    name: str = "cosine"
    warmup_epochs: int = option(1, "epochs of linear warm-up from lr/(warmup+1) to lr", ge=0)
    min_lr: float = option(0.0, "the lr at the end of the cosine", ge=0.0)


@dataclass
class ConstantSchedule(ScheduleBase):
    _target_: str = "balancelab.training.schedules.constant_schedule"
    name: str = "none"


@dataclass
class MultiStepSchedule(ScheduleBase):
    _target_: str = "balancelab.training.schedules.multistep_with_warmup"
    name: str = "multistep"
    milestones: List[int] = option(help="finished epochs after which the lr is multiplied by gamma",
                                   default_factory=lambda: [160, 180])
    gamma: float = option(0.01, "factor applied at each milestone", gt=0.0, le=1.0)
    warmup_epochs: int = option(5, "epochs of linear warm-up, (e+1)/warmup of the lr (the LDAM-DRW code's)", ge=0)

    @staticmethod
    def cross_check(node) -> List[str]:
        milestones = node.get("milestones") or []
        ok = all(isinstance(m, int) and not isinstance(m, bool) and m >= 1 for m in milestones) \
            and list(milestones) == sorted(set(milestones))
        if not ok:
            return [f"'scheduler.milestones' must be increasing whole epochs >= 1; got {list(milestones)}. "
                    f"Example: scheduler.milestones=[160,180]."]
        if milestones and node.get("warmup_epochs", 0) > milestones[0]:
            return [f"'scheduler.warmup_epochs' ({node.get('warmup_epochs')}) must end before the first milestone "
                    f"({milestones[0]})."]
        return []


OPTIMIZER_SCHEMAS = components(globals(), OptimizerBase)
SCHEDULE_SCHEMAS = components(globals(), ScheduleBase)
