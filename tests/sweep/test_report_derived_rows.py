"""Post-hoc and cRT rows of a sweep report: their own family, their own ranking, honest labels and status."""

import json
import re

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
import yaml
from sklearn.metrics import balanced_accuracy_score, f1_score, recall_score

from balancelab.evaluation import derived
from balancelab.sweep.report import build_report
from balancelab.sweep.statistics import ONE_MODEL_SCOPE
from tests.sweep.test_report_statistics import CLASSES, MINORITY, noisy, write_job


def scores(y_true, y_pred):
    return {"accuracy": float(np.mean(y_true == y_pred)),
            "balanced_accuracy": float(balanced_accuracy_score(y_true, y_pred)),
            "macro_f1": float(f1_score(y_true, y_pred, average="macro", labels=np.unique(y_true))),
            "minority_class_recall": float(recall_score(y_true, y_pred, labels=[MINORITY], average=None)[0])}


def add_derived(folder, result, y_true, y_pred):
    """The run's derived result: its summary block, test metrics and predictions, as a run writes them."""
    path = folder / "experiment_summary.json"
    summary = json.loads(path.read_text())
    block = {"tau": 1.0, "test": scores(y_true, y_pred)}
    if result.key:
        summary.setdefault(result.block, {})[result.key] = block
    else:
        summary[result.block] = block
    path.write_text(json.dumps(summary))
    derived.predictions_table(y_true, y_pred, [f"img{i:03d}" for i in range(len(y_true))], CLASSES).to_csv(
        folder / result.predictions_file, index=False)


@pytest.fixture
def y_true():
    return np.repeat([0, 1, 2], [60, 30, 15])


ACCURACY = {"baseline": 0.55, "ros": 0.9}


def two_experiment_sweep(root, y_true, with_derived=True):
    rng = np.random.default_rng(11)
    for seed in (0, 1, 2):
        for experiment, accuracy in ACCURACY.items():
            write_job(root, experiment, seed, y_true, noisy(y_true, accuracy, rng))
    if with_derived:
        add_every_derived_result(root, y_true)


def add_every_derived_result(root, y_true):
    rng = np.random.default_rng(12)
    for seed in (0, 1, 2):
        for experiment, accuracy in ACCURACY.items():
            for result in derived.DERIVED_RESULTS:
                add_derived(root / f"{experiment}_seed{seed}", result, y_true, noisy(y_true, accuracy + 0.03, rng))


def test_post_hoc_rows_change_neither_the_trained_rows_family_nor_their_verdicts(tmp_path, y_true):
    """The reviewer's case: 2 trained experiments are 1 comparison, not 1 + 5 derived rows' worth."""
    two_experiment_sweep(tmp_path, y_true, with_derived=False)
    build_report(tmp_path)
    a = pd.read_csv(tmp_path / "comparison.csv").set_index("experiment")
    add_every_derived_result(tmp_path, y_true)
    build_report(tmp_path)
    b = pd.read_csv(tmp_path / "comparison.csv").set_index("experiment")
    extended = tmp_path
    assert len(b) == 2 + 2 * len(derived.DERIVED_RESULTS)
    for metric in ("macro_f1", "balanced_accuracy", "minority_class_recall"):
        assert b.loc["ros", f"{metric}_family_size"] == 1
        for suffix in ("p_value", "p_holm", "diff_ci_corrected_low", "diff_ci_corrected_high", "verdict"):
            column = f"{metric}_{suffix}"
            assert a.loc["ros", column] == b.loc["ros", column], column
    assert b.loc["ros", "macro_f1_verdict"] == "better"
    # the derived rows have statistics of their own, in families of their own
    long = pd.read_csv(extended / "statistics.csv")
    assert set(long["family"]) == {"trained vs baseline", "derived vs baseline", "derived vs its trained model"}
    own = long[(long["family"] == "derived vs its trained model") & (long["experiment"] == "ros + posthoc_la")]
    assert set(own["reference"]) == {"ros"}
    assert np.isfinite(b.loc["ros + posthoc_la", "macro_f1_vs_source_paired_diff"])


def test_ranks_and_best_experiment_are_among_the_trained_experiments(tmp_path, y_true):
    two_experiment_sweep(tmp_path, y_true)
    summary = build_report(tmp_path)
    table = pd.read_csv(tmp_path / "comparison.csv").set_index("experiment")
    trained = table[table["row_kind"] == "trained"]
    assert sorted(trained["rank"]) == [1, 2] and table.loc[table["row_kind"] == "derived", "rank"].isna().all()
    assert table["rank_with_derived"].notna().all() and table["rank_with_derived"].max() == len(table)
    assert summary["best_experiment"] == "ros" and summary["best_experiment"] in trained.index
    assert summary["best_derived_row"] in table.index[table["row_kind"] == "derived"]
    assert summary["jobs"] == 6
    page = (tmp_path / "report.html").read_text()
    assert re.search(r"<dt>jobs</dt><dd>6 completed</dd>", page), re.findall(r"<dt>jobs</dt><dd>[^<]*</dd>", page)
    assert "<dt>trained experiments</dt><dd>2</dd>" in page
    assert "<dt>best trained experiment (macro-F1)</dt><dd>ros</dd>" in page


