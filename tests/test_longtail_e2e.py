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
