"""Each job row carries ``checkpoint_note``: None, or the note of a deferred job whose reported checkpoint
precedes its switch (balancelab.output.deferred.checkpoint_precedes_switch) -- for old job folders too."""

import json

import pandas as pd
import yaml

from balancelab.sweep.jobs import jobs_table
from balancelab.sweep.report import build_report
from tests.sweep.test_report import make_job


def _set(folder, *, drw_epoch=None, best_epoch=None, posthoc=False):
    cfg = yaml.safe_load((folder / "config.yaml").read_text())
    cfg["loss"]["drw_epoch"] = drw_epoch
    (folder / "config.yaml").write_text(yaml.safe_dump(cfg))
    summary = json.loads((folder / "experiment_summary.json").read_text())
    summary["best_epoch"] = best_epoch
    if posthoc:
        summary["posthoc"] = {"logit_adjustment": {"tau": 1.0, "test": {"macro_f1": 0.8}}}
    (folder / "experiment_summary.json").write_text(json.dumps(summary))


def test_a_job_reported_before_its_switch_is_noted_and_its_derived_rows_too(tmp_path):
    make_job(tmp_path, "baseline", 0, 0.7)
    make_job(tmp_path, "ldam_drw", 0, 0.8)
    make_job(tmp_path, "ldam_drw", 1, 0.8)
    _set(tmp_path / "baseline_seed0", best_epoch=12)
    _set(tmp_path / "ldam_drw_seed0", drw_epoch=24, best_epoch=14, posthoc=True)  # an old summary: no block
    _set(tmp_path / "ldam_drw_seed1", drw_epoch=24, best_epoch=27)
    jobs = jobs_table(tmp_path).set_index("job")
    assert "epoch 14) precedes the switch of loss.drw_epoch=24" in jobs.loc["ldam_drw_seed0", "checkpoint_note"]
    assert "precedes the switch" in jobs.loc["ldam_drw_seed0#posthoc_la", "checkpoint_note"]  # the same checkpoint
    assert pd.isna(jobs.loc["ldam_drw_seed1", "checkpoint_note"])  # None in the row; missing in the table
    assert pd.isna(jobs.loc["baseline_seed0", "checkpoint_note"])


def test_a_row_reported_before_its_switch_is_marked_gets_no_verdict_and_leaves_the_family(tmp_path):
    """Issue 19: an ldam_drw row reported from a checkpoint before its switch is plain LDAM; it was called like
    any other row, with no note, in the sweep table too."""
    for seed, (base, drw, other) in enumerate(((0.70, 0.90, 0.80), (0.71, 0.91, 0.82), (0.69, 0.92, 0.81))):
        make_job(tmp_path, "baseline", seed, base)
        make_job(tmp_path, "ldam_drw", seed, drw)
        make_job(tmp_path, "smote", seed, other)
        _set(tmp_path / f"ldam_drw_seed{seed}", drw_epoch=24, best_epoch=14 if seed == 0 else 27)
    build_report(tmp_path)
    table = pd.read_csv(tmp_path / "comparison.csv").set_index("experiment")
    assert table.loc["ldam_drw", "macro_f1_verdict"] == "not tested: reported from a checkpoint before its switch"
    assert "precedes the switch" in table.loc["ldam_drw", "macro_f1_stat_note"]
    assert table.loc["smote", "macro_f1_family_size"] == 1  # ldam_drw is not a hypothesis of the family
    assert "not tested: reported from a checkpoint before its switch" in (tmp_path / "comparison.md").read_text()
