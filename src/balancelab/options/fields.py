"""``option(...)``: a dataclass field that carries its own help text and rules.

The rules (allowed choices, numeric bounds) are read by the validation pass and by ``--help``,
so a key's default, type, meaning and rule are written once, next to each other.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Dict, Optional, Sequence

_NO_DEFAULT = object()


def option(default: Any = _NO_DEFAULT, help: str = "", *, choices: Optional[Sequence[Any]] = None,
           ge: Optional[float] = None, gt: Optional[float] = None, le: Optional[float] = None,
           lt: Optional[float] = None, default_factory: Optional[Callable[[], Any]] = None):
    """A dataclass field with ``help`` and rules in its metadata (None / null values skip the rules)."""
    metadata = {"help": help, "choices": tuple(choices) if choices is not None else None,
                "ge": ge, "gt": gt, "le": le, "lt": lt}
    if default_factory is not None:
        return dataclasses.field(default_factory=default_factory, metadata=metadata)
    if default is _NO_DEFAULT:
        return dataclasses.field(metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


def rule_text(meta) -> str:
    """The field's rule in words, for error messages and help."""
    parts = []
    if meta.get("choices"):
        parts.append("one of " + ", ".join(str(c) for c in meta["choices"]))
    for key, word in (("ge", ">="), ("gt", ">"), ("le", "<="), ("lt", "<")):
        if meta.get(key) is not None:
            parts.append(f"{word} {meta[key]:g}")
    return " and ".join(parts)


def violates(meta, value) -> bool:
    """True when ``value`` breaks the field's rule (None never does: it means 'not set')."""
    if value is None:
        return False
    choices = meta.get("choices")
    if choices and str(value).lower() not in {str(c).lower() for c in choices}:
        return True
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    return ((meta.get("ge") is not None and value < meta["ge"]) or (meta.get("gt") is not None and value <= meta["gt"])
            or (meta.get("le") is not None and value > meta["le"]) or (meta.get("lt") is not None and value >= meta["lt"]))


def declared_default(f: dataclasses.Field) -> Any:
    """The default a schema field declares: its value, a fresh one from its factory (a mapping or list), or
    ``"???"`` (OmegaConf's mark of a required value) when it declares none."""
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return "???"


def field_default(schema: type, name: str) -> Any:
    """The default a schema declares for its key ``name`` (None if it has no such key or declares no default;
    a fresh value for a key with a factory): the value an option ships with, which a check may tell apart
    from one the user set."""
    found = next((f for f in dataclasses.fields(schema) if f.name == name), None)
    value = None if found is None else declared_default(found)
    return None if value == "???" else value


def components(namespace: dict, base: type) -> Dict[str, type]:
    """The options a schema module declares, by name: every dataclass of ``namespace`` (a module's
    ``globals()``) derived from ``base`` whose ``name`` has a value (bases leave it ``???``), or that names
    itself with a ``schema_name`` class variable (a schema several YAMLs share, each setting ``name``).

    So an option's name is written once, as its ``name`` default, and a new schema needs no table entry."""
    found = {}
    for value in namespace.values():
        if not (isinstance(value, type) and dataclasses.is_dataclass(value) and issubclass(value, base)
                and value.__module__ == namespace.get("__name__")):
            continue
        name = getattr(value, "schema_name", None) or field_default(value, "name")
        if name and name != "???":
            if name in found:
                raise TypeError(f"Two schemas in {namespace.get('__name__')} declare the option '{name}': "
                                f"{found[name].__name__} and {value.__name__}. Give one of them another name.")
            found[name] = value
    return found
