"""dataset.normalization_mean / normalization_std: fixed per-channel statistics instead of the training split's
(the LDAM-DRW recipe's CIFAR mean/std); checked before anything runs, and used by the run when set."""

from pathlib import Path

import numpy as np
import pytest

from balancelab.options.validate import validate
from balancelab.errors import ConfigError
from balancelab.training.batches import input_normalization

CIFAR_MEAN, CIFAR_STD = [0.4914, 0.4822, 0.4465], [0.2023, 0.1994, 0.2010]  # kaidic/LDAM-DRW cifar_train.py


def test_the_ldam_drw_recipe_normalises_with_the_reference_codes_cifar_statistics(composed):
    cfg = validate(composed(["recipe=ldam_drw_cifar10_lt", f"dataset.root={Path(__file__).parent}"]))
    assert cfg["dataset"]["normalization_mean"] == CIFAR_MEAN and cfg["dataset"]["normalization_std"] == CIFAR_STD


def test_by_default_the_statistics_are_the_training_splits(composed):
    cfg = validate(composed(["dataset=digits_lt"]))
    assert cfg["dataset"]["normalization_mean"] is None and cfg["dataset"]["normalization_std"] is None


@pytest.mark.parametrize("overrides, message", [
    (["dataset.normalization_mean=[0.5]"], "set both"),
    (["dataset.normalization_mean=[0.5,0.5]", "dataset.normalization_std=[0.2,0.2]"], "1 value per channel"),
    (["dataset.normalization_mean=[0.5]", "dataset.normalization_std=[0]"], "above 0"),
])
def test_bad_statistics_are_refused_before_the_run(composed, overrides, message):
    with pytest.raises(ConfigError, match=message) as exc:
        validate(composed(["dataset=digits_lt", *overrides]))
    assert "dataset.normalization" in str(exc.value)


def test_fixed_statistics_replace_the_computed_ones_even_for_pretrained_weights():
    X = np.full((4, 2, 2, 3), 255, np.uint8)
    fixed = {"mean": CIFAR_MEAN, "std": CIFAR_STD}
    assert input_normalization(False, X, fixed) == fixed
    assert input_normalization(True, X, fixed) == fixed
    assert input_normalization(False, X)["mean"] == [1.0, 1.0, 1.0]


def test_a_run_normalises_with_the_fixed_statistics(tmp_path, composed):
    from balancelab.checkpoint import load_checkpoint
    from balancelab.experiment import run_experiment
    from tests.conftest import TINY

    cfg = validate(composed([*TINY, "trainer.epochs=1", "use_cache=false", f"output_root={tmp_path}",
                             "dataset.normalization_mean=[0.25]", "dataset.normalization_std=[0.5]"]))
    run_experiment(cfg, tmp_path, "0123abcd")
    _, metadata = load_checkpoint(tmp_path / "best_model.pt")
    assert metadata["normalization"] == {"mean": [0.25], "std": [0.5]}
