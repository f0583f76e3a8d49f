"""A deferred method (DRW's class weights, deferred re-sampling) that a run ends before reaching is reported:
a warning in the log and a note in the fit result, which the summary's message carries. Early stopping no
longer ends a run before the switch (tests/training/test_deferred_checkpoint.py): a divergence, or
trainer.epochs at or below the switch (refused by the config check), still can."""

import pytest
import torch
from torch import nn

from balancelab.longtail_losses import CrossEntropyDRW
from balancelab.training.batches import DeviceImages
from balancelab.balancing.deferred_sampling import DeferredResampling
from balancelab.training.loop import TrainSettings, fit
from tests.training.test_loop import _data


class _Constant(nn.Module):
    """Never improves: early stopping ends the run after patience + 1 epochs."""

    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.zeros(1))

    def forward(self, x):
        return torch.zeros(len(x), 2) + self.w * 0


def _run(criterion, batch_order=None, epochs=10, patience=2, model=None):
    X, y = _data()
    data = DeviceImages(X, y, torch.device("cpu"), [0.5], [0.3])
    model = model or _Constant()
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda e: 1.0)
    settings = TrainSettings(epochs=epochs, batch_size=16, seed=0, patience=patience, progress="log",
                             batch_order=batch_order)
    return fit(model, data, data, criterion, opt, sched, settings)


class _DivergesIn(CrossEntropyDRW):
    """Its loss becomes NaN in the given epoch."""

    def __init__(self, epoch, **kwargs):
        super().__init__(**kwargs)
        self.bad_in = epoch

    def forward(self, logits, target):
        loss = super().forward(logits, target)
        return loss * float("nan") if self.epoch == self.bad_in else loss


def test_early_stopping_waits_for_the_deferred_part():
    """Patience 2 would stop this never-improving run at epoch 3; it counts from the first epoch after the
    switch (epoch 6) instead, so the re-weighting has its chance."""
    result = _run(CrossEntropyDRW(class_counts=[40, 24], drw_epoch=5))
    assert result.status == "early_stopped" and len(result.history) == 8 and result.best_epoch == 6
    assert result.notes == [] and "never started" not in result.message


def test_drw_that_never_starts_is_reported(caplog):
    with caplog.at_level("WARNING", logger="balancelab"):
        result = _run(_DivergesIn(3, class_counts=[40, 24], drw_epoch=5))
    assert result.status == "diverged" and len(result.history) == 2
    expected = "class-balanced re-weighting (loss.drw_epoch=5) never started: training ended at epoch 3"
    assert any(expected in note for note in result.notes) and expected in result.message
    assert expected in caplog.text


def test_deferred_resampling_that_never_starts_is_reported():
    """trainer.epochs <= start_epoch (the config check refuses it up front; fit still says so)."""
    result = _run(nn.CrossEntropyLoss(), batch_order=DeferredResampling(start_epoch=4), epochs=3)
    assert any("class-balanced re-sampling (balancing.start_epoch=4) never started: training ended at epoch 3"
               in note for note in result.notes)
    assert result.status == "completed"


@pytest.mark.parametrize("start", [0, 2])
def test_nothing_is_reported_when_the_deferred_part_ran(start):
    result = _run(CrossEntropyDRW(class_counts=[40, 24], drw_epoch=start),
                  batch_order=DeferredResampling(start_epoch=start))
    assert result.notes == [] and "never started" not in result.message


def test_a_run_whose_epochs_end_before_the_start_is_reported_too():
    """Not only early stopping: trainer.epochs <= drw_epoch (the config check should refuse it up front)."""
    result = _run(CrossEntropyDRW(class_counts=[40, 24], drw_epoch=3), epochs=3, patience=0)
    assert result.status == "completed" and any("never started" in note for note in result.notes)
