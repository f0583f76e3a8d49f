"""The decisive test of a comparison: does the difference survive *both* kinds of chance, another training
seed and another draw of test images?

A comparison has S paired seeds; seed s of the experiment and of its reference were scored on the same test
images, giving a difference d_s. Its mean d̄ varies for two reasons, which enter as two variance components:

* training randomness: the spread of d_s over seeds, s² with k = S - 1 degrees of freedom. With 2 or 3 seeds
  s² is a poor estimate (k = 1 or 2), so within a Holm family it is moderated towards the family's common
  value by empirical Bayes (Smyth, Stat. Appl. Genet. Mol. Biol. 3, 2004: the moderated t of limma):
  s̃² = (d0 s0² + k s²) / (d0 + k) with d0 + k degrees of freedom, the prior (d0, s0²) fitted to the quartiles
  of the family's own log s² values (robust to a few unstable members) and its degrees of freedom capped for
  the reference every comparison of the family shares (its noise is in every s²). A comparison whose s² lies in
  the upper 5 % of what that prior predicts (s0² F(k, d0)) is tested on its own s² and k instead: a method
  clearly less stable than its family is not credited with the family's stability. Each comparison's prior is
  fitted to the other comparisons of its family (``family_priors``), without those in either 5 % tail, along
  their trend over their mean differences, read at half the comparison's own (``trend_of``): a grid whose
  real effects made their models more stable does not lend its techniques without an effect their stability.
* test-set sampling: v, the variance of d̄ over paired bootstrap resamples of the test images (the same
  resample for both sides and every seed, so images fixed or broken in every seed count as what they are: a
  handful of images, not a consistent effect). With groups (``dataset.group``: frames of one video) the resample
  draws whole groups (balancelab.sweep.statistics.bootstrap): near-duplicate frames are one test case, not many.

With a = s̃² / S, the error of d̄ is E_seed + E_img, E_img ~ N(0, v) and E_seed ~ sqrt(a k / W) Z, W ~ χ²_k:
a t-distributed seed error with the uncertainty of s̃² carried by W. The two-sided p-value is the generalized
p-value of Tsui & Weerahandi (JASA 84, 1989) for this sum,

    p = E_W[ 2 Φ(-|d̄| / sqrt(k a / W + v)) ],

computed by quadrature. It is the paired t-test over seeds when v = 0 (no predictions to resample), and the
normal test of the image bootstrap when a = 0 (one seed, or seeds that never differ in a family without a
prior). p grows with s² and with v (a review found it falling by at most 1.3e-3, at large p, where the overlap
below is capped),
so more agreement between seeds never raises a comparison's p (after Holm, see family_priors), and there is one
rule for every number of seeds. Its interval at confidence 1 - L is d̄ ± c with p(c) = L: it excludes 0
exactly when p < L.

The calibration of this rule (false-positive rate at the nominal level, power for real effects) is measured by
simulation against known truth: balancelab.sweep.statistics.calibration, docs/statistics.md.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from functools import cached_property, lru_cache
from typing import List, Optional, Sequence, Tuple

import numpy as np
from numpy.polynomial.legendre import leggauss
from scipy import optimize, special, stats

# Gauss-Legendre nodes over u in (0, 1), with u = x^6 so that the small-W end (the heavy tail of the t) is
# resolved: the p-value then matches scipy's t distribution to 4 significant digits down to 1e-20.
_NODES, _POWER = 400, 6


@lru_cache(maxsize=512)
def _chi2_nodes(df: float) -> Tuple[np.ndarray, np.ndarray]:
    x, w = leggauss(_NODES)
    x, w = (x + 1) / 2, w / 2
    u = x ** _POWER
    weights = _POWER * x ** (_POWER - 1) * w
    return stats.chi2.ppf(u, df), weights


def generalized_p(difference: float, seed_part: float, image_part: float, df: float) -> float:
    """p = E_W[2 Φ(-|d| / sqrt(df a / W + v))] for a = ``seed_part`` (s²/S), v = ``image_part``, W ~ χ²_df."""
    d, a, v = abs(float(difference)), max(float(seed_part), 0.0), max(float(image_part), 0.0)
    if not np.isfinite(d):
        return np.nan
    if d == 0:
        return 1.0
    if a == 0 or not np.isfinite(df):
        sd = math.sqrt(a + v)
        return 0.0 if sd == 0 else float(2 * stats.norm.sf(d / sd))
    if v == 0:
        return float(2 * stats.t.sf(d / math.sqrt(a), df))
    w, weights = _chi2_nodes(float(df))
    with np.errstate(divide="ignore"):
        sd = np.sqrt(df * a / w + v)
    return float(min(1.0, np.sum(2 * stats.norm.sf(d / sd) * weights)))


def one_sided_p(statistic: float, seed_part: float, image_part: float, df: float) -> float:
    """P(E >= ``statistic``) for the error E of d̄ (symmetric: half of generalized_p on either side of 0)."""
    x = float(statistic)
    if not np.isfinite(x):
        return np.nan
    tail = generalized_p(abs(x), seed_part, image_part, df) / 2
    return tail if x >= 0 else 1.0 - tail


def equivalence_p(difference: float, seed_part: float, image_part: float, df: float, margin: float) -> float:
    """Two one-sided tests (Schuirmann, J. Pharmacokinet. Biopharm. 15, 1987) of |Δ| >= ``margin`` against
    |Δ| < ``margin``, on the same two-level error as :func:`generalized_p`: the larger of the p-values of
    Δ <= -margin and of Δ >= margin. p < L exactly when the two-level interval at confidence 1 - 2L lies inside
    (-margin, +margin). NaN when nothing measures chance (no variance to weigh the difference against)."""
    a, v = max(float(seed_part), 0.0), max(float(image_part), 0.0)
    if not (np.isfinite(difference) and margin > 0) or a + v == 0:
        return np.nan
    return max(one_sided_p(difference + margin, a, v, df), one_sided_p(margin - difference, a, v, df))


def generalized_half_width(seed_part: float, image_part: float, df: float, level: float) -> float:
    """c with generalized_p(c) = level: the interval d̄ ± c at confidence 1 - level."""
    a, v = max(float(seed_part), 0.0), max(float(image_part), 0.0)
    if a == 0 or not np.isfinite(df):
        return float(stats.norm.isf(level / 2) * math.sqrt(a + v))
    if v == 0:
        return float(stats.t.isf(level / 2, df) * math.sqrt(a))
    # |X + Y| <= |X| + |Y|: at these two quantiles (each with level / 2 beyond it) p is at most the level
    high = stats.t.isf(level / 4, df) * math.sqrt(a) + stats.norm.isf(level / 4) * math.sqrt(v)
    return float(optimize.brentq(lambda c: generalized_p(c, a, v, df) - level, 0.0, high, xtol=1e-14, rtol=1e-12))


# ---------------------------------------------------------------------------------------------------
# The family's prior for the seed variance (Smyth 2004's model, fitted by quartiles)
# ---------------------------------------------------------------------------------------------------

def _trigamma_inverse(x: float) -> float:
    """y with trigamma(y) = x (Newton's method from Smyth's limma, which converges from y = 0.5 + 1/x)."""
    if x > 1e7:
        return 1.0 / math.sqrt(x)
    if x < 1e-6:
        return 1.0 / x
    y = 0.5 + 1.0 / x
    for _ in range(50):
        tri = float(special.polygamma(1, y))
        step = tri * (1 - tri / x) / float(special.polygamma(2, y))
        y += step
        if -step / y < 1e-8:
            break
    return y


def _df_with_spread(df: float, log_variance: float) -> float:
    """Prior degrees of freedom d0' whose log-scale scatter is d0's plus ``log_variance``: trigamma(d0' / 2) =
    trigamma(d0 / 2) + log_variance (d0 = inf scatters by 0; no prior, 0, stays 0)."""
    if not log_variance > 0 or df <= 0:
        return df
    spread = 0.0 if math.isinf(df) else float(special.polygamma(1, df / 2))
    return 2 * _trigamma_inverse(spread + log_variance)


# Fewer comparisons with a seed variance than this give no prior: three is the fewest from which a spread of
# log-variances (the prior's degrees of freedom) can be told from the chi-square's own.
MIN_PRIOR_COMPARISONS = 3


@dataclass(frozen=True)
class SeedVariancePrior:
    """The family's common seed variance: s0² with d0 prior degrees of freedom (0: none; inf: the comparisons'
    variances do not differ beyond chance), and the pooled variance and degrees of freedom of the family."""

    df: float = 0.0
    variance: float = np.nan
    pooled_variance: float = np.nan
    pooled_df: float = 0.0
    n_comparisons: int = 0
    # The trend of log s² over the comparisons' mean differences (``trend_of``): s0² is the prior's scale where
    # the difference is ``anchor`` (0, or the nearest difference the family has), and at a point x of that axis
    # the prior's scale is s0² exp(slope (x - anchor)); ``low``/``high`` is the range of the differences it was
    # fitted on (never read beyond). low == high: no trend (a fitted slope may be exactly 0).
    slope: float = 0.0
    anchor: float = 0.0
    low: float = 0.0
    high: float = 0.0
    # How uncertain the trend is: the slope's variance (``trend_of``) and the middle of the differences it was
    # fitted on (their median), from which a reading at the anchor extrapolates.
    slope_variance: float = 0.0
    center: float = 0.0

    @property
    def moderates(self) -> bool:
        return self.df > 0

    @property
    def has_trend(self) -> bool:
        """A line was fitted (over a range of differences): its slope may be exactly 0 and still be uncertain."""
        return self.high > self.low

    def at(self, point: float) -> "SeedVariancePrior":
        """The prior read at ``point`` of the difference axis (clamped to the range it was fitted on).

        Its degrees of freedom count the trend's own uncertainty where a true difference of 0 sits (the
        anchor), since p is a probability under that hypothesis: in Smyth's model the log of a true seed
        variance scatters around the prior's scale by trigamma(d0 / 2), and a scale read off an uncertain line
        at the anchor, a distance r = |center - anchor| from the differences' median (``center``), scatters by
        slope_variance r² more, so trigamma(d0' / 2) = trigamma(d0 / 2) + slope_variance r². Why: a null
        technique among many techniques of one real effect reads the line far from the effects, where it rests
        on the few other null ones; read there with the family's full d0, its seed variance was held as certain
        as the effects' (a review: 5.7 % of such nulls rejected at 0.05, 3.3 % called better).

        The same d0' for every reading x: a df that moved with x moved the moderated variance with d̄ beyond
        what the hold in ``for_comparison`` allows for, and p could rise as |d̄| grew (charged at x itself, or at
        the way left from x to the centre: a review found rises of up to 1.7e-2 for the latter)."""
        if not self.has_trend or not np.isfinite(point):
            return self
        x = min(max(float(point), self.low), self.high)
        # the prior at one point, its df charged once: no line left to read, so nothing left to charge
        return replace(self, variance=float(self.variance * math.exp(self.slope * (x - self.anchor))),
                       slope=0.0, anchor=x, low=x, high=x, slope_variance=0.0, center=x, df=self.reading_df)

    @cached_property
    def reading_df(self) -> float:
        """d0' of every reading (:meth:`at`), computed once per prior: the screens of ``family_prior`` read each
        prior at every member's difference, and the trigamma inversion is Newton's method."""
        return _df_with_spread(self.df, self.slope_variance * (self.center - self.anchor) ** 2)

    def for_comparison(self, mean_difference: float) -> "SeedVariancePrior":
        """The prior of a comparison whose mean difference is d̄: read at d̄ / 2, where a true difference of 0 is
        expected on the others' axis (``trend_of``), held where slope x would exceed 2 so that a larger |d̄| never
        raises p (with the seed part ∝ exp(slope d̄ / 2), |d̄| / its square root grows while slope d̄ <= 4)."""
        if not self.has_trend or not np.isfinite(mean_difference):
            return self
        x = mean_difference / 2
        if self.slope * x > 2:
            x = 2 / self.slope
        return self.at(x)


# The comparisons of a family share their reference's seeds, so their seed variances are not independent: every
# s² holds the same reference noise. Pooled over m comparisons with k df each, the part a shared reference
# contributes (a fraction rho of each variance) keeps only its own k df, and the pool carries at most
# k / ((1 - rho)² / m + rho²) degrees of freedom (4k for a reference as noisy as the experiments, k when it is
# all the noise), however many comparisons there are. rho is measured (the seed variance of the comparisons'
# mean difference over their mean seed variance) but never taken below SHARED_FRACTION_FLOOR: the measurement
# has k df itself and is low exactly when the reference's seeds happen to agree, which is when an uncapped prior
# is overconfident (measured: 7.9 % false positives at 3 seeds with large seed noise before this cap).
SHARED_FRACTION_FLOOR = 0.5


def shared_reference_df(k: float, m: int, shared_fraction: float) -> float:
    """Degrees of freedom a family's pooled seed variance can carry: m comparisons with k df each, a fraction
    ``shared_fraction`` of each variance coming from the reference they share."""
    rho = min(max(shared_fraction, SHARED_FRACTION_FLOOR), 1.0) if np.isfinite(shared_fraction) else SHARED_FRACTION_FLOOR
    return float(k / ((1 - rho) ** 2 / max(m, 1) + rho ** 2))


def shared_fraction(aligned_differences: Optional[np.ndarray]) -> float:
    """rho estimated from the comparisons' per-seed differences (rows: comparisons, columns: the same seeds):
    the seed variance of their mean over the mean of their seed variances. NaN when not measurable."""
    if aligned_differences is None:
        return np.nan
    d = np.asarray(aligned_differences, float)
    if d.ndim != 2 or d.shape[0] < 2 or d.shape[1] < 2:
        return np.nan
    mean_variance = float(d.var(axis=1, ddof=1).mean())
    if mean_variance <= 0:
        return np.nan
    return float(d.mean(axis=0).var(ddof=1) / mean_variance)


_QUARTILES = np.array([0.25, 0.5, 0.75])


def _log_f_quartiles(k: float, d0: float) -> np.ndarray:
    """Quartiles of log F(k, d0) (d0 = inf: log chi2_k / k), the distribution of log(s² / s0²)."""
    if math.isinf(d0):
        return np.log(stats.chi2.ppf(_QUARTILES, k) / k)
    return np.log(stats.f.ppf(_QUARTILES, k, d0))


def _quantile_prior(log_variances: np.ndarray, k: float) -> Tuple[float, float]:
    """(d0, s0²) matching the interquartile range and the median of the log-variances."""
    q25, median, q75 = np.quantile(log_variances, _QUARTILES)
    spread = q75 - q25

    def spread_at(log_d0: float) -> float:
        lo, _, hi = _log_f_quartiles(k, math.exp(log_d0))
        return hi - lo

    if spread <= spread_at(math.log(1e6)):
        d0 = math.inf
    elif spread >= spread_at(math.log(0.05)):
        d0 = 0.05
    else:
        d0 = math.exp(optimize.brentq(lambda x: spread_at(x) - spread, math.log(0.05), math.log(1e6), xtol=1e-6))
    return d0, float(math.exp(median - _log_f_quartiles(k, d0)[1]))


def estimate_prior(variances: Sequence[float], dfs: Sequence[float],
                   aligned_differences: Optional[np.ndarray] = None, shared_reference: bool = True,
                   differences: Optional[Sequence[float]] = None,
                   trend: Optional[Tuple[float, float]] = None) -> SeedVariancePrior:
    """The prior (d0, s0²) from the seed variances of a family's comparisons (those with df >= 1).

    Smyth's model (s_i² ~ s0² F(k, d0)) fitted by quantiles rather than limma's moments: the interquartile
    range of log s_i² gives d0 (none beyond the chi-square's own: d0 = inf, one common variance), their median
    gives s0². Moments let a few much less stable comparisons (their log s² far out) widen the prior and pull s0²
    down, shrinking every stable comparison's variance (measured: 7.6-7.9 % false positives at 3 seeds with
    large seed noise); quartiles do not move for them, and the outlier guard tests them on their own variance.
    Zero variances (identical differences in every seed) have no logarithm: they count in the pooled variance
    but not in the prior, which then leans high, never low. The degrees of freedom are capped for the reference the
    comparisons share (``shared_reference_df``; ``aligned_differences``, comparisons x seeds, measures it;
    ``shared_reference=False`` for independent variances, as in the literature's model).

    With ``differences`` (each comparison's mean difference) and at least MIN_TREND_COMPARISONS of them, the
    prior follows their trend (``trend_of``; ``trend`` given: that (slope, slope variance)): its scale is fitted
    at the anchor (0, or the nearest difference the family has) and read elsewhere with
    :meth:`SeedVariancePrior.for_comparison`, with fewer degrees of freedom the less sure the line is at the
    anchor (:meth:`SeedVariancePrior.at`).
    """
    s2, k = np.asarray(variances, float), np.asarray(dfs, float)
    used = _has_variance(s2, k)
    if not used.any():
        return SeedVariancePrior()
    cap = (shared_reference_df(float(np.median(k[used])), int(used.sum()), shared_fraction(aligned_differences))
           if shared_reference else math.inf)
    pooled_df = min(float(k[used].sum()), cap)
    pooled = float(np.sum(k[used] * s2[used]) / k[used].sum())
    positive = used & (s2 > 0)
    if positive.sum() < MIN_PRIOR_COMPARISONS:
        return SeedVariancePrior(pooled_variance=pooled, pooled_df=pooled_df, n_comparisons=int(used.sum()))
    log_s2, line = np.log(s2[positive]), {}
    x = None if differences is None else np.asarray(differences, float)[positive]
    if trend is not None and not (np.isfinite(trend[0]) and np.isfinite(trend[1]) and trend[1] >= 0):
        raise ValueError(f"estimate_prior: the trend must be a finite slope and a finite slope variance >= 0; got "
                         f"{trend!r} (trend_of gives a NaN variance where it cannot be measured: pass no trend then)")
    # a NaN difference (a comparison without one) switches the trend off for this prior (family_priors: for every
    # prior whose others include it); differences equal but for their last bits have no slope to fit (trend_of)
    if x is not None and np.isfinite(x).all() and (trend is not None or len(x) >= MIN_TREND_COMPARISONS):
        fitted, fitted_variance = trend_of(log_s2, x) if trend is None else trend
    else:
        fitted_variance = math.nan
    if np.isfinite(fitted_variance):  # a trend whose uncertainty cannot be measured is not used (trend_of)
        anchor = float(min(max(0.0, x.min()), x.max()))
        line = dict(slope=fitted, anchor=anchor, low=float(x.min()), high=float(x.max()),
                    slope_variance=fitted_variance, center=float(np.median(x)))
        log_s2 = log_s2 - fitted * (x - anchor)  # every member moved along the trend to the anchor
    d0, s0 = _quantile_prior(log_s2, float(np.median(k[positive])))
    # The prior and a comparison's own s² share the reference too: together they carry at most ``cap`` df.
    d0 = min(d0, max(cap - float(np.median(k)), 0.0))
    return SeedVariancePrior(df=float(d0), variance=s0, pooled_variance=pooled, pooled_df=pooled_df,
                             n_comparisons=int(used.sum()), **line)


# Fewer comparisons than this with a mean difference give no trend: the robust slope needs a few points to stand on.
MIN_TREND_COMPARISONS = 6


ONE_STANDARD_ERROR = 0.6827  # the confidence of a ±1 standard-error interval


def trend_of(log_variances: np.ndarray, differences: np.ndarray) -> Tuple[float, float]:
    """The slope of log s² over the comparisons' mean differences (Theil-Sen: robust to a few odd members) and
    its variance (from Sen's distribution-free interval at ±1 standard error, half its width, squared; NaN where
    the differences are one value, or ties collapse that interval off a line, and then no trend is used), which
    the reading turns into fewer prior degrees of freedom the farther the anchor lies from the middle of the
    family (``SeedVariancePrior.at``). Measured against the slope's own spread over simulated families without
    ties, the median of this variance is 0.98-1.19 times the slope's variance, its mean up to about twice it: the
    charge over-covers on average (docs/statistics.md).

    Why a trend: a more accurate model's score moves less per unit of seed luck, so in a grid where most
    techniques really help, those that do not are the least stable, and a prior at the family's typical variance
    lent them the effects' smaller one (measured: null comparisons rejected 7.4 % instead of 5 % in 1,000
    simulated sweeps with large seed luck). As in limma-trend (Law et al., Genome Biol. 15, 2014) the prior
    follows the trend; where a comparison reads it is the question. Each other difference is that technique's
    true gain, plus its own luck, minus the reference's mean luck e_b; a true gain of 0 therefore sits at -e_b on
    the others' axis. Under the comparison's null hypothesis its d̄ is its own luck minus e_b, so with two sides
    equally variable the best estimate of -e_b from d̄ is d̄ / 2 (``SeedVariancePrior.for_comparison``). Read at
    d̄ itself, a null technique whose seeds were lucky would be lent the effects' smaller variance; read at 0, the
    reference's luck is in every other difference and not in the reading point, which tilts false verdicts
    towards one side (a review: false "worse" 2.6 % against false "better" 1.9 %) and cost a third of the power."""
    # values equal but for their last bits (means of the same per-seed values summed in another order, or s² equal
    # as rationals) are one value: as floats they gave a pairwise slope of about 1e16 and an interval "collapsed"
    # to 1e-12 instead of 0 (two reviews)
    y, x = _snapped(log_variances), _snapped(differences)
    if np.ptp(x) == 0:  # one difference once snapped: no line to fit
        return 0.0, math.nan
    slopes, low, high = _sen_interval(y, x, ONE_STANDARD_ERROR)
    slope = float(np.median(slopes))
    half_width = (high - low) / 2
    if half_width <= 1e-9 * max(1.0, abs(slope)) and not _on_one_line(y, x, slope):
        # the interval collapsed on tied pairwise slopes (ties in log s² give many of exactly 0) although the
        # points are not on one line: the slope's uncertainty is not measured, and the line is not used as if it
        # were certain (estimate_prior fits no trend then)
        return slope, math.nan
    return slope, float(half_width ** 2)


def _sen_interval(y: np.ndarray, x: np.ndarray, confidence: float) -> Tuple[np.ndarray, float, float]:
    """The pairwise slopes (sorted) and Sen's (1968) distribution-free interval for their median at ``confidence``.

    As SciPy's ``theilslopes`` (the same ranks), but with Sen's eq. 2.6 as published: ties in x only. SciPy also
    subtracts ties in y, a term that is not in Sen's variance (SciPy removed it once, PR #3574, and it came back);
    with many tied log s² it drove the variance negative and the interval undefined for collinear points, and
    elsewhere made the interval narrower than Sen's."""
    dx = x[:, None] - x
    dy = y[:, None] - y
    slopes = np.sort(dy[dx > 0] / dx[dx > 0])
    n, count = len(x), len(slopes)
    _, x_ties = np.unique(x, return_counts=True)
    variance = (n * (n - 1) * (2 * n + 5) - float(np.sum(x_ties * (x_ties - 1) * (2 * x_ties + 5)))) / 18.0
    reach = float(stats.norm.isf((1 - confidence) / 2)) * math.sqrt(variance)  # z σ, in ranks of the slopes
    upper = min(int(np.round((count + reach) / 2)), count - 1)
    lower = max(int(np.round((count - reach) / 2)) - 1, 0)
    return slopes, float(slopes[lower]), float(slopes[upper])


def _snapped(values) -> np.ndarray:
    """``values`` rounded to 12 significant decimals of their largest magnitude (at least 1): last-bit ties become
    ties, and values that differ in their 12th decimal or before stay apart (metrics in [0, 1]: apart from 1e-12)."""
    v = np.asarray(values, float)
    scale = max(1.0, float(np.abs(v[np.isfinite(v)]).max())) if np.isfinite(v).any() else 1.0
    return np.round(v / scale, _TIE_DECIMALS) * scale


_TIE_DECIMALS = 12


def _on_one_line(y: np.ndarray, x: np.ndarray, slope: float) -> bool:
    """Every point with a distinct x on the line of ``slope`` (a zero-width interval that is right)."""
    residual = y - slope * x
    return bool(np.ptp(residual) <= 1e-12 * max(1.0, float(np.abs(residual).max())))


# ---------------------------------------------------------------------------------------------------
# One comparison
# ---------------------------------------------------------------------------------------------------

OWN, MODERATED, BORROWED, IMAGES_ONLY, SEEDS_ONLY = ("own", "moderated", "from the family", "test images only",
                                                     "seeds only")
ONE_MODEL_SCOPE = "one trained model per side, on this test set (1 seed)"
# Seeds whose differences agree exactly, with no other comparison in the family to lend a seed variance: the test
# is the test images' alone, and the verdict says what it is about.
TIED_SCOPE = "seeds that agree exactly, with no other comparison to measure training randomness: test images only"


@dataclass(frozen=True)
class TwoLevelTest:
    """The decisive test of one comparison (module docstring)."""

    difference: float          # d̄: the mean over paired seeds
    n_seeds: int               # S
    own_seed_variance: float   # s² (NaN with one seed)
    seed_variance: float       # the variance used: s², s̃², or the family's; 0 when none
    seed_df: float             # its degrees of freedom (inf: taken as known)
    seed_variance_source: str  # OWN, MODERATED, BORROWED, IMAGES_ONLY, SEEDS_ONLY
    image_variance: float      # v (NaN without predictions)
    image_variance_error: float  # Monte-Carlo standard error of v
    scope: str = ""            # ONE_MODEL_SCOPE when nothing measures training randomness
    # The part of v the seed part already holds (each seed's difference on the fixed test set carries that seed's
    # own image-by-image noise, u_s; s²/S counts Var(u)/S and so does v): counted once, not twice.
    overlap: float = 0.0

    @property
    def seed_part(self) -> float:
        return self.seed_variance / self.n_seeds if self.n_seeds else 0.0

    @property
    def image_part(self) -> float:
        """v less the overlap: the test-image variance the seed part does not already hold (Var(c), the noise the
        seeds share, when the overlap is measured)."""
        return 0.0 if not np.isfinite(self.image_variance) else max(self.image_variance - self.overlap, 0.0)

    @property
    def standard_error(self) -> float:
        return math.sqrt(self.seed_part + self.image_part)

    @property
    def seed_share(self) -> float:
        """The share of the variance of d̄ that training randomness accounts for (the rest: test images, the
        overlap included)."""
        total = self.seed_part + self.image_part
        return np.nan if total == 0 else max(self.seed_part - self.overlap, 0.0) / total

    @property
    def testable(self) -> bool:
        """Some variance to test against, or nothing to test (a difference of exactly 0)."""
        return np.isfinite(self.difference) and (self.standard_error > 0 or self.difference == 0)

    @property
    def p_value(self) -> float:
        """NaN when nothing measures either kind of chance (one seed, or identical differences, and no
        predictions): a difference with no variance to weigh it against is not tested."""
        if not self.testable:
            return np.nan
        return generalized_p(self.difference, self.seed_part, self.image_part, self.seed_df)

    @property
    def p_error(self) -> float:
        """The Monte-Carlo error of p: how far p moves when v moves by its standard error (another bootstrap
        seed)."""
        if not np.isfinite(self.image_variance_error) or self.image_variance_error == 0:
            return 0.0
        low = max(self.image_part - self.image_variance_error, 0.0)
        high = self.image_part + self.image_variance_error
        return abs(generalized_p(self.difference, self.seed_part, high, self.seed_df)
                   - generalized_p(self.difference, self.seed_part, low, self.seed_df)) / 2

    def interval(self, level: float) -> Tuple[float, float]:
        """The interval at confidence 1 - ``level``; it excludes 0 exactly when ``p_value < level``."""
        if not self.testable:
            return np.nan, np.nan
        c = generalized_half_width(self.seed_part, self.image_part, self.seed_df, level)
        return self.difference - c, self.difference + c


# A comparison whose seed variance lies in this upper tail of what the family's prior predicts is tested on its
# own variance: a method less stable than its family is not credited with the family's stability.
OUTLIER_TAIL = 0.05


def _predictive_quantile(q: float, df: float, prior: SeedVariancePrior) -> float:
    """The ``q`` quantile of s² under its prior predictive distribution, s0² F(k, d0) (Smyth 2004)."""
    ratio = stats.chi2.ppf(q, df) / df if math.isinf(prior.df) else stats.f.ppf(q, df, prior.df)
    return float(ratio * prior.variance)


def is_outlier(variance: float, df: float, prior: SeedVariancePrior, tail: Optional[float] = None) -> bool:
    """s² beyond the upper ``tail`` (default OUTLIER_TAIL) of its prior predictive distribution."""
    if not prior.moderates or not np.isfinite(variance):
        return False
    return variance > _predictive_quantile(1 - (OUTLIER_TAIL if tail is None else tail), df, prior)


# A comparison whose seed variance lies this far into the *lower* tail of the prior predictive is left out of the
# family's prior (it is still moderated, which only raises its variance): seeds that barely differ (the same images
# fixed and broken in every seed) otherwise pull the quartiles, and so every comparison's variance, down.
LOWER_TAIL = 0.05


def is_below(variance: float, df: float, prior: SeedVariancePrior, tail: float = LOWER_TAIL) -> bool:
    """s² below the lower ``tail`` of its prior predictive distribution."""
    if not prior.moderates or not np.isfinite(variance):
        return False
    return variance < _predictive_quantile(tail, df, prior)


def family_prior(variances: Sequence[float], dfs: Sequence[float],
                 aligned_differences: Optional[np.ndarray] = None,
                 differences: Optional[Sequence[float]] = None) -> SeedVariancePrior:
    """The prior of a family, robust to members in either tail (limma's robust mode, Phipson et al., Ann. Appl.
    Stat. 10, 2016, answers the same problem by winsorizing both tails): estimated once, then again without the
    comparisons that lie beyond its upper 5 % (``is_outlier``; they are tested on their own variance) or below
    its lower 5 % (``is_below``).
    A few much less stable techniques otherwise widen the fitted prior and pull its scale s0² down (measured:
    7.9 % false positives among the stable ones at 3 seeds); a few whose seeds barely differ pull the quartiles
    down (measured: 6.7 % at 3 seeds with large seed luck, 4.6 % without them)."""
    s2, k = np.asarray(variances, float), np.asarray(dfs, float)
    x = np.full(len(s2), np.nan) if differences is None else np.asarray(differences, float)
    prior = estimate_prior(s2, k, aligned_differences, differences=None if differences is None else x)
    if not prior.moderates:
        return prior
    # each member is judged against the prior where the trend expects it: at its own difference
    beyond = np.array([np.isfinite(v) and d >= 1 and (is_outlier(v, d, prior.at(m)) or is_below(v, d, prior.at(m)))
                       for v, d, m in zip(s2, k, x)], bool)
    if not beyond.any():
        return prior
    kept = None if aligned_differences is None else np.asarray(aligned_differences)[~beyond[_has_variance(s2, k)]]
    # the slope stays the one fitted on every member (Theil-Sen is robust already): refitted without the tails,
    # a small family would drop below MIN_TREND_COMPARISONS and lose its trend for one comparison but not another
    # and a family whose first fit had no line (too few members, or an interval that did not measure the slope)
    # gets none from the refit either
    robust = estimate_prior(s2[~beyond], k[~beyond], kept,
                            differences=x[~beyond] if differences is not None and prior.has_trend else None,
                            trend=(prior.slope, prior.slope_variance) if prior.has_trend else None)
    return robust if robust.moderates else prior


def family_priors(variances: Sequence[float], dfs: Sequence[float],
                  aligned_differences: Optional[np.ndarray] = None,
                  differences: Optional[Sequence[float]] = None) -> List[SeedVariancePrior]:
    """One prior per comparison: :func:`family_prior` of the *other* comparisons of the family (leave one out), with
    the pooled variance of the whole family as the floor of a family too small for a prior.

    Why: a comparison's own s² must move only its own side of the moderation. Fitted with it, the prior moved with
    it, and once the prior left out its tails a comparison whose seeds came to agree more (its s² entering the
    lower tail) left the fit and raised the prior it is moderated towards: more agreement, a larger p (a review:
    p up by 0.04, 4 of 400 simulated families losing a rejection). Fitted to the others, the moderated variance
    (d0 s0² + k s²) / (d0 + k) grows with s² alone. The floor is the pooled variance of every comparison, its own
    included, which also grows with s² alone, with at least the comparison's own degrees of freedom: a floor
    pooled from the others only took their degrees of freedom, and a comparison with more seeds than they have
    lost df as its s² fell below it (a review: p 0.040 -> 0.199). Each prior rests on m - 1 comparisons, so a
    family needs MIN_PRIOR_COMPARISONS + 1 of them for a prior; smaller families take the floor.

    What this does not give: a comparison's s² (and, with ``differences``, its d̄) is in every other comparison's
    prior, so its seeds agreeing more can raise another comparison's p and, through Holm's step-down, its own
    adjusted p (a review: in about half of 110 near-threshold families; one verdict lost). Its raw p is monotone;
    its verdict is not guaranteed to be.

    With ``differences`` (each comparison's mean difference) the others' prior follows their trend over those
    differences (``trend_of``), read by each comparison at half its own (``for_comparison``). The reading assumes
    one reference shared by every comparison (its mean luck in every difference); pass no ``differences`` for a
    family whose comparisons have references of their own."""
    s2, k = np.asarray(variances, float), np.asarray(dfs, float)
    has = _has_variance(s2, k)
    aligned = None if aligned_differences is None else np.asarray(aligned_differences, float)
    if aligned is not None and aligned.shape[0] != int(has.sum()):
        aligned = None  # not one row per comparison with a variance: the shared fraction is not measurable
    rows = np.cumsum(has) - 1  # each comparison's row in ``aligned``
    x = None if differences is None else np.asarray(differences, float)
    pooled = float(np.sum(k[has] * s2[has]) / k[has].sum()) if has.any() else np.nan
    priors = []
    for i in range(len(s2)):
        others = np.arange(len(s2)) != i
        kept = np.delete(aligned, rows[i], axis=0) if aligned is not None and has[i] else aligned
        prior = family_prior(s2[others], k[others], kept, None if x is None else x[others])
        if has[i]:
            cap = shared_reference_df(float(np.median(k[has])), int(has.sum()), shared_fraction(kept))
            prior = replace(prior, pooled_variance=pooled, pooled_df=max(min(float(k[has].sum()), cap), float(k[i])))
        priors.append(prior)
    return priors


def _has_variance(s2: np.ndarray, k: np.ndarray) -> np.ndarray:
    return np.isfinite(s2) & (k >= 1)


def seed_variance_of(differences: Sequence[float]) -> float:
    """s² of the per-seed differences (NaN with one seed); exactly 0 for differences that are equal but for their
    last bits (0.7-0.6 and 0.8-0.7: metrics are ratios of counts)."""
    d = np.asarray(differences, dtype=float)
    if len(d) < 2:
        return np.nan
    if float(np.ptp(d)) <= 1e-12 * max(1.0, float(np.abs(d).max())):
        return 0.0
    return float(d.var(ddof=1))


def two_level_test(differences: Sequence[float], image_variance: float = np.nan, image_variance_error: float = np.nan,
                   prior: SeedVariancePrior = SeedVariancePrior(),
                   outlier_tail: Optional[float] = None,
                   within_seed_image_variance: float = np.nan) -> TwoLevelTest:
    """The decisive test of a comparison from its per-seed differences and the bootstrap variance of their
    mean over test images (NaN: no predictions), with the family's prior for the seed variance.

    ``within_seed_image_variance`` (w̄, the mean of each seed's own bootstrap variance, on the same resamples)
    separates the image noise the seeds share from each seed's own: with d_s = μ + a_s + c + u_s (training luck,
    the shared and the seed's own test-image noise), s² estimates Var(a) + Var(u), v estimates Var(c) + Var(u)/S
    and w̄ estimates Var(c) + Var(u), so Var(u)/S = (w̄ - v) / (S - 1) is in both s²/S and v. It is taken out of v
    once (at most the seed part: Var(d̄) is never below v); without w̄ the test stays conservative."""
    d = np.asarray(differences, dtype=float)
    n = len(d)
    if n == 0:
        raise ValueError("A comparison needs at least one paired seed.")
    k = n - 1
    own = seed_variance_of(d)
    reading = prior.for_comparison(float(d.mean()))  # the prior where its null hypothesis sits (trend_of)
    has_images = bool(np.isfinite(image_variance))
    source, scope = OWN, ""
    if n > 1:
        variance, df = own, float(k)
        # the guard reads the prior at its anchor (0, or the nearest difference the others have), not at d̄:
        # whether a comparison counts as less stable than its family must not switch as its gain grows, or a
        # larger gain could raise p
        scale = reading.variance
        d0 = reading.df
        moderated = scale if math.isinf(d0) else (d0 * scale + k * own) / (d0 + k)
        if prior.moderates and not is_outlier(own, k, prior, outlier_tail):
            variance, df, source = moderated, min(d0 + k, prior.pooled_df), MODERATED
        elif prior.moderates:
            # tested alone, but never on less than the moderated variance: read at d̄ / 2 the prior can exceed the
            # comparison's own s², and crossing the guard must not lower the variance (a review: p 0.057 -> 0.046
            # as s² grew past the guard, at 5 seeds)
            variance = max(own, moderated)
        elif not prior.moderates and prior.pooled_df > 0 and prior.pooled_variance > own:
            # identical (or nearly identical) differences are no evidence that training randomness is nil: without
            # a prior to moderate them, the family's pooled seed variance is their floor. A floor, not a stand-in
            # for exact ties only: p then cannot fall as the seeds go from a tie to a near-tie (a review found
            # 30 images fixed in both seeds p = 0.14, 30 and 31 p = 0.011, 31 and 31 p = 0.13)
            variance, df, source = prior.pooled_variance, prior.pooled_df, BORROWED
        if variance == 0 and has_images:
            scope = TIED_SCOPE
    elif prior.pooled_df > 0:  # one seed: its training randomness is taken from the family's seeds
        variance = reading.variance if prior.moderates else prior.pooled_variance
        df = min(reading.df, prior.pooled_df) if prior.moderates else prior.pooled_df
        source = BORROWED
    else:
        variance, df, source, scope = 0.0, math.inf, IMAGES_ONLY, ONE_MODEL_SCOPE
    if not has_images and source != IMAGES_ONLY:
        source = SEEDS_ONLY if source == OWN else f"{source}; {SEEDS_ONLY}"
    overlap = 0.0
    if n > 1 and has_images and np.isfinite(within_seed_image_variance) and source in (OWN, MODERATED):
        overlap = min(max(float(within_seed_image_variance) - float(image_variance), 0.0) / (n - 1), variance / n)
    return TwoLevelTest(overlap=overlap, difference=float(d.mean()), n_seeds=n, own_seed_variance=own, seed_variance=float(variance),
                        seed_df=float(df), seed_variance_source=source,
                        image_variance=float(image_variance) if has_images else np.nan,
                        image_variance_error=float(image_variance_error) if has_images else np.nan, scope=scope)
