"""Where a run's images live while it trains: on the training device, or streamed to it from the host.

``trainer.data_on_device``: ``true`` copies every split to the device once (the fastest: a batch is an index
lookup there); ``false`` streams batches from where the images are (memory, or the decoded-image file on
disk) through :class:`~balancelab.training.streamed.StreamedImages`; ``auto`` keeps them on the device when
their device copy takes at most half of its free memory (for the CPU: of the memory the system reports
available, within the process's cgroup limit) and streams them otherwise. Both give the same batches, so the choice changes speed and memory, never a number.
"""

from __future__ import annotations

import logging
import os
from typing import Optional, Sequence

import torch

from balancelab.training.batches import DeviceImages, device_bytes
from balancelab.training.streamed import StreamedImages

log = logging.getLogger("balancelab")
FREE_MEMORY_SHARE = 0.5  # of the device's free memory the images may take: the model and activations need the rest


def available_bytes(device: torch.device) -> Optional[int]:
    """Free memory on ``device`` (for the CPU: what the system reports available, within this process's cgroup
    limit — a container's, a systemd unit's or a SLURM job's), or None when it cannot be told."""
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return int(free)
    if device.type != "cpu":
        return None
    free = [v for v in (_meminfo_available(), cgroup_headroom()) if v is not None]
    return min(free) if free else None


def _meminfo_available() -> Optional[int]:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def cgroup_headroom(root: str = "/sys/fs/cgroup", membership: str = "/proc/self/cgroup") -> Optional[int]:
    """limit - usage of this process's memory cgroup (v2, else v1), or None without a limit."""
    try:
        with open(membership) as f:
            lines = [line.strip().split(":", 2) for line in f if line.strip()]
    except OSError:
        return None
    for _, controllers, path in lines:
        if controllers == "":  # cgroup v2: one unified hierarchy
            folder = os.path.join(root, path.lstrip("/"))
            limit, usage = _read_int(folder, "memory.max"), _read_int(folder, "memory.current")
        elif "memory" in controllers.split(","):  # cgroup v1
            folder = os.path.join(root, "memory", path.lstrip("/"))
            limit, usage = _read_int(folder, "memory.limit_in_bytes"), _read_int(folder, "memory.usage_in_bytes")
            limit = None if limit is not None and limit >= (1 << 60) else limit  # v1 says "no limit" with ~2^63
        else:
            continue
        if limit is not None and usage is not None:
            return max(0, limit - usage)
    return None


def _read_int(folder: str, name: str) -> Optional[int]:
    try:
        with open(os.path.join(folder, name)) as f:
            text = f.read().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None  # "max": no limit


def keep_on_device(setting, image_sets: Sequence, device: torch.device) -> bool:
    """The decision for ``trainer.data_on_device`` (True/False, or "auto") given the sets a run serves.

    ``auto`` puts them on the device when their device copies (a balanced set: its distinct rows and new
    images) take at most half of its free memory; on the CPU that copy comes on top of images already held.
    """
    if isinstance(setting, bool):
        return setting
    if str(setting).lower() in ("true", "false"):
        return str(setting).lower() == "true"

    total = sum(device_bytes(X) for X in image_sets)
    free = available_bytes(device)
    fits = free is not None and total <= FREE_MEMORY_SHARE * free
    if not fits:
        log.info("The images (%.0f MB) take more than %.0f%% of the free memory on %s (%s): streaming batches "
                 "from the host instead (trainer.data_on_device=true forces them onto the device).", total / 1e6,
                 100 * FREE_MEMORY_SHARE, device, "unknown" if free is None else f"{free / 1e6:.0f} MB")
    return fits


def place(X, y, device: torch.device, mean, std, on_device: bool):
    """DeviceImages or StreamedImages for one split."""
    if on_device:
        return DeviceImages(X, y, device, mean, std)

    return StreamedImages(X, y, device, mean, std)
