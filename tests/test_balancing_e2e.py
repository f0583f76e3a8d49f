"""Installed `balance-run` with the synthetic techniques, the cache, and `balance-cache`."""

import json

import pandas as pd
import pytest

from tests.conftest import TINY, run_cli, run_folder

pytestmark = pytest.mark.slow


def test_smote_run_reuses_the_cache_and_shows_its_samples(tmp_path):
    args = [*TINY, "dataset=digits_lt", "trainer.epochs=1", "balancing=smote", f"output_root={tmp_path}"]
    first = run_cli(args, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    run = run_folder(tmp_path, "small_cnn_balance_smote_ce_digits_lt_seed42")
    s1 = json.loads((run / "experiment_summary.json").read_text())
    analysis = json.loads((run / "balancing_analysis.json").read_text())
    assert analysis["technique"] == "smote" and analysis["synthetic_count"] > 0
    assert all(row["after"] == analysis["targets"][str(i)] for i, row in enumerate(analysis["per_class"].values()))
    assert set(analysis["k_used"].values()) == {5}
    assert (run / "synthetic_samples.png").is_file()
    provenance = pd.read_csv(run / "synthetic_provenance.csv")
    assert len(provenance) == analysis["synthetic_count"] and provenance["t"].between(0, 1).all()

    second = run_cli([*args, "overwrite=true"], cwd=tmp_path)
    assert second.returncode == 0, second.stderr
    s2 = json.loads((run / "experiment_summary.json").read_text())
    assert not s1["balancing_from_cache"] and s2["balancing_from_cache"]

    info = run_cli(["info", "--dir", str(tmp_path / ".cache")], cwd=tmp_path, script="balance-cache")
    assert info.returncode == 0 and info.stdout.startswith("1 cached")
    cleared = run_cli(["clear", "--dir", str(tmp_path / ".cache")], cwd=tmp_path, script="balance-cache")
    assert "Removed 1" in cleared.stdout


@pytest.mark.parametrize("technique", ["adasyn", "offline_augmentation", "random_undersampling", "resample_to_target"])
def test_each_technique_completes(tmp_path, technique):
    result = run_cli([*TINY, "trainer.epochs=1", f"balancing={technique}", f"output_root={tmp_path}"], cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    run = next((tmp_path / "runs").iterdir())
    analysis = json.loads((run / "balancing_analysis.json").read_text())
    stats = json.loads((run / "dataset_statistics.json").read_text())
    assert analysis["technique"] == technique
    assert stats["class_counts"]["train_balanced"] == {k: v["after"] for k, v in analysis["per_class"].items()}
    if technique == "random_undersampling":
        assert len(set(stats["class_counts"]["train_balanced"].values())) == 1  # all down to the smallest
