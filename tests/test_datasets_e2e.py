"""Installed `balance-run` on the other datasets: image folders, binary digits, missing CIFAR."""

import json

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from tests.conftest import TINY, run_cli

pytestmark = pytest.mark.slow


def test_image_folder_run_lists_bad_files_and_reuses_split(tmp_path):
    root = tmp_path / "leaves"
    rng = np.random.default_rng(0)
    for c, n in (("healthy", 30), ("blight", 10), ("rare", 3)):
        (root / c).mkdir(parents=True)
        for i in range(n):
            Image.fromarray(rng.integers(0, 255, (20, 28, 3)).astype(np.uint8)).save(root / c / f"{i}.jpg")
    (root / "blight" / "broken.jpg").write_bytes(b"\xff\xd8 not really")
    args = [*TINY, "trainer.epochs=1", "dataset=image_folder", f"dataset.root={root}", f"output_root={tmp_path}"]
    first = run_cli(args, cwd=tmp_path)
    assert first.returncode == 0, first.stderr[-2000:]
    run = next((tmp_path / "runs").iterdir())
    assert "broken.jpg" in (run / "skipped_files.txt").read_text()
    stats = json.loads((run / "dataset_statistics.json").read_text())
    assert stats["notes"]["skipped_count"] == 1
    manifest = pd.read_csv(run / "split_manifest.csv")
    second = run_cli([*args, "seed=1"], cwd=tmp_path)
    assert second.returncode == 0 and "split manifest" in second.stderr
    other = next(p for p in (tmp_path / "runs").iterdir() if p != run)
    pd.testing.assert_frame_equal(pd.read_csv(other / "split_manifest.csv"), manifest)


def test_binary_run_writes_threshold_artifacts(tmp_path):
    result = run_cli([*TINY, "trainer.epochs=2", "dataset=digits_binary", "loss=bce", f"output_root={tmp_path}"],
                     cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    run = next((tmp_path / "runs").iterdir())
    for name in ("roc_curve.png", "pr_curve.png", "threshold_analysis.csv"):
        assert (run / name).is_file()
    summary = json.loads((run / "experiment_summary.json").read_text())
    test = summary["test"]
    assert 0 < test["threshold"] < 1 and test["threshold_chosen_on"] == "validation"
    assert test["roc_auc"] is not None and test["average_precision"] is not None
    table = pd.read_csv(run / "threshold_analysis.csv")
    assert set(table["split"]) == {"validation", "test"}
    assert {"precision", "recall", "f1", "specificity"} <= set(table.columns)
    meta = torch.load(run / "best_model.pt", weights_only=True)["metadata"]
    assert meta["threshold"]["value"] == test["threshold"] and meta["output_units"] == 1
    preds = pd.read_csv(run / "predictions.csv")
    assert ((preds["prob_digit_0"] >= test["threshold"]).astype(int) == preds["pred_index"]).all()


def test_binary_focal_with_alpha(tmp_path):
    result = run_cli([*TINY, "trainer.epochs=1", "dataset=digits_binary", "loss=focal", "loss.alpha=0.75",
                      f"output_root={tmp_path}"], cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    summary = json.loads(next((tmp_path / "runs").iterdir()).joinpath("experiment_summary.json").read_text())
    assert summary["loss_details"]["alpha"] == [0.25, 0.75]


def test_cifar10_without_files_fails_with_instructions(tmp_path):
    result = run_cli(["dataset=cifar10", f"dataset.root={tmp_path}/data", f"output_root={tmp_path}", "logger=none"],
                     cwd=tmp_path)
    assert result.returncode == 2
    assert "cifar-10-batches-py" in result.stderr and "download=true" in result.stderr


def test_presplit_folder_with_a_copy_across_splits_is_run_and_reported(tmp_path):
    root = tmp_path / "pre"
    rng = np.random.default_rng(1)
    for split, n in (("train", 12), ("val", 4), ("test", 4)):
        for c in ("cat", "dog"):
            (root / split / c).mkdir(parents=True)
            for i in range(n):
                Image.fromarray(rng.integers(0, 255, (16, 16, 3)).astype(np.uint8)).save(root / split / c / f"{i}.png")
    (root / "test" / "cat" / "leak.png").write_bytes((root / "train" / "cat" / "0.png").read_bytes())
    result = run_cli([*TINY, "trainer.epochs=1", "dataset=image_folder", f"dataset.root={root}",
                      f"output_root={tmp_path}"], cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "straddle" in result.stderr and "leak.png" in result.stderr
    run = next((tmp_path / "runs").iterdir())
    stats = json.loads((run / "dataset_statistics.json").read_text())
    (group,) = stats["notes"]["cross_split_duplicates"].values()
    assert sorted(split for _, split in group) == ["test", "train"]
    assert stats["split_sizes"]["test"] == 9  # the copy is kept: the user chose the split


def test_mnist_run_records_the_balanced_validation_set(tmp_path):
    from tests.data.test_torchvision_sets import write_mnist

    write_mnist(tmp_path / "data", per_class=30)
    result = run_cli([*TINY, "trainer.epochs=1", "dataset=mnist", f"dataset.root={tmp_path}/data",
                      "dataset.imbalance_ratio=10", "dataset.val_per_class=4", f"output_root={tmp_path}"],
                     cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    stats = json.loads(next((tmp_path / "runs").iterdir()).joinpath("dataset_statistics.json").read_text())
    assert set(stats["class_counts"]["val"].values()) == {4}
    assert stats["notes"]["classes_short_of_unused_images"] == {"0 - zero": 4}
    assert stats["class_counts"]["train"] == {**stats["notes"]["profile_counts"], "0 - zero": 30 - 4}


def test_frames_of_one_clip_never_straddle_splits_with_dataset_group(tmp_path):
    from tests.data.video_frames import CLIP_RULE, clip_of, write_clips

    root = tmp_path / "frames"
    owner = write_clips(root, {"walk": 6, "run": 5, "fall": 4}, frames=4, size=12)
    result = run_cli([*TINY, "trainer.epochs=1", "dataset=image_folder", f"dataset.root={root}",
                      f"dataset.group='{CLIP_RULE}'", f"output_root={tmp_path}"], cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    run = next((tmp_path / "runs").iterdir())
    manifest = pd.read_csv(run / "split_manifest.csv", dtype=str)
    clips = manifest.assign(clip=manifest["source_id"].map(clip_of))
    assert set(clips["clip"]) == set(owner)
    assert (clips.groupby("clip")["split"].nunique() == 1).all()  # no clip in two splits
    assert set(manifest["split"]) == {"train", "val", "test"}
    stats = json.loads((run / "dataset_statistics.json").read_text())
    groups = stats["notes"]["groups"]
    assert groups["rule"] == CLIP_RULE and groups["count"] == len(owner)
    assert all(min(per_split.values()) >= 1 for per_split in groups["per_class"].values())
    assert set(groups["achieved_fractions"]) == {"train", "val", "test"}
