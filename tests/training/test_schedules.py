import pytest
import torch
from torch import nn

from balancelab.errors import ConfigError
from balancelab.training.schedules import multistep_factor, multistep_with_warmup


def _reference_lr(epoch, base=0.1):
    """The LDAM-DRW code's adjust_learning_rate, for its 0-based epoch."""
    epoch = epoch + 1
    if epoch <= 5:
        return base * epoch / 5
    if epoch > 180:
        return base * 0.0001
    if epoch > 160:
        return base * 0.01
    return base


def _lrs(epochs=200, **kwargs):
    opt = torch.optim.SGD(nn.Linear(2, 2).parameters(), lr=0.1, momentum=0.9)
    sched = multistep_with_warmup(opt, **kwargs)
    lrs = []
    for _ in range(epochs):  # the training loop: train the epoch at the current lr, then step
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return lrs


def test_ldam_drw_protocol_matches_the_reference_code_in_every_epoch():
    lrs = _lrs(milestones=[160, 180], gamma=0.01, warmup_epochs=5)
    assert lrs == pytest.approx([_reference_lr(e) for e in range(200)], rel=1e-12)
    assert lrs[0] == pytest.approx(0.02) and lrs[4] == pytest.approx(0.1) and lrs[159] == pytest.approx(0.1)
    assert lrs[160] == pytest.approx(0.001) and lrs[179] == pytest.approx(0.001)
    assert lrs[180] == pytest.approx(1e-5) and lrs[199] == pytest.approx(1e-5)


def test_without_warmup_it_is_torchs_multistep():
    opt = torch.optim.SGD(nn.Linear(2, 2).parameters(), lr=0.1)
    ref = torch.optim.lr_scheduler.MultiStepLR(opt, milestones=[3, 5], gamma=0.5)
    expected = []
    for _ in range(8):
        expected.append(opt.param_groups[0]["lr"])
        opt.step()
        ref.step()
    assert _lrs(8, milestones=[3, 5], gamma=0.5, warmup_epochs=0) == pytest.approx(expected)
    assert [multistep_factor(e, milestones=[3, 5], gamma=0.5) for e in range(7)] == [1, 1, 1, .5, .5, .25, .25]


def test_scheduler_state_round_trips():
    opt = torch.optim.SGD(nn.Linear(2, 2).parameters(), lr=0.1)
    sched = multistep_with_warmup(opt, milestones=[2], gamma=0.1, warmup_epochs=1)
    for _ in range(3):
        opt.step()
        sched.step()
    state = sched.state_dict()
    opt2 = torch.optim.SGD(nn.Linear(2, 2).parameters(), lr=0.1)
    sched2 = multistep_with_warmup(opt2, milestones=[2], gamma=0.1, warmup_epochs=1)
    sched2.load_state_dict(state)
    opt2.step()
    sched2.step()
    opt.step()
    sched.step()
    assert sched2.get_last_lr() == pytest.approx(sched.get_last_lr())


@pytest.mark.parametrize("kwargs, message", [
    ({"milestones": [180, 160], "gamma": 0.1}, "increasing integers"),
    ({"milestones": [0], "gamma": 0.1}, "increasing integers"),
    ({"milestones": [1.5], "gamma": 0.1}, "increasing integers"),
    ({"milestones": [10], "gamma": 0.0}, "gamma must be in"),
    ({"milestones": [10], "gamma": 2.0}, "gamma must be in"),
    ({"milestones": [10], "gamma": 0.1, "warmup_epochs": -1}, "warmup_epochs must be"),
    ({"milestones": [3], "gamma": 0.1, "warmup_epochs": 5}, "must end before the first milestone"),
])
def test_bad_settings_are_config_errors(kwargs, message):
    opt = torch.optim.SGD(nn.Linear(2, 2).parameters(), lr=0.1)
    with pytest.raises(ConfigError, match=message):
        multistep_with_warmup(opt, **kwargs)
