"""Class-aware sampling, the order of Kang et al.'s cRT stage (classifier-balancing, data/ClassAwareSampler.py).

The classes present are visited in cycles, each cycle a fresh random permutation of them; a visit takes
``per_class`` consecutive images (the reference's ``num_samples_cls``, 4 in its cRT configs) from that class's
own cycle, a fresh random permutation of its images each time it is used up. Every class is therefore drawn
equally often and, unlike draws with replacement, a rare class's images all come round before one repeats.

The state carries over from one :meth:`take` to the next, as the reference's sampler object keeps its
iterators from one epoch to the next. Shuffles come from a ``torch.Generator`` (the reference uses Python's
``random``), so an order is reproducible from its seed.
"""

from __future__ import annotations

from typing import List

import numpy as np
import torch

from balancelab.errors import ConfigError


class _Cycle:
    """Endless draws from ``items``, one random permutation of them after another."""

    def __init__(self, items: np.ndarray, generator: torch.Generator):
        self.items, self.generator = np.asarray(items, dtype=np.int64), generator
        self.order: np.ndarray = self.items[:0]
        self.position = 0

    def next(self, n: int) -> List[int]:
        out = []
        while len(out) < n:
            if self.position == len(self.order):
                self.order = self.items[torch.randperm(len(self.items), generator=self.generator).numpy()]
                self.position = 0
            take = min(n - len(out), len(self.order) - self.position)
            out.extend(self.order[self.position:self.position + take].tolist())
            self.position += take
        return out


class ClassAwareSampler:
    """Sample indices of ``labels``, class-balanced by construction (see the module docstring)."""

    def __init__(self, labels: np.ndarray, per_class: int, generator: torch.Generator):
        labels = np.asarray(labels, dtype=np.int64).reshape(-1)
        if isinstance(per_class, bool) or not isinstance(per_class, int) or per_class < 1:
            raise ConfigError(f"class-aware sampling: per_class must be an integer >= 1 (images taken from a class "
                              f"at each visit); got {per_class!r}.")
        if len(labels) == 0:
            raise ConfigError("class-aware sampling: the split has no training images to sample. Check the "
                              "dataset's training split.")
        present = np.unique(labels)
        self.per_class = per_class
        self.classes = _Cycle(present, generator)
        self.members = {int(c): _Cycle(np.flatnonzero(labels == c), generator) for c in present}
        self._pending: List[int] = []  # the rest of a visit that the previous take() cut short

    def take(self, n: int) -> torch.Tensor:
        """The next ``n`` indices of the endless class-aware order."""
        out = self._pending[:n]
        self._pending = self._pending[n:]
        while len(out) < n:
            visit = self.members[self.classes.next(1)[0]].next(self.per_class)
            wanted = n - len(out)
            out.extend(visit[:wanted])
            self._pending = visit[wanted:]
        return torch.as_tensor(out, dtype=torch.long)
