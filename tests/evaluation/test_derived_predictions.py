"""A run writes the test predictions of its post-hoc corrections and its cRT, so that a sweep can bootstrap
those rows too (single-seed sweeps get intervals for them); the files agree with the summary's metrics."""

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from balancelab.evaluation import derived
from balancelab.pipeline.best_model import classifier_retraining, posthoc_corrections
from balancelab.sweep.statistics import metric_value
from balancelab.training.batches import DeviceImages, OnlineAugmentation

NAMES = ["a", "b", "c"]
EVALUATION = {"many_shot_min": 100, "few_shot_max": 20}


def split(n, seed, prefix):
    rng = np.random.default_rng(seed)
    y = rng.choice(3, size=n, p=[0.6, 0.3, 0.1])
    X = (rng.normal(0, 30, (n, 4, 4, 1)) + 60 * y[:, None, None, None] + 60).clip(0, 255).astype(np.uint8)
    return SimpleNamespace(X=X, y=y, source_ids=np.array([f"{prefix}{i:03d}" for i in range(n)]))


@pytest.fixture
def run():
    torch.manual_seed(0)
    splits = SimpleNamespace(class_names=NAMES, train=split(60, 0, "tr"), val=split(40, 1, "va"),
                             test=split(50, 2, "te"))
    device = torch.device("cpu")
    data = {name: DeviceImages(part.X, part.y, device, [0.5], [0.3])
            for name, part in (("train", splits.train), ("val", splits.val), ("test", splits.test))}
    model = nn.Sequential(nn.Flatten(), nn.Linear(16, 8), nn.ReLU(), nn.Linear(8, 3))
    return splits, data, model


def check(path, splits, test_metrics):
    table = pd.read_csv(path)
    assert list(table["source_id"]) == list(splits.test.source_ids)
    assert list(table["true_index"]) == list(splits.test.y)
    assert list(table["true_class"]) == [NAMES[i] for i in splits.test.y]
    assert list(table["pred_class"]) == [NAMES[i] for i in table["pred_index"]]
    for metric in ("macro_f1", "balanced_accuracy"):
        assert metric_value(table["true_index"], table["pred_index"], metric) == pytest.approx(test_metrics[metric])


def test_post_hoc_corrections_write_their_test_predictions(tmp_path, run):
    splits, data, model = run
    block = posthoc_corrections(tmp_path, model, data["val"], data["test"], splits, [36, 18, 6], EVALUATION,
                                batch_size=16)
    for result, key in ((derived.POSTHOC_LA, "logit_adjustment"), (derived.POSTHOC_TAU_NORM, "tau_normalisation")):
        assert (tmp_path / result.metrics_file).is_file()
        check(tmp_path / result.predictions_file, splits, block[key]["test"])


def test_crt_writes_its_test_predictions(tmp_path, run):
    splits, data, model = run
    block = classifier_retraining(tmp_path, model, data["train"], data["val"], data["test"], splits, [36, 18, 6],
                                  EVALUATION, epochs=2, batch_size=16, seed=0, augment=OnlineAugmentation(hflip=True))
    check(tmp_path / derived.CRT.predictions_file, splits, block["test"])
    # the stage-2 epoch is chosen on validation, and the summary says how cRT was run
    assert block["chosen_on"] == "validation" and block["best_epoch"] in (1, 2)
    assert len(block["val_macro_f1"]) == 2 and block["online_augmentation"]["hflip"] is True
    table = pd.read_csv(tmp_path / derived.CRT.predictions_file)
    probs = table[[f"prob_{n}" for n in NAMES]].to_numpy()
    assert np.allclose(probs.sum(1), 1, atol=1e-5) and np.array_equal(probs.argmax(1), table["pred_index"])
