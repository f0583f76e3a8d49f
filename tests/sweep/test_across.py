"""balance-report over several sweeps: average ranks, Friedman test, critical-difference diagram."""

import numpy as np
import pandas as pd
import pytest
import yaml
from scipy import stats

from balancelab.errors import DataError
from balancelab.sweep.across import write_ranks
from balancelab.cli.report_command import report
from tests.sweep.test_report import make_job

SCORES = {"d1": {"baseline": 0.6, "smote": 0.7, "focal": 0.8, "only_here": 0.9},
          "d2": {"baseline": 0.5, "smote": 0.9, "focal": 0.7},
          "d3": {"baseline": 0.4, "smote": 0.6, "focal": 0.6}}


def on_dataset(folder, dataset, model="m"):
    """Give every job of ``folder`` the dataset (and model) settings of one test set."""
    for path in folder.glob("*/config.yaml"):
        cfg = yaml.safe_load(path.read_text())
        cfg["dataset"], cfg["model"] = {"name": dataset, "root": f"/data/{dataset}"}, {"name": model}
        path.write_text(yaml.safe_dump(cfg))


def sweeps(root, scores=SCORES):
    dirs = []
    for name, table in scores.items():
        folder = root / "sweeps" / name
        folder.mkdir(parents=True)
        for experiment, score in table.items():
            make_job(folder, experiment, 0, score)
        on_dataset(folder, name)
        dirs.append(folder)
    return dirs


def test_ranks_friedman_and_diagram_from_the_sweeps_means(tmp_path):
    dirs = sweeps(tmp_path)
    result = write_ranks(dirs, tmp_path / "out")
    ranks = pd.read_csv(tmp_path / "out" / "ranks.csv").set_index("experiment")
    # by hand: d1 focal 1, smote 2, baseline 3; d2 smote 1, focal 2, baseline 3; d3 tie smote/focal 1.5, baseline 3
    assert ranks.loc["focal", "average_rank"] == pytest.approx((1 + 2 + 1.5) / 3)
    assert ranks.loc["smote", "average_rank"] == pytest.approx((2 + 1 + 1.5) / 3)
    assert ranks.loc["baseline", "average_rank"] == 3
    assert "only_here" not in ranks.index and result["left_out"] == ["only_here"]
    columns = [SCORES[d][e] for e in ("baseline", "smote", "focal") for d in ("d1", "d2", "d3")]
    expected = stats.friedmanchisquare(columns[0:3], columns[3:6], columns[6:9]).pvalue
    assert result["friedman_p"] == pytest.approx(expected)
    assert (tmp_path / "out" / "critical_difference.png").stat().st_size > 1000
    assert "only_here" in (tmp_path / "out" / "ranks.md").read_text()


def test_command_rebuilds_each_sweep_and_writes_ranks_beside_them(tmp_path):
    dirs = sweeps(tmp_path)
    with pytest.raises(SystemExit) as done:
        report([str(d) for d in dirs])
    assert done.value.code == 0
    assert (tmp_path / "sweeps" / "ranks.csv").is_file()  # default: the sweeps' common folder
    assert all((d / "report.html").is_file() for d in dirs)


def test_one_shared_experiment_is_not_enough(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir(), b.mkdir()
    make_job(a, "baseline", 0, 0.5), make_job(a, "smote", 0, 0.6)
    make_job(b, "baseline", 0, 0.5), make_job(b, "focal", 0, 0.6)
    with pytest.raises(DataError, match="every sweep"):
        write_ranks([a, b], tmp_path)


def test_list_values_of_dataset_and_model_are_split_into_sweeps():
    from balancelab.cli.sweep_command import _list_overrides

    found = _list_overrides(["dataset=[digits_lt,digits_binary]", "model=small_cnn", "dataset.root=x", "seed=1"])
    assert found == {"dataset": ["digits_lt", "digits_binary"], "model": ["small_cnn"]}
    assert _list_overrides(["model=a,b"]) == {"model": ["a", "b"]}


def with_posthoc_rows(dirs):
    """Every finished job also carries a post-hoc correction (a derived row in its sweep's comparison)."""
    import json

    for folder in dirs:
        for path in folder.glob("*/experiment_summary.json"):
            summary = json.loads(path.read_text())
            summary["posthoc"] = {"logit_adjustment": {"tau": 1.0, "test": {"macro_f1": 0.99}}}
            path.write_text(json.dumps(summary))


def test_only_the_trained_experiments_are_ranked(tmp_path):
    dirs = sweeps(tmp_path)
    with_posthoc_rows(dirs)
    result = write_ranks(dirs, tmp_path / "out")
    ranks = pd.read_csv(tmp_path / "out" / "ranks.csv").set_index("experiment")
    assert sorted(ranks.index) == ["baseline", "focal", "smote"] and result["left_out"] == ["only_here"]
    assert ranks.loc["baseline", "average_rank"] == 3  # the post-hoc rows (0.99) are not ranked above it
    assert "k = 3" in (tmp_path / "out" / "ranks.md").read_text()


def test_identical_rankings_say_iman_davenport_is_not_computable(tmp_path):
    dirs = sweeps(tmp_path, {name: {"baseline": 0.5, "smote": 0.6, "focal": 0.7} for name in ("d1", "d2")})
    write_ranks(dirs, tmp_path / "out")
    text = (tmp_path / "out" / "ranks.md").read_text()
    assert "Iman-Davenport F: not computable" in text and "inf" not in text and "p = 0," not in text
    assert "No post-hoc test" in text  # chi2 = 4 on 2 df: p = 0.135, no critical difference is drawn


def test_sweeps_on_one_test_set_are_one_dataset(tmp_path):
    """balance-sweep model=[a,b] on one dataset: two sweeps, one test set; ranking them as two independent
    datasets would double the evidence."""
    scores = {"a": {"baseline": 0.6, "smote": 0.7, "focal": 0.8}, "b": {"baseline": 0.5, "smote": 0.9, "focal": 0.7},
              "c": {"baseline": 0.4, "smote": 0.6, "focal": 0.5}}
    dirs = sweeps(tmp_path, scores)
    for folder, model in zip(dirs[:2], ("small_cnn", "resnet18")):
        on_dataset(folder, "digits_lt", model)
    result = write_ranks(dirs, tmp_path / "out")
    assert len(result["sweeps"]) == 3 and len(result["blocks"]) == 2
    ranks = pd.read_csv(tmp_path / "out" / "ranks.csv").set_index("experiment")
    # the shared block ranks by the mean of its sweeps' ranks: smote (2+1)/2, focal (1+2)/2 tie, baseline 3
    merged = [c for c in ranks.columns if "+" in c][0]
    assert ranks.loc["smote", merged] == ranks.loc["focal", merged] == 1.5 and ranks.loc["baseline", merged] == 3
    assert "share one test set" in (tmp_path / "out" / "ranks.md").read_text()


def test_two_experiments_across_sweeps_get_the_sign_and_wilcoxon_tests(tmp_path):
    scores = {f"d{i}": {"baseline": 0.5 + 0.05 * i, "smote": 0.55 + 0.05 * i} for i in range(4)}
    result = write_ranks(sweeps(tmp_path, scores), tmp_path / "out")
    text = (tmp_path / "out" / "ranks.md").read_text()
    assert result["sign_p"] == pytest.approx(0.125) and not result["post_hoc"]
    assert "smote scores higher on 4, lower on 0" in text and "not significant" in text and "CD =" not in text
