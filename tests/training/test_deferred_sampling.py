import numpy as np
import pytest
import torch

from balancelab.errors import ConfigError
from balancelab.training.deferred_sampling import DeferredResampling


def test_shuffles_until_start_epoch_then_balances():
    labels = np.array([0] * 900 + [1] * 100)
    drs = DeferredResampling(start_epoch=2)
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


@pytest.mark.parametrize("bad", [-1, 1.5, True, "x", float("nan")])
def test_bad_start_epoch(bad):
    with pytest.raises(ConfigError, match="start_epoch must be an integer >= 0"):
        DeferredResampling(start_epoch=bad)
