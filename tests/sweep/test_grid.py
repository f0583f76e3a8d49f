"""The grid's rows come from the experiment config group: the packaged one and the search path's."""

from pathlib import Path

import pytest

from balancelab.sweep.grid import experiments, select

EXAMPLE_CONFIGS = Path(__file__).resolve().parents[2] / "examples" / "custom_components" / "my_configs"
SEARCHPATH = [f"hydra.searchpath=[file://{EXAMPLE_CONFIGS}]"]


def test_a_users_experiment_is_a_row_of_the_grid_when_its_folder_is_on_the_search_path():
    assert "mine" not in experiments()
    assert experiments(overrides=SEARCHPATH)["mine"] == "custom"
    assert select(names=["baseline", "mine"], overrides=SEARCHPATH) == ["baseline", "mine"]
    with pytest.raises(ValueError, match="Unknown experiment"):
        select(names=["baseline", "mine"], overrides=[])


@pytest.mark.parametrize("group", ["longtail", "resampling", "loss_function"])
def test_every_group_sweep_includes_the_baseline_its_verdicts_compare_against(group):
    chosen = select(group, overrides=[])
    assert chosen[0] == "baseline" and chosen.count("baseline") == 1
    assert set(chosen[1:]) == {n for n, g in experiments(overrides=[]).items() if g == group}


def test_the_baseline_group_is_the_baseline_alone():
    assert select("baseline", overrides=[]) == ["baseline"]


def test_the_grid_does_not_depend_on_the_process_arguments(monkeypatch):
    """Only the command line reads sys.argv; called without overrides the grid is the packaged one."""
    monkeypatch.setattr("sys.argv", ["balance-sweep", SEARCHPATH[0], "--help"])
    assert "mine" not in experiments() and "mine" not in select(group="all")


def test_the_sweeps_help_lists_the_experiments_of_the_search_path_it_was_given():
    from balancelab.cli.sweep_command import sweep_help

    assert "mine" in sweep_help(SEARCHPATH) and "mine" not in sweep_help([])
