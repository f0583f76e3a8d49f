"""A training state that loads but does not fit the run is set aside like a truncated one, and the log says
which file the run resumed from, or that it starts from scratch."""

import numpy as np
import pytest
import torch
from torch import nn

from balancelab.training.batches import DeviceImages
from balancelab.training.loop import Interrupted, TrainSettings, fit
from balancelab.training.state import TrainingStateStore, state_problems


def make_net():
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(16, 8), nn.ReLU(), nn.Linear(8, 3))


def train(folder, stop_after_batches=None, model=None):
    """A few epochs of a tiny net; optionally stopped (a signal) after a number of batches."""
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 48)
    X = (rng.random((48, 4, 4, 1)) * 255).astype(np.uint8)
    data = DeviceImages(X, y, torch.device("cpu"), [0.5], [0.3])
    model = model or make_net()
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda e: 1.0)
    calls = {"n": 0}

    def stop():
        calls["n"] += 1
        return "SIGTERM" if stop_after_batches is not None and calls["n"] >= stop_after_batches else None

    store = TrainingStateStore(folder, "abc")
    result = fit(model, data, data, nn.CrossEntropyLoss(), opt, sched,
                 TrainSettings(epochs=4, batch_size=16, seed=0, progress="log"), store=store, stop_requested=stop)
    return model, opt, result


@pytest.fixture
def two_generations(tmp_path):
    """States after epochs 1 and 2 (training_state.prev.pt, training_state.pt), stopped in epoch 3."""
    with pytest.raises(Interrupted):
        train(tmp_path, stop_after_batches=7)  # 3 batches an epoch: epochs 1, 2 saved, then a stop in epoch 3
    assert (tmp_path / "training_state.pt").exists() and (tmp_path / "training_state.prev.pt").exists()
    return tmp_path


def rewrite(path, change):
    state = torch.load(path, weights_only=True)
    change(state)
    torch.save(state, path)


def test_a_state_that_loads_but_misses_a_tensor_is_set_aside_and_the_previous_one_resumed(two_generations, caplog):
    folder = two_generations
    rewrite(folder / "training_state.pt", lambda s: s["model"].pop("3.bias"))
    with caplog.at_level("INFO", logger="balancelab"):
        _, _, resumed = train(folder)  # no traceback: loop._restore never sees the bad state
    assert resumed.status == "completed" and len(resumed.history) == 4
    assert list(folder.glob("training_state.pt.corrupt-*"))
    assert "3.bias" in caplog.text and "training_state.prev.pt" in caplog.text


def test_a_state_that_does_not_fit_the_model_is_found_when_the_model_is_given(two_generations, caplog):
    """Missing in the weights and in the best weights alike: only the model can tell."""
    folder = two_generations

    def drop(state):
        state["model"].pop("1.weight")
        state["best_state"].pop("1.weight")

    rewrite(folder / "training_state.pt", drop)
    store = TrainingStateStore(folder, "abc")
    model = make_net()
    optimizer = torch.optim.Adam(model.parameters())
    with caplog.at_level("INFO", logger="balancelab"):
        state = store.load(model, optimizer)
    assert state is not None and state["epoch"] == 1 and store.loaded_from == store.previous
    assert "1.weight" in caplog.text and list(folder.glob("training_state.pt.corrupt-*"))


@pytest.mark.parametrize("damage,expected", [
    (lambda s: s["model"].__setitem__("1.weight", torch.zeros(2, 2)), "shape"),
    (lambda s: s["optimizer"]["param_groups"][0].__setitem__("params", [0]), "optimizer"),
    (lambda s: s.pop("rng"), "rng"),
    (lambda s: s.__setitem__("generator", torch.zeros(3, dtype=torch.uint8)), "generator"),
    (lambda s: s["history"].pop(), "history"),
    (lambda s: s.__setitem__("progress", {"order": torch.arange(5), "next_start": 9, "loss_sum": 0.0,
                                          "correct": 0, "seen": 0}), "progress"),
])
def test_what_a_state_must_hold_to_be_resumed(two_generations, damage, expected):
    state = torch.load(two_generations / "training_state.pt", weights_only=True)
    model = make_net()
    assert state_problems(state, model, torch.optim.Adam(model.parameters())) == []
    damage(state)
    problems = state_problems(state, model, torch.optim.Adam(model.parameters()))
    assert problems and expected in " ".join(problems)


def test_the_log_names_the_file_resumed_from(two_generations, caplog):
    folder = two_generations
    (folder / "training_state.pt").write_bytes(b"PK\x03\x04 truncated")
    store = TrainingStateStore(folder, "abc")
    with caplog.at_level("INFO", logger="balancelab"):
        state = store.load()
    assert state["epoch"] == 1 and store.loaded_from == folder / "training_state.prev.pt"
    resumed = [r.getMessage() for r in caplog.records if "Resuming" in r.getMessage()]
    assert resumed and "training_state.prev.pt" in resumed[0] and "set aside" in resumed[0]


def test_with_both_generations_unusable_the_log_says_training_starts_from_scratch(two_generations, caplog):
    folder = two_generations
    (folder / "training_state.pt").write_bytes(b"garbage")
    rewrite(folder / "training_state.prev.pt", lambda s: s["model"].pop("1.bias"))
    store = TrainingStateStore(folder, "abc")
    with caplog.at_level("INFO", logger="balancelab"):
        assert store.load() is None
    assert store.loaded_from is None
    assert "from scratch" in caplog.text and len(list(folder.glob("*.corrupt-*"))) == 2


def test_a_current_state_is_named_as_such(two_generations, caplog):
    store = TrainingStateStore(two_generations, "abc")
    state = store.load()
    assert state["epoch"] == 2 and store.loaded_from == store.path


def test_an_optimizer_buffer_of_another_shape_is_a_problem_before_the_first_step():
    import torch
    from torch import nn

    model = nn.Linear(3, 2)
    optimizer = torch.optim.Adam(model.parameters())
    model(torch.randn(4, 3)).sum().backward()
    optimizer.step()
    saved = optimizer.state_dict()
    good = optimizer.state_dict()
    saved = {**good, "state": {**good["state"], 0: {**good["state"][0], "exp_avg": torch.zeros(5, 5)}}}
    from balancelab.training.state import _optimizer_problems

    problems = _optimizer_problems(saved, optimizer)
    assert problems and "exp_avg for parameter 0 has shape (5, 5)" in problems[0]
    assert _optimizer_problems(good, optimizer) == []
