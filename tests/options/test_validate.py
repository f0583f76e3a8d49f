from pathlib import Path

import pytest
from omegaconf import OmegaConf

from balancelab.errors import ConfigError
from balancelab.options.catalog import config_groups
from balancelab.options.validate import validate
from tests.conftest import compose


def all_options():
    return [(group, option) for group, options in config_groups().items() if group not in ("experiment", "launcher", "recipe")
            for option in options]


# Options that only make sense with a companion setting.
IMAGES = "<a folder of class folders of images>"  # filled in by the image_root fixture
COMPANIONS = {("dataset", "image_folder"): [f"dataset.root={IMAGES}"],
              **{("dataset", d): [f"dataset.root={Path(__file__).parent}"] for d in ("mnist", "fashion_mnist", "cifar10",
                                                                                      "cifar100")}, ("loss", "bce"): ["dataset=digits_binary"]}


@pytest.mark.parametrize("group,option", all_options())
def test_every_shipped_option_composes_and_validates(group, option, image_root):
    companions = [c.replace(IMAGES, str(image_root)) for c in COMPANIONS.get((group, option), [])]
    cfg = validate(compose([f"{group}={option}", *companions]))
    assert cfg[group].get("name", option)


def test_every_named_experiment_composes():
    from balancelab.sweep.grid import experiments

    for name in experiments():
        cfg = validate(compose([f"experiment={name}"]))
        assert cfg["experiment_name"] == name


def test_image_folder_without_root_and_bce_on_ten_classes_are_rejected():
    with pytest.raises(ConfigError, match="dataset.root"):
        validate(compose(["dataset=image_folder"]))
    with pytest.raises(ConfigError, match="two-class"):
        validate(compose(["loss=bce"]))


def test_defaults_match_the_documented_ones():
    cfg = validate(compose())
    # The embedded long-tailed MNIST digits choose small_cnn at 16 px; other data the global default.
    assert cfg["model"]["name"] == "small_cnn" and cfg["model"]["input_size"] == 16
    assert cfg["dataset"]["name"] == "mnist_lt" and cfg["dataset"]["input_size"] == 16
    assert cfg["balancing"]["name"] == "none" and cfg["loss"]["name"] == "ce"
    # The embedded data brings its training recipe (configs/recipe/mnist_lt.yaml): Adam at 0.002 with a cosine
    # schedule over 15 epochs, every technique given the same optimiser steps, under which the default grid
    # separates the techniques (docs/statistics.md). Other data keep the global defaults.
    assert cfg["optimizer"]["name"] == "adam" and cfg["optimizer"]["lr"] == pytest.approx(2e-3)
    assert cfg["optimizer"]["weight_decay"] == pytest.approx(1e-4) and cfg["scheduler"]["name"] == "cosine"
    assert cfg["scheduler"]["warmup_epochs"] == 1
    assert cfg["trainer"]["epochs"] == 15 and cfg["trainer"]["budget"] == "steps" and cfg["trainer"]["steps"] is None
    for dataset in ("cifar10", "image_folder", "mnist", "digits_lt"):
        other = compose([f"dataset={dataset}"])
        assert other.optimizer.lr == pytest.approx(5e-4) and other.scheduler.name == "step"
        assert other.trainer.epochs == 30 and other.trainer.budget == "epochs"
    # The recipe's settings stay overridable one by one, and can be given to other data.
    assert validate(compose(["trainer.budget=epochs", "trainer.epochs=30"]))["trainer"]["epochs"] == 30
    assert compose(["dataset=mnist", "recipe=mnist_lt"]).trainer.budget == "steps"
    for dataset in ("cifar10", "image_folder"):
        other = compose([f"dataset={dataset}"])
        assert other.model.name == "shufflenet_v2" and other.model.input_size == 32
        assert other.model._target_ == "balancelab.models.shufflenet_v2"
    chosen = compose(["model=shufflenet_v2"])  # a model chosen on digits keeps the dataset's size
    assert chosen.model.name == "shufflenet_v2" and chosen.model.input_size == 16
    assert compose(["model=shufflenet_v2", "model.input_size=32"]).model.input_size == 32


