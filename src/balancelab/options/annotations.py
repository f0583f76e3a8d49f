"""A config value against a parameter's type annotation, for components that have no schema.

A user's component declares its keys' types where Python does, in its signature
(``def __init__(self, *, copies: int = 1)``). The validation pass reads them from there, so
``balancing.copies=abc`` fails before anything runs instead of deep inside numpy. Understood:
``int``, ``float``, ``bool``, ``str``, ``Optional[...]``, unions, ``Literal[...]``, lists/sequences/tuples
(with their element type) and mappings; any other annotation (``Path``, a class of yours) is not checked.
"""

from __future__ import annotations

import collections.abc
import inspect
import typing
from typing import Any, Callable, Dict, Optional

_SEQUENCES = (list, tuple, collections.abc.Sequence, collections.abc.Iterable, collections.abc.Collection)
_MAPPINGS = (dict, collections.abc.Mapping, collections.abc.MutableMapping)


def parameter_annotations(target: Callable) -> Dict[str, Any]:
    """{parameter: annotation} of the callable (a class: its ``__init__``); {} when they cannot be read."""
    function = target.__init__ if inspect.isclass(target) else target
    try:
        return typing.get_type_hints(function)
    except Exception:  # noqa: BLE001 - an annotation naming something not importable here: check nothing
        return {}


def expected_type(value: Any, annotation: Any) -> Optional[str]:
    """None when ``value`` fits ``annotation``; otherwise the expected type in words ("an integer or null")."""
    return None if _fits(value, annotation) else describe(annotation)


def _fits(value: Any, annotation: Any) -> bool:
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if annotation is Any or annotation is inspect.Parameter.empty:
        return True
    if annotation is type(None):
        return value is None
    if origin is typing.Union or _is_union_type(annotation):
        return any(_fits(value, a) for a in args)
    if origin is typing.Literal:
        return value in args
    if annotation is bool:
        return isinstance(value, bool)
    if annotation is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if annotation is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if annotation is str:
        return isinstance(value, str)
    if (origin or annotation) in _SEQUENCES:
        if not isinstance(value, (list, tuple)):
            return False
        element = args[0] if args and (origin is not tuple or len(args) == 2 and args[1] is Ellipsis) else Any
        return all(_fits(v, element) for v in value)
    if (origin or annotation) in _MAPPINGS:
        return isinstance(value, dict)
    return True  # an annotation this module does not know: the component checks it itself


def _is_union_type(annotation: Any) -> bool:
    import types

    return isinstance(annotation, getattr(types, "UnionType", ()))


def describe(annotation: Any) -> str:
    """The annotation in words, as error messages say it."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if annotation is type(None):
        return "null"
    if origin is typing.Union or _is_union_type(annotation):
        return " or ".join(describe(a) for a in args)
    if origin is typing.Literal:
        return "one of " + ", ".join(repr(a) for a in args)
    words = {bool: "true or false", int: "an integer", float: "a number", str: "a string"}
    if annotation in words:
        return words[annotation]
    if (origin or annotation) in _SEQUENCES:
        return f"a list (each {describe(args[0])})" if args and args[0] is not Ellipsis else "a list"
    if (origin or annotation) in _MAPPINGS:
        return "a mapping"
    return getattr(annotation, "__name__", str(annotation))
