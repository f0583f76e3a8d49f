"""Weights & Biases tracking, imported lazily; a no-op when ``logger=none`` or mode is disabled.

Mode ``auto`` goes online only when credentials are already present (WANDB_API_KEY or a netrc
entry) and offline otherwise, so a run never prompts and never waits on a network. The run's
files live inside the job's folder (``<run>/wandb``); offline runs are uploaded later with
``wandb sync <run>/wandb/offline-run-*``.
"""

from __future__ import annotations

import json
import logging
import netrc
import os
import secrets
from contextlib import contextmanager
from pathlib import Path
from typing import Optional

import numpy as np

from balancelab.logs import quiet_on_write_failure
from balancelab.options.rules import WANDB_MODES
from balancelab.output.atomic import storage_reason, write_failure, write_json
from balancelab.output.contract import PREDICTIONS_FILE, TEST_METRICS_FILE, WANDB_RUN_FILE

log = logging.getLogger("balancelab")


def has_wandb_credentials() -> bool:
    if os.environ.get("WANDB_API_KEY"):
        return True
    try:
        auth = netrc.netrc().authenticators(os.environ.get("WANDB_BASE_URL", "api.wandb.ai").split("//")[-1])
        return bool(auth and auth[2])
    except (FileNotFoundError, netrc.NetrcParseError, OSError):
        return False




def resolve_mode(mode: str) -> str:
    """The wandb mode to use: an explicit WANDB_MODE in the environment wins over the config."""
    env = os.environ.get("WANDB_MODE")
    if env in WANDB_MODES:
        return WANDB_MODES[env]
    if mode == "auto":
        return "online" if has_wandb_credentials() else "offline"
    return mode


class NullTracker:
    def log_epoch(self, row: dict) -> None:
        pass

    def log_summary(self, summary: dict, run_dir: Path) -> None:
        pass

    def finish(self, failed: bool = False) -> None:
        pass


RUN_ID_FILE = WANDB_RUN_FILE


def wandb_run_id(run_dir: Path, identity: str) -> tuple[str, bool]:
    """(run id, resumed): the id kept in the run folder, or a new one made from the run identity.

    A resumed job (same folder, same identity) continues the same wandb run, so its history is one run;
    a restart (``overwrite=true``, a failed run retried) empties the folder and so starts a new one. The
    random suffix keeps those attempts apart. wandb ids may not contain ``:;,#?/'``; ours are hex.
    """

    path = Path(run_dir) / RUN_ID_FILE
    try:
        return json.loads(path.read_text())["id"], True
    except (OSError, ValueError, KeyError):
        run_id = f"bl-{identity}-{secrets.token_hex(4)}"
        write_json(path, {"id": run_id})
        return run_id, False


