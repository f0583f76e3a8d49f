"""Before Hydra starts: can every folder the command will write take a file?

Hydra makes the run folder (``hydra.run.dir``, under ``output_root``) before the task runs, so a read-only
or full output root would end in Hydra's own OSError traceback. The ``output_root`` (and ``cache_dir`` when
``use_cache``) of each job of the command, as compose_jobs composed it, is probed once per distinct folder,
before that.
"""

from __future__ import annotations

from typing import List, Optional, Sequence

from balancelab.cli.compose import Job, compose_jobs
from balancelab.cli.hydra_private import parse_hydra_arguments
from balancelab.errors import OutputWriteError
from balancelab.output.atomic import ensure_writable

# Hydra flags that print something and run no job: they write no folder, so none is checked (or made).
_NOTHING_WRITTEN = ("cfg", "info", "help", "hydra_help", "shell_completion")


def unwritable_folder(argv: Sequence[str], jobs: Optional[List[Job]] = None) -> Optional[OutputWriteError]:
    """The error for the first folder of ``argv``'s jobs that cannot be written, or None when all can.
    ``jobs``: the command's jobs as compose_jobs(argv) gave them (composed here when not given).

    A command that does not parse or compose is not this check's business (the config checks report it).
    """
    folders = folders_written(argv, jobs)
    for setting, folder in folders:
        try:
            ensure_writable(folder, setting)
        except OutputWriteError as exc:
            return exc
    return None


def folders_written(argv: Sequence[str], jobs: Optional[List[Job]] = None) -> List[tuple]:
    """(setting, folder) for each distinct output_root and cache_dir the jobs of ``argv`` write, read from the
    composed jobs (``jobs``, or compose_jobs(argv) when not given)."""
    args = parse_hydra_arguments(argv)
    if args is None:
        return []
    if any(getattr(args, flag, None) for flag in _NOTHING_WRITTEN):
        return []
    found: List[tuple] = []
    try:
        for job in compose_jobs(argv) if jobs is None else jobs:
            if job.error is not None:
                return []  # a mistake in the command: the config checks name it
            wanted = [("output_root", str(job.cfg.output_root))]
            if job.cfg.use_cache:
                wanted.append(("cache_dir", str(job.cfg.cache_dir)))
            found += [w for w in wanted if w not in found]
    except Exception:  # a folder that does not resolve, a multirun that does not parse: the config checks name it
        return []
    return found
