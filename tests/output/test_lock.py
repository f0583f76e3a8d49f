"""One process per run folder, also on shared file systems (no flock), with abandoned locks taken over."""

import json
import multiprocessing as mp
import os
import platform
import subprocess
import sys
import time

import pytest

from balancelab.errors import RunLockedError
from balancelab.output.lock import LOCK_FILE, FolderLock


def test_a_held_lock_refuses_a_second_holder_naming_host_and_pid(tmp_path):
    with FolderLock(tmp_path):
        with pytest.raises(RunLockedError) as err:
            FolderLock(tmp_path).acquire()
    message = str(err.value)
    assert str(os.getpid()) in message and platform.node() in message and "resume" in message
    assert not (tmp_path / LOCK_FILE).exists()  # released on exit


def test_a_lock_of_another_live_process_is_refused(tmp_path):
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sys, time; from balancelab.output.lock import FolderLock; "
        f"l = FolderLock(r'{tmp_path}').acquire(); print('held', flush=True); time.sleep(30)")],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(RunLockedError, match=f"process {holder.pid} "):
            FolderLock(tmp_path).acquire()
    finally:
        holder.kill()
        holder.wait()


def test_a_lock_left_by_a_dead_process_on_this_host_is_taken_over(tmp_path, caplog):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    pid = int(dead.stdout)
    (tmp_path / LOCK_FILE).write_text(json.dumps({"host": platform.node(), "pid": pid, "started": 0, "token": "x"}))
    with caplog.at_level("WARNING", logger="balancelab"), FolderLock(tmp_path):
        assert json.loads((tmp_path / LOCK_FILE).read_text())["pid"] == os.getpid()
    assert "no longer exists" in caplog.text


def test_another_hosts_lock_is_taken_over_only_without_heartbeat(tmp_path):
    lock = tmp_path / LOCK_FILE
    lock.write_text(json.dumps({"host": "node-17", "pid": 1234, "started": 0, "token": "x"}))
    with pytest.raises(RunLockedError, match="node-17"):
        FolderLock(tmp_path, stale_after_s=60).acquire()
    old = time.time() - 120
    os.utime(lock, (old, old))
    with FolderLock(tmp_path, stale_after_s=60):
        assert json.loads(lock.read_text())["host"] == platform.node()


def test_the_heartbeat_keeps_a_long_run_lock_fresh(tmp_path):
    with FolderLock(tmp_path, stale_after_s=0.4, heartbeat_s=0.05):
        old = time.time() - 100
        os.utime(tmp_path / LOCK_FILE, (old, old))
        time.sleep(0.3)
        assert time.time() - (tmp_path / LOCK_FILE).stat().st_mtime < 0.3


def _contend(folder, queue):
    try:
        lock = FolderLock(folder, stale_after_s=1).acquire()
        queue.put("won")
        time.sleep(1.0)
        lock.release()
    except RunLockedError:
        queue.put("refused")


def test_only_one_of_many_contenders_takes_over_an_abandoned_lock(tmp_path):
    (tmp_path / LOCK_FILE).write_text(json.dumps({"host": "gone-node", "pid": 1, "started": 0, "token": "x"}))
    old = time.time() - 100
    os.utime(tmp_path / LOCK_FILE, (old, old))
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    procs = [ctx.Process(target=_contend, args=(str(tmp_path), queue)) for _ in range(4)]
    for p in procs:
        p.start()
    results = [queue.get(timeout=60) for _ in procs]
    for p in procs:
        p.join()
    assert results.count("won") == 1 and results.count("refused") == 3


def test_a_full_disk_while_locking_is_one_clear_write_error_and_leaves_no_staged_file(tmp_path, monkeypatch):
    """The lock is the first file a run writes: on a full disk it must say so the way every other write does
    (OutputWriteError, exit 4), not end in an OSError traceback, and leave no half-written helper behind."""
    import errno
    from pathlib import Path

    from balancelab.errors import OutputWriteError

    def full_disk(self, data):
        with open(self, "wb") as f:
            f.write(data[:3])
        raise OSError(errno.ENOSPC, "No space left on device", str(self))

    monkeypatch.setattr(Path, "write_bytes", full_disk)
    with pytest.raises(OutputWriteError, match="No space left|no space"):
        FolderLock(tmp_path / "run").acquire()
    assert [p.name for p in (tmp_path / "run").iterdir()] == []
