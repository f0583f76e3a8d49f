"""trainer.epochs=0 with a pretrained timm backbone from a local weights file (no network): the representation is
taken frozen, as built, and only a classifier head is trained on its features, in a run (feature_balancing) and in
a screen (balance-sweep screen=true), whose baseline row is then a linear probe."""

import json

import pandas as pd
import pytest
import torch

from tests.conftest import noise_image_folder, run_cli

timm = pytest.importorskip("timm")
pytestmark = pytest.mark.slow

OFFLINE = {"HF_HUB_OFFLINE": "1"}
FROZEN = ["model=timm", "model.architecture=test_resnet", "model.input_size=16", "model.pretrained=true",
          "trainer.epochs=0", "trainer.feature_head_epochs=3", "trainer.batch_size=32", "trainer.num_threads=1",
          "logger=none"]


@pytest.fixture
def shapes(tmp_path):
    """A small image folder (two classes, 2:1) and test_resnet's weights saved locally (its own init: pretrained
    in everything but name, which is all the path needs)."""
    root = noise_image_folder(tmp_path / "shapes", (("dark", 40, 70), ("light", 20, 170)), (20, 20, 3), 45)
    weights = tmp_path / "test_resnet.pth"
    torch.manual_seed(1)
    torch.save(timm.create_model("test_resnet", pretrained=False).state_dict(), weights)
    return root, weights


def test_a_feature_run_on_a_frozen_pretrained_backbone_trains_only_the_head_and_predicts(tmp_path, shapes):
    root, weights = shapes
    run = run_cli([*FROZEN, f"model.weights_path={weights}", "experiment=random_oversampling_features",
                   "dataset=image_folder", f"dataset.root={root}", f"output_root={tmp_path}"], cwd=tmp_path,
                  env_extra=OFFLINE)
    assert run.returncode == 0, run.stderr[-3000:]
    (run_dir,) = (tmp_path / "runs").iterdir()
    summary = json.loads((run_dir / "experiment_summary.json").read_text())
    assert summary["status"] == "completed" and summary["test"]["macro_f1"] >= 0
    # honest: nothing trained the representation, and no best epoch is made up for it
    assert summary["epochs_run"] == 0 and summary["best_epoch"] is None
    assert summary["representation"]["training"] == "pretrained, frozen: not trained"
    assert summary["budget"]["steps_done"] == 0
    head = summary["feature_balancing"]["head"]
    assert head["epochs"] == 3 and summary["best_val_macro_f1"] == max(head["val_macro_f1"])
    history = pd.read_csv(run_dir / "history.csv")
    assert len(history) == 0 and "val_macro_f1" in history.columns
    page = (run_dir / "report.html").read_text()
    assert "pretrained, frozen: not trained" in page and "None of 0" not in page
    # the backbone in the checkpoint is the pretrained one as built (only the classifier was re-trained)
    state = torch.load(run_dir / "best_model.pt", weights_only=True)["state_dict"]
    pretrained = torch.load(weights, weights_only=True)
    same = [k for k in state if k in pretrained and state[k].shape == pretrained[k].shape and not k.startswith("fc.")]
    assert len(same) > 10 and all(torch.equal(state[k], pretrained[k]) for k in same)
    # balance-predict reproduces the run's predictions from its checkpoint
    expected = pd.read_csv(run_dir / "predictions.csv")
    out = tmp_path / "out.csv"
    result = run_cli([str(run_dir / "best_model.pt"), *expected["source_id"], "--out", str(out), "--device", "cpu"],
                     cwd=tmp_path, script="balance-predict", env_extra=OFFLINE)
    assert result.returncode == 0, result.stderr[-3000:]
    merged = expected.merge(pd.read_csv(out), left_on="source_id", right_on="path", suffixes=("", "_predicted"))
    assert len(merged) == len(expected) > 0
    assert (merged["pred_class"] == merged["pred_class_predicted"]).all()


def test_a_screen_on_a_frozen_pretrained_backbone_reports_a_linear_probe_baseline(tmp_path, shapes):
    root, weights = shapes
    run = run_cli(["screen=true", "experiments=[baseline,random_oversampling]", "seeds=[0]", *FROZEN,
                   f"model.weights_path={weights}", "dataset=image_folder", f"dataset.root={root}",
                   f"output_root={tmp_path}"], cwd=tmp_path, script="balance-sweep", env_extra=OFFLINE)
    assert run.returncode == 0, run.stderr[-3000:]
    (sweep,) = (tmp_path / "sweeps").iterdir()
    assert not (sweep / "representation" / "seed0" / "experiment_summary.json").exists()  # nothing was trained
    info = json.loads((sweep / "screen.json").read_text())
    assert info["representation"]["training"] == "pretrained, frozen: not trained"
    baseline = json.loads((sweep / "baseline_seed0" / "experiment_summary.json").read_text())
    assert baseline["screen"]["head"]["epochs"] == 3 and len(baseline["screen"]["head"]["val_macro_f1"]) == 3
    assert "linear probe" in " ".join(baseline["notes"])
    comparison = (sweep / "comparison.md").read_text()
    assert "pretrained backbone" in comparison and "linear probe" in comparison
    assert "trained once per seed" not in comparison
