"""Is an experiment really better than the baseline? The statistics of a sweep, one idea per module:

* :mod:`metrics` - the compared metrics (macro-F1 primary), from per-class counts;
* :mod:`bootstrap` - the paired bootstrap over test images, or whole groups of them (every row scored on the same
  resamples);
* :mod:`seeds` - the per-seed metric table, the paired t-test and Wilcoxon over seeds (informative);
* :mod:`two_level` - the decisive test: seeds and test images together, with the family's seed-variance prior
  (and its equivalence test, for the report's answer);
* :mod:`multiple` - Holm's correction and the level each hypothesis is tested at;
* :mod:`comparisons` - the families, the verdict table (``compare_to_baseline``);
* :mod:`predictions` - the jobs' test predictions, matched image by image;
* :mod:`ranks` - several datasets: Friedman, Nemenyi, Wilcoxon (Demšar 2006);
* :mod:`calibration` - the decision rule checked against known truth by simulation.

Plain functions over pandas/NumPy; writing files is left to the sweep report.
"""

from balancelab.sweep.statistics.bootstrap import (N_RESAMPLES, REFINED_RESAMPLES, RESAMPLE_BLOCK, bootstrap_metrics,
                                                   bootstrap_p, group_codes, percentile_interval, resample_indices,
                                                   resample_multiplicities, variance_with_error)
from balancelab.sweep.statistics.comparisons import (BASELINE, BETTER, DERIVED_VS_BASELINE_FAMILY,
                                                     DERIVED_VS_SOURCE_FAMILY, FAMILIES, NO_DIFFERENCE, NOT_AVAILABLE,
                                                     TRAINED_FAMILY, TWO_LEVEL, UNSTABLE, WORSE, Hypothesis,
                                                     before_crt_experiments, compare_to_baseline, failed_seeds,
                                                     hypotheses, is_decided, verdict)
from balancelab.sweep.statistics.metrics import (TESTED_METRICS, PRIMARY_METRIC, SECONDARY_METRICS, metric_from_counts,
                                                 metric_value)
from balancelab.sweep.statistics.multiple import holm, holm_levels
from balancelab.sweep.statistics.predictions import (GROUP_COLUMNS, TestGroups, align_predictions, groups_in_order,
                                                     minority_class_index, read_predictions, read_test_groups)
from balancelab.sweep.statistics.ranks import (RankComparison, critical_difference, nemenyi_groups, nemenyi_q,
                                               rank_comparison)
from balancelab.sweep.statistics.seeds import FINISHED, MIN_PAIRS_WILCOXON, finished_values
from balancelab.sweep.statistics.two_level import (ONE_MODEL_SCOPE, SeedVariancePrior, TwoLevelTest, equivalence_p,
                                                   estimate_prior, generalized_half_width, generalized_p,
                                                   two_level_test)
