"""Every shipped option of every group builds through its _target_ with its group's contract facts."""

import numpy as np
import pytest
import torch

from balancelab.options.build import build
from tests.conftest import build_option, options_of


@pytest.mark.parametrize("option", options_of("logger"))
def test_every_logger_builds_a_tracker(option, tmp_path, monkeypatch):
    from omegaconf import OmegaConf

    from tests.conftest import compose

    monkeypatch.setenv("WANDB_MODE", "disabled")
    run_config = OmegaConf.to_container(compose([]), resolve=True)  # a real one: full of _target_ nodes
    tracker = build_option("logger", option, run_dir=tmp_path, run_config=run_config, identity="0" * 8)
    for method in ("log_epoch", "log_summary", "finish"):
        assert callable(getattr(tracker, method))


@pytest.mark.parametrize("option", options_of("loss"))
def test_every_loss_builds_a_criterion_that_gives_a_finite_loss(option):
    counts = [30, 10] if option == "bce" else [30, 20, 10]
    criterion = build_option("loss", option, num_classes=len(counts), class_counts=counts, trained_counts=counts,
                             balanced_batches=False)
    units = getattr(criterion, "output_units", len(counts))
    logits = torch.randn(6, units, requires_grad=True)
    loss = criterion(logits, torch.tensor([0, 1, 1, 0, 1, 0]))
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(logits.grad).all()


@pytest.mark.parametrize("option", options_of("balancing"))
def test_every_balancing_option_builds_a_balancer(option, imbalanced_digits):
    from balancelab.balancing.apply import technique_params

    from omegaconf import OmegaConf

    from tests.conftest import compose

    plain = OmegaConf.to_container(compose([f"balancing={option}"]), resolve=True)["balancing"]
    params = technique_params(plain, ["a", "b", "c"])
    balancer = build({"_target_": plain["_target_"], **params}, "balancing", random_state=0, device="cpu")
    X, y = imbalanced_digits
    X_res, y_res = balancer.fit_resample(X, y)
    assert len(X_res) == len(y_res) == len(balancer.provenance_)


def test_facts_a_component_does_not_take_are_not_passed():
    """A user's model need not accept input_size: only the facts in its signature are passed."""
    model = build({"_target_": "torch.nn.Linear", "in_features": 3, "out_features": 2}, "model",
                  num_classes=2, in_channels=1, input_size=8)
    assert isinstance(model, torch.nn.Linear) and model.out_features == 2
    assert np.isfinite(model(torch.zeros(1, 3)).detach().numpy()).all()


def test_a_class_without_its_own_init_gets_no_facts():
    """nn.Module.__init__(*args, **kwargs) must not count as taking every contract fact."""
    from torch import nn

    class OneLogitBCE(nn.Module):
        output_units = 1

        def forward(self, logits, target):
            return nn.functional.binary_cross_entropy_with_logits(logits[:, 0], target.float())

    import sys

    module = sys.modules[__name__]
    module.OneLogitBCE = OneLogitBCE
    criterion = build({"_target_": f"{__name__}.OneLogitBCE"}, "loss", num_classes=2, class_counts=[3, 1],
                      trained_counts=[3, 1], balanced_batches=False)
    assert criterion.output_units == 1
