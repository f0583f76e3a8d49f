"""Decide whether a run folder may be written, and mark it finished.

A folder is *finished* when it holds ``experiment_summary.json`` (the last file a run writes).
"""

from __future__ import annotations

import shutil
from pathlib import Path

from balancelab.errors import OutputFolderError

SUMMARY_FILE = "experiment_summary.json"
# Saved after every epoch while a run trains; removed when the run finishes.
TRAINING_STATE_FILE = "training_state.pt"


def is_finished(folder: str | Path) -> bool:
    return (Path(folder) / SUMMARY_FILE).is_file()


def prepare_run_folder(folder: str | Path, overwrite: bool, skip_finished: bool = False) -> str:
    """Make ``folder`` ready for a run and say what was done.

    Returns ``"fresh"`` (new or empty folder), ``"overwrite"`` (old content removed on request),
    ``"resume"`` (an unfinished run with a saved training state: kept, training continues),
    ``"restart"`` (an unfinished run's leftovers removed) or ``"skip"`` (finished and
    ``skip_finished``: inside a sweep a finished job is skipped, not refused).
    """
    folder = Path(folder)
    has_content = folder.is_dir() and any(p for p in folder.iterdir() if p.name != ".submitit")
    if not has_content:
        folder.mkdir(parents=True, exist_ok=True)
        return "fresh"
    if is_finished(folder) and not overwrite:
        if skip_finished:
            return "skip"
        raise OutputFolderError(
            f"The run folder {folder} already holds a finished run of this experiment "
            f"({SUMMARY_FILE} exists). It is not overwritten. Pass overwrite=true to replace it, "
            f"or change seed=... / output_root=... to keep both."
        )
    if not overwrite and (folder / TRAINING_STATE_FILE).is_file():
        return "resume"
    # Either an explicit overwrite, or leftovers of an interrupted run (nothing finished to lose).
    for child in folder.iterdir():
        if child.name == ".submitit":
            continue  # the cluster launcher's own logs for this very job
        if child.is_dir():
            shutil.rmtree(child)
        else:
            child.unlink()
    return "overwrite" if overwrite else "restart"
