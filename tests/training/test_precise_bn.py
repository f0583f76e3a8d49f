"""Precise batch-norm statistics: the evaluated network must be the trained one, from the first epoch."""

import copy

import numpy as np
import pytest
import torch
from torch import nn

from balancelab.training.batches import DeviceImages
from balancelab.training.loop import TrainSettings, fit, predict
from balancelab.training.precise_bn import recompute_batch_norm_statistics


def _images(n=96, seed=0):
    """Three classes told apart by the brightness of one corner: a few steps of training separate them."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 3
    X = (rng.random((n, 4, 4, 1)) * 30).astype(np.uint8)
    X[:, :2, :2, 0] += (y * 100)[:, None, None].astype(np.uint8)
    return DeviceImages(X, y, torch.device("cpu"), [0.3], [0.3])


class _BatchNormNet(nn.Module):
    """Six batch-norm layers; the first sees outputs whose mean and scale are far from batch norm's (0, 1)
    initial running averages, as a fresh deep network's later layers do. Errors compound through depth."""

    def __init__(self, depth=6):
        super().__init__()
        self.conv = nn.Conv2d(1, 8, 3, padding=1)
        with torch.no_grad():
            self.conv.weight.mul_(8.0)
            self.conv.bias.fill_(3.0)
        layers = [nn.BatchNorm2d(8), nn.ReLU()]
        for _ in range(depth - 1):
            layers += [nn.Conv2d(8, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU()]
        self.body = nn.Sequential(*layers, nn.Flatten(), nn.Dropout(0.3), nn.Linear(128, 3))
        self.dropout = self.body[-2]

    def forward(self, x):
        return self.body(self.conv(x))


def _train_one_epoch(precise_bn_images):
    torch.manual_seed(0)
    data = _images()
    model = _BatchNormNet()
    optimizer = torch.optim.Adam(model.parameters(), lr=0.03)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda e: 1.0)
    settings = TrainSettings(epochs=1, batch_size=16, seed=0, progress="log", precise_bn_images=precise_bn_images)
    result = fit(model, data, data, nn.CrossEntropyLoss(), optimizer, scheduler, settings)
    return model, data, result


def _accuracy(model, data, train_mode):
    if not train_mode:
        probs, _ = predict(model, data, 16)
        return float((probs.argmax(1) == data.y).mean())
    model = copy.deepcopy(model).train()  # a copy: a train-mode pass moves the running averages
    model.dropout.eval()  # dropout off: only batch norm's mode differs between the two scores
    correct = 0
    with torch.no_grad():
        for x, y in data.ordered_batches(16):
            correct += (model(x).argmax(1) == y).sum().item()
    return correct / len(data)


def test_without_precise_statistics_the_evaluated_network_is_not_the_trained_one():
    """The defect: after a short epoch the running averages lag the weights, so eval mode scores far below
    train mode on the very images it trained on; recomputed statistics close the gap."""
    lagging, data, _ = _train_one_epoch(precise_bn_images=0)
    train_mode = _accuracy(lagging, data, train_mode=True)
    assert train_mode >= 0.9 and _accuracy(lagging, data, train_mode=False) <= train_mode - 0.3

    precise, data, _ = _train_one_epoch(precise_bn_images=64)
    train_mode = _accuracy(precise, data, train_mode=True)
    assert train_mode >= 0.9 and _accuracy(precise, data, train_mode=False) >= train_mode - 0.05


def test_precise_statistics_do_not_change_the_training_trajectory():
    """Running statistics are never read in training mode, and the pass draws no random number: the loss
    history and the weights are those of the run without it."""
    lagging, _, without = _train_one_epoch(precise_bn_images=0)
    precise, _, with_it = _train_one_epoch(precise_bn_images=64)
    assert [h["train_loss"] for h in without.history] == [h["train_loss"] for h in with_it.history]
    for (name, a), b in zip(lagging.named_parameters(), precise.parameters()):
        assert torch.equal(a, b), name


def test_the_best_weights_carry_the_recomputed_statistics():
    model, _, result = _train_one_epoch(precise_bn_images=64)
    for key, value in model.state_dict().items():
        assert torch.equal(result.best_state[key], value), key
    assert int(result.best_state["body.0.num_batches_tracked"]) == 64 // 16  # the precise pass, not 6 training steps


