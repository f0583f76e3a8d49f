"""A mixed batch with a class-weighted criterion: the plain batch mean of the weighted per-sample losses,
mean_i [w_i * c_{a_i} * l(z_i, a_i) + (1 - w_i) * c_{b_i} * l(z_i, b_i)], as the Remix-DRW / Mixup-DRW
reference (ntucllab/imbalanced-DL, strategy/_remix_drw.py: CrossEntropyLoss(weight=..., reduction='none'),
then ``.mean()``) -- not each label group's weighted mean."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from balancelab.longtail_losses import CrossEntropyDRW, LDAMLoss
from balancelab.losses import FocalLoss
from balancelab.training.mixing import MixedTargets, mixed_loss

COUNTS = [60, 20, 5, 1]


def _batch(seed=0, n=12, classes=4):
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(n, classes, generator=g)
    first, second = torch.randint(0, classes, (n,), generator=g), torch.randint(0, classes, (n,), generator=g)
    return logits, MixedTargets(first, second, torch.tensor([0.3, 0.0, 1.0] * (n // 3)))


def _reference(per_sample, logits, targets):
    w = targets.weight
    return (w * per_sample(logits, targets.first) + (1 - w) * per_sample(logits, targets.second)).mean()


def test_weighted_cross_entropy_takes_the_plain_mean_of_weighted_per_sample_losses():
    class_weight = torch.tensor([0.1, 0.5, 1.4, 2.0])
    logits, targets = _batch()
    expected = _reference(lambda z, y: F.cross_entropy(z, y, weight=class_weight, reduction="none"), logits, targets)
    got = mixed_loss(nn.CrossEntropyLoss(weight=class_weight), logits, targets)
    assert torch.allclose(got, expected, atol=1e-6)
    # what it was before: each weight group's own weighted mean -- a different number
    grouped = sum((targets.weight == v).float().mean() * (
        v * F.cross_entropy(logits[targets.weight == v], targets.first[targets.weight == v], weight=class_weight)
        if v > 0 else 0) for v in (0.3, 1.0))
    assert not torch.allclose(got, torch.as_tensor(grouped), atol=1e-3)


def test_deferred_re_weighting_after_its_switch():
    criterion = CrossEntropyDRW(class_counts=COUNTS, drw_epoch=2)
    criterion.set_epoch(3)
    logits, targets = _batch(1)
    weight = criterion.class_weight
    expected = _reference(lambda z, y: F.cross_entropy(z, y, weight=weight, reduction="none"), logits, targets)
    assert torch.allclose(mixed_loss(criterion, logits, targets), expected, atol=1e-6)


def test_ldam_drw_after_its_switch():
    criterion = LDAMLoss(class_counts=COUNTS, drw_epoch=0)
    logits, targets = _batch(2)

    def per_sample(z, y):
        adjusted = z - F.one_hot(y, 4) * criterion.margins[y].unsqueeze(1)
        return F.cross_entropy(criterion.scale * adjusted, y, weight=criterion.class_weight, reduction="none")

    assert torch.allclose(mixed_loss(criterion, logits, targets), _reference(per_sample, logits, targets), atol=1e-5)


def test_an_unmixed_batch_keeps_the_weighted_mean_of_the_ldam_drw_reference():
    """kaidic/LDAM-DRW: nn.CrossEntropyLoss(weight=per_cls_weights) -- a weighted mean -- on plain batches."""
    criterion = CrossEntropyDRW(class_counts=COUNTS, drw_epoch=0)
    logits, targets = _batch(3)
    assert torch.allclose(criterion(logits, targets.first),
                          F.cross_entropy(logits, targets.first, weight=criterion.class_weight), atol=1e-6)


def test_focal_with_class_alpha_is_a_plain_mean_either_way():
    criterion = FocalLoss(gamma=1.0, alpha=[0.1, 0.5, 1.4, 2.0])
    logits, targets = _batch(4)

    def per_sample(z, y):
        ce = F.cross_entropy(z, y, reduction="none")
        return criterion.alpha[y] * (1 - torch.exp(-ce)) * ce

    assert torch.allclose(mixed_loss(criterion, logits, targets), _reference(per_sample, logits, targets), atol=1e-6)


class _PlainMean(nn.Module):
    """A user's loss without per-sample losses: the label groups are combined by their share (exact for a mean)."""

    def forward(self, logits, target):
        return F.cross_entropy(logits, target) * 2.0


def test_a_users_plain_mean_loss_without_per_sample_losses():
    logits, targets = _batch(5)
    expected = _reference(lambda z, y: 2.0 * F.cross_entropy(z, y, reduction="none"), logits, targets)
    assert torch.allclose(mixed_loss(_PlainMean(), logits, targets), expected, atol=1e-6)


@pytest.mark.parametrize("make", [lambda: CrossEntropyDRW(class_counts=COUNTS, drw_epoch=0, label_smoothing=0.1),
                                  lambda: nn.CrossEntropyLoss(weight=torch.ones(4) * 0.5, label_smoothing=0.1)])
def test_label_smoothing_is_kept(make):
    criterion = make()
    logits, targets = _batch(8)
    ones = MixedTargets(targets.first, targets.second, torch.ones(len(targets.first)))
    per_sample = F.cross_entropy(logits, targets.first, weight=getattr(criterion, "class_weight", None)
                                 if hasattr(criterion, "class_weight") else criterion.weight,
                                 label_smoothing=0.1, reduction="none")
    assert torch.allclose(mixed_loss(criterion, logits, ones), per_sample.mean(), atol=1e-6)
