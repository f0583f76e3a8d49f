"""balance-report and the end of balance-sweep: a full disk is one message with a fix for this command (exit 4),
a report in progress elsewhere refuses a second one (exit 5)."""

import errno
import io
import logging
import os

import pytest

from balancelab.output.lock import FolderLock
from balancelab.cli import report_command as commands
from tests.sweep.test_report import make_job

REPORT_FILES = ["comparison.csv", "statistics.csv", "comparison.md", "per_class_delta.csv", "comparison.png",
                "per_class_recall.png", "sweep_summary.json"]


@pytest.fixture(autouse=True)
def console():
    """What balancelab's console shows (setup_logging adds no console of its own while one is there)."""
    logger = logging.getLogger("balancelab")
    saved = logger.handlers[:]
    for handler in saved:
        logger.removeHandler(handler)
    shown = io.StringIO()
    logger.addHandler(logging.StreamHandler(shown))
    yield shown
    for handler in logger.handlers[:]:
        logger.removeHandler(handler)
    for handler in saved:
        logger.addHandler(handler)


@pytest.fixture
def sweep_dir(tmp_path):
    folder = tmp_path / "sweeps" / "grid_m_d_12345678"
    folder.mkdir(parents=True)
    for seed, (base, smote) in enumerate([(0.70, 0.80), (0.75, 0.85)]):
        make_job(folder, "baseline", seed, base)
        make_job(folder, "smote", seed, smote)
    return folder


def fail_writes_of(monkeypatch, name, error):
    real = os.replace

    def replace(src, dst, *a, **k):
        if os.path.basename(str(dst)) == name:
            raise error
        return real(src, dst, *a, **k)

    monkeypatch.setattr(os, "replace", replace)


def report(paths, console):
    with pytest.raises(SystemExit) as stopped:
        commands.report([str(p) for p in paths])
    return stopped.value.code, console.getvalue()


@pytest.mark.parametrize("name", REPORT_FILES)
@pytest.mark.parametrize("errno_, reason, fix", [
    (errno.ENOSPC, "no space left on the device", "Free some space"),
    (errno.EROFS, "the file system is read-only", "writable"),
])
def test_a_failed_write_of_any_report_file_is_one_message_with_the_reports_fix(sweep_dir, monkeypatch, console, name,
                                                                                 errno_, reason, fix):
    fail_writes_of(monkeypatch, name, OSError(errno_, os.strerror(errno_)))
    code, err = report([sweep_dir], console)
    assert code == 4, err
    assert f"Cannot write {sweep_dir / name}: {reason}" in err and "Free space there:" in err and fix in err
    assert f"balance-report {sweep_dir}" in err and "output_root" not in err and "Traceback" not in err
    assert not list(sweep_dir.glob(".*.tmp*"))


def test_a_failed_report_page_is_said_and_the_comparison_kept(sweep_dir, monkeypatch, console):
    fail_writes_of(monkeypatch, "report.html", OSError(errno.ENOSPC, "No space left on device"))
    code, err = report([sweep_dir], console)
    assert code == 4, err  # a full disk ends the report like any other file's would
    assert "report.html" in err and "no space left" in err and "Traceback" not in err
    assert all((sweep_dir / name).is_file() for name in REPORT_FILES)


def test_a_failed_ranks_file_says_to_run_balance_report_again(tmp_path, monkeypatch, console):
    sweeps = []
    for dataset in ("a", "b"):
        folder = tmp_path / "sweeps" / f"grid_m_{dataset}_00000000"
        folder.mkdir(parents=True)
        for seed in (0, 1):
            make_job(folder, "baseline", seed, 0.7)
            make_job(folder, "smote", seed, 0.8)
        sweeps.append(folder)
    fail_writes_of(monkeypatch, "ranks.csv", OSError(errno.ENOSPC, "No space left on device"))
    code, err = report(sweeps, console)
    assert code == 4 and "ranks.csv" in err and f"balance-report {sweeps[0]} {sweeps[1]}" in err, err


def test_a_report_in_progress_refuses_a_second_one(sweep_dir, console):
    with FolderLock(sweep_dir, what="sweep report"):
        code, err = report([sweep_dir], console)
    assert code == 5, err
    assert f"process {os.getpid()} on host" in err and "Traceback" not in err
    assert not (sweep_dir / "comparison.csv").exists()
    assert not (sweep_dir / ".lock").exists()


def test_the_report_releases_its_lock(sweep_dir, console):
    code, _ = report([sweep_dir], console)
    assert code == 0 and (sweep_dir / "comparison.csv").is_file() and not (sweep_dir / ".lock").exists()


def test_the_end_of_a_sweep_on_a_full_disk_says_how_to_get_the_comparison(sweep_dir, monkeypatch, console):
    fail_writes_of(monkeypatch, "comparison.md", OSError(errno.ENOSPC, "No space left on device"))
    code = commands.sweep_report_step(sweep_dir)
    err = console.getvalue()
    assert code == 4 and f"balance-report {sweep_dir}" in err and "Traceback" not in err
    assert "output_root" not in err


def test_the_end_of_a_sweep_while_a_report_runs_elsewhere(sweep_dir, console):
    with FolderLock(sweep_dir, what="sweep report"):
        code = commands.sweep_report_step(sweep_dir)
    err = console.getvalue()
    assert code == 5 and f"process {os.getpid()} on host" in err


@pytest.mark.parametrize("name,text", [("experiment_summary.json", '{"status": "compl'),
                                       ("experiment_summary.json", '[1, 2]'), ("failure.json", "{"),
                                       ("config.yaml", "model: ["), ("config.yaml", "model: {width: 1}")])
def test_a_job_file_that_does_not_parse_is_a_row_that_says_so_not_a_traceback(tmp_path, name, text):
    make_job(tmp_path, "baseline", 0, 0.70)
    make_job(tmp_path, "baseline", 1, 0.80)
    make_job(tmp_path, "smote", 0, 0.90)
    make_job(tmp_path, "smote", 1, 0.80, status="failed" if name == "failure.json" else "completed")
    (tmp_path / "smote_seed1" / name).write_text(text)
    from balancelab.sweep.jobs import jobs_table
    from balancelab.sweep.report import build_report
    jobs = jobs_table(tmp_path).set_index("job")
    row = jobs.loc["smote_seed1"]
    assert row["status"] == ("incomplete" if name != "failure.json" else "failed")
    assert name in row["error"] and ("does not parse" in row["error"] or "is incomplete" in row["error"])
    build_report(tmp_path)
    assert row["error"].replace('"', '\\"') in (tmp_path / "sweep_summary.json").read_text()


def test_the_end_of_a_sweep_whose_jobs_cannot_be_compared_is_a_message_not_a_traceback(sweep_dir, console):
    """Two finished runs of one experiment and seed (a YAML edited between two runs of a sweep): the comparison
    refuses to pool them, and says so as balance-report does (exit 2), with no traceback."""
    import shutil

    shutil.copytree(sweep_dir / "smote_seed0", sweep_dir / "smote_seed0_other")
    code = commands.sweep_report_step(sweep_dir)
    err = console.getvalue()
    assert code == 2 and "Several finished jobs" in err and "Traceback" not in err


def test_out_with_a_single_sweep_is_refused_not_ignored(sweep_dir, console, tmp_path):
    with pytest.raises(SystemExit) as stopped:
        commands.report([str(sweep_dir), "--out", str(tmp_path / "ranks")])
    assert stopped.value.code == 2 and "--out" in console.getvalue() and not (tmp_path / "ranks").exists()
