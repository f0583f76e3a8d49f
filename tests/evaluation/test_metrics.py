import numpy as np
import pytest

from balancelab.evaluation.calibration import confidence_table, expected_calibration_error
from balancelab.evaluation.metrics import confusion_table, headline_metrics, per_class_table, shot_buckets

NAMES = ["a", "b", "c"]


def test_per_class_table_keeps_absent_classes():
    table = per_class_table(np.array([0, 0, 1]), np.array([0, 1, 1]), NAMES)
    assert table["class"].tolist()[:3] == NAMES
    c = table[table["class"] == "c"].iloc[0]
    assert c["support"] == 0 and np.isnan(c["f1"])  # undefined without a sample
    assert {"macro avg", "weighted avg", "accuracy", "balanced accuracy"} <= set(table["class"])


def test_confusion_table_full_mapping():
    cm = confusion_table(np.array([0, 1]), np.array([0, 0]), NAMES)
    assert cm.shape == (3, 4) and cm.loc[1, "a"] == 1


def test_shot_buckets_and_headline():
    buckets = shot_buckets([150, 50, 5], 100, 20)
    assert buckets == {"many": [0], "medium": [1], "few": [2]}
    y_true = np.array([0, 0, 1, 1, 2, 2])
    y_pred = np.array([0, 0, 1, 0, 2, 0])
    m = headline_metrics(y_true, y_pred, NAMES, [150, 50, 5], 100, 20)
    assert m["minority_class"] == "c" and m["minority_class_recall"] == 0.5
    assert m["many_shot_accuracy"] == 1.0 and m["few_shot_accuracy"] == 0.5
    assert m["accuracy"] == pytest.approx(4 / 6)


def test_ece_perfectly_calibrated_and_overconfident():
    conf = np.array([0.8] * 10)
    correct = np.array([True] * 8 + [False] * 2)
    assert expected_calibration_error(conf, correct, 10) == pytest.approx(0.0)
    assert expected_calibration_error(np.ones(4), np.array([True, False, False, False]), 10) == pytest.approx(0.75)


def test_confidence_table_rows():
    probs = np.array([[0.9, 0.05, 0.05], [0.6, 0.3, 0.1], [0.2, 0.7, 0.1]])
    y = np.array([0, 1, 1])
    pred, conf = probs.argmax(1), probs.max(1)
    table = confidence_table(y, pred, conf, NAMES, conf, pred == y, "confidence of the predicted class", bins=5)
    overall = table[table["kind"] == "overall"].iloc[0]
    assert overall["correct_count"] == 2 and overall["wrong_count"] == 1
    assert overall["mean_confidence_wrong"] == pytest.approx(0.6)
    assert (table["kind"] == "class").sum() == 3 and (table["kind"] == "calibration_bin").sum() == 5


def test_threshold_choice_and_operating_point():
    from balancelab.evaluation.binary import choose_threshold, operating_point, threshold_table

    y = np.array([0, 0, 0, 0, 1, 1])
    p = np.array([0.1, 0.2, 0.3, 0.6, 0.7, 0.9])
    t = choose_threshold(y, p, "youden")
    assert 0.6 < t <= 0.7  # separates the classes perfectly
    point = operating_point(y, p, t)
    assert point["recall"] == 1.0 and point["specificity"] == 1.0 and point["tp"] == 2 and point["tn"] == 4
    low = operating_point(y, p, 0.5)
    assert low["fp"] == 1 and low["precision"] == pytest.approx(2 / 3)
    table = threshold_table(y, p, "test")
    assert (table["split"] == "test").all() and table["recall"].is_monotonic_decreasing


def test_macro_f1_averages_over_the_classes_present_in_the_split():
    """Perfect predictions on a test split that lacks class c: macro-F1 is 1, not 2/3."""
    y = np.array([0, 0, 1, 1])
    m = headline_metrics(y, y.copy(), NAMES, [150, 50, 5], 100, 20)
    assert m["macro_f1"] == 1.0 and m["balanced_accuracy"] == 1.0 and m["accuracy"] == 1.0
    assert m["absent_classes"] == ["c"]
    table = per_class_table(y, y.copy(), NAMES).set_index("class")
    assert table.loc["macro avg", "f1"] == 1.0
    assert np.isnan(table.loc["c", "recall"])  # undefined for a class with no sample, not 0


def test_a_wrong_prediction_of_an_absent_class_still_costs():
    y = np.array([0, 0, 1, 1])
    pred = np.array([0, 0, 1, 2])  # one sample of b predicted as the absent c
    m = headline_metrics(y, pred, NAMES, [150, 50, 5], 100, 20)
    assert m["macro_f1"] < 1.0 and m["balanced_accuracy"] == 0.75
