"""Hydra's composition errors rewritten for the user: one paragraph that names the setting, the rule, what was
received and the fix (the closest option or key, the option that has the key, the type wanted). The regular
expressions over Hydra's message texts live here alone; tests/cli/test_preflight.py holds each to its message.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
from typing import List, Optional, Sequence

from balancelab.cli.compose import compose_job
from balancelab.errors import ConfigError
from balancelab.options.catalog import config_groups
from balancelab.options.fields import rule_text
from balancelab.options.searchpath import search_folders
from balancelab.options.store import GROUPS
from balancelab.options.targets import accepted_parameters, target_of
from balancelab.options.validate import show, valid_example

# Hydra flags that neither run jobs nor print the job's config: leave them to Hydra. (`--cfg` is checked:
# printing a config that cannot run would pass a mistake off as valid.)


def explain_composition_error(exc: Exception, overrides: Sequence[str]) -> str:
    """Hydra's message in one paragraph, with its cause, and the closest key/option or the option that has the key."""
    text = str(exc)
    cause = exc.__cause__
    if cause is not None and str(cause).strip() and str(cause).strip().splitlines()[0] not in text:
        text += ": " + str(cause).strip().splitlines()[0]
    text = text.split("Config search path:")[0]  # Hydra's search-path dump says nothing to a user
    text = re.sub(r"\s*To append to your config use \S+", "", text)
    message = " ".join(line.strip() for line in text.splitlines() if line.strip()).rstrip()
    typed = _wrong_type(message, overrides)
    if typed:
        return typed
    missing = re.search(r"Could not find '(\w+)/([\w.]+)'", message)
    key = _bad_key(str(exc))
    if not message.endswith((".", "?")):
        message += "."
    if missing:
        message += " " + _closest_option(missing.group(1), missing.group(2), overrides)
    elif key and "." in key:
        group, leaf = key.split(".", 1)
        message += " " + _hint_for_key(group, leaf, overrides, message)
    message = message.rstrip()
    if not message.endswith((".", "?")):
        message += "."
    return message + " (`balance-run --help <group>` lists a group's options and keys.)"


_WRONG_TYPE = re.compile(r"Error merging override ([\w.]+)=.*?: Value '(.*?)' (?:of type '\w+' could not be converted "
                         r"to (\w+)|is not a valid (bool))")
_TYPE_WORDS = {"Integer": "an integer", "Float": "a number", "bool": "true or false", "String": "a string"}


def _wrong_type(message: str, overrides: Sequence[str]) -> Optional[str]:
    """Hydra's "could not be converted to Integer" as the other rule messages are: the key, its type and rule,
    what was received and a valid value (from the chosen option's schema)."""
    match = _WRONG_TYPE.search(message)
    if not match:
        return None
    key, value, kind = match.group(1), match.group(2), match.group(3) or match.group(4)
    rule = _TYPE_WORDS.get(kind, f"of type {kind}")
    field = _schema_field(key, [o for o in overrides if o.split("=", 1)[0].lstrip("+~") != key])
    if field is not None:

        bounds = rule_text(field.metadata)
        help_text = field.metadata.get("help")
        return (f"'{key}'{f' ({help_text})' if help_text else ''} must be {rule}{f' {bounds}' if bounds else ''}; "
                f"got {value!r}. Fix it with {key}={show(valid_example(field))}.")
    return f"'{key}' must be {rule}; got {value!r}. (`balance-run --help <group>` lists a group's options and keys.)"


def _schema_field(key: str, overrides: Sequence[str]):
    """The dataclass field of a dotted key in the schema of the option this command chooses (None if unknown)."""
    import typing

    from omegaconf import OmegaConf

    try:
        cfg = compose_job(list(overrides))
    except Exception:  # noqa: BLE001 - another mistake: the plain message will do
        return None
    parts = key.split(".")
    node, schema = cfg, OmegaConf.get_type(cfg)
    for i, part in enumerate(parts):
        if not dataclasses.is_dataclass(schema):
            return None
        fields = {f.name: f for f in dataclasses.fields(schema)}
        if part not in fields:
            return None
        if i == len(parts) - 1:
            return fields[part]
        node = node.get(part) if node is not None else None
        schema = OmegaConf.get_type(node) if node is not None and OmegaConf.is_config(node) else \
            typing.get_type_hints(schema).get(part)
    return None


def _closest_option(group: str, wrong: str, overrides: Sequence[str] = ()) -> str:
    close = difflib.get_close_matches(wrong, config_groups(search_folders(overrides)).get(group, []), n=1)
    return f"Did you mean {group}={close[0]}?" if close else ""


def _bad_key(text: str) -> Optional[str]:
    for pattern in (r"Could not override '([\w.]+)'", r"Key '(\w+)' not in '\w+'\s+full_key: ([\w.]+)",
                    r"full_key: ([\w.]+)"):
        match = re.search(pattern, text)
        if match:
            return match.groups()[-1]
    return None


