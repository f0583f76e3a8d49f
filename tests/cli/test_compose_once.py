"""Each command composes each of its jobs exactly once before Hydra runs, and passes the composed jobs down
(pre-flight, output roots, the sweep's folder name, the screen); a screen's jobs go through the same pre-flight
as a sweep's; the sweep folder's name follows the composed configuration, not how an override was typed."""

import sys

import pytest

from balancelab.cli import compose, preflight, roots, run_command, sweep_command  # noqa: F401 - patched below


class HandedOver(Exception):
    """Raised where the command hands over to Hydra (or to the screen): everything before it is counted."""


@pytest.fixture
def compositions(monkeypatch, tmp_path):
    """The override lists compose_job was called with, in every module that holds the function."""
    calls = []
    original = compose.compose_job

    def counted(overrides, *args, **kwargs):
        calls.append(list(overrides))
        return original(overrides, *args, **kwargs)

    for module in list(sys.modules.values()):
        if getattr(module, "__name__", "").startswith("balancelab") and getattr(module, "compose_job", None) is original:
            monkeypatch.setattr(module, "compose_job", counted)
    monkeypatch.chdir(tmp_path)
    return calls


@pytest.fixture
def hydra_main(monkeypatch):
    """hydra.main replaced: the command line Hydra would have been given is recorded, and nothing runs."""
    import hydra

    seen = []

    def main(**kwargs):
        def wrap(task):
            def run():
                seen.append(list(sys.argv))
                raise HandedOver
            return run
        return wrap

    monkeypatch.setattr(hydra, "main", main)
    return seen


def _command(monkeypatch, entry, argv):
    monkeypatch.setattr("sys.argv", argv)
    with pytest.raises(HandedOver):
        entry()


def test_balance_run_multirun_composes_each_job_once(compositions, hydra_main, monkeypatch, tmp_path):
    from balancelab.cli.run_command import run

    _command(monkeypatch, run, ["balance-run", "-m", "seed=0,1,2", "balancing=none,smote", "logger=none",
                                f"output_root={tmp_path / 'out'}"])
    assert len(compositions) == 6, compositions
    assert len({tuple(c) for c in compositions}) == 6


def test_balance_sweep_composes_each_job_of_the_grid_once(compositions, hydra_main, monkeypatch, tmp_path):
    from balancelab.cli.sweep_command import sweep

    _command(monkeypatch, sweep, ["balance-sweep", "seeds=[0,1,2]", f"output_root={tmp_path / 'out'}"])
    assert len(compositions) == 24, [c[:2] for c in compositions]
    (argv,) = hydra_main
    assert f"hydra.sweep.dir={tmp_path / 'out' / 'sweeps' / 'grid_small_cnn_mnist_lt_e3b0c442'}" in argv
    assert "sweep_name=grid_small_cnn_mnist_lt_e3b0c442" in argv


@pytest.fixture
def screen(monkeypatch):
    """run_screen replaced: the bases and jobs it would have been given are recorded, and nothing trains."""
    from balancelab.sweep import screening

    seen = []

    def run_screen(sweep_dir, bases, jobs, stale_after_s):
        seen.append((sweep_dir, bases, jobs))
        raise HandedOver

    monkeypatch.setattr(screening, "run_screen", run_screen)
    return seen


def test_a_screen_composes_each_job_once(compositions, screen, monkeypatch, tmp_path):
    from balancelab.cli.sweep_command import sweep

    _command(monkeypatch, sweep, ["balance-sweep", "screen=true", "seeds=[0,1,2]", f"output_root={tmp_path / 'out'}"])
    assert len(compositions) == 24, [c[:2] for c in compositions]
    (sweep_dir, bases, jobs), = screen
    assert sorted(bases) == [0, 1, 2] and len(jobs) == 24
    assert all(bases[s].identity == next(j.identity for j in jobs if j.experiment == "baseline" and j.seed == s)
               for s in bases)


def test_a_screen_without_the_baseline_composes_the_representations_once_each(compositions, screen, monkeypatch,
                                                                              tmp_path):
    from balancelab.cli.sweep_command import sweep

    _command(monkeypatch, sweep, ["balance-sweep", "screen=true", "experiments=[smote]", "seeds=[0,1]",
                                  "trainer.feature_head_epochs=3", f"output_root={tmp_path / 'out'}"])
    assert len(compositions) == 4
    (_, bases, jobs), = screen
    assert sorted(bases) == [0, 1] and [j.experiment for j in jobs] == ["smote", "smote"]
    assert all(j.cfg["trainer"]["feature_head_epochs"] == 3 for j in jobs)
    assert all("feature_head_epochs" not in b.cfg["trainer"] or b.cfg["trainer"]["feature_head_epochs"] != 3
               for b in bases.values())


