"""Decide whether a run folder may be written, and mark it finished.

A folder belongs to one run identity (``identity.json``). It is *finished* when it holds
``experiment_summary.json`` (the last file a run writes). A finished folder is skipped (inside a
sweep or multirun) or refused (a single run) when its identity matches; a diverged run counts as
failed, and a failed job (``failure.json``) is retried unless ``retry_failed`` is false.
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from balancelab.errors import OutputFolderError
from balancelab.output.atomic import is_temporary
from balancelab.output.contract import (FAILED_STATUSES, FAILURE_FILE, IDENTITY_FILE, PREVIOUS_FAILURE_FILE,
                                        PREVIOUS_STATE_FILE, STATE_FILE, SUMMARY_FILE, UNREADABLE_SUMMARY_PREFIX,
                                        Status)
from balancelab.output.lock import LOCK_FILE

# Entries that belong to the process running the job, not to the run: never removed on restart.
KEEP_ON_RESTART = {LOCK_FILE, ".submitit"}


def belongs_to_the_process(name: str) -> bool:
    """The lock and its helpers (``.lock.takeover``, a staged ``.lock.new-*`` a crash left), submitit's files."""
    return name in KEEP_ON_RESTART or name.startswith(LOCK_FILE + ".")
log = logging.getLogger("balancelab")




def is_set_aside(name: str) -> bool:
    """A summary that did not parse, kept for a look: removed by overwrite=true only."""
    return name.startswith(UNREADABLE_SUMMARY_PREFIX)


def _summary(folder: Path):
    """The parsed summary; None when there is none or it does not parse (a truncated copy)."""
    try:
        summary = json.loads((Path(folder) / SUMMARY_FILE).read_text())
    except (OSError, ValueError):
        return None
    return summary if isinstance(summary, dict) else None


def is_finished(folder: str | Path) -> bool:
    """A summary that parses: a file cut short is not the mark of a finished run."""
    return _summary(Path(folder)) is not None


def finished_status(folder: Path):
    summary = _summary(folder)
    return None if summary is None else summary.get("status")


def _failure_type(folder: Path):
    """failure.json's error type (a storage fault, OutputWriteError, is never the state's doing)."""
    try:
        return json.loads((folder / FAILURE_FILE).read_text()).get("error_type")
    except (OSError, ValueError, AttributeError):
        return None


def folder_identity(folder: Path):
    try:
        return json.loads((folder / IDENTITY_FILE).read_text()).get("hash")
    except (OSError, ValueError):
        return None


