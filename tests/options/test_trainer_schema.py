"""The trainer's cross-key rules are checked up front, before any data loads."""

import pytest

from balancelab.options.validate import validate
from balancelab.errors import ConfigError
from tests.conftest import compose


def test_fewer_steps_than_epochs_is_refused_up_front():
    with pytest.raises(ConfigError, match=r"trainer.steps=5 is fewer than trainer.epochs=30.*>= trainer.epochs"):
        validate(compose(["trainer.budget=steps", "trainer.steps=5", "trainer.epochs=30"]))
    plain = validate(compose(["trainer.budget=steps", "trainer.steps=30", "trainer.epochs=30"]))
    assert plain["trainer"]["steps"] == 30


def test_every_trainer_problem_is_listed_at_once():
    with pytest.raises(ConfigError) as error:
        validate(compose(["trainer.steps=5", "trainer.device=gpu"]))
    assert "trainer.steps" in str(error.value) and "trainer.device" in str(error.value)


def test_precise_bn_images_has_a_rule_and_a_default():
    assert validate(compose())["trainer"]["precise_bn_images"] > 0
    assert validate(compose(["trainer.precise_bn_images=0"]))["trainer"]["precise_bn_images"] == 0
    with pytest.raises(ConfigError, match=r"trainer.precise_bn_images"):
        validate(compose(["trainer.precise_bn_images=-1"]))
