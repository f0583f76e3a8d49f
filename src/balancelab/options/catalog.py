"""The catalogue of options: config groups and their options, read from the packaged YAML files and from the
folders of a ``hydra.searchpath=[file://...]`` on the command line (a user's own options), with each option's
keys, defaults and meaning from its schema.

Kept free of torch (and of Hydra's composition) so that ``--help`` and the pre-flight checks answer instantly.
"""

from __future__ import annotations

import functools

from importlib import resources
from pathlib import Path
from typing import Optional, Sequence

from balancelab.options.fields import declared_default, rule_text
from balancelab.options.searchpath import option_file, options_in
from balancelab.options.store import GROUPS, SETTINGS


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
            value = values.get(f.name, declared_default(f))
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


def own_target(group: str, option: str, folders: Sequence[Path]) -> Optional[str]:
    """The ``_target_`` an option of the search path names itself (a user's component), else None."""
    if option_file((_packaged(),), group, option) is not None:
        return None
    target = _option_data(group, option, folders).get("_target_")
    return str(target) if target else None


def _asdict(value):
    import dataclasses

    return dataclasses.asdict(value) if dataclasses.is_dataclass(value) else {}


def options_chosen_by_datasets() -> dict:
    """{group: {dataset option: option it selects}}: the effective defaults that differ by dataset."""
    import re

    root = resources.files("balancelab.configs").joinpath("dataset")
    chosen: dict = {}
    for entry in root.iterdir():
        if entry.name.endswith(".yaml"):
            for group, option in re.findall(r"override /(\w+)@_global_\.\w+: (\w+)", entry.read_text()):
                chosen.setdefault(group, {})[entry.name[:-5]] = option
    # and the group choices of a training recipe a dataset brings (mnist_lt's selects scheduler=cosine)
    for dataset, recipe in recipes_brought_by_datasets().items():
        for group, option in recipe_choices(recipe).items():
            chosen.setdefault(group, {})[dataset] = option
    return chosen


@functools.lru_cache(maxsize=None)
def recipes_brought_by_datasets() -> dict:
    """{dataset option: the recipe its defaults list includes} (mnist_lt brings its own training recipe). Read
    once per process: the pre-flight asks for every job of a grid."""
    import re

    root = resources.files("balancelab.configs").joinpath("dataset")
    return {entry.name[:-5]: found.group(1) for entry in root.iterdir() if entry.name.endswith(".yaml")
            for found in [re.search(r"^\s*- /recipe/(\w+)@_global_\s*$", entry.read_text(), re.MULTILINE)] if found}


@functools.lru_cache(maxsize=None)
def _recipe_text(recipe: str) -> str:
    return resources.files("balancelab.configs").joinpath("recipe", f"{recipe}.yaml").read_text()


def recipe_choices(recipe: str) -> dict:
    """{group: option} a recipe chooses in its defaults list (``override /scheduler: cosine``)."""
    import re

    return dict(re.findall(r"override /(\w+): (\w+)", _recipe_text(recipe)))


def recipe_values(recipe: str) -> dict:
    """A recipe's own values (its YAML without the defaults list), e.g. {"optimizer": {"lr": 0.002}, ...}."""
    import yaml

    values = yaml.safe_load(_recipe_text(recipe)) or {}
    values.pop("defaults", None)
    return values


def recipe_settings(recipe: str) -> list:
    """[(key, value, meaning)] a recipe sets, as typed on a command line: the options it chooses
    (``scheduler=cosine``) and its keys flattened (``optimizer.lr=0.002``); a recipe is a global config, so
    ``recipe.optimizer`` is not a key."""
    rows = [(group, option, "option chosen") for group, option in recipe_choices(recipe).items()]

    def flatten(values: dict, prefix: str):
        for key, value in values.items():
            if isinstance(value, dict):
                flatten(value, f"{prefix}{key}.")
            else:
                rows.append((prefix + key, value, ""))

    flatten(recipe_values(recipe), "")
    return rows
