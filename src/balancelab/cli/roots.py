"""Before Hydra starts: can every folder the command will write take a file?

Hydra makes the run folder (``hydra.run.dir``, under ``output_root``) before the task runs, so a read-only
or full output root would end in Hydra's own OSError traceback. Each job of the command is composed, and
its ``output_root`` (and ``cache_dir`` when ``use_cache``) probed, once per distinct folder, before that.
"""

from __future__ import annotations

from typing import List, Optional, Sequence

from balancelab.cli.compose import compose_job, job_overrides
from balancelab.cli.hydra_private import parse_hydra_arguments
from balancelab.errors import OutputWriteError
from balancelab.output.atomic import ensure_writable

# Hydra flags that print something and run no job: they write no folder, so none is checked (or made).
_NOTHING_WRITTEN = ("cfg", "info", "help", "hydra_help", "shell_completion")


def unwritable_folder(argv: Sequence[str]) -> Optional[OutputWriteError]:
    """The error for the first folder of ``argv``'s jobs that cannot be written, or None when all can.

    A command that does not parse or compose is not this check's business (the config checks report it).
    """
    folders = folders_written(argv)
    for setting, folder in folders:
        try:
            ensure_writable(folder, setting)
        except OutputWriteError as exc:
            return exc
    return None


# The settings that decide the folders, and the groups whose options may set top-level keys themselves
# (``# @package _global_``). Jobs that agree on these write the same folders: one of them is composed.
PATH_KEYS = ("output_root", "cache_dir", "use_cache")
GLOBAL_GROUPS = ("experiment", "recipe")


def folders_written(argv: Sequence[str]) -> List[tuple]:
    """(setting, folder) for each distinct output_root and cache_dir the jobs of ``argv`` write."""
    args = parse_hydra_arguments(argv)
    if args is None:
        return []
    if any(getattr(args, flag, None) for flag in _NOTHING_WRITTEN):
        return []
    found: List[tuple] = []
    try:
        _, jobs = job_overrides(argv)
        whole_job = set()  # deciding overrides whose folders interpolate other settings
        seen = set()
        for overrides in jobs:
            deciding = tuple(o for o in overrides if _key(o) in PATH_KEYS + GLOBAL_GROUPS)
            key = tuple(overrides) if deciding in whole_job else deciding
            if key in seen:
                continue
            seen.add(key)
            folders, needs_whole_job = _folders_of(deciding, overrides)
            if needs_whole_job:
                whole_job.add(deciding)
                seen.add(tuple(overrides))
            found += [w for w in folders if w not in found]
    except Exception:  # a mistake in the command: the config checks name it
        return []
    return found


def _folders_of(deciding: tuple, overrides: Sequence[str]) -> tuple:
    """(the job's folders, whether they depend on more than the deciding overrides): composed with the deciding
    overrides only (output_root, cache_dir, experiment, recipe), so a grid of many jobs composes a few times."""
    from omegaconf import OmegaConf

    cfg = compose_job(list(deciding))
    raw = OmegaConf.to_container(cfg, resolve=False)
    whole_job = any(_interpolates_more_than_output_root(raw.get(k)) for k in ("output_root", "cache_dir"))
    if whole_job:
        cfg = compose_job(list(overrides))  # e.g. output_root=/data/${dataset.name}: the whole job
    wanted = [("output_root", str(cfg.output_root))]
    if cfg.use_cache:
        wanted.append(("cache_dir", str(cfg.cache_dir)))
    return wanted, whole_job


def _interpolates_more_than_output_root(value) -> bool:
    return isinstance(value, str) and "${" in value.replace("${output_root}", "")


def _key(override: str) -> str:
    return override.split("=", 1)[0].lstrip("+~")