def prepare_run_folder(folder: str | Path, identity: str, overwrite: bool, skip_finished: bool = False,
                       retry_failed: bool = True) -> str:
    """Make ``folder`` ready for the run of ``identity`` and say what was done.

    Returns ``"fresh"``, ``"overwrite"`` (old content removed on request), ``"resume"`` (an unfinished or
    failed run of this identity with a saved training state), ``"restart"`` (leftovers, a failed run without
    a state or a diverged run removed), or ``"skip"`` (finished — or failed with ``retry_failed`` false — inside a sweep/multirun).
    """
    folder = Path(folder)
    content = [p for p in folder.iterdir() if not belongs_to_the_process(p.name)] if folder.is_dir() else []
    if not overwrite:  # set-aside summaries are kept, and are not a run of their own (no identity.json)
        content = [p for p in content if not is_set_aside(p.name)]
    if content and not overwrite:
        found = folder_identity(folder)
        if found != identity:
            raise OutputFolderError(
                f"The run folder {folder} holds a different run (identity {found or 'unknown'}, this run is "
                f"{identity}); it is not reused. Pass overwrite=true to replace it, or output_root=... to keep both.")
        has_state = (folder / STATE_FILE).is_file() or (folder / PREVIOUS_STATE_FILE).is_file()
        if (folder / FAILURE_FILE).is_file() and has_state and retry_failed:
            if (folder / PREVIOUS_FAILURE_FILE).is_file() and _failure_type(folder) != "OutputWriteError":
                # It failed again after resuming from that state: a failure the state itself may cause (a
                # restore that raises) must not repeat forever, so this retry starts over.
                log.warning("The run in %s failed again after resuming from its saved state; it starts over.",
                            folder)
                (folder / STATE_FILE).unlink(missing_ok=True)
                (folder / PREVIOUS_STATE_FILE).unlink(missing_ok=True)
                has_state = False
            else:
                # A job that failed (a full disk, an error after training, anything inside a multirun) with its
                # training state intact, of this very identity: it is retried by resuming, not by starting
                # over, as a single run stopped by the same fault is. The failure is kept beside it.
                (folder / FAILURE_FILE).replace(folder / PREVIOUS_FAILURE_FILE)
            content = [p for p in folder.iterdir() if not belongs_to_the_process(p.name) and not is_set_aside(p.name)]
        failed = (folder / FAILURE_FILE).is_file() or finished_status(folder) in FAILED_STATUSES
        if failed and not retry_failed:
            if skip_finished:
                return "skip"
            raise OutputFolderError(f"The run in {folder} failed before and retry_failed=false keeps it as it is. "
                                    f"Pass retry_failed=true (the default) to run it again.")
        if is_finished(folder) and not failed:
            if skip_finished:
                return "skip"
            raise OutputFolderError(
                f"The run folder {folder} already holds this finished run ({SUMMARY_FILE} exists). It is not "
                f"overwritten. Pass overwrite=true to replace it, or change seed=... / output_root=... to keep both.")
        if (folder / SUMMARY_FILE).exists() and not is_finished(folder):
            # It does not parse: set it aside (kept for a look, also through a restart), the run is not finished.
            aside = folder / f"{UNREADABLE_SUMMARY_PREFIX}{time.strftime('%Y%m%d-%H%M%S')}-{time.time_ns() % 10**9}.json"
            log.warning("%s in %s does not parse; it is kept as %s and the run goes on as unfinished.",
                        SUMMARY_FILE, folder, aside.name)
            (folder / SUMMARY_FILE).replace(aside)
        content = [p for p in folder.iterdir() if not belongs_to_the_process(p.name) and not is_set_aside(p.name)]
        if not failed and has_state:
            # A write cut short (a kill, a second signal) leaves its temporary file; nothing else writes here
            # now (the caller holds the folder's lock), so it can only be such a leftover.
            for child in content:
                if is_temporary(child.name) and child.is_file():
                    child.unlink(missing_ok=True)
            return "resume"
    folder.mkdir(parents=True, exist_ok=True)
    for child in content:  # an explicit overwrite, a failed run, or an interrupted run's leftovers
        if child.is_dir():
            shutil.rmtree(child)
        else:
            child.unlink()
    return ("overwrite" if overwrite else "restart") if content else "fresh"




class UnreadableRunFile(ValueError):
    """A run file that exists but does not parse (a copy cut short, a disk that filled outside our writes);
    ``file`` names it (a name of output.contract), so that a reader decides by the file, not by the message."""

    def __init__(self, message: str, file: Optional[str] = None):
        super().__init__(message)
        self.file = file


@dataclass(frozen=True)
class JobRecord:
    """What a job folder says about its job: the one reader every consumer uses (the sweep report and its
    statistics, the run page, the Hydra objective)."""

    status: str                       # the summary's status, Status.FAILED or Status.INCOMPLETE
    summary: Optional[dict] = None    # experiment_summary.json of a finished (or diverged) job
    failure: Optional[dict] = None    # failure.json of a failed one


def _parsed(path: Path) -> object:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise UnreadableRunFile(f"{path.name} does not parse ({type(exc).__name__}: {str(exc).splitlines()[0]})",
                                path.name) from None


def read_summary(folder: Path, require_status: bool = True) -> dict:
    """The job's experiment_summary.json (FileNotFoundError when the job has none; UnreadableRunFile when it does
    not parse, or has no status while ``require_status``)."""
    path = Path(folder) / SUMMARY_FILE
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist: the job has not finished")
    summary = _parsed(path)
    if not isinstance(summary, dict) or (require_status and "status" not in summary):
        raise UnreadableRunFile(f"{SUMMARY_FILE} is incomplete (no status)", SUMMARY_FILE)
    return summary


def read_job_record(folder: Path) -> JobRecord:
    """A finished, failed or incomplete job, from its folder (UnreadableRunFile for a file that does not parse)."""
    folder = Path(folder)
    if (folder / SUMMARY_FILE).exists():
        summary = read_summary(folder)
        return JobRecord(str(summary["status"]), summary=summary)
    if (folder / FAILURE_FILE).exists():
        failure = _parsed(folder / FAILURE_FILE)
        if not isinstance(failure, dict):
            raise UnreadableRunFile(f"{FAILURE_FILE} is incomplete (not a mapping)", FAILURE_FILE)
        return JobRecord(Status.FAILED.value, failure=failure)
    return JobRecord(Status.INCOMPLETE.value)
