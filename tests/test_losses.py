import numpy as np
import pytest
import torch
import torch.nn.functional as F
from omegaconf import OmegaConf

from balancelab.errors import ConfigError
from balancelab.losses import (FocalLoss, build_loss, effective_number_weights, inverse_frequency_weights)


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
    loss = build_loss(OmegaConf.create({"name": "weighted_ce", "weighting": "inverse_frequency", "beta": 0.9,
                                        "label_smoothing": 0.0}), [90, 10])
    assert torch.allclose(loss.weight, torch.tensor([0.2, 1.8]))


def test_focal_alpha_balanced_and_errors():
    loss = build_loss(OmegaConf.create({"name": "focal", "gamma": 2.0, "alpha": "balanced"}), [30, 10])
    assert loss.alpha.tolist() == pytest.approx([0.5, 1.5])
    with pytest.raises(ConfigError, match="classes"):
        build_loss(OmegaConf.create({"name": "focal", "gamma": 2.0, "alpha": [0.5]}), [30, 10])
