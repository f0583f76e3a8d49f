"""Device choice, seeding and determinism."""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import platform
import random
import re
import time
from pathlib import Path
from typing import Iterator, Optional

import numpy as np
import torch

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX (Windows)
    fcntl = None

from balancelab.errors import ConfigError
from balancelab.output.lock import boot_id, pid_alive, process_start


def select_device(name: str = "auto") -> torch.device:
    """auto: CUDA (the current device), then Apple MPS, then CPU. An explicit device that is missing is an error.

    A multirun's job on a node with several GPUs gets its own through :func:`job_device`."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ConfigError(f"trainer.device='{name}' is not a device. Use auto, cpu, cuda, cuda:N or mps.") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError("trainer.device asks for CUDA but no CUDA device is available. Use trainer.device=auto or cpu.")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise ConfigError("trainer.device=mps but MPS is not available. Use trainer.device=auto or cpu.")
    return device


DEVICE_CLAIMS = ".devices"  # under output_root: one folder per host (and visible-device set) of running jobs' claims
_CLAIM_RULE = "least-loaded visible CUDA device when the job started (running jobs' claims; ties: lowest index)"


@contextlib.contextmanager
def job_device(name: str, job_index: Optional[int], claims_root) -> Iterator[tuple]:
    """(the job's device, what the run summary records of how it was chosen or None), for the ``with`` block.

    A job of a multirun (``job_index`` set) with ``trainer.device=auto`` on a node with several visible CUDA
    devices claims the device fewest running jobs hold when it starts: a claim file
    ``<claims_root>/.devices/<host>/cuda<i>.<pid>.<n>`` made under a choosing lock and removed when the block
    ends (also on an exception or a stop signal). Claims of a process that is gone (SIGKILL, a crashed node's
    restart) are ignored and removed. So with the parallel launcher's n_jobs at once, at most
    ceil(n_jobs / devices) jobs share a GPU, and a GPU freed by a job that ended is the next job's. The device
    (explicit ``cuda:N`` too) is made the process's current CUDA device, so helpers that say only "cuda" use it.
    """
    device = select_device(name)
    count = torch.cuda.device_count() if device.type == "cuda" else 0
    if name != "auto" or job_index is None or count < 2:
        _make_current(device)
        yield device, None
        return
    claim = DeviceClaim(Path(claims_root) / DEVICE_CLAIMS / _node_folder(), count).acquire()
    try:
        device = torch.device("cuda", claim.index)
        _make_current(device)
        yield device, {"rule": _CLAIM_RULE, "job_number": int(job_index), "visible_devices": count,
                       "device": str(device), "other_jobs_on_device": claim.others, "claim": str(claim.path)}
    finally:
        claim.release()


def _make_current(device: torch.device) -> None:
    if device.type == "cuda" and device.index is not None:
        torch.cuda.set_device(device)


def _node_folder() -> str:
    """This host's claims folder name; jobs that see another set of devices (CUDA_VISIBLE_DEVICES) count apart,
    since their cuda:0 is another GPU."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    name = platform.node() or "host"
    if visible is not None:
        name += "-visible-" + (visible or "none")
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name)


class DeviceClaim:
    """One running job's claim on one of ``count`` devices (see :func:`job_device`)."""

    def __init__(self, folder: Path, count: int) -> None:
        self.folder, self.count = Path(folder), count
        self.index: Optional[int] = None
        self.path: Optional[Path] = None
        self.others = 0

    def acquire(self) -> "DeviceClaim":
        self.folder.mkdir(parents=True, exist_ok=True)
        with _choosing_lock(self.folder / ".choosing"):
            load = [0] * self.count
            for claim in self.folder.glob("cuda*.*"):
                index = _claimed_index(claim)
                if index is None:
                    continue
                if _claim_is_stale(claim):
                    claim.unlink(missing_ok=True)  # a job that is gone: its device is free
                elif index < self.count:
                    load[index] += 1
            self.index = min(range(self.count), key=lambda i: (load[i], i))
            self.others = load[self.index]
            content = json.dumps({"pid": os.getpid(), "pid_start": process_start(os.getpid()), "boot": boot_id(),
                                  "started": time.time()}).encode()
            for attempt in itertools.count():
                path = self.folder / f"cuda{self.index}.{os.getpid()}.{time.time_ns()}{attempt}"
                try:
                    fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
                except FileExistsError:
                    continue
                with os.fdopen(fd, "wb") as f:
                    f.write(content)
                self.path = path
                return self

    def release(self) -> None:
        if self.path is not None:
            self.path.unlink(missing_ok=True)
            self.path = None


def _claimed_index(claim: Path) -> Optional[int]:
    match = re.fullmatch(r"cuda(\d+)\..+", claim.name)
    return int(match.group(1)) if match else None


def _claim_is_stale(claim: Path) -> bool:
    """Its process is gone (or the pid now belongs to another process, or ran before this host restarted);
    an unreadable claim (a crash mid-write: claims are written under the choosing lock) counts as gone."""
    try:
        info = json.loads(claim.read_text())
        pid = int(info["pid"])
    except FileNotFoundError:
        return False  # released meanwhile (its job removes it without the lock); not counted either way
    except (OSError, ValueError, KeyError, TypeError):
        return True
    if info.get("boot") and boot_id() and info["boot"] != boot_id():
        return True
    if not pid_alive(pid):
        return True
    start = process_start(pid)
    return info.get("pid_start") is not None and start is not None and start != info["pid_start"]


@contextlib.contextmanager
def _choosing_lock(path: Path):
    """One chooser at a time on this host (flock: the claims folder is per host). Where flock is missing
    (Windows), choices are made without it: two jobs starting at the same instant may pick the same device."""
    if fcntl is None:  # pragma: no cover - not POSIX
        yield
        return
    with open(path, "a+b") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def seed_everything(seed: int, deterministic: bool = False) -> None:
    """One seed for Python, NumPy and torch (every random_state is derived from the same seed)."""
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False
        torch.backends.cudnn.deterministic = True
    else:
        torch.backends.cudnn.benchmark = True


def amp_dtype(device: torch.device, enabled: bool):
    """Mixed-precision dtype on CUDA (bf16 where supported, else fp16); None elsewhere."""
    if not enabled or device.type != "cuda":
        return None
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


class StageTimer:
    """Wall-clock seconds per named stage of a run: ``with timer("data"): ...``."""

    def __init__(self) -> None:
        self.seconds: dict = {}

    def __call__(self, stage: str):
        import contextlib
        import time

        @contextlib.contextmanager
        def timed():
            start = time.perf_counter()
            try:
                yield
            finally:
                self.seconds[stage] = self.seconds.get(stage, 0.0) + time.perf_counter() - start

        return timed()

    def rounded(self) -> dict:
        return {k: round(v, 3) for k, v in self.seconds.items()}


def prepare_for_device(model: torch.nn.Module, device: torch.device, *, compile_model: bool = False) -> torch.nn.Module:
    """The model on ``device``: channels_last on CUDA (tensor-core convolutions), compiled on request.

    ``nn.Module.compile`` compiles in place, so state_dict keys stay those of the plain model and
    checkpoints load into an uncompiled one.
    """
    model = model.to(device)
    if device.type == "cuda":
        model = model.to(memory_format=torch.channels_last)
    if compile_model:
        model.compile()
    return model