def test_wrong_type_names_the_key():
    from hydra.errors import ConfigCompositionException

    with pytest.raises(ConfigCompositionException, match=r"trainer\.epochs"):
        compose(["trainer.epochs=abc"])


def test_unknown_key_is_rejected_at_composition():
    from hydra.errors import ConfigCompositionException

    with pytest.raises(ConfigCompositionException, match="epohcs"):
        compose(["trainer.epohcs=3"])


def test_unknown_option_lists_valid_ones():
    from hydra.errors import MissingConfigException

    with pytest.raises(MissingConfigException, match="shufflenet_v2"):
        compose(["model=shufflenet_v3"])


def test_invalid_choice_lists_valid_values():
    with pytest.raises(ConfigError, match="exponential"):
        validate(compose(["dataset.imbalance_profile=linear"]))


def test_added_key_in_typed_group_is_rejected():
    """Hydra's `+key=` opens the schema; the validation pass still refuses the key, with the closest one."""
    with pytest.raises(ConfigError, match="loss.foo"):
        validate(compose(["+loss.foo=1"]))
    with pytest.raises(ConfigError, match="did you mean 'loss.gamma'"):
        validate(compose(["loss=focal", "+loss.gama=1"]))


def test_a_key_of_another_option_is_rejected():
    """focal's gamma is not a key of ce: accepted it would silently do nothing."""
    from hydra.errors import ConfigCompositionException

    with pytest.raises(ConfigCompositionException, match="gamma"):
        compose(["loss.gamma=0.5"])
    with pytest.raises(ConfigCompositionException, match="pretrained"):
        compose(["model=small_cnn", "model.pretrained=true"])
    with pytest.raises(ConfigCompositionException, match="momentum"):
        compose(["optimizer=adam", "optimizer.momentum=0.5"])


def test_out_of_range_is_rejected():
    with pytest.raises(ConfigError, match="trainer.epochs"):
        validate(compose(["trainer.epochs=0"]))


def test_run_name_is_readable_and_ends_in_the_identity_hash():
    from balancelab.identity import identity_hash, resolved_without_name

    cfg = compose(["balancing=random_oversampling", "loss=focal", "seed=3"])
    name = OmegaConf.to_container(cfg, resolve=True)["run_name"]
    prefix, digest = name.rsplit("_", 1)
    assert prefix == "small_cnn_balance_random_oversampling_focal_mnist_lt_seed3"
    assert digest == identity_hash(resolved_without_name(cfg)) and len(digest) == 8


# Run folders (seed 42): a rename of a folder or a change of its hash would orphan every earlier run of that
# experiment (a rerun would not find, skip or resume it). The training defaults changed on 2026-12-08 (Adam lr
# 0.002, cosine, 15 epochs, equal steps), which makes new experiments; the previous defaults, given explicitly,
# still find the folders made before.
PREVIOUS_DEFAULTS = ["optimizer.lr=0.0005", "scheduler=step", "trainer.epochs=30", "trainer.budget=epochs"]
KEPT_RUN_NAMES = {"baseline": ("small_cnn_balance_none_ce_mnist_lt_seed42_a11d0da7", "b29d316e"),
                  "ldam": ("small_cnn_balance_none_ldam_mnist_lt_seed42_ac3c2b3e", "5631355c"),
                  "ldam_drw": ("small_cnn_balance_none_ldam_mnist_lt_seed42_ba149f73", "17634141"),
                  "smote": ("small_cnn_balance_smote_ce_mnist_lt_seed42_0f37a2ec", "cc6cbd50"),
                  "crt": ("small_cnn_balance_none_ce_mnist_lt_seed42_f04d1c95", "49b3b293")}


def _run_name(argv):
    return OmegaConf.to_container(compose(argv), resolve=True)["run_name"]


