"""The Hydra task returns the objective a sweeper tunes: validation macro-F1 of the best epoch, never test."""

import json

import pandas as pd
import pytest

from balancelab.task import objective
from tests.conftest import TINY


def test_objective_is_the_best_epochs_validation_macro_f1():
    summary = {"status": "completed", "best_val_macro_f1": 0.71, "test": {"macro_f1": 0.9}}
    assert objective(summary) == 0.71
    assert objective({**summary, "status": "early_stopped"}) == 0.71


@pytest.mark.parametrize("outcome", [
    {"status": "failed", "error_type": "ValueError", "error": "boom"},
    {"status": "locked", "run_dir": "x", "error": "held"},
    {"status": "diverged", "best_val_macro_f1": 0.4},  # a diverged run is a failure, not a score
    {"status": "completed", "best_val_macro_f1": None},
])
def test_failed_jobs_give_no_value_so_the_study_goes_on(outcome):
    assert objective(outcome) is None


def test_a_skipped_job_reports_its_earlier_value(tmp_path):
    (tmp_path / "experiment_summary.json").write_text(json.dumps({"status": "completed", "best_val_macro_f1": 0.6}))
    assert objective({"status": "skipped", "run_dir": str(tmp_path)}) == 0.6
    assert objective({"status": "skipped", "run_dir": str(tmp_path / "gone")}) is None


@pytest.mark.slow
def test_run_job_returns_the_validation_value_of_the_run(tmp_path):
    from hydra import compose, initialize_config_module
    from hydra.core.hydra_config import HydraConfig
    from omegaconf import open_dict

    from balancelab.task import run_job

    with initialize_config_module(config_module="balancelab.configs", version_base="1.3"):
        cfg = compose("config", overrides=[*TINY, f"output_root={tmp_path}"], return_hydra_config=True)
    run_dir = tmp_path / "run"
    with open_dict(cfg):
        cfg.hydra.runtime.output_dir = str(run_dir)
    HydraConfig.instance().set_config(cfg)
    with open_dict(cfg):
        del cfg["hydra"]
    value = run_job(cfg)
    summary = json.loads((run_dir / "experiment_summary.json").read_text())
    history = pd.read_csv(run_dir / "history.csv")
    assert value == summary["best_val_macro_f1"] == history["val_macro_f1"].max()
    assert value != summary["test"]["macro_f1"]


def test_the_optuna_sweeper_plugin_loads_when_installed():
    pytest.importorskip("hydra_plugins.hydra_optuna_sweeper")
    from hydra import compose, initialize_config_module

    with initialize_config_module(config_module="balancelab.configs", version_base="1.3"):
        cfg = compose("config", overrides=["hydra/sweeper=optuna", "hydra.sweeper.direction=maximize"],
                      return_hydra_config=True)
    assert cfg.hydra.sweeper.direction == "maximize"
