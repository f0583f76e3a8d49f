"""The sweep comparison carries paired statistics against baseline, checked here with scipy directly."""

import json

import numpy as np
import pandas as pd
import pytest
import yaml
from scipy import stats
from sklearn.metrics import balanced_accuracy_score, f1_score, recall_score

from balancelab.sweep.report import build_report

CLASSES = ["a", "b", "c"]
MINORITY = 2


def write_job(root, experiment, seed, y_true, y_pred, status="completed"):
    """A finished job whose summary metrics are those of its predictions.csv (as a real run's are)."""
    folder = root / f"{experiment}_seed{seed}"
    folder.mkdir()
    cfg = {"experiment_name": experiment, "experiment_group": "g", "seed": seed, "model": {"name": "m"},
           "dataset": {"name": "d"}, "balancing": {"name": experiment}, "loss": {"name": "ce"}}
    (folder / "config.yaml").write_text(yaml.safe_dump(cfg))
    test = {"accuracy": float(np.mean(y_true == y_pred)),
            "balanced_accuracy": float(balanced_accuracy_score(y_true, y_pred)),
            "macro_f1": float(f1_score(y_true, y_pred, average="macro", labels=np.unique(y_true))),
            "weighted_f1": 0.0, "ece": 0.1,
            "minority_class_recall": float(recall_score(y_true, y_pred, labels=[MINORITY], average=None)[0]),
            "minority_class": CLASSES[MINORITY]}
    (folder / "experiment_summary.json").write_text(json.dumps(
        {"status": status, "test": test, "stage_seconds": {"training": 1.0},
         "validation_at_best_epoch": {"macro_f1": test["macro_f1"]}}))
    pd.DataFrame({"source_id": [f"img{i:03d}" for i in range(len(y_true))], "true_index": y_true,
                  "true_class": [CLASSES[i] for i in y_true], "pred_index": y_pred,
                  "pred_class": [CLASSES[i] for i in y_pred]}).to_csv(folder / "predictions.csv", index=False)
    return test


def noisy(y_true, accuracy, rng):
    wrong = rng.random(len(y_true)) > accuracy
    return np.where(wrong, rng.integers(0, len(CLASSES), len(y_true)), y_true)


@pytest.fixture
def y_true():
    return np.repeat([0, 1, 2], [60, 30, 15])


def test_three_seeds_informative_t_test_matches_scipy_and_the_verdicts_follow_holm(tmp_path, y_true):
    rng = np.random.default_rng(1)
    accuracy = {"baseline": 0.6, "strong": 0.95, "same": 0.6, "weak": 0.3}
    scores = {e: {s: write_job(tmp_path, e, s, y_true, noisy(y_true, acc, rng)) for s in (0, 1, 2)}
              for e, acc in accuracy.items()}
    build_report(tmp_path)
    table = pd.read_csv(tmp_path / "comparison.csv").set_index("experiment")
    others = ["strong", "same", "weak"]
    for metric in ("macro_f1", "balanced_accuracy", "minority_class_recall"):
        for e in others:
            x = np.array([scores[e][s][metric] for s in (0, 1, 2)])
            y = np.array([scores["baseline"][s][metric] for s in (0, 1, 2)])
            d = x - y
            half = stats.t.ppf(0.975, df=2) * d.std(ddof=1) / np.sqrt(3)
            row = table.loc[e]
            assert np.isclose(row[f"{metric}_paired_diff"], d.mean())
            assert np.isclose(row[f"{metric}_diff_ci_low"], d.mean() - half)   # the t-test over seeds, informative
            assert np.isclose(row[f"{metric}_diff_ci_high"], d.mean() + half)
            assert np.isclose(row[f"{metric}_p_ttest"], stats.ttest_rel(x, y).pvalue)
            assert np.isnan(row[f"{metric}_p_wilcoxon"])  # fewer than six seeds
            assert row[f"{metric}_n_pairs"] == 3 and row[f"{metric}_test"] == "two-level"
            assert np.isfinite(row[f"{metric}_boot_ci_low"]) and row[f"{metric}_boot_ci_low"] <= row[f"{metric}_boot_ci_high"]
        # Holm by hand over the decisive p-values: sort, multiply by (m - rank), running maximum, cap at 1.
        raw_p = {e: table.loc[e, f"{metric}_p_value"] for e in others}
        running = 0.0
        for i, e in enumerate(sorted(others, key=raw_p.get)):
            running = max(running, min(1.0, (3 - i) * raw_p[e]))
            assert np.isclose(table.loc[e, f"{metric}_p_holm"], running)
            expected = ("no detectable difference" if running >= 0.05 else
                        "better" if table.loc[e, f"{metric}_paired_diff"] > 0 else "worse")
            assert table.loc[e, f"{metric}_verdict"] == expected
            low = table.loc[e, f"{metric}_diff_ci_corrected_low"]
            high = table.loc[e, f"{metric}_diff_ci_corrected_high"]
            assert (low > 0 or high < 0) == (running < 0.05)
    assert table.loc["strong", "macro_f1_verdict"] == "better"
    assert table.loc["weak", "macro_f1_verdict"] == "worse"
    assert table.loc["baseline", "macro_f1_verdict"] == "reference"
    markdown = (tmp_path / "comparison.md").read_text()
    assert "better" in markdown and "worse" in markdown and "Holm" in markdown
    assert markdown.startswith("# Sweep comparison\n\n**Answer.** macro-F1, 3 seeds: the best technique is strong")
    long = pd.read_csv(tmp_path / "statistics.csv")
    assert len(long) == 3 * 3 and {"experiment", "metric", "verdict", "p_holm", "family", "seed_share",
                                   "p_mc_error"} <= set(long.columns)


