import numpy as np
import pytest
import torch
import torch.nn.functional as F

from balancelab.errors import ConfigError
from tests.conftest import build_option
from balancelab.losses import (FocalLoss, describe_loss, effective_number_weights,
                               inverse_frequency_weights)


@pytest.fixture
def batch():
    g = torch.Generator().manual_seed(0)
    return torch.randn(64, 5, generator=g) * 3, torch.randint(0, 5, (64,), generator=g)


def test_focal_with_gamma_zero_equals_ce_exactly(batch):
    logits, target = batch
    assert torch.equal(FocalLoss(gamma=0.0)(logits, target), F.cross_entropy(logits, target))


def test_focal_down_weights_easy_examples(batch):
    logits, target = batch
    ce = F.cross_entropy(logits, target, reduction="none")
    p = torch.softmax(logits, 1)[torch.arange(64), target]
    expected = ((1 - p) ** 2 * ce).mean()
    assert torch.allclose(FocalLoss(gamma=2.0)(logits, target), expected, atol=1e-6)
    assert FocalLoss(gamma=2.0)(logits, target) < F.cross_entropy(logits, target)


def test_focal_per_class_alpha(batch):
    logits, target = batch
    alpha = torch.tensor([0.1, 0.2, 0.3, 0.4, 0.5])
    expected = (alpha[target] * F.cross_entropy(logits, target, reduction="none")).mean()
    assert torch.allclose(FocalLoss(gamma=0.0, alpha=alpha.tolist())(logits, target), expected)


def test_inverse_frequency_weights_normalised():
    w = inverse_frequency_weights([100, 10, 1])
    assert w.sum() == pytest.approx(3.0)
    assert w[2] / w[0] == pytest.approx(100.0)


def test_effective_number_weights():
    counts = np.array([1000, 100, 10])
    w = effective_number_weights(counts, 0.99)
    raw = (1 - 0.99) / (1 - 0.99 ** counts)
    assert np.allclose(w, raw / raw.sum() * 3)
    assert w.sum() == pytest.approx(3.0)


def test_build_weighted_ce_uses_counts():
    loss = loss_of("weighted_ce", {"weighting": "inverse_frequency", "beta": 0.9,
                                        "label_smoothing": 0.0}, [90, 10], [90, 10])
    assert torch.allclose(loss.weight, torch.tensor([0.2, 1.8]))


def test_focal_alpha_balanced_and_errors():
    loss = loss_of("focal", {"gamma": 2.0, "alpha": "balanced"}, [30, 10], [30, 10])
    assert loss.alpha.tolist() == pytest.approx([0.5, 1.5])
    with pytest.raises(ConfigError, match="classes"):
        loss_of("focal", {"gamma": 2.0, "alpha": [0.5]}, [30, 10], [30, 10])


@pytest.mark.parametrize("gamma", [0.0, 0.25, 0.5, 1.0, 2.0])
@pytest.mark.parametrize("margin", [0.0, 30.0, 200.0])
def test_focal_gradients_are_finite_for_every_gamma(gamma, margin):
    """p_t rounds to 1 in float32 for a large logit margin; (1 - p_t)^gamma must not turn the gradient to NaN."""
    logits = torch.zeros(4, 3)
    target = torch.tensor([0, 1, 2, 0])
    logits[torch.arange(4), target] = margin
    logits[3] = torch.tensor([-margin, margin, 0.0])  # a confidently wrong sample too
    logits.requires_grad_(True)
    loss = FocalLoss(gamma=gamma, alpha=[0.2, 0.3, 0.5])(logits, target)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(logits.grad).all()


@pytest.mark.parametrize("gamma", [0.25, 0.5, 2.0])
def test_focal_gradient_matches_the_formula_where_it_is_defined(gamma, batch):
    """Away from p_t = 1 the stabilised loss is the textbook one, value and gradient alike."""
    logits, target = batch
    a = logits.clone().requires_grad_(True)
    b = logits.clone().requires_grad_(True)
    FocalLoss(gamma=gamma)(a, target).backward()
    ce = F.cross_entropy(b, target, reduction="none")
    p = torch.exp(-ce)
    ((1 - p) ** gamma * ce).mean().backward()
    assert torch.allclose(a.grad, b.grad, atol=1e-6)


