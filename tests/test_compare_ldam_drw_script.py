import importlib.util
from pathlib import Path

import pandas as pd
import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "compare_ldam_drw.py"


@pytest.fixture(scope="module")
def script():
    spec = importlib.util.spec_from_file_location("compare_ldam_drw", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_errors_gaps_and_verdicts(script, tmp_path, capsys):
    table = pd.DataFrame({"experiment": ["recipes/ldam_drw_cifar10_lt/ce", "ldam_drw", "my_focal", "other"],
                          "accuracy_mean": [0.70, 0.765, 0.70, 0.5], "accuracy_std": [0.01, 0.005, 0.0, 0.0],
                          "n_seeds": [3, 3, 1, 1]})
    frame = script.comparison(table, {"my_focal": "focal"}, tolerance=1.0).set_index("method")
    assert frame.loc["CE (ERM)", "our_error"] == pytest.approx(30.0)
    assert frame.loc["CE (ERM)", "verdict"] == "reproduced"            # 30.00 vs 29.64
    assert frame.loc["LDAM-DRW", "gap"] == pytest.approx(23.5 - 22.97)
    assert frame.loc["Focal", "experiment"] == "my_focal"
    assert frame.loc["LDAM", "verdict"] == "missing"
    table.to_csv(tmp_path / "comparison.csv", index=False)
    assert script.main([str(tmp_path), "--map", "my_focal=focal"]) == 0
    out = capsys.readouterr().out
    assert "LDAM-DRW" in out and "22.97" in out and "ranking" in out
    assert script.main([str(tmp_path), "--map", "x=bogus"]) == 2


def test_the_readme_recipe_sweep_is_matched_by_its_real_experiment_names(script, tmp_path, capsys):
    """The README runs experiments=[baseline,focal_loss,ldam,cb_focal,ldam_drw]: a real comparison.csv of
    those (with the post-hoc rows every run adds, and one experiment that failed) is read without --map."""
    import json

    from balancelab.sweep.report import build_report
    from tests.sweep.test_report import make_job

    for experiment, accuracy in (("baseline", 0.70), ("focal_loss", 0.705), ("ldam", 0.73), ("ldam_drw", 0.77)):
        for seed in (0, 1):
            make_job(tmp_path, experiment, seed, accuracy + 0.002 * seed)
            path = tmp_path / f"{experiment}_seed{seed}" / "experiment_summary.json"
            summary = json.loads(path.read_text())
            summary["posthoc"] = {"logit_adjustment": {"tau": 1.0, "test": {"accuracy": 0.99, "macro_f1": 0.99}}}
            path.write_text(json.dumps(summary))
    make_job(tmp_path, "cb_focal", 0, 0, status="failed")
    build_report(tmp_path)
    frame = script.comparison(pd.read_csv(tmp_path / "comparison.csv")).set_index("method")
    assert frame.loc["CE (ERM)", "experiment"] == "baseline" and frame.loc["Focal", "experiment"] == "focal_loss"
    assert frame.loc["CE (ERM)", "our_error"] == pytest.approx(100 * (1 - 0.701))  # not the post-hoc row's 1 %
    assert frame.loc["LDAM-DRW", "experiment"] == "ldam_drw"
    assert frame.loc["Class-balanced focal", "verdict"] == "missing"
    assert script.main([str(tmp_path), "--any-protocol"]) == 0
    out = capsys.readouterr().out
    assert "nan" not in out.lower()
    cb = next(line for line in out.splitlines() if line.startswith("Class-balanced focal"))
    assert "missing" in cb and "cb_focal" in cb and "—" in cb  # the failed experiment is named, its numbers are dashes
    assert "missing" not in next(line for line in out.splitlines() if line.startswith("CE (ERM)"))


def test_a_sweep_that_is_not_the_recipes_protocol_is_said_to_be_so(script, tmp_path, capsys):
    """The published CIFAR-10-LT numbers do not apply to a digits sweep: the script says so and exits 3."""
    import yaml

    from balancelab.sweep.report import build_report
    from tests.sweep.test_report import make_job

    for experiment in ("baseline", "ldam_drw"):
        make_job(tmp_path, experiment, 0, 0.7)
    build_report(tmp_path)
    assert script.main([str(tmp_path)]) == 3
    captured = capsys.readouterr()
    assert "NOT THE LDAM-DRW PROTOCOL" in captured.out and "dataset.name" in captured.err
    protocol = {"dataset": {"name": "cifar10", "imbalance_ratio": 100, "imbalance_profile": "exponential"},
                "model": {"name": "resnet32"}, "trainer": {"epochs": 200, "batch_size": 128},
                "optimizer": {"name": "sgd", "lr": 0.1}, "scheduler": {"name": "multistep"}}
    for config in tmp_path.glob("*/config.yaml"):
        cfg = yaml.safe_load(config.read_text())
        for group, values in protocol.items():
            cfg.setdefault(group, {}).update(values)
        config.write_text(yaml.safe_dump(cfg))
    assert script.main([str(tmp_path)]) == 0 and "NOT THE" not in capsys.readouterr().out
