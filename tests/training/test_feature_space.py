"""Balancing in feature space: the head re-trained on a balanced feature matrix (training/feature_space.py), the
stage around it (pipeline/feature_space.py) and its config rules (options/validate.py)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from balancelab.errors import ConfigError
from balancelab.identity import identity_hash
from balancelab.options.validate import validate
from balancelab.pipeline.feature_space import feature_space_retraining
from balancelab.training.batches import DeviceImages
from balancelab.training.feature_space import retrain_head, with_head


def _long_tailed_features(seed=0, counts=(200, 20, 5)):
    centres = np.random.default_rng(0).normal(0, 3, (len(counts), 6))  # the same classes for every seed
    rng = np.random.default_rng(seed + 1)
    X = np.concatenate([rng.normal(c, 1.0, (n, 6)) for c, n in zip(centres, counts)]).astype(np.float32)
    return X, np.repeat(np.arange(len(counts)), counts)


def test_head_learns_from_the_rows_it_is_given_and_keeps_its_best_validation_epoch():
    X, y = _long_tailed_features()
    X_val, y_val = _long_tailed_features(1, (30, 30, 30))
    result = retrain_head(X, y, X_val, y_val, out_features=3, epochs=4, batch_size=16, seed=0)
    assert len(result.val_macro_f1) == 4 and result.best_epoch == int(np.argmax(result.val_macro_f1)) + 1
    assert result.lrs[0] == pytest.approx(0.1) and result.lrs[-1] < result.lrs[0]  # cRT's cosine schedule
    assert result.steps_per_epoch == len(y) // 16
    assert max(result.val_macro_f1) > 0.9  # separable clusters


def test_class_balanced_batches_draw_every_class_equally():
    X, y = _long_tailed_features()
    drawn = []
    original = nn.CrossEntropyLoss.forward

    def counting(self, logits, target):
        drawn.append(target.cpu().numpy())
        return original(self, logits, target)

    nn.CrossEntropyLoss.forward = counting
    try:
        retrain_head(X, y, X, y, out_features=3, epochs=1, batch_size=12, seed=0, class_balanced_batches=True)
    finally:
        nn.CrossEntropyLoss.forward = original
    counts = np.bincount(np.concatenate(drawn), minlength=3)
    assert counts.max() - counts.min() <= 4  # 4 rows a class visit


class _Net(nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.body = nn.Sequential(nn.Flatten(), nn.Linear(4 * 4 * 1, 5), nn.ReLU())
        self.head = nn.Linear(5, 3)

    def forward(self, x):
        return self.head(self.body(x))


def _splits(rng, counts):
    y = np.repeat(np.arange(3), counts)
    X = np.clip(rng.normal(60 + 60 * y[:, None, None, None], 20, (len(y), 4, 4, 1)), 0, 255).astype(np.uint8)
    return SimpleNamespace(X=X, y=y, source_ids=np.array([f"img{i}.png" for i in range(len(y))]))

OVERSAMPLING = {"_target_": "balancelab.balancing.simple.RandomOversampling", "name": "random_oversampling",
                "sampling_strategy": "auto"}


def three_class_problem(seed: int = 0):
    """(splits with a 60/12/6 training split and a balanced validation split, a function placing a split on the
    CPU as the training set's images): the small problem the feature-space stage tests share."""
    rng = np.random.default_rng(seed)
    train, val = _splits(rng, (60, 12, 6)), _splits(rng, (10, 10, 10))
    splits = SimpleNamespace(train=train, val=val, class_names=["a", "b", "c"])
    return splits, lambda s: DeviceImages(s.X, s.y, torch.device("cpu"), [0.5], [0.25])



@pytest.mark.parametrize("technique,target", [("smote", "balancelab.balancing.synthetic.Smote"),
                                              ("random_oversampling", "balancelab.balancing.simple.RandomOversampling")])
def test_the_stage_trains_the_head_on_balanced_counts_and_names_real_parents(tmp_path, technique, target):
    splits, data = three_class_problem()
    train, val = splits.train, splits.val
    model = _Net()
    best_state = {k: v.clone() for k, v in model.state_dict().items()}
    node = {"_target_": target, "name": technique, "sampling_strategy": "auto",
            **({"k_neighbors": 3, "feature_size": None, "knn_backend": "auto"} if technique == "smote" else {})}
    block, state = feature_space_retraining(tmp_path, model, best_state, data(train), data(val), splits, node, epochs=2,
                                            batch_size=8, eval_batch_size=32, seed=0, device=torch.device("cpu"))
    assert block["class_counts_before"] == {"a": 60, "b": 12, "c": 6}
    assert block["class_counts_after"] == {"a": 60, "b": 60, "c": 60} and block["rows_after"] == 180
    assert block["features"]["shape"] == [78, 5] and block["features"]["layer"] == "head"
    assert block["head"]["sampling"].endswith(f"{180 // 8} batches an epoch")
    # the head in the returned state is new; the representation is the trained one, untouched
    assert not torch.equal(state["head.weight"], best_state["head.weight"])
    assert all(torch.equal(state[k], best_state[k]) for k in best_state if not k.startswith("head."))
    provenance = tmp_path / "synthetic_provenance.csv"
    if technique == "smote":
        table = pd.read_csv(provenance)
        assert (table["space"] == "features").all() and len(table) == block["synthetic_rows"] == 102
        assert set(table["parent_a"]) <= set(train.source_ids) and set(table["parent_b"]) <= set(train.source_ids)
        assert (train.y[table["parent_a_index"]] == table["class"].map({"a": 0, "b": 1, "c": 2})).all()
        assert ((table["t"] >= 0) & (table["t"] <= 1)).all()
    else:
        assert not provenance.exists()  # copies only: no synthetic rows


def test_with_head_refuses_a_head_of_another_shape():
    state = _Net().state_dict()
    with pytest.raises(ConfigError, match="cannot be put back"):
        with_head(state, "head", nn.Linear(7, 3))


def _validated(composed, overrides):
    from hydra.core.global_hydra import GlobalHydra

    GlobalHydra.instance().clear()
    return validate(composed(overrides))


def test_offline_augmentation_in_feature_space_is_refused_naming_option_rule_and_fix(composed):
    with pytest.raises(ConfigError) as err:
        _validated(composed, ["balancing@feature_balancing=offline_augmentation"])
    message = str(err.value)
    assert "feature_balancing=offline_augmentation cannot balance features" in message
    assert "no pixels" in message and "balancing@feature_balancing=smote" in message


@pytest.mark.parametrize("overrides,expected", [
    (["trainer.feature_head_epochs=3"], "used only by balancing in feature space"),
    (["experiment=smote_features", "trainer.crt_epochs=2"], "both re-train"),
    (["experiment=smote_features", "feature_balancing.feature_size=8"], "feature vectors"),
    (["experiment=smote_features", "loss=bce", "dataset=digits_binary"], "one logit"),
])
def test_settings_that_would_not_take_effect_are_refused(composed, overrides, expected):
    with pytest.raises(ConfigError, match=expected):
        _validated(composed, overrides)


def test_the_feature_space_experiments_are_accepted_and_off_leaves_the_identity_unchanged(composed):
    for name in ("smote_features", "adasyn_features", "random_oversampling_features"):
        plain = _validated(composed, [f"experiment={name}"])
        assert plain["feature_balancing"]["name"] == name[:-len("_features")]
        assert plain["balancing"]["name"] == "none" and plain["experiment_group"] == "feature_space"
    default = _validated(composed, [])
    assert default["feature_balancing"] is None
    without_key = {k: v for k, v in default.items() if k != "feature_balancing"}
    without_key["trainer"] = {k: v for k, v in default["trainer"].items() if k != "feature_head_epochs"}
    assert identity_hash(default) == identity_hash(without_key)  # run folders named as before the option


def test_the_default_grid_is_unchanged_and_group_feature_space_holds_the_three_rows():
    from balancelab.sweep.grid import select

    assert not [n for n in select() if n.endswith("_features")]
    assert set(select(group="feature_space")) == {"baseline", "smote_features", "adasyn_features",
                                                  "random_oversampling_features"}


def test_the_head_is_trained_with_the_runs_loss_not_silently_with_cross_entropy(tmp_path):
    """experiment=smote_features loss=focal: the focal loss was used for the representation only and the head
    was cross-entropy whatever the run chose (found by a review)."""
    splits, data = three_class_problem()
    train, val = splits.train, splits.val
    node = dict(OVERSAMPLING)
    heads = {}
    for loss in (None, {"_target_": "balancelab.losses.focal", "name": "focal", "gamma": 5.0, "alpha": None,
                        "weights_from": "original", "drw_epoch": None, "drw_beta": 0.9999}):
        model = _Net()
        best_state = {k: v.clone() for k, v in model.state_dict().items()}
        block, state = feature_space_retraining(tmp_path, model, best_state, data(train), data(val), splits, node,
                                                epochs=2, batch_size=8, eval_batch_size=32, seed=0,
                                                device=torch.device("cpu"), loss_node=loss)
        heads[block["head"]["loss"].split()[0]] = state["head.weight"]
    assert set(heads) == {"ce", "focal"}
    assert not torch.allclose(heads["ce"], heads["focal"])


def test_a_deferred_loss_with_feature_balancing_is_refused(composed):
    with pytest.raises(ConfigError, match=r"loss\.drw_epoch=.*feature_balancing.*loss\.drw_epoch=null"):
        _validated(composed, ["experiment=smote_features", "loss=ldam", "loss.drw_epoch=5"])


def test_head_epochs_set_for_a_whole_sweep_reach_its_feature_rows_and_spare_the_others(composed):
    """balance-sweep experiments=[baseline,smote_features] trainer.feature_head_epochs=3 was refused for the
    baseline job (found by a review); a single run without feature balancing still refuses it."""
    plain = _validated(composed, ["experiment=baseline", "trainer.feature_head_epochs=3", "sweep_name=grid"])
    assert plain["trainer"]["feature_head_epochs"] == 3
    base = _validated(composed, ["experiment=baseline", "sweep_name=grid"])
    assert identity_hash(plain) == identity_hash(base)
    with pytest.raises(ConfigError, match="feature_head_epochs"):
        _validated(composed, ["experiment=baseline", "trainer.feature_head_epochs=3"])


def test_an_imbalanced_learn_sampler_used_directly_has_its_copies_counted_as_copies(tmp_path):
    """_target_: imblearn.over_sampling.RandomOverSampler reported every row, the real ones too, as synthetic
    (found by a review): rows equal to a training row are copies of it."""
    splits, data = three_class_problem()
    train, val = splits.train, splits.val
    model = _Net()
    best_state = {k: v.clone() for k, v in model.state_dict().items()}
    node = {"_target_": "imblearn.over_sampling.RandomOverSampler", "name": "mine"}
    block, _ = feature_space_retraining(tmp_path, model, best_state, data(train), data(val), splits, node, epochs=1,
                                        batch_size=8, eval_batch_size=32, seed=0, device=torch.device("cpu"))
    assert block["rows_after"] == 180 and block["synthetic_rows"] == 0
