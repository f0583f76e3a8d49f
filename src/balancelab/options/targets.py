"""A config node's ``_target_``: the callable it names (with a clear error when it cannot be imported) and
the keyword parameters that callable takes. Used by the builder and by the checks of the schemas."""

from __future__ import annotations

import inspect
from typing import Any, Callable, Mapping

from balancelab.errors import ConfigError


def target_of(node: Mapping[str, Any], where: str) -> Callable:
    """The callable named by the node's ``_target_`` (a clear error when it cannot be imported)."""
    from hydra.utils import get_object

    path = node.get("_target_")
    if not path or path == "???":
        raise ConfigError(f"{where} has no _target_: add `_target_: package.module.Callable` to its YAML file.")
    try:
        return get_object(path)
    except Exception as exc:
        cause = exc
        while cause.__cause__ is not None or cause.__context__ is not None:  # the innermost reason
            cause = cause.__cause__ or cause.__context__
        reason = f"{type(cause).__name__}: {cause}".splitlines()[0]
        raise ConfigError(f"{where}._target_={path} cannot be imported ({reason}). Check the spelling, and that its "
                          f"package is installed or importable from the current directory.") from None


def accepted_parameters(target: Callable) -> tuple[set, bool]:
    """(keyword names the callable takes, whether it also takes **kwargs).

    A class without an ``__init__`` of its own (``nn.Module.__init__(*args, **kwargs)`` or ``object``'s)
    takes nothing: its inherited catch-all signature must not receive the run's facts.
    """
    if inspect.isclass(target) and _inherits_catch_all_init(target):
        return set(), False
    try:
        signature = inspect.signature(target)
    except (TypeError, ValueError):  # some builtins have none: pass everything
        return set(), True
    names = {p.name for p in signature.parameters.values()
             if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)}
    return names, any(p.kind is p.VAR_KEYWORD for p in signature.parameters.values())


def _inherits_catch_all_init(cls: type) -> bool:
    init = cls.__init__
    if init is object.__init__:
        return True
    owner = next((k for k in cls.__mro__ if "__init__" in vars(k)), object)
    return owner.__module__.startswith("torch.nn") and owner.__name__ == "Module"
