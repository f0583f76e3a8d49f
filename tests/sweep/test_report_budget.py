"""The sweep report says which training budget its jobs had, and when jobs differ."""

import json

import yaml

from balancelab.sweep.report import build_report
from tests.sweep.test_report import make_job


def job(root, experiment, seed, budget, epochs, total_steps, steps_done=None):
    make_job(root, experiment, seed, 0.7)
    folder = root / f"{experiment}_seed{seed}"
    cfg = yaml.safe_load((folder / "config.yaml").read_text())
    cfg["trainer"] = {"budget": budget, "epochs": epochs, "steps": total_steps if budget == "steps" else None}
    (folder / "config.yaml").write_text(yaml.safe_dump(cfg))
    summary = json.loads((folder / "experiment_summary.json").read_text())
    summary["budget"] = {"kind": budget, "total_steps": total_steps,
                         "steps_done": total_steps if steps_done is None else steps_done}
    (folder / "experiment_summary.json").write_text(json.dumps(summary))


def outputs(root):
    summary = json.loads((root / "sweep_summary.json").read_text())
    return (root / "comparison.md").read_text(), summary["budget"], (root / "report.html").read_text()


def test_equal_steps_are_stated_in_every_output(tmp_path):
    for experiment in ("baseline", "smote"):
        job(tmp_path, experiment, 0, "steps", 30, 1200)
    build_report(tmp_path)
    text, budget, page = outputs(tmp_path)
    line = "Training budget: trainer.budget=steps, 30 epochs per job: every job made 1,200 optimiser steps."
    assert line in text and line in page and budget["text"] == line
    assert budget["kind"] == "steps" and budget["same_steps_for_every_job"] is True
    assert budget["steps_per_experiment"] == {"baseline": 1200, "smote": 1200}


def test_epochs_with_unequal_steps_say_how_many_each_technique_took(tmp_path):
    job(tmp_path, "baseline", 0, "epochs", 30, 300)
    job(tmp_path, "smote", 0, "epochs", 30, 720)
    build_report(tmp_path)
    text, budget, _ = outputs(tmp_path)
    assert "trainer.budget=epochs, 30 epochs per job; optimiser steps per job differ: baseline 300, smote 720" in text
    assert budget["same_steps_for_every_job"] is False
    assert "| 300 |" in text and "| 720 |" in text  # the table's optimiser-steps column


def test_jobs_with_different_budgets_are_flagged(tmp_path):
    job(tmp_path, "baseline", 0, "epochs", 30, 300)
    job(tmp_path, "smote", 0, "steps", 20, 300)
    build_report(tmp_path)
    text, budget, page = outputs(tmp_path)
    assert budget["kind"] == "mixed"
    assert "Training budgets differ between jobs: trainer.budget=epochs (baseline); trainer.budget=steps (smote)" in text
    assert "not at an equal budget" in page and "trainer.epochs differs between jobs: 20, 30." in text


def test_a_job_that_early_stopping_cut_short_is_not_counted_as_equal(tmp_path):
    """budget=steps plans equal steps; early stopping can end a job sooner. The report judges by the steps made."""
    job(tmp_path, "baseline", 0, "steps", 8, 112)
    job(tmp_path, "random_oversampling", 0, "steps", 8, 112, steps_done=84)
    build_report(tmp_path)
    text, budget, page = outputs(tmp_path)
    assert budget["same_steps_for_every_job"] is False and "every job made" not in text
    assert "random_oversampling seed 0 (84 of 112)" in text and "84 of 112" in page
    assert budget["steps_per_experiment"] == {"baseline": 112, "random_oversampling": 84}


def test_feature_space_rows_count_the_steps_of_their_head(tmp_path):
    """[baseline, smote_features] said 'every job made 14 optimiser steps': the head the feature row trains on
    its features (here 10 epochs of 5 batches) was in no budget line."""
    job(tmp_path, "baseline", 0, "epochs", 2, 14)
    job(tmp_path, "smote_features", 0, "epochs", 2, 14)
    folder = tmp_path / "smote_features_seed0"
    summary = json.loads((folder / "experiment_summary.json").read_text())
    summary["feature_balancing"] = {"technique": "smote", "head": {"epochs": 10, "steps_per_epoch": 5,
                                                                   "val_macro_f1": [0.5] * 10}}
    (folder / "experiment_summary.json").write_text(json.dumps(summary))
    build_report(tmp_path)
    text, budget, _ = outputs(tmp_path)
    assert ("The feature-space rows also trained a classifier on the representation's features: smote_features 50 "
            "optimiser steps of the head") in text
    assert budget["head_steps_per_experiment"] == {"smote_features": 50}
