import json

import numpy as np
import pandas as pd
import yaml

from balancelab.sweep.grid import experiments, select
from balancelab.sweep.report import build_report


def make_job(root, experiment, seed, macro_f1, status="completed", recall=(0.9, 0.5)):
    folder = root / f"{experiment}_seed{seed}"
    folder.mkdir()
    cfg = {"experiment_name": experiment, "experiment_group": "g", "seed": seed, "model": {"name": "m"},
           "dataset": {"name": "d"}, "balancing": {"name": "b"}, "loss": {"name": "ce"}}
    (folder / "config.yaml").write_text(yaml.safe_dump(cfg))
    if status == "failed":
        (folder / "failure.json").write_text(json.dumps({"error_type": "ValueError", "error": "boom"}))
        return
    test = {"accuracy": macro_f1, "balanced_accuracy": macro_f1, "macro_f1": macro_f1, "weighted_f1": macro_f1,
            "minority_class_recall": recall[1], "ece": 0.1}
    (folder / "experiment_summary.json").write_text(json.dumps(
        {"status": status, "test": test, "stage_seconds": {"training": 2.0},
         "validation_at_best_epoch": {"macro_f1": macro_f1 + 0.05}}))
    pd.DataFrame({"class": ["a", "b", "macro avg"], "precision": [1, 1, 1], "recall": [*recall, 0.7],
                  "f1": [*recall, 0.7], "support": [5, 5, 10]}).to_csv(folder / "test_metrics.csv", index=False)


def test_comparison_mean_std_delta_rank_and_failures(tmp_path):
    make_job(tmp_path, "baseline", 0, 0.70)
    make_job(tmp_path, "baseline", 1, 0.80)
    make_job(tmp_path, "smote", 0, 0.90, recall=(0.9, 0.8))
    make_job(tmp_path, "smote", 1, 0.80, recall=(0.9, 0.6))
    make_job(tmp_path, "adasyn", 0, 0, status="failed")
    summary = build_report(tmp_path)
    table = pd.read_csv(tmp_path / "comparison.csv").set_index("experiment")
    assert table.loc["baseline", "macro_f1_mean"] == 0.75
    assert np.isclose(table.loc["baseline", "macro_f1_std"], np.std([0.7, 0.8], ddof=1))
    assert np.isclose(table.loc["smote", "macro_f1_delta_vs_baseline"], 0.10)
    assert table.loc["smote", "rank"] == 1 and table.loc["adasyn", "status"] == "failed"
    assert np.isclose(table.loc["smote", "val_test_gap_mean"], 0.05)
    delta = pd.read_csv(tmp_path / "per_class_delta.csv")
    b = delta[(delta["experiment"] == "smote") & (delta["class"] == "b")].iloc[0]
    assert np.isclose(b["recall_delta"], 0.2)
    assert summary["failed_jobs"][0]["error"] == "ValueError: boom" and summary["best_experiment"] == "smote"


def test_grid_has_eight_experiments_in_five_groups():
    grid = experiments()
    assert len(grid) == 8 and list(grid)[0] == "baseline"
    assert sorted(select("resampling")) == ["adasyn", "random_oversampling", "smote"]
    assert sorted(select("combined")) == ["offline_augmentation_focal", "smote_focal"]
    assert select(names=["smote"]) == ["smote"]
