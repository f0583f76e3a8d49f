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


def test_the_default_grid_has_eight_experiments_in_five_groups_and_all_adds_the_longtail_group():
    grid = experiments()
    assert len(select()) == 8 and list(grid)[0] == "baseline"
    assert set(select("longtail")) >= {"ldam_drw", "logit_adjusted", "balanced_softmax", "cb_focal", "remix",
                                       "deferred_resampling", "crt"}
    assert select("all") == list(grid)
    # a group runs with the baseline its verdicts compare against, first
    assert select("resampling") == ["baseline", "adasyn", "random_oversampling", "smote"]
    assert sorted(select("combined")) == ["baseline", "offline_augmentation_focal", "smote_focal"]
    assert select(names=["smote"]) == ["smote"]


def test_a_diverged_job_is_a_failed_row_not_a_dropped_seed(tmp_path):
    make_job(tmp_path, "baseline", 0, 0.70)
    make_job(tmp_path, "smote", 0, 0.90)
    make_job(tmp_path, "smote", 1, 0.10, status="diverged")
    summary = build_report(tmp_path)
    table = pd.read_csv(tmp_path / "comparison.csv").set_index("experiment")
    assert table.loc["smote", "n_failed"] == 1 and table.loc["smote", "status"] == "partial"
    assert table.loc["smote", "macro_f1_mean"] == 0.90  # the diverged seed is not averaged in ...
    assert [j["job"] for j in summary["failed_jobs"]] == ["smote_seed1"]  # ... but it is counted as failed
    assert "diverged" in summary["failed_jobs"][0]["error"]


def test_each_row_shows_what_sets_it_apart_from_baseline(tmp_path):
    """Issue 19: the column repeated augmentation.mixup.method=none, loss.drw_epoch=None, ... on almost every row
    (settings that vary somewhere in the sweep) instead of what makes a row different from baseline."""
    common = {"augmentation": {"mixup": {"method": "none"}}, "trainer": {"crt_epochs": 0, "epochs": 30},
              "model": {"name": "m", "normed_classifier": False}, "optimizer": {"name": "adam", "lr": 0.01}}
    rows = {"baseline": ({"name": "none"}, {"name": "ce", "drw_epoch": None}, {}),
            "smote": ({"name": "smote", "k_neighbors": 5}, {"name": "ce", "drw_epoch": None}, {}),
            "smote_k3": ({"name": "smote", "k_neighbors": 3}, {"name": "ce", "drw_epoch": None}, {}),
            "focal_loss": ({"name": "none"}, {"name": "focal", "gamma": 2.0, "drw_epoch": None}, {}),
            "ldam": ({"name": "none"}, {"name": "ldam", "drw_epoch": None}, {"model.normed_classifier": True}),
            "ldam_drw": ({"name": "none"}, {"name": "ldam", "drw_epoch": 24}, {"model.normed_classifier": True}),
            "remix": ({"name": "none"}, {"name": "ce", "drw_epoch": None}, {"augmentation.mixup.method": "remix"}),
            "crt": ({"name": "none"}, {"name": "ce", "drw_epoch": None}, {"trainer.crt_epochs": 10})}
    for name, (balancing, loss, extra) in rows.items():
        for seed in (0, 1):
            make_job(tmp_path, name, seed, 0.8)
            path = tmp_path / f"{name}_seed{seed}" / "config.yaml"
            cfg = {**yaml.safe_load(path.read_text()), **json.loads(json.dumps(common)), "balancing": balancing,
                   "loss": loss}
            for key, value in extra.items():
                group, *rest = key.split(".")
                node = cfg[group]
                for part in rest[:-1]:
                    node = node[part]
                node[rest[-1]] = value
            path.write_text(yaml.safe_dump(cfg))
    build_report(tmp_path)
    settings = pd.read_csv(tmp_path / "comparison.csv").set_index("experiment")["settings"].fillna("")
    assert settings["baseline"] == ""
    assert settings["smote"] == "balancing=smote, balancing.k_neighbors=5"  # a key of smote that varies among smotes
    assert settings["smote_k3"] == "balancing=smote, balancing.k_neighbors=3"
    assert settings["focal_loss"] == "loss=focal"  # gamma is focal's own: its name says it
    assert settings["ldam"] == "loss=ldam, model.normed_classifier=True"
    assert settings["ldam_drw"] == "loss=ldam, loss.drw_epoch=24, model.normed_classifier=True"
    assert settings["remix"] == "augmentation.mixup.method=remix"
    assert settings["crt"] == "trainer.crt_epochs=10"
    assert "optimizer.lr" not in " ".join(settings)  # shared by every row
    assert "settings apart from baseline" in (tmp_path / "comparison.md").read_text()


