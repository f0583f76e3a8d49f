import numpy as np
import pytest
import torch
from torch import nn

from balancelab.training.batches import DeviceImages, OnlineAugmentation
from balancelab.training.loop import Interrupted, TrainSettings, fit
from balancelab.training.state import TrainingStateStore
from tests.conftest import build_option, options_of


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
    return fit(model, train, val, criterion, opt, sched,
               TrainSettings(epochs=epochs, batch_size=16, seed=0, patience=patience, progress="log"))


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


class Constant(nn.Module):
    """Always the same logits: validation macro-F1 never improves after epoch 1."""

    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.zeros(1))

    def forward(self, x):
        return torch.zeros(len(x), 2) + self.w * 0


def test_early_stopping():
    result = _fit(Constant(), nn.CrossEntropyLoss(), epochs=10, patience=2)
    assert result.status == "early_stopped" and len(result.history) == 3 and result.best_epoch == 1


def test_patience_reached_on_the_last_epoch_is_a_completed_run():
    """A run that trained every epoch it was given did not stop early, whatever its patience counter says:
    `early_stopped` must mean that epochs were left untrained."""
    result = _fit(Constant(), nn.CrossEntropyLoss(), epochs=3, patience=2)
    assert len(result.history) == 3 and result.status == "completed", result.status


def _lrs(scheduler, optimizer, epochs):
    lrs = []
    for _ in range(epochs):
        lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    return lrs


@pytest.mark.parametrize("option", options_of("scheduler"))
def test_every_schedule_starts_at_most_at_the_base_lr_and_stays_positive(option):
    model = nn.Linear(2, 2)
    optimizer = build_option("optimizer", "sgd", {"lr": 0.1})(model.parameters())
    scheduler = build_option("scheduler", option, optimizer=optimizer, total_epochs=12)
    lrs = _lrs(scheduler, optimizer, 12)
    assert all(0 <= lr <= 0.1 + 1e-12 for lr in lrs) and max(lrs) == pytest.approx(0.1)


def test_step_and_cosine_schedules():
    model = nn.Linear(2, 2)
    optimizer = build_option("optimizer", "adamw", {"lr": 1.0, "weight_decay": 0.0})(model.parameters())
    step = build_option("scheduler", "step", {"step_size": 2, "gamma": 0.5}, optimizer=optimizer, total_epochs=10)
    assert _lrs(step, optimizer, 5) == [1, 1, 0.5, 0.5, 0.25]
    optimizer = build_option("optimizer", "adamw", {"lr": 1.0, "weight_decay": 0.0})(model.parameters())
    cosine = build_option("scheduler", "cosine", {"warmup_epochs": 1}, optimizer=optimizer, total_epochs=11)
    lrs = _lrs(cosine, optimizer, 12)
    assert lrs[0] == 0.5 and lrs[1] == 1.0 and abs(lrs[11]) < 1e-9


def test_optimizers_are_torch_optimizers_with_the_configured_values():
    model = nn.Linear(2, 2)
    sgd = build_option("optimizer", "sgd")(model.parameters())
    assert type(sgd).__name__ == "SGD" and sgd.defaults["momentum"] == 0.9 and sgd.defaults["nesterov"]
    adam = build_option("optimizer", "adam")(model.parameters())
    # composed on the default data, whose training recipe sets Adam's lr to 0.002 (the option's own is 5e-4)
    assert type(adam).__name__ == "Adam" and adam.defaults["lr"] == pytest.approx(2e-3)


class _DropoutNet(nn.Module):
    """Dropout draws from torch's global RNG: a resume that does not restore it trains differently."""

    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Flatten(), nn.Linear(16, 16), nn.ReLU(), nn.Dropout(0.5), nn.Linear(16, 3))

    def forward(self, x):
        return self.body(x)


def _resumable_run(folder, epochs=6, patience=0, stop_after_batches=None, identity="abc"):
    """Train a dropout net with online augmentation; optionally ask to stop after a number of batches."""
    X, y = _data(n=96, classes=3, seed=1)
    dev = torch.device("cpu")
    train = DeviceImages(X, y, dev, [0.5], [0.3])
    val = DeviceImages(X[:40], y[:40], dev, [0.5], [0.3])
    torch.manual_seed(0)
    model = _DropoutNet()
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda e: 0.7 ** e)
    settings = TrainSettings(epochs=epochs, batch_size=16, seed=3, patience=patience, progress="log",
                             augment=OnlineAugmentation(hflip=True, max_rotation=20, max_shift=0.1, scale_range=0.1))
    calls = {"n": 0}

    def stop():
        calls["n"] += 1
        return "SIGTERM" if stop_after_batches is not None and calls["n"] >= stop_after_batches else None

    store = TrainingStateStore(folder, identity) if folder is not None else None
    return model, fit(model, train, val, nn.CrossEntropyLoss(), opt, sched, settings, store=store, stop_requested=stop)


