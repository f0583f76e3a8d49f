"""``make_balancer(name, **params)``: a built-in balancing technique by its option name (for code and tests;
runs build theirs from the config node with ``balancelab.options.build``)."""

from __future__ import annotations

import difflib
from typing import Any

from balancelab.balancing.base import Balancer
from balancelab.errors import BalancingError
from balancelab.options.balancing import SCHEMAS


def _techniques() -> dict:
    """{option name: class}, from the balancing options' schemas (one source: balancelab/options/balancing.py)."""
    from hydra.utils import get_object

    return {name: get_object(schema._target_) for name, schema in SCHEMAS.items()}


def available_balancers() -> list:
    return sorted(_techniques())


def balancer_class(name: str) -> type:
    """The class registered as ``name``."""
    techniques = _techniques()
    if name not in techniques:
        raise BalancingError(f"Unknown balancing technique '{name}'. Valid: {', '.join(sorted(techniques))}.")
    return techniques[name]


def make_balancer(name: str, **params: Any) -> Balancer:
    """``name``'s balancer built from keyword parameters; a parameter it does not declare is an error."""
    cls = balancer_class(name)
    valid = cls.parameter_names()
    unknown = [key for key in params if key not in valid]
    if unknown:
        hints = []
        for key in unknown:
            close = difflib.get_close_matches(key, valid, n=1)
            hints.append(f"'{key}'" + (f" (did you mean '{close[0]}'?)" if close else ""))
        raise BalancingError(
            f"{name} does not take the parameter{'s' if len(hints) > 1 else ''} {', '.join(hints)}. "
            f"Its parameters are: {', '.join(valid)}. "
            f"Fix or remove it (balancing.<parameter>=... on the command line, or the balancing YAML file)."
        )
    return cls(**params)
