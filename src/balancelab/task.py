"""The Hydra task shared by ``balance-run`` and ``balance-sweep``: one job, from config to finished folder.

Order matters: identity and checks first (nothing written), then the folder's lock, then the folder
decision (fresh / resume / skip / refuse), then the experiment under graceful-stop signal handling.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from balancelab.errors import (EXIT_DIVERGED, EXIT_FAILED, EXIT_INTERRUPTED, EXIT_LOCKED, EXIT_OUTPUT_ERROR,
                               EXIT_USER_ERROR, BalancelabError, OutputWriteError, RunLockedError)
from balancelab.identity import identity_hash, resolved_without_name
from balancelab.logs import setup_logging
from balancelab.options.validate import validate
from balancelab.output import atomic  # as a module: tests replace atomic.ensure_writable / write_text
from balancelab.output.contract import CONFIG_FILE, FAILURE_FILE, FINISHED, Status
from balancelab.output.lock import LOCK_FILE, FolderLock
from balancelab.output.run_folder import folder_identity, prepare_run_folder, read_summary
from balancelab.training.signals import StopSignals

log = logging.getLogger("balancelab")

CONFIG_PATH = "pkg://balancelab.configs"
# Hydra discards the task's return value: each job's exit code travels here (one per job of a multirun).
_exit_codes: list = []


def run_job(cfg):
    """One job; returns its objective for Hydra sweepers such as Optuna: the validation macro-F1 of the best
    epoch (never a test metric), None when the job did not finish: Optuna records that trial as failed and the
    study goes on (a NaN makes the Optuna sweeper stop the whole study)."""
    return objective(_job(cfg))


def objective(outcome: dict):
    """The validation macro-F1 of the best epoch from a job's outcome; None when it has none.

    Why None and not NaN or an exception (hydra-optuna-sweeper 1.2/1.3, _impl.py ``sweep``): a value
    that is not float-castable marks the trial FAIL and the study goes on, with Optuna 2 and 3 alike.
    NaN is told as a COMPLETE value: Optuna 3 turns it into FAIL, but Optuna 2.10 raises and the
    sweeper's second ``tell`` then crashes the study. An exception from the task makes the sweeper
    re-raise it (max_failure_rate defaults to 0) and stops the whole study for one bad trial.
    """
    summary = outcome
    if outcome.get("status") == Status.SKIPPED:  # finished before with this config: its summary is on disk
        try:
            summary = read_summary(Path(outcome["run_dir"]))
        except (OSError, ValueError, KeyError):
            return None
    if summary.get("status") not in FINISHED:
        return None
    value = summary.get("best_val_macro_f1")
    return None if value is None else float(value)


def _job(cfg) -> dict:
    """One job. Inside a multirun a failing job is recorded and the others go on; alone, it exits."""
    from hydra.core.hydra_config import HydraConfig

    setup_logging()
    hydra_cfg = HydraConfig.get()
    is_multirun = str(hydra_cfg.mode) == "RunMode.MULTIRUN"
    run_dir = Path(hydra_cfg.runtime.output_dir)
    lock, identity = None, None
    owned: list = []  # set once the folder is this job's (locked, and prepared for this identity)

    def record(exc):
        # failure.json makes the failed job a row of the sweep's report (and is retried), so it is written
        # for any failure, except into a folder that is not this job's: one another process holds (its lock
        # is there and not ours), or one that holds another run (prepare_run_folder refused it).
        not_ours = not owned and ((lock is None and (run_dir / LOCK_FILE).exists())
                                  or folder_identity(run_dir) not in (None, identity))
        if not_ours:
            return {"status": Status.FAILED.value, "error_type": type(exc).__name__, "error": str(exc)}
        return _try_record_failure(run_dir, exc, cfg)

    try:
        identity = identity_hash(resolved_without_name(cfg))
        cfg = validate(cfg)  # before any data is loaded; a plain dict from here on
        # Checked by the command line before Hydra started, and again here: a launcher may run the job on
        # another machine (SLURM), where these folders are other mounts.
        atomic.ensure_writable(cfg["output_root"], "output_root")
        if cfg["use_cache"]:
            atomic.ensure_writable(cfg["cache_dir"], "cache_dir")
        lock = FolderLock(run_dir, stale_after_s=cfg["lock_stale_after_s"]).acquire()
        job_index = int(hydra_cfg.job.num) if is_multirun and hydra_cfg.job.get("num") is not None else None
        return _run_locked(cfg, run_dir, identity, is_multirun, hydra_cfg.launcher.get("_target_"), owned, job_index)
    except RunLockedError as exc:
        log.error("%s", exc)
        _record_exit_code(EXIT_LOCKED)
        if is_multirun:  # the folder belongs to the other process: write nothing into it
            return {"status": Status.LOCKED.value, "run_dir": str(run_dir), "error": str(exc)}
        sys.exit(EXIT_LOCKED)
    except BalancelabError as exc:  # an output that cannot be written (4), or a mistake in config or data (2)
        code = EXIT_OUTPUT_ERROR if isinstance(exc, OutputWriteError) else EXIT_USER_ERROR
        log.error("%s", exc)
        _record_exit_code(code)
        if is_multirun:
            return record(exc)
        sys.exit(code)
    except Exception as exc:
        if not is_multirun:
            raise
        # Inside a sweep one failing job must not stop the others (nor skip the end-of-sweep
        # report, which Hydra's callbacks would): record it in the job's folder and carry on.
        log.exception("Job failed: %s", exc)
        _record_exit_code(EXIT_FAILED)
        return record(exc)
    finally:
        if lock is not None:
            lock.release()
        setup_logging(None)


def _run_locked(cfg, run_dir: Path, identity: str, is_multirun: bool, launcher, owned: list,
                job_index=None) -> dict:
    from balancelab.training.loop import Interrupted

    action = prepare_run_folder(run_dir, identity, cfg["overwrite"], skip_finished=is_multirun,
                                retry_failed=cfg["retry_failed"])
    if action == "skip":
        log.info("Skipping %s: already finished with this configuration.", run_dir)
        return {"status": Status.SKIPPED.value, "run_dir": str(run_dir)}
    owned.append(True)
    messages = {"restart": "Removed the leftovers of an unfinished or failed run in %s.",
                "resume": "Unfinished run found in %s: resuming it.", "overwrite": "Replacing the run in %s."}
    if action in messages:
        log.info(messages[action], run_dir)
    setup_logging(run_dir)
    log.info("Run folder: %s", run_dir)
    from balancelab.experiment import run_experiment

    with StopSignals() as stop:
        try:
            summary = run_experiment(cfg, run_dir, identity, launcher=launcher, stop=stop, job_index=job_index)
        except Interrupted as exc:
            if exc.stage != "training":  # after training: its finished state is saved; the stage is redone
                log.warning("Stopped by %s during the %s, after training finished; the training state is saved in "
                            "%s. Run the same command again: it redoes the %s from there (exit code %d).",
                            exc.signal_name, exc.stage, run_dir, exc.stage, EXIT_INTERRUPTED)
            elif exc.epoch == 0:  # before training: the decoded images and the balanced set are cached
                log.warning("Stopped by %s before training started; nothing to save (the loaded data and the "
                            "balanced set are cached). Run the same command again to start it (exit code %d).",
                            exc.signal_name, EXIT_INTERRUPTED)
            else:
                log.warning("Stopped by %s during epoch %d; the training state is saved in %s. Run the same "
                            "command again to resume from there (exit code %d).", exc.signal_name, exc.epoch,
                            run_dir, EXIT_INTERRUPTED)
            stop.hand_over()  # e.g. submitit's handler: requeue the SLURM job, then exit
            sys.exit(EXIT_INTERRUPTED)
    _record_exit_code(EXIT_DIVERGED if summary["status"] == Status.DIVERGED else 0)
    test = summary.get("test") or {}
    log.info("Done: status=%s  test macro-F1=%s  balanced acc=%s  -> %s", summary["status"],
             _fmt(test.get("macro_f1")), _fmt(test.get("balanced_accuracy")), run_dir)
    return summary


def _try_record_failure(run_dir: Path, exc: BaseException, cfg) -> dict:
    try:
        return record_failure(run_dir, exc, cfg)
    except OutputWriteError as again:  # the disk that failed the run may fail this file too
        log.error("%s", again)
        return {"status": Status.FAILED.value, "error_type": type(exc).__name__, "error": str(exc)}


def record_failure(run_dir: Path, exc: BaseException, cfg=None) -> dict:
    """failure.json in the job folder; a rerun retries the job (unless retry_failed=false)."""
    import traceback

    from omegaconf import OmegaConf

    info = {"status": Status.FAILED.value, "error_type": type(exc).__name__, "error": str(exc),
            "traceback": "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))}
    run_dir.mkdir(parents=True, exist_ok=True)
    if cfg is not None and not (run_dir / CONFIG_FILE).exists():
        # The report finds jobs by their config.yaml; a job that failed early still needs one.
        try:
            text = OmegaConf.to_yaml(cfg, resolve=True)
        except Exception:  # a config that cannot be resolved is recorded as written
            text = OmegaConf.to_yaml(cfg)
        atomic.write_text(run_dir / CONFIG_FILE, text)
    atomic.write_json(run_dir / FAILURE_FILE, info)
    return info


# A multirun's launcher may run its jobs in other processes (joblib's workers, submitit, SLURM nodes): each
# job also leaves its code as a file in this folder (under output_root, shared with the nodes), which the
# command reads once the launcher has returned.
EXIT_CODES_ENV = "BALANCELAB_EXIT_CODES"


def _record_exit_code(code: int) -> None:
    import os
    import secrets

    _exit_codes.append(code)
    folder = os.environ.get(EXIT_CODES_ENV)
    if folder:
        try:
            # atomic: the command reads every *.code file once the launcher returns, never half of one
            atomic.write_text(Path(folder) / f"{os.getpid()}-{secrets.token_hex(4)}.code", str(code))
        except (OSError, BalancelabError) as exc:  # the command then knows fewer jobs' codes; it must not fail the job
            log.warning("Could not leave this job's exit code in %s (%s).", folder, exc)


def forget_exit_codes() -> None:
    """A new command starts with no job's exit code (balance-run called twice in one process, e.g. in tests)."""
    _exit_codes.clear()


def single_run_exit_code(folder=None) -> int:
    """The exit code of a run, or of a multirun's jobs taken together: a multirun is as bad as its worst
    job, not as its last. All jobs fine: 0; every failing job failing the same way: that way's code (so
    the table of exit codes still says what to do); failures of different kinds: 1. ``folder``: the codes
    the jobs of other processes left (see EXIT_CODES_ENV)."""
    codes = list(_exit_codes)
    for path in Path(folder).glob("*.code") if folder else ():
        if path.name.startswith("."):  # a write that never finished (atomic's temporary file): no code
            continue
        try:
            codes.append(int(path.read_text()))
        except (OSError, ValueError):
            codes.append(EXIT_FAILED)
    failing = set(code for code in codes if code)
    return failing.pop() if len(failing) == 1 else (EXIT_FAILED if failing else 0)


def _fmt(value) -> str:
    return "n/a" if value is None else f"{value:.4f}"
