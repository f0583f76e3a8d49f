"""Device choice, seeding and determinism."""

from __future__ import annotations

import os
import random
from typing import Optional

import numpy as np
import torch

from balancelab.errors import ConfigError


def select_device(name: str = "auto", job_index: Optional[int] = None) -> torch.device:
    """auto: CUDA, then Apple MPS, then CPU. An explicit device that is missing is an error.

    ``job_index`` (a job's number in a multirun): with several visible CUDA devices, ``auto`` puts job n on
    device n mod count, so the parallel jobs of a GPU node spread over all of its GPUs (round-robin; with more
    jobs at once than GPUs, several share one). CUDA_VISIBLE_DEVICES limits what is visible, as for any torch
    program; an explicit ``cuda:N`` is kept."""
    if name == "auto":
        if torch.cuda.is_available():
            count = torch.cuda.device_count()
            if job_index is not None and count > 1:
                return torch.device("cuda", int(job_index) % count)
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


def device_assignment(name: str, job_index: Optional[int], device: torch.device) -> Optional[dict]:
    """What the run summary records about how its device was chosen among several (None: there was no choice)."""
    if name != "auto" or device.type != "cuda" or device.index is None:
        return None
    return {"rule": "round-robin over the visible CUDA devices by the job's number in the multirun",
            "job_number": int(job_index), "visible_devices": torch.cuda.device_count(), "device": str(device)}


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
