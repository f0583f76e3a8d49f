"""`balance-sweep` and `balance-report` end to end on tiny settings."""

import json

import pandas as pd
import pytest
import yaml

from balancelab.sweep.statistics import ONE_MODEL_SCOPE

from tests.conftest import run_cli

pytestmark = pytest.mark.slow
SWEEP_TINY = ["model=small_cnn", "model.input_size=16", "trainer.epochs=1", "trainer.batch_size=64",
              "trainer.num_threads=1", "logger=none"]


@pytest.fixture(scope="module")
def grid(tmp_path_factory):
    root = tmp_path_factory.mktemp("sweep")
    first = run_cli([*SWEEP_TINY, f"output_root={root}", "name=grid"], cwd=root, script="balance-sweep")
    return root, sweep_folder(root, "grid"), first


def sweep_folder(root, name):
    """The sweep's folder: its name plus the hash of the overrides its jobs share."""
    (folder,) = (root / "sweeps").glob(f"{name}_*")
    return folder


def test_eight_experiments_eight_folders_eight_rows(grid):
    _, sweep, first = grid
    assert first.returncode == 0, first.stderr[-3000:]
    jobs = [p for p in sweep.iterdir() if (p / "experiment_summary.json").exists()]
    assert len(jobs) == 8
    everything = pd.read_csv(sweep / "comparison.csv")
    table = everything[everything["row_kind"] == "trained"]
    assert sorted(table["experiment"]) == sorted(["baseline", "random_oversampling", "smote", "adasyn",
                                                  "offline_augmentation", "focal_loss", "smote_focal",
                                                  "offline_augmentation_focal"])
    # Each trained experiment also gets its free post-hoc rows, ranked and tested apart from the experiments;
    # post-hoc logit adjustment only where the batches' prior was not uniform (an oversampled set with equal
    # counts gives every class the same log-prior: the adjustment could change nothing, and says so).
    derived = everything[everything["row_kind"] == "derived"]
    summaries = {yaml.safe_load((p / "config.yaml").read_text())["experiment_name"]:
                 json.loads((p / "experiment_summary.json").read_text()) for p in jobs}
    uniform = {e for e, s in summaries.items() if "skipped" in s["posthoc"]["logit_adjustment"]}
    assert {"baseline", "focal_loss"}.isdisjoint(uniform) and "random_oversampling" in uniform
    assert {f"{e} + posthoc_la" for e in set(table["experiment"]) - uniform} <= set(derived["experiment"])
    assert not {f"{e} + posthoc_la" for e in uniform} & set(derived["experiment"])
    assert table.loc[table["experiment"] == "baseline", "macro_f1_delta_vs_baseline"].iloc[0] == 0
    assert table["rank"].min() == 1 and table["rank"].max() <= 8 and derived["rank"].isna().all()
    others = table[table["experiment"] != "baseline"]
    assert (others["macro_f1_family_size"] == 7).all()  # Holm over the 7 trained experiments, not their post-hoc rows
    # one seed: the runs' post-hoc predictions give the derived rows the test-image part of the two-level test
    # too, and every verdict says it is about one trained model per side on this test set
    assert (derived["macro_f1_test"] == "two-level").all() and derived["macro_f1_boot_ci_low"].notna().all()
    assert (everything.loc[everything["experiment"] != "baseline", "macro_f1_scope"] == ONE_MODEL_SCOPE).all()
    # The default budget: every technique the same optimiser steps, whatever its training set's size.
    assert "Training budget: trainer.budget=steps, 1 epoch per job" in (sweep / "comparison.md").read_text()
    for name in ("comparison.md", "comparison.png", "per_class_recall.png", "per_class_delta.csv", "sweep_summary.json"):
        assert (sweep / name).is_file(), name
    delta = pd.read_csv(sweep / "per_class_delta.csv")
    assert len(delta[delta["experiment"].isin(table["experiment"])]) == 8 * 10
    assert {"recall_delta", "f1_delta"} <= set(delta.columns)
    assert "val_test_gap_mean" in table.columns


def test_second_invocation_skips_finished_jobs(grid):
    root, sweep, _ = grid
    history = {p.name: (p / "history.csv").stat().st_mtime_ns for p in sweep.iterdir() if p.is_dir()}
    again = run_cli([*SWEEP_TINY, f"output_root={root}", "name=grid"], cwd=root, script="balance-sweep")
    assert again.returncode == 0
    assert again.stderr.count("Skipping") == 8
    assert {p.name: (p / "history.csv").stat().st_mtime_ns for p in sweep.iterdir() if p.is_dir()} == history


def test_seeds_give_mean_and_std(grid):
    root, sweep, _ = grid
    result = run_cli([*SWEEP_TINY, f"output_root={root}", "name=grid", "seeds=[42,43]"], cwd=root,
                     script="balance-sweep")
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stderr.count("Skipping") == 8  # seed 42 was done already
    assert len([p for p in sweep.iterdir() if (p / "experiment_summary.json").exists()]) == 16
    table = pd.read_csv(sweep / "comparison.csv")
    assert (table["n_seeds"] == 2).all() and (table["macro_f1_std"] >= 0).all()
    assert table["macro_f1_verdict"].dropna().isin(["better", "worse", "no detectable difference", "reference"]).all()
    assert "±" in (sweep / "comparison.md").read_text()


