"""A screen with trainer.epochs=0 on a pretrained backbone: no representation is trained, the features are the
pretrained model's as built (eval mode), and the baseline row is a head trained on the unbalanced features."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from balancelab.cli.compose import compose_job
from balancelab.identity import identity_hash, resolved_without_name
from balancelab.options.build import build
from balancelab.options.validate import validate
from balancelab.sweep import screening
from balancelab.sweep.screen_notice import screen_notice

timm = pytest.importorskip("timm")


def job(experiment: str, weights) -> screening.ScreenJob:
    overrides = [f"experiment={experiment}", "dataset=digits_lt", "model=timm", "model.architecture=test_resnet",
                 "model.input_size=16", "model.pretrained=true", f"model.weights_path={weights}", "trainer.epochs=0",
                 "trainer.batch_size=64", "logger=none", "seed=0"]
    cfg, choices = compose_job(overrides, with_choices=True)
    plain = validate(cfg, choices, screen=True)
    plain["trainer"]["feature_head_epochs"] = 3
    return screening.ScreenJob(experiment, 0, plain, identity_hash(resolved_without_name(cfg)))


def test_a_frozen_pretrained_screen_trains_no_representation_and_its_baseline_is_a_probe(tmp_path, monkeypatch):
    weights = tmp_path / "test_resnet.pth"
    torch.manual_seed(3)
    torch.save(timm.create_model("test_resnet", pretrained=False).state_dict(), weights)

    def trained(*args, **kwargs):
        raise AssertionError("the representation was trained")

    monkeypatch.setattr(screening, "train_representation", trained)
    base = job("baseline", weights)
    info = screening.run_screen(tmp_path / "sweep", {0: base}, [base, job("smote", weights)])
    assert info["screened"] == ["baseline", "smote"]
    assert info["representation"]["training"] == "pretrained, frozen: not trained"

    # the cached features are those of the pretrained model as built, in eval mode
    cache = screening.CachedFeatures.load(screening.features_file(tmp_path / "sweep", 0))
    splits = build(base.cfg["dataset"], "dataset", name="digits_lt", input_size=16, cache_dir=None)
    model = build(base.cfg["model"], "model", num_classes=len(splits.class_names), in_channels=splits.image_shape[-1],
                  input_size=16).eval()
    mean, std = (torch.tensor(model.pretrained_normalization[k]).view(1, -1, 1, 1) for k in ("mean", "std"))
    images = torch.as_tensor(np.asarray(splits.val.X[:8]), dtype=torch.float32).permute(0, 3, 1, 2) / 255.0
    with torch.no_grad():
        features = model.forward_head(model.forward_features((images - mean) / std), pre_logits=True)
    assert np.allclose(cache.features["val"][:8], features.numpy(), atol=1e-5)

    summary = json.loads((tmp_path / "sweep" / "baseline_seed0" / "experiment_summary.json").read_text())
    head = summary["screen"]["head"]
    assert head["epochs"] == 3 and len(head["val_macro_f1"]) == 3 and summary["best_val_macro_f1"] > 0
    assert summary["screen"]["rows_after"] == summary["screen"]["rows_before"]  # unbalanced features: a probe
    notice = screen_notice(tmp_path / "sweep")
    assert "linear probe" in notice and "pretrained backbone" in notice and "trained once per seed" not in notice
