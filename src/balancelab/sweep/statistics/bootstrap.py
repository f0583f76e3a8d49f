"""The paired bootstrap over test images: every prediction vector of a sweep (each experiment and seed) is
scored on the *same* resamples of the test set, so a difference between two rows is paired image by image.

It measures test-sampling noise: how much a score would move on another test set drawn like this one. The
unit drawn is the test image, or, when the test set was split by groups (``dataset.group``: frames of one video,
photos of one plant), the group: a cluster bootstrap (Davison & Hinkley 1997, sec. 3.8; Field & Welsh, J. R.
Statist. Soc. B 69, 2007) draws groups with replacement, and every image of a drawn group enters as many times
as its group was drawn. Near-duplicate frames are not independent draws of the test distribution: resampled one
by one they make a handful of videos look like hundreds of images. The decisive test
(balancelab.sweep.statistics.two_level) takes the variance of a comparison's resampled differences; the percentile interval and p-value of the differences themselves are reported beside it as an
informative single-level bootstrap (they ignore training randomness).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Hashable, Iterator, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from balancelab.errors import DataError
from balancelab.sweep.statistics.metrics import TESTED_METRICS, class_counts, count_matrix, metric_from_counts, metric_value

# Resamples of the first pass; comparisons whose verdict lies within Monte-Carlo error of its level are decided
# again on REFINED_RESAMPLES (balancelab.sweep.statistics.comparisons).
N_RESAMPLES = 2000
REFINED_RESAMPLES = 20000
# Resamples are drawn and scored in blocks of this many rows to bound memory; it is part of what a seed means
# (a different block size would draw different indices), so it is a constant.
RESAMPLE_BLOCK = 250

Key = Tuple[str, Hashable]  # (experiment, seed)


def resample_indices(n_samples: int, n_resamples: int = N_RESAMPLES, seed: int = 0) -> Iterator[np.ndarray]:
    """Blocks (rows = resamples) of test indices drawn with replacement from a seeded Generator."""
    if n_samples < 1 or n_resamples < 1:
        raise ValueError(f"Need at least one test sample and one resample; received n_samples={n_samples}, "
                         f"n_resamples={n_resamples}.")
    rng = np.random.default_rng(seed)
    for start in range(0, n_resamples, RESAMPLE_BLOCK):
        yield rng.integers(0, n_samples, size=(min(RESAMPLE_BLOCK, n_resamples - start), n_samples))


def _multiplicities(indices: np.ndarray, n_samples: int) -> np.ndarray:
    rows = indices.shape[0]
    flat = (np.arange(rows)[:, None] * n_samples + indices).ravel()
    return np.bincount(flat, minlength=rows * n_samples).reshape(rows, n_samples).astype(float)


def group_codes(groups) -> Tuple[np.ndarray, int]:
    """(each test sample's group as an index 0..G-1, in sorted order of the group names; G)."""
    names, codes = np.unique(np.asarray(groups).astype(str), return_inverse=True)
    return codes.astype(np.int64).ravel(), len(names)


def resample_multiplicities(n_samples: int, n_resamples: int = N_RESAMPLES, seed: int = 0,
                            groups: Optional[np.ndarray] = None) -> Iterator[np.ndarray]:
    """Blocks (rows = resamples) of how many times each test sample enters a resample.

    Without ``groups``: the images drawn one by one (:func:`resample_indices`). With ``groups`` (each sample's
    group code, :func:`group_codes`): a cluster bootstrap, G groups drawn with replacement, every image of a group
    entering as often as its group was drawn (a resample holds G groups, not n images)."""
    if groups is None:
        for indices in resample_indices(n_samples, n_resamples, seed):
            yield _multiplicities(indices, n_samples)
        return
    codes = np.asarray(groups, dtype=np.int64)
    if codes.shape != (n_samples,) or (n_samples and codes.min() < 0):
        raise ValueError(f"groups must give one group code >= 0 per test sample ({n_samples}); received shape "
                         f"{codes.shape}.")
    n_groups = int(codes.max()) + 1 if n_samples else 0
    for indices in resample_indices(n_groups, n_resamples, seed):
        yield _multiplicities(indices, n_groups)[:, codes]


def bootstrap_metrics(y_true, predictions: Sequence[np.ndarray], metrics: Sequence[str] = TESTED_METRICS,
                      minority_index: Optional[int] = None, n_resamples: int = N_RESAMPLES,
                      seed: int = 0, groups: Optional[np.ndarray] = None) -> Dict[str, np.ndarray]:
    """metric -> (resamples x vectors) array: every prediction vector scored on the same resamples (of images,
    or with ``groups``, each sample's group code, of whole groups)."""
    y_true = np.asarray(y_true, int)
    predictions = [np.asarray(p, int) for p in predictions]
    if any(p.shape != y_true.shape for p in predictions):
        raise DataError(f"Every prediction vector must have one entry per test sample ({len(y_true)}); received "
                        f"lengths {[len(p) for p in predictions]}.")
    if min([y_true.min(initial=0)] + [p.min(initial=0) for p in predictions]) < 0:
        raise DataError("Class indices must be >= 0 (true_index / pred_index of predictions.csv); received a "
                        "negative one.")
    k = int(max([y_true.max(initial=0)] + [p.max(initial=0) for p in predictions]
                + [-1 if minority_index is None else minority_index])) + 1
    matrix = count_matrix(y_true, predictions, k)
    out: Dict[str, List[np.ndarray]] = {m: [] for m in metrics}
    for weights in resample_multiplicities(len(y_true), n_resamples, seed, groups):
        counts = class_counts(weights, matrix, k, len(predictions))
        for metric in metrics:
            out[metric].append(metric_from_counts(metric, *counts, minority_index=minority_index))
    return {m: np.concatenate(v) for m, v in out.items()}


@dataclass
class ImageResamples:
    """Every prediction vector of a sweep scored on the full test set and on the same resamples of it."""

    keys: List[Key]
    observed: Dict[str, np.ndarray]    # metric -> (vectors,)
    replicates: Dict[str, np.ndarray]  # metric -> (resamples, vectors); NaN where undefined on a resample
    n_resamples: int
    seed: int
    n_images: int = 0
    n_groups: int = 0                  # groups resampled whole (cluster bootstrap); 0: images one by one

    @property
    def unit(self) -> str:
        """What one draw of the bootstrap is, for the reader."""
        return (f"resampled by group: {self.n_groups} groups of {self.n_images} test images" if self.n_groups
                else f"resampled by image: {self.n_images} test images")

    def __post_init__(self):
        self._column = {key: i for i, key in enumerate(self.keys)}

    def has(self, key: Key) -> bool:
        return key in self._column

    def mean_difference(self, metric: str, mine: Sequence[Key], theirs: Sequence[Key]) -> Tuple[float, np.ndarray]:
        """(observed, per resample) mean over the paired seeds of metric(mine[i]) - metric(theirs[i])."""
        a = [self._column[k] for k in mine]
        b = [self._column[k] for k in theirs]
        observed = float((self.observed[metric][a] - self.observed[metric][b]).mean())
        return observed, (self.replicates[metric][:, a] - self.replicates[metric][:, b]).mean(1)

    def within_seed_variance(self, metric: str, mine: Sequence[Key], theirs: Sequence[Key]) -> float:
        """The mean over the paired seeds of each seed's own bootstrap variance of its difference: what test-image
        sampling does to one seed's difference (the two-level test needs it apart from that of the mean)."""
        a = [self._column[k] for k in mine]
        b = [self._column[k] for k in theirs]
        per_seed = self.replicates[metric][:, a] - self.replicates[metric][:, b]
        per_seed = per_seed[np.isfinite(per_seed).all(axis=1)]
        return float(per_seed.var(axis=0, ddof=1).mean()) if len(per_seed) > 1 else np.nan

    def per_seed_differences(self, metric: str, mine: Sequence[Key], theirs: Sequence[Key]) -> np.ndarray:
        a = [self._column[k] for k in mine]
        b = [self._column[k] for k in theirs]
        return self.observed[metric][a] - self.observed[metric][b]


def score_resamples(y_true, vectors: Mapping[Key, np.ndarray], metrics: Sequence[str],
                    minority_index: Optional[int] = None, n_resamples: int = N_RESAMPLES,
                    seed: int = 0, groups=None) -> ImageResamples:
    """Every vector scored on the test set and on the same resamples; ``groups`` (each test sample's group name,
    in y_true's order) resamples whole groups instead of images."""
    keys = list(vectors)
    predictions = [vectors[k] for k in keys]
    codes, n_groups = group_codes(groups) if groups is not None else (None, 0)
    observed = {m: np.array([metric_value(y_true, v, m, minority_index) for v in predictions]) for m in metrics}
    replicates = (bootstrap_metrics(y_true, predictions, metrics, minority_index, n_resamples, seed, codes)
                  if keys else {})
    return ImageResamples(keys, observed, replicates, n_resamples, seed, len(y_true), n_groups)


def percentile_interval(differences: np.ndarray, alpha: float) -> Tuple[float, float]:
    """The bootstrap's percentile interval at confidence 1 - ``alpha``, as order statistics.

    With B resamples and a = ``alpha``, the lower end is the ceil(B a / 2)-th smallest difference (numpy's
    ``inverted_cdf`` quantile) and the upper end the ceil(B a / 2)-th largest, so that the interval lies above 0
    exactly when fewer than B a / 2 differences are <= 0: it excludes 0 exactly when :func:`bootstrap_p` < a.
    """
    d = np.sort(np.asarray(differences, dtype=float))
    if not len(d):
        return np.nan, np.nan
    # rounded first: B a / 2 = 25 must not become 25.000000000000004 and move the end by one resample
    k = max(int(np.ceil(round(len(d) * alpha / 2, 9))) - 1, 0)
    return float(d[k]), float(d[len(d) - 1 - k])


def bootstrap_p(differences: np.ndarray) -> float:
    """Two-sided percentile-bootstrap p-value: 2 min(share of differences <= 0, share >= 0), at most 1.

    0 means no resample fell on the other side of 0: p < 2 / B, not p = 0 (reports say so)."""
    d = np.asarray(differences, dtype=float)
    if not len(d):
        return np.nan
    return float(min(1.0, 2 * min(np.sum(d <= 0), np.sum(d >= 0)) / len(d)))


def variance_with_error(replicates: np.ndarray) -> Tuple[float, float]:
    """(the variance of the resampled values, its Monte-Carlo standard error).

    The error of a sample variance from B draws is sqrt((m4 - var^2) / B), m4 the fourth central moment: what a
    different bootstrap seed could change, which the verdict's p-value inherits.
    """
    x = np.asarray(replicates, dtype=float)
    x = x[np.isfinite(x)]
    if len(x) < 2:
        return np.nan, np.nan
    centred = x - x.mean()
    variance = float(centred.var(ddof=1))
    m4 = float(np.mean(centred ** 4))
    return variance, float(np.sqrt(max(m4 - variance ** 2, 0.0) / len(x)))
