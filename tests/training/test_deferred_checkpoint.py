"""A deferred method (DRW's class weights, deferred re-sampling) is reported from a checkpoint after its switch:
the best epoch is chosen among the epochs after it, early stopping waits for it, and the fit result carries
the summary's ``deferred`` block (the switch and the best epoch relative to it)."""

import math

import pytest
import torch
from torch import nn

import balancelab.training.loop as loop
from balancelab.longtail_losses import CrossEntropyDRW
from balancelab.training.batches import DeviceImages
from balancelab.balancing.deferred_sampling import DeferredResampling
from balancelab.training.loop import Interrupted, TrainSettings, fit
from balancelab.training.state import TrainingStateStore
from tests.training.test_loop import _data

COUNTS = [40, 24]


class _Tiny(nn.Module):
    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.zeros(1))

    def forward(self, x):
        return torch.zeros(len(x), 2) + self.w * 0


@pytest.fixture
def scripted(monkeypatch):
    """Validation macro-F1 of each epoch, in order, instead of the model's (the selection is what is tested)."""
    def use(scores):
        scores = iter(scores)

        def split_scores(y, pred):
            s = next(scores)
            return {"accuracy": s, "macro_f1": s, "balanced_accuracy": s}

        monkeypatch.setattr(loop, "split_scores", split_scores)
    return use


def _run(criterion, batch_order=None, epochs=6, patience=0, store=None, stop=lambda: None):
    X, y = _data()
    data = DeviceImages(X, y, torch.device("cpu"), [0.5], [0.3])
    model = _Tiny()
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda e: 1.0)
    settings = TrainSettings(epochs=epochs, batch_size=16, seed=0, patience=patience, progress="log",
                             batch_order=batch_order)
    return fit(model, data, data, criterion, opt, sched, settings, store=store, stop_requested=stop)


def test_drw_reports_the_best_epoch_after_its_switch(scripted):
    scripted([0.9, 1.0, 0.5, 0.7, 0.8, 0.6])  # the best epoch overall (2) is plain CE, before the weights
    result = _run(CrossEntropyDRW(class_counts=COUNTS, drw_epoch=3))
    assert result.best_epoch == 5 and result.best_val_macro_f1 == 0.8
    assert result.deferred == {"switch": "loss.drw_epoch", "switch_epoch": 3, "switches": {"loss.drw_epoch": 3},
                               "first_epoch_after_switch": 4, "best_epoch": 5, "best_epoch_after_switch": True}


def test_deferred_resampling_reports_the_best_epoch_after_its_switch(scripted):
    scripted([1.0, 0.9, 0.3, 0.2, 0.1, 0.1])
    result = _run(nn.CrossEntropyLoss(), batch_order=DeferredResampling(start_epoch=2))
    assert result.best_epoch == 3 and result.deferred["switch"] == "balancing.start_epoch"
    assert result.deferred["best_epoch_after_switch"] is True


def test_with_two_switches_the_later_one_counts(scripted):
    scripted([0.1, 0.2, 0.9, 0.8, 0.3, 0.4])
    result = _run(CrossEntropyDRW(class_counts=COUNTS, drw_epoch=2), batch_order=DeferredResampling(start_epoch=4))
    assert result.best_epoch == 6
    assert result.deferred["switches"] == {"loss.drw_epoch": 2, "balancing.start_epoch": 4}
    assert (result.deferred["switch"], result.deferred["first_epoch_after_switch"]) == ("balancing.start_epoch", 5)


def test_early_stopping_waits_for_the_switch_then_counts_patience_from_it(scripted):
    """Patience 2 would stop this run at epoch 3; before the switch (epoch 5) it does not count, after it
    the first epoch after the switch is the reference."""
    scripted([1.0, 0.1, 0.1, 0.1, 0.1, 0.1, 0.5, 0.4, 0.4, 0.4])
    result = _run(CrossEntropyDRW(class_counts=COUNTS, drw_epoch=5), epochs=10, patience=2)
    assert result.status == "early_stopped" and len(result.history) == 9
    assert result.best_epoch == 7 and result.deferred["best_epoch_after_switch"] is True
    assert result.notes == []


def test_a_run_without_a_deferred_method_is_unchanged(scripted):
    scripted([0.9, 1.0, 0.5, 0.7])
    result = _run(nn.CrossEntropyLoss(), epochs=4)
    assert result.best_epoch == 2 and result.deferred is None
    scripted([0.9, 1.0, 0.5, 0.7])
    assert _run(CrossEntropyDRW(class_counts=COUNTS, drw_epoch=0), epochs=4).deferred is None  # weighted throughout


class _NanFrom(CrossEntropyDRW):
    """Diverges from a given epoch on."""

    def __init__(self, epoch, **kwargs):
        super().__init__(**kwargs)
        self.bad_from = epoch

    def forward(self, logits, target):
        loss = super().forward(logits, target)
        return loss * math.nan if self.epoch >= self.bad_from else loss


def test_a_run_that_diverges_before_any_epoch_after_the_switch_keeps_its_best_and_says_so(scripted):
    scripted([0.5, 0.9, 0.7, 0.8])
    result = _run(_NanFrom(4, class_counts=COUNTS, drw_epoch=3))
    assert result.status == "diverged" and result.best_epoch == 2
    assert result.deferred["best_epoch_after_switch"] is False
    assert any("precedes the switch" in note for note in result.notes), result.notes


def test_a_resumed_run_chooses_as_the_uninterrupted_one(tmp_path, scripted):
    scores = [0.9, 1.0, 0.5, 0.7, 0.8, 0.6]
    scripted(scores)
    full = _run(CrossEntropyDRW(class_counts=COUNTS, drw_epoch=3))
    calls = {"n": 0}

    def stop():  # 4 batches an epoch: a stop request in the first epoch after the switch
        calls["n"] += 1
        return "SIGTERM" if calls["n"] >= 14 else None

    scripted(scores)
    with pytest.raises(Interrupted):
        _run(CrossEntropyDRW(class_counts=COUNTS, drw_epoch=3), store=TrainingStateStore(tmp_path, "x"), stop=stop)
    scripted(scores[3:])
    resumed = _run(CrossEntropyDRW(class_counts=COUNTS, drw_epoch=3), store=TrainingStateStore(tmp_path, "x"))
    assert (resumed.best_epoch, resumed.deferred) == (full.best_epoch, full.deferred) == (5, full.deferred)
