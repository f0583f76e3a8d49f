"""balance-sweep checks its own arguments and every job of the grid before the first job starts."""

import pytest

from tests.conftest import run_cli


@pytest.mark.parametrize("args,expected", [
    (["trainer.epohcs=1"], "Did you mean 'trainer.epochs'?"),
    (["model=shufflenet_v3"], "model=shufflenet_v2"),
    (["loss.gamma=1.5"], "loss=focal"),
    (["dataset.imbalance_profile=linear"], "dataset.imbalance_profile"),
    (["seeds=[]"], "seeds=[]"),
    (["seeds=[a]"], "integers"),
    (["seeds=[0,0]"], "seeds=[0,0] names seed 0 twice"),
    (["seeds=[1,2,01]"], "seed 1 twice"),
    (["group=resampling", "experiments=[baseline]"], "give one"),
    (["launcher=nope"], "launcher=nope"),
    (["hydra.sweep.dir=${output_root}/mine"], "needs the folder itself"),
    (["model=[small_cnn,resnet32]", "hydra.sweep.dir=mine"], "each combination is a sweep of its own"),
])
def test_mistakes_stop_the_sweep_before_any_job(tmp_path, args, expected):
    result = run_cli([*args, f"output_root={tmp_path / 'out'}"], cwd=tmp_path, script="balance-sweep")
    assert result.returncode == 2, result.stderr
    assert expected in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "out").exists()
    assert "Sweep " not in result.stderr, "the sweep's folder was announced for a command that does not run"


def test_cfg_and_help_answer_without_running(tmp_path):
    cfg = run_cli(["--cfg", "job", "trainer.epochs=3", f"output_root={tmp_path / 'out'}"], cwd=tmp_path,
                  script="balance-sweep")
    assert cfg.returncode == 0 and "epochs: 3" in cfg.stdout and "Traceback" not in cfg.stderr
    assert not (tmp_path / "out").exists()
    usage = run_cli(["--help"], cwd=tmp_path, script="balance-sweep")
    assert "resampling" in usage.stdout and "smote" in usage.stdout and "``" not in usage.stdout
    for script in ("balance-report", "balance-cache"):
        assert "``" not in run_cli(["--help"], cwd=tmp_path, script=script).stdout, script


def test_cache_info_on_a_missing_folder_says_so(tmp_path):
    result = run_cli(["info", "--dir", str(tmp_path / "nope")], cwd=tmp_path, script="balance-cache")
    assert result.returncode == 2 and "does not exist" in result.stderr


