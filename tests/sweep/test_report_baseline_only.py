"""A sweep whose only experiment is the baseline (its rows plus the baseline's post-hoc rows) gets its report."""

import json

from balancelab.sweep.report import build_report
from tests.sweep.test_report import make_job


def test_a_baseline_with_only_derived_rows_beside_it_is_reported(tmp_path):
    for seed in (0, 1):
        make_job(tmp_path, "baseline", seed, 0.7)
        path = tmp_path / f"baseline_seed{seed}" / "experiment_summary.json"
        summary = json.loads(path.read_text())
        summary["posthoc"] = {"logit_adjustment": {"tau": 1.0, "test": {"macro_f1": 0.75}}}
        path.write_text(json.dumps(summary))
    result = build_report(tmp_path)
    assert result["jobs"] == 2 and (tmp_path / "comparison.md").is_file()
