"""Batches read from the host (or from disk) while the device works: for training sets that do not fit it.

:class:`StreamedImages` serves the same batches as :class:`~balancelab.training.batches.DeviceImages` — the
same rows, the same normalisation, the same random augmentation from the same generator, so a run gives the
same numbers either way — but keeps the images where they are (an array in memory, or a ``.npy`` file read
row by row) and moves one batch at a time. A background thread gathers the next batches of the epoch's order
into (pinned, on CUDA) host memory and starts their copies asynchronously, so the device does not wait on the
gather: the loop tells it the order with :meth:`prefetch`, and :meth:`batch` then finds the batch ready.
"""

from __future__ import annotations

import queue
import threading
from typing import Iterator, Optional, Sequence, Tuple

import numpy as np
import torch

from balancelab.data import rows
from balancelab.training.batches import ImageBatches

PREFETCH_DEPTH = 3  # batches gathered ahead: enough to hide a gather behind a step, little memory


class StreamedImages(ImageBatches):
    """uint8 images kept on the host (in memory or on disk), moved to ``device`` one batch at a time."""

    host_indexed = True  # the loop keeps the epoch's order on the host: no device round trip per batch

    def __init__(self, X: rows.Rows, y: np.ndarray, device: torch.device, mean: Sequence[float],
                 std: Sequence[float]):
        super().__init__(y, device, mean, std)
        self.X = X
        self._pin = self.device.type == "cuda"
        self._worker: Optional[_Prefetcher] = None

    # -- host side -----------------------------------------------------------------
    def _gather(self, index: np.ndarray) -> torch.Tensor:
        """The rows ``index`` as a uint8 (N, H, W, C) host tensor, pinned when the device is a GPU."""
        host = torch.from_numpy(rows.take(self.X, index))
        return host.pin_memory() if self._pin else host

    def _to_device(self, host: torch.Tensor) -> torch.Tensor:
        # NHWC on the host (the storage order), NCHW contiguous on the device, as DeviceImages holds them.
        # clone(contiguous_format), not contiguous(): with one channel the permuted tensor already counts as
        # contiguous but has channels-last strides, and kernels (batch norm's reductions) then sum in another order.
        return host.to(self.device, non_blocking=self._pin).permute(0, 3, 1, 2).clone(
            memory_format=torch.contiguous_format)

    # -- the ImageBatches interface ------------------------------------------------
    def prefetch(self, order: torch.Tensor, batch_size: int, start: int = 0) -> None:
        """Gather the batches ``order[start:start+batch_size]``, ``order[start+batch_size:...]``, … ahead of use."""
        self.close()
        self._worker = _Prefetcher(self, order.cpu().numpy(), batch_size, start)

    def pixels(self, index: torch.Tensor) -> torch.Tensor:
        wanted = index.cpu().numpy()
        images = self._worker.take(wanted) if self._worker is not None else None
        if images is None:  # not announced (or the loop skipped ahead): read it now
            images = self._to_device(self._gather(wanted))
        return images

    def ordered_batches(self, batch_size: int) -> Iterator[Tuple[torch.Tensor, torch.Tensor]]:
        order = torch.arange(len(self))
        self.prefetch(order, batch_size)
        try:
            for start in range(0, len(self), batch_size):
                yield self.batch(order[start:start + batch_size])
        finally:
            self.close()

    def close(self) -> None:
        if self._worker is not None:
            self._worker.stop()
            self._worker = None

    def __del__(self):
        self.close()


class _Prefetcher:
    """A thread that gathers an epoch's batches in order into a short queue."""

    def __init__(self, images: StreamedImages, order: np.ndarray, batch_size: int, start: int):
        self.queue: "queue.Queue" = queue.Queue(maxsize=PREFETCH_DEPTH)
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, args=(images, order, batch_size, start), daemon=True,
                                       name="balancelab-prefetch")
        self.thread.start()

    def _run(self, images: StreamedImages, order, batch_size, start) -> None:
        try:
            for s in range(start, len(order), batch_size):
                index = order[s:s + batch_size]
                item = (index, images._to_device(images._gather(index)))
                while not self.stopping.is_set():
                    try:
                        self.queue.put(item, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if self.stopping.is_set():
                    return
        except BaseException as exc:  # handed to the consumer, which raises it where it can be seen
            self.queue.put((None, exc))
        self.queue.put((None, None))  # end of the order

    def take(self, wanted: np.ndarray) -> Optional[torch.Tensor]:
        """The prefetched batch for ``wanted``; batches the loop skipped (1-sample tails) are dropped."""
        while True:
            index, payload = self.queue.get()
            if index is None:
                if isinstance(payload, BaseException):
                    raise payload
                self.queue.put((None, None))  # keep answering "no more" to later calls
                return None
            if len(index) == len(wanted) and np.array_equal(index, wanted):
                return payload

    def stop(self) -> None:
        self.stopping.set()
        if threading.current_thread() is self.thread:  # the last reference went in the worker itself
            return
        while self.thread.is_alive():
            try:
                self.queue.get_nowait()
            except queue.Empty:
                self.thread.join(timeout=0.05)
