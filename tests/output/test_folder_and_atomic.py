import errno
import json
import os
import stat

import pandas as pd
import pytest
import torch

from balancelab.errors import OutputFolderError, OutputWriteError
from balancelab.output import atomic
from balancelab.pipeline.artifacts import write_config
from balancelab.output.run_folder import prepare_run_folder

ID = "1234abcd"


def _mark(run, identity=ID):
    run.mkdir(parents=True, exist_ok=True)
    write_config(run, {}, identity, [])


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


@pytest.mark.parametrize("failure", [
    OSError(errno.ENOSPC, "No space left on device"), OSError(errno.EDQUOT, "Disk quota exceeded"),
    OSError(errno.EROFS, "Read-only file system"), OSError(errno.EACCES, "Permission denied"),
    RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 4800 vs 4688"),
    RuntimeError("PytorchStreamWriter failed writing file data/0: file write failed"),
])
def test_a_failed_write_is_one_clear_error_and_keeps_the_previous_file(tmp_path, failure):
    target = tmp_path / "best_model.pt"
    atomic.write_text(target, "previous good version")

    def writer(path):
        path.write_bytes(b"partial")
        raise failure

    with pytest.raises(OutputWriteError) as err:
        atomic.write_with(target, writer)
    message = str(err.value)
    assert str(target) in message and "Free space there:" in message and "output_root=" in message
    assert target.read_text() == "previous good version"
    assert [p.name for p in tmp_path.iterdir()] == ["best_model.pt"]  # no temporary left behind


def test_torch_save_failure_is_translated(tmp_path, monkeypatch):
    """torch.save reports a full disk as RuntimeError: the checkpoint writer must still say so clearly."""
    from balancelab.checkpoint import save_checkpoint

    def full(obj, f, *a, **k):
        raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 1 vs 0")

    monkeypatch.setattr(torch, "save", full)
    with pytest.raises(OutputWriteError, match="best_model.pt"):
        save_checkpoint(tmp_path / "best_model.pt", {}, {})


def test_other_errors_pass_through_untouched(tmp_path):
    def writer(path):
        raise ValueError("a bug, not a disk")

    with pytest.raises(ValueError, match="a bug"):
        atomic.write_with(tmp_path / "z.json", writer)


def test_files_respect_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        atomic.write_text(tmp_path / "shared.md", "x")
        assert stat.S_IMODE((tmp_path / "shared.md").stat().st_mode) == 0o644
        os.umask(0o077)
        atomic.write_text(tmp_path / "private.md", "x")
        assert stat.S_IMODE((tmp_path / "private.md").stat().st_mode) == 0o600
    finally:
        os.umask(old)


def test_ensure_writable_fails_before_anything_runs(tmp_path):
    locked = tmp_path / "ro"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        if os.access(locked, os.W_OK):
            pytest.skip("running as a user that ignores permissions (root)")
        with pytest.raises(OutputWriteError, match="writable"):
            atomic.ensure_writable(locked / "outputs")
    finally:
        locked.chmod(0o700)


def test_finished_folder_is_refused_then_skipped_or_overwritten(tmp_path):
    run = tmp_path / "run"
    assert prepare_run_folder(run, ID, overwrite=False) == "fresh"
    _mark(run)
    (run / "experiment_summary.json").write_text('{"status": "completed"}')
    with pytest.raises(OutputFolderError, match="overwrite=true"):
        prepare_run_folder(run, ID, overwrite=False)
    assert prepare_run_folder(run, ID, overwrite=False, skip_finished=True) == "skip"
    assert (run / "experiment_summary.json").exists()
    assert prepare_run_folder(run, ID, overwrite=True) == "overwrite"
    assert not (run / "experiment_summary.json").exists()


def test_a_folder_of_another_identity_is_never_reused(tmp_path):
    run = tmp_path / "run"
    _mark(run, "ffff0000")
    (run / "experiment_summary.json").write_text('{"status": "completed"}')
    for skip in (False, True):
        with pytest.raises(OutputFolderError, match="different run"):
            prepare_run_folder(run, ID, overwrite=False, skip_finished=skip)
    assert (run / "experiment_summary.json").exists()


@pytest.mark.parametrize("outcome", ["failure", "diverged"])
def test_failed_and_diverged_runs_are_retried_unless_told_otherwise(tmp_path, outcome):
    run = tmp_path / "run"
    _mark(run)
    if outcome == "failure":
        (run / "failure.json").write_text("{}")
    else:
        (run / "experiment_summary.json").write_text('{"status": "diverged"}')
    assert prepare_run_folder(run, ID, overwrite=False, skip_finished=True, retry_failed=False) == "skip"
    assert prepare_run_folder(run, ID, overwrite=False, skip_finished=True) == "restart"
    assert list(run.iterdir()) == []


def test_unfinished_leftovers_are_restarted_and_the_lock_kept(tmp_path):
    run = tmp_path / "run"
    _mark(run)
    (run / "history.csv").write_text("partial")
    (run / ".lock").write_text("{}")
    assert prepare_run_folder(run, ID, overwrite=False) == "restart"
    assert [p.name for p in run.iterdir()] == [".lock"]


def test_unfinished_run_with_training_state_is_resumed_not_wiped(tmp_path):
    run = tmp_path / "run"
    _mark(run)
    (run / "training_state.pt").write_bytes(b"state")
    (run / "config.yaml").write_text("x: 1")
    assert prepare_run_folder(run, ID, overwrite=False) == "resume"
    assert (run / "training_state.pt").exists() and (run / "config.yaml").exists()


