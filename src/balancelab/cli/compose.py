"""Composing the jobs of a command, written once: ``compose_jobs(argv)`` gives every job of ``balance-run``,
``balance-run -m``, ``--cfg`` and ``balance-sweep`` (whose grid is a multirun) as Hydra will compose it, and
``compose_job`` is the one place that opens balancelab's config module."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, List, Optional, Sequence

from balancelab.cli.hydra_private import expand_multirun, parse_hydra_arguments
from balancelab.errors import ConfigError

CONFIG_MODULE = "balancelab.configs"


def jobs_of(overrides: List[str], multirun: bool) -> List[List[str]]:
    """The override list of each job (one job without ``-m``; the basic sweeper's expansion with it)."""
    if not multirun:
        return [overrides]
    from hydra.core.override_parser.overrides_parser import OverridesParser

    try:
        parsed = OverridesParser.create().parse_overrides(overrides)
    except Exception as exc:
        raise ConfigError(str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__) from None
    if any(o.get_key_element() == "hydra/sweeper" for o in parsed):
        # Another sweeper (e.g. Optuna) chooses the values itself: check the command without its search space.
        return [[o.input_line for o in parsed if not o.is_sweep_override()]]
    return expand_multirun(parsed)


def job_overrides(argv: Sequence[str]):
    """(parsed Hydra arguments, the override list of each job), or (None, []) when Hydra cannot parse argv."""
    args = parse_hydra_arguments(argv)
    if args is None:
        return None, []
    return args, jobs_of(args.overrides, args.multirun)


def compose_job(overrides: Sequence[str], with_choices: bool = False):
    """One job's config as ``@hydra.main`` composes it (without Hydra's own node). With ``with_choices``:
    (config, {group: option file name} as Hydra chose them)."""
    from hydra import compose, initialize_config_module
    from omegaconf import OmegaConf, open_dict

    with initialize_config_module(config_module=CONFIG_MODULE, version_base="1.3"):
        cfg = compose("config", overrides=list(overrides), return_hydra_config=with_choices)
    if not with_choices:
        return cfg
    choices = {k: v for k, v in OmegaConf.to_container(cfg.hydra.runtime.choices).items()
               if v is not None and "/" not in k and not k.startswith("hydra")}
    with open_dict(cfg):
        del cfg["hydra"]
    return cfg, choices


@dataclass
class Job:
    """One job of a command: its overrides, and its composed config and choices, or the error Hydra raised."""

    overrides: List[str]
    cfg: Any = None
    choices: Optional[dict] = None
    error: Optional[Exception] = None


def compose_jobs(argv: Sequence[str]) -> List[Job]:
    """Every job of the command ``argv`` composed as Hydra will compose it (ConfigError when a multirun's
    overrides do not parse; [] when Hydra cannot parse argv: Hydra reports that itself)."""
    _, jobs = job_overrides(argv)
    composed = []
    for overrides in jobs:
        try:
            composed.append(Job(overrides, *compose_job(overrides, with_choices=True)))
        except Exception as exc:  # explained by the caller, who knows the command
            composed.append(Job(overrides, error=exc))
    return composed
