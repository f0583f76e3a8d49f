"""balancing=deferred_resampling's weighting and beta reach the trainer's batch order, and a setting that could
not take effect is refused."""

import pytest

from balancelab.balancing.apply import batch_sampling
from balancelab.options.validate import validate
from balancelab.errors import ConfigError
from tests.conftest import compose


def _order(overrides):
    cfg = validate(compose(["balancing=deferred_resampling", *overrides]))
    weighted, order = batch_sampling(cfg["balancing"], seed=0)
    assert weighted is False
    return order


def test_the_named_experiment_draws_by_the_effective_number():
    cfg = validate(compose(["experiment=deferred_resampling"]))
    assert cfg["balancing"]["weighting"] == "effective_number" and cfg["balancing"]["beta"] == 0.9999
    order = batch_sampling(cfg["balancing"], seed=0)[1]
    assert (order.weighting, order.beta, order.start_epoch) == ("effective_number", 0.9999, 12)  # 80 % of the default 15 epochs


def test_the_settings_reach_the_batch_order():
    assert _order(["balancing.beta=0.99"]).beta == 0.99
    assert _order(["balancing.weighting=inverse_frequency"]).weighting == "inverse_frequency"


@pytest.mark.parametrize("overrides, says", [
    (["balancing.weighting=inverse_frequency", "balancing.beta=0.99"],
     r"balancing\.beta only applies with balancing\.weighting=effective_number"),
    (["balancing.beta=1.0"], r"balancing\.beta"),
    (["balancing.weighting=sqrt"], r"balancing\.weighting"),
])
def test_settings_that_cannot_take_effect_are_refused(overrides, says):
    with pytest.raises(ConfigError, match=says):
        _order(overrides)