@pytest.mark.parametrize("experiment", sorted(KEPT_RUN_NAMES))
def test_run_names_without_feature_balancing_are_unchanged(experiment):
    before, digest_now = KEPT_RUN_NAMES[experiment]
    assert _run_name([f"experiment={experiment}", *PREVIOUS_DEFAULTS]) == before
    assert _run_name([f"experiment={experiment}"]) == f"{before.rsplit('_', 1)[0]}_{digest_now}"


@pytest.mark.parametrize("experiment,technique,digest,digest_now", [
    ("smote_features", "smote", "7d7799d1", "db5ef096"),
    ("adasyn_features", "adasyn", "a12c5b1d", "8f5a6a3d"),
    ("random_oversampling_features", "random_oversampling", "6817c680", "48fcc215")])
def test_a_feature_space_run_folder_names_its_feature_balancing(experiment, technique, digest, digest_now):
    """A feature-space run's folder is told apart from the baseline's by its name (not only by its hash), and its
    identity hash is the one it had before the name said so."""
    stem = f"small_cnn_balance_none_features_{technique}_ce_mnist_lt_seed42"
    assert _run_name([f"experiment={experiment}", *PREVIOUS_DEFAULTS]) == f"{stem}_{digest}"
    assert _run_name([f"experiment={experiment}"]) == f"{stem}_{digest_now}"


@pytest.mark.parametrize("override", ["optimizer.lr=0.01", "trainer.epochs=50", "dataset.imbalance_ratio=50",
                                      "loss=focal", "model.input_size=24", "dataset.input_size=24", "optimizer=sgd", "evaluation.few_shot_max=5"])
def test_every_setting_that_changes_results_changes_the_run_name(override):
    names = {OmegaConf.to_container(compose(o), resolve=True)["run_name"] for o in ([], [override])}
    assert len(names) == 2


@pytest.mark.parametrize("override", ["logger=none", "trainer.progress=log", "trainer.num_threads=2",
                                      "output_root=elsewhere", "use_cache=false", "overwrite=true",
                                      "experiment_name=renamed"])
def test_presentation_only_settings_keep_the_run_name(override):
    names = {OmegaConf.to_container(compose(o), resolve=True)["run_name"].rsplit("_", 1)[1]
             for o in ([], [override])}
    assert len(names) == 1


@pytest.mark.parametrize("override,key", [
    ("dataset=digits_lt dataset.val_fraction=0.6", "val_fraction + dataset.test_fraction"),
    ("balancing=smote", None), ("model=shufflenet_v2 model.width=0.7", "model.width"), ("loss=focal", None),
    ("dataset.online_augmentation.max_shift=0.9", "dataset.online_augmentation.max_shift"),
    ("lock_stale_after_s=0", "lock_stale_after_s"), ("optimizer.lr=0", "optimizer.lr"),
])
def test_field_rules_come_from_the_schema(override, key):
    overrides = [*override.split(), "dataset.test_fraction=0.5"] if "val_fraction" in override else override.split()
    if key is None:
        validate(compose(overrides))
        return
    with pytest.raises(ConfigError, match=key.replace(".", r"\.").replace("+", r"\+")) as info:
        validate(compose(overrides))
    assert "got" in str(info.value)


def test_several_problems_are_reported_together():
    with pytest.raises(ConfigError) as info:
        validate(compose(["trainer.epochs=0", "optimizer.lr=-1"]))
    assert "trainer.epochs" in str(info.value) and "optimizer.lr" in str(info.value)


@pytest.mark.parametrize("overrides,key", [
    (["trainer.device=gpu"], "trainer.device"),
    (["loss=focal", "loss.gamma=-1"], "loss.gamma"),
    (["loss=focal", "loss.alpha=foo"], "loss.alpha"),
    (["dataset=digits_binary", "loss=bce", "loss.pos_weight=-2"], "loss.pos_weight"),
    (["balancing=smote", "balancing.k_neighbors=0"], "balancing.k_neighbors"),
    (["dataset=image_folder", "dataset.root=nope"], "dataset.root"),
])
def test_values_a_new_user_gets_wrong_are_rejected_before_data_loads(overrides, key):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        validate(compose(overrides))


