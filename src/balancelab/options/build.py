"""Config node -> object, through ``hydra.utils.instantiate``.

The node's own keys (minus the runner's keys of its group) are the component's arguments; the run facts
of the group's contract (see :mod:`balancelab.options.store`) are passed only where the component's
signature takes them, so a user's model need not accept ``input_size`` to be usable.
"""

from __future__ import annotations

from typing import Any, Dict, Mapping

from balancelab.errors import BalancelabError
from balancelab.options.store import GROUPS
from balancelab.options.targets import accepted_parameters, target_of


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
