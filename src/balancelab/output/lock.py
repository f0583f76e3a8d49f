"""One process per folder (a run, a sweep's report): a lock file created atomically, with a heartbeat.

The lock file is written beside its place and hard-linked into it: ``link`` is atomic and fails when the
name exists, on local file systems and on NFS (unlike ``flock``, which NFS clients may not honour), and
the file never appears half-written. Where hard links are not supported, ``open(O_CREAT | O_EXCL)`` is
used. The holder writes its host, pid, the pid's start time and the boot it runs in, and touches the
file every ``heartbeat_s`` seconds.

A lock is abandoned when its holder is gone: on the same host, a pid that no longer exists, that now
belongs to another process (pid reuse: another start time, another boot) or that is our own pid in a
lock this process does not hold (a restarted container); on another host, or when the start time cannot
be told, no heartbeat for ``stale_after_s``; a lock file that cannot be read, once older than that.

Taking over is serialised by a second lock (``.lock.takeover``): its holder checks that the lock is still
the abandoned one it judged (the same file), moves it aside, checks that what it moved is that file (and
puts it back if not: its holder released it and a newcomer locked in between), removes it and locks.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import platform
import random
import threading
import time
from pathlib import Path
from typing import Optional

from balancelab.errors import RunLockedError
from balancelab.output.atomic import write_failure

log = logging.getLogger("balancelab")
LOCK_FILE = ".lock"
TAKEOVER_FILE = LOCK_FILE + ".takeover"
# A takeover takes a few file operations; a takeover lock this old was left by a crash in between.
TAKEOVER_STALE_S = 30.0
CONTENTION_S = 2.0  # how long acquire keeps looking while a lock is being written or taken over
_HELD_TOKENS: set = set()  # the locks this process holds: our own pid in a lock file is not proof of that


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    except OSError:
        return False  # not a valid pid at all (0, negative, too large)
    return True


def process_start(pid: int) -> Optional[int]:
    """When ``pid`` started, in clock ticks since boot (Linux), or None where that cannot be told."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        return int(fields[19])  # field 22 of proc(5); fields[0] is field 3
    except (OSError, IndexError, ValueError):
        return None


def boot_id() -> Optional[str]:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip() or None
    except OSError:
        return None


def _read_lock(path: Path) -> dict:
    """What a lock file says, with its age and identity; ``gone`` or ``unreadable`` flags."""
    try:
        with open(path, "rb") as f:
            st = os.fstat(f.fileno())
            raw = f.read()
    except FileNotFoundError:
        return {"gone": True}
    except OSError:
        return {"unreadable": True, "age_s": 0.0, "file": None}
    facts = {"age_s": time.time() - st.st_mtime, "file": _identity(st, raw)}
    try:
        info = json.loads(raw.decode("utf-8"))
        if not isinstance(info, dict):
            raise ValueError("not a mapping")
    except ValueError:
        return {"unreadable": True, **facts}
    return {**info, **facts}


def _identity(st: os.stat_result, raw: bytes) -> tuple:
    """One lock file as it was read. The inode alone is not enough: a freed inode number is soon reused by
    the next file made (a newcomer's lock); a heartbeat changes the time (its holder is alive after all)."""
    return st.st_dev, st.st_ino, st.st_mtime_ns, hashlib.sha1(raw).hexdigest()


def _file_of(path: Path):
    return _read_lock(path).get("file")


def _create_exclusive(path: Path, content: bytes) -> bool:
    """Make ``path`` with ``content`` unless it exists: atomically, and never visible half-written."""
    staged = path.with_name(f"{path.name}.new-{os.getpid()}-{time.time_ns()}")
    try:
        staged.write_bytes(content)
    except OSError:  # a full or read-only disk: no half-written file left behind; acquire() says why
        staged.unlink(missing_ok=True)
        raise
    try:
        os.link(staged, path)
        return True
    except FileExistsError:
        return False
    except OSError:
        # NFS may lose the reply of a link that succeeded: the staged file then has a second name.
        try:
            if os.stat(staged).st_nlink == 2 and os.path.samefile(staged, path):
                return True
        except OSError:
            pass
        return _create_with_o_excl(path, content)  # no hard links here (some FUSE, SMB, vfat)
    finally:
        staged.unlink(missing_ok=True)


def _create_with_o_excl(path: Path, content: bytes) -> bool:
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
        return False
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(content)
    except OSError:
        path.unlink(missing_ok=True)  # never a half-written lock that reads as held
        raise
    return True


