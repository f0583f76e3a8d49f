"""The folders a command will write are checked before Hydra makes the first of them."""

import errno

import pytest

from balancelab.errors import OutputWriteError
from balancelab.cli import roots


@pytest.fixture
def checked(monkeypatch):
    """The folders ensure_writable is asked about, as (setting, folder)."""
    seen = []
    monkeypatch.setattr(roots, "ensure_writable", lambda folder, setting: seen.append((setting, str(folder))))
    return seen


def test_output_root_and_cache_dir_are_checked(checked, tmp_path):
    assert roots.unwritable_folder([f"output_root={tmp_path}/out"]) is None
    assert checked == [("output_root", f"{tmp_path}/out"), ("cache_dir", f"{tmp_path}/out/.cache")]


def test_no_cache_no_cache_dir(checked, tmp_path):
    roots.unwritable_folder([f"output_root={tmp_path}", "use_cache=false"])
    assert checked == [("output_root", str(tmp_path))]


def test_every_job_of_a_multirun_is_checked_once_per_folder(checked, tmp_path):
    roots.unwritable_folder(["-m", f"output_root={tmp_path}/a,{tmp_path}/b", "seed=0,1", "use_cache=false"])
    assert checked == [("output_root", f"{tmp_path}/a"), ("output_root", f"{tmp_path}/b")]


@pytest.mark.parametrize("flag", [["--cfg", "job"], ["--info"], ["--help"], ["--hydra-help"]])
def test_commands_that_write_nothing_check_nothing(checked, tmp_path, flag):
    assert roots.unwritable_folder([*flag, f"output_root={tmp_path}"]) is None
    assert checked == []


def test_the_first_unwritable_folder_is_the_answer(monkeypatch, tmp_path):
    real = roots.ensure_writable

    def fail_cache(folder, setting):
        if setting == "cache_dir":
            raise OutputWriteError(f"{setting}={folder} cannot be written: read-only")
        real(folder, setting)

    monkeypatch.setattr(roots, "ensure_writable", fail_cache)
    error = roots.unwritable_folder([f"output_root={tmp_path}", f"cache_dir={tmp_path}/ro"])
    assert isinstance(error, OutputWriteError) and f"cache_dir={tmp_path}/ro" in str(error)


def test_a_real_read_only_folder_is_found(monkeypatch, tmp_path):
    import os

    real_replace = os.replace

    def read_only(src, dst, *a, **k):
        if str(dst).startswith(str(tmp_path / "ro")):
            raise OSError(errno.EROFS, "Read-only file system")
        return real_replace(src, dst, *a, **k)

    monkeypatch.setattr(os, "replace", read_only)
    error = roots.unwritable_folder([f"output_root={tmp_path}/ro"])
    assert error is not None and "read-only" in str(error) and "Nothing was run" in str(error)


def test_a_command_that_does_not_parse_is_left_to_the_config_checks(checked):
    assert roots.unwritable_folder(["-m", "seed=[0,"]) is None and checked == []


def test_a_folder_named_after_another_setting_follows_each_job(checked, tmp_path):
    roots.unwritable_folder(["-m", f"output_root={tmp_path}/" + "${dataset.name}", "dataset=digits_lt,digits_binary",
                             "use_cache=false"])
    assert checked == [("output_root", f"{tmp_path}/digits_lt"), ("output_root", f"{tmp_path}/digits_binary")]


def test_the_jobs_the_command_composed_are_not_composed_again(checked, tmp_path, monkeypatch):
    """The commands compose each job once (cli.compose) and pass the jobs here: the folders are read from them."""
    import hydra

    from balancelab.cli.compose import compose_jobs

    argv = ["-m", f"output_root={tmp_path}", "seed=0,1,2,3", "balancing=none,smote"]
    jobs = compose_jobs(argv)
    calls = []
    real = hydra.compose
    monkeypatch.setattr(hydra, "compose", lambda *a, **k: calls.append(1) or real(*a, **k))
    roots.unwritable_folder(argv, jobs)
    assert len(calls) == 0 and checked == [("output_root", str(tmp_path)), ("cache_dir", f"{tmp_path}/.cache")]
