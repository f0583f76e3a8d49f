"""A real one-node SLURM cluster for a test: munged, slurmctld and slurmd of Debian's ``slurm-wlm`` and ``munge``.

Everything lives in one private folder (its own munge key and socket, slurm.conf, state, spool, logs, free
TCP ports), so the cluster touches neither /etc/slurm nor /etc/munge nor another cluster on the machine. The
node is described as this host really is (``slurmd -C``: its CPUs and memory), so slurmd registers it without
a mismatch. Commands reach the cluster through ``SLURM_CONF`` (see :meth:`SlurmCluster.env`).

    with SlurmCluster() as cluster:            # returns once sinfo shows the node idle
        subprocess.run(["sbatch", ...], env=cluster.env())

Needs root (slurmd starts every job as its user, and slurmctld/slurmd run as SlurmUser=root here) and the
binaries; :func:`unavailable` says why a machine cannot run it (None when it can).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Callable, Dict, List, Optional

DAEMONS = ("munged", "slurmctld", "slurmd")
COMMANDS = ("sbatch", "squeue", "sinfo", "scontrol", "scancel")
PACKAGES = "slurm-wlm munge"


def unavailable() -> Optional[str]:
    """Why a one-node cluster cannot be started here (None: it can)."""
    missing = [name for name in (*DAEMONS, *COMMANDS) if _which(name) is None]
    root = hasattr(os, "geteuid") and os.geteuid() == 0
    if missing and not root:
        return (f"SLURM is not installed ({', '.join(missing)} not found) and this user is not root, so neither can "
                f"it be installed nor slurmd run: .ci/run installs it as root (apt-get install -y {PACKAGES})")
    if missing:
        return (f"SLURM is not installed ({', '.join(missing)} not found): run .ci/run, which installs it, or "
                f"apt-get install -y {PACKAGES}")
    if not root:
        return "slurmd must run as root to start jobs (this user is not root); .ci/run runs as root"
    return None


def _which(name: str) -> Optional[str]:
    # munged, slurmctld and slurmd are in /usr/sbin, which a non-login PATH may lack
    return shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin:/usr/bin")


def _free_ports(count: int) -> List[int]:
    """``count`` distinct free TCP ports (all held open while chosen, so none is given twice)."""
    sockets = [socket.socket(socket.AF_INET, socket.SOCK_STREAM) for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def wait_until(condition: Callable[[], object], timeout: float, what: str, poll: float = 0.2,
               on_timeout: Callable[[], str] = lambda: "") -> object:
    """Poll ``condition`` until it returns something true (returned); TimeoutError naming ``what`` after
    ``timeout`` seconds. The poll interval only sets how soon the event is seen, never whether."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} did not happen within {timeout:.0f} s. {on_timeout()}")
        time.sleep(poll)


