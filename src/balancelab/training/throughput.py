"""What a training loop could do at best: steps on synthetic tensors, FLOPs, peaks and the machine.

The training benchmark (scripts/benchmark_training.py) compares balancelab's real epoch against the
same steps on tensors already on the device; this module holds the pieces that are not the script's
orchestration, so that they can be tested on their own.
"""

from __future__ import annotations

import os
import platform
import time
from typing import Callable, Dict, List, Optional, Sequence

import torch
import torch.nn.functional as F

from balancelab.provenance import library_versions

# Dense (no sparsity) peak tensor throughput in TFLOP/s, from the vendors' data sheets. Matched by
# substring of torch.cuda.get_device_name, most specific first.
PEAK_TFLOPS: Dict[str, Dict[str, float]] = {
    "H200": {"bfloat16": 989.0, "float16": 989.0, "float32": 67.0},
    "H100 PCIe": {"bfloat16": 756.0, "float16": 756.0, "float32": 51.0},
    "H100": {"bfloat16": 989.0, "float16": 989.0, "float32": 67.0},
    "A100": {"bfloat16": 312.0, "float16": 312.0, "float32": 19.5},
    "L40S": {"bfloat16": 362.0, "float16": 362.0, "float32": 91.6},
    "A10G": {"bfloat16": 70.0, "float16": 70.0, "float32": 31.2},
    "L4": {"bfloat16": 121.0, "float16": 121.0, "float32": 30.3},
    "V100": {"float16": 125.0, "float32": 15.7},
    "T4": {"float16": 65.0, "float32": 8.1},
}


def peak_tflops(device_name: str, dtype: torch.dtype) -> Optional[float]:
    """The device's dense peak for ``dtype`` in TFLOP/s, or None when the device or dtype is not in the table."""
    key = str(dtype).replace("torch.", "")
    for name, peaks in PEAK_TFLOPS.items():
        if name.lower() in device_name.lower():
            return peaks.get(key)
    return None


def loop_batch_sizes(n: int, batch_size: int) -> List[int]:
    """The batch sizes ``train_one_epoch`` uses for ``n`` samples (a 1-sample tail batch is skipped)."""
    if n < 1 or batch_size < 1:
        raise ValueError(f"need n >= 1 and batch_size >= 1; got n={n}, batch_size={batch_size}")
    sizes = [min(batch_size, n - start) for start in range(0, n, batch_size)]
    return [s for s in sizes if s >= 2 or n == 1]


def eval_batch_sizes(n: int, batch_size: int) -> List[int]:
    """The batch sizes ``predict`` uses for ``n`` samples."""
    return [min(batch_size, n - start) for start in range(0, n, batch_size)]


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class SyntheticSteps:
    """Training steps and evaluation forwards on random tensors already on the device.

    Everything a step must do (forward, loss, backward, optimizer step) and nothing else: no index
    lookup, no augmentation, no host synchronisation per batch. The time this takes for an epoch's
    batches is the floor the real loop is measured against.
    """

    def __init__(self, model: torch.nn.Module, optimizer: torch.optim.Optimizer, criterion: Callable,
                 *, in_channels: int, input_size: int, num_classes: int, device: torch.device,
                 amp_dtype: Optional[torch.dtype] = None, channels_last: bool = False, seed: int = 0):
        self.model, self.optimizer, self.criterion = model, optimizer, criterion
        self.device, self.amp_dtype, self.channels_last = device, amp_dtype, channels_last
        self.shape = (in_channels, input_size, input_size)
        self.num_classes = num_classes
        self._generator = torch.Generator(device="cpu").manual_seed(seed)
        self._inputs: Dict[int, tuple] = {}

    def _batch(self, size: int):
        if size not in self._inputs:
            x = torch.randn((size, *self.shape), generator=self._generator).to(self.device)
            if self.channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            y = torch.randint(0, self.num_classes, (size,), generator=self._generator).to(self.device)
            self._inputs[size] = (x, y)
        return self._inputs[size]

    def train(self, sizes: Sequence[int]) -> float:
        """Seconds for one training step per entry of ``sizes``."""
        self.model.train()
        batches = [self._batch(s) for s in sizes]
        synchronize(self.device)
        start = time.perf_counter()
        for x, y in batches:
            with torch.autocast(self.device.type, dtype=self.amp_dtype, enabled=self.amp_dtype is not None):
                loss = self.criterion(self.model(x), y)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
        synchronize(self.device)
        return time.perf_counter() - start

    @torch.no_grad()
    def evaluate(self, sizes: Sequence[int]) -> float:
        """Seconds for one evaluation forward pass per entry of ``sizes`` (fp32, as ``predict``)."""
        self.model.eval()
        batches = [self._batch(s) for s in sizes]
        synchronize(self.device)
        start = time.perf_counter()
        for x, _ in batches:
            self.model(x)
        synchronize(self.device)
        return time.perf_counter() - start


def training_step_flops(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, criterion: Callable) -> int:
    """FLOPs of one forward + backward pass on batch ``x`` (torch.utils.flop_counter; optimizer not counted)."""
    from torch.utils.flop_counter import FlopCounterMode

    model.train()
    with FlopCounterMode(display=False) as counter:
        criterion(model(x), y).backward()
    model.zero_grad(set_to_none=True)
    return int(counter.get_total_flops())


def cross_entropy(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(logits.float(), y)


def cpu_model() -> str:
    """The CPU's marketing name (Linux /proc/cpuinfo), else what ``platform`` knows."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_info(device: torch.device) -> dict:
    """The facts a throughput figure depends on: CPU, cores, threads, GPU, load and library versions."""

    info = {
        "cpu_model": cpu_model(), "cpu_cores": os.cpu_count(),
        "cpu_cores_available": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "torch_threads": torch.get_num_threads(), "device": str(device), "platform": platform.platform(),
        "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "library_versions": library_versions(),
    }
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        info.update(gpu=torch.cuda.get_device_name(device), gpu_memory_gib=round(props.total_memory / 2**30, 1),
                    cuda=torch.version.cuda, cudnn=torch.backends.cudnn.version())
    else:
        info["gpu"] = None
    return info
