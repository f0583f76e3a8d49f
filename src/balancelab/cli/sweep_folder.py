"""A sweep folder compares one job per (experiment, seed). Finished jobs of the same pair made with other settings
(an earlier balancelab's defaults, an edited experiment YAML) would be refused by the report only after the whole
grid had trained beside them, so the sweep refuses them before its first job. Settings are compared by identity
(the hash a run folder's name ends in), not by folder name: the report compares a renamed folder of the same
run once (see docs/output.md)."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

from balancelab.output.contract import CONFIG_FILE, FINISHED
from balancelab.output.run_folder import folder_identity

SHOWN = 4


def _identity_of(folder: Path) -> str:
    return folder_identity(folder) or folder.name.rsplit("_", 1)[-1]


def finished_jobs_with_other_settings(sweep_dir: Path, jobs) -> List[tuple]:
    """(experiment, seed, the finished folder, its identity, the identity planned) for each clash. ``jobs`` are
    checked jobs (their ``plain`` config and ``identity`` set by the pre-flight)."""
    if not Path(sweep_dir).is_dir():
        return []
    planned = {(job.plain.get("experiment_name"), str(job.plain.get("seed"))): job.identity
               for job in jobs if job.plain is not None and job.identity}
    seeds = {seed for _, seed in planned}
    clashes = []
    for folder in sorted(Path(sweep_dir).iterdir()):
        # only folders of a planned seed whose identity is not a planned one can clash (cheap tests first)
        if not any(f"_seed{seed}_" in folder.name for seed in seeds) or not (folder / CONFIG_FILE).is_file():
            continue
        identity = _identity_of(folder)
        if identity in planned.values():
            continue
        # the sweep report's own reader of a job folder (pandas: imported only when a folder is a candidate)
        from balancelab.sweep.jobs import read_job

        row = read_job(folder)
        pair = (row["experiment"], str(row["seed"]))
        if pair in planned and row["status"] in FINISHED:
            clashes.append((*pair, folder.name, identity, planned[pair]))
    return clashes


def other_settings_refusal(sweep_dir: Path, jobs) -> Optional[str]:
    clashes = finished_jobs_with_other_settings(sweep_dir, jobs)
    if not clashes:
        return None
    shown = "; ".join(f"{e} seed {s}: {name} (finished, identity {old}; this sweep's job has identity {new})"
                      for e, s, name, old, new in clashes[:SHOWN])
    more = f" and {len(clashes) - SHOWN} more" if len(clashes) > SHOWN else ""
    return (f"The sweep folder {sweep_dir} holds {len(clashes)} finished job(s) of this grid's experiments and seeds "
            f"made with other settings: {shown}{more}. A sweep compares each (experiment, seed) once, so its report "
            f"could not compare the jobs it would train beside these. This happens when an experiment's YAML was "
            f"edited, or when balancelab's defaults changed since the folder was made (on 2026-12-08 the embedded "
            f"mnist_lt data took its own training recipe: Adam at lr 0.002, cosine, 15 epochs, "
            f"trainer.budget=steps). To see what differs, compare a finished job's config.yaml with "
            f"`balance-run --cfg job experiment=<it> seed=<its seed>` plus this sweep's settings. Nothing was run. "
            f"Fix it with name=<a new name> (or hydra.sweep.dir=<another folder>) to give this sweep its own folder; "
            f"or, to complete the earlier sweep in this folder, give its settings back with "
            f"hydra.sweep.dir={sweep_dir} (for mnist_lt before 2026-12-08: scheduler=step trainer.epochs=30 "
            f"trainer.budget=epochs, and optimizer.lr=0.0005 for Adam or the optimizer's own lr, e.g. 0.05 for "
            f"sgd); or move the finished jobs elsewhere.")