ORIGINAL, OVERSAMPLED = [90, 30, 10], [90, 90, 90]


def _cfg(**kw):
    return {"weighting": "inverse_frequency", "beta": 0.999, "label_smoothing": 0.0, "weights_from": "original", **kw}


def loss_of(option, keys, class_counts, trained_counts, balanced_batches=False):
    """The criterion of loss=<option> with ``keys`` set, built as a run builds it."""
    return build_option("loss", option, keys, num_classes=len(class_counts), class_counts=list(class_counts),
                        trained_counts=list(trained_counts), balanced_batches=balanced_batches)


def test_class_weights_come_from_the_original_counts_by_default():
    """Cui et al. weight by the dataset's counts: after oversampling, weights must not silently become uniform."""
    loss = loss_of("weighted_ce", _cfg(), ORIGINAL, OVERSAMPLED, balanced_batches=False)
    assert torch.allclose(loss.weight, torch.tensor(inverse_frequency_weights(ORIGINAL), dtype=torch.float32))


def test_weights_from_trained_counts_after_oversampling_are_uniform_and_said_to_be(caplog):
    with caplog.at_level("WARNING", logger="balancelab"):
        loss = loss_of("weighted_ce", _cfg(weights_from="trained"), ORIGINAL, OVERSAMPLED, balanced_batches=False)
    assert torch.allclose(loss.weight, torch.ones(3))
    assert "no effect" in caplog.text
    assert describe_loss(loss)["warnings"]


def test_weights_on_top_of_balanced_batches_are_a_double_correction_and_said_to_be(caplog):
    with caplog.at_level("WARNING", logger="balancelab"):
        loss = loss_of("weighted_ce", _cfg(), ORIGINAL, ORIGINAL, balanced_batches=True)
    assert "double correction" in caplog.text
    details = describe_loss(loss)
    assert details["weights_from"] == "original" and details["counts_used"] == ORIGINAL
    assert details["class_weights"] == pytest.approx(inverse_frequency_weights(ORIGINAL).tolist())


def test_focal_balanced_alpha_and_bce_auto_follow_weights_from():
    focal = loss_of("focal", {"gamma": 2.0, "alpha": "balanced",
                                         "weights_from": "original"}, ORIGINAL, OVERSAMPLED, balanced_batches=False)
    assert focal.alpha.tolist() == pytest.approx(inverse_frequency_weights(ORIGINAL).tolist())
    bce = loss_of("bce", {"pos_weight": "auto", "weights_from": "original"},
                     [90, 10], [90, 90], balanced_batches=False)
    assert bce.pos_weight.item() == pytest.approx(9.0)


def test_a_criterion_that_does_not_describe_itself_is_named_by_its_class_not_as_cross_entropy():
    class Hinge(torch.nn.Module):
        def forward(self, logits, target):
            return torch.nn.functional.multi_margin_loss(logits, target)

    facts = describe_loss(Hinge())
    assert facts["type"].endswith("Hinge") and facts["type"] != "cross_entropy"
    assert describe_loss(torch.nn.CrossEntropyLoss())["type"] == "cross_entropy"


def test_a_subclass_of_a_built_in_criterion_without_describe_is_named_by_its_class():
    """A new loss written as a subclass of nn.CrossEntropyLoss (or of the focal loss) is another loss: it was
    reported as cross_entropy (found by a review)."""
    class Poly1(torch.nn.CrossEntropyLoss):
        def forward(self, logits, target):
            ce = super().forward(logits, target)
            return ce + (1 - torch.exp(-ce))

    facts = describe_loss(Poly1())
    assert facts["type"].endswith("Poly1"), facts
