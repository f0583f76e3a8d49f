"""The experiment grid, read from configs/experiment/*.yaml (the config group is the registry)."""

from __future__ import annotations

from importlib import resources
from typing import Dict, List, Optional, Sequence

import yaml

GROUPS = ("baseline", "resampling", "augmentation", "loss_function", "combined")


def experiments() -> Dict[str, str]:
    """{experiment name: group}, in grid order (baseline first)."""
    folder = resources.files("balancelab.configs").joinpath("experiment")
    found = {}
    for entry in folder.iterdir():
        if entry.name.endswith(".yaml"):
            data = yaml.safe_load(entry.read_text()) or {}
            found[entry.name[:-5]] = data.get("experiment_group", "custom")
    order = {g: i for i, g in enumerate(GROUPS)}
    return dict(sorted(found.items(), key=lambda kv: (order.get(kv[1], len(order)), kv[0] != "baseline", kv[0])))


def select(group: Optional[str] = None, names: Optional[Sequence[str]] = None) -> List[str]:
    grid = experiments()
    if names:
        unknown = [n for n in names if n not in grid]
        if unknown:
            raise ValueError(f"Unknown experiment(s) {', '.join(unknown)}. Valid: {', '.join(grid)}.")
        return list(names)
    if group:
        if group not in set(grid.values()):
            raise ValueError(f"Unknown group '{group}'. Valid: {', '.join(sorted(set(grid.values())))}.")
        return [n for n, g in grid.items() if g == group]
    return list(grid)
