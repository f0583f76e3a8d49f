"""End-to-end runs of the installed `balance-run` on tiny settings, from an unrelated directory."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from tests.conftest import TINY, run_cli, run_folder

pytestmark = pytest.mark.slow

EXPECTED_FILES = [
    "config.yaml", "class_mapping.json", "dataset_statistics.json", "balancing_analysis.json", "history.csv",
    "training_curves.png", "best_model.pt", "test_metrics.csv", "predictions.csv", "confusion_matrix.csv",
    "confusion_matrix.png", "confidence_analysis.csv", "confidence_distribution.png", "experiment_summary.json",
]
RUN_NAME = "small_cnn_balance_random_oversampling_ce_digits_lt_seed0"


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("e2e")
    result = run_cli([*TINY, "dataset=digits_lt", "balancing=random_oversampling", "seed=0", f"output_root={root}"], cwd=root)
    assert result.returncode == 0, result.stderr
    return root, run_folder(root, RUN_NAME), result


def test_every_output_file_is_written(finished_run):
    _, run, _ = finished_run
    missing = [f for f in EXPECTED_FILES if not (run / f).is_file()]
    assert not missing
    assert not list(run.glob(".*.tmp*")), "temporary files left behind"


def test_json_schemas(finished_run):
    _, run, _ = finished_run
    mapping = json.loads((run / "class_mapping.json").read_text())
    assert mapping["index_to_class"] == [str(d) for d in range(10)]
    stats = json.loads((run / "dataset_statistics.json").read_text())
    assert set(stats["class_counts"]) == {"train", "val", "test", "train_balanced"}
    assert stats["imbalance_ratio"]["train_before_balancing"] >= 9
    assert stats["imbalance_ratio"]["train_after_balancing"] == 1.0
    bal = json.loads((run / "balancing_analysis.json").read_text())
    assert bal["technique"] == "random_oversampling" and set(bal["per_class"]) == set(mapping["index_to_class"])
    for row in bal["per_class"].values():
        assert {"before", "after", "added", "removed"} <= set(row)
    assert bal["bytes_after"] > bal["bytes_before"] and bal["seconds"] >= 0
    summary = json.loads((run / "experiment_summary.json").read_text())
    assert summary["status"] in ("completed", "early_stopped")
    for key in ("accuracy", "balanced_accuracy", "macro_f1", "weighted_f1", "minority_class_recall",
                "many_shot_accuracy", "medium_shot_accuracy", "few_shot_accuracy", "ece"):
        assert key in summary["test"]
    assert summary["best_epoch"] >= 1 and summary["device"] == "cpu"
    assert {"data", "balancing", "training", "evaluation"} <= set(summary["stage_seconds"])
    assert summary["library_versions"]["torch"] and "commit" in summary["git"] and "dirty" in summary["git"]


def test_csv_schemas(finished_run):
    _, run, _ = finished_run
    history = pd.read_csv(run / "history.csv")
    assert list(history.columns) == ["epoch", "lr", "train_loss", "train_accuracy", "val_loss", "val_accuracy",
                                     "val_macro_f1", "val_balanced_accuracy", "seconds"]
    assert len(history) == 2
    metrics = pd.read_csv(run / "test_metrics.csv")
    assert list(metrics.columns) == ["class", "precision", "recall", "f1", "support"]
    assert {"macro avg", "weighted avg", "accuracy", "balanced accuracy"} <= set(metrics["class"])
    preds = pd.read_csv(run / "predictions.csv")
    assert {"source_id", "true_class", "pred_class", "confidence"} <= set(preds.columns)
    assert [c for c in preds.columns if c.startswith("prob_")] == [f"prob_{d}" for d in range(10)]
    assert np.allclose(preds[[f"prob_{d}" for d in range(10)]].sum(1), 1.0, atol=1e-4)
    cm = pd.read_csv(run / "confusion_matrix.csv")
    assert cm.shape == (10, 11) and cm.iloc[:, 1:].to_numpy().sum() == len(preds)
    conf = pd.read_csv(run / "confidence_analysis.csv")
    assert {"class", "overall", "calibration_bin"} == set(conf["kind"])


def test_best_model_reproduces_predictions(finished_run):
    from balancelab.checkpoint import load_checkpoint
    from balancelab.options.build import build
    from balancelab.training.batches import DeviceImages
    from balancelab.training.loop import predict

    _, run, _ = finished_run
    payload = torch.load(run / "best_model.pt", weights_only=True)
    assert set(payload) == {"state_dict", "metadata"}
    model, meta = load_checkpoint(run / "best_model.pt")
    assert meta["class_names"] == [str(d) for d in range(10)] and meta["input_size"] == 16
    d = meta["config"]["dataset"]
    splits = build(d, "dataset", name=d["name"], input_size=meta["input_size"], cache_dir=None)
    data = DeviceImages(splits.test.X, splits.test.y, torch.device("cpu"), **meta["normalization"])
    probs, _ = predict(model, data, 64)
    preds = pd.read_csv(run / "predictions.csv")
    assert list(preds["source_id"]) == list(splits.test.source_ids)
    assert np.array_equal(probs.argmax(1), preds["pred_index"].to_numpy())
    assert np.allclose(probs.max(1), preds["confidence"].to_numpy(), atol=1e-5)


def test_rerun_into_finished_folder_is_refused(finished_run):
    root, run, _ = finished_run
    before = (run / "experiment_summary.json").read_bytes()
    result = run_cli([*TINY, "dataset=digits_lt", "balancing=random_oversampling", "seed=0", f"output_root={root}"], cwd=root)
    assert result.returncode == 2
    assert "overwrite=true" in result.stderr
    assert (run / "experiment_summary.json").read_bytes() == before


def test_the_default_logger_runs(tmp_path):
    """Every other end-to-end test says logger=none; the default (wandb, here disabled by WANDB_MODE) must run."""
    args = [a for a in TINY if not a.startswith("logger=")]
    result = run_cli([*args, "trainer.epochs=1", f"output_root={tmp_path}"], cwd=tmp_path)
    assert result.returncode == 0, result.stderr


def test_overwrite_true_replaces_the_run(tmp_path):
    args = [*TINY, "trainer.epochs=1", f"output_root={tmp_path}"]
    assert run_cli(args, cwd=tmp_path).returncode == 0
    result = run_cli([*args, "overwrite=true"], cwd=tmp_path)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("override,expected", [
    ("model=shufflenet_v3", "shufflenet_v2"),
    ("trainer.epohcs=3", "epochs"),
    ("trainer.epochs=abc", "trainer.epochs"),
    ("loss.gamma=0.5", "loss=focal"),
])
def test_bad_overrides_fail_before_anything_is_made(tmp_path, override, expected):
    result = run_cli([override, f"output_root={tmp_path / 'out'}"], cwd=tmp_path)
    assert result.returncode == 2
    assert expected in result.stderr
    assert not (tmp_path / "out").exists(), "a folder was made for a command that cannot run"
    assert "Traceback" not in result.stderr


def test_a_bad_job_in_a_multirun_stops_the_multirun_before_its_first_job(tmp_path):
    result = run_cli(["-m", "trainer.epochs=1,0", *TINY[:2], f"output_root={tmp_path / 'out'}"], cwd=tmp_path)
    assert result.returncode == 2 and "trainer.epochs" in result.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("launcher", ["basic", "parallel"])
def test_a_multirun_exits_with_its_worst_job_not_its_last(tmp_path, launcher):
    """A diverged first job and a finished second one: the multirun's exit code says a job diverged (3), and
    each job has its own folder; also when the launcher runs the jobs in other processes (joblib)."""
    result = run_cli(["-m", f"hydra/launcher={launcher}", "optimizer.lr=1e30,0.01", *TINY[:2], "trainer.epochs=1", "trainer.batch_size=64",
                      "trainer.num_threads=1", "logger=none", f"output_root={tmp_path / 'out'}"], cwd=tmp_path)
    assert result.returncode == 3, result.stderr[-2000:]
    statuses = sorted(json.loads(p.read_text())["status"]
                      for p in (tmp_path / "out").rglob("experiment_summary.json"))
    assert statuses == ["completed", "diverged"]
    assert not list((tmp_path / "out").glob(".exit-codes-*")), "the jobs' exit codes are not left behind"


def test_cfg_job_prints_the_composed_config(tmp_path):
    result = run_cli(["--cfg", "job", "balancing=random_oversampling"], cwd=tmp_path)
    assert result.returncode == 0 and "random_oversampling" in result.stdout and "small_cnn" in result.stdout


def test_plain_pip_install_ships_the_configs(tmp_path):
    """A non-editable install (no source tree on the path) composes configs and answers --help."""
    repo = Path(__file__).resolve().parents[1]
    target = tmp_path / "site"
    build = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-build-isolation", "-q",
                            "--target", str(target), str(repo)], capture_output=True, text=True, timeout=600,
                           cwd=tmp_path)
    assert build.returncode == 0, build.stderr
    assert (target / "balancelab" / "configs" / "model" / "shufflenet_v2.yaml").is_file()
    env = {**os.environ, "PYTHONPATH": str(target)}
    code = "import balancelab, sys; print(balancelab.__file__); sys.argv=['balance-run', '--cfg', 'job']; from balancelab.cli.run_command import run; run()"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    assert "mnist_lt" in result.stdout and str(target) in result.stdout