def test_the_ldam_drw_recipe_is_the_papers_protocol_line_by_line():
    """Cao et al. 2019, CIFAR-10-LT: ratio 100 exponential, ResNet-32, SGD 0.1 / 0.9 / 2e-4, batch 128, 200 epochs,
    5-epoch linear warm-up, lr x0.01 at 160 and 180, 4-px crop + flip, DRW at 160."""
    cfg = validate(compose(["recipe=ldam_drw_cifar10_lt", "experiment=ldam_drw", "dataset.root=."]))
    d, m, o, s, t, l = (cfg[k] for k in ("dataset", "model", "optimizer", "scheduler", "trainer", "loss"))
    assert (d["name"], d["imbalance_ratio"], d["imbalance_profile"]) == ("cifar10", 100, "exponential")
    # The 4-px random crop: as an integer crop with zero padding, or as a shift of 4/32 of the side.
    crop = d["online_augmentation"]
    assert (crop["crop_padding"], crop["max_shift"]) in ((4, 0.0), (0, 0.125))
    assert {k: crop[k] for k in ("hflip", "vflip", "max_rotation", "scale_range")} == {
        "hflip": True, "vflip": False, "max_rotation": 0.0, "scale_range": 0.0}
    assert (m["name"], m["input_size"], m["normed_classifier"]) == ("resnet32", 32, True)
    assert (o["name"], o["lr"], o["momentum"], o["weight_decay"], o["nesterov"]) == ("sgd", 0.1, 0.9, 2e-4, False)
    assert (s["name"], s["milestones"], s["gamma"], s["warmup_epochs"]) == ("multistep", [160, 180], 0.01, 5)
    assert (t["batch_size"], t["epochs"], t["early_stopping_patience"]) == (128, 200, 0)
    assert (l["name"], l["drw_epoch"], l["max_margin"], l["scale"]) == ("ldam", 160, 0.5, 30.0)


def test_online_crop_padding_is_a_dataset_key_with_default_zero_and_a_lower_bound():
    """The training loop's integer random crop (torchvision RandomCrop(size, padding)) is configured here."""
    assert validate(compose([]))["dataset"]["online_augmentation"]["crop_padding"] == 0
    assert validate(compose(["dataset.online_augmentation.crop_padding=4"]))["dataset"]["online_augmentation"][
        "crop_padding"] == 4
    with pytest.raises(ConfigError, match=r"dataset\.online_augmentation\.crop_padding.*>= 0.*got -1"):
        validate(compose(["dataset.online_augmentation.crop_padding=-1"]))


def test_every_torchvision_source_knows_its_class_count_before_loading():
    from balancelab.options.datasets import TORCHVISION_CLASS_COUNTS, TORCHVISION_SOURCES, TorchvisionDataset

    assert set(TORCHVISION_CLASS_COUNTS) == set(TORCHVISION_SOURCES)
    assert {s: TorchvisionDataset.known_num_classes({"source": s}) for s in TORCHVISION_SOURCES} == {
        "mnist": 10, "fashion_mnist": 10, "cifar10": 10, "cifar100": 100}


@pytest.mark.parametrize("overrides", [
    ["dataset=digits_binary", "dataset.imbalance_profile=none", "dataset.imbalance_ratio=20"],
    ["dataset.imbalance_profile=none", "dataset.imbalance_ratio=20"],  # digits_lt: a ratio other than its own 10
    ["dataset=image_folder", f"dataset.root={Path(__file__).parent}", "dataset.imbalance_ratio=5"],
])
def test_a_ratio_that_profile_none_would_ignore_is_refused(overrides, image_root):
    overrides = [o.replace(str(Path(__file__).parent), str(image_root)) for o in overrides]
    with pytest.raises(ConfigError, match=r"imbalance_ratio.*imbalance_profile=none.*exponential"):
        validate(compose(overrides))
    validate(compose([o for o in overrides if "imbalance_ratio" not in o]))  # the default ratio is fine


