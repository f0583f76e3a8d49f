"""Weights & Biases tracking, imported lazily; a no-op when ``logger=none`` or mode is disabled.

Mode ``auto`` goes online only when credentials are already present (WANDB_API_KEY or a netrc
entry) and offline otherwise, so a run never prompts and never waits on a network. The run's
files live inside the job's folder (``<run>/wandb``); offline runs are uploaded later with
``wandb sync <run>/wandb/offline-run-*``.
"""

from __future__ import annotations

import logging
import netrc
import os
from pathlib import Path
from typing import Optional

import numpy as np

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
    if env in ("online", "offline", "disabled", "dryrun"):
        return "offline" if env == "dryrun" else env
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


class WandbTracker(NullTracker):
    def __init__(self, logger_cfg: dict, plain_cfg: dict, run_dir: Path):
        import wandb

        self.wandb = wandb
        mode = resolve_mode(logger_cfg.get("mode", "auto"))
        tags = [f"model:{plain_cfg['model']['name']}", f"dataset:{plain_cfg['dataset']['name']}",
                f"balancing:{plain_cfg['balancing']['name']}", f"loss:{plain_cfg['loss']['name']}",
                f"seed:{plain_cfg['seed']}", *logger_cfg.get("tags", [])]
        self.run = wandb.init(
            project=logger_cfg.get("project", "balancelab"), entity=logger_cfg.get("entity"),
            group=logger_cfg.get("group") or plain_cfg.get("sweep_name") or plain_cfg.get("experiment_name"),
            job_type=plain_cfg.get("experiment_group"), name=plain_cfg["run_name"], tags=tags,
            config=plain_cfg, dir=str(run_dir), mode=mode, reinit="finish_previous",
            settings=wandb.Settings(console="off", silent=True, init_timeout=60),
        )
        self.run.define_metric("epoch")
        self.run.define_metric("*", step_metric="epoch")
        log.info("wandb: %s run in %s", mode, run_dir / "wandb")

    def log_epoch(self, row: dict) -> None:
        self.run.log({k: v for k, v in row.items()})

    def log_summary(self, summary: dict, run_dir: Path) -> None:
        import pandas as pd

        wandb = self.wandb
        self.run.summary["best_val_macro_f1"] = summary.get("best_val_macro_f1")
        self.run.summary["best_epoch"] = summary.get("best_epoch")
        self.run.summary["status"] = summary.get("status")
        for key, value in (summary.get("test") or {}).items():
            if isinstance(value, (int, float)) or value is None:
                self.run.summary[f"test/{key}"] = value
        payload = {}
        metrics_csv, predictions_csv = run_dir / "test_metrics.csv", run_dir / "predictions.csv"
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
        self.run.finish(exit_code=1 if failed else 0)


def make_tracker(logger_cfg: dict, plain_cfg: dict, run_dir: Path):
    if logger_cfg.get("name") != "wandb" or resolve_mode(logger_cfg.get("mode", "auto")) == "disabled":
        return NullTracker()
    return WandbTracker(logger_cfg, plain_cfg, run_dir)
