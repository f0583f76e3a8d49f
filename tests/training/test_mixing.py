import numpy as np
import pytest
import torch
import torch.nn.functional as F

from balancelab.errors import ConfigError, DataError
from balancelab.training.mixing import MixedTargets, Mixup, Remix, mixed_loss, mixup, remix, remix_label_weight


def _weight(lam, n_first, n_second, kappa=3.0, tau=0.5):
    return remix_label_weight(lam, torch.tensor([float(n_first)]), torch.tensor([float(n_second)]),
                              kappa=kappa, tau=tau).item()


@pytest.mark.parametrize("lam, n_first, n_second, expected", [
    (0.4, 300, 100, 0.0),   # first is the majority (ratio 3 >= kappa) and lam < tau: label -> second (minority)
    (0.6, 300, 100, 0.6),   # majority first, but its share lam is not below tau: mixup's label
    (0.6, 100, 300, 1.0),   # first is the minority (ratio 1/3 <= 1/kappa) and 1 - lam < tau: label -> first
    (0.4, 100, 300, 0.4),   # minority first, but 1 - lam = 0.6 is not below tau: mixup's label
    (0.1, 200, 100, 0.1),   # ratio 2 < kappa: never relabelled
    (0.9, 100, 200, 0.9),
    (0.5, 300, 100, 0.5),   # lam == tau is not "< tau"
    (0.2, 100, 100, 0.2),   # same class counts
])
def test_remix_label_rule(lam, n_first, n_second, expected):
    assert _weight(lam, n_first, n_second) == pytest.approx(expected)


def test_remix_mixes_inputs_like_mixup_and_relabels_by_the_rule():
    counts = [600, 300, 100, 50, 20, 10]
    y = torch.arange(6)
    x = torch.arange(6, dtype=torch.float32).view(6, 1, 1, 1) * torch.ones(6, 1, 2, 2)
    seen = set()
    for seed in range(30):
        mixed, t = remix(x, y, alpha=1.0, class_counts=counts, generator=torch.Generator().manual_seed(seed))
        assert torch.equal(t.first, y)
        perm = t.second  # labels are the indices here
        moved = perm != y
        lam = ((mixed[:, 0, 0, 0] - perm) / (y - perm))[moved][0].item()
        assert torch.allclose(mixed[:, 0, 0, 0], lam * y + (1 - lam) * perm, atol=1e-5)
        for i in range(6):
            ratio = counts[y[i]] / counts[perm[i]]
            rule = 0.0 if ratio >= 3 and lam < 0.5 else 1.0 if ratio <= 1 / 3 and 1 - lam < 0.5 else lam
            assert t.weight[i].item() == pytest.approx(rule, abs=1e-6)
            seen.add("lam" if rule not in (0.0, 1.0) else rule)
    assert seen == {0.0, 1.0, "lam"}  # every branch of the rule was exercised


def test_mixup_is_one_lam_per_batch_and_reproducible():
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(8, 3, 4, 4, generator=g), torch.randint(0, 3, (8,), generator=g)
    a = mixup(x, y, alpha=0.4, generator=torch.Generator().manual_seed(5))
    b = mixup(x, y, alpha=0.4, generator=torch.Generator().manual_seed(5))
    c = mixup(x, y, alpha=0.4, generator=torch.Generator().manual_seed(6))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1].weight, b[1].weight) and not torch.equal(a[0], c[0])
    lam = a[1].weight[0].item()
    assert torch.all(a[1].weight == lam) and 0 <= lam <= 1


def test_mixed_loss_is_the_per_sample_mixture():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(12, 4, generator=g)
    first, second = torch.randint(0, 4, (12,), generator=g), torch.randint(0, 4, (12,), generator=g)
    weight = torch.tensor([0.3, 0.0, 1.0] * 4)
    targets = MixedTargets(first, second, weight)
    ce_a = F.cross_entropy(logits, first, reduction="none")
    ce_b = F.cross_entropy(logits, second, reduction="none")
    expected = (weight * ce_a + (1 - weight) * ce_b).mean()
    assert torch.allclose(mixed_loss(torch.nn.CrossEntropyLoss(), logits, targets), expected, atol=1e-6)
    ones = MixedTargets(first, second, torch.ones(12))
    assert torch.allclose(mixed_loss(torch.nn.CrossEntropyLoss(), logits, ones), F.cross_entropy(logits, first))
    assert torch.equal(targets.dominant, torch.where(weight >= 0.5, first, second))


@pytest.mark.parametrize("make, error, message", [
    (lambda: Mixup(alpha=0), ConfigError, "alpha must be a finite number > 0"),
    (lambda: Remix(class_counts=[10, 2], kappa=0.5), ConfigError, "kappa must be >= 1"),
    (lambda: Remix(class_counts=[10, 2], tau=1.5), ConfigError, "tau must be in"),
    (lambda: Remix(class_counts=[10], alpha=1.0), ConfigError, "class_counts must list"),
    (lambda: remix(torch.zeros(2, 1, 1, 1), torch.tensor([0, 1]), alpha=1.0, class_counts=[5, 0]), DataError,
     "class count 0"),
])
def test_bad_values(make, error, message):
    with pytest.raises(error, match=message):
        make()


def test_callables_describe_themselves():
    assert Remix(class_counts=[30, 10]).describe() == {"method": "remix", "alpha": 1.0, "kappa": 3.0, "tau": 0.5,
                                                      "class_counts": [30, 10]}
    assert Mixup(alpha=0.2).describe() == {"method": "mixup", "alpha": 0.2}


class HalfSwap:
    """A user's own batch mix, named by its dotted path: swaps the second half of the batch's labels' weight."""

    def __init__(self, *, alpha: float = 1.0):
        self.alpha = alpha

    def __call__(self, x, y, generator):
        perm = torch.randperm(len(x), generator=generator)
        return 0.5 * (x + x[perm]), MixedTargets(y, y[perm], torch.full((len(y),), 0.5))


SETTINGS = {"alpha": 0.4, "kappa": 3.0, "tau": 0.5, "class_counts": [30, 10]}


def test_make_mix_builds_each_built_in_method_with_the_settings_it_takes():
    from balancelab.training.mixing import make_mix

    assert make_mix(method="none", **SETTINGS) is None
    assert make_mix(method="mixup", **SETTINGS).describe() == {"method": "mixup", "alpha": 0.4}
    assert make_mix(method="remix", **SETTINGS).describe() == {"method": "remix", "alpha": 0.4, "kappa": 3.0,
                                                               "tau": 0.5, "class_counts": [30, 10]}


def test_a_users_own_mix_is_named_by_its_dotted_path_and_gets_only_the_settings_it_takes():
    from balancelab.training.mixing import make_mix

    mix = make_mix(method=f"{__name__}.HalfSwap", **SETTINGS)
    assert isinstance(mix, HalfSwap) and mix.alpha == 0.4
    x, targets = mix(torch.ones(4, 1, 2, 2), torch.tensor([0, 1, 0, 1]), torch.Generator().manual_seed(0))
    assert torch.equal(targets.weight, torch.full((4,), 0.5))


def test_an_unknown_mix_method_names_the_valid_ones():
    from balancelab.training.mixing import make_mix

    with pytest.raises(ConfigError, match=r"none, mixup, remix.*my_project\.mixing\.CutMix"):
        make_mix(method="cutmix", **SETTINGS)
