import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from balancelab.errors import ConfigError
from balancelab.longtail_losses import (BalancedSoftmaxLoss, ClassBalancedFocalLoss, CrossEntropyDRW, LDAMLoss,
                                        LogitAdjustedLoss, ldam_margins)
from balancelab.losses import FocalLoss, describe_loss, effective_number_weights

COUNTS = [500, 120, 30, 5]


@pytest.fixture
def batch():
    g = torch.Generator().manual_seed(0)
    return torch.randn(64, 4, generator=g) * 3, torch.randint(0, 4, (64,), generator=g)


# --- identities of the issue ---------------------------------------------------------------------

def test_logit_adjusted_with_tau_zero_is_cross_entropy(batch):
    logits, target = batch
    assert torch.equal(LogitAdjustedLoss(class_counts=COUNTS, tau=0.0)(logits, target),
                       F.cross_entropy(logits, target))


def test_balanced_softmax_equals_logit_adjusted_with_tau_one(batch):
    logits, target = batch
    bs = BalancedSoftmaxLoss(class_counts=COUNTS)(logits, target)
    la = LogitAdjustedLoss(class_counts=COUNTS, tau=1.0)(logits, target)
    assert torch.allclose(bs, la, atol=1e-6)
    # ... and it is the paper's formula, CE on logits + log n_j
    assert torch.allclose(bs, F.cross_entropy(logits + torch.log(torch.tensor(COUNTS, dtype=torch.float32)), target))


def test_logit_adjusted_is_ce_plus_tau_log_prior(batch):
    logits, target = batch
    prior = torch.tensor(COUNTS, dtype=torch.float32) / sum(COUNTS)
    expected = F.cross_entropy(logits + 0.7 * prior.log(), target)
    assert torch.allclose(LogitAdjustedLoss(class_counts=COUNTS, tau=0.7)(logits, target), expected, atol=1e-6)


def test_ldam_with_zero_margin_and_scale_one_is_cross_entropy(batch):
    logits, target = batch
    assert torch.allclose(LDAMLoss(class_counts=COUNTS, max_margin=0.0, scale=1.0)(logits, target),
                          F.cross_entropy(logits, target), atol=1e-7)


def test_ldam_margins_and_reference_formula(batch):
    logits, target = batch
    m = ldam_margins(np.array(COUNTS, dtype=float), 0.5)
    assert m.max() == pytest.approx(0.5) and m.argmax() == 3            # the rarest class gets max_margin
    assert m[0] / m[3] == pytest.approx((5 / 500) ** 0.25)              # Delta_j proportional to n_j^(-1/4)
    loss = LDAMLoss(class_counts=COUNTS, max_margin=0.5, scale=30.0)
    shifted = logits.clone()
    shifted[torch.arange(64), target] -= torch.tensor(m, dtype=torch.float32)[target]
    assert torch.allclose(loss(logits, target), F.cross_entropy(30 * shifted, target), atol=1e-5)
    # only the true-class logit moves: a margin makes the loss larger
    assert loss(logits, target) > LDAMLoss(class_counts=COUNTS, max_margin=0.0, scale=30.0)(logits, target)


def test_drw_switches_weights_exactly_after_its_epoch(batch):
    logits, target = batch
    weights = torch.tensor(effective_number_weights(COUNTS, 0.9999), dtype=torch.float32)
    for loss, unweighted, weighted in [
        (CrossEntropyDRW(class_counts=COUNTS, drw_epoch=3), lambda: F.cross_entropy(logits, target),
         lambda: F.cross_entropy(logits, target, weight=weights)),
        (LDAMLoss(class_counts=COUNTS, max_margin=0.0, scale=1.0, drw_epoch=3), lambda: F.cross_entropy(logits, target),
         lambda: F.cross_entropy(logits, target, weight=weights)),
        (ClassBalancedFocalLoss(class_counts=COUNTS, gamma=2.0, drw_epoch=3),
         lambda: FocalLoss(gamma=2.0)(logits, target), lambda: FocalLoss(gamma=2.0, alpha=weights)(logits, target)),
    ]:
        for epoch in (1, 2, 3):
            loss.set_epoch(epoch)
            assert loss.class_weight is None and torch.allclose(loss(logits, target), unweighted()), epoch
        loss.set_epoch(4)  # drw_epoch=3: three epochs unweighted, the 4th (1-based) is the first weighted
        assert torch.equal(loss.class_weight, weights)
        assert torch.allclose(loss(logits, target), weighted())
        assert loss.describe()["class_weights"] == pytest.approx(weights.tolist())


def test_drw_epoch_zero_weights_from_the_start_and_none_never(batch):
    logits, target = batch
    cb = ClassBalancedFocalLoss(class_counts=COUNTS)
    assert cb.class_weight is not None  # before any set_epoch: epoch 1
    never = CrossEntropyDRW(class_counts=COUNTS, drw_epoch=None)
    never.set_epoch(10_000)
    assert never.class_weight is None and torch.equal(never(logits, target), F.cross_entropy(logits, target))


def test_drw_weights_are_the_reference_codes():
    """LDAM-DRW's per_cls_weights: (1 - b) / (1 - b^n), normalised to sum to the class count."""
    loss = CrossEntropyDRW(class_counts=COUNTS, drw_epoch=0)
    raw = (1 - 0.9999) / (1 - 0.9999 ** np.array(COUNTS, dtype=float))
    assert np.allclose(loss.class_weight.numpy(), raw / raw.sum() * 4, rtol=1e-6)


