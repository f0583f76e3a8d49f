"""What a failed write reports: the free space once the failed file is gone, the output root up front, the umask."""

import errno
import os
import subprocess
import sys
from pathlib import Path

import pytest

from balancelab.errors import OutputWriteError
from balancelab.output import atomic

LINUX = sys.platform.startswith("linux")


def open_files_named(fragment: str) -> list:
    """This process's open files whose path contains ``fragment`` (deleted ones included)."""
    found = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if fragment in target:
            found.append(target)
    return found


def fails_with_its_file_open(path):
    handle = open(path, "wb")  # noqa: SIM115 (left open on purpose, as torch.save's writer leaves it)
    handle.write(b"x" * 4096)
    raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 4096 vs 0")


def fails_inside_like_torch(path):
    """torch.save: the writing frame fails, then the zip writer's __exit__ fails again: the open file
    is held by the frames of the first error, reachable only as the second one's __context__."""
    try:
        def write_records():
            handle = open(path, "wb")  # noqa: SIM115
            handle.write(b"x" * 4096)
            raise RuntimeError("basic_ios::clear: iostream error")

        write_records()
    except RuntimeError:
        raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 4096 vs 0")


@pytest.mark.skipif(not LINUX, reason="reads /proc/self/fd")
@pytest.mark.parametrize("writer", [fails_with_its_file_open, fails_inside_like_torch])
def test_free_space_is_read_after_the_failed_temporary_file_is_gone_and_closed(tmp_path, monkeypatch, writer):
    """A writer that fails with its file still open holds the blocks of a deleted file: the free space
    must be read once that file is closed, or it is understated by its size."""
    seen = []

    def measure(path):
        seen.append((sorted(p.name for p in tmp_path.iterdir()), open_files_named(".model.pt.")))
        return 123_000_000

    monkeypatch.setattr(atomic, "free_space", measure)
    with pytest.raises(OutputWriteError, match="123.0 MB"):
        atomic.write_with(tmp_path / "model.pt", writer)
    assert seen == [([], [])]


@pytest.mark.parametrize("writer", ["python", "torch"])
def test_free_space_reported_on_a_small_file_system_counts_the_failed_files_space(tmp_path, writer):
    """On a real 1 MB tmpfs: fill it through an open temporary file; the message reports the space free
    after that file is gone (the whole file system), not the near-zero left while it was open."""
    mount = tmp_path / "small"
    mount.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)], capture_output=True).returncode:
        pytest.skip("mounting a tmpfs is not permitted here")
    try:
        def fill(path):
            handle = open(path, "wb")  # noqa: SIM115
            while True:
                handle.write(b"x" * 65536)
                handle.flush()

        def torch_save(path):
            import torch

            torch.save({"x": torch.zeros(600_000)}, path)

        with pytest.raises(OutputWriteError) as err:
            atomic.write_with(mount / "best_model.pt", fill if writer == "python" else torch_save)
        free_mb = float(str(err.value).split("Free space there: ")[1].split(" MB")[0])
        assert free_mb > 0.9, str(err.value)
    finally:
        subprocess.run(["umount", "-l", str(mount)], capture_output=True)  # lazy: a leaked file must not keep it


def test_reading_the_umask_never_changes_it(monkeypatch):
    """Another thread creating a file while the umask is read must get the umask's permissions:
    reading it may not set it to anything else, even for a moment."""
    calls = []
    real = os.umask
    monkeypatch.setattr(os, "umask", lambda mask: calls.append(mask) or real(mask))
    old = real(0o027)
    try:
        assert atomic.current_umask() == 0o027
    finally:
        real(old)
    if LINUX:
        assert calls == []


def test_an_unwritable_output_root_is_named_with_its_setting_and_the_fix(tmp_path, monkeypatch):
    real_replace = os.replace

    def read_only(src, dst, *a, **k):
        if ".balancelab-write-probe" in str(dst):
            raise OSError(errno.EROFS, "Read-only file system")
        return real_replace(src, dst, *a, **k)

    monkeypatch.setattr(os, "replace", read_only)
    with pytest.raises(OutputWriteError) as err:
        atomic.ensure_writable(tmp_path / "out", setting="output_root")
    message = str(err.value)
    assert f"output_root={tmp_path / 'out'}" in message and "read-only" in message
    assert "Free space there:" in message and "Nothing was run" in message
    assert not [p for p in (tmp_path / "out").iterdir()]  # no probe left behind


def test_a_full_disk_at_the_cache_dir_names_cache_dir(tmp_path, monkeypatch):
    monkeypatch.setattr(Path, "write_text", lambda self, *a, **k: (_ for _ in ()).throw(
        OSError(errno.ENOSPC, "No space left on device")))
    with pytest.raises(OutputWriteError) as err:
        atomic.ensure_writable(tmp_path / "cache", setting="cache_dir")
    assert f"cache_dir={tmp_path / 'cache'}" in str(err.value) and "no space left" in str(err.value)
    assert "Free some space" in str(err.value)


def test_a_write_error_restates_its_fix_for_another_command(tmp_path):
    def writer(path):
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(OutputWriteError) as err:
        atomic.write_with(tmp_path / "comparison.csv", writer)
    text = err.value.restated("Free some space, then run balance-report again.")
    assert text.startswith(f"Cannot write {tmp_path / 'comparison.csv'}: no space left on the device.")
    assert "Free space there:" in text and "output_root" not in text and text.endswith("balance-report again.")