class WandbTracker(NullTracker):
    def __init__(self, *, mode: str, project: str, entity: Optional[str], group: Optional[str], tags: list,
                 run_dir: Path, run_config: dict, identity: str):
        import wandb

        self.wandb = wandb
        plain_cfg = run_config
        mode = resolve_mode(mode)
        tags = [f"model:{plain_cfg['model']['name']}", f"dataset:{plain_cfg['dataset']['name']}",
                f"balancing:{plain_cfg['balancing']['name']}", f"loss:{plain_cfg['loss']['name']}",
                f"seed:{plain_cfg['seed']}", *tags]
        run_id, resumed = wandb_run_id(run_dir, identity)
        try:
            with _quiet_log_files(Path(run_dir)):
                self.run = wandb.init(
                    project=project, entity=entity,
                    group=group or plain_cfg.get("sweep_name") or plain_cfg.get("experiment_name"),
                    job_type=plain_cfg.get("experiment_group"), name=plain_cfg["run_name"], tags=tags,
                    id=run_id, resume="allow", config=plain_cfg, dir=str(run_dir), mode=mode, reinit="finish_previous",
                    settings=wandb.Settings(console="off", silent=True, init_timeout=60),
                )
        except Exception as exc:
            failure = _storage_failure(Path(run_dir) / "wandb", exc)
            if failure is not None:
                raise failure from exc
            raise
        self.folder = Path(run_dir) / "wandb"
        self._gave_up = False
        self.run.define_metric("epoch")
        self.run.define_metric("*", step_metric="epoch")
        log.info("wandb: %s run %s in %s%s", mode, run_id, run_dir / "wandb", " (resumed)" if resumed else "")

    def log_epoch(self, row: dict) -> None:
        # An explicit step (the epoch) keeps the history one increasing series across a resume, also
        # for offline runs, whose segments are synced together later (wandb sync <run>/wandb/offline-run-*).
        self._guarded("log the epoch", lambda: self.run.log(dict(row), step=int(row["epoch"])))

    def log_summary(self, summary: dict, run_dir: Path) -> None:
        self._guarded("log the summary", lambda: self._log_summary(summary, run_dir))

    def _guarded(self, what: str, call) -> None:
        """A full disk under wandb's folder is the run's problem too: the usual OutputWriteError (exit 4, the
        state kept). Any other wandb failure costs the wandb record, never the training: one warning."""
        if self._gave_up:
            return
        try:
            call()
        except Exception as exc:
            failure = _storage_failure(self.folder, exc)
            if failure is not None:
                raise failure from exc
            self._gave_up = True
            log.warning("wandb could not %s (%s: %s); wandb records nothing more of this run (in %s), the run's "
                        "own files are not affected.", what, type(exc).__name__, _first_line(exc), self.folder)

    def _log_summary(self, summary: dict, run_dir: Path) -> None:
        import pandas as pd

        wandb = self.wandb
        self.run.summary["best_val_macro_f1"] = summary.get("best_val_macro_f1")
        self.run.summary["best_epoch"] = summary.get("best_epoch")
        self.run.summary["status"] = summary.get("status")
        for key, value in (summary.get("test") or {}).items():
            if isinstance(value, (int, float)) or value is None:
                self.run.summary[f"test/{key}"] = value
        payload = {}
        metrics_csv, predictions_csv = run_dir / TEST_METRICS_FILE, run_dir / PREDICTIONS_FILE
        if metrics_csv.exists():
            payload["test/per_class_metrics"] = wandb.Table(dataframe=pd.read_csv(metrics_csv))
        if predictions_csv.exists():
            preds = pd.read_csv(predictions_csv)
            names = [c[len("prob_"):] for c in preds.columns if c.startswith("prob_")]
            payload["test/confusion_matrix"] = wandb.plot.confusion_matrix(
                y_true=preds["true_index"].tolist(), preds=preds["pred_index"].tolist(), class_names=names)
            payload["test/confidence"] = wandb.Histogram(np.asarray(preds["confidence"]))
        for png in sorted(run_dir.glob("*.png")):
            payload[f"plots/{png.stem}"] = wandb.Image(str(png))
        if payload:
            self.run.log(payload)

    def finish(self, failed: bool = False) -> None:
        """Close the wandb run; never raises. It runs in experiment.py's ``finally``, where an error of its own
        (wandb's log file on the disk that just filled) would replace the run's error, the one that matters."""
        try:
            self.run.finish(exit_code=1 if failed else 0)
        except Exception as exc:
            reason = _storage_reason(exc)
            if reason is not None:
                log.warning("wandb could not finish writing its files in %s (%s); its record of this run may be "
                            "incomplete, the run's own files are not affected.", self.folder, reason)
            else:
                log.warning("wandb could not finish the run in %s (%s: %s); the run's own files are not affected.",
                            self.folder, type(exc).__name__, _first_line(exc))


@contextmanager
def _quiet_log_files(run_dir: Path):
    """While wandb starts, every log file it adds inside ``run_dir`` (its debug.log) gets run.log's manners on
    a full disk (one warning, not a '--- Logging error ---' traceback per record, no OSError out of
    ``finish``). They are caught as they are added: wandb logs into them during ``init`` already."""
    wandb_logger = logging.getLogger("wandb")
    add_handler = wandb_logger.addHandler
    inside = run_dir.resolve()

    def add_quietly(handler: logging.Handler) -> None:
        if isinstance(handler, logging.FileHandler) and Path(handler.baseFilename).is_relative_to(inside):
            quiet_on_write_failure(handler, "wandb", f"wandb's log {handler.baseFilename}")
        add_handler(handler)

    wandb_logger.addHandler = add_quietly
    try:
        yield
    finally:
        del wandb_logger.addHandler  # the Logger method again


def _storage_reason(exc: BaseException) -> Optional[str]:
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        reason = storage_reason(exc)
        if reason is not None:
            return reason
        exc = exc.__cause__ or exc.__context__
    return None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:200] if text else "no message"


def _storage_failure(path: Path, exc: BaseException):
    """A disk-full / read-only failure of wandb's files, as the same error every other write gives."""

    cause = exc
    while cause is not None:
        failure = write_failure(path, cause)
        if failure is not None:
            return failure
        cause = cause.__cause__ or cause.__context__
    return None


def wandb_tracker(*, mode: str, project: str, entity: Optional[str], group: Optional[str], tags: list,
                  run_dir: Path, run_config: dict, identity: str):
    """The logger=wandb option's factory: a no-op tracker when the mode (or WANDB_MODE) is disabled."""
    if resolve_mode(mode) == "disabled":
        return NullTracker()
    return WandbTracker(mode=mode, project=project, entity=entity, group=group, tags=list(tags), run_dir=Path(run_dir),
                        run_config=run_config, identity=identity)
