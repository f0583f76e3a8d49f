"""balance-run experiment=smote_features on the embedded digits, then balance-predict on its checkpoint."""

import json

import numpy as np
import pandas as pd
import pytest
from omegaconf import OmegaConf
from PIL import Image

from balancelab.options.build import build

from tests.conftest import TINY, run_cli

pytestmark = pytest.mark.slow


def test_smote_in_feature_space_runs_writes_its_provenance_and_its_checkpoint_predicts(tmp_path):
    run = run_cli([*TINY, "experiment=smote_features", "dataset=digits_lt", "trainer.feature_head_epochs=2",
                   f"output_root={tmp_path}"], cwd=tmp_path)
    assert run.returncode == 0, run.stderr[-2000:]
    run_dir = next((tmp_path / "runs").iterdir())
    assert "_balance_none_features_smote_" in run_dir.name  # not the baseline's folder name
    summary = json.loads((run_dir / "experiment_summary.json").read_text())
    block = summary["feature_balancing"]
    assert block["technique"] == "smote" and block["head"]["epochs"] == 2
    assert len(set(block["class_counts_after"].values())) == 1 and block["rows_after"] > block["rows_before"]
    assert summary["balancing"] == "none" and "feature_balancing" in summary["stage_seconds"]
    # The run's model is the re-trained head: its validation score is the run's (the Optuna objective, the
    # checkpoint), the representation's is kept beside it.
    assert summary["best_val_macro_f1"] == max(block["head"]["val_macro_f1"])
    assert summary["representation_best_val_macro_f1"] is not None
    import torch
    meta = torch.load(run_dir / "best_model.pt", map_location="cpu", weights_only=False)
    assert meta["metadata"]["best_val_macro_f1"] == summary["best_val_macro_f1"]
    assert meta["metadata"]["best_epoch"] == block["head"]["best_epoch"]  # the pair is the head's, not mixed
    page = (run_dir / "report.html").read_text()
    assert "classifier head re-trained on its features" in page and "representation: best epoch" in page
    provenance = pd.read_csv(run_dir / "synthetic_provenance.csv")
    assert (provenance["space"] == "features").all() and len(provenance) == block["synthetic_rows"]
    assert provenance["parent_a"].str.startswith("sklearn_digits:").all()  # real training images' source ids
    # balance-predict on the test images reproduces the run's predictions (the re-trained head is in the checkpoint)
    expected = pd.read_csv(run_dir / "predictions.csv").head(40)
    images = tmp_path / "images"
    images.mkdir()
    checkpoint = run_dir / "best_model.pt"
    out = tmp_path / "out.csv"
    pixels = _test_pixels(run_dir, expected)
    for i, image in enumerate(pixels):
        Image.fromarray(image.squeeze(-1) if image.shape[-1] == 1 else image).save(images / f"{i:03d}.png")
    result = run_cli([str(checkpoint), str(images), "--out", str(out), "--device", "cpu"], cwd=tmp_path,
                     script="balance-predict")
    assert result.returncode == 0, result.stderr[-2000:]
    predicted = pd.read_csv(out).sort_values("path")
    # every prediction (the run's old head and the re-trained one already agree on about 79 % of the digits, so a
    # share would hardly tell them apart)
    assert (predicted["pred_class"].astype(str).to_numpy() == expected["pred_class"].astype(str).to_numpy()).all()
    assert np.allclose(predicted["confidence"].to_numpy(), expected["confidence"].to_numpy(), atol=1e-5)


def _test_pixels(run_dir, expected):
    """The test images of the run, by source id, as the dataset loader gives them."""
    cfg = OmegaConf.to_container(OmegaConf.load(run_dir / "config.yaml"), resolve=False)
    splits = build(cfg["dataset"], "dataset", name=cfg["dataset"]["name"], input_size=cfg["model"]["input_size"],
                   cache_dir=None)
    index = {s: i for i, s in enumerate(splits.test.source_ids)}
    return np.stack([np.asarray(splits.test.X[index[s]]) for s in expected["source_id"]])