def test_download_is_presentation_only():
    from balancelab.identity import identity_hash

    def identity_of(download):
        cfg = validate(compose(["dataset=cifar10", f"dataset.root={Path(__file__).parent}",
                                f"dataset.download={download}"]))
        return identity_hash(cfg)

    assert identity_of("false") == identity_of("true")


@pytest.fixture
def image_root(tmp_path):
    """A tiny, valid image_folder root: two class folders with one PNG each."""
    from PIL import Image
    import numpy as np

    for name in ("cat", "dog"):
        (tmp_path / "images" / name).mkdir(parents=True)
        Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(tmp_path / "images" / name / "a.png")
    return tmp_path / "images"


def _empty(root):
    root.mkdir()


def _files_but_no_class_folders(root):
    root.mkdir()
    (root / "a.png").write_bytes(b"")


def _a_class_folder_without_images(root):
    (root / "cat").mkdir(parents=True)
    (root / "cat" / "a.png").write_bytes(b"")
    (root / "dog").mkdir()
    (root / "dog" / "notes.txt").write_text("no images here")


@pytest.mark.parametrize("make,says", [(_empty, "no class sub-folders"),
                                       (_files_but_no_class_folders, "no class sub-folders"),
                                       (_a_class_folder_without_images, "dog holds no image files")])
def test_an_existing_but_unusable_image_folder_is_refused_before_anything_runs(make, says, tmp_path):
    root = tmp_path / "root"
    make(root)
    before = sorted(tmp_path.rglob("*"))
    with pytest.raises(ConfigError, match=rf"dataset\.root.*{says}.*Fix it with dataset\.root="):
        validate(compose(["dataset=image_folder", f"dataset.root={root}"]))
    assert sorted(tmp_path.rglob("*")) == before  # no folder made


def test_an_image_folder_with_class_folders_of_images_passes(image_root):
    validate(compose(["dataset=image_folder", f"dataset.root={image_root}"]))


@pytest.mark.parametrize("override,example", [
    ("loss.gamma=-1", "loss.gamma=2.0"),        # the option's own default, when it is valid
    ("trainer.epochs=0", "trainer.epochs=30"),
    ("model=shufflenet_v2 model.width=0.7", "model.width=1.0"),
    ("optimizer.lr=-1", "optimizer.lr=0.0005"),
])
def test_a_range_error_ends_with_a_concrete_valid_value(override, example):
    overrides = ["loss=focal", override] if override.startswith("loss.") else override.split()
    with pytest.raises(ConfigError) as info:
        validate(compose(overrides))
    assert f"Fix it with {example}" in str(info.value) and "=..." not in str(info.value)


@pytest.mark.parametrize("overrides,says", [
    (["loss.drw_epoch=30", "trainer.epochs=30"], r"loss\.drw_epoch \(30\).*trainer\.epochs \(30\)"),
    (["loss=ldam", "loss.drw_epoch=40", "trainer.epochs=30"], r"loss\.drw_epoch \(40\)"),
    (["balancing=deferred_resampling", "balancing.start_epoch=5", "trainer.epochs=5"],
     r"balancing\.start_epoch \(5\).*trainer\.epochs \(5\)"),
    (["dataset=digits_binary", "loss=bce", "trainer.crt_epochs=3"], r"loss=bce.*trainer\.crt_epochs"),
    (["trainer.budget=steps", "trainer.steps=5", "trainer.epochs=10"], r"trainer\.steps.*trainer\.epochs"),
])
def test_settings_that_could_never_take_effect_are_refused(overrides, says):
    with pytest.raises(ConfigError, match=says):
        validate(compose(overrides))


