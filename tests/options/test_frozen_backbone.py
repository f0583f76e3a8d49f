"""trainer.epochs=0: no representation training, the pretrained backbone taken frozen. Allowed only where a head is
then trained on its features (feature_balancing set, or balance-sweep screen=true) and the model has pretrained
weights; refused anywhere else, before any job starts, saying the thing, the rule, what was received and the fix."""

import pytest

from balancelab.cli.preflight import preflight
from balancelab.errors import ConfigError
from balancelab.options.validate import validate
from tests.conftest import compose


@pytest.fixture
def weights(tmp_path):
    path = tmp_path / "resnet18.pth"
    path.write_bytes(b"not read by the config check")  # only its existence is checked before the job
    return path


def pretrained(weights):
    return ["model=resnet18", "model.pretrained=true", f"model.weights_path={weights}"]


def test_a_frozen_backbone_without_pretrained_weights_is_refused():
    with pytest.raises(ConfigError) as info:
        validate(compose(["experiment=smote_features", "trainer.epochs=0"]))
    message = str(info.value)
    assert "trainer.epochs=0" in message and "model=small_cnn" in message and "pretrained" in message
    assert "Fix it with trainer.epochs=30" in message and "model.pretrained=true" in message


def test_a_frozen_backbone_without_pretrained_weights_is_refused_before_any_job_starts(tmp_path):
    message = preflight(["experiment=smote_features", "trainer.epochs=0", f"output_root={tmp_path / 'out'}"])
    assert message is not None and "has no pretrained weights" in message
    assert not (tmp_path / "out").exists()


def test_a_plain_run_on_a_frozen_backbone_is_refused(weights):
    """Nothing would train: the run would evaluate the pretrained backbone under a random classifier."""
    message = preflight([*pretrained(weights), "trainer.epochs=0"])
    assert message is not None and "trainer.epochs=0" in message and "feature_balancing" in message
    assert "screen=true" in message and "balancing@feature_balancing=none" in message  # the fixes: a linear probe
    assert "Traceback" not in message


def test_a_sweep_row_that_trains_in_pixel_space_is_refused_on_a_frozen_backbone(weights):
    message = preflight(["-m", "experiment=smote_features,smote", *pretrained(weights), "trainer.epochs=0"])
    assert message is not None and "experiment=smote" in message and "feature_balancing" in message


def test_a_frozen_pretrained_backbone_is_accepted_for_a_feature_run_and_a_screen(weights):
    cfg = validate(compose([*pretrained(weights), "trainer.epochs=0", "balancing@feature_balancing=none"]))
    assert cfg["trainer"]["epochs"] == 0 and cfg["feature_balancing"]["name"] == "none"
    assert preflight([*pretrained(weights), "trainer.epochs=0", "experiment=smote_features"]) is None
    # a screen trains only heads on the features: its rows need no feature_balancing of their own
    assert preflight(["-m", "experiment=baseline,smote,focal_loss", *pretrained(weights), "trainer.epochs=0"],
                     screen=True) is None
    message = preflight(["-m", "experiment=baseline,smote", "trainer.epochs=0"], screen=True)
    assert message is not None and "has no pretrained weights" in message  # a screen still needs the weights


def test_trainer_steps_is_refused_with_no_representation_training(weights):
    message = preflight([*pretrained(weights), "experiment=smote_features", "trainer.epochs=0",
                         "trainer.budget=steps", "trainer.steps=100"])
    assert message is not None and "trainer.steps" in message and "trainer.epochs=0" in message


def test_pixel_space_balancing_with_a_frozen_backbone_is_refused(weights):
    """With no representation trained, balancing=smote ran (and cost its time) and changed nothing: the head is
    trained on the features of the split as it is (a review found it silently ignored)."""
    with pytest.raises(ConfigError) as info:
        validate(compose([*pretrained(weights), "experiment=random_oversampling_features", "balancing=smote",
                          "trainer.epochs=0"]))
    message = str(info.value)
    assert "balancing=smote" in message and "change nothing" in message and "Fix it with balancing=none" in message
    validate(compose([*pretrained(weights), "experiment=random_oversampling_features", "trainer.epochs=0"]))


def test_the_evaluation_cost_of_a_run_without_epochs_is_null_not_nan():
    """An empty history made mean_epoch_seconds NaN, which experiment_summary.json then held (invalid JSON)."""
    import json

    from balancelab.experiment import evaluation_cost

    cost = evaluation_cost(12.5, [])
    assert cost == {"seconds": 12.5, "mean_epoch_seconds": None, "epochs_equivalent": None}
    json.dumps(cost, allow_nan=False)
    assert evaluation_cost(10.0, [{"seconds": 4.0}, {"seconds": 6.0}])["epochs_equivalent"] == 2.0
