"""cRT as Kang et al.'s code runs it (facebookresearch/classifier-balancing: run_networks.py, cls_crt.yaml,
ClassAwareSampler.py): frozen backbone in train mode, training transforms, a fresh classifier, SGD with a
cosine decay, class-aware batches, and the stage-2 epoch chosen on validation."""

import math

import numpy as np
import pytest
import torch
from torch import nn

from balancelab.errors import ConfigError
from balancelab.evaluation.metrics import split_scores
from balancelab.evaluation.posthoc import model_outputs
from balancelab.training.batches import DeviceImages, OnlineAugmentation
from balancelab.training.crt import retrain_classifier


def _model():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(), nn.Dropout(0.2),
                         nn.Linear(64, 2))


def _data(n=80, seed=0):
    rng = np.random.default_rng(seed)
    y = np.where(rng.random(n) < 0.85, 0, 1)
    X = (rng.random((n, 4, 4, 1)) * 40).astype(np.uint8)
    X[y == 1] += 200
    X[:, :, :2] //= 4  # a dark left half: a horizontal flip changes every image
    return DeviceImages(X, y, torch.device("cpu"), [0.5], [0.3])


def _retrain(model=None, train=None, val=None, **kwargs):
    args = {"epochs": 2, "batch_size": 16, "seed": 0, **kwargs}
    return retrain_classifier(model if model is not None else _model(), train if train is not None else _data(),
                              val if val is not None else _data(40, 1), **args)


def test_the_frozen_backbone_runs_in_train_mode_so_only_its_batch_norm_statistics_follow():
    """run_networks.py calls model.train() on every network in stage 2: the frozen feature model's batch norm
    normalises with batch statistics and its running averages move; its weights do not."""
    model, data = _model(), _data()
    model.train()
    model(next(data.ordered_batches(80))[0])  # non-trivial batch-norm statistics, as after training
    before = {k: v.clone() for k, v in model.state_dict().items()}
    flags = [p.requires_grad for p in model.parameters()]
    modes = []
    model[1].register_forward_hook(lambda module, inputs, output: modes.append(module.training))
    _retrain(model, data)
    after = model.state_dict()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed == {"1.running_mean", "1.running_var", "1.num_batches_tracked", "5.weight", "5.bias"}
    assert [p.requires_grad for p in model.parameters()] == flags
    assert True in modes and False in modes  # batch statistics while training, running ones on validation


def test_batches_are_class_aware_and_an_epoch_is_the_training_sets_size_in_whole_batches():
    """ClassAwareSampler with num_samples_cls=4, and epoch_steps = int(len(train) / batch_size)."""
    seen = []

    class Spy(nn.CrossEntropyLoss):
        def forward(self, logits, target):
            seen.append(target.clone())
            return super().forward(logits, target)

    result = _retrain(epochs=3, criterion=Spy())
    assert len(seen) == 3 * (80 // 16) and result.steps_per_epoch == 5
    for target in seen:
        assert len(target) == 16 and target.sum() == 8  # two classes, four images a visit: 8 and 8


def test_training_batches_get_the_runs_online_augmentation():
    """The reference's stage 2 reads the training transforms (RandomResizedCrop, flip, ...)."""
    data = _data()
    originals = {tuple(row) for row in next(data.ordered_batches(80))[0].flatten(1).tolist()}

    def inputs_seen(augment):
        model, rows = _model(), []
        model[0].register_forward_pre_hook(lambda module, args: rows.extend(map(tuple, args[0].flatten(1).tolist())))
        _retrain(model, data, augment=augment)
        return rows

    assert set(inputs_seen(None)) <= originals | {tuple(r) for r in next(_data(40, 1).ordered_batches(40))[0]
                                                 .flatten(1).tolist()}
    assert not set(inputs_seen(OnlineAugmentation(hflip=True))) <= originals | set(inputs_seen(None))


def test_the_classifier_is_that_of_the_best_validation_epoch_not_the_last():
    """run_networks.py keeps the weights of the epoch with the best validation score (the first of ties) and
    tests those; the test split is never an argument here."""
    train, val = _data(), _data(40, 1)
    val.y[:] = 1 - val.y  # validation disagrees with training: the more the classifier learns, the worse it scores
    val.labels = torch.from_numpy(val.y)
    result = _retrain(train=train, val=val, epochs=6, lr=0.05)
    scores = result.val_macro_f1
    assert len(scores) == 6 and result.best_epoch == 1 + int(np.argmax(scores)) and result.best_epoch < 6
    logits, _ = model_outputs(result.model, val, 64)
    assert split_scores(val.y, logits.argmax(1))["macro_f1"] == pytest.approx(max(scores))


def test_a_fresh_classifier_from_its_own_random_stream_and_the_global_stream_untouched():
    """The classifier is re-initialised (DotProductClassifier, random init, not stage-1 weights) from the cRT
    seed: the result does not depend on what drew from torch's global generator before, nor changes it."""
    first, second = _model(), _model()
    torch.manual_seed(123)
    a = _retrain(first, seed=5)
    torch.manual_seed(456)
    state = torch.get_rng_state()
    b = _retrain(second, seed=5)
    assert torch.equal(torch.get_rng_state(), state)
    assert all(torch.equal(x, y) for x, y in zip(a.model.state_dict().values(), b.model.state_dict().values()))
    c = _retrain(seed=6)
    assert not torch.equal(c.model[5].weight, a.model[5].weight)


def test_sgd_with_a_cosine_decay_to_zero_over_the_epochs():
    """CosineAnnealingLR(T_max=num_epochs, eta_min=endlr=0), epoch e (1-based) at lr (1 + cos(pi (e-1)/E)) / 2."""
    result = _retrain(epochs=4, lr=0.2)
    assert result.lrs == pytest.approx([0.2 * 0.5 * (1 + math.cos(math.pi * e / 4)) for e in range(4)])


def test_the_retrained_classifier_separates_the_classes_and_is_reproducible():
    data = _data()
    a = _retrain(train=data, epochs=5, seed=1, lr=0.5)
    b = _retrain(train=data, epochs=5, seed=1, lr=0.5)
    assert all(torch.equal(x, y) for x, y in zip(a.model.state_dict().values(), b.model.state_dict().values()))
    logits, _ = model_outputs(a.model, data, 32)
    assert (logits.argmax(1) == data.y).mean() > 0.95


@pytest.mark.parametrize("kwargs, message", [({"epochs": 0}, "crt_epochs must be an integer >= 1"),
                                             ({"lr": 0.0}, "lr=0.0 is out of range"),
                                             ({"batch_size": 1.5}, "batch_size must be")])
def test_bad_settings(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        _retrain(**kwargs)


def test_an_empty_validation_split_is_refused():
    empty = DeviceImages(np.zeros((0, 4, 4, 1), np.uint8), np.zeros(0, np.int64), torch.device("cpu"), [0.5], [0.3])
    with pytest.raises(ConfigError, match="validation split is empty"):
        _retrain(val=empty)
