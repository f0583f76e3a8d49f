"""`balance-sweep` and `balance-report` end to end on tiny settings."""

import json

import pandas as pd
import pytest

from tests.conftest import run_cli

pytestmark = pytest.mark.slow
SWEEP_TINY = ["model=small_cnn", "model.input_size=16", "trainer.epochs=1", "trainer.batch_size=64",
              "trainer.num_threads=1", "logger=none"]


@pytest.fixture(scope="module")
def grid(tmp_path_factory):
    root = tmp_path_factory.mktemp("sweep")
    first = run_cli([*SWEEP_TINY, f"output_root={root}", "name=grid"], cwd=root, script="balance-sweep")
    return root, root / "sweeps" / "grid", first


def test_eight_experiments_eight_folders_eight_rows(grid):
    _, sweep, first = grid
    assert first.returncode == 0, first.stderr[-3000:]
    jobs = [p for p in sweep.iterdir() if (p / "experiment_summary.json").exists()]
    assert len(jobs) == 8
    table = pd.read_csv(sweep / "comparison.csv")
    assert sorted(table["experiment"]) == sorted(["baseline", "random_oversampling", "smote", "adasyn",
                                                  "offline_augmentation", "focal_loss", "smote_focal",
                                                  "offline_augmentation_focal"])
    assert table.loc[table["experiment"] == "baseline", "macro_f1_delta_vs_baseline"].iloc[0] == 0
    assert table["rank"].min() == 1 and table["rank"].max() <= 8  # ties share a rank
    for name in ("comparison.md", "comparison.png", "per_class_recall.png", "per_class_delta.csv", "sweep_summary.json"):
        assert (sweep / name).is_file(), name
    delta = pd.read_csv(sweep / "per_class_delta.csv")
    assert len(delta) == 8 * 10 and {"recall_delta", "f1_delta"} <= set(delta.columns)
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
    assert "±" in (sweep / "comparison.md").read_text()


def test_balance_report_rebuilds_the_comparison(grid):
    root, sweep, _ = grid
    before = pd.read_csv(sweep / "comparison.csv")
    (sweep / "comparison.csv").unlink()
    result = run_cli([str(sweep)], cwd=root, script="balance-report")
    assert result.returncode == 0, result.stderr
    pd.testing.assert_frame_equal(pd.read_csv(sweep / "comparison.csv"), before)


def test_a_failing_job_is_isolated_and_retried(tmp_path):
    # ++balancing.k_neighbors exists for smote only: the other jobs fail their schema check.
    args = [*SWEEP_TINY, f"output_root={tmp_path}", "name=f", "experiments=[baseline,smote]"]
    failed = run_cli([*args, "++balancing.k_neighbors=5"], cwd=tmp_path, script="balance-sweep")
    assert failed.returncode != 0
    sweep = tmp_path / "sweeps" / "f"
    table = pd.read_csv(sweep / "comparison.csv").set_index("experiment")
    assert table.loc["baseline", "status"] == "failed" and "k_neighbors" in table.loc["baseline", "errors"]
    assert table.loc["smote", "status"] == "ok"
    summary = json.loads((sweep / "sweep_summary.json").read_text())
    assert len(summary["failed_jobs"]) == 1
    retried = run_cli(args, cwd=tmp_path, script="balance-sweep")
    assert retried.returncode == 0, retried.stderr[-2000:]
    assert retried.stderr.count("Skipping") == 1  # smote was finished; only baseline ran again
    assert (pd.read_csv(sweep / "comparison.csv")["status"] == "ok").all()


def test_group_narrows_and_parallel_launcher_runs(tmp_path):
    result = run_cli([*SWEEP_TINY, f"output_root={tmp_path}", "name=p", "group=combined", "launcher=parallel"],
                     cwd=tmp_path, script="balance-sweep")
    assert result.returncode == 0, result.stderr[-3000:]
    table = pd.read_csv(tmp_path / "sweeps" / "p" / "comparison.csv")
    assert sorted(table["experiment"]) == ["offline_augmentation_focal", "smote_focal"]
    summaries = list((tmp_path / "sweeps" / "p").glob("*/experiment_summary.json"))
    assert len(summaries) == 2
    for job in summaries:
        assert "JoblibLauncher" in json.loads(job.read_text())["process"]["launcher"]


def test_unknown_group_is_a_clear_error(tmp_path):
    result = run_cli(["group=resampling_x", f"output_root={tmp_path}"], cwd=tmp_path, script="balance-sweep")
    assert result.returncode == 2 and "resampling" in result.stderr


def test_plain_multirun_still_works(tmp_path):
    result = run_cli(["-m", *SWEEP_TINY, "balancing=none,random_oversampling", f"output_root={tmp_path}",
                      f"hydra.sweep.dir={tmp_path}/m"], cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert len(list((tmp_path / "m").glob("*/experiment_summary.json"))) == 2
