"""Composing the jobs of a command, written once: ``compose_jobs(argv)`` gives every job of ``balance-run``,
``balance-run -m``, ``--cfg`` and ``balance-sweep`` (whose grid is a multirun) as Hydra will compose it, and
``compose_job`` is the one place that opens balancelab's config module."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, List, Optional, Sequence

from balancelab.cli.hydra_private import expand_multirun, parse_hydra_arguments
from balancelab.errors import ConfigError
from balancelab.options.store import GROUPS

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
    """One job of a command: its overrides, and its composed config and choices, or the error Hydra raised;
    once the pre-flight has checked it, its validated plain config and its run identity."""

    overrides: List[str]
    cfg: Any = None
    choices: Optional[dict] = None
    error: Optional[Exception] = None
    plain: Optional[dict] = None
    identity: Optional[str] = None


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


def mapping_settings() -> set:
    """``group.key`` of every setting whose schema type is a mapping (``balancing.overrides``): the settings a
    user fills with ``key={name: value}``."""
    import dataclasses
    import typing

    found = set()
    for group, spec in GROUPS.items():
        for schema in spec.schemas.values():
            for name, hint in typing.get_type_hints(schema).items():
                if typing.get_origin(hint) in (dict, typing.Dict) and name in {f.name for f in dataclasses.fields(schema)}:
                    found.add(f"{group}.{name}")
    return found


def with_mappings_replaced(argv: Sequence[str]) -> List[str]:
    """``balancing.overrides={NormalVideos: 1.5}``, typed as one types a mapping, made to take effect: Hydra merges
    a mapping into the option's empty one and its struct mode refuses the new key. ``++key={...}`` (Hydra's
    "add or override") merges it the same way with new keys allowed; the composed config is the same as
    ``+balancing.overrides.NormalVideos=1.5``'s. Other arguments pass unchanged."""
    mappings = mapping_settings()
    out = []
    for arg in argv:
        key, sep, value = arg.partition("=")
        if sep and key in mappings and value.strip().startswith("{") and value.strip().endswith("}"):
            arg = f"++{arg}"
        out.append(arg)
    return out


def with_timm_name_as_architecture(argv: Sequence[str]) -> List[str]:
    """``model=timm model.name=convnext_atto`` (issue 21's spelling) trains convnext_atto: under ``model=timm`` a
    ``model.name`` other than the option's own label names the timm model, i.e. it is ``model.architecture``,
    and the run keeps its label ``timm``; timm's ``model.drop_rate`` is ``model.dropout`` (every model's key for
    it). Left as typed when no single ``model=timm`` is given or balancelab's key is given as well (the model's
    checks then explain the clash)."""
    keys = [arg.partition("=")[0] for arg in argv]
    if "model=timm" not in argv:
        return list(argv)
    out = []
    for key, arg in zip(keys, argv):
        value = arg.partition("=")[2]
        if key == "model.name" and value != "timm" and "model.architecture" not in keys:
            arg = f"model.architecture={value}"
        elif key == "model.drop_rate" and "model.dropout" not in keys:  # timm's name for it (issue 21)
            arg = f"model.dropout={value}"
        out.append(arg)
    return out


def as_meant(argv: Sequence[str]) -> List[str]:
    """The command's arguments as the user meant them, before anything is composed: a mapping typed as a mapping
    (``with_mappings_replaced``), a timm model typed as ``model.name`` (``with_timm_name_as_architecture``)."""
    return with_timm_name_as_architecture(with_mappings_replaced(argv))
