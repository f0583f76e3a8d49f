"""The training loop's hooks for the long-tail methods: the loss's epoch, the batch order, the mix."""

import numpy as np
import pytest
import torch
from torch import nn

from balancelab.longtail_losses import CrossEntropyDRW, LDAMLoss
from balancelab.training.batches import DeviceImages, OnlineAugmentation
from balancelab.balancing.deferred_sampling import DeferredResampling
from balancelab.training.loop import Interrupted, TrainSettings, fit
from balancelab.training.mixing import MixedTargets, Mixup, Remix
from balancelab.training.state import TrainingStateStore


def _data(n=64, seed=0):
    rng = np.random.default_rng(seed)
    y = np.where(rng.random(n) < 0.75, 0, 1)
    X = (rng.random((n, 4, 4, 1)) * 40).astype(np.uint8)
    X[y == 1] += 200
    return X, y


def _fit(criterion, epochs=3, **settings):
    X, y = _data()
    dev = torch.device("cpu")
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(16, 2))
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda e: 1.0)
    result = fit(model, DeviceImages(X, y, dev, [0.5], [0.3]), DeviceImages(X, y, dev, [0.5], [0.3]), criterion,
                 opt, sched, TrainSettings(epochs=epochs, batch_size=16, seed=0, progress="log", **settings))
    return model, result


def test_the_loop_tells_the_loss_its_1_based_epoch_before_the_epochs_batches():
    class Recording(nn.CrossEntropyLoss):
        def __init__(self):
            super().__init__()
            self.calls, self.epoch = [], None

        def set_epoch(self, epoch):
            self.epoch = epoch

        def forward(self, logits, target):
            self.calls.append(self.epoch)
            return super().forward(logits, target)

    loss = Recording()
    _fit(loss, epochs=3)
    assert loss.calls == [1] * 4 + [2] * 4 + [3] * 4  # 64 samples, batches of 16


def test_deferred_reweighting_switches_at_its_epoch_in_the_loop():
    class Watched(CrossEntropyDRW):
        seen = []

        def forward(self, logits, target):
            self.seen.append((self.epoch, self.class_weight is not None))
            return super().forward(logits, target)

    _fit(Watched(class_counts=[48, 16], drw_epoch=2), epochs=4)
    weighted = {epoch: w for epoch, w in Watched.seen}
    assert weighted == {1: False, 2: False, 3: True, 4: True}


def test_batch_order_replaces_the_shuffle_and_gets_the_epoch():
    asked = []

    def order(labels, epoch, generator):
        asked.append(epoch)
        return torch.randperm(len(labels), generator=generator)

    _fit(nn.CrossEntropyLoss(), epochs=3, batch_order=order)
    assert asked == [1, 2, 3]
    with pytest.raises(ValueError, match="not both"):
        _fit(nn.CrossEntropyLoss(), batch_order=order, weighted_sampling=True)


def test_an_identity_mix_changes_nothing():
    def identity(x, y, generator):
        return x, MixedTargets(y, y, torch.ones(len(y)))

    _, plain = _fit(nn.CrossEntropyLoss(), epochs=3)
    _, mixed = _fit(nn.CrossEntropyLoss(), epochs=3, mix=identity)
    for a, b in zip(plain.history, mixed.history):
        assert a["train_loss"] == pytest.approx(b["train_loss"], rel=1e-6)
        assert a["val_loss"] == pytest.approx(b["val_loss"], rel=1e-6)


def test_mixup_trains():
    _, result = _fit(nn.CrossEntropyLoss(), epochs=8, mix=Mixup(alpha=0.4))
    assert result.status == "completed" and result.best_val_macro_f1 > 0.9


def _resumable(folder, stop_after=None):
    X, y = _data(n=96, seed=1)
    dev = torch.device("cpu")
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(16, 8), nn.ReLU(), nn.Dropout(0.3), nn.Linear(8, 2))
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda e: 0.8 ** e)
    counts = np.bincount(y).tolist()
    settings = TrainSettings(epochs=5, batch_size=16, seed=3, progress="log", augment=OnlineAugmentation(hflip=True),
                             mix=Remix(class_counts=counts), batch_order=DeferredResampling(start_epoch=2))
    calls = {"n": 0}

    def stop():
        calls["n"] += 1
        return "SIGTERM" if stop_after is not None and calls["n"] >= stop_after else None

    store = TrainingStateStore(folder, "x") if folder is not None else None
    criterion = LDAMLoss(class_counts=counts, scale=5.0, drw_epoch=3)
    return model, fit(model, DeviceImages(X, y, dev, [0.5], [0.3]), DeviceImages(X, y, dev, [0.5], [0.3]),
                      criterion, opt, sched, settings, store=store, stop_requested=stop)


@pytest.mark.parametrize("stop_after", [9, 16])  # 6 batches an epoch: inside epoch 2 and epoch 3
def test_a_run_with_all_three_hooks_resumes_to_the_uninterrupted_result(tmp_path, stop_after):
    full_model, full = _resumable(None)
    with pytest.raises(Interrupted):
        _resumable(tmp_path, stop_after)
    resumed_model, resumed = _resumable(tmp_path)
    assert [h["train_loss"] for h in full.history] == [h["train_loss"] for h in resumed.history]
    for a, b in zip(full_model.state_dict().values(), resumed_model.state_dict().values()):
        assert torch.equal(a, b)
