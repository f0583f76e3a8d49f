"""The class prior of the batches a checkpoint was trained under: what post-hoc logit adjustment divides out
(Menon et al. 2021 adjust by the prior the model was trained under, not by the dataset's)."""

import numpy as np
import pytest
from torch import nn

from balancelab.longtail_losses import BalancedSoftmaxLoss, CrossEntropyDRW, LogitAdjustedLoss
from balancelab.losses import effective_number_weights
from balancelab.training.batch_prior import trained_prior
from balancelab.balancing.deferred_sampling import DeferredResampling
from balancelab.training.loop import TrainSettings

BEFORE = [80, 15, 5]


def _settings(**kwargs):
    return TrainSettings(epochs=10, batch_size=8, seed=0, **kwargs)


def test_plain_batches_have_the_training_splits_prior():
    prior = trained_prior(_settings(), nn.CrossEntropyLoss(), BEFORE, BEFORE, epoch=7)
    assert np.allclose(prior["shares"], [0.8, 0.15, 0.05]) and prior["counts"] == [80, 15, 5]
    assert prior["uniform"] is False and "training split" in prior["source"] and prior["epoch"] == 7


def test_a_resampled_set_has_its_own_prior():
    prior = trained_prior(_settings(), nn.CrossEntropyLoss(), BEFORE, [80, 40, 40], epoch=3)
    assert np.allclose(prior["shares"], [0.5, 0.25, 0.25]) and "after balancing" in prior["source"]
    assert trained_prior(_settings(), nn.CrossEntropyLoss(), BEFORE, [80, 80, 80], epoch=3)["uniform"] is True


def test_class_balanced_draws_are_uniform():
    prior = trained_prior(_settings(weighted_sampling=True), nn.CrossEntropyLoss(), BEFORE, BEFORE, epoch=3)
    assert np.allclose(prior["shares"], [1 / 3] * 3) and prior["uniform"] is True
    assert np.allclose(prior["counts"], [100 / 3] * 3)


def test_an_absent_class_is_not_drawn_and_the_prior_is_not_uniform():
    prior = trained_prior(_settings(weighted_sampling=True), nn.CrossEntropyLoss(), [80, 20, 0], [80, 20, 0], epoch=1)
    assert np.allclose(prior["shares"], [0.5, 0.5, 0.0]) and prior["uniform"] is False


@pytest.mark.parametrize("epoch, after_switch", [(4, False), (5, True)])
def test_deferred_resampling_at_the_checkpoints_epoch(epoch, after_switch):
    order = DeferredResampling(start_epoch=4)
    prior = trained_prior(_settings(batch_order=order), nn.CrossEntropyLoss(), BEFORE, BEFORE, epoch=epoch)
    if after_switch:
        mass = np.array(BEFORE) * effective_number_weights(BEFORE, 0.9999)
        assert np.allclose(prior["shares"], mass / mass.sum()) and "effective-number" in prior["source"]
    else:
        assert np.allclose(prior["shares"], [0.8, 0.15, 0.05]) and "before" in prior["source"]
    uniform = trained_prior(_settings(batch_order=DeferredResampling(start_epoch=4, weighting="inverse_frequency")),
                            nn.CrossEntropyLoss(), BEFORE, BEFORE, epoch=epoch)
    assert uniform["uniform"] is after_switch


def test_a_loss_that_corrects_the_prior_is_named():
    for criterion, says in ((LogitAdjustedLoss(class_counts=BEFORE), "loss=logit_adjusted"),
                            (BalancedSoftmaxLoss(class_counts=BEFORE), "loss=balanced_softmax")):
        note = trained_prior(_settings(), criterion, BEFORE, BEFORE, epoch=1)["note"]
        assert says in note and "on top of" in note
    assert "note" not in trained_prior(_settings(), LogitAdjustedLoss(class_counts=BEFORE, tau=0), BEFORE, BEFORE, 1)
    assert "note" not in trained_prior(_settings(), CrossEntropyDRW(class_counts=BEFORE, drw_epoch=2), BEFORE, BEFORE, 5)
