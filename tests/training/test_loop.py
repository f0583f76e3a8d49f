import numpy as np
import torch
from torch import nn

from balancelab.training.batches import DeviceImages, OnlineAugmentation
from balancelab.training.loop import fit
from balancelab.training.optim import build_optimizer, build_scheduler, lr_factor
from omegaconf import OmegaConf


def _data(n=64, classes=2, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, classes, n)
    X = (rng.random((n, 4, 4, 1)) * 40).astype(np.uint8)
    X[y == 1] += 200  # separable by brightness
    return X, y


def _fit(model, criterion, lr=0.05, epochs=3, patience=0):
    X, y = _data()
    dev = torch.device("cpu")
    train = DeviceImages(X, y, dev, [0.5], [0.3])
    val = DeviceImages(X, y, dev, [0.5], [0.3])
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda e: 1.0)
    return fit(model, train, y, val, y, criterion, opt, sched, epochs, 16, OnlineAugmentation(), False, 0,
               patience=patience, progress="log")


def test_fit_learns_and_keeps_best_state():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(16, 2))
    result = _fit(model, nn.CrossEntropyLoss(), epochs=5)
    assert result.status == "completed" and result.best_val_macro_f1 > 0.9
    assert len(result.history) == 5 and result.best_state is not None


def test_non_finite_loss_stops_with_diverged():
    model = nn.Sequential(nn.Flatten(), nn.Linear(16, 2))

    def exploding(logits, target):
        return (logits * float("inf")).sum()

    result = _fit(model, exploding)
    assert result.status == "diverged" and result.best_state is None and "epoch 1" in result.message


def test_early_stopping():
    class Constant(nn.Module):
        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(torch.zeros(1))

        def forward(self, x):
            return torch.zeros(len(x), 2) + self.w * 0

    result = _fit(Constant(), nn.CrossEntropyLoss(), epochs=10, patience=2)
    assert result.status == "early_stopped" and len(result.history) == 3 and result.best_epoch == 1


def test_schedules():
    step = OmegaConf.create({"name": "step", "step_size": 2, "gamma": 0.5, "warmup_epochs": 0, "min_lr": 0.0})
    assert [lr_factor(e, 10, step, 1.0) for e in range(5)] == [1, 1, 0.5, 0.5, 0.25]
    cos = OmegaConf.create({"name": "cosine", "warmup_epochs": 1, "min_lr": 0.0})
    assert lr_factor(0, 11, cos, 1.0) == 0.5 and lr_factor(1, 11, cos, 1.0) == 1.0
    assert abs(lr_factor(11, 11, cos, 1.0)) < 1e-9
    model = nn.Linear(2, 2)
    opt = build_optimizer(model.parameters(), OmegaConf.create({"name": "adamw", "lr": 0.1, "weight_decay": 0.0, "momentum": 0.9}))
    sched = build_scheduler(opt, step, 10)
    for _ in range(2):
        opt.step()
        sched.step()
    assert opt.param_groups[0]["lr"] == 0.05


def test_interrupted_training_resumes_where_it_stopped(tmp_path):
    X, y = _data()
    dev = torch.device("cpu")
    train = DeviceImages(X, y, dev, [0.5], [0.3])

    def run(epochs, state):
        torch.manual_seed(0)
        model = nn.Sequential(nn.Flatten(), nn.Linear(16, 2))
        opt = torch.optim.SGD(model.parameters(), lr=0.05)
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda e: 0.5 ** e)
        return model, fit(model, train, y, train, y, nn.CrossEntropyLoss(), opt, sched, epochs, 16,
                          OnlineAugmentation(), True, 0, progress="log", state_path=state)

    full_model, full = run(4, None)
    run(2, tmp_path / "state.pt")                    # "killed" after epoch 2
    resumed_model, resumed = run(4, tmp_path / "state.pt")
    assert [h["epoch"] for h in resumed.history] == [1, 2, 3, 4]
    assert [h["lr"] for h in resumed.history] == [h["lr"] for h in full.history]
    for a, b in zip(full_model.parameters(), resumed_model.parameters()):
        assert torch.allclose(a, b, atol=1e-6)


def test_predicted_labels_match_probabilities():
    from balancelab.training.loop import predicted_labels, probabilities

    multi = torch.randn(20, 4)
    single = torch.randn(20, 1)
    assert torch.equal(predicted_labels(multi), probabilities(multi).argmax(1))
    assert torch.equal(predicted_labels(single), probabilities(single).argmax(1))
