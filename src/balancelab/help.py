"""`balance-run --help`: config groups and options, read from the packaged YAML files and from the folders
of a ``hydra.searchpath=[file://...]`` on the command line (a user's own options).

Kept free of torch (and of Hydra's composition) so that it answers instantly.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Optional, Sequence

from balancelab.options.fields import rule_text
from balancelab.options.searchpath import option_file, options_in, search_folders

GROUP_HELP = {
    "model": "network (torchvision or small CNN)",
    "dataset": "data source and split",
    "balancing": "technique applied to the training split",
    "augmentation": "offline augmentation preset (for balancing=offline_augmentation)",
    "loss": "training criterion",
    "optimizer": "optimiser and its lr / weight decay",
    "scheduler": "learning-rate schedule",
    "trainer": "epochs, batch size, device, early stopping",
    "logger": "experiment tracking",
    "experiment": "named experiments of the 8-experiment grid",
    "launcher": "where sweep jobs run (local, parallel, SLURM)",
}


def config_groups(folders: Sequence[Path] = ()) -> dict:
    """{group: [options]} from the packaged configs folder, then the ``folders`` of a search path (a user's
    options after the packaged ones; a name the package has is the package's, as Hydra finds it first)."""
    groups: dict = {}
    for root in (_packaged(), *folders):
        for entry in sorted(root.iterdir(), key=lambda e: e.name):
            if entry.is_dir() and not entry.name.startswith(("_", ".")) and entry.name != "hydra":
                known = groups.setdefault(entry.name, [])
                known += [o for o in options_in(root, entry.name) if o not in known]
    return {group: options for group, options in groups.items() if options}


def _packaged():
    return resources.files("balancelab.configs")


def default_choices() -> dict:
    import yaml

    text = resources.files("balancelab.configs").joinpath("config.yaml").read_text()
    defaults = yaml.safe_load(text).get("defaults", [])
    return {k: v for d in defaults if isinstance(d, dict) for k, v in d.items() if not k.startswith("override")}


def option_keys(group: str, option: str, folders: Sequence[Path] = ()) -> list:
    """[(key, default, help)] of ``group=option``: its schema's fields with the YAML's values applied (an
    option of your own without a schema: its keys as written)."""
    import dataclasses
    import typing

    import yaml

    from balancelab.options.store import GROUPS, SETTINGS

    data = _option_data(group, option, folders)
    schema = SETTINGS.get(group)
    for entry in data.pop("defaults", []) or []:
        if isinstance(entry, str) and entry.startswith(f"/schema/{group}/"):
            name = entry.split("/")[-1].split("@")[0]
            schema = GROUPS[group].schemas.get(name) if group in GROUPS else SETTINGS.get(group)
    rows = []

    def walk(cls, values, prefix):
        hints = typing.get_type_hints(cls)
        for f in dataclasses.fields(cls):
            if f.name.startswith("_"):
                continue
            value = values.get(f.name, _default(f))
            if dataclasses.is_dataclass(hints.get(f.name)):
                walk(hints[f.name], value if isinstance(value, dict) else _asdict(value), f"{prefix}{f.name}.")
            else:
                rule = rule_text(f.metadata)
                rows.append((prefix + f.name, value, f.metadata.get("help", "") + (f" [{rule}]" if rule else "")))

    if schema is not None:
        walk(schema, data, "")
    else:  # a user's option without a schema: its keys as written
        rows = [(k, v, "") for k, v in data.items() if not k.startswith("_")]
    return rows


def _option_data(group: str, option: str, folders: Sequence[Path] = ()) -> dict:
    import yaml

    path = option_file((_packaged(), *folders), group, option)
    return (yaml.safe_load(path.read_text()) or {}) if path is not None else {}


def _own_target(group: str, option: str, folders: Sequence[Path]) -> Optional[str]:
    """The ``_target_`` an option of the search path names itself (a user's component), else None."""
    if option_file((_packaged(),), group, option) is not None:
        return None
    target = _option_data(group, option, folders).get("_target_")
    return str(target) if target else None


def _default(f):
    import dataclasses

    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return "???"


def _asdict(value):
    import dataclasses

    return dataclasses.asdict(value) if dataclasses.is_dataclass(value) else {}


def render_group_help(group: str, program: str = "balance-run", overrides: Optional[Sequence[str]] = None) -> str:
    """`balance-run --help GROUP`: each option of the group with its keys, defaults and meaning. ``overrides``
    (default: the command line) may add folders with ``hydra.searchpath=[file://...]``."""
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
        own = _own_target(group, option, folders)
        lines.append(f"{group}={option}{mark}" + (f"    # your own: {own}" if own else ""))
        if group in ("experiment", "launcher"):
            continue
        for key, value, meaning in option_keys(group, option, folders):
            lines.append(f"    {group}.{key}={_show(value)}" + (f"    # {meaning}" if meaning else ""))
        lines.append("")
    return "\n".join(lines).rstrip()


def _top_level_help(program: str) -> str:
    import dataclasses

    from balancelab.options.run import TopLevel

    lines = ["Top-level keys (no group):"]
    for f in dataclasses.fields(TopLevel):
        if f.metadata.get("help"):
            rule = rule_text(f.metadata)
            lines.append(f"    {f.name}={_show(_default(f))}    # {f.metadata['help']}" + (f" [{rule}]" if rule else ""))
    return "\n".join(lines)


def _show(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


def options_chosen_by_datasets() -> dict:
    """{group: {dataset option: option it selects}}: the effective defaults that differ by dataset."""
    import re

    root = resources.files("balancelab.configs").joinpath("dataset")
    chosen: dict = {}
    for entry in root.iterdir():
        if entry.name.endswith(".yaml"):
            for group, option in re.findall(r"override /(\w+)@_global_\.\w+: (\w+)", entry.read_text()):
                chosen.setdefault(group, {})[entry.name[:-5]] = option
    return chosen


def render_help(program: str = "balance-run", overrides: Optional[Sequence[str]] = None) -> str:
    """`balance-run --help`: every group and its options (with those of a search path on the command line)."""
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
        "(<hash>: the run's identity); a finished one is never overwritten unless overwrite=true.",
    ]
    return "\n".join(lines)
