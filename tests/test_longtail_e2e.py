"""Every named experiment of the long-tail group runs end to end through the installed balance-run."""

import json

import pytest

from balancelab.sweep.grid import select
from tests.conftest import TINY, run_cli

pytestmark = pytest.mark.slow


def test_each_longtail_experiment_runs_and_reports_what_it_did(tmp_path):
    experiments = select("longtail")
    result = run_cli(["-m", f"experiment={','.join(experiments)}", *TINY, "trainer.epochs=3",
                      f"output_root={tmp_path}"], cwd=tmp_path, timeout=1200)
    assert result.returncode == 0, result.stderr[-3000:]
    summaries = {}
    for path in (tmp_path / "runs").glob("*/experiment_summary.json"):
        config = (path.parent / "config.yaml").read_text()
        name = next(line.split(": ")[1] for line in config.splitlines() if line.startswith("experiment_name:"))
        summaries[name] = json.loads(path.read_text())
    assert set(summaries) == set(experiments)
    for name, summary in summaries.items():
        assert summary["status"] in ("completed", "early_stopped"), name
        assert set(summary["posthoc"]) == {"logit_adjustment", "tau_normalisation"}
    assert summaries["ldam_drw"]["loss_details"]["drw_epoch"] == 2  # 80 % of 3 epochs
    assert "tau" in summaries["logit_adjusted"]["loss_details"]
    crt = summaries["crt"]["crt"]
    assert crt["test"]["macro_f1"] >= 0 and crt["chosen_on"] == "validation"
    assert crt["best_epoch"] == 1 + crt["val_macro_f1"].index(max(crt["val_macro_f1"]))
    assert crt["online_augmentation"] == summaries["crt"]["batches"]["online_augmentation"]  # the run's transforms
    assert summaries["remix"]["loss"] == "ce"
    # deferred methods are reported from an epoch after their switch (2 of 3 epochs), and say so
    for name, switch in (("ldam_drw", "loss.drw_epoch"), ("deferred_resampling", "balancing.start_epoch")):
        block = summaries[name]["deferred"]
        assert (block["switch"], block["switch_epoch"], block["best_epoch"]) == (switch, 2, 3), name
        assert block["best_epoch_after_switch"] is True and summaries[name]["best_epoch"] == 3
    assert summaries["baseline"]["deferred"] is None
    # post-hoc logit adjustment divides out the prior of the checkpoint's batches, and records it
    prior = summaries["deferred_resampling"]["posthoc"]["logit_adjustment"]["prior"]
    assert prior["epoch"] == 3 and "re-balanced draws of epoch 3: effective-number weights" in prior["source"]
    assert "shuffled batches" in summaries["baseline"]["posthoc"]["logit_adjustment"]["prior"]["source"]
    assert "loss=logit_adjusted" in summaries["logit_adjusted"]["posthoc"]["logit_adjustment"]["prior"]["note"]
