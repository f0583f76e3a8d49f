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
from balancelab.balancing.strategy import oversampling_targets
from balancelab.data.resize import resize_images
from balancelab.errors import BalancingError


def feature_rows(X: np.ndarray, feature_size) -> np.ndarray:
    """(N, D) rows for the neighbour search (uint8 images, at ``feature_size`` if given; float features as given)."""
    if feature_size and X.ndim == 4 and int(feature_size) != X.shape[1]:
        X = resize_images(X, int(feature_size))
    return X.reshape(len(X), -1)


def decode(Z_new: np.ndarray, Z: np.ndarray, pairs_a: np.ndarray, pairs_b: np.ndarray, *, technique: str,
           class_index: int, chunk: int = 512):
    """(a, b, t) for each synthetic index row, among the candidate (a, b) neighbour pairs.

    A row paired with itself spans no segment (t would be 0/0), so such pairs are never
    candidates; a row the sampler generated at a real row's own position decodes as that row
    with t = 0 towards one of its neighbours, which is the same image. A row that no candidate
    pair reproduces (NaN included) is an error naming the technique and class, never a guess.
    """
    distinct = pairs_a != pairs_b
    pairs_a, pairs_b = pairs_a[distinct], pairs_b[distinct]
    out_a = np.empty(len(Z_new), np.int64)
    out_b = np.empty(len(Z_new), np.int64)
    out_t = np.empty(len(Z_new), np.float64)
    if len(Z_new) and not len(pairs_a):
        raise _untraceable(technique, class_index, len(Z_new), len(Z_new), "no pair of two distinct rows")
    a_idx, tag = Z[:, 0], Z[:, 1]
    pa, pb = a_idx[pairs_a], a_idx[pairs_b]
    ta, tb = tag[pairs_a], tag[pairs_b]
    for s in range(0, len(Z_new), chunk):
        s0, s1 = Z_new[s:s + chunk, 0:1], Z_new[s:s + chunk, 1:2]
        with np.errstate(divide="ignore", invalid="ignore"):
            t = (s0 - pa[None]) / (pb - pa)[None]
            residual = np.abs(ta[None] + t * (tb - ta)[None] - s1) + np.abs(np.clip(t, 0, 1) - t) * 1e3
        residual[np.isnan(residual)] = np.inf  # argmin would pick the first NaN
        best = residual.argmin(1)
        rows = np.arange(len(best))
        fits = residual[rows, best] <= 1e-6
        if not fits.all():
            raise _untraceable(technique, class_index, int((~fits).sum()), len(Z_new),
                               f"closest residual {residual[rows, best].max():.3g}")
        out_a[s:s + chunk], out_b[s:s + chunk] = pairs_a[best], pairs_b[best]
        out_t[s:s + chunk] = np.clip(t[rows, best], 0.0, 1.0)
    return out_a, out_b, out_t


def _untraceable(technique: str, class_index: int, bad: int, total: int, why: str) -> BalancingError:
    return BalancingError(
        f"{technique}: {bad} of the {total} synthetic samples of class {class_index} could not be traced to two "
        f"distinct same-class parent images ({why}), so balancelab cannot make their images and stops rather "
        f"than guess. This is a defect in balancelab; please report it with the technique's parameters and "
        f"the class sizes. balancing=random_oversampling or offline_augmentation avoid this code path."
    )


def interpolate(X: np.ndarray, a: np.ndarray, b: np.ndarray, t: np.ndarray, chunk: int = 1024) -> np.ndarray:
    """X[a] + t (X[b] - X[a]) in float32 chunks: uint8 images rounded and clipped to 0..255, float rows (features,
    balancing in feature space) as computed."""
    out = np.empty((len(a),) + X.shape[1:], dtype=X.dtype)
    pixels = not np.issubdtype(X.dtype, np.floating)
    shape = (-1,) + (1,) * (X.ndim - 1)
    for s in range(0, len(a), chunk):
        xa = X[a[s:s + chunk]].astype(np.float32)
        xb = X[b[s:s + chunk]].astype(np.float32)
        step = t[s:s + chunk].astype(np.float32).reshape(shape)
        new = xa + step * (xb - xa)
        out[s:s + chunk] = np.clip(np.rint(new), 0, 255) if pixels else new
    return out


class _InterpolatingOversampler(Balancer):
    """Shared by SMOTE and ADASYN; subclasses declare the parameters (``k_param`` names the k)."""

    sampler_class = SMOTE
    k_param = "k_neighbors"

    def _sampler(self, estimator, strategy: dict, seed):
        return self.sampler_class(sampling_strategy=strategy, random_state=seed, **{self.k_param: estimator})

    def _resample(self, X, y):
        # The neighbour search compares every image with every other of its class: SMOTE and ADASYN read the
        # training images into memory (the other techniques never do).
        X = np.asarray(X)
        k_wanted = int(getattr(self, self.k_param))
        if k_wanted < 1:
            raise BalancingError(f"{self.name}: {self.k_param} must be at least 1; got {k_wanted}.")
        targets = oversampling_targets(self.sampling_strategy, y, self.name)
        counts = np.bincount(y, minlength=len(targets))
        backend = "torch" if self.knn_backend == "auto" else self.knn_backend
        features = SharedFeatures(feature_rows(X, self.feature_size))
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
            sampler = self._sampler(estimator, {1: n_c + need + self._slack(n_c)}, _class_seed(self.random_state, c))
            Z_res, y_res = self._run(sampler, Z, y_binary, c, adjustments)
            Z_new = Z_res[len(Z):]
            # The last table logged is the within-class search the sampler interpolates along.
            query, neighbours = features.log[-1]
            pairs_a = np.repeat(query, neighbours.shape[1] - 1)
            pairs_b = neighbours[:, 1:].ravel()
            a, b, t = decode(Z_new, Z, pairs_a, pairs_b, technique=self.name, class_index=int(c))
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
                     "feature_size": self.feature_size or (X.shape[1] if X.ndim == 4 else None),
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

    def __init__(self, *, sampling_strategy="auto", k_neighbors=5, feature_size=None, knn_backend="auto",
                 random_state=None, device="cpu"):
        super().__init__(random_state=random_state, device=device)
        self.sampling_strategy = sampling_strategy
        self.k_neighbors = k_neighbors
        self.feature_size = feature_size  # side (px) of the images the neighbour search sees; None = as given
        self.knn_backend = knn_backend  # "auto" (= torch), "torch" or "sklearn"


class Adasyn(_InterpolatingOversampler):
    """ADASYN (He et al. 2008): like SMOTE, with more samples near rows surrounded by other classes."""

    name = "adasyn"
    sampler_class = ADASYN
    k_param = "n_neighbors"

    def __init__(self, *, sampling_strategy="auto", n_neighbors=5, feature_size=None, knn_backend="auto",
                 random_state=None, device="cpu"):
        super().__init__(random_state=random_state, device=device)
        self.sampling_strategy = sampling_strategy
        self.n_neighbors = n_neighbors
        self.feature_size = feature_size
        self.knn_backend = knn_backend

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
