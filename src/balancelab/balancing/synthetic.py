"""SMOTE and ADASYN on images, through imbalanced-learn.

imbalanced-learn does the sampling (how many samples per seed row, which neighbour, which step)
on an (N, 2) *index matrix*: column 0 is the row number, column 1 a random tag. Its linear
interpolation of that matrix is then decoded back to (row a, neighbour b, step t), and the
image is made as X[a] + t * (X[b] - X[a]) in pixel space at the training resolution. So every
synthetic image is, by construction, a point on the segment between a real image and one of its
same-class neighbours, and imbalanced-learn never holds a float copy of the images.

The neighbour search runs on the images at ``feature_size`` (default: training resolution)
through imbalanced-learn's ``k_neighbors`` estimator hook (:mod:`.neighbors`).
"""

from __future__ import annotations

import warnings

import numpy as np
from imblearn.over_sampling import ADASYN, SMOTE

from balancelab.balancing.base import Balancer, Resampled
from balancelab.balancing.neighbors import ImageNearestNeighbors, SharedFeatures
from balancelab.balancing.strategy import auto_targets, check_strategy
from balancelab.data.resize import resize_images
from balancelab.errors import BalancingError


def feature_rows(X: np.ndarray, feature_size) -> np.ndarray:
    """uint8 (N, D) rows for the neighbour search, at ``feature_size`` if given."""
    if feature_size and X.ndim == 4 and int(feature_size) != X.shape[1]:
        X = resize_images(X, int(feature_size))
    return X.reshape(len(X), -1)


def decode(Z_new: np.ndarray, Z: np.ndarray, pairs_a: np.ndarray, pairs_b: np.ndarray, chunk: int = 512):
    """(a, b, t) for each synthetic index row, among the candidate (a, b) neighbour pairs."""
    a_idx, tag = Z[:, 0], Z[:, 1]
    pa, pb = a_idx[pairs_a], a_idx[pairs_b]
    ta, tb = tag[pairs_a], tag[pairs_b]
    out_a = np.empty(len(Z_new), np.int64)
    out_b = np.empty(len(Z_new), np.int64)
    out_t = np.empty(len(Z_new), np.float64)
    for s in range(0, len(Z_new), chunk):
        s0, s1 = Z_new[s:s + chunk, 0:1], Z_new[s:s + chunk, 1:2]
        t = (s0 - pa[None]) / (pb - pa)[None]
        residual = np.abs(ta[None] + t * (tb - ta)[None] - s1) + np.abs(np.clip(t, 0, 1) - t) * 1e3
        best = residual.argmin(1)
        rows = np.arange(len(best))
        if residual[rows, best].max() > 1e-6:
            raise BalancingError("internal: a synthetic sample could not be traced to its parents")
        out_a[s:s + chunk], out_b[s:s + chunk] = pairs_a[best], pairs_b[best]
        out_t[s:s + chunk] = np.clip(t[rows, best], 0.0, 1.0)
    return out_a, out_b, out_t


def interpolate(X: np.ndarray, a: np.ndarray, b: np.ndarray, t: np.ndarray, chunk: int = 1024) -> np.ndarray:
    """uint8 images X[a] + t (X[b] - X[a]), computed in float32 chunks and rounded."""
    out = np.empty((len(a),) + X.shape[1:], dtype=X.dtype)
    shape = (-1,) + (1,) * (X.ndim - 1)
    for s in range(0, len(a), chunk):
        xa = X[a[s:s + chunk]].astype(np.float32)
        xb = X[b[s:s + chunk]].astype(np.float32)
        step = t[s:s + chunk].astype(np.float32).reshape(shape)
        out[s:s + chunk] = np.clip(np.rint(xa + step * (xb - xa)), 0, 255)
    return out


