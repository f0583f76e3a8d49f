"""`balance-sweep screen=true` end to end: a frozen baseline per seed, heads only, and the report says so."""

import json

import pandas as pd
import pytest

from tests.conftest import run_cli

pytestmark = pytest.mark.slow
TINY = ["dataset=digits_lt", "trainer.epochs=1", "trainer.feature_head_epochs=2", "trainer.batch_size=64",
        "trainer.num_threads=1", "logger=none"]


def test_screen_of_three_experiments_one_seed_ends_with_the_notice(tmp_path):
    args = ["screen=true", "experiments=[baseline,smote,focal_loss,offline_augmentation]", "seeds=[0]", *TINY,
            f"output_root={tmp_path}", "name=scr"]
    result = run_cli(args, cwd=tmp_path, script="balance-sweep")
    assert result.returncode == 0, result.stderr[-3000:]
    (sweep,) = (tmp_path / "sweeps").glob("scr_*")
    comparison = (sweep / "comparison.md").read_text()
    assert comparison.startswith("# Screen of the classifier stage\n\n**This is a screen of the classifier stage, "
                                 "not the full methods.**")
    assert "not screenable, skipped: `offline_augmentation`" in comparison
    assert "Screen of the classifier stage." in (sweep / "report.html").read_text()
    assert json.loads((sweep / "sweep_summary.json").read_text())["screen"] is True
    table = pd.read_csv(sweep / "comparison.csv")
    assert sorted(table.loc[table["row_kind"] == "trained", "experiment"]) == ["baseline", "focal_loss", "smote"]
    # one representation, trained once, and one feature file for the seed
    assert (sweep / "representation" / "seed0" / "experiment_summary.json").exists()
    assert (sweep / "representation" / "features_seed0.npz").exists()
    assert not list(sweep.glob("offline_augmentation*"))

    # the same command again: everything is found finished, nothing is trained
    again = run_cli(args, cwd=tmp_path, script="balance-sweep")
    assert again.returncode == 0, again.stderr[-3000:]
    assert "already trained" in again.stderr and again.stderr.count("already screened") == 3

    # the default sweep is unchanged: screen=false is the ordinary grid, in its own folder
    refused = run_cli(["screen=maybe", *TINY, f"output_root={tmp_path}"], cwd=tmp_path, script="balance-sweep")
    assert refused.returncode == 2 and "screen=true" in refused.stderr
