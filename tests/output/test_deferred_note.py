"""checkpoint_precedes_switch: a finished job folder whose reported checkpoint precedes its deferred switch gets a
note -- from the summary's ``deferred`` block, or, for a summary written before it existed, from config.yaml's
``loss.drw_epoch`` / ``balancing.start_epoch`` and the summary's best epoch."""

import json

import pytest
import yaml

from balancelab.output.deferred import checkpoint_precedes_switch, deferred_block, switches_from_config


def _config(drw=None, start=None, balancing="none"):
    node = {"name": balancing, **({} if start is None else {"start_epoch": start})}
    return {"loss": {"name": "ldam", "drw_epoch": drw}, "balancing": node}


@pytest.mark.parametrize("config, best, says", [
    (_config(drw=24), 20, "epoch 20) precedes the switch of loss.drw_epoch=24 (its deferred part begins in epoch 25)"),
    (_config(drw=24), 24, "epoch 24) precedes the switch of loss.drw_epoch=24"),
    (_config(start=24, balancing="deferred_resampling"), 3, "balancing.start_epoch=24"),
    (_config(drw=10, start=20, balancing="deferred_resampling"), 15, "balancing.start_epoch=20"),  # the later one
])
def test_an_old_summary_is_judged_from_the_config(config, best, says):
    note = checkpoint_precedes_switch(config, {"status": "completed", "best_epoch": best})
    assert says in note and "the scores are those of the method without it" in note


@pytest.mark.parametrize("config, best", [
    (_config(drw=24), 25),                 # after the switch
    (_config(drw=None), 3),                # nothing deferred
    (_config(drw=0), 3),                   # weighted from the start (cb_focal's default)
    (_config(start=0, balancing="deferred_resampling"), 1),
    (_config(drw=24), None),               # no checkpoint (a run that diverged in its first epoch)
    ({}, 3),                               # a config without the groups
])
def test_no_note(config, best):
    assert checkpoint_precedes_switch(config, {"status": "completed", "best_epoch": best}) is None


def test_the_summary_block_decides_when_there_is_one():
    block = deferred_block({"loss.drw_epoch": 24}, 28)
    assert block == {"switch": "loss.drw_epoch", "switch_epoch": 24, "switches": {"loss.drw_epoch": 24},
                     "first_epoch_after_switch": 25, "best_epoch": 28, "best_epoch_after_switch": True}
    assert checkpoint_precedes_switch(_config(drw=24), {"best_epoch": 28, "deferred": block}) is None
    early = deferred_block({"loss.drw_epoch": 24}, 12)
    assert "epoch 12" in checkpoint_precedes_switch({}, {"best_epoch": 12, "deferred": early})


def test_a_config_read_from_a_job_folder(tmp_path):
    """As the sweep report reads them: config.yaml (YAML, an integral float allowed) and the summary's JSON."""
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(_config(drw=24.0)))
    (tmp_path / "experiment_summary.json").write_text(json.dumps({"status": "early_stopped", "best_epoch": 14}))
    config = yaml.safe_load((tmp_path / "config.yaml").read_text())
    summary = json.loads((tmp_path / "experiment_summary.json").read_text())
    assert switches_from_config(config) == {"loss.drw_epoch": 24}
    assert "epoch 14" in checkpoint_precedes_switch(config, summary)


@pytest.mark.parametrize("summary", [None, [], {"best_epoch": "12"}, {"best_epoch": True}])
def test_odd_summaries_give_no_note(summary):
    assert checkpoint_precedes_switch(_config(drw=24), summary) is None
