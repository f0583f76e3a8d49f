import pytest
from omegaconf import OmegaConf

from balancelab.errors import ConfigError
from balancelab.help import config_groups
from balancelab.schema import validate
from tests.conftest import compose


def all_options():
    return [(group, option) for group, options in config_groups().items() if group not in ("experiment", "launcher")
            for option in options]


# Options that only make sense with a companion setting.
COMPANIONS = {("dataset", "image_folder"): ["dataset.root=/data/photos"], ("loss", "bce"): ["dataset=digits_binary"]}


@pytest.mark.parametrize("group,option", all_options())
def test_every_shipped_option_composes_and_validates(group, option):
    cfg = validate(compose([f"{group}={option}", *COMPANIONS.get((group, option), [])]))
    assert cfg[group].get("name", option) is not None


def test_every_named_experiment_composes():
    from balancelab.sweep.grid import experiments

    for name in experiments():
        cfg = validate(compose([f"experiment={name}"]))
        assert cfg.experiment_name == name


def test_image_folder_without_root_and_bce_on_ten_classes_are_rejected():
    with pytest.raises(ConfigError, match="dataset.root"):
        validate(compose(["dataset=image_folder"]))
    with pytest.raises(ConfigError, match="two-class"):
        validate(compose(["loss=bce"]))


def test_defaults_match_the_documented_ones():
    cfg = validate(compose())
    assert cfg.model.name == "shufflenet_v2" and cfg.dataset.name == "digits_lt"
    assert cfg.balancing.name == "none" and cfg.loss.name == "ce"
    assert cfg.optimizer.name == "adam" and cfg.optimizer.lr == pytest.approx(5e-4)
    assert cfg.optimizer.weight_decay == pytest.approx(1e-4) and cfg.scheduler.name == "step"


def test_wrong_type_names_the_key():
    with pytest.raises(ConfigError, match=r"trainer\.epochs"):
        validate(compose(["trainer.epochs=abc"]))


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
    with pytest.raises(ConfigError, match="foo"):
        validate(compose(["+loss.foo=1"]))


def test_out_of_range_is_rejected():
    with pytest.raises(ConfigError, match="trainer.epochs"):
        validate(compose(["trainer.epochs=0"]))


def test_run_name_derives_from_what_was_run():
    cfg = compose(["balancing=random_oversampling", "loss=focal", "seed=3"])
    assert OmegaConf.to_container(cfg, resolve=True)["run_name"] == \
        "shufflenet_v2_balance_random_oversampling_focal_digits_lt_seed3"