class _InterpolatingOversampler(Balancer):
    sampler_class = SMOTE
    k_param = "k_neighbors"

    def _sampler(self, k: int, estimator, strategy: dict, seed):
        return self.sampler_class(sampling_strategy=strategy, random_state=seed, **{self.k_param: estimator})

    def _resample(self, X, y):
        k_wanted = int(self.params.get(self.k_param, 5))
        if k_wanted < 1:
            raise BalancingError(f"{self.name}: {self.k_param} must be at least 1; got {k_wanted}.")
        strategy = check_strategy(self.params.get("sampling_strategy", "auto"), y, self.name)
        targets = auto_targets(y, strategy)
        counts = np.bincount(y, minlength=len(targets))
        backend = self.params.get("knn_backend", "auto")
        backend = "torch" if backend == "auto" else backend
        features = SharedFeatures(feature_rows(X, self.params.get("feature_size")))
        rng = np.random.default_rng(self.random_state)
        Z = np.column_stack([np.arange(len(y), dtype=np.float64), rng.random(len(y))])

        synthetic_a, synthetic_b, synthetic_t, synthetic_y = [], [], [], []
        duplicated = []
        adjustments, k_used = [], {}
        for c in np.flatnonzero(targets > counts):
            need, n_c = int(targets[c] - counts[c]), int(counts[c])
            if n_c == 1:
                msg = (f"{self.name}: class {c} has a single sample, so it has no neighbour to interpolate with; "
                       f"its {need} new samples are copies (random oversampling).")
                warnings.warn(msg)
                adjustments.append(msg)
                duplicated.append(np.full(need, np.flatnonzero(y == c)[0]))
                k_used[str(c)] = 0
                continue
            k = min(k_wanted, n_c - 1)
            if k < k_wanted:
                msg = (f"{self.name}: class {c} has {n_c} samples, fewer than {self.k_param}+1={k_wanted + 1}; "
                       f"using {self.k_param}={k} for it.")
                warnings.warn(msg)
                adjustments.append(msg)
            k_used[str(c)] = k
            estimator = ImageNearestNeighbors(k + 1, features, backend, self.device)
            # Class c against the rest, so the sampler sees two classes (ADASYN also needs the others).
            y_binary = (y == c).astype(np.int64)
            sampler = self._sampler(k, estimator, {1: n_c + need + self._slack(n_c)}, _class_seed(self.random_state, c))
            Z_res, y_res = self._run(sampler, Z, y_binary, c, adjustments)
            Z_new = Z_res[len(Z):]
            # The last table logged is the within-class search the sampler interpolates along.
            query, neighbours = features.log[-1]
            pairs_a = np.repeat(query, neighbours.shape[1] - 1)
            pairs_b = neighbours[:, 1:].ravel()
            a, b, t = decode(Z_new, Z, pairs_a, pairs_b)
            if len(a) > need:  # ADASYN's surplus (see _slack): drop rows at random, keeping its weighting
                keep = np.sort(np.random.default_rng(_class_seed(self.random_state, c)).choice(len(a), need, replace=False))
                a, b, t = a[keep], b[keep], t[keep]
            synthetic_a.append(a), synthetic_b.append(b), synthetic_t.append(t)
            synthetic_y.append(np.full(len(a), c, np.int64))

        kept = np.concatenate([np.arange(len(y))] + duplicated) if duplicated else np.arange(len(y))
        if synthetic_a:
            a, b, t = (np.concatenate(v) for v in (synthetic_a, synthetic_b, synthetic_t))
            X_syn, y_syn = interpolate(X, a, b, t), np.concatenate(synthetic_y)
        else:
            a = b = np.empty(0, np.int64)
            t = np.empty(0)
            X_syn, y_syn = X[:0], np.empty(0, np.int64)
        return Resampled(
            kept=kept, X_synthetic=X_syn, y_synthetic=y_syn, adjustments=adjustments,
            details={"k_used": k_used, "k_requested": k_wanted, "knn_backend": backend,
                     "feature_size": self.params.get("feature_size") or (X.shape[1] if X.ndim == 4 else None),
                     "targets": {str(c): int(v) for c, v in enumerate(targets)},
                     "synthetic_parents": {"a": a.tolist(), "b": b.tolist(), "t": np.round(t, 6).tolist()}},
        )

    def _slack(self, n_c: int) -> int:
        """Extra samples to ask for; SMOTE produces exactly what it is asked."""
        return 0

    def _run(self, sampler, Z, y_binary, c, adjustments):
        return sampler.fit_resample(Z, y_binary)


def _class_seed(seed, c) -> int:
    return int(np.random.SeedSequence([0 if seed is None else int(seed), int(c)]).generate_state(1)[0])


class Smote(_InterpolatingOversampler):
    """SMOTE (Chawla et al. 2002): interpolate between a sample and one of its k same-class neighbours."""

    name = "smote"


class Adasyn(_InterpolatingOversampler):
    """ADASYN (He et al. 2008): like SMOTE, with more samples near rows surrounded by other classes."""

    name = "adasyn"
    sampler_class = ADASYN
    k_param = "n_neighbors"

    def _slack(self, n_c: int) -> int:
        # ADASYN rounds each row's share of the new samples, so its total can fall short of the
        # request by up to n_c/2. Asking for that much more and dropping the surplus at random
        # lands every class exactly on its target.
        return n_c // 2 + 1

    def _run(self, sampler, Z, y_binary, c, adjustments):
        try:
            return sampler.fit_resample(Z, y_binary)
        except RuntimeError as exc:
            if "majority class" not in str(exc):
                raise
        # ADASYN weights each row by the share of other-class rows among its neighbours; with none
        # at all the weights are 0/0. That class gets SMOTE's uniform weights instead, said aloud.
        msg = (f"adasyn: no sample of class {c} has a neighbour from another class among its "
               f"{sampler.n_neighbors.n_neighbors - 1} nearest, so ADASYN's density weights are undefined (0/0); "
               f"class {c} was oversampled with uniform (SMOTE) weights instead. If this happens for most classes, "
               f"use balancing=smote.")
        warnings.warn(msg)
        adjustments.append(msg)
        fallback = SMOTE(sampling_strategy=sampler.sampling_strategy, random_state=sampler.random_state,
                         k_neighbors=sampler.n_neighbors)
        return fallback.fit_resample(Z, y_binary)
