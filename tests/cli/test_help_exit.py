"""`balance-run --help GROUP`: a group that does not exist is a mistake (exit 2), with its suggestion."""

import pytest

from tests.conftest import run_cli


def test_an_unknown_group_is_a_mistake(tmp_path):
    result = run_cli(["--help", "trainr"], cwd=tmp_path)
    assert result.returncode == 2
    assert "no config group 'trainr'" in result.stderr and "did you mean 'trainer'?" in result.stderr
    assert result.stdout == ""


@pytest.mark.parametrize("topic", ["trainer", "top"])
def test_a_known_group_answers(tmp_path, topic):
    result = run_cli(["--help", topic], cwd=tmp_path)
    assert result.returncode == 0 and result.stdout.strip() and result.stderr == ""


@pytest.mark.parametrize("info", ["defaults", "defaults-tree"])
def test_hydras_info_on_the_defaults_list_answers(tmp_path, info):
    """Hydra's --info defaults expands the defaults list before any config file is read: the option schemas
    must already be registered (they were not: a 53-line MissingConfigException)."""
    result = run_cli(["--info", info], cwd=tmp_path)
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr[-2000:]
    assert "schema/logger/wandb" in result.stdout or "logger/wandb" in result.stdout


def test_an_argument_hydra_does_not_know_is_reported_once(tmp_path):
    result = run_cli(["--bogus"], cwd=tmp_path)
    assert result.returncode == 2 and result.stderr.count("unrecognized arguments: --bogus") == 1, result.stderr
