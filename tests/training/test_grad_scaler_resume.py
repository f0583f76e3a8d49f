"""fp16 training's grad scaler is part of the resumable state: a resume that lost it would restart at the
initial scale, skip the steps whose gradients overflow again, and end elsewhere. Runs on the CPU (fp16
autocast and torch.amp.GradScaler("cpu")), as on CUDA."""

import pytest
import torch
from torch import nn

from balancelab.training.batches import DeviceImages
from balancelab.training.loop import Interrupted, TrainSettings, fit
from balancelab.training.state import TrainingStateStore
from tests.training.test_loop import _data, _DropoutNet, _same

INITIAL_SCALE = torch.amp.GradScaler("cpu").get_scale()


def _fp16_run(folder, stop_after_batches=None, tamper=None):
    X, y = _data(n=96, classes=3, seed=1)
    dev = torch.device("cpu")
    train, val = DeviceImages(X, y, dev, [0.5], [0.3]), DeviceImages(X[:40], y[:40], dev, [0.5], [0.3])
    torch.manual_seed(0)
    model = _DropoutNet()
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda e: 0.7 ** e)
    settings = TrainSettings(epochs=4, batch_size=16, seed=3, progress="log", amp_dtype=torch.float16,
                             state_every_s=0)
    calls = {"n": 0}

    def stop():
        calls["n"] += 1
        return "SIGTERM" if stop_after_batches is not None and calls["n"] >= stop_after_batches else None

    store = _Recording(folder) if folder is not None else None
    if store is not None and tamper is not None:
        store.tamper = tamper
    return model, fit(model, train, val, _large_loss, opt, sched, settings, store=store,
                      stop_requested=stop), store


def _large_loss(logits, target):
    """Cross-entropy x 1000: at the initial scale its fp16 gradients overflow, so the scale backs off early."""
    return 1000.0 * nn.functional.cross_entropy(logits, target)


class _Recording(TrainingStateStore):
    """The real store; it remembers the scaler states it saved and can alter the state it loads."""

    def __init__(self, folder):
        super().__init__(folder, "fp16")
        self.saved_scalers, self.tamper = [], None

    def save(self, state):
        self.saved_scalers.append(state["scaler"])
        super().save(state)

    def load(self, *args, **kwargs):
        state = super().load(*args, **kwargs)
        if state is not None and self.tamper is not None:
            self.tamper(state)
        return state


def test_fp16_training_moves_the_scale_and_saves_it(tmp_path):
    _, result, store = _fp16_run(tmp_path)
    assert result.status == "completed" and store.saved_scalers
    scales = [s["scale"] for s in store.saved_scalers]
    assert all(s is not None for s in store.saved_scalers) and min(scales) < INITIAL_SCALE  # overflow backed off


@pytest.mark.parametrize("stop_after", [3, 8, 15])
def test_a_resumed_fp16_run_restores_the_scaler_and_ends_where_the_uninterrupted_one_does(tmp_path, stop_after):
    full_model, full, _ = _fp16_run(None)
    with pytest.raises(Interrupted):
        _fp16_run(tmp_path, stop_after_batches=stop_after)
    saved = torch.load(tmp_path / "training_state.pt", weights_only=True)["scaler"]
    assert saved["scale"] < INITIAL_SCALE
    resumed_model, resumed, _ = _fp16_run(tmp_path)
    _same(full, full_model, resumed, resumed_model)


def test_the_resume_test_would_see_a_lost_scaler(tmp_path):
    """The control: the same resume with the saved scaler reset to a fresh one's does not end in the same place."""
    full_model, full, _ = _fp16_run(None)
    with pytest.raises(Interrupted):
        _fp16_run(tmp_path, stop_after_batches=8)

    def forget_scaler(state):
        state["scaler"] = torch.amp.GradScaler("cpu").state_dict()

    resumed_model, resumed, _ = _fp16_run(tmp_path, tamper=forget_scaler)
    with pytest.raises(AssertionError):
        _same(full, full_model, resumed, resumed_model)