# --- absent classes, errors, summary ----------------------------------------------------------------

def test_absent_class_gives_finite_losses_and_gradients(batch):
    logits, target = batch
    target = torch.where(target == 2, torch.zeros_like(target), target)  # class 2 is absent from training
    counts = [500, 120, 0, 5]
    for loss in [LogitAdjustedLoss(class_counts=counts, tau=0.0), LogitAdjustedLoss(class_counts=counts),
                 BalancedSoftmaxLoss(class_counts=counts), LDAMLoss(class_counts=counts),
                 LDAMLoss(class_counts=counts, drw_epoch=0), CrossEntropyDRW(class_counts=counts, drw_epoch=0),
                 ClassBalancedFocalLoss(class_counts=counts)]:
        x = logits.clone().requires_grad_()
        value = loss(x, target)
        value.backward()
        assert torch.isfinite(value) and torch.all(torch.isfinite(x.grad)), type(loss).__name__
        json.dumps(loss.describe(), allow_nan=False)


def test_absent_class_does_not_change_the_present_classes_terms(batch):
    logits, target = batch
    target = torch.where(target == 2, torch.zeros_like(target), target)
    with_absent = LDAMLoss(class_counts=[500, 120, 0, 5])
    assert with_absent.margins[[0, 1, 3]].tolist() == pytest.approx(
        ldam_margins(np.array([500.0, 120.0, 5.0]), 0.5).tolist())
    # LA: the pseudo-count of the absent class rescales the others' prior by a common factor only
    three = LogitAdjustedLoss(class_counts=[500, 120, 0, 5])(logits, target)
    bs = BalancedSoftmaxLoss(class_counts=[500, 120, 0, 5])(logits, target)
    assert torch.allclose(three, bs, atol=1e-6)


@pytest.mark.parametrize("make, message", [
    (lambda: LDAMLoss(class_counts=[10]), "at least 2 classes"),
    (lambda: LDAMLoss(class_counts=[10, -1]), "non-negative integers"),
    (lambda: LDAMLoss(class_counts=[10, 2.5]), "non-negative integers"),
    (lambda: LDAMLoss(class_counts=[0, 0]), "every class count is 0"),
    (lambda: LDAMLoss(class_counts=[10, 2], num_classes=3), "num_classes=3"),
    (lambda: LDAMLoss(class_counts=[10, 2], scale=0), "scale must be a finite number > 0"),
    (lambda: LDAMLoss(class_counts=[10, 2], max_margin=-1), "max_margin must be a finite number >= 0"),
    (lambda: LDAMLoss(class_counts=[10, 2], weight=[1, 2], drw_epoch=3), "not both"),
    (lambda: LDAMLoss(class_counts=[10, 2], weight=[1, 2, 3]), "weight must list 2"),
    (lambda: LogitAdjustedLoss(class_counts=[10, 2], tau=-1), "tau must be a finite number >= 0"),
    (lambda: CrossEntropyDRW(class_counts=[10, 2], drw_epoch=-1), "drw_epoch must be an integer >= 0"),
    (lambda: CrossEntropyDRW(class_counts=[10, 2], drw_epoch=2.5), "drw_epoch must be an integer >= 0"),
    (lambda: CrossEntropyDRW(class_counts=[10, 2], drw_epoch="late"), "drw_epoch must be an integer >= 0"),
    (lambda: CrossEntropyDRW(class_counts=[10, 2], beta=1.0), "beta must be in [0, 1)"),
    (lambda: ClassBalancedFocalLoss(class_counts=[10, 2], gamma=-1), "gamma must be >= 0"),
])
def test_bad_values_are_config_errors(make, message):
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace(")", r"\)")):
        make()


def test_describe_is_json_and_reaches_the_summary():
    for loss in [LDAMLoss(class_counts=COUNTS, drw_epoch=160), LogitAdjustedLoss(class_counts=COUNTS),
                 BalancedSoftmaxLoss(class_counts=COUNTS), ClassBalancedFocalLoss(class_counts=COUNTS),
                 CrossEntropyDRW(class_counts=COUNTS, drw_epoch=5)]:
        facts = describe_loss(loss)
        assert facts == loss.describe() and facts["class_counts"] == COUNTS
        json.dumps(facts, allow_nan=False)
    ldam = LDAMLoss(class_counts=COUNTS, drw_epoch=160).describe()
    assert ldam["margins"][3] == pytest.approx(0.5) and ldam["class_weights"] is None
    assert len(ldam["deferred_weights"]) == 4


def test_balanced_batches_warn_of_a_double_correction():
    warnings = LogitAdjustedLoss(class_counts=COUNTS, balanced_batches=True).describe()["warnings"]
    assert "double correction" in warnings[0]
    assert LogitAdjustedLoss(class_counts=COUNTS).describe()["warnings"] == []


def test_per_class_tensors_are_buffers_so_to_device_moves_them():
    loss = LDAMLoss(class_counts=COUNTS, drw_epoch=0)
    names = {name for name, _ in loss.named_buffers()}
    assert {"margins", "balanced_weight"} <= names