def test_lock_files_of_any_kind_are_not_a_runs_content(tmp_path):
    """A crash in the middle of locking can leave the lock's helper files: they belong to the lock, not to a
    run, so a new folder holding only those is fresh, not 'a different run', and they are not removed."""
    run = tmp_path / "run"
    run.mkdir()
    for name in (".lock", ".lock.takeover", ".lock.new-123-456"):
        (run / name).write_text("{}")
    assert prepare_run_folder(run, ID, overwrite=False) == "fresh"
    assert sorted(p.name for p in run.iterdir()) == [".lock", ".lock.new-123-456", ".lock.takeover"]


def test_a_resumed_folder_loses_the_temporary_files_of_a_write_cut_short(tmp_path):
    """A process killed mid-write (a second Ctrl-C during a save) leaves its temporary file; the resumed run,
    which holds the folder's lock, removes it instead of carrying it into the finished folder."""
    run = tmp_path / "run"
    _mark(run)
    (run / "training_state.pt").write_bytes(b"state")
    (run / ".training_state.pt.k2j3h4.tmp.pt").write_bytes(b"half")
    (run / ".history.csv.x8y7.tmp.csv").write_text("half")
    assert prepare_run_folder(run, ID, overwrite=False) == "resume"
    assert not [p.name for p in run.iterdir() if atomic.is_temporary(p.name)]
    assert (run / "training_state.pt").exists() and (run / "config.yaml").exists()


@pytest.mark.parametrize("with_state", [True, False])
def test_a_summary_that_does_not_parse_is_not_a_finished_run(tmp_path, with_state):
    """A truncated ``experiment_summary.json`` (a copy cut short, a disk that filled outside balancelab's
    atomic writes) does not make the folder a finished run that is skipped or refused: it is set aside and
    the run is resumed from its saved state, or restarted."""
    run = tmp_path / "run"
    _mark(run)
    (run / "experiment_summary.json").write_text('{"status": "compl')
    if with_state:
        (run / "training_state.pt").write_bytes(b"state")
    outcome = prepare_run_folder(run, ID, overwrite=False, skip_finished=True)
    assert outcome == ("resume" if with_state else "restart")
    assert not (run / "experiment_summary.json").exists()
    (aside,) = run.glob("experiment_summary.unreadable-*.json")  # kept through a restart too
    assert aside.read_text() == '{"status": "compl'
    assert prepare_run_folder(run, ID, overwrite=True) == "overwrite" and not list(run.iterdir())


def test_a_job_that_failed_to_write_resumes_from_its_state_instead_of_restarting(tmp_path):
    """Inside a multirun a full disk ends the job with failure.json (so the others go on); the README says to
    free space and run the same command again: the job must then resume from its saved state, not lose it."""
    run = tmp_path / "run"
    _mark(run)
    (run / "training_state.pt").write_bytes(b"state")
    (run / "failure.json").write_text(json.dumps({"status": "failed", "error_type": "OutputWriteError",
                                                  "error": "disk full"}))
    assert prepare_run_folder(run, ID, overwrite=False, skip_finished=True) == "resume"
    assert (run / "training_state.pt").exists() and not (run / "failure.json").exists()


def test_any_failed_job_with_a_state_of_its_identity_resumes_and_keeps_its_training(tmp_path):
    """A transient failure after hours of training (CUDA out of memory in evaluation, an NFS hiccup) must not
    throw the training away: the state is of this identity (checked), so the retry resumes from it."""
    run = tmp_path / "run"
    _mark(run)
    (run / "training_state.pt").write_bytes(b"state")
    (run / "failure.json").write_text(json.dumps({"status": "failed", "error_type": "RuntimeError", "error": "x"}))
    assert prepare_run_folder(run, ID, overwrite=False, skip_finished=True, retry_failed=False) == "skip"
    assert prepare_run_folder(run, ID, overwrite=False, skip_finished=True) == "resume"
    assert (run / "training_state.pt").exists() and not (run / "failure.json").exists()


def test_a_job_that_fails_again_after_resuming_starts_over_unless_the_disk_failed(tmp_path):
    """A failure the state itself causes (a restore that raises) must not repeat on every rerun: the second
    failure in a row after a resume starts over. A full disk is never the state's fault: that one resumes."""
    run = tmp_path / "run"
    _mark(run)

    def fail(error_type):
        (run / "training_state.pt").write_bytes(b"state")
        (run / "failure.json").write_text(json.dumps({"status": "failed", "error_type": error_type, "error": "x"}))

    fail("RuntimeError")
    assert prepare_run_folder(run, ID, overwrite=False, skip_finished=True) == "resume"
    assert (run / "failure.previous.json").exists()
    fail("OutputWriteError")
    assert prepare_run_folder(run, ID, overwrite=False, skip_finished=True) == "resume"
    fail("RuntimeError")
    assert prepare_run_folder(run, ID, overwrite=False, skip_finished=True) == "restart"
    assert not (run / "training_state.pt").exists() and not (run / "failure.json").exists()


def test_a_restart_that_kept_a_set_aside_summary_is_still_this_runs_folder(tmp_path):
    """The set-aside summary survives a restart; if the process dies before writing identity.json again, the
    folder holds only that file, which is no other run's: the next run takes the folder."""
    run = tmp_path / "run"
    run.mkdir()
    (run / "experiment_summary.unreadable-20261202-000000-1.json").write_text("{")
    assert prepare_run_folder(run, ID, overwrite=False) == "fresh"