def _hint_for_key(group: str, leaf: str, overrides: Sequence[str], text: str = "") -> str:
    """'Did you mean' among the chosen option's keys (a user component's: also its target's parameters), or,
    for a built-in option, which other option of the group has the key; then the option's keys."""

    chosen = _chosen_option(group, overrides)
    if chosen is None:
        return ""
    choice, node, schema = chosen
    top = leaf.split(".")[0]
    keys = sorted(k for k in node if not k.startswith("_"))
    label = f"{group}={choice}" if choice and group in GROUPS else group  # trainer has one option: no label
    if top in keys and isinstance(node.get(top), dict):
        entry = re.search(r"Key '([^']+)' is not in struct", text or "")
        example = f"+{group}.{top}.{entry.group(1) if entry else '<key>'}=<value>"
        return f"'{group}.{top}' is a mapping: add each entry with a plus, {example}."
    target = node.get("_target_")
    if group in GROUPS and target and target != getattr(schema, "_target_", None):
        return _hint_for_component(group, top, label, str(target), keys, overrides)
    schemas = dict(GROUPS[group].schemas) if group in GROUPS else {}
    owners = [name for name, other in schemas.items()
              if other is not schema and top in {f.name for f in dataclasses.fields(other)}]
    if owners:
        # The plainest option first (focal before cb_focal), a two-class-only one (bce) last.
        owners = sorted(owners, key=lambda o: (getattr(schemas[o], "two_classes_only", False), len(o), o))
        return (f"'{group}.{top}' is a key of {' / '.join(f'{group}={o}' for o in owners)}, not of the {group} you "
                f"chose: add {group}={owners[0]} to use it.")
    if OTHER_LIBRARIES_NAMES.get(top) in keys:  # timm's drop_rate is not drop_path_rate, whatever difflib says
        ours, where = OTHER_LIBRARIES_NAMES[top], OTHER_LIBRARIES_WHERE[top]
        return f"'{group}.{top}' is {where}'s name for '{group}.{ours}' here: use {group}.{ours}=<value>. " \
               f"Keys of {label}: {', '.join(keys)}."
    close = difflib.get_close_matches(top, keys, n=1)
    return (f"Did you mean '{group}.{close[0]}'? " if close else "") + f"Keys of {label}: {', '.join(keys)}."


# Keys other libraries spell differently, which a close-match would send to the wrong key.
OTHER_LIBRARIES_NAMES = {"drop_rate": "dropout"}
OTHER_LIBRARIES_WHERE = {"drop_rate": "timm"}


def _hint_for_component(group: str, top: str, label: str, target: str, keys: List[str],
                        overrides: Sequence[str]) -> str:
    """A component that is not a built-in option's: its keys and its target's parameters are the vocabulary."""

    try:
        names, _ = accepted_parameters(target_of({"_target_": target}, group))
    except ConfigError:
        names = set()
    parameters = sorted(names - set(GROUPS[group].offered))
    if top in parameters and top not in keys:
        value = next((o.split("=", 1)[1] for o in overrides if o.split("=", 1)[0] == f"{group}.{top}"), "<value>")
        return (f"'{group}.{top}' is a parameter of {target} that {label} does not set: add it with a plus, "
                f"+{group}.{top}={value}.")
    close = difflib.get_close_matches(top, sorted(set(keys) | set(parameters)), n=1)
    value = next((o.split("=", 1)[1] for o in overrides if o.split("=", 1)[0].lstrip("+~") == f"{group}.{top}"),
                 "<value>")
    # A parameter the YAML does not set is added with a plus: the suggestion must be the command that works.
    suggestion = (f"+{group}.{close[0]}={value}" if close and close[0] not in keys else
                  f"'{group}.{close[0]}'" if close else "")
    return ((f"Did you mean {suggestion}? " if close else "")
            + f"'{group}.{top}' is not a key of {label} ({target}). Its keys: {', '.join(keys)}; the parameters of "
              f"{target}: {', '.join(parameters) or 'none'}.")


def _chosen_option(group: str, overrides: Sequence[str]):
    """(option file name, its composed node as plain data, its schema or None) of ``group`` for this command,
    composed without the command's ``group.*`` keys (one of them is the mistake); None if that fails too."""
    from omegaconf import OmegaConf

    kept = [o for o in overrides if not o.split("=", 1)[0].lstrip("+~").startswith(f"{group}.")]
    try:
        cfg, choices = compose_job(kept, with_choices=True)
        node = cfg[group]
        return choices.get(group), OmegaConf.to_container(node, resolve=False), OmegaConf.get_type(node)
    except Exception:  # noqa: BLE001 - another mistake in the command: no hint beyond Hydra's message
        return None

