"""`balance-run --help`: config groups and options, rendered from the catalogue (options.catalog): the packaged
YAML files and the folders of a ``hydra.searchpath=[file://...]`` on the command line (a user's own options).

Kept free of torch (and of Hydra's composition) so that it answers instantly.
"""

from __future__ import annotations

from typing import Optional, Sequence

from balancelab.options.catalog import (config_groups, default_choices, option_keys,
                                        options_chosen_by_datasets, own_target,
                                        recipe_settings, recipes_brought_by_datasets)
from balancelab.options.fields import declared_default, rule_text
from balancelab.options.run import TopLevel
from balancelab.options.searchpath import search_folders

GROUP_HELP = {
    "model": "network (torchvision, timm or small CNN)",
    "dataset": "data source and split",
    "balancing": "technique applied to the training split",
    "augmentation": "offline augmentation preset (for balancing=offline_augmentation)",
    "loss": "training criterion",
    "optimizer": "optimiser and its lr / weight decay",
    "scheduler": "learning-rate schedule",
    "trainer": "epochs, batch size, device, early stopping",
    "logger": "experiment tracking",
    "experiment": "named experiments of the grid (balance-sweep runs them)",
    "launcher": "where sweep jobs run (local, parallel, SLURM)",
    "recipe": "a training protocol: a published one, or a dataset's own",
}


def render_group_help(group: str, program: str = "balance-run", overrides: Optional[Sequence[str]] = None) -> str:
    """`balance-run --help GROUP`: each option of the group with its keys, defaults and meaning. ``overrides``
    (the command's, as the command line gave them) may add folders with ``hydra.searchpath=[file://...]``."""
    folders = search_folders(overrides)
    groups = config_groups(folders)
    if group in ("top", "top_level"):
        return _top_level_help(program)
    if group not in groups:
        import difflib

        close = difflib.get_close_matches(group, list(groups) + ["top"], n=1)
        return (f"{program}: no config group '{group}'" + (f" (did you mean '{close[0]}'?)" if close else "")
                + f". Groups: {', '.join(groups)}, top.")
    defaults = default_choices()
    lines = [f"{group}: {GROUP_HELP.get(group, '')}", ""]
    for option in groups[group]:
        mark = " (default)" if defaults.get(group) == option else ""
        own = own_target(group, option, folders)
        lines.append(f"{group}={option}{mark}" + (f"    # your own: {own}" if own else ""))
        if group in ("experiment", "launcher"):
            continue
        if group == "recipe" and not own:  # a global config: the settings it makes, as typed on a command line
            lines += [f"    {key}={_show(value)}" + (f"    # {meaning}" if meaning else "")
                      for key, value, meaning in recipe_settings(option)] + [""]
            continue
        for key, value, meaning in option_keys(group, option, folders):
            lines.append(f"    {group}.{key}={_show(value)}" + (f"    # {meaning}" if meaning else ""))
        lines.append("")
    return "\n".join(lines).rstrip()


def _top_level_help(program: str) -> str:
    import dataclasses

    lines = ["Top-level keys (no group):"]
    for f in dataclasses.fields(TopLevel):
        if f.metadata.get("help"):
            rule = rule_text(f.metadata)
            lines.append(f"    {f.name}={_show(declared_default(f))}    # {f.metadata['help']}" + (f" [{rule}]" if rule else ""))
    return "\n".join(lines)


def _show(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


def render_help(program: str = "balance-run", overrides: Optional[Sequence[str]] = None) -> str:
    """`balance-run --help`: every group and its options (with those of a search path in ``overrides``, the command's)."""
    groups = config_groups(search_folders(overrides))
    defaults = default_choices()
    lines = [
        f"{program}: train and evaluate one class-imbalance experiment (Hydra app).",
        "",
        f"Usage: {program} [group=option ...] [key=value ...] [-m for a multirun]",
        f"  e.g. {program} model=resnet18 balancing=smote loss=focal trainer.epochs=20",
        f"       {program} -m balancing=none,random_oversampling seed=0,1,2",
        "",
        "Config groups (default marked *):",
    ]
    chosen_by = options_chosen_by_datasets()
    for group, options in groups.items():
        marked = [f"{o}*" if defaults.get(group) == o else o for o in options]
        lines.append(f"  {group:<13} {', '.join(marked)}")
        if group in GROUP_HELP:
            lines.append(f"  {'':<13} ({GROUP_HELP[group]})")
        for dataset, option in sorted(chosen_by.get(group, {}).items()):
            lines.append(f"  {'':<13} dataset={dataset} selects {group}={option} unless you set {group}=...")
        if group == "recipe":
            for dataset, recipe in sorted(recipes_brought_by_datasets().items()):
                settings = " ".join(f"{key}={_show(value)}" for key, value, _ in recipe_settings(recipe))
                lines.append(f"  {'':<13} dataset={dataset} brings recipe={recipe}: {settings} in place of the "
                             f"defaults listed by --help GROUP (each can be overridden)")
    lines += [
        "",
        "Top-level keys: seed=42  overwrite=false  output_root=outputs  cache_dir=${output_root}/.cache  use_cache=true",
        "",
        "Sweeps: balance-sweep [group=...] [experiments=[...]] [seeds=[0,1,2]] [launcher=basic|parallel|slurm|local]",
        "        (plain multiruns: balance-run -m ... hydra/launcher=parallel|slurm|local)",
        "",
        f"Keys, defaults and meaning of a group's options: {program} --help GROUP  (e.g. --help loss; --help top)",
        "Other flags (Hydra): --cfg job (print the composed config), --info, --hydra-help, -m/--multirun.",
        "The run folder is <output_root>/runs/<model>_balance_<technique>_<loss>_<dataset>_seed<seed>_<hash>",
        "(<hash>: the run's identity; feature_balancing adds _features_<technique> after <technique>); a finished",
        "one is never overwritten unless overwrite=true.",
    ]
    return "\n".join(lines)
