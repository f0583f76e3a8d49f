"""A user's own model, loss and balancer (examples/custom_components) plugged in through hydra.searchpath."""

import json
import shutil
import sys
from pathlib import Path

import pytest

from tests.conftest import run_cli

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "custom_components"


@pytest.fixture
def user_project(tmp_path):
    """The example copied into an unrelated directory, as a user's own project would be."""
    project = tmp_path / "project"
    shutil.copytree(EXAMPLE, project)
    return project


def test_the_example_balancer_passes_the_contract_checks(monkeypatch):
    from balancelab.testing import check_balancer

    monkeypatch.syspath_prepend(str(EXAMPLE))
    from my_project.balancers import EveryOtherCopy

    check_balancer(EveryOtherCopy)
    sys.modules.pop("my_project.balancers", None)


def _compose(project, overrides):
    from hydra import compose, initialize_config_module

    with initialize_config_module(config_module="balancelab.configs", version_base="1.3"):
        return compose("config", overrides=[f"hydra.searchpath=[file://{project / 'my_configs'}]", *overrides])


def test_a_misspelt_key_of_a_user_component_is_refused_with_the_closest_name(user_project, monkeypatch):
    from balancelab.options.validate import validate
    from balancelab.errors import ConfigError

    monkeypatch.syspath_prepend(str(user_project))
    validate(_compose(user_project, ["model=tiny_net", "loss=prior_shifted_ce", "balancing=every_other_copy"]))
    with pytest.raises(ConfigError, match=r"'model.hiden'.*did you mean 'hidden'"):
        validate(_compose(user_project, ["model=tiny_net", "+model.hiden=8"]))
    with pytest.raises(ConfigError, match=r"balancing._target_=my_project.balancers.Nope cannot be imported"):
        validate(_compose(user_project, ["balancing=every_other_copy", "balancing._target_=my_project.balancers.Nope"]))


@pytest.mark.slow
def test_the_example_runs_from_an_unrelated_directory(user_project, tmp_path):
    args = ["hydra.searchpath=[file://my_configs]", "model=tiny_net", "loss=prior_shifted_ce",
            "balancing=every_other_copy", "trainer.epochs=2", "trainer.num_threads=1", "logger=none",
            f"output_root={tmp_path / 'out'}"]
    result = run_cli(args, cwd=user_project)  # as the README says: from the project folder, no PYTHONPATH
    assert result.returncode == 0, result.stderr
    (summary_path,) = (tmp_path / "out" / "runs").glob("tiny_net_balance_every_other_copy_prior_shifted_ce_*/"
                                                       "experiment_summary.json")
    summary = json.loads(summary_path.read_text())
    assert summary["status"] in ("completed", "early_stopped") and summary["test"]["macro_f1"] > 0
    assert summary["loss_details"]["type"] == "prior_shifted_cross_entropy"
    assert summary["train_balanced_counts"] != summary["train_counts"]  # the user's balancer did its work
    config = (summary_path.parent / "config.yaml").read_text()
    assert "my_project.nets.TinyNet" in config and "copies: 2" in config
    bad = run_cli([*args, "+model.hiden=8"], cwd=user_project)
    assert bad.returncode == 2 and "hidden" in bad.stderr and "Traceback" not in bad.stderr
    sweep = run_cli(["hydra.searchpath=[file://my_configs]", "model=tiny_net", "experiments=[baseline]", "--cfg", "job"],
                    cwd=user_project, script="balance-sweep")
    assert sweep.returncode == 0 and "my_project.nets.TinyNet" in sweep.stdout, sweep.stderr


@pytest.mark.slow
def test_a_users_experiment_is_a_row_of_balance_sweep(user_project, tmp_path):
    import pandas as pd

    args = ["hydra.searchpath=[file://my_configs]", "experiments=[baseline,mine]", "model=tiny_net",
            "trainer.epochs=2", "trainer.num_threads=1", "logger=none", f"output_root={tmp_path / 'out'}"]
    result = run_cli(args, cwd=user_project, script="balance-sweep")
    assert result.returncode == 0, result.stderr[-3000:]
    (comparison,) = (tmp_path / "out" / "sweeps").glob("*/comparison.csv")
    rows = set(pd.read_csv(comparison)["experiment"])
    assert {"baseline", "mine"} <= rows
