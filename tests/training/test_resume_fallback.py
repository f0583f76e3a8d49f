"""A saved state that unzips and passes the store's checks but still fails to load into the run's objects
is set aside; the previous generation, or a clean start, gives the uninterrupted run's result."""

import pytest
import torch

from balancelab.training.loop import Interrupted
from tests.training.test_loop import _resumable_run, _same


def _rewrite(path, change):
    state = torch.load(path, weights_only=True)
    change(state)
    torch.save(state, path)


def _foreign_scheduler(state):
    state["scheduler"] = {"step_size": 3, "gamma": 0.5}  # a StepLR's state: LambdaLR cannot load it


def _unusable_python_rng(state):
    state["rng"]["python"] = (3, "not a Mersenne Twister state")


@pytest.mark.parametrize("damage", [_foreign_scheduler, _unusable_python_rng])
def test_a_state_that_does_not_load_is_set_aside_and_the_previous_generation_resumed(tmp_path, caplog, damage):
    full_model, full = _resumable_run(None)
    with pytest.raises(Interrupted):
        _resumable_run(tmp_path, stop_after_batches=14)  # states after epochs 1 and 2, then mid-epoch 3
    _rewrite(tmp_path / "training_state.pt", damage)
    with caplog.at_level("WARNING", logger="balancelab"):
        resumed_model, resumed = _resumable_run(tmp_path)
    assert "does not load into this run" in caplog.text and "training_state.pt" in caplog.text
    assert len(list(tmp_path.glob("training_state.pt.corrupt-*"))) == 1
    _same(full, full_model, resumed, resumed_model)


def test_with_every_generation_unloadable_the_run_starts_cleanly(tmp_path, caplog):
    """The model, optimiser, scheduler and random streams a failed restore had half changed are put back:
    the clean start is the uninterrupted run exactly."""
    full_model, full = _resumable_run(None)
    with pytest.raises(Interrupted):
        _resumable_run(tmp_path, stop_after_batches=14)
    for name in ("training_state.pt", "training_state.prev.pt"):
        _rewrite(tmp_path / name, _foreign_scheduler)
    with caplog.at_level("WARNING", logger="balancelab"):
        resumed_model, resumed = _resumable_run(tmp_path)
    assert "from scratch" in caplog.text and len(list(tmp_path.glob("*.corrupt-*"))) == 2
    _same(full, full_model, resumed, resumed_model)
