"""Registers every option schema in Hydra's ConfigStore as ``schema/<group>/<name>``.

An option's YAML file (``configs/<group>/<option>.yaml``) extends its schema and sets only what differs::

    defaults:
      - /schema/loss/focal@_here_
      - _self_

so a key's type, default, rule and help live in one dataclass. A user's own option may extend a
built-in schema the same way, or stand alone with its own ``_target_`` (then its keys are checked
against the target's signature).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Tuple

from balancelab.options import balancing, datasets, losses, models, optim, run


@dataclass(frozen=True)
class Group:
    schemas: Dict[str, type]
    runner_keys: Tuple[str, ...]  # read by the runner, not passed to the component
    offered: Tuple[str, ...]      # run facts passed to the component when its signature takes them


GROUPS: Dict[str, Group] = {
    "model": Group(models.SCHEMAS, ("name", "input_size"), ("num_classes", "in_channels", "input_size")),
    "dataset": Group(datasets.SCHEMAS, ("name", "online_augmentation", "input_size", "normalization_mean",
                                        "normalization_std"), ("name", "input_size", "cache_dir")),
    "balancing": Group(balancing.SCHEMAS, ("name",), ("random_state", "device")),
    "loss": Group(losses.SCHEMAS, ("name",), ("num_classes", "class_counts", "trained_counts", "balanced_batches")),
    "optimizer": Group(optim.OPTIMIZER_SCHEMAS, ("name",), ()),
    "scheduler": Group(optim.SCHEDULE_SCHEMAS, ("name",), ("optimizer", "total_epochs")),
    "logger": Group(run.LOGGER_SCHEMAS, ("name",), ("run_dir", "run_config", "identity")),
}
SETTINGS: Dict[str, type] = {"trainer": run.Trainer, "evaluation": run.Evaluation, "augmentation": run.AugmentationPreset}


def register_schemas() -> None:
    """Idempotent: ConfigStore entries are replaced, not duplicated."""
    from hydra.core.config_store import ConfigStore

    store = ConfigStore.instance()
    for group, spec in GROUPS.items():
        for name, schema in spec.schemas.items():
            store.store(group=f"schema/{group}", name=name, node=schema)
    store.store(group="schema/trainer", name="default", node=run.Trainer)
    store.store(group="schema/evaluation", name="default", node=run.Evaluation)
    store.store(group="schema/augmentation", name="preset", node=run.AugmentationPreset)
    store.store(group="schema", name="top_level", node=run.TopLevel)