def test_one_seed_gets_a_paired_bootstrap_interval_and_a_verdict_from_it(tmp_path, y_true):
    rng = np.random.default_rng(2)
    base = write_job(tmp_path, "baseline", 0, y_true, noisy(y_true, 0.5, rng))
    strong = write_job(tmp_path, "strong", 0, y_true, noisy(y_true, 0.98, rng))
    build_report(tmp_path)
    row = pd.read_csv(tmp_path / "comparison.csv").set_index("experiment").loc["strong"]
    assert np.isnan(row["macro_f1_p_ttest"]) and np.isnan(row["macro_f1_diff_ci_low"])
    assert np.isclose(row["macro_f1_paired_diff"], strong["macro_f1"] - base["macro_f1"])
    assert row["macro_f1_boot_ci_low"] < strong["macro_f1"] - base["macro_f1"] < row["macro_f1_boot_ci_high"]
    assert row["macro_f1_boot_ci_low"] > 0 and row["macro_f1_verdict"] == "better"
    assert np.isfinite(row["minority_class_recall_boot_ci_low"])  # the minority class comes from the summaries
    # Seeded: a rebuild gives the same interval.
    build_report(tmp_path)
    again = pd.read_csv(tmp_path / "comparison.csv").set_index("experiment").loc["strong"]
    assert again["macro_f1_boot_ci_low"] == row["macro_f1_boot_ci_low"]


def test_predictions_of_different_test_sets_leave_the_seed_statistics_and_say_why(tmp_path, y_true):
    rng = np.random.default_rng(3)
    for s in (0, 1):
        write_job(tmp_path, "baseline", s, y_true, noisy(y_true, 0.6, rng))
        write_job(tmp_path, "other", s, y_true, noisy(y_true, 0.6, rng))
    path = tmp_path / "other_seed1" / "predictions.csv"
    frame = pd.read_csv(path)
    frame.loc[0, "source_id"] = "somewhere_else"
    frame.to_csv(path, index=False)
    build_report(tmp_path)
    row = pd.read_csv(tmp_path / "comparison.csv").set_index("experiment").loc["other"]
    assert np.isfinite(row["macro_f1_p_ttest"]) and np.isnan(row["macro_f1_boot_ci_low"])
    assert "bootstrap" in (tmp_path / "comparison.md").read_text().lower()
    assert "different test samples" in (tmp_path / "comparison.md").read_text()


