"""CPU threads per job: parallel jobs on one machine share its cores instead of oversubscribing them.

Two jobs of torch's default thread count (all cores each) on a 2-core machine run their OpenMP
regions on cores the other job holds: every parallel region waits for a descheduled thread, and
training becomes several times slower than the two jobs run one after the other. So with
``trainer.num_threads=0`` (auto) each job takes ``cores // jobs`` threads, ``jobs`` being the number
of jobs the launcher runs at once on this machine.
"""

from __future__ import annotations

import logging
import os
from typing import Optional

from balancelab.errors import ConfigError

log = logging.getLogger("balancelab")


def available_cores() -> int:
    """Cores this process may run on (its CPU affinity, e.g. a container's or SLURM's share)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def threads_per_job(*, requested: int, cores: int, concurrent_jobs: Optional[int]) -> int:
    """The thread count for one job: ``requested`` when set, else an equal share of ``cores``.

    ``concurrent_jobs`` None means one job (a single run); -1 means as many jobs as cores (joblib's
    convention), so one thread each.
    """
    if requested < 0:
        raise ConfigError(f"trainer.num_threads must be 0 (auto: cores / parallel jobs) or a positive count; "
                          f"got {requested}. Use trainer.num_threads=0 or e.g. trainer.num_threads=2.")
    if cores < 1:
        raise ValueError(f"cores must be at least 1; got {cores}")
    if requested:
        return requested
    jobs = 1 if concurrent_jobs is None else int(concurrent_jobs)
    if jobs < 0:  # joblib: -1 = all cores, -2 = all but one, ...
        jobs = max(1, cores + 1 + jobs)
    return max(1, cores // max(jobs, 1))


def launcher_concurrent_jobs() -> Optional[int]:
    """How many jobs the Hydra launcher of this process runs at once on this machine (None: not known / one).

    The joblib launcher (``hydra/launcher=parallel``) says so in ``n_jobs``; the basic launcher runs
    one job at a time; SLURM jobs get their own cores (``cpus_per_task``, seen through the affinity).
    """
    try:
        from hydra.core.hydra_config import HydraConfig

        if not HydraConfig.initialized():
            return None
        launcher = HydraConfig.get().launcher
    except Exception:  # outside a Hydra app, or a launcher without a config node
        return None
    if "joblib" in str(launcher.get("_target_", "")).lower():
        n_jobs = launcher.get("n_jobs")
        return int(n_jobs) if n_jobs is not None else None
    return None


def configure_threads(requested: int) -> int:
    """Set torch's intra-op thread count for this job and return it."""
    import torch

    jobs = launcher_concurrent_jobs()
    threads = threads_per_job(requested=requested, cores=available_cores(), concurrent_jobs=jobs)
    if requested or jobs is not None or threads != torch.get_num_threads():
        torch.set_num_threads(threads)
    if jobs is not None and not requested:
        log.info("CPU threads: %d (%d cores shared by %d parallel jobs).", threads, available_cores(), jobs)
    return threads