def test_derived_rows_of_a_partly_failed_experiment_are_partial(tmp_path, y_true):
    rng = np.random.default_rng(3)
    for seed in (0, 1):
        for experiment in ("baseline", "ros"):
            write_job(tmp_path, experiment, seed, y_true, noisy(y_true, 0.7, rng))
            add_derived(tmp_path / f"{experiment}_seed{seed}", derived.POSTHOC_LA, y_true, noisy(y_true, 0.7, rng))
    failed = tmp_path / "ros_seed2"
    failed.mkdir()
    (failed / "config.yaml").write_text((tmp_path / "ros_seed0" / "config.yaml").read_text().replace("seed: 0", "seed: 2"))
    (failed / "failure.json").write_text(json.dumps({"error_type": "RuntimeError", "error": "boom"}))
    build_report(tmp_path)
    table = pd.read_csv(tmp_path / "comparison.csv").set_index("experiment")
    assert table.loc["ros", "status"] == "partial"
    assert table.loc["ros + posthoc_la", "status"] == "partial"
    assert table.loc["baseline + posthoc_la", "status"] == "ok"
    text = (tmp_path / "comparison.md").read_text()
    assert "ros + posthoc_la [partial]" in text


def test_a_single_seed_derived_row_gets_a_bootstrap_from_its_predictions(tmp_path, y_true):
    rng = np.random.default_rng(5)
    for experiment, accuracy in (("baseline", 0.5), ("ros", 0.55)):
        write_job(tmp_path, experiment, 0, y_true, noisy(y_true, accuracy, rng))
        add_derived(tmp_path / f"{experiment}_seed0", derived.POSTHOC_LA, y_true, noisy(y_true, 0.97, rng))
    build_report(tmp_path)
    table = pd.read_csv(tmp_path / "comparison.csv").set_index("experiment")
    row = table.loc["ros + posthoc_la"]
    assert np.isfinite(row["macro_f1_boot_ci_low"]) and row["macro_f1_test"] == "two-level"
    assert row["macro_f1_verdict"] == "better" and row["macro_f1_vs_source_verdict"] == "better"
    assert row["macro_f1_scope"] == ONE_MODEL_SCOPE  # one seed: about these trained models on this test set


def test_the_crt_experiment_rows_cannot_be_mistaken_for_each_other(tmp_path, y_true):
    rng = np.random.default_rng(6)
    for experiment in ("baseline", "crt"):
        write_job(tmp_path, experiment, 0, y_true, noisy(y_true, 0.6, rng))
    path = tmp_path / "crt_seed0" / "config.yaml"
    cfg = yaml.safe_load(path.read_text())
    cfg["trainer"] = {"crt_epochs": 10}
    path.write_text(yaml.safe_dump(cfg))
    add_derived(tmp_path / "crt_seed0", derived.CRT, y_true, noisy(y_true, 0.8, rng))
    build_report(tmp_path)
    table = pd.read_csv(tmp_path / "comparison.csv").set_index("experiment")
    assert "crt + cRT" in table.index and "crt + crt" not in table.index
    assert "before its cRT stage" in table.loc["crt", "row_description"]
    assert "cRT" in table.loc["crt + cRT", "row_description"]
    text = (tmp_path / "comparison.md").read_text()
    assert "| crt [before cRT, n=1] |" in text and "crt + cRT" in text
    assert table.loc["crt", "macro_f1_verdict"].startswith("not tested")  # no null hypothesis in the family


def test_the_published_corrected_interval_agrees_with_the_verdict(tmp_path, y_true):
    rng = np.random.default_rng(8)
    for seed in (0, 1, 2):
        for experiment, accuracy in (("baseline", 0.6), ("a", 0.62), ("b", 0.9), ("c", 0.3), ("d", 0.66)):
            write_job(tmp_path, experiment, seed, y_true, noisy(y_true, accuracy, rng))
    build_report(tmp_path)
    table = pd.read_csv(tmp_path / "comparison.csv")
    table = table[table["experiment"] != "baseline"]
    for metric in ("macro_f1", "balanced_accuracy", "minority_class_recall"):
        low, high = table[f"{metric}_diff_ci_corrected_low"], table[f"{metric}_diff_ci_corrected_high"]
        verdict = table[f"{metric}_verdict"]
        assert np.array_equal(verdict == "better", low > 0) and np.array_equal(verdict == "worse", high < 0)
        assert np.array_equal(verdict.isin(["better", "worse"]), table[f"{metric}_p_holm"] < 0.05)
    # the cell next to the verdict shows that same interval
    text = (tmp_path / "comparison.md").read_text()
    row = table.set_index("experiment").loc["b"]
    shown = f"[{row['macro_f1_diff_ci_corrected_low']:+.4f}, {row['macro_f1_diff_ci_corrected_high']:+.4f}]"
    assert shown in text


def test_identical_per_seed_differences_are_decided_by_the_same_two_level_test(tmp_path, y_true):
    rng = np.random.default_rng(9)
    base, better = noisy(y_true, 0.5, rng), noisy(y_true, 0.95, rng)
    for seed in (0, 1, 2):  # the same predictions in every seed: identical differences
        write_job(tmp_path, "baseline", seed, y_true, base)
        write_job(tmp_path, "same_gain", seed, y_true, better)
    build_report(tmp_path)
    row = pd.read_csv(tmp_path / "comparison.csv").set_index("experiment").loc["same_gain"]
    assert row["macro_f1_test"] == "two-level" and row["macro_f1_verdict"] == "better"
    assert row["macro_f1_seed_share"] == 0  # the seeds agree exactly: all the noise is the test images'
    text = (tmp_path / "comparison.md").read_text()
    line = next(l for l in text.splitlines() if l.startswith("| 1 | same_gain"))
    assert "—" not in line.split("|")[8]
    from balancelab.sweep.plots import comparison_bars, difference_intervals

    intervals = difference_intervals(pd.read_csv(tmp_path / "comparison.csv"), "macro_f1").set_index("experiment")
    assert intervals.loc["same_gain", "source"] == "two-level"
    plt.close(comparison_bars(pd.read_csv(tmp_path / "comparison.csv")))
