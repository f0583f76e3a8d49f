"""The experiment grid, read from the experiment config group: configs/experiment/*.yaml and the
``experiment/`` folder of a ``hydra.searchpath`` on the command line (your own experiments are rows too).

Every comparison is against ``baseline``, so a sweep of one group (``group=longtail``) runs the baseline
beside it: without it no verdict could be given.
"""

from __future__ import annotations

from typing import Dict, List, Optional, Sequence

import yaml

from balancelab.options.catalog import config_groups
from balancelab.options.searchpath import option_file, search_folders

GROUPS = ("baseline", "resampling", "augmentation", "loss_function", "combined", "longtail", "feature_space")
# balance-sweep without group= or experiments=: the 8 experiments of the original grid (group=all adds longtail and
# feature_space: balancing in feature space, pipeline/feature_space.py).
DEFAULT_GROUPS = ("baseline", "resampling", "augmentation", "loss_function", "combined")
BASELINE = "baseline"


def experiments(overrides: Optional[Sequence[str]] = None) -> Dict[str, str]:
    """{experiment name: group}, in grid order (baseline first). ``overrides`` (the command's, passed down by
    balancelab.cli; default none) may add folders with ``hydra.searchpath=[file://...]``."""

    folders = search_folders(overrides)
    roots = (_packaged(), *folders)
    found = {}
    for name in config_groups(folders).get("experiment", []):
        data = yaml.safe_load(option_file(roots, "experiment", name).read_text()) or {}
        found[name] = data.get("experiment_group", "custom")
    order = {g: i for i, g in enumerate(GROUPS)}
    return dict(sorted(found.items(), key=lambda kv: (order.get(kv[1], len(order)), kv[0] != BASELINE, kv[0])))


def _packaged():
    from importlib import resources

    return resources.files("balancelab.configs")


def select(group: Optional[str] = None, names: Optional[Sequence[str]] = None,
           overrides: Optional[Sequence[str]] = None) -> List[str]:
    """The experiments a sweep runs: ``names`` as given, a ``group`` (with the baseline), ``all``, or the
    default grid. ``overrides``: as for :func:`experiments`."""
    grid = experiments(overrides)
    if group and names:
        raise ValueError(f"group={group} and experiments=[{','.join(names)}] both choose the experiments; give one "
                         f"of them (experiments=[...] for a list of your own, group=... for a group).")
    if names:
        unknown = [n for n in names if n not in grid]
        if unknown:
            raise ValueError(f"Unknown experiment(s) {', '.join(unknown)}. Valid: {', '.join(grid)} (your own: "
                             f"hydra.searchpath=[file://<folder holding experiment/>]).")
        return list(names)
    if group == "all":
        return list(grid)
    if group:
        if group not in set(grid.values()):
            raise ValueError(f"Unknown group '{group}'. Valid: {', '.join(sorted(set(grid.values())))}, all.")
        members = [n for n, g in grid.items() if g == group]
        return members if BASELINE in members else [BASELINE, *members]
    return [n for n, g in grid.items() if g in DEFAULT_GROUPS]
