"""The sweep's folder: its name, made from the grid's composed config and a hash of the settings every job
shares (another setting makes another sweep, with its own comparison), put into each job once composed."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import List, Optional

from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import OmegaConf

from balancelab.cli.compose import Job, compose_job, mapping_settings
from balancelab.cli.hydra_private import parsed_value, value_text
from balancelab.identity import PRESENTATION_KEYS, RECORDED_ELSEWHERE
from balancelab.sweep.grid import select


def parse_list(value: str) -> list:
    return [v.strip() for v in value.strip("[]").split(",") if v.strip()]


# The grid's jobs are composed before the sweep has its name (made from them): this stands for the name, and
# name_jobs puts the name in its place (sweep_name is a label, out of the run identity: see balancelab.identity).
UNNAMED = "sweep_name=unnamed"


def first_composed(jobs: List[Job], experiments: list, passthrough: list):
    """The config the sweep is named from: the first job (in the grid's order) that composed. A key of an
    experiment's own option (``loss.gamma`` with ``experiments=[focal_loss]``) composes only with that experiment;
    the jobs it does not fit are reported by the check of every job that follows. When Hydra cannot parse the
    command (no jobs; Hydra reports it when it runs), the config is composed from the shared overrides."""
    if not jobs:
        return grid_config(experiments, passthrough)
    composed = next((job.cfg for job in jobs if job.error is None), None)
    if composed is None:
        raise jobs[0].error
    return composed


def name_jobs(jobs: List[Job], named: list, name: str) -> None:
    """The sweep's folder and name put in each composed job, where UNNAMED held their place."""
    for job in jobs:
        at = job.overrides.index(UNNAMED)
        job.overrides[at:at + 1] = named
        if job.cfg is not None:
            job.cfg.sweep_name = name


def grid_config(experiments: list, passthrough: list):
    """The config the sweep's folder is named from: the shared overrides composed with the first of the grid's
    experiments they compose with. A key of an experiment's own option (``loss.gamma`` with
    ``experiments=[focal_loss]``) composes only with that experiment; the jobs it does not fit are reported
    by the check of every job that follows."""
    first_error = None
    for experiment in experiments:
        try:
            return compose_job([f"experiment={experiment}", *composable(passthrough)])
        except Exception as exc:  # noqa: BLE001 - Hydra's composition errors have no common base
            first_error = first_error or exc
    raise first_error if first_error is not None else ValueError("the sweep has no experiment")


SWEEP_DIR_KEYS = ("hydra.sweep.dir", "++hydra.sweep.dir", "+hydra.sweep.dir")


def given_sweep_dir(passthrough: list) -> Optional[str]:
    """The ``hydra.sweep.dir=...`` of the command line (the last one, as Hydra takes it), or None."""
    given = None
    for arg in passthrough:
        key, sep, value = arg.partition("=")
        if sep and key in SWEEP_DIR_KEYS:
            given = value
    return given


def sweep_dir_of(own: dict, passthrough: list, name=None, cfg=None) -> Path:
    """The folder ``sweep`` gives these arguments (see its naming rule), or the one given to Hydra with
    ``hydra.sweep.dir=...``: Hydra puts the jobs there, so the comparison is made there too."""
    given = given_sweep_dir(passthrough)
    if given:
        return Path(given)
    if cfg is None:
        names = parse_list(own.get("experiments") or own.get("experiment") or "")
        cfg = grid_config(select(own.get("group"), names or None, overrides=passthrough), passthrough)
    if screening(own):  # a screen is another sweep than the full grid's, in a folder of its own
        base = name or own.get("name") or f"screen_{cfg.model.name}_{cfg.dataset.name}"
        return Path(cfg.output_root) / "sweeps" / f"{base}_{shared_overrides_hash([*passthrough, 'screen=true'], cfg)}"
    base = name or own.get("name") or f"grid_{cfg.model.name}_{cfg.dataset.name}"
    return Path(cfg.output_root) / "sweeps" / f"{base}_{shared_overrides_hash(passthrough, cfg)}"


def screening(own: dict) -> bool:
    return own.get("screen", "false").strip().lower() == "true"


def shared_overrides_hash(overrides: list, cfg=None) -> str:
    """Short hash of the overrides every job of a sweep shares (the sweep folder's name ends in it).

    A sweep with other shared settings (``trainer.epochs=50``) is another sweep: it gets its own
    folder and comparison instead of reusing jobs run with different settings. Overrides are taken in
    Hydra's canonical form and sorted; presentation-only keys (see balancelab.identity) and Hydra's own
    settings are left out, but not ``hydra.searchpath`` (where the user's own configs come from).

    A mapping setting (``balancing.overrides``) counts by the entries it ends up with: ``key={a: 1.5}`` and
    ``+key.a=1.5`` compose the same jobs, so both count as ``key.a=<a's value in cfg>``, cfg being the sweep's
    composed config (the typed value without it), written as Hydra writes a value. The ``+key.a=...`` spelling,
    the only one that worked before, keeps the text it always had, so its existing folders keep their names.
    """
    # A key left out of the identity because another resolved key records its effect (dataset.input_size
    # sets model.input_size) still changes what is trained when it is overridden: it stays in the hash.
    SWEEP_NEUTRAL_KEYS = [k for k in PRESENTATION_KEYS if k not in RECORDED_ELSEWHERE]
    canonical = []
    mappings = mapping_settings()
    for override in OverridesParser.create().parse_overrides([o for o in overrides if not o.startswith("-")]):
        key = override.get_key_element().lstrip("+~")
        entries = _mapping_entries(override, key, mappings)
        if entries is not None:
            absent = object()
            for entry, typed in entries:
                found = OmegaConf.select(cfg, entry, default=absent) if cfg is not None else absent
                plain = OmegaConf.to_container(found) if OmegaConf.is_config(found) else found
                canonical.append(f"{entry}={value_text(typed if found is absent else plain)}")
            continue
        # hydra.* is Hydra's own bookkeeping, except the search path: another folder of the user's own
        # configs can give the same option name (model=mynet) another meaning.
        if key == "hydra.searchpath":
            canonical.append(f"{key}={override.get_value_element_as_str()}")
            continue
        if key.startswith("hydra") or any(key == p or key.startswith(p + ".") for p in SWEEP_NEUTRAL_KEYS):
            continue
        canonical.append(f"{key}={override.get_value_element_as_str()}")
    return hashlib.sha256("\n".join(sorted(canonical)).encode()).hexdigest()[:8]


def _mapping_entries(override, key: str, mappings: set) -> Optional[list]:
    """[(``setting.entry``, value as typed)] of an override that sets entries of a mapping setting, else None
    (a deletion with ``~`` keeps its own text)."""
    if override.is_delete():
        return None
    value = parsed_value(override)
    if key in mappings and isinstance(value, dict):
        return [(f"{key}.{name}", entry) for name, entry in value.items()]
    if any(key.startswith(f"{mapping}.") for mapping in mappings):
        return [(key, value)]
    return None


def composable(overrides: list) -> list:
    """The overrides the primary config can be composed with: Hydra's own settings and flags left out, but
    not ``hydra.searchpath`` (the user's own options, e.g. model=mynet, are found through it)."""
    return [a for a in overrides if not a.startswith(("hydra", "-")) or a.startswith("hydra.searchpath")]