def _same(result_a, model_a, result_b, model_b):
    assert [h["train_loss"] for h in result_a.history] == [h["train_loss"] for h in result_b.history]
    assert [h["val_macro_f1"] for h in result_a.history] == [h["val_macro_f1"] for h in result_b.history]
    assert result_a.best_epoch == result_b.best_epoch and result_a.status == result_b.status
    for a, b in zip(model_a.state_dict().values(), model_b.state_dict().values()):
        assert torch.equal(a, b)
    for k in result_a.best_state:
        assert torch.equal(result_a.best_state[k], result_b.best_state[k])


@pytest.mark.parametrize("stop_after", [1, 4, 6, 7, 13, 29])  # 6 batches an epoch: mid-epoch and boundaries
def test_a_run_stopped_anywhere_resumes_to_the_uninterrupted_result(tmp_path, stop_after):
    full_model, full = _resumable_run(None)
    with pytest.raises(Interrupted) as stopped:
        _resumable_run(tmp_path, stop_after_batches=stop_after)
    assert stopped.value.saved
    resumed_model, resumed = _resumable_run(tmp_path)
    _same(full, full_model, resumed, resumed_model)


def test_a_resume_after_the_early_stopping_decision_stops_where_the_uninterrupted_run_did(tmp_path):
    """Killed after the stopping epoch's state was written but before the run finished: no extra epoch."""
    full_model, full = _resumable_run(None, epochs=30, patience=2)
    assert full.status == "early_stopped" and len(full.history) < 30
    _resumable_run(tmp_path, epochs=30, patience=2)  # its last state stays: the "kill" comes right after it
    resumed_model, resumed = _resumable_run(tmp_path, epochs=30, patience=2)
    _same(full, full_model, resumed, resumed_model)


def test_a_state_from_another_identity_is_not_resumed(tmp_path):
    from balancelab.errors import OutputFolderError

    with pytest.raises(Interrupted):
        _resumable_run(tmp_path, stop_after_batches=8, identity="aaaa")
    with pytest.raises(OutputFolderError, match="different configuration"):
        _resumable_run(tmp_path, identity="bbbb")


def test_a_corrupt_state_is_set_aside_and_the_previous_one_used(tmp_path, caplog):
    full_model, full = _resumable_run(None)
    with pytest.raises(Interrupted):
        _resumable_run(tmp_path, stop_after_batches=14)  # states after epochs 1 and 2, then mid-epoch 3
    state = tmp_path / "training_state.pt"
    state.write_bytes(state.read_bytes()[:1000])  # truncated, as by a full disk or a killed copy
    with caplog.at_level("WARNING", logger="balancelab"):
        resumed_model, resumed = _resumable_run(tmp_path)
    assert "cannot be read" in caplog.text and list(tmp_path.glob("training_state.pt.corrupt-*"))
    _same(full, full_model, resumed, resumed_model)


def test_with_no_usable_state_the_run_restarts_cleanly(tmp_path):
    full_model, full = _resumable_run(None)
    (tmp_path / "training_state.pt").write_bytes(b"not a zip archive")
    resumed_model, resumed = _resumable_run(tmp_path)
    _same(full, full_model, resumed, resumed_model)
    assert len(list(tmp_path.glob("*.corrupt-*"))) == 1


def test_predicted_labels_match_probabilities():
    from balancelab.evaluation.forward import predicted_labels, probabilities

    multi = torch.randn(20, 4)
    single = torch.randn(20, 1)
    assert torch.equal(predicted_labels(multi), probabilities(multi).argmax(1))
    assert torch.equal(predicted_labels(single), probabilities(single).argmax(1))


def test_probabilities_follow_the_logit_scale_the_loss_uses():
    """A cosine classifier's outputs are in [-1, 1]; LDAM scales them by s. Probabilities must too."""
    from balancelab.longtail_losses import LDAMLoss
    from balancelab.training.loop import predict

    X, y = _data(n=16)
    data = DeviceImages(X, y, torch.device("cpu"), [0.5], [0.3])
    model = nn.Sequential(nn.Flatten(), nn.Linear(16, 2), nn.Tanh())
    raw, _ = predict(model, data, 8)
    scaled, _ = predict(model, data, 8, logit_scale=30.0)
    with torch.no_grad():
        outputs = torch.cat([model(x) for x, _ in data.ordered_batches(8)])
    assert np.allclose(scaled, torch.softmax(outputs * 30, 1).numpy(), atol=1e-6)
    assert np.array_equal(raw.argmax(1), scaled.argmax(1))
    assert LDAMLoss(class_counts=[10, 5], scale=30.0).logit_scale == 30.0