def test_balance_report_rebuilds_the_comparison(grid):
    root, sweep, _ = grid
    before = pd.read_csv(sweep / "comparison.csv")
    (sweep / "comparison.csv").unlink()
    result = run_cli([str(sweep)], cwd=root, script="balance-report")
    assert result.returncode == 0, result.stderr
    pd.testing.assert_frame_equal(pd.read_csv(sweep / "comparison.csv"), before)


@pytest.mark.parametrize("outcome", ["failure", "diverged"])
def test_failed_and_diverged_jobs_are_retried_by_a_rerun(tmp_path, outcome):
    args = [*SWEEP_TINY, f"output_root={tmp_path}", "name=f", "experiments=[baseline,smote]"]
    assert run_cli(args, cwd=tmp_path, script="balance-sweep").returncode == 0
    sweep = sweep_folder(tmp_path, "f")
    (baseline,) = [p for p in sweep.iterdir() if p.name.startswith("small_cnn_balance_none")]
    summary = baseline / "experiment_summary.json"
    if outcome == "failure":
        summary.unlink()
        (baseline / "failure.json").write_text(json.dumps({"error_type": "RuntimeError", "error": "boom"}))
    else:
        summary.write_text(json.dumps({**json.loads(summary.read_text()), "status": "diverged",
                                       "message": "epoch 1: loss nan"}))
    report = run_cli([str(sweep)], cwd=tmp_path, script="balance-report")
    assert report.returncode == 1  # a failed row makes the comparison's exit code non-zero
    table = pd.read_csv(sweep / "comparison.csv").set_index("experiment")
    assert table.loc["baseline", "status"] == "failed" and table.loc["smote", "status"] == "ok"
    kept = run_cli([*args, "retry_failed=false"], cwd=tmp_path, script="balance-sweep")
    assert kept.returncode == 1 and kept.stderr.count("Skipping") == 2
    retried = run_cli(args, cwd=tmp_path, script="balance-sweep")
    assert retried.returncode == 0, retried.stderr[-2000:]
    assert retried.stderr.count("Skipping") == 1  # smote was finished; only baseline ran again
    assert (pd.read_csv(sweep / "comparison.csv")["status"] == "ok").all()


def test_group_narrows_and_parallel_launcher_runs(tmp_path):
    result = run_cli([*SWEEP_TINY, f"output_root={tmp_path}", "name=p", "group=combined", "launcher=parallel"],
                     cwd=tmp_path, script="balance-sweep")
    assert result.returncode == 0, result.stderr[-3000:]
    table = pd.read_csv(sweep_folder(tmp_path, "p") / "comparison.csv")
    trained = table[table["row_kind"] == "trained"]  # not the post-hoc rows
    # the group's experiments and the baseline their verdicts compare against (grid.select)
    assert sorted(trained["experiment"]) == ["baseline", "offline_augmentation_focal", "smote_focal"]
    summaries = list(sweep_folder(tmp_path, "p").glob("*/experiment_summary.json"))
    assert len(summaries) == 3
    for job in summaries:
        assert "JoblibLauncher" in json.loads(job.read_text())["process"]["launcher"]


def test_unknown_group_is_a_clear_error(tmp_path):
    result = run_cli(["group=resampling_x", f"output_root={tmp_path}"], cwd=tmp_path, script="balance-sweep")
    assert result.returncode == 2 and "resampling" in result.stderr


def test_a_changed_shared_setting_is_a_new_sweep_that_trains_again(grid):
    root, sweep, _ = grid
    again = run_cli([*SWEEP_TINY, f"output_root={root}", "name=grid", "experiments=[baseline]", "trainer.epochs=2"],
                    cwd=root, script="balance-sweep")
    assert again.returncode == 0, again.stderr[-2000:]
    assert "Skipping" not in again.stderr
    folders = sorted((root / "sweeps").glob("grid_*"))
    assert len(folders) == 2 and sweep in folders
    (new,) = [f for f in folders if f != sweep]
    table = pd.read_csv(new / "comparison.csv")
    trained = table[table["row_kind"] == "trained"]  # not the post-hoc rows
    assert list(trained["experiment"]) == ["baseline"]  # the old sweep's jobs are not mixed in


@pytest.mark.parametrize("swept", [["optimizer.lr=0.01,0.001"], ["loss=focal", "loss.gamma=0.5,1,2"],
                                   ["dataset.imbalance_ratio=5,20"]])
def test_a_multirun_gives_one_finished_folder_per_job(tmp_path, swept):
    """Every job of a multirun trains into its own folder, with its own value in its config.yaml."""
    result = run_cli(["-m", *SWEEP_TINY, *swept, f"output_root={tmp_path}"], cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Skipping" not in result.stderr
    key, values = swept[-1].split("=")
    values = values.split(",")
    jobs = sorted((tmp_path / "runs").glob("*/experiment_summary.json"))
    assert len(jobs) == len(values)
    seen = set()
    for job in jobs:
        cfg = yaml.safe_load((job.parent / "config.yaml").read_text())
        node = cfg
        for part in key.split("."):
            node = node[part]
        seen.add(str(node))
    assert {float(v) for v in seen} == {float(v) for v in values}
    again = run_cli(["-m", *SWEEP_TINY, *swept, f"output_root={tmp_path}"], cwd=tmp_path)
    assert again.returncode == 0 and again.stderr.count("Skipping") == len(values)
