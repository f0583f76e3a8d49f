"""The command line is checked whole (every job of a multirun) before Hydra starts anything."""

import pytest

from balancelab.cli.compose import jobs_of
from balancelab.cli.preflight import preflight
from balancelab.cli.help import render_group_help
from tests.conftest import assert_refused_without_heavy_imports


@pytest.mark.parametrize("argv,expected", [
    (["trainer.epohcs=3"], "Did you mean 'trainer.epochs'?"),
    (["loss.gamma=0.5"], "is a key of loss=focal"),
    (["model=shufflenet_v3"], "Did you mean model=shufflenet_v2?"),
    (["trainer.epochs=abc"], "must be an integer >= 0; got 'abc'"),
    (["-m", "optimizer.lr=0.1,-1"], "'optimizer.lr' must be > 0; got -1.0"),
    (["-m", "seed=0,1", "loss=focal,ce", "loss.gamma=1"], "is a key of loss=focal"),
    (["dataset=image_folder"], "dataset.root"),
    (["model=small_cnn", "model.pretrained=true"], "pretrained"),
])
def test_every_mistake_is_found_before_anything_runs(argv, expected):
    message = preflight(argv)
    assert message is not None and expected in message
    assert "Traceback" not in message and "Config search path" not in message


def test_good_commands_and_hydra_flags_pass():
    assert preflight(["loss=focal", "loss.gamma=0.5"]) is None
    assert preflight(["-m", "loss=focal", "loss.gamma=0.5,1,2"]) is None
    assert preflight(["--info", "trainer.epohcs=3"]) is None  # Hydra answers --info itself
    assert "epochs" in preflight(["--cfg", "job", "trainer.epohcs=3"])  # a config that cannot run is not printed


def test_a_multirun_expands_like_hydras_basic_sweeper():
    jobs = jobs_of(["seed=0,1,2", "loss=ce,focal", "trainer.epochs=1"], multirun=True)
    assert len(jobs) == 6 and all("trainer.epochs=1" in job for job in jobs)


@pytest.mark.parametrize("group", ["model", "dataset", "balancing", "loss", "optimizer", "scheduler", "trainer",
                                   "logger", "augmentation", "top"])
def test_help_of_a_group_lists_every_key_with_its_default_and_meaning(group):
    text = render_group_help(group)
    assert "no config group" not in text
    keyed = [line for line in text.splitlines() if line.startswith("    ")]
    assert keyed and all("=" in line for line in keyed)


def test_help_shows_the_effective_values_of_an_option():
    text = render_group_help("dataset")
    digits = text.split("dataset=digits_lt")[1].split("\n\n")[0]
    assert "dataset.imbalance_ratio=10.0" in digits and "dataset.online_augmentation.hflip=false" in digits
    assert "model.width=0.5" in render_group_help("model").split("model=shufflenet_v2_x0_5")[1].split("\n\n")[0]


def test_an_augmentation_preset_setting_that_no_job_uses_is_refused():
    from balancelab.cli.preflight import preflight

    for argv in (["augmentation.rotate.p=0.5"], ["augmentation=default"], ["-m", "balancing=none,smote",
                                                                             "augmentation.hflip.p=0.5"]):
        message = preflight(argv)
        assert message and "only balancing=offline_augmentation uses" in message, argv
    # used by at least one job of the multirun: fine (a grid's shared setting for its augmenting rows)
    assert preflight(["-m", "balancing=none,offline_augmentation", "augmentation.hflip.p=0.5"]) is None
    assert preflight(["balancing=offline_augmentation", "augmentation=default"]) is None
    assert preflight(["augmentation.mixup.method=mixup"]) is None  # batch mixing applies to every technique


def test_batch_mixing_settings_that_could_not_take_effect_are_refused():
    from balancelab.cli.preflight import preflight

    assert "must be none, mixup, remix" in preflight(["augmentation.mixup.method=cutmix"])
    assert "not used by augmentation.mixup.method=mixup" in preflight(["augmentation.mixup.method=mixup",
                                                                        "augmentation.mixup.kappa=5"])
    assert "no batch mixing" in preflight(["augmentation.mixup.alpha=0.2"])
    assert "cannot be imported" in preflight(["augmentation.mixup.method=nowhere.mixes.CutMix"])
    assert preflight(["augmentation.mixup.method=remix", "augmentation.mixup.kappa=5"]) is None
    # a grid with a Remix job uses these settings: the long-tail sweep may tune them
    assert preflight(["-m", "experiment=baseline,remix", "augmentation.mixup.alpha=0.4",
                      "augmentation.mixup.kappa=5"]) is None