def test_their_working_neighbours_pass():
    validate(compose(["loss.drw_epoch=29", "trainer.epochs=30"]))
    validate(compose(["balancing=deferred_resampling", "trainer.epochs=5"]))  # the default start: 80 % of epochs
    validate(compose(["dataset=digits_binary", "loss=bce"]))
    validate(compose(["trainer.budget=steps", "trainer.steps=10", "trainer.epochs=10"]))


@pytest.mark.parametrize("epochs,start", [(1, 0), (2, 1), (5, 4), (30, 24), (200, 160)])
def test_the_default_deferred_start_is_80_percent_of_the_epochs_and_always_inside_the_run(epochs, start):
    cfg = validate(compose(["balancing=deferred_resampling", f"trainer.epochs={epochs}"]))
    assert cfg["balancing"]["start_epoch"] == start
    assert validate(compose(["experiment=ldam_drw", f"trainer.epochs={epochs}"]))["loss"]["drw_epoch"] == start


def test_a_torchvision_architecture_is_checked_before_anything_runs():
    cfg = validate(compose(["model=resnet18", "model.architecture=resnet34"]))
    assert cfg["model"]["architecture"] == "resnet34"
    with pytest.raises(ConfigError, match=r"model\.architecture=resnet99 is not a torchvision classification model.*"
                                          r"resnet"):
        validate(compose(["model=resnet18", "model.architecture=resnet99"]))


@pytest.mark.parametrize("value", ["", "offlin"])
def test_a_wandb_mode_in_the_environment_that_wandb_cannot_take_is_refused_up_front(composed, monkeypatch, value):
    from balancelab.options.validate import validate
    from balancelab.errors import ConfigError

    monkeypatch.setenv("WANDB_MODE", value)
    with pytest.raises(ConfigError, match="WANDB_MODE"):
        validate(composed(["logger=wandb"]))
    validate(composed(["logger=none"]))  # no wandb, no problem
    monkeypatch.setenv("WANDB_MODE", "offline")
    validate(composed(["logger=wandb"]))


def test_a_bad_dataset_input_size_is_reported_once_with_its_own_fix_not_the_models_echo():
    """model.input_size takes the dataset's side by interpolation: one problem, naming the key that was set."""
    with pytest.raises(ConfigError) as err:
        validate(compose(["dataset.input_size=4"]))
    assert "dataset.input_size=8" in str(err.value) and "model.input_size" not in str(err.value)
    with pytest.raises(ConfigError, match=r"model\.input_size=8"):
        validate(compose(["model.input_size=4"]))


def test_the_same_training_set_two_ways_is_one_run():
    """dataset.input_size only gives the model its default side: with the side the same, the run is the same."""
    names = {OmegaConf.to_container(compose(o), resolve=True)["run_name"]
             for o in (["dataset.input_size=24"], ["model.input_size=24"])}
    assert len(names) == 1


def test_a_misspelt_choice_is_fixed_with_the_closest_choice():
    with pytest.raises(ConfigError, match=r"Fix it with trainer\.budget=steps\."):
        validate(compose(["trainer.budget=step"]))


@pytest.mark.parametrize("argv,chosen", [(["+balancing.overrides.NormalVideos=1.5"], "none"),
                                         (["balancing=smote", "+balancing.overrides.NormalVideos=1.5"], "smote")])
def test_a_key_of_another_option_names_the_options_that_have_it(argv, chosen):
    """'Remove it' was the wrong fix for a key the user meant for another technique (a review found the message
    had lost the options that take it)."""
    with pytest.raises(ConfigError, match=rf"'balancing\.overrides' is not a key of balancing={chosen}.*"
                                          r"balancing=random_undersampling.*balancing=resample_to_target"):
        validate(compose(argv))


def test_field_default_gives_the_value_a_factory_makes():
    """field_default returned dataclasses.MISSING for a key declared with a factory (its docstring promised the
    default); a rule comparing a setting with it then never saw the default."""
    from balancelab.options.balancing import RandomUndersampling
    from balancelab.options.fields import field_default

    assert field_default(RandomUndersampling, "overrides") == {}
    assert field_default(RandomUndersampling, "no_such_key") is None
