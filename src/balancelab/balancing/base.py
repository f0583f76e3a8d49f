"""The balancer contract, modelled on imbalanced-learn's samplers.

    balancer = make_balancer("smote", random_state=0, k_neighbors=5)  # constructor only stores
    X_res, y_res = balancer.fit_resample(X_train, y_train)             # validates, then resamples
    balancer.provenance_  # per output row: the input row it copies, or -1 if synthetic
    balancer.report_      # plain dict: per-class before/after/added/removed, seconds, bytes, params

Subclasses declare their parameters as keyword-only constructor arguments with defaults and
store each, unchanged, as an attribute of the same name (``self.k_neighbors``); the constructor
does nothing else, so the signature is the parameter contract. They implement ``_resample`` and
return *which input rows to keep* (with repeats) plus any synthetic rows; the base class
assembles the output, provenance and report, so every technique reports the same way.
"""

from __future__ import annotations

import inspect
import time
import tracemalloc
import warnings
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

import numpy as np

from balancelab.data import rows
from balancelab.errors import BalancingError


@dataclass
class Resampled:
    """What a technique decided: kept input rows (may repeat) and synthetic rows."""

    kept: np.ndarray
    X_synthetic: Optional[np.ndarray] = None
    y_synthetic: Optional[np.ndarray] = None
    adjustments: List[str] = field(default_factory=list)  # what was changed to make it work
    details: Dict[str, Any] = field(default_factory=dict)  # technique-specific facts (k used, ...)


class Balancer:
    """Base class: keyword-only parameters stored by the constructor, work in fit_resample."""

    name = "base"

    def __init__(self, *, random_state: Optional[int] = None, device: str = "cpu") -> None:
        self.random_state = random_state
        self.device = device  # where heavy helpers (neighbour search) may run; never changes results' meaning

    @classmethod
    def parameter_names(cls) -> List[str]:
        """Every constructor parameter, ``random_state`` and ``device`` included, in signature order."""
        signature = inspect.signature(cls.__init__)
        return [p.name for p in signature.parameters.values() if p.kind is inspect.Parameter.KEYWORD_ONLY]

    def get_params(self) -> Dict[str, Any]:
        """The technique's own parameters as stored (not ``device``: it never changes the result)."""
        return {name: getattr(self, name) for name in self.parameter_names() if name != "device"}

    # -- contract ---------------------------------------------------------------------
    def fit_resample(self, X: np.ndarray, y: np.ndarray):
        """The balanced (X, y) as arrays, as imbalanced-learn's samplers return them."""
        X_res, y_res = self.fit_resample_rows(X, y)
        return np.asarray(X_res), y_res

    def fit_resample_rows(self, X, y: np.ndarray):
        """The balanced set as :class:`~balancelab.data.rows.BalancedRows` (the kept input rows by number, the
        new images by their pixels: the training set is not copied) and its labels. ``X`` may be an array or
        images on disk (:mod:`balancelab.data.rows`); techniques that need pixels read only what they use."""
        X, y = self._validate(X, y)
        # A technique built from another (resample_to_target -> smote) shares the outer trace.
        owns_trace = not tracemalloc.is_tracing()
        if owns_trace:
            tracemalloc.start()
        start = time.perf_counter()
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                result = self._resample(X, y)
            X_res, y_res, provenance = self._assemble(X, y, result)
            seconds = time.perf_counter() - start
            _, peak = tracemalloc.get_traced_memory()
        finally:
            if owns_trace:
                tracemalloc.stop()
        for w in caught:  # re-emit for the user, and keep them for the report
            warnings.warn(w.message, w.category, stacklevel=2)
        self.provenance_ = provenance
        self.report_ = self._report(X, y, y_res, result, seconds, peak, X_res.nbytes,
                                    [str(w.message) for w in caught])
        self.report_["bytes_stored"] = X_res.stored_bytes
        return X_res, y_res

    def _resample(self, X: np.ndarray, y: np.ndarray) -> Resampled:
        raise NotImplementedError

    # -- helpers ----------------------------------------------------------------------
    def _validate(self, X, y: np.ndarray):
        X = X if rows.is_lazy(X) else np.asarray(X)
        y = np.asarray(y)
        if X.ndim < 2:
            raise BalancingError(f"{self.name}: X must hold one image per row (ndim >= 2); got shape {X.shape}.")
        if y.ndim != 1 or len(y) != len(X):
            raise BalancingError(f"{self.name}: y must be 1-D with one label per row of X; got {y.shape} for X {X.shape}.")
        if len(y) == 0:
            raise BalancingError(f"{self.name}: the training set is empty; there is nothing to balance.")
        if not np.issubdtype(y.dtype, np.integer) or y.min() < 0:
            raise BalancingError(f"{self.name}: labels must be non-negative integers; got dtype {y.dtype}.")
        return X, y.astype(np.int64, copy=False)

    def _assemble(self, X, y, result: Resampled):
        kept = np.asarray(result.kept, dtype=np.int64)
        synthetic = result.X_synthetic if result.X_synthetic is not None and len(result.X_synthetic) else None
        X_res = rows.BalancedRows(X, kept, synthetic)
        if synthetic is None:
            return X_res, y[kept], kept
        y_res = np.concatenate([y[kept], np.asarray(result.y_synthetic, dtype=np.int64)])
        provenance = np.concatenate([kept, np.full(len(X_res.synthetic), -1, dtype=np.int64)])
        return X_res, y_res, provenance

    def _report(self, X, y, y_res, result: Resampled, seconds, peak, bytes_after, warnings_seen):
        num_classes = int(max(y.max(), y_res.max()) + 1)
        before = np.bincount(y, minlength=num_classes)
        after = np.bincount(y_res, minlength=num_classes)
        kept_counts = np.bincount(y[result.kept], minlength=num_classes) if len(result.kept) else np.zeros(num_classes, int)
        synthetic = after - kept_counts
        per_class = {}
        for c in range(num_classes):
            unique_kept = len(np.unique(result.kept[y[result.kept] == c])) if len(result.kept) else 0
            per_class[str(c)] = {
                "before": int(before[c]), "after": int(after[c]),
                "added": int(max(after[c] - before[c], 0)), "removed": int(before[c] - unique_kept),
                "duplicated": int(kept_counts[c] - unique_kept), "synthetic": int(synthetic[c]),
            }
        return {
            "technique": self.name,
            "parameters": _plain(self.get_params()),
            "per_class": per_class,
            "total_before": int(len(y)), "total_after": int(len(y_res)),
            "synthetic_count": int(synthetic.sum()),
            "seconds": round(seconds, 4),
            "peak_memory_bytes": int(peak),
            "bytes_before": int(X.nbytes), "bytes_after": int(bytes_after),
            "adjustments": list(result.adjustments),
            "warnings": warnings_seen,
            **result.details,
        }


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value
