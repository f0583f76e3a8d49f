import json

import pandas as pd
import pytest

from balancelab.errors import OutputFolderError
from balancelab.output import atomic
from balancelab.output.run_folder import prepare_run_folder


def test_atomic_write_leaves_no_partial_file(tmp_path):
    target = tmp_path / "x.csv"

    def broken_writer(path):
        path.write_text("half")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        atomic.write_with(target, broken_writer)
    assert not target.exists() and list(tmp_path.iterdir()) == []


def test_atomic_json_and_csv(tmp_path):
    atomic.write_json(tmp_path / "a.json", {"x": 1})
    atomic.write_csv(tmp_path / "b.csv", pd.DataFrame({"a": [1]}))
    assert json.loads((tmp_path / "a.json").read_text()) == {"x": 1}
    assert (tmp_path / "b.csv").read_text().startswith("a")


def test_full_disk_is_reported_with_a_fix(tmp_path):
    def no_space(path):
        raise OSError(28, "No space left on device")

    with pytest.raises(OutputFolderError, match="output_root"):
        atomic.write_with(tmp_path / "y.json", no_space)


def test_finished_folder_is_refused_then_skipped_or_overwritten(tmp_path):
    run = tmp_path / "run"
    assert prepare_run_folder(run, overwrite=False) == "fresh"
    (run / "experiment_summary.json").write_text("{}")
    with pytest.raises(OutputFolderError, match="overwrite=true"):
        prepare_run_folder(run, overwrite=False)
    assert prepare_run_folder(run, overwrite=False, skip_finished=True) == "skip"
    assert (run / "experiment_summary.json").exists()
    assert prepare_run_folder(run, overwrite=True) == "overwrite"
    assert not (run / "experiment_summary.json").exists()


def test_unfinished_leftovers_are_restarted(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "history.csv").write_text("partial")
    assert prepare_run_folder(run, overwrite=False) == "restart"
    assert not (run / "history.csv").exists()


def test_unfinished_run_with_training_state_is_resumed_not_wiped(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "training_state.pt").write_bytes(b"state")
    (run / "config.yaml").write_text("x: 1")
    assert prepare_run_folder(run, overwrite=False) == "resume"
    assert (run / "training_state.pt").exists() and (run / "config.yaml").exists()