@pytest.mark.parametrize("screening", [[], ["screen=true"]])
def test_a_screen_refuses_what_a_sweep_refuses(screening, screen, hydra_main, monkeypatch, tmp_path):
    """augmentation.rotate.p is read by offline augmentation only: no job of this grid would use it."""
    from balancelab.cli.sweep_command import sweep

    errors = []
    monkeypatch.setattr(sweep_command.log, "error", lambda message, *args: errors.append(message % args))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("sys.argv", ["balance-sweep", *screening, "experiments=[smote]", "augmentation.rotate.p=0.5",
                                     f"output_root={tmp_path / 'out'}"])
    with pytest.raises(SystemExit) as exit_:
        sweep()
    assert exit_.value.code == 2
    assert len(errors) == 1 and "only balancing=offline_augmentation uses" in errors[0], errors
    assert not screen and not hydra_main


# Sweep folders made before the name followed the composed configuration: these names must not change.
NAMES_BEFORE = [
    ({"seeds": "[0,1,2]"}, [], "grid_small_cnn_mnist_lt_e3b0c442"),
    ({}, ["trainer.epochs=3"], "grid_small_cnn_mnist_lt_6961d8ba"),
    ({}, ["trainer.epochs=30", "loss=focal"], "grid_small_cnn_mnist_lt_d1574d66"),
    ({}, ["balancing=random_undersampling", "+balancing.overrides.NormalVideos=1.5"], "grid_small_cnn_mnist_lt_1b390a37"),
    ({}, ["balancing=random_undersampling", "+balancing.overrides.NormalVideos=1.5", "+balancing.overrides.Stealing=40"],
     "grid_small_cnn_mnist_lt_62ae77e9"),
    ({"screen": "true"}, ["trainer.epochs=3"], "screen_small_cnn_mnist_lt_71914427"),
    ({"name": "mine"}, ["dataset=digits_lt", "optimizer.lr=1e-3", "dataset.input_size=12"], "mine_3385de61"),
    ({}, ["model=resnet32", "trainer.epochs=3", "logger=none"], "grid_resnet32_mnist_lt_2c5d59d9"),
]


@pytest.mark.parametrize("own,overrides,name", NAMES_BEFORE)
def test_existing_sweep_folder_names_are_unchanged(own, overrides, name):
    from balancelab.cli.sweep_naming import sweep_dir_of as _sweep_dir

    assert _sweep_dir(own, compose.with_mappings_replaced(overrides)).name == name


@pytest.mark.parametrize("typed", [["balancing.overrides={NormalVideos: 1.5}"],
                                   ["++balancing.overrides.NormalVideos=1.5"],
                                   ["++balancing.overrides={NormalVideos: 1.5}"]])
def test_two_spellings_of_one_mapping_name_one_sweep_folder(typed):
    """The README's `{NormalVideos: 1.5}` composes the same jobs as `+balancing.overrides.NormalVideos=1.5`: a
    re-run typed the other way must find the finished jobs, in the same folder."""
    from balancelab.cli.sweep_naming import sweep_dir_of as _sweep_dir

    plus = ["balancing=random_undersampling", "+balancing.overrides.NormalVideos=1.5"]
    other = compose.with_mappings_replaced(["balancing=random_undersampling", *typed])
    assert _sweep_dir({}, other).name == _sweep_dir({}, plus).name == "grid_small_cnn_mnist_lt_1b390a37"


@pytest.mark.parametrize("value", ["0", "abc", "2.5"])
def test_a_screen_refuses_a_bad_head_epoch_count_before_anything_trains(value, screen, monkeypatch, tmp_path):
    """trainer.feature_head_epochs was taken out of the screen's pre-flight and put back unchecked: the
    representation trained in full, then every row failed."""
    from balancelab.cli.sweep_command import sweep

    errors = []
    monkeypatch.setattr(sweep_command.log, "error", lambda message, *args: errors.append(message % args))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("sys.argv", ["balance-sweep", "screen=true", "experiments=[smote]", "seeds=[0]",
                                     f"trainer.feature_head_epochs={value}", f"output_root={tmp_path / 'out'}"])
    with pytest.raises(SystemExit) as exit_:
        sweep()
    assert exit_.value.code == 2
    assert len(errors) == 1 and "trainer.feature_head_epochs" in errors[0] and ">= 1" in errors[0], errors
    assert "Fix it with trainer.feature_head_epochs=10" in errors[0]
    assert not screen


def test_the_balance_report_entry_point_of_an_earlier_install_still_resolves():
    """An install made before balance-report moved to cli.report_command has a console script importing
    balancelab.cli.sweep_command:report."""
    from balancelab.cli import report_command
    from balancelab.cli.sweep_command import report

    assert report is report_command.report


@pytest.mark.parametrize("own", [{}, {"name": "mine"}, {"screen": "true"}])
def test_a_sweep_folder_you_give_hydra_is_the_sweeps_folder(own, tmp_path):
    """hydra.sweep.dir puts the jobs there: the comparison must be made there (it looked in the folder the sweep
    would have named itself, and failed after the whole grid had trained)."""
    from balancelab.cli.sweep_naming import sweep_dir_of as _sweep_dir

    assert _sweep_dir(own, ["trainer.epochs=3", f"hydra.sweep.dir={tmp_path}/mine"]) == tmp_path / "mine"
    assert _sweep_dir(own, ["trainer.epochs=3", "hydra.sweep.dir=relative/x"]).as_posix() == "relative/x"
