import numpy as np
import pytest
import torch
from torch import nn

from balancelab.errors import ConfigError
from balancelab.evaluation.posthoc import model_outputs
from balancelab.training.batches import DeviceImages
from balancelab.training.crt import retrain_classifier


def _model():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(), nn.Dropout(0.2),
                         nn.Linear(64, 2))


def _data(n=80):
    rng = np.random.default_rng(0)
    y = np.where(rng.random(n) < 0.85, 0, 1)
    X = (rng.random((n, 4, 4, 1)) * 40).astype(np.uint8)
    X[y == 1] += 200
    return DeviceImages(X, y, torch.device("cpu"), [0.5], [0.3])


def test_only_the_classifier_changes():
    model, data = _model(), _data()
    model.train()
    model(next(data.ordered_batches(80))[0])  # non-trivial batch-norm statistics, as after training
    before = {k: v.clone() for k, v in model.state_dict().items()}
    flags = [p.requires_grad for p in model.parameters()]
    retrain_classifier(model, data, epochs=2, batch_size=16, seed=0)
    after = model.state_dict()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed == {"5.weight", "5.bias"}  # the backbone's weights and BN statistics are untouched
    assert [p.requires_grad for p in model.parameters()] == flags


def test_the_retrained_classifier_separates_the_classes_and_is_reproducible():
    data = _data()
    a = retrain_classifier(_model(), data, epochs=5, batch_size=16, seed=1, lr=0.5)
    b = retrain_classifier(_model(), data, epochs=5, batch_size=16, seed=1, lr=0.5)
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))
    logits, _ = model_outputs(a, data, 32)
    assert (logits.argmax(1) == data.y).mean() > 0.95


@pytest.mark.parametrize("kwargs, message", [({"epochs": 0}, "crt_epochs must be an integer >= 1"),
                                             ({"lr": 0.0}, "lr=0.0 is out of range"),
                                             ({"batch_size": 1.5}, "batch_size must be")])
def test_bad_settings(kwargs, message):
    args = {"epochs": 1, "batch_size": 8, "seed": 0, **kwargs}
    with pytest.raises(ConfigError, match=message):
        retrain_classifier(_model(), _data(), **args)