def test_one_seed_rows_say_n_1_instead_of_a_zero_spread(tmp_path):
    make_job(tmp_path, "baseline", 0, 0.70)
    make_job(tmp_path, "smote", 0, 0.80)
    build_report(tmp_path)
    text = (tmp_path / "comparison.md").read_text()
    assert "(n = 1)" in text and "± 0.0000" not in text


def test_post_hoc_corrections_and_crt_are_rows_of_their_own(tmp_path):
    for seed in (0, 1):
        make_job(tmp_path, "baseline", seed, 0.70)
        path = tmp_path / f"baseline_seed{seed}" / "experiment_summary.json"
        summary = json.loads(path.read_text())
        summary["posthoc"] = {"logit_adjustment": {"tau": 1.0, "test": {"macro_f1": 0.78, "accuracy": 0.8}},
                              "tau_normalisation": {"skipped": "no final linear layer"}}
        summary["crt"] = {"epochs": 2, "test": {"macro_f1": 0.75}}
        path.write_text(json.dumps(summary))
    result = build_report(tmp_path)
    table = pd.read_csv(tmp_path / "comparison.csv").set_index("experiment")
    row = table.loc["baseline + posthoc_la"]
    assert row["macro_f1_mean"] == 0.78 and row["rank_with_derived"] == 1 and np.isnan(row["rank"])  # ranked apart
    assert table.loc["baseline", "rank"] == 1  # the trained experiments' rank
    assert table.loc["baseline + cRT", "n_seeds"] == 2 and "baseline + posthoc_tau_norm" not in table.index
    assert result["jobs"] == 2  # derived rows are not jobs


def test_a_folder_of_runs_on_several_datasets_is_not_a_sweep(tmp_path):
    import pytest

    from balancelab.errors import DataError
    from balancelab.sweep.report import build_report

    for experiment in ("baseline", "smote"):
        make_job(tmp_path, experiment, 0, 0.7)
    config = tmp_path / "smote_seed0" / "config.yaml"
    cfg = yaml.safe_load(config.read_text())
    cfg["dataset"]["name"] = "image_folder"
    config.write_text(yaml.safe_dump(cfg))
    with pytest.raises(DataError, match="several datasets .*not one sweep"):
        build_report(tmp_path)


def test_one_run_found_under_two_folder_names_is_compared_once(tmp_path):
    """A newer balancelab renamed feature-space run folders (the hash, the run's identity, unchanged): a sweep
    re-run then found the finished job under its old name and trained it again under the new one. The two
    folders are the same run (same identity): compared once, not refused as 'several finished jobs'."""
    from balancelab.sweep.jobs import jobs_table

    for seed in (0, 1):
        make_job(tmp_path, "baseline", seed, 0.70 + seed / 100)
        make_job(tmp_path, "smote_features", seed, 0.80 + seed / 100)
    old = tmp_path / "smote_features_seed0"
    renamed = tmp_path / "smote_features_renamed_seed0"
    import shutil
    shutil.copytree(old, renamed)
    for folder in (old, renamed):
        (folder / "identity.json").write_text(json.dumps({"hash": "7d7799d1"}))
    jobs = jobs_table(tmp_path)
    rows = jobs[(jobs["experiment"] == "smote_features") & (jobs["seed"] == 0) & (jobs["row_kind"] == "trained")]
    assert len(rows) == 1
    build_report(tmp_path)  # raised DataError before
    # The same configuration under two row labels (a grid's twins) stays two rows: only a run found twice is merged.
    twin = tmp_path / "baseline_twin_seed1"
    shutil.copytree(tmp_path / "baseline_seed1", twin)
    (tmp_path / "baseline_seed1" / "identity.json").write_text(json.dumps({"hash": "aaaaaaaa"}))
    (twin / "identity.json").write_text(json.dumps({"hash": "aaaaaaaa"}))
    (twin / "config.yaml").write_text((twin / "config.yaml").read_text().replace("experiment_name: baseline",
                                                                                 "experiment_name: twin"))
    jobs = jobs_table(tmp_path)
    assert set(jobs.loc[jobs["row_kind"] == "trained", "experiment"]) == {"baseline", "smote_features", "twin"}
    shutil.rmtree(twin)
    # Two finished jobs of one experiment and seed with *different* identities are still refused.
    (renamed / "identity.json").write_text(json.dumps({"hash": "00000000"}))
    import pytest

    from balancelab.errors import DataError
    with pytest.raises(DataError, match="Several finished jobs"):
        build_report(tmp_path)
