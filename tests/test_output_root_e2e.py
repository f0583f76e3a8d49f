"""An output root that cannot be written ends balance-run and balance-sweep before Hydra makes a folder:
one message naming the setting, the free space and the fix, exit code 4, no traceback."""

import os
import subprocess
import sys

import pytest

from tests.conftest import TINY, run_cli


@pytest.fixture
def small_mount(tmp_path):
    """A 1 MB tmpfs; (path, remount read-only, fill it up). Skipped where mounting is not permitted."""
    mount = tmp_path / "disk"
    mount.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)], capture_output=True).returncode:
        pytest.skip("mounting a tmpfs is not permitted here")

    def read_only():
        subprocess.run(["mount", "-o", "remount,ro", str(mount)], check=True)

    def fill():
        with open(mount / "filler", "wb", buffering=0) as f:
            try:
                while True:
                    f.write(b"\0" * 4096)
            except OSError:
                pass

    yield mount, read_only, fill
    subprocess.run(["umount", "-l", str(mount)], capture_output=True)


def assert_clean_refusal(result, setting, folder, reason):
    assert result.returncode == 4, result.stderr[-3000:]
    assert "Traceback" not in result.stderr and "HYDRA_FULL_ERROR" not in result.stderr, result.stderr[-3000:]
    assert f"{setting}={folder} cannot be written: {reason}" in result.stderr
    assert "Free space there:" in result.stderr and "Nothing was run" in result.stderr


@pytest.mark.parametrize("script", ["balance-run", "balance-sweep"])
def test_a_read_only_output_root(tmp_path, small_mount, script):
    mount, read_only, _ = small_mount
    read_only()
    result = run_cli([*TINY, f"output_root={mount}"], cwd=tmp_path, script=script)
    assert_clean_refusal(result, "output_root", mount, "the file system is read-only")


@pytest.mark.parametrize("script", ["balance-run", "balance-sweep"])
def test_a_full_output_root(tmp_path, small_mount, script):
    mount, _, fill = small_mount
    (mount / "runs").mkdir()  # even with Hydra's folder there already: nothing can be written into it
    fill()
    result = run_cli([*TINY, f"output_root={mount}"], cwd=tmp_path, script=script)
    assert_clean_refusal(result, "output_root", mount, "no space left on the device")


def test_a_read_only_cache_dir(tmp_path, small_mount):
    mount, read_only, _ = small_mount
    read_only()
    result = run_cli([*TINY, f"output_root={tmp_path / 'out'}", f"cache_dir={mount}/cache"], cwd=tmp_path)
    assert_clean_refusal(result, "cache_dir", f"{mount}/cache", "the file system is read-only")
    assert not (tmp_path / "out" / "runs").exists()


READ_ONLY = """
import errno, os, sys
real = os.replace
def replace(src, dst, *a, **k):
    if ".balancelab-write-probe" in str(dst) or "/runs" in str(dst):
        raise OSError(errno.EROFS, "Read-only file system")
    return real(src, dst, *a, **k)
real_mkdir = os.mkdir
def mkdir(path, *a, **k):
    if str(path).endswith("/runs") or "/runs/" in str(path):
        raise OSError(errno.EROFS, "Read-only file system", str(path))
    return real_mkdir(path, *a, **k)
os.replace, os.mkdir = replace, mkdir
sys.argv = [sys.argv[1], *sys.argv[2:]]
from balancelab.cli.run_command import run
from balancelab.cli.sweep_command import sweep
{"balance-run": run, "balance-sweep": sweep}[sys.argv[0]]()
"""


@pytest.mark.parametrize("script", ["balance-run", "balance-sweep"])
def test_the_check_comes_before_hydra_makes_the_run_folder(tmp_path, script):
    """Without a mount: every write under the output root fails as on a read-only disk (Hydra's mkdir
    of the run folder too, which gave its OSError traceback before)."""
    env = {**os.environ, "WANDB_MODE": "disabled"}
    out = tmp_path / "out"
    result = subprocess.run([sys.executable, "-c", READ_ONLY, script, *TINY, f"output_root={out}"], cwd=tmp_path,
                            capture_output=True, text=True, env=env, timeout=300)
    assert_clean_refusal(result, "output_root", out, "the file system is read-only")
    assert not (out / "runs").exists() and not (out / "sweeps").exists()


def test_a_look_at_the_config_makes_no_folder(tmp_path):
    result = run_cli(["--cfg", "job", f"output_root={tmp_path / 'out'}"], cwd=tmp_path)
    assert result.returncode == 0 and not (tmp_path / "out").exists()


def test_a_job_on_another_machine_checks_its_cache_dir_too(tmp_path, monkeypatch):
    """The job itself checks again (a SLURM node has other mounts than the submitting host): cache_dir too."""
    from hydra.core.hydra_config import HydraConfig

    from balancelab import task
    from balancelab.errors import OutputWriteError
    from balancelab.output import atomic
    from tests.conftest import compose

    checked = []
    monkeypatch.setattr(atomic, "ensure_writable", lambda folder, setting="output_root": checked.append(setting))
    monkeypatch.setattr(HydraConfig, "get", staticmethod(lambda: compose_hydra(tmp_path)))

    def stop_after_checks(*a, **k):
        raise OutputWriteError("stop here")

    monkeypatch.setattr("balancelab.output.lock.FolderLock.acquire", stop_after_checks)
    cfg = compose([*TINY, f"output_root={tmp_path}"])
    with pytest.raises(SystemExit) as stopped:
        task._job(cfg)
    assert stopped.value.code == 4 and checked == ["output_root", "cache_dir"]


def compose_hydra(tmp_path):
    from omegaconf import OmegaConf

    return OmegaConf.create({"mode": "RunMode.RUN", "runtime": {"output_dir": str(tmp_path / "runs" / "r")},
                             "launcher": {"_target_": "basic"}})
