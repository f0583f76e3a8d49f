"""One decision rule per run: with a validation threshold, every file follows the thresholded prediction."""

import numpy as np
import pandas as pd
import pytest

NAMES = ["not_0", "0"]
EVAL = {"many_shot_min": 100, "few_shot_max": 20, "calibration_bins": 10, "threshold_metric": "youden"}


@pytest.fixture
def thresholded_run(tmp_path):
    from balancelab.evaluation.decision import DecisionRule
    from balancelab.pipeline.artifacts import write_test

    rng = np.random.default_rng(0)
    y = np.array([0] * 80 + [1] * 20)
    p1 = np.clip(np.where(y == 1, 0.35, 0.1) + rng.normal(0, 0.08, len(y)), 0.01, 0.99)
    probs = np.column_stack([1 - p1, p1])
    metrics = write_test(tmp_path, y, probs, np.array([f"s{i}" for i in range(len(y))]), NAMES, [300, 30],
                         EVAL, DecisionRule(0.25))
    return tmp_path, y, p1, metrics


def test_predictions_confidence_follows_the_thresholded_prediction(thresholded_run):
    run, y, p1, _ = thresholded_run
    preds = pd.read_csv(run / "predictions.csv")
    pred = (p1 >= 0.25).astype(int)
    assert np.array_equal(preds["pred_index"], pred)
    # the confidence is the probability of the class that was predicted, under the same rule
    expected = np.where(pred == 1, p1, 1 - p1)
    assert np.allclose(preds["confidence"], expected, atol=1e-6)


def test_confidence_analysis_and_confusion_matrix_agree_with_predictions(thresholded_run):
    run, y, p1, _ = thresholded_run
    pred = (p1 >= 0.25).astype(int)
    conf = pd.read_csv(run / "confidence_analysis.csv")
    overall = conf[conf["kind"] == "overall"].iloc[0]
    assert overall["correct_count"] == (pred == y).sum()
    cm = pd.read_csv(run / "confusion_matrix.csv").set_index("true_class")
    assert np.trace(cm.to_numpy()) == (pred == y).sum()


def test_binary_calibration_is_that_of_p_positive(thresholded_run):
    from balancelab.evaluation.calibration import expected_calibration_error

    run, y, p1, metrics = thresholded_run
    assert metrics["ece"] == pytest.approx(expected_calibration_error(p1, y == 1, 10))
    assert metrics["calibration_of"] == "P(positive)"
