"""Config node -> object, through ``hydra.utils.instantiate``.

The node's own keys (minus the runner's keys of its group) are the component's arguments; the run facts
of the group's contract (see :mod:`balancelab.options.store`) are passed only where the component's
signature takes them, so a user's model need not accept ``input_size`` to be usable.
"""

from __future__ import annotations

import inspect
from typing import Any, Callable, Dict, Mapping

from balancelab.options.store import GROUPS
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


def component_arguments(node: Mapping[str, Any], group: str) -> Dict[str, Any]:
    """The node's keys that go to the component (``_target_``/``_partial_`` included)."""
    runner = GROUPS[group].runner_keys
    return {k: v for k, v in node.items() if k not in runner}


def build(node: Mapping[str, Any], group: str, **offered: Any) -> Any:
    """Instantiate ``node`` (plain dict or DictConfig) of config group ``group`` with the offered run facts."""
    from omegaconf import DictConfig, OmegaConf

    plain = OmegaConf.to_container(node, resolve=True) if isinstance(node, DictConfig) else dict(node)
    target = target_of(plain, group)
    names, takes_any = accepted_parameters(target)
    args = component_arguments(plain, group)
    facts = {k: v for k, v in offered.items() if takes_any or k in names}
    from hydra.errors import InstantiationException
    from hydra.utils import instantiate

    from balancelab.errors import BalancelabError

    try:
        # _convert_="all": components receive plain lists and dicts, never OmegaConf containers. The node's own
        # nested _target_ nodes are instantiated; the facts are passed as they are (a run config holds
        # _target_ nodes that must stay data).
        if args.get("_partial_"):
            import functools

            return functools.partial(instantiate(args, _convert_="all"), **facts)
        return instantiate({**args, "_partial_": True}, _convert_="all")(**facts)
    except InstantiationException as exc:
        # Our own errors (bad values, missing files) keep their type and message; Hydra's wrapper would turn
        # a clear user error into an internal-looking one.
        cause = exc.__cause__
        if isinstance(cause, BalancelabError):
            raise cause from None
        raise
