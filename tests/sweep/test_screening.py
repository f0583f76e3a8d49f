"""The screening mode on cached features (balancelab.sweep.screening, pipeline/screening.py): the frozen
representation's backbone runs once per seed, every experiment trains only a head, and what cannot be screened
is said, not run."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from balancelab.cli.compose import compose_job
from balancelab.identity import identity_hash, resolved_without_name
from balancelab.options.validate import validate
from balancelab.sweep import screening
from balancelab.sweep.screen_notice import SCREEN_FILE, screen_notice

SHARED = ["dataset=digits_lt", "trainer.batch_size=64", "logger=none", "seed=0"]


def job(experiment: str, *extra: str, head_epochs: int = 4) -> screening.ScreenJob:
    cfg, choices = compose_job([f"experiment={experiment}", *SHARED, *extra], with_choices=True)
    plain = validate(cfg, choices)
    plain["trainer"]["feature_head_epochs"] = head_epochs
    return screening.ScreenJob(experiment, 0, plain, identity_hash(resolved_without_name(cfg)))


class Backbone(nn.Module):
    """A small frozen 'representation' whose every forward call is counted (rows and calls)."""

    def __init__(self, channels: int):
        super().__init__()
        torch.manual_seed(0)
        self.body = nn.Sequential(nn.AdaptiveAvgPool2d(4), nn.Flatten(), nn.Linear(channels * 16, 12), nn.ReLU())
        self.fc = nn.Linear(12, 10)
        self.calls, self.rows = 0, 0

    def forward(self, x):
        self.calls += 1
        self.rows += len(x)
        return self.fc(self.body(x))


@pytest.fixture
def fake_representation(monkeypatch):
    """The representation's training replaced by nothing and its checkpoint by one counting Backbone, so that
    every backbone forward of the screen is seen."""
    model = Backbone(channels=1)
    monkeypatch.setattr(screening, "train_representation", lambda *a, **k: {"status": "completed"})
    monkeypatch.setattr(screening, "load_checkpoint",
                        lambda path: (model, {"normalization": {"mean": [0.5], "std": [0.25]}}))
    return model


def test_backbone_runs_once_per_seed_and_each_experiment_trains_only_a_head(tmp_path, fake_representation):
    model = fake_representation
    base = job("baseline")
    jobs = [job("baseline"), job("smote"), job("focal_loss")]
    info = screening.run_screen(tmp_path, {0: base}, jobs)

    cache = screening.CachedFeatures.load(screening.features_file(tmp_path, 0))
    split_rows = sum(len(cache.labels[s]) for s in ("train", "val", "test"))
    # one pass over each split, however many experiments: the heads train on the cached features
    assert model.rows == split_rows
    calls_once = model.calls
    assert info["screened"] == ["baseline", "focal_loss", "smote"] and info["not_screenable"] == {}
    summaries = {}
    for experiment in ("baseline", "smote", "focal_loss"):
        folder = tmp_path / f"{experiment}_seed0"
        summaries[experiment] = json.loads((folder / "experiment_summary.json").read_text())
        predictions = pd.read_csv(folder / "predictions.csv")
        assert len(predictions) == len(cache.labels["test"])
        assert (folder / "config.yaml").exists() and (folder / "test_metrics.csv").exists()
    # each head got its own balancing (rows) and loss
    assert summaries["smote"]["screen"]["rows_after"] > summaries["baseline"]["screen"]["rows_after"]
    assert summaries["focal_loss"]["screen"]["loss_on_head_logits"] == "focal"
    assert summaries["baseline"]["screen"]["head"]["epochs"] == 4
    assert not (tmp_path / "smote_seed0" / "best_model.pt").exists()  # no model: a head on features

    # Another experiment later: the cached features are read, the backbone does not run again.
    screening.run_screen(tmp_path, {0: base}, [*jobs, job("random_oversampling")])
    assert model.calls == calls_once
    assert (tmp_path / "random_oversampling_seed0" / "experiment_summary.json").exists()


def test_a_cache_of_another_representation_is_not_reused(tmp_path, fake_representation):
    model = fake_representation
    screening.run_screen(tmp_path, {0: job("baseline")}, [job("baseline")])
    first = model.calls
    other = job("baseline", "trainer.epochs=3")  # another representation identity
    screening.run_screen(tmp_path, {0: other}, [])
    assert model.calls == 2 * first
    assert screening.CachedFeatures.load(screening.features_file(tmp_path, 0)).identity == other.identity


def test_the_heads_differ_by_loss_on_the_same_features(tmp_path, fake_representation):
    """Same features, same balancing (none), same head seed: only the loss differs, and so do the heads."""
    screening.run_screen(tmp_path, {0: job("baseline")}, [job("baseline"), job("balanced_softmax")])
    a = pd.read_csv(tmp_path / "baseline_seed0" / "predictions.csv")
    b = pd.read_csv(tmp_path / "balanced_softmax_seed0" / "predictions.csv")
    probs = [c for c in a.columns if c.startswith("prob_")]
    assert not np.allclose(a[probs].to_numpy(), b[probs].to_numpy())


@pytest.mark.parametrize("experiment, reason", [
    ("offline_augmentation", "does not apply to features"),
    ("deferred_resampling", "does not apply to features"),
    ("ldam", "model.normed_classifier"),
    ("remix", "augmentation.mixup.method"),
])
def test_what_changes_the_representation_is_not_screenable(experiment, reason):
    why = screening.not_screenable(job(experiment).cfg, job("baseline").cfg)
    assert why is not None and reason in why


@pytest.mark.parametrize("experiment", ["smote", "smote_focal", "smote_features", "focal_loss", "balanced_softmax",
                                        "logit_adjusted", "cb_focal", "adasyn"])
def test_balancing_and_loss_experiments_are_screenable(experiment):
    assert screening.not_screenable(job(experiment).cfg, job("baseline").cfg) is None


def test_crt_is_screened_as_class_balanced_sampling_of_the_frozen_features():
    """cRT is the issue's named special case, class-balanced sampling on frozen features: it was left out of the
    screen as 'changing the representation' (found by a review)."""
    from balancelab.pipeline.screening import screened_balancing

    crt = job("crt").cfg
    assert screening.not_screenable(crt, job("baseline").cfg) is None
    assert screened_balancing(crt)["name"] == "weighted_sampler"
    assert screened_balancing(job("smote").cfg)["name"] == "smote"


def test_not_screenable_experiments_are_listed_and_get_no_job(tmp_path, fake_representation):
    info = screening.run_screen(tmp_path, {0: job("baseline")}, [job("baseline"), job("offline_augmentation")])
    assert list(info["not_screenable"]) == ["offline_augmentation"]
    assert not (tmp_path / "offline_augmentation_seed0").exists()
    notice = screen_notice(tmp_path)
    assert notice.startswith("**This is a screen of the classifier stage")
    assert "offline_augmentation" in notice
    assert json.loads((tmp_path / SCREEN_FILE).read_text())["mode"] == "screen"


def test_a_full_sweep_has_no_screen_notice(tmp_path):
    assert screen_notice(tmp_path) is None


def test_a_failed_representation_fails_its_seed_jobs_with_the_reason(tmp_path, monkeypatch):
    from balancelab.errors import DataError

    def fails(*a, **k):
        raise DataError("no epoch finished with a usable model")

    monkeypatch.setattr(screening, "train_representation", fails)
    info = screening.run_screen(tmp_path, {0: job("baseline")}, [job("baseline"), job("smote")])
    assert "no epoch finished" in info["failed_seeds"]["0"]
    for experiment in ("baseline", "smote"):
        failure = json.loads((tmp_path / f"{experiment}_seed0" / "failure.json").read_text())
        assert "no epoch finished" in failure["error"]
    assert "the representation failed" in screen_notice(tmp_path)


def test_a_screen_has_its_own_folder_also_per_dataset_combination(tmp_path):
    """The screen's folder (also as found again by a dataset=[a,b] sweep for its ranks) is never the grid's."""
    from balancelab.cli.sweep_naming import sweep_dir_of as _sweep_dir

    args = [f"output_root={tmp_path}", "dataset=digits_lt"]
    screen, grid = _sweep_dir({"screen": "true"}, args), _sweep_dir({}, args)
    assert screen.name.startswith("screen_small_cnn_digits_lt_") and grid.name.startswith("grid_")
    assert screen.name.split("_")[-1] != grid.name.split("_")[-1]
    assert _sweep_dir({"screen": "true", "name": "s"}, args).name.startswith("s_")


@pytest.mark.slow
def test_experiments_that_screen_to_the_same_head_are_one_row_and_one_holm_comparison(tmp_path, fake_representation):
    """smote and smote_features (the same SMOTE on the same cached features, the same loss) are one screened head,
    as are random_oversampling and its _features twin: counted twice, the Holm family was 5 (stricter than the 3
    distinct comparisons) and each result was reported under two names (found by a review). cRT, screened as
    class-balanced sampling of the features, is its own comparison, tested like the others."""
    from balancelab.sweep.report import build_report

    names = ["baseline", "smote", "smote_features", "random_oversampling", "random_oversampling_features", "crt"]
    info = screening.run_screen(tmp_path, {0: job("baseline")}, [job(n) for n in names])
    assert info["same_head"] == {"smote_features": "smote", "random_oversampling_features": "random_oversampling"}
    assert not (tmp_path / "smote_features_seed0").exists()
    assert not (tmp_path / "random_oversampling_features_seed0").exists()
    build_report(tmp_path)
    table = pd.read_csv(tmp_path / "comparison.csv")
    trained = table[table["row_kind"] == "trained"].set_index("experiment")
    assert sorted(trained.index) == ["baseline", "crt", "random_oversampling", "smote"]
    others = trained.drop(index="baseline")
    assert (others["macro_f1_family_size"] == 3).all() and others["macro_f1_verdict"].notna().all()
    assert "smote_features" in trained.loc["smote", "settings"]
    assert "random_oversampling_features" in trained.loc["random_oversampling", "settings"]
    assert "`smote_features`" in screen_notice(tmp_path)

    # a screen folder made before: its duplicate's job folder is still there, and is not a row of its own
    shutil.copytree(tmp_path / "smote_seed0", tmp_path / "smote_features_seed0")
    config = tmp_path / "smote_features_seed0" / "config.yaml"
    config.write_text(config.read_text().replace("experiment_name: smote", "experiment_name: smote_features"))
    build_report(tmp_path)
    again = pd.read_csv(tmp_path / "comparison.csv")
    assert "smote_features" not in set(again["experiment"])
    assert (again.loc[(again["row_kind"] == "trained") & (again["experiment"] != "baseline"),
                      "macro_f1_family_size"] == 3).all()


def test_the_screen_budget_line_says_what_the_heads_trained(tmp_path, fake_representation):
    """The heads train trainer.feature_head_epochs epochs and ignore trainer.budget: the report's budget line
    printed 'trainer.budget=epochs, <trainer.epochs> epochs per job ... trainer.budget=steps gives every job the
    same number', true of no screened job."""
    from balancelab.sweep.report import build_report

    jobs = [job(n, "trainer.epochs=3", head_epochs=4) for n in ("baseline", "smote", "focal_loss")]
    screening.run_screen(tmp_path, {0: job("baseline", "trainer.epochs=3")}, jobs)
    summary = build_report(tmp_path)
    text = summary["budget"]["text"]
    assert "4 epochs" in text and "trainer.feature_head_epochs" in text
    assert "3 epochs per job" not in text and "trainer.budget=steps gives" not in text
    assert "trainer.budget does not apply to the heads" in text
    assert text in (tmp_path / "comparison.md").read_text()