def test_a_look_at_a_multi_dataset_sweep_trains_nothing(tmp_path):
    """--cfg job with a dataset list: each combination's first job printed, no job run, no folder made."""
    result = run_cli(["--cfg", "job", "dataset=[digits_lt,digits_binary]", "trainer.epochs=3",
                      f"output_root={tmp_path / 'out'}"], cwd=tmp_path, script="balance-sweep", timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.count("epochs: 3") == 2 and "digits_binary" in result.stdout
    assert "Traceback" not in result.stderr and not (tmp_path / "out").exists()
    assert "epoch 1/3" not in result.stderr


def test_cfg_of_a_sweep_checks_the_whole_grid(tmp_path, monkeypatch, capsys):
    """--cfg job prints the first job, but a setting used by a later job of the grid is not refused."""
    import pytest

    from balancelab.cli import sweep_command as commands

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("sys.argv", ["balance-sweep", "augmentation.rotate.p=0.5", "logger=none", "--cfg", "job"])
    try:
        commands.sweep()
    except SystemExit as exc:
        pytest.fail(f"refused with exit {exc.code}: {capsys.readouterr()}")
    assert "experiment_name: baseline" in capsys.readouterr().out


def test_the_sweep_folder_hash_follows_the_shared_settings_and_the_config_search_path():
    """Other shared settings, or another folder of the user's own configs (hydra.searchpath: the same
    `model=mynet` may mean another network), make another sweep; presentation keys and order do not."""
    from balancelab.cli.sweep_naming import shared_overrides_hash as h

    base = h(["trainer.epochs=30", "loss=focal"])
    assert h(["loss=focal", "trainer.epochs=30"]) == base
    assert h(["trainer.epochs=30", "loss=focal", "logger=none", "trainer.num_threads=2"]) == base
    assert h(["trainer.epochs=50", "loss=focal"]) != base
    mine, theirs = "hydra.searchpath=[file:///home/a/configs]", "hydra.searchpath=[file:///home/b/configs]"
    assert h(["trainer.epochs=30", "loss=focal", mine]) != base
    assert h(["trainer.epochs=30", "loss=focal", mine]) != h(["trainer.epochs=30", "loss=focal", theirs])
    assert h(["trainer.epochs=30", "loss=focal", "hydra.verbose=true"]) == base


def test_an_override_that_sets_another_key_by_interpolation_makes_another_sweep():
    """dataset.input_size is out of the run identity (model.input_size records the side), but overriding it
    trains at another side: another sweep folder, not a folder shared by two input sizes."""
    from balancelab.cli.sweep_naming import shared_overrides_hash as h

    assert h(["dataset.input_size=12"]) != h([])


def test_the_sweep_composes_with_the_users_config_folder():
    from balancelab.cli.sweep_naming import composable

    args = ["model=mynet", "hydra.searchpath=[file:///x]", "hydra.verbose=true", "--multirun"]
    assert composable(args) == ["model=mynet", "hydra.searchpath=[file:///x]"]


@pytest.mark.parametrize("args,key", [(["experiments=[focal_loss]", "loss.gamma=1.5"], "gamma: 1.5"),
                                      (["experiments=[smote]", "balancing.k_neighbors=3"], "k_neighbors: 3")])
def test_a_key_of_the_options_the_grids_experiments_choose_is_accepted(tmp_path, monkeypatch, capsys, args, key):
    """balance-run experiment=focal_loss loss.gamma=1.5 works, so the sweep of that experiment must too: the
    sweep's folder is named from a config composed with its experiments, not with the default options."""
    from balancelab.cli import sweep_command as commands

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("sys.argv", ["balance-sweep", *args, "logger=none", "--cfg", "job"])
    try:
        commands.sweep()
    except SystemExit as exc:
        pytest.fail(f"refused with exit {exc.code}: {capsys.readouterr()}")
    assert key in capsys.readouterr().out


def test_a_key_that_only_some_jobs_have_names_the_job_it_does_not_fit():
    from balancelab.cli.preflight import preflight

    error = preflight(["-m", "loss=ce,focal", "loss.gamma=1"])
    assert error.startswith("In the job loss=ce (one of 2)") and "loss.gamma" in error


def _finished_job(sweep_dir, argv):
    """A finished job folder as a sweep leaves it: its config.yaml and summary, named by its settings."""
    import json

    from omegaconf import OmegaConf

    from balancelab.cli.compose import compose_job

    cfg = OmegaConf.to_container(compose_job(argv), resolve=True)
    folder = sweep_dir / cfg["run_name"]
    folder.mkdir(parents=True)
    (folder / "config.yaml").write_text(OmegaConf.to_yaml(OmegaConf.create(cfg)))
    (folder / "experiment_summary.json").write_text(json.dumps({"status": "completed"}))
    return folder


BEFORE_THE_RECIPE = ["optimizer.lr=0.0005", "scheduler=step", "trainer.epochs=30", "trainer.budget=epochs"]


def test_finished_jobs_made_with_other_settings_stop_the_sweep_before_it_trains(tmp_path):
    """The default sweep's folder is named by the settings given, so after a change of defaults the same command
    lands in the folder of the earlier grid: the report would refuse the mix only after training all of it."""
    sweep_dir = tmp_path / "sweep"
    old = _finished_job(sweep_dir, ["experiment=baseline", "seed=0", *BEFORE_THE_RECIPE])
    result = run_cli(["experiments=[baseline]", "seeds=[0]", f"hydra.sweep.dir={sweep_dir}", "logger=none",
                      f"output_root={tmp_path / 'out'}"], cwd=tmp_path, script="balance-sweep")
    assert result.returncode == 2, result.stderr
    assert f"baseline seed 0: {old.name} (finished" in result.stderr and "Traceback" not in result.stderr
    assert "name=" in result.stderr and "trainer.budget=epochs" in result.stderr
    assert sorted(p.name for p in sweep_dir.iterdir()) == [old.name], "a job was started"


def test_the_same_settings_and_other_seeds_are_no_clash(tmp_path):
    from balancelab.cli.compose import compose_jobs
    from balancelab.cli.preflight import preflight
    from balancelab.cli.sweep_folder import finished_jobs_with_other_settings

    sweep_dir = tmp_path / "sweep"
    _finished_job(sweep_dir, ["experiment=baseline", "seed=0"])  # the job itself, finished: skipped, not a clash
    _finished_job(sweep_dir, ["experiment=baseline", "seed=5", *BEFORE_THE_RECIPE])  # a seed this grid does not run
    # the same run under the name it had before feature-space folders said so: one identity, compared once
    renamed = _finished_job(sweep_dir, ["experiment=smote_features", "seed=1"])
    renamed.rename(sweep_dir / renamed.name.replace("_none_features_smote_ce_", "_none_ce_"))
    argv = ["-m", "experiment=baseline,crt,smote_features", "seed=0,1"]
    jobs = compose_jobs(argv)
    assert preflight(argv, jobs) is None
    assert finished_jobs_with_other_settings(sweep_dir, jobs) == []
    _finished_job(sweep_dir, ["experiment=crt", "seed=1", "trainer.crt_epochs=3"])
    assert [(e, s) for e, s, *_ in finished_jobs_with_other_settings(sweep_dir, jobs)] == [("crt", "1")]
