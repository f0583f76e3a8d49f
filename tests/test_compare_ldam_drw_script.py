import importlib.util
from pathlib import Path

import pandas as pd
import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "compare_ldam_drw.py"
METHOD_LABELS = ("CE (ERM)", "Focal", "LDAM ", "Class-balanced focal", "LDAM-DRW")


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
    checked = {experiment: script.Checked(protocol=[], method=[]) for experiment in table["experiment"]}
    frame = script.comparison(table, {"my_focal": "focal"}, tolerance=1.0, checks=checked).set_index("method")
    assert frame.loc["CE (ERM)", "our_error"] == pytest.approx(30.0)
    assert frame.loc["CE (ERM)", "verdict"] == "reproduced"            # 30.00 vs 29.64
    # without the jobs' configs nothing says the rows are the paper's methods: no verdict
    unchecked = script.comparison(table, {"my_focal": "focal"}, tolerance=1.0).set_index("method")
    assert unchecked.loc["CE (ERM)", "verdict"] == "unchecked" and unchecked.loc["CE (ERM)", "gap"] == frame.loc[
        "CE (ERM)", "gap"]
    assert frame.loc["LDAM-DRW", "gap"] == pytest.approx(23.5 - 22.97)
    assert frame.loc["Focal", "experiment"] == "my_focal"
    assert frame.loc["LDAM", "verdict"] == "missing"
    table.to_csv(tmp_path / "comparison.csv", index=False)
    assert script.main([str(tmp_path), "--map", "my_focal=focal"]) == 0
    out = capsys.readouterr().out
    assert "LDAM-DRW" in out and "22.97" in out and "ranking" in out
    assert not any("reproduced" in row(out, m) for m in METHOD_LABELS) and "unchecked" in row(out, "CE (ERM)")
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
    from balancelab.sweep.report import build_report
    from tests.sweep.test_report import make_job

    for experiment in ("baseline", "ldam_drw"):
        make_job(tmp_path, experiment, 0, 0.7)
    build_report(tmp_path)
    assert script.main([str(tmp_path)]) == 3
    captured = capsys.readouterr()
    assert "NOT THE LDAM-DRW PROTOCOL" in captured.out and "dataset.source" in captured.err
    assert "not the protocol" in row(captured.out, "CE (ERM)") and "not the protocol" in row(captured.out, "LDAM-DRW")


# --- sweeps whose jobs are the recipe's own configs ---------------------------------------------------------

def recipe_sweep(root, experiments, accuracy=0.70):
    """A sweep folder whose jobs hold the config the recipe composes for each experiment (with overrides)."""
    import yaml

    from balancelab.options.validate import validate
    from balancelab.sweep.report import build_report
    from tests.conftest import compose
    from tests.sweep.test_report import make_job

    for experiment, overrides in experiments.items():
        name = experiment.split("+")[0]
        make_job(root, experiment, 0, accuracy)
        cfg = validate(compose(["recipe=ldam_drw_cifar10_lt", f"experiment={name}", f"dataset.root={root}",
                                *overrides]))
        cfg["experiment_name"] = experiment
        (root / f"{experiment}_seed0" / "config.yaml").write_text(yaml.safe_dump(cfg))
    build_report(root)


def row(out, method):
    return next(line for line in out.splitlines() if line.startswith(method))


def test_the_recipes_own_jobs_of_the_papers_methods_get_a_verdict(script, tmp_path, capsys):
    recipe_sweep(tmp_path, {"baseline": [], "focal_loss": ["loss.gamma=1"], "ldam": [], "ldam_drw": []}, 0.7036)
    assert script.main([str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "NOT THE" not in out
    assert "reproduced" in row(out, "CE (ERM)") and "reproduced" in row(out, "Focal")  # 29.64 / 29.62 vs 29.64
    assert "higher" in row(out, "LDAM-DRW") and "higher" in row(out, "LDAM ")
    # what even the whole protocol does not make the paper's (a review): the validation split and the head class
    assert "4,950 of its 5,000" in out and "validation split" in out


@pytest.mark.parametrize("override, key", [
    ("scheduler.milestones=[150,180]", "scheduler.milestones"), ("scheduler.warmup_epochs=0", "scheduler.warmup_epochs"),
    ("optimizer.weight_decay=5e-4", "optimizer.weight_decay"), ("optimizer.momentum=0.8", "optimizer.momentum"),
    ("optimizer.nesterov=true", "optimizer.nesterov"), ("trainer.amp=true", "trainer.amp"),
    ("dataset.online_augmentation.crop_padding=0", "dataset.online_augmentation.crop_padding"),
    ("dataset.online_augmentation.hflip=false", "dataset.online_augmentation.hflip"),
    ("dataset.online_augmentation.max_shift=0.1", "dataset.online_augmentation.max_shift"),
    ("dataset.normalization_mean=null", "dataset.normalization_mean"), ("dataset.split_seed=1", "dataset.split_seed"),
    ("trainer.early_stopping_patience=10", "trainer.early_stopping_patience"),
    ("trainer.budget=steps", "trainer.budget"), ("scheduler.gamma=0.1", "scheduler.gamma"),
])
def test_every_protocol_key_is_checked_before_a_verdict(script, tmp_path, capsys, override, key):
    extra = ["dataset.normalization_std=null"] if key == "dataset.normalization_mean" else []
    recipe_sweep(tmp_path, {"baseline": [override, *extra]}, 0.7036)
    assert script.main([str(tmp_path)]) == 3
    captured = capsys.readouterr()
    assert key in captured.err and "NOT THE LDAM-DRW PROTOCOL" in captured.out
    assert "not the protocol" in row(captured.out, "CE (ERM)") and "reproduced" not in row(captured.out, "CE (ERM)")


def test_rows_that_are_not_the_papers_method_say_so_and_get_no_verdict(script, tmp_path, capsys):
    """focal_loss's gamma is 2 (the reference code's focal: gamma 1); balancelab's cb_focal is the softmax form
    (the paper's row is Cui et al.'s sigmoid one); an LDAM-DRW that re-weights from another epoch or without
    the cosine classifier is not the paper's either. The numbers stay, the verdict goes, the row says why."""
    recipe_sweep(tmp_path, {"baseline": ["loss.label_smoothing=0.1"], "focal_loss": [], "cb_focal": [],
                            "ldam": ["model.normed_classifier=false"], "ldam_drw": ["loss.drw_epoch=150"]},
                 0.7036)
    assert script.main([str(tmp_path)]) == 0  # the protocol is the recipe's: only the methods differ
    out = capsys.readouterr().out
    for method, why in (("CE (ERM)", "loss.label_smoothing"), ("Focal", "loss.gamma"),
                        ("Class-balanced focal", "sigmoid"), ("LDAM ", "model.normed_classifier"),
                        ("LDAM-DRW", "loss.drw_epoch")):
        line = row(out, method)
        assert "not the paper's method" in line and why in line, line
        assert not any(verdict in line for verdict in ("reproduced", "higher", "lower"))
    frame = script.comparison(pd.read_csv(tmp_path / "comparison.csv"),
                              checks=script.check_jobs(tmp_path)).set_index("method")
    assert "loss.gamma is 2.0" in frame.loc["Focal", "differs"] and "paper's method: 1" in frame.loc["Focal", "differs"]