class _CountingStore:
    """A store that records which epochs' states were written (nothing to resume)."""

    def __init__(self):
        self.saved_epochs, self.path = [], None

    def load(self, model=None, optimizer=None):
        return None

    def save(self, state):
        self.saved_epochs.append((state["epoch"], state["progress"] is not None))


def _fit_with_store(store, state_every_s, epochs=5, stop=lambda: None):
    torch.manual_seed(0)
    X, y = _data()
    dev = torch.device("cpu")
    model = nn.Sequential(nn.Flatten(), nn.Linear(16, 2))
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda e: 1.0)
    settings = TrainSettings(epochs=epochs, batch_size=16, seed=0, progress="log", state_every_s=state_every_s)
    return fit(model, DeviceImages(X, y, dev, [0.5], [0.3]), DeviceImages(X, y, dev, [0.5], [0.3]),
               nn.CrossEntropyLoss(), opt, sched, settings, store=store, stop_requested=stop)


def test_state_is_written_after_every_epoch_when_state_every_s_is_zero():
    store = _CountingStore()
    _fit_with_store(store, state_every_s=0)
    assert store.saved_epochs == [(e, False) for e in range(1, 6)]


def test_a_state_interval_writes_after_the_first_and_last_epoch_only_when_epochs_are_fast():
    store = _CountingStore()
    _fit_with_store(store, state_every_s=3600)
    assert store.saved_epochs == [(1, False), (5, False)]


def test_a_stop_request_between_epochs_still_writes_the_state_with_an_interval():
    store = _CountingStore()
    calls = {"n": 0}

    def stop():  # 4 batches an epoch plus one check after the epoch: stop at the end of epoch 2
        calls["n"] += 1
        return "SIGTERM" if calls["n"] >= 10 else None

    with pytest.raises(Interrupted):
        _fit_with_store(store, state_every_s=3600, stop=stop)
    assert store.saved_epochs[0] == (1, False) and store.saved_epochs[-1][0] == 2


def test_validation_scores_do_not_depend_on_the_evaluation_batch_size():
    from balancelab.training.loop import predict

    torch.manual_seed(0)
    X, y = _data(n=50)
    data = DeviceImages(X, y, torch.device("cpu"), [0.5], [0.3])
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(), nn.Linear(64, 2))
    small, loss_small = predict(model, data, 7)
    large, loss_large = predict(model, data, 64)
    assert np.allclose(small, large, atol=1e-6) and abs(loss_small - loss_large) < 1e-6
    assert TrainSettings(epochs=1, batch_size=32, seed=0).evaluation_batch_size == 32  # trainer.eval_batch_size raises it
    assert TrainSettings(epochs=1, batch_size=32, seed=0, eval_batch_size=10).evaluation_batch_size == 10


def test_a_resume_with_another_thread_count_is_warned_about(tmp_path, caplog):
    """Threads are not part of a run's identity (they do not change what is trained), but a sum split over
    another number of threads rounds differently: the resumed run says it is not bit-identical."""
    import logging

    with pytest.raises(Interrupted):
        _fit_with_store(TrainingStateStore(tmp_path, "id", facts={"cpu_threads": 2}), 0, stop=lambda: "SIGTERM")
    with caplog.at_level(logging.WARNING, logger="balancelab"):
        _fit_with_store(TrainingStateStore(tmp_path, "id", facts={"cpu_threads": 2}), 0, epochs=2)
    assert "not bit-identical" not in caplog.text
    with pytest.raises(Interrupted):
        _fit_with_store(TrainingStateStore(tmp_path / "b", "id", facts={"cpu_threads": 2}), 0, stop=lambda: "SIGTERM")
    other = TrainingStateStore(tmp_path / "b", "id", facts={"cpu_threads": 1})
    with caplog.at_level(logging.WARNING, logger="balancelab"):
        _fit_with_store(other, 0, epochs=2)
    assert "cpu_threads 2 -> 1" in caplog.text and "not bit-identical" in caplog.text
    assert other.notes and "cpu_threads 2 -> 1" in other.notes[0]  # the summary's notes say so too
    # A third session under the new setting: the change happened earlier, and is still reported.
    with pytest.raises(Interrupted):
        _fit_with_store(TrainingStateStore(tmp_path / "c", "id", facts={"cpu_threads": 2}), 0, stop=lambda: "SIGTERM")
    second = TrainingStateStore(tmp_path / "c", "id", facts={"cpu_threads": 1})
    with pytest.raises(Interrupted):
        _fit_with_store(second, 0, epochs=3, stop=lambda: "SIGTERM")
    third = TrainingStateStore(tmp_path / "c", "id", facts={"cpu_threads": 1})
    _fit_with_store(third, 0, epochs=3)
    assert third.notes and "cpu_threads 2 -> 1" in third.notes[0]