def test_the_statistics_are_the_exact_average_of_full_batches():
    """An input batch norm sees the images themselves: its running mean is the images' mean, its running
    variance the average of the batches' unbiased variances. 50 images in batches of 16: the first 48."""
    data = _images(n=60)
    model = nn.Sequential(nn.BatchNorm2d(1), nn.Flatten(), nn.Linear(16, 3))
    model[0].momentum = 0.25
    order = torch.randperm(60, generator=torch.Generator().manual_seed(1))
    used = recompute_batch_norm_statistics(model, data, order, images=50, batch_size=16)
    assert used == 48
    batches = [data.batch(order[i:i + 16])[0] for i in range(0, 48, 16)]
    mean = torch.stack([b.mean() for b in batches]).mean()
    var = torch.stack([b.var(unbiased=True) for b in batches]).mean()
    assert torch.allclose(model[0].running_mean, mean.view(1), atol=1e-6)
    assert torch.allclose(model[0].running_var, var.view(1), atol=1e-6)
    assert model[0].momentum == 0.25 and model.training  # the layer's momentum and the model's mode are put back


def test_the_pass_is_bounded_and_skipped_without_batch_norm():
    data = _images(n=96)
    order = torch.arange(96)
    seen = []
    model = nn.Sequential(nn.BatchNorm2d(1), nn.Flatten(), nn.Linear(16, 3))
    model.register_forward_hook(lambda module, inputs, output: seen.append(len(inputs[0])))
    assert recompute_batch_norm_statistics(model, data, order, images=40, batch_size=16) == 32 and seen == [16, 16]
    assert recompute_batch_norm_statistics(model, data, order, images=10, batch_size=16) == 10  # one smaller batch
    assert recompute_batch_norm_statistics(model, data, order, images=0, batch_size=16) == 0
    plain = nn.Sequential(nn.Flatten(), nn.Linear(16, 3))
    plain.register_forward_hook(lambda module, inputs, output: pytest.fail("a model without batch norm was run"))
    assert recompute_batch_norm_statistics(plain, data, order, images=64, batch_size=16) == 0


def test_the_pass_draws_no_random_number_and_needs_no_gradient():
    data = _images()
    model = nn.Sequential(nn.BatchNorm2d(1), nn.Flatten(), nn.Dropout(0.5), nn.Linear(16, 3))
    before = torch.get_rng_state()
    recompute_batch_norm_statistics(model, data, torch.arange(96), images=64, batch_size=16)
    assert torch.equal(torch.get_rng_state(), before)
    assert all(p.grad is None for p in model.parameters())


def _resumable(folder, stop_after_batches=None):
    from balancelab.training.state import TrainingStateStore

    torch.manual_seed(0)
    data = _images()
    model = _BatchNormNet(depth=3)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda e: 0.8 ** e)
    settings = TrainSettings(epochs=4, batch_size=16, seed=2, progress="log", precise_bn_images=40, state_every_s=0)
    calls = {"n": 0}

    def stop():
        calls["n"] += 1
        return "SIGTERM" if stop_after_batches is not None and calls["n"] >= stop_after_batches else None

    store = TrainingStateStore(folder, "bn") if folder is not None else None
    return model, fit(model, data, data, nn.CrossEntropyLoss(), optimizer, scheduler, settings, store=store,
                      stop_requested=stop)


@pytest.mark.parametrize("stop_after", [3, 6, 7, 15])  # 6 batches an epoch: mid-epoch and at its end
def test_a_resumed_run_recomputes_the_same_statistics(tmp_path, stop_after):
    from balancelab.training.loop import Interrupted

    full_model, full = _resumable(None)
    with pytest.raises(Interrupted):
        _resumable(tmp_path, stop_after_batches=stop_after)
    resumed_model, resumed = _resumable(tmp_path)
    assert [h["val_loss"] for h in full.history] == [h["val_loss"] for h in resumed.history]
    for key, value in full_model.state_dict().items():
        assert torch.equal(resumed_model.state_dict()[key], value), key
    for key, value in full.best_state.items():
        assert torch.equal(resumed.best_state[key], value), key