def test_a_users_mix_class_is_judged_by_its_signature(tmp_path, monkeypatch):
    from balancelab.cli.preflight import preflight

    (tmp_path / "mymix.py").write_text(
        "class MyRemix:\n    def __init__(self, *, alpha, kappa, tau, class_counts): pass\n"
        "class NoAlpha:\n    def __init__(self, *, class_counts): pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert preflight(["augmentation.mixup.method=mymix.MyRemix", "augmentation.mixup.kappa=5"]) is None
    assert "not used by augmentation.mixup.method=mymix.NoAlpha" in preflight(
        ["augmentation.mixup.method=mymix.NoAlpha", "augmentation.mixup.alpha=0.2"])


def test_two_jobs_that_are_the_same_run_are_refused_before_either_runs():
    from balancelab.cli.preflight import preflight

    # The crt experiment is baseline plus trainer.crt_epochs: with that set for every job, the two are one run.
    message = preflight(["-m", "experiment=baseline,crt", "trainer.crt_epochs=1"])
    assert message and "same run" in message and "experiment=baseline" in message and "experiment=crt" in message
    assert "listed twice" in preflight(["-m", "seed=0,0"])
    assert preflight(["-m", "experiment=baseline,crt"]) is None
    # presentation-only settings do not make a different run
    assert "same run" in preflight(["-m", "trainer.num_threads=1,2"])


def test_a_multirun_with_cfg_and_slurm_without_sbatch_get_one_message(monkeypatch):
    import shutil

    from balancelab.cli.preflight import preflight

    assert "cannot be combined with -m" in preflight(["-m", "balancing=none,smote", "--cfg", "job"])
    real_which = shutil.which
    monkeypatch.setattr(shutil, "which", lambda name: None if name == "sbatch" else real_which(name))
    message = preflight(["-m", "hydra/launcher=slurm", "balancing=none,smote"])
    assert message and "sbatch" in message and "launcher=local" in message


def test_dataset_input_size_that_the_models_own_config_overrides_is_refused():
    from balancelab.cli.preflight import preflight

    assert "would be ignored" in preflight(["dataset.input_size=24", "model.input_size=32"])
    assert "the model's own config gives 32" in preflight(["recipe=ldam_drw_cifar10_lt", "dataset.root=/tmp",
                                                            "dataset.input_size=24"])
    assert preflight(["dataset.input_size=24"]) is None


@pytest.mark.parametrize("argv,expected", [
    (["trainer.epochs=abc"], "'trainer.epochs' (training epochs"),
    (["trainer.epochs=abc"], "must be an integer >= 0; got 'abc'. Fix it with trainer.epochs=30."),
    (["trainer.amp=maybe"], "must be true or false; got 'maybe'"),
    (["trainer.batch_size=1.5"], "must be an integer >= 1; got '1.5'"),
    (["seed=abc"], "must be an integer; got 'abc'. Fix it with seed=42."),
    (["loss=focal", "loss.gamma=abc"], "'loss.gamma' (focusing parameter"),
    (["dataset.online_augmentation.max_shift=x"], "must be a number >= 0 and <= 0.5; got 'x'"),
])
def test_a_value_of_the_wrong_type_gets_the_keys_rule_and_a_valid_value(argv, expected):
    """Hydra's own "could not be converted to Integer" says neither the rule nor a fix; the message a user
    gets for trainer.epochs=0 does, and so must the one for trainer.epochs=abc."""
    error = preflight(argv)
    assert error is not None and expected in error, error


def test_an_unusable_image_folder_is_refused_without_importing_the_loaders_libraries(tmp_path):
    """The check of dataset.root lists the folder as the loader will, but the loader's decoders and splitters
    (torch, OpenCV, scikit-learn, pandas) take seconds to import: a mistake must be refused in about one."""
    assert_refused_without_heavy_imports(["dataset=image_folder", f"dataset.root={tmp_path}"], "no class sub-folders")


@pytest.mark.parametrize("argv, refused", [
    (["optimizer=sgd"], True),                             # would train sgd at the recipe's 0.002
    (["optimizer=adamw"], True),
    (["optimizer=sgd", "optimizer.lr=0.05"], False),       # the rate given: taken as meant
    (["optimizer=adam"], False),                           # the optimizer the recipe was tuned for
    (["optimizer=sgd", "dataset=digits_lt"], False),       # no recipe on that data
    (["dataset=digits_lt", "recipe=mnist_lt", "optimizer=sgd"], True),  # the recipe typed, on other data
])
def test_another_optimizer_on_a_dataset_with_a_recipe_needs_its_learning_rate(argv, refused):
    from balancelab.cli.preflight import check_job
    from balancelab.errors import ConfigError

    if not refused:
        check_job(argv)
        return
    with pytest.raises(ConfigError, match=r"recipe=\w+: the recipe sets optimizer.lr=0\.\d+.*Fix it with optimizer.lr=0\.0"):
        check_job(argv)
