"""model=timm through the installed commands: a run (with tau-normalisation and cRT on timm's classifier), a
sweep, and balance-predict on a run whose timm weights came from a local file (pretrained=true, no network)."""

import json

import numpy as np
import pandas as pd
import pytest
import torch

from tests.conftest import noise_image_folder, run_cli

timm = pytest.importorskip("timm")
pytestmark = pytest.mark.slow

# A few optimiser steps on CPU: timm's tiny "test_*" architectures at 16 px, one thread, no logger.
FAST = ["model=timm", "model.input_size=16", "trainer.epochs=2", "trainer.batch_size=64", "trainer.num_threads=1",
        "trainer.budget=steps", "trainer.steps=10", "logger=none"]
OFFLINE = {"HF_HUB_OFFLINE": "1"}  # nothing here may download weights


def test_a_timm_run_trains_evaluates_and_retrains_its_classifier(tmp_path):
    result = run_cli([*FAST, "model.architecture=test_resnet", "trainer.crt_epochs=1", f"output_root={tmp_path}"],
                     cwd=tmp_path, env_extra=OFFLINE)
    assert result.returncode == 0, result.stderr[-3000:]
    (summary_path,) = (tmp_path / "runs").glob("timm_*/experiment_summary.json")
    summary = json.loads(summary_path.read_text())
    assert summary["status"] in ("completed", "early_stopped") and summary["test"]["macro_f1"] > 0
    config = (summary_path.parent / "config.yaml").read_text()
    assert "architecture: test_resnet" in config and "balancelab.models.timm_classifier" in config
    assert summary["posthoc"]["tau_normalisation"]["test"]["macro_f1"] >= 0  # on timm's classifier
    assert summary["crt"]
    assert summary["library_versions"]["timm"] == timm.__version__


def test_a_timm_sweep_compares_two_experiments(tmp_path):
    result = run_cli(["experiments=[baseline,random_oversampling]", "seeds=[0]", *FAST,
                      "model.architecture=test_convnext", f"output_root={tmp_path}"], cwd=tmp_path,
                     script="balance-sweep", env_extra=OFFLINE)
    assert result.returncode == 0, result.stderr[-3000:]
    (comparison,) = (tmp_path / "sweeps").glob("grid_timm_*/comparison.csv")
    assert {"baseline", "random_oversampling"} <= set(pd.read_csv(comparison)["experiment"])


def test_predict_with_a_pretrained_timm_run_reproduces_its_predictions(tmp_path):
    root = noise_image_folder(tmp_path / "shapes", (("dark", 30, 60), ("light", 15, 180)), (20, 28, 3), 40)
    weights = tmp_path / "test_vit.pth"
    torch.save(timm.create_model("test_vit", pretrained=False).state_dict(), weights)
    run = run_cli([*FAST, "model.architecture=test_vit", "model.pretrained=true", f"model.weights_path={weights}",
                   "dataset=image_folder", f"dataset.root={root}", f"output_root={tmp_path}"], cwd=tmp_path,
                  env_extra=OFFLINE)
    assert run.returncode == 0, run.stderr[-3000:]
    run_dir = next((tmp_path / "runs").iterdir())
    meta = torch.load(run_dir / "best_model.pt", weights_only=True)["metadata"]
    assert meta["normalization"] == {"mean": [0.5] * 3, "std": [0.5] * 3}  # test_vit's weights' own, not ImageNet's
    expected = pd.read_csv(run_dir / "predictions.csv")
    out = tmp_path / "out.csv"
    result = run_cli([str(run_dir / "best_model.pt"), *expected["source_id"], "--out", str(out), "--device", "cpu"],
                     cwd=tmp_path, script="balance-predict", env_extra=OFFLINE)
    assert result.returncode == 0, result.stderr[-3000:]
    merged = expected.merge(pd.read_csv(out), left_on="source_id", right_on="path", suffixes=("", "_predicted"))
    assert len(merged) == len(expected) > 0
    assert (merged["pred_class"] == merged["pred_class_predicted"]).all()
    assert np.allclose(merged["confidence"], merged["confidence_predicted"], atol=1e-6)


def test_a_misspelt_timm_model_stops_the_run_before_anything_is_made(tmp_path):
    result = run_cli([*FAST, "model.architecture=test_resnt", f"output_root={tmp_path / 'out'}"], cwd=tmp_path,
                     env_extra=OFFLINE)
    assert result.returncode == 2 and "did you mean test_resnet" in result.stderr, result.stderr[-2000:]
    assert "Traceback" not in result.stderr and not (tmp_path / "out").exists()


def test_the_timm_model_may_be_typed_as_model_name_as_the_issue_spells_it(tmp_path):
    """`model=timm model.name=<timm model>` trains that model under the run label `timm`; misspelt, it stops the
    run with the close names, as model.architecture does."""
    result = run_cli([*FAST, "model.name=test_vit", f"output_root={tmp_path / 'out'}"], cwd=tmp_path,
                     env_extra=OFFLINE)
    assert result.returncode == 0, result.stderr[-3000:]
    (config,) = (tmp_path / "out").rglob("config.yaml")
    text = config.read_text()
    assert "architecture: test_vit" in text and "name: timm" in text
    wrong = run_cli([*FAST, "model.name=test_resnt", f"output_root={tmp_path / 'wrong'}"], cwd=tmp_path,
                    env_extra=OFFLINE)
    assert wrong.returncode == 2 and "did you mean test_resnet" in wrong.stderr, wrong.stderr[-2000:]
    assert "Traceback" not in wrong.stderr and not (tmp_path / "wrong").exists()
