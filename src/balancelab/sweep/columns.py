"""The columns and row kinds of a sweep's comparison table, shared by reading, aggregation, rendering and
writing."""

from __future__ import annotations

import logging
from enum import Enum

import pandas as pd

from balancelab.output.contract import HEADLINE_METRICS

# The comparison's metric columns, by name: the run's headline test metrics, then the sweep's own.
# The per-job numbers the comparison table aggregates (mean ± sd over seeds); the statistics test fewer
# (sweep/statistics/metrics.py TESTED_METRICS).
TABLE_METRICS = [*HEADLINE_METRICS, "training_seconds", "val_test_gap"]
# A derived row (post-hoc correction, cRT) records no calibration of its own: its headline metrics but ECE.
DERIVED_METRICS = tuple(m for m in HEADLINE_METRICS if m != "ece")
# The paired bootstrap's seed: fixed, so that rebuilding a report gives the same intervals (balance-report
# --bootstrap-seed changes it, to see that the verdicts do not depend on it).
BOOTSTRAP_SEED = 0


class RowStatus(str, Enum):
    """How a comparison row's jobs ended, all seeds together (a job's own ending is output.contract.Status)."""

    OK = "ok"            # every seed finished
    FAILED = "failed"    # no seed finished, some failed
    PARTIAL = "partial"  # some seeds finished, others failed, are missing or unfinished

    def __str__(self) -> str:
        return self.value


REFERENCE = "reference"  # the verdict column of the baseline row itself
TRAINED, DERIVED = "trained", "derived"  # row_kind
BEFORE_CRT_VERDICT = "not tested (the model before cRT; its result is the + cRT row)"
# Long-format statistics columns -> the comparison table's per-metric columns ({metric}_{suffix}): the
# comparison with baseline (trained and derived rows alike).
STAT_COLUMNS = {"family": "family", "n_comparisons": "family_size", "n_pairs": "n_pairs",
                "mean_difference": "paired_diff", "ci_low": "diff_ci_low", "ci_high": "diff_ci_high",
                "p_ttest": "p_ttest", "p_wilcoxon": "p_wilcoxon", "p_wilcoxon_holm": "p_wilcoxon_holm",
                "boot_ci_low": "boot_ci_low", "boot_ci_high": "boot_ci_high", "boot_p": "boot_p", "test": "test",
                "seed_share": "seed_share", "seed_variance_source": "seed_variance_source",
                "ci95_low": "diff_ci95_low", "ci95_high": "diff_ci95_high", "p_value": "p_value",
                "p_mc_error": "p_mc_error", "n_resamples": "n_resamples", "p_holm": "p_holm",
                "corrected_level": "ci_corrected_level", "ci_corrected_low": "diff_ci_corrected_low",
                "ci_corrected_high": "diff_ci_corrected_high", "verdict": "verdict", "scope": "scope",
                "note": "stat_note"}
# ... and a derived row's comparison with its own trained model: {metric}_vs_source_{suffix}.
SOURCE_COLUMNS = {"reference": "reference", "n_comparisons": "family_size", "n_pairs": "n_pairs",
                  "mean_difference": "paired_diff", "test": "test", "p_value": "p_value", "p_holm": "p_holm",
                  "scope": "scope",
                  "corrected_level": "ci_corrected_level", "ci_corrected_low": "diff_ci_corrected_low",
                  "ci_corrected_high": "diff_ci_corrected_high", "verdict": "verdict", "note": "stat_note"}

log = logging.getLogger("balancelab")


def row_mark(row) -> str:
    """What a reader must know before trusting a row: failed, partial (some seeds missing), the model before
    its cRT stage (the cRT result is a row of its own), one seed."""
    marks = []
    if row.get("status") == RowStatus.FAILED:
        marks.append("failed")
    elif row.get("status") == RowStatus.PARTIAL:
        marks.append("partial")
    before_crt = row.get("before_crt")
    if before_crt is not None and not pd.isna(before_crt) and bool(before_crt):
        marks.append("before cRT")
    if row.get("n_seeds", 0) == 1:
        marks.append("n=1")
    return f" [{', '.join(marks)}]" if marks else ""
