"""Abandoned locks are taken over, each exactly once; live ones never are."""

import json
import os
import platform
import subprocess
import sys
import time

import pytest

from balancelab.errors import RunLockedError
from balancelab.output import lock as lock_module
from balancelab.output.lock import LOCK_FILE, FolderLock, process_start


def write_lock(folder, age_s=0.0, **fields):
    path = folder / LOCK_FILE
    path.write_text(json.dumps({"host": platform.node(), "started": 0, "token": "old", **fields}))
    if age_s:
        then = time.time() - age_s
        os.utime(path, (then, then))
    return path


def holder_token(folder):
    return json.loads((folder / LOCK_FILE).read_text())["token"]


def leftovers(folder):
    return sorted(p.name for p in folder.iterdir() if p.name != LOCK_FILE)


class LosesTheRace(FolderLock):
    """A contender that judges the lock abandoned, and then, before it acts, another one takes it over."""

    def __init__(self, folder, rival, **kw):
        super().__init__(folder, **kw)
        self.rival, self.rival_won = rival, False

    def _abandoned(self, holder):
        reason = super()._abandoned(holder)
        if reason and not self.rival_won:
            self.rival_won = True
            self.rival.acquire()
        return reason


def test_a_contender_that_lost_the_takeover_race_does_not_move_the_winners_lock_aside(tmp_path):
    write_lock(tmp_path, age_s=100, host="gone-node", pid=1)
    winner = FolderLock(tmp_path, stale_after_s=10)
    late = LosesTheRace(tmp_path, winner, stale_after_s=10)
    try:
        with pytest.raises(RunLockedError, match=f"process {os.getpid()} on host"):
            late.acquire()
        assert late.rival_won and holder_token(tmp_path) == winner.token
        assert leftovers(tmp_path) == []
    finally:
        winner.release()
    assert not (tmp_path / LOCK_FILE).exists()


def test_a_lock_that_is_not_the_one_judged_is_put_back(tmp_path, monkeypatch):
    """The judged lock is released and a new holder locks in the instant before the move aside: the
    file moved aside is not the abandoned one, so it is put back and the newcomer keeps its lock."""
    write_lock(tmp_path, age_s=100, host="gone-node", pid=1)
    newcomer = FolderLock(tmp_path)
    real_replace = os.replace

    def replace(src, dst, *a, **k):
        if str(src) == str(tmp_path / LOCK_FILE) and not newcomer.held:
            os.unlink(src)  # the old holder releases ...
            newcomer.acquire()  # ... and a newcomer locks
        return real_replace(src, dst, *a, **k)

    monkeypatch.setattr(lock_module.os, "replace", replace)
    try:
        with pytest.raises(RunLockedError):
            FolderLock(tmp_path, stale_after_s=10).acquire()
        assert holder_token(tmp_path) == newcomer.token and leftovers(tmp_path) == []
    finally:
        newcomer.release()


@pytest.mark.parametrize("content", ["", "{\"host\": \"node-3\", \"pi", "\x00\x00garbage"])
def test_an_unreadable_lock_is_taken_over_once_older_than_the_stale_time(tmp_path, content, caplog, monkeypatch):
    monkeypatch.setattr(lock_module, "CONTENTION_S", 0.2)  # how long a young unreadable lock is waited for
    path = tmp_path / LOCK_FILE
    path.write_text(content)
    with pytest.raises(RunLockedError, match="unreadable"):
        FolderLock(tmp_path, stale_after_s=60).acquire()
    then = time.time() - 120
    os.utime(path, (then, then))
    with caplog.at_level("WARNING", logger="balancelab"), FolderLock(tmp_path, stale_after_s=60) as held:
        assert holder_token(tmp_path) == held.token
    assert "unreadable" in caplog.text


@pytest.fixture
def live_process():
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    yield proc
    proc.kill()
    proc.wait()


def test_a_live_pid_that_is_another_process_than_the_holder_is_taken_over_at_once(tmp_path, live_process, caplog):
    """pid reuse: the pid in the lock is alive, but started at another time than the holder did."""
    write_lock(tmp_path, pid=live_process.pid, pid_start=(process_start(live_process.pid) or 0) + 1)
    with caplog.at_level("WARNING", logger="balancelab"), FolderLock(tmp_path, stale_after_s=600) as held:
        assert holder_token(tmp_path) == held.token
    assert "another process" in caplog.text


