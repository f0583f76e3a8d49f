"""trainer.budget=steps: every technique makes the same number of optimiser steps, whatever its set size."""

import numpy as np
import pytest
import torch
from torch import nn

from balancelab.training.batches import DeviceImages
from balancelab.training.budget import training_budget
from balancelab.training.loop import TrainSettings, fit


class CountingSGD(torch.optim.SGD):
    def __init__(self, params, lr):
        super().__init__(params, lr=lr)
        self.steps = 0

    def step(self, closure=None):
        self.steps += 1
        return super().step(closure)


def _steps_taken(n_train, steps_per_epoch, epochs=3, batch_size=8):
    rng = np.random.default_rng(0)
    y = np.arange(n_train) % 2
    X = (rng.random((n_train, 4, 4, 1)) * 255).astype(np.uint8)
    data = DeviceImages(X, y, torch.device("cpu"), [0.5], [0.3])
    model = nn.Sequential(nn.Flatten(), nn.Linear(16, 2))
    optimizer = CountingSGD(model.parameters(), lr=0.01)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda e: 1.0)
    settings = TrainSettings(epochs=epochs, batch_size=batch_size, seed=0, progress="log",
                             steps_per_epoch=steps_per_epoch)
    result = fit(model, data, data, nn.CrossEntropyLoss(), optimizer, scheduler, settings)
    return optimizer.steps, result


@pytest.mark.parametrize("n_train", [40, 100, 333])  # e.g. the data before and after oversampling
def test_a_steps_budget_gives_every_training_set_the_same_number_of_steps(n_train):
    steps, result = _steps_taken(n_train, steps_per_epoch=7)
    assert steps == 21 and len(result.history) == 3


def test_an_epochs_budget_gives_a_larger_set_more_steps():
    small, _ = _steps_taken(40, None)
    large, _ = _steps_taken(100, None)
    assert (small, large) == (15, 39)


def test_the_default_steps_are_those_of_the_unbalanced_split():
    trainer = {"epochs": 10, "batch_size": 32, "budget": "steps", "steps": None}
    budget = training_budget(trainer, original_size=440, trained_size=1060)
    assert budget["steps_per_epoch"] == [14] * 10 and budget["total_steps"] == 140
    assert budget["passes_per_epoch"] == pytest.approx(14 * 32 / 1060, abs=1e-3)
    epochs = training_budget({**trainer, "budget": "epochs"}, 440, 1060)
    assert epochs["steps_per_epoch"] is None and epochs["total_steps"] == 10 * 34


@pytest.mark.parametrize("steps, epochs", [(95, 10), (5, 5), (31, 30), (100, 7), (140, 10)])
def test_a_steps_budget_is_exactly_trainer_steps(steps, epochs):
    """No rounding up: the first steps % epochs epochs take one step more than the others."""
    trainer = {"epochs": epochs, "batch_size": 32, "budget": "steps", "steps": steps}
    budget = training_budget(trainer, original_size=440, trained_size=1060)
    per_epoch = budget["steps_per_epoch"]
    assert sum(per_epoch) == steps == budget["total_steps"] and len(per_epoch) == epochs
    assert max(per_epoch) - min(per_epoch) <= 1 and per_epoch == sorted(per_epoch, reverse=True)


def test_fewer_steps_than_epochs_is_refused():
    from balancelab.errors import ConfigError

    trainer = {"epochs": 30, "batch_size": 32, "budget": "steps", "steps": 5}
    with pytest.raises(ConfigError, match=r"trainer.steps=5 .* trainer.epochs=30"):
        training_budget(trainer, original_size=440, trained_size=1060)


def test_the_loop_takes_exactly_the_budgeted_steps():
    """trainer.steps=23 over 3 epochs: 8 + 8 + 7 optimiser steps, whatever the set size."""
    trainer = {"epochs": 3, "batch_size": 8, "budget": "steps", "steps": 23}
    per_epoch = training_budget(trainer, original_size=40, trained_size=100)["steps_per_epoch"]
    for n_train in (40, 100):
        steps, result = _steps_taken(n_train, steps_per_epoch=per_epoch)
        assert steps == 23 and len(result.history) == 3


@pytest.mark.parametrize("n_train", [40, 41, 42])  # 41 = 5 batches of 8 and one image, which the loop skips
def test_an_epochs_budget_states_the_steps_the_loop_takes(n_train):
    trainer = {"epochs": 3, "batch_size": 8, "budget": "epochs", "steps": None}
    steps, _ = _steps_taken(n_train, None)
    assert training_budget(trainer, original_size=n_train, trained_size=n_train)["total_steps"] == steps


def test_the_steps_a_run_made_follow_its_epochs():
    from balancelab.training.budget import steps_taken, training_budget

    steps = training_budget({"epochs": 4, "batch_size": 10, "budget": "steps", "steps": 10}, 100, 300)
    assert steps["steps_per_epoch"] == [3, 3, 2, 2]
    assert [steps_taken(steps, n) for n in range(5)] == [0, 3, 6, 8, 10]
    epochs = training_budget({"epochs": 4, "batch_size": 10, "budget": "epochs"}, 100, 95)
    assert epochs["total_steps"] == 40 and steps_taken(epochs, 3) == 30


def test_equal_steps_over_an_undersampled_set_say_how_many_passes_an_epoch_makes():
    from balancelab.training.budget import many_passes_notice

    trainer = {"epochs": 15, "batch_size": 32, "budget": "steps", "steps": None}
    # mnist_lt undersampled to its 3-image tail: 740 training images, 30 kept
    undersampled = training_budget(trainer, 740, 30)
    notice = many_passes_notice(undersampled, trainer, 740, 30)
    assert notice and "25.6 times" in notice and "trainer.budget=epochs" in notice
    # an oversampled set (3,000 images) is passed over less than once an epoch: nothing to say
    assert many_passes_notice(training_budget(trainer, 740, 3000), trainer, 740, 3000) is None
    by_epochs = {**trainer, "budget": "epochs"}
    assert many_passes_notice(training_budget(by_epochs, 740, 30), by_epochs, 740, 30) is None
    # many steps given by hand over an unchanged set are the user's budget, not a surprise of undersampling
    by_hand = {**trainer, "steps": 2000}
    assert many_passes_notice(training_budget(by_hand, 740, 740), by_hand, 740, 740) is None
    given = many_passes_notice(training_budget(by_hand, 740, 30), by_hand, 740, 30)
    assert "(trainer.steps)" in given and "takes in" not in given