def _move_aside_if(path: Path, expected, aside: Path) -> bool:
    """Move ``path`` to ``aside`` if it is the file ``expected`` (device, inode); put back anything else.

    Two steps, and another process may act in between: what was moved is checked, not assumed.
    """
    try:
        os.replace(path, aside)
    except FileNotFoundError:
        return False
    if _file_of(aside) == expected:
        return True
    try:
        os.link(aside, path)  # put it back, unless a newcomer holds the name by now
    except OSError:
        log.error("A lock file moved aside by mistake could not be put back (%s); its holder may no longer be "
                  "protected by it.", path)
    aside.unlink(missing_ok=True)
    return False


class FolderLock:
    def __init__(self, folder: str | os.PathLike, stale_after_s: float = 600.0, heartbeat_s: float = 30.0,
                 what: str = "run", advice: str = "wait for it to finish, or stop it and run again "
                                                   "(a run resumes where it stopped)"):
        self.folder = Path(folder)
        self.path = self.folder / LOCK_FILE
        self.stale_after_s = stale_after_s
        self.heartbeat_s = min(heartbeat_s, max(stale_after_s / 4, 0.05))
        self.what, self.advice = what, advice
        self.token = f"{platform.node()}:{os.getpid()}:{time.time_ns()}:{random.getrandbits(32):08x}"
        self.held = False
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None

    # -- acquisition ------------------------------------------------------------------------------
    def acquire(self) -> "FolderLock":
        """Take the lock; RunLockedError while another process holds it, OutputWriteError when it cannot be
        written (a full or read-only disk: the same message, exit code and fix as every other write)."""
        try:
            return self._acquire()
        except OSError as exc:
            error = write_failure(self.path, exc)
            if error is None:
                raise
            raise error from exc

    def _acquire(self) -> "FolderLock":
        self.folder.mkdir(parents=True, exist_ok=True)
        deadline = time.monotonic() + CONTENTION_S
        while True:
            try:
                if self._create(self.path):
                    return self._held_now()
                holder = _read_lock(self.path)
                if not holder.get("gone"):  # gone: released meanwhile, compete for it again
                    reason = self._abandoned(holder)
                    if reason is None and not holder.get("unreadable"):
                        raise RunLockedError(self._held_message(holder))
                    if reason is not None and self._take_over(holder, reason):
                        return self._held_now()
            except FileNotFoundError:
                # The folder was removed since it was made: its last holder released it and removed it (a
                # decoded-cache build removes its lock folder when done). Make it again and compete again.
                if time.monotonic() > deadline:
                    raise
                self.folder.mkdir(parents=True, exist_ok=True)
                continue
            if time.monotonic() > deadline:
                raise RunLockedError(self._held_message(_read_lock(self.path)))
            # Being written (unreadable for an instant), or another contender is taking over: look again.
            time.sleep(0.02 + random.random() * 0.03)

    def _lock_content(self) -> bytes:
        return json.dumps({"host": platform.node(), "pid": os.getpid(), "pid_start": process_start(os.getpid()),
                           "boot": boot_id(), "started": time.time(), "token": self.token}).encode()

    def _create(self, path: Path) -> bool:
        return _create_exclusive(path, self._lock_content())

    def _held_now(self) -> "FolderLock":
        self.held = True
        _HELD_TOKENS.add(self.token)
        self._start_heartbeat()
        return self

    def _abandoned(self, holder: dict, stale_after_s: Optional[float] = None) -> Optional[str]:
        """Why the lock ``holder`` describes is abandoned, or None while its holder may be alive."""
        stale_after_s = self.stale_after_s if stale_after_s is None else stale_after_s
        age = holder.get("age_s", 0.0)
        if holder.get("gone"):
            return "the previous holder just released it"
        if holder.get("unreadable"):
            if age > stale_after_s:
                return f"its lock file is unreadable (empty or damaged) and was last changed {age:.0f} s ago"
            return None
        pid, who = holder.get("pid"), f"process {holder.get('pid')} on host {holder.get('host')}"
        if holder.get("host") == platform.node() and isinstance(pid, int):
            if holder.get("boot") and boot_id() and holder["boot"] != boot_id():
                return f"{who} ran before this host restarted"
            if pid == os.getpid() and holder.get("token") not in _HELD_TOKENS:
                return (f"its pid {pid} is this process's own, but this process never took it "
                        f"(a restarted container reuses pids)")
            if not pid_alive(pid):
                return f"{who} no longer exists"
            start = process_start(pid)
            if holder.get("pid_start") is not None and start is not None:
                if start != holder["pid_start"]:
                    return f"{who} is gone; pid {pid} now belongs to another process"
                return None  # the holder itself, alive: a stale heartbeat (a suspended job) is not proof
        if age > stale_after_s:
            return (f"no heartbeat from {who} for {age:.0f} s "
                    f"(lock_stale_after_s={stale_after_s:g})")
        return None

    def _take_over(self, judged: dict, reason: str) -> bool:
        """Replace the abandoned lock ``judged`` by ours; False when it is no longer that lock (look again)."""
        takeover = self.folder / TAKEOVER_FILE
        if not self._create(takeover):
            self._clear_abandoned_takeover(takeover)
            return False
        try:
            current = _read_lock(self.path)
            if judged.get("file") is None or current.get("file") != judged["file"]:
                return False  # released, replaced or taken over since we judged it
            aside = self.path.with_name(f"{LOCK_FILE}.abandoned-{os.getpid()}-{time.time_ns()}")
            if not _move_aside_if(self.path, judged["file"], aside):
                return False
            aside.unlink(missing_ok=True)
            held_by = "" if judged.get("unreadable") else f" ({_describe(judged)})"
            log.warning("Took over the lock of %s: %s. The old lock file%s was removed.", self.folder, reason,
                        held_by)
            return self._create(self.path)  # False if a newcomer locked first: it holds the folder now
        finally:
            if _read_lock(takeover).get("token") == self.token:
                takeover.unlink(missing_ok=True)

    def _clear_abandoned_takeover(self, takeover: Path) -> None:
        """A takeover lock whose holder crashed mid-way would block every later takeover: remove it."""
        holder = _read_lock(takeover)
        if holder.get("gone") or holder.get("file") is None:
            return
        if self._abandoned(holder, stale_after_s=TAKEOVER_STALE_S) is None:
            return
        aside = takeover.with_name(f"{TAKEOVER_FILE}.abandoned-{os.getpid()}-{time.time_ns()}")
        if _move_aside_if(takeover, holder["file"], aside):
            aside.unlink(missing_ok=True)

    def _held_message(self, holder: Optional[dict]) -> str:
        if not holder or holder.get("gone"):
            who = "another process"
        elif holder.get("unreadable"):
            who = "another process (its lock file is unreadable: being written, or damaged)"
        else:
            who = f"process {holder.get('pid')} on host {holder.get('host')}"
        since = "" if not holder or not isinstance(holder.get("started"), (int, float)) else \
            f", started {time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(holder['started']))}"
        return (f"The {self.what} folder {self.folder} is in use by {who}{since} (lock file {self.path}). "
                f"Two processes must not write one {self.what}: {self.advice}. If that process is gone for good "
                f"(e.g. a crashed node), the lock is taken over automatically {self.stale_after_s:g} s after its "
                f"last heartbeat (at once when it ran on this host), or delete {self.path} by hand.")

    # -- heartbeat and release ----------------------------------------------------------------------
    def _start_heartbeat(self) -> None:
        def beat():
            while not self._stop.wait(self.heartbeat_s):
                holder = _read_lock(self.path)
                if holder.get("unreadable"):
                    continue  # a transient NFS hiccup must not end the heartbeat; the next beat looks again
                if holder.get("token") != self.token:
                    log.error("The lock of %s was taken over by %s (no heartbeat seen from this process for "
                              "%g s). Two processes may now write this %s: stop one of them.", self.folder,
                              _describe(holder), self.stale_after_s, self.what)
                    return
                try:
                    os.utime(self.path)
                except OSError:
                    pass

        self._thread = threading.Thread(target=beat, name="balancelab-lock-heartbeat", daemon=True)
        self._thread.start()

    def release(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        _HELD_TOKENS.discard(self.token)
        if self.held and _read_lock(self.path).get("token") == self.token:  # never remove another's lock
            self.path.unlink(missing_ok=True)
        self.held = False

    def __enter__(self) -> "FolderLock":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


def _describe(holder: dict) -> str:
    if holder.get("gone"):
        return "nobody (the file is gone)"
    if holder.get("unreadable"):
        return "an unreadable lock file"
    started = holder.get("started")
    since = f" since {time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(started))}" \
        if isinstance(started, (int, float)) and started > 0 else ""
    return f"pid {holder.get('pid')} on host {holder.get('host')}{since}"