def test_a_live_pid_without_a_start_time_is_taken_over_after_the_stale_time_only(tmp_path, live_process):
    """A lock from a system that cannot tell a process's start time: no heartbeat for lock_stale_after_s."""
    write_lock(tmp_path, pid=live_process.pid)
    with pytest.raises(RunLockedError, match=f"process {live_process.pid} "):
        FolderLock(tmp_path, stale_after_s=60).acquire()
    write_lock(tmp_path, age_s=120, pid=live_process.pid)
    with FolderLock(tmp_path, stale_after_s=60) as held:
        assert holder_token(tmp_path) == held.token


@pytest.mark.skipif(process_start(os.getpid()) is None, reason="no process start times here")
def test_the_holder_itself_alive_and_silent_is_not_taken_over(tmp_path, live_process):
    """Its start time matches: the holder is alive (a suspended job, Ctrl-Z); a stale heartbeat is not proof."""
    write_lock(tmp_path, age_s=1000, pid=live_process.pid, pid_start=process_start(live_process.pid))
    with pytest.raises(RunLockedError, match=f"process {live_process.pid} "):
        FolderLock(tmp_path, stale_after_s=60).acquire()


def test_our_own_pid_in_a_lock_we_do_not_hold_is_taken_over(tmp_path, caplog):
    """A restarted container gets the same pid (often 1) as the process that left the lock."""
    write_lock(tmp_path, pid=os.getpid())
    with caplog.at_level("WARNING", logger="balancelab"), FolderLock(tmp_path) as held:
        assert holder_token(tmp_path) == held.token
    assert "this process's own" in caplog.text


def test_a_lock_this_process_holds_is_still_refused_to_a_second_lock_object(tmp_path):
    with FolderLock(tmp_path):
        with pytest.raises(RunLockedError, match=f"process {os.getpid()} "):
            FolderLock(tmp_path).acquire()


def test_the_takeover_message_says_what_happened_to_the_old_file(tmp_path, caplog):
    write_lock(tmp_path, age_s=100, host="node-9", pid=77)
    with caplog.at_level("WARNING", logger="balancelab"), FolderLock(tmp_path, stale_after_s=10):
        assert leftovers(tmp_path) == []
    assert "node-9" in caplog.text and "pid 77" in caplog.text and "removed" in caplog.text
    assert "kept" not in caplog.text


def test_a_lock_file_never_appears_half_written(tmp_path, monkeypatch):
    """Others read the lock at any moment: it appears with its whole content or not at all."""
    seen = []
    real_link = os.link

    def link(src, dst, *a, **k):
        seen.append(json.loads(open(src).read())["token"])
        return real_link(src, dst, *a, **k)

    monkeypatch.setattr(lock_module.os, "link", link)
    with FolderLock(tmp_path) as held:
        assert seen == [held.token] and holder_token(tmp_path) == held.token


def test_without_hard_links_the_lock_is_created_exclusively_all_the_same(tmp_path, monkeypatch):
    def no_links(src, dst, *a, **k):
        raise OSError(95, "Operation not supported")

    monkeypatch.setattr(lock_module.os, "link", no_links)
    with FolderLock(tmp_path) as held:
        assert holder_token(tmp_path) == held.token
        with pytest.raises(RunLockedError):
            FolderLock(tmp_path).acquire()
        assert leftovers(tmp_path) == []


def test_a_holder_whose_lock_was_taken_over_says_so(tmp_path, caplog):
    with caplog.at_level("ERROR", logger="balancelab"):
        held = FolderLock(tmp_path, stale_after_s=0.4, heartbeat_s=0.05).acquire()
        try:
            write_lock(tmp_path, host="node-4", pid=12, token="theirs")
            time.sleep(0.3)
            assert "taken over" in caplog.text and "node-4" in caplog.text
            assert holder_token(tmp_path) == "theirs"  # neither touched by our heartbeat nor removed
        finally:
            held.release()
    assert holder_token(tmp_path) == "theirs"


def test_a_takeover_left_half_done_by_a_crash_does_not_block_later_ones(tmp_path):
    write_lock(tmp_path, age_s=100, host="gone-node", pid=1)
    breaker = tmp_path / (LOCK_FILE + ".takeover")
    breaker.write_text(json.dumps({"host": "gone-node", "pid": 2, "token": "crashed"}))
    then = time.time() - 100
    os.utime(breaker, (then, then))
    with FolderLock(tmp_path, stale_after_s=10) as held:
        assert holder_token(tmp_path) == held.token and leftovers(tmp_path) == []
