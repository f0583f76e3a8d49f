"""A sweep folder compares one job per (experiment, seed). Finished jobs of the same pair made with other settings
(an earlier balancelab's defaults, an edited experiment YAML) would be refused by the report only after the whole
grid had trained beside them, so the sweep refuses them before its first job."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import yaml

from balancelab.output.contract import CONFIG_FILE, FINISHED
from balancelab.output.run_folder import finished_status

SHOWN = 4


def _experiment_and_seed(folder: Path):
    try:
        cfg = yaml.safe_load((folder / CONFIG_FILE).read_text())
    except (OSError, ValueError, yaml.YAMLError):
        return None
    if not isinstance(cfg, dict):
        return None
    return cfg.get("experiment_name"), str(cfg.get("seed"))


def _planned_folders(jobs) -> dict:
    from omegaconf import OmegaConf

    planned = {}
    for job in jobs:
        if job.cfg is not None:
            resolved = OmegaConf.to_container(job.cfg, resolve=True)
            planned[(resolved.get("experiment_name"), str(resolved.get("seed")))] = resolved["run_name"]
    return planned


def finished_jobs_with_other_settings(sweep_dir: Path, jobs) -> List[tuple]:
    """(experiment, seed, the finished folder, the folder this sweep would make) for each clash."""
    if not Path(sweep_dir).is_dir():
        return []
    planned = _planned_folders(jobs)
    clashes = []
    for folder in sorted(p for p in Path(sweep_dir).iterdir() if (p / CONFIG_FILE).is_file()):
        pair = _experiment_and_seed(folder)
        if pair in planned and planned[pair] != folder.name and finished_status(folder) in FINISHED:
            clashes.append((*pair, folder.name, planned[pair]))
    return clashes


def other_settings_refusal(sweep_dir: Path, jobs) -> Optional[str]:
    clashes = finished_jobs_with_other_settings(sweep_dir, jobs)
    if not clashes:
        return None
    shown = "; ".join(f"{e} seed {s}: {old} (finished) against {new} (planned)" for e, s, old, new in clashes[:SHOWN])
    more = f" and {len(clashes) - SHOWN} more" if len(clashes) > SHOWN else ""
    return (f"The sweep folder {sweep_dir} holds {len(clashes)} finished job(s) of this grid's experiments and seeds "
            f"made with other settings: {shown}{more}. A sweep compares each (experiment, seed) once, so its report "
            f"could not compare the jobs it would train beside these (the hash at the end of a folder's name is its "
            f"settings; compare the two config.yaml files). This happens when an experiment's YAML was edited, or when "
            f"balancelab's defaults changed since the folder was made (on 2026-12-08 the embedded mnist_lt data took "
            f"its own training recipe: Adam at 0.002, cosine, 15 epochs, trainer.budget=steps). Nothing was run. "
            f"Fix it with name=<a new name> (or hydra.sweep.dir=<another folder>) to give this sweep its own folder; "
            f"or, to complete the earlier sweep in this folder, give its settings back with hydra.sweep.dir={sweep_dir} "
            f"(for the defaults before 2026-12-08: optimizer.lr=0.0005 scheduler=step trainer.epochs=30 "
            f"trainer.budget=epochs); or move the finished jobs elsewhere.")