def test_sweep_page_is_self_contained_with_verdicts_plots_and_job_links(tmp_path, y_true):
    from tests.pipeline.test_run_page import assert_self_contained

    rng = np.random.default_rng(4)
    for s in (0, 1, 2):
        write_job(tmp_path, "baseline", s, y_true, noisy(y_true, 0.6, rng))
        write_job(tmp_path, "strong", s, y_true, noisy(y_true, 0.95, rng))
    for job in tmp_path.iterdir():
        pd.DataFrame({"epoch": [1, 2], "train_loss": [1.0, 0.5], "val_macro_f1": [0.5, 0.6]}).to_csv(
            job / "history.csv", index=False)
        cm = pd.DataFrame([[5, 1, 0], [0, 4, 1], [1, 0, 3]], columns=CLASSES)
        cm.insert(0, "true_class", CLASSES)
        cm.to_csv(job / "confusion_matrix.csv", index=False)
    (tmp_path / "strong_seed1" / "report.html").write_text("<html></html>")
    build_report(tmp_path)
    text = (tmp_path / "report.html").read_text()
    parser = assert_self_contained(text)
    # the differences' dot plot, comparison.png, per-class recall and deltas, best-seed curves and confusion matrices
    assert len(parser.sources) == 6
    assert text.count('<td class="better">better</td>') >= 1  # the comparison's verdict cells are marked
    # the first screen answers: the sentence comes before anything else, then the dot plot
    body = text[text.index("<body>"):]
    assert body.index('<p class="answer"><b>Answer.</b> macro-F1, 3 seeds: the best technique is strong') < \
        body.index("<img") < body.index("<table")
    for s in (0, 1, 2):
        assert f"baseline_seed{s}/" in parser.links and f"strong_seed{s}/" in parser.links
    assert "strong_seed1/report.html" in parser.links
    assert "Holm" in text


def test_a_baseline_only_sweep_still_gets_its_comparison(tmp_path, y_true):
    rng = np.random.default_rng(5)
    write_job(tmp_path, "baseline", 0, y_true, noisy(y_true, 0.6, rng))
    build_report(tmp_path)
    row = pd.read_csv(tmp_path / "comparison.csv").set_index("experiment").loc["baseline"]
    assert row["macro_f1_verdict"] == "reference" and (tmp_path / "report.html").is_file()


def test_p_values_never_round_across_the_level_they_are_compared_with():
    from balancelab.sweep.numbers import format_mean, format_p

    assert format_p(0.0496, 0.05) == "0.0496"       # issue 19: "0.050" next to "better"
    assert format_p(0.04996, 0.05) == "0.04996" and format_p(0.0504, 0.05) == "0.05"
    assert format_p(0.02) == "0.02" and format_p(0.2345) == "0.23" and format_p(4.2e-5) == "4.2e-05"
    assert format_p(0.00334, 0.05 / 15) == "0.00334"  # a raw p against its Holm level
    # a bootstrap p of 0 (no resample beyond 0): its bound, 2/B, times the family's size after Holm
    assert format_p(0.0, zero_bound=2 / 2000) == "< 0.001" and format_p(0.0, zero_bound=15 * 2 / 2000) == "< 0.015"
    assert format_p(np.nan) == "—"
    assert format_mean(0.8, 0.0, n=1) == "0.8000 (n = 1)" and format_mean(0.8, 0.01, n=3) == "0.8000 ± 0.0100"


def test_one_seed_shows_n_1_on_the_page_too(tmp_path, y_true):
    rng = np.random.default_rng(6)
    write_job(tmp_path, "baseline", 0, y_true, noisy(y_true, 0.6, rng))
    write_job(tmp_path, "strong", 0, y_true, noisy(y_true, 0.95, rng))
    build_report(tmp_path)
    text = (tmp_path / "report.html").read_text()
    assert "(n = 1)" in text and "± 0.0000" not in text
    assert "about one trained model per side, on this test set (1 seed)" in text