class SlurmCluster:
    """munged + slurmctld + slurmd on this host, one partition ``ci`` with this host as its only node."""

    def __init__(self, folder: Optional[Path] = None, start_timeout: float = 90.0):
        # unix socket paths are limited to 108 bytes: a short private folder under /tmp, not pytest's tmp_path
        self.owns_folder = folder is None
        self.folder = Path(folder) if folder else Path(tempfile.mkdtemp(prefix="slurm-", dir="/tmp"))
        self.start_timeout = start_timeout
        self.host = socket.gethostname().split(".")[0]
        self.conf = self.folder / "slurm.conf"
        self.munge_socket = self.folder / "munge" / "munge.socket"
        self.processes: Dict[str, subprocess.Popen] = {}
        self.node_line = ""

    # -- what a command needs to talk to this cluster
    def env(self, base: Optional[dict] = None) -> dict:
        env = dict(os.environ if base is None else base)
        env["SLURM_CONF"] = str(self.conf)
        env["PATH"] = env.get("PATH", "") + ":/usr/sbin:/sbin"
        return env

    def command(self, *args: str, timeout: float = 30.0, check: bool = True) -> str:
        result = subprocess.run(list(args), capture_output=True, text=True, env=self.env(), timeout=timeout)
        if check and result.returncode != 0:
            raise RuntimeError(f"{' '.join(args)} failed ({result.returncode}): {result.stderr.strip()}")
        return result.stdout

    def logs(self, lines: int = 40) -> str:
        parts = []
        for name in ("munged.out", "slurmctld.log", "slurmd.log"):
            path = self.folder / name
            text = path.read_text(errors="replace").splitlines()[-lines:] if path.exists() else ["(no log)"]
            parts.append(f"--- {name} (last {lines} lines)\n" + "\n".join(text))
        return "\n".join(parts)

    # -- bring-up and tear-down
    def __enter__(self) -> "SlurmCluster":
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self) -> None:
        reason = unavailable()
        if reason:
            raise RuntimeError(reason)
        for sub in ("munge", "state", "spool"):
            (self.folder / sub).mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(self.folder, 0o755)
        self._start_munge()
        self._write_conf()
        self._daemon("slurmctld", [_which("slurmctld"), "-D", "-f", str(self.conf), "-L",
                                   str(self.folder / "slurmctld.log")])
        wait_until(lambda: self._answers("scontrol", "ping"), self.start_timeout, "slurmctld answering scontrol ping",
                   on_timeout=self.logs)
        self._daemon("slurmd", [_which("slurmd"), "-D", "-f", str(self.conf), "-N", self.host, "-L",
                                str(self.folder / "slurmd.log")])
        wait_until(self._node_idle, self.start_timeout, f"node {self.host} idle in sinfo", on_timeout=self.logs)

    def _start_munge(self) -> None:
        key = self.folder / "munge" / "munge.key"
        key.write_bytes(os.urandom(1024))
        os.chmod(key, 0o600)
        # -F: in the foreground, so it is our child and stops with us; --force: root, a fresh seed file
        self._daemon("munged", [_which("munged"), "-F", "--force", f"--socket={self.munge_socket}",
                                f"--key-file={key}", f"--pid-file={self.folder / 'munge' / 'munged.pid'}",
                                f"--log-file={self.folder / 'munged.log'}",
                                f"--seed-file={self.folder / 'munge' / 'munged.seed'}"])
        wait_until(self.munge_socket.exists, self.start_timeout, "munged's socket", on_timeout=self.logs)

    def _write_conf(self) -> None:
        # The node as slurmd itself measures it ("NodeName=host CPUs=2 Boards=1 ... RealMemory=24105").
        probe = subprocess.run([_which("slurmd"), "-C"], capture_output=True, text=True, timeout=30)
        line = next((l for l in probe.stdout.splitlines() if l.startswith("NodeName=")), "")
        if not line:
            raise RuntimeError(f"slurmd -C did not describe this node: {probe.stdout} {probe.stderr}")
        fields = [f for f in line.split() if not f.startswith("NodeName=")]
        self.node_line = f"NodeName={self.host} NodeAddr=127.0.0.1 {' '.join(fields)} State=UNKNOWN"
        (self.folder / "plugstack.conf").write_text("")
        f = self.folder
        controller_port, node_port = _free_ports(2)
        self.conf.write_text("\n".join([
            "ClusterName=balancelab-ci",
            f"SlurmctldHost={self.host}(127.0.0.1)",
            f"SlurmctldPort={controller_port}",
            f"SlurmdPort={node_port}",
            # cred_expire: a requeued job may start again only once its old credential has expired (120 s by
            # default, which would idle the test for two minutes); 10 s still leaves a launch ample time here
            "AuthType=auth/munge", "CredType=cred/munge", f"AuthInfo=socket={self.munge_socket},cred_expire=10",
            "SlurmUser=root", "SlurmdUser=root",
            f"StateSaveLocation={f / 'state'}", f"SlurmdSpoolDir={f / 'spool'}",
            f"SlurmctldPidFile={f / 'slurmctld.pid'}", f"SlurmdPidFile={f / 'slurmd.pid'}",
            f"PlugStackConfig={f / 'plugstack.conf'}",
            # no cgroups in a container: processes tracked by their parent ids, no task binding
            "ProctrackType=proctrack/linuxproc", "TaskPlugin=task/none", "MpiDefault=none", "SwitchType=switch/none",
            "JobAcctGatherType=jobacct_gather/none", "AccountingStorageType=accounting_storage/none",
            "JobCompType=jobcomp/none",
            # pending jobs are looked at every 2 s (default: 30-60 s), so a requeued job restarts as soon as it may
            "SchedulerType=sched/backfill", "SchedulerParameters=sched_interval=2,bf_interval=2",
            "SelectType=select/cons_tres", "SelectTypeParameters=CR_Core_Memory",
            "ReturnToService=2", "JobRequeue=1", "InactiveLimit=0", "MinJobAge=600", "KillWait=30",
            "SlurmctldTimeout=60", "SlurmdTimeout=60", "SlurmctldDebug=info", "SlurmdDebug=info",
            self.node_line,
            f"PartitionName=ci Nodes={self.host} Default=YES MaxTime=INFINITE State=UP",
            ""]))

    def _daemon(self, name: str, argv: List[str]) -> None:
        out = open(self.folder / f"{name}.out", "wb")
        self.processes[name] = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=self.env(),
                                                start_new_session=True)
        out.close()

    def _answers(self, *args: str) -> bool:
        self._check_alive()
        try:
            return subprocess.run(list(args), capture_output=True, env=self.env(), timeout=10).returncode == 0
        except subprocess.TimeoutExpired:
            return False

    def _node_idle(self) -> bool:
        self._check_alive()
        result = subprocess.run(["sinfo", "-h", "-N", "-n", self.host, "-o", "%t"], capture_output=True, text=True,
                                env=self.env(), timeout=10)
        return result.returncode == 0 and result.stdout.strip() == "idle"

    def _check_alive(self) -> None:
        dead = {n: p.returncode for n, p in self.processes.items() if p.poll() is not None}
        if dead:
            outs = "\n".join(f"--- {n}.out\n{(self.folder / f'{n}.out').read_text(errors='replace')[-2000:]}"
                             for n in dead)
            raise RuntimeError(f"SLURM daemon(s) exited: {dead}\n{outs}\n{self.logs()}")

    def stop(self) -> None:
        """Cancel every job, wait until none is left, then stop slurmd, slurmctld and munged (ours only)."""
        if self.processes.get("slurmctld") and self.processes["slurmctld"].poll() is None:
            try:
                subprocess.run(["scancel", "--full", "--partition=ci"], capture_output=True, env=self.env(),
                               timeout=30)
                wait_until(lambda: not self.command("squeue", "-h", "-o", "%i", check=False).strip(), 60,
                           "all jobs ending after scancel")
            except (subprocess.SubprocessError, TimeoutError, OSError):
                pass  # stop the daemons anyway
        for name in ("slurmd", "slurmctld", "munged"):
            process = self.processes.pop(name, None)
            if process is None or process.poll() is not None:
                continue
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
        if self.owns_folder:
            shutil.rmtree(self.folder, ignore_errors=True)
