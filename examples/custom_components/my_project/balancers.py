"""A user's own balancing technique, on balancelab's Balancer contract: implement ``_resample`` and say
which input rows are kept or copied; the base class builds ``fit_resample``'s output, ``provenance_``
and ``report_``. Check it with ``balancelab.testing.check_balancer(EveryOtherCopy)``."""

import numpy as np

from balancelab.balancing.base import Balancer, Resampled


class EveryOtherCopy(Balancer):
    """Copies each minority image ``copies`` times (a deterministic toy oversampler)."""

    name = "every_other_copy"

    def __init__(self, *, copies: int = 1, random_state=None, device="cpu"):
        super().__init__(random_state=random_state, device=device)
        self.copies = copies

    def _resample(self, X, y):
        counts = np.bincount(y)
        minority = np.flatnonzero((counts > 0) & (counts < counts.max()))
        extra = np.concatenate([np.repeat(np.flatnonzero(y == c), self.copies) for c in minority]) \
            if len(minority) else np.empty(0, dtype=np.int64)
        return Resampled(kept=np.concatenate([np.arange(len(y)), extra]).astype(np.int64))
