import numpy as np
import pytest
import torch

from balancelab.errors import ConfigError
from balancelab.losses import effective_number_weights
from balancelab.balancing.deferred_sampling import DeferredResampling


def test_shuffles_until_start_epoch_then_balances():
    labels = np.array([0] * 900 + [1] * 100)
    drs = DeferredResampling(start_epoch=2, weighting="inverse_frequency")
    g = torch.Generator().manual_seed(0)
    for epoch in (1, 2):  # shuffles: each sample exactly once
        order = drs(labels, epoch, g)
        assert torch.equal(order.sort().values, torch.arange(1000))
    order = drs(labels, 3, g).numpy()  # the first balanced epoch: classes drawn equally often
    assert len(order) == 1000 and abs((labels[order] == 1).mean() - 0.5) < 0.06
    assert drs.describe()["first_balanced_epoch"] == 3


def test_start_epoch_zero_balances_from_the_first_epoch():
    labels = np.array([0] * 900 + [1] * 100)
    order = DeferredResampling(start_epoch=0)(labels, 1, torch.Generator().manual_seed(0)).numpy()
    assert abs((labels[order] == 1).mean() - 0.5) < 0.06


def test_the_default_draws_by_the_effective_number_as_the_ldam_drw_reference():
    """kaidic/LDAM-DRW utils.ImbalancedDatasetSampler: each sample weighs (1 - beta) / (1 - beta^n_class),
    beta = 0.9999, drawn with replacement: a class's share is n_c * w_c, not 1 / classes."""
    labels = np.array([0] * 20000 + [1] * 100)
    drs = DeferredResampling(start_epoch=0)
    assert drs.weighting == "effective_number" and drs.beta == 0.9999
    w = effective_number_weights([20000, 100], 0.9999)
    expected = np.array([20000, 100]) * w / (np.array([20000, 100]) * w).sum()
    assert np.allclose(drs.class_shares([20000, 100], epoch=1), expected)
    assert 0.69 < expected[0] < 0.70  # the frequent class is drawn about 70 % of the time, not 50 %
    order = drs(labels, 1, torch.Generator().manual_seed(0)).numpy()
    assert len(order) == len(labels) and abs((labels[order] == 0).mean() - expected[0]) < 0.02
    assert drs.describe()["draws"].startswith("effective-number weights (beta 0.9999)")


def test_a_smaller_beta_is_used():
    labels = np.array([0] * 900 + [1] * 100)
    drs = DeferredResampling(start_epoch=0, beta=0.99)
    order = drs(labels, 1, torch.Generator().manual_seed(1)).numpy()
    share = drs.class_shares([900, 100], epoch=1)[1]
    assert 0.14 < share < 0.16 and abs((labels[order] == 1).mean() - share) < 0.04


def test_class_shares_before_the_switch_are_the_counts_and_inverse_frequency_is_uniform():
    drs = DeferredResampling(start_epoch=3, weighting="inverse_frequency")
    assert np.allclose(drs.class_shares([30, 10, 0], epoch=3), [0.75, 0.25, 0.0])
    assert np.allclose(drs.class_shares([30, 10, 0], epoch=4), [0.5, 0.5, 0.0])


@pytest.mark.parametrize("bad", [-1, 1.5, True, "x", float("nan")])
def test_bad_start_epoch(bad):
    with pytest.raises(ConfigError, match="start_epoch must be an integer >= 0"):
        DeferredResampling(start_epoch=bad)


@pytest.mark.parametrize("kwargs, says", [
    ({"weighting": "sqrt"}, r"'balancing\.weighting' must be one of effective_number, inverse_frequency; got 'sqrt'"),
    ({"beta": 1.0}, r"balancing\.beta must be a number in \[0, 1\).*got 1\.0"),
    ({"beta": "x"}, r"balancing\.beta must be a number in \[0, 1\).*got 'x'"),
])
def test_bad_weighting_or_beta(kwargs, says):
    with pytest.raises(ConfigError, match=says):
        DeferredResampling(start_epoch=1, **kwargs)
