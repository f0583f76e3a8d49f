"""posthoc_corrections adjusts by the prior the checkpoint was trained under, records it, and skips the
adjustment (saying so) where that prior is uniform: every tau would give the model's own predictions."""

import numpy as np
import pytest

from balancelab.evaluation import derived
from balancelab.pipeline.best_model import posthoc_corrections
from balancelab.evaluation.posthoc import model_outputs, posthoc_logit_adjustment
from tests.evaluation.test_derived_predictions import EVALUATION, run  # noqa: F401  (fixture)

ORIGINAL = [36, 18, 6]


def _prior(shares, uniform=False, **extra):
    shares = np.asarray(shares, dtype=np.float64)
    return {"shares": shares.tolist(), "counts": (shares * 60).tolist(), "source": "test batches", "epoch": 4,
            "uniform": uniform, **extra}


def test_the_adjustment_uses_the_trained_prior_and_records_it(tmp_path, run):  # noqa: F811
    splits, data, model = run
    prior = _prior([0.1, 0.2, 0.7])  # the batches favoured class c: the adjustment must lower c, not raise it
    block = posthoc_corrections(tmp_path, model, data["val"], data["test"], splits, ORIGINAL, EVALUATION,
                                batch_size=16, prior=prior)
    val_logits, _ = model_outputs(model, data["val"], 16, features=False)
    test_logits, _ = model_outputs(model, data["test"], 16, features=False)
    expected = posthoc_logit_adjustment(val_logits=val_logits, val_labels=splits.val.y, test_logits=test_logits,
                                        test_labels=splits.test.y, class_counts=prior["counts"])
    la = block["logit_adjustment"]
    assert la["tau"] == expected.tau and la["val_scores"] == {str(t): s for t, s in expected.val_scores.items()}
    assert la["prior"] == {"source": "test batches", "epoch": 4, "shares": prior["shares"]}
    if expected.tau:  # and not by the original counts
        original = posthoc_logit_adjustment(val_logits=val_logits, val_labels=splits.val.y, test_logits=test_logits,
                                            test_labels=splits.test.y, class_counts=ORIGINAL)
        assert la["val_scores"] != {str(t): s for t, s in original.val_scores.items()}


def test_without_a_prior_the_training_counts_are_used(tmp_path, run):  # noqa: F811
    splits, data, model = run
    block = posthoc_corrections(tmp_path, model, data["val"], data["test"], splits, ORIGINAL, EVALUATION,
                                batch_size=16)
    assert block["logit_adjustment"]["prior"]["source"] == "the training split's counts"


def test_a_uniform_prior_skips_the_adjustment_and_says_why(tmp_path, run):  # noqa: F811
    splits, data, model = run
    block = posthoc_corrections(tmp_path, model, data["val"], data["test"], splits, ORIGINAL, EVALUATION,
                                batch_size=16, prior=_prior([1 / 3] * 3, uniform=True))
    la = block["logit_adjustment"]
    assert "test" not in la and "uniform" in la["skipped"] and "identical to the model" in la["skipped"]
    assert la["prior"]["shares"] == pytest.approx([1 / 3] * 3)
    assert derived.POSTHOC_LA.result_of({"posthoc": block}) is None  # no derived row in a sweep
    assert not (tmp_path / derived.POSTHOC_LA.predictions_file).exists()
    assert "test" in block["tau_normalisation"]  # the other correction is unaffected


def test_a_loss_that_corrects_the_prior_is_noted(tmp_path, run):  # noqa: F811
    splits, data, model = run
    block = posthoc_corrections(tmp_path, model, data["val"], data["test"], splits, ORIGINAL, EVALUATION,
                                batch_size=16, prior=_prior([0.6, 0.3, 0.1], note="loss=balanced_softmax adds ..."))
    assert block["logit_adjustment"]["prior"]["note"] == "loss=balanced_softmax adds ..."
