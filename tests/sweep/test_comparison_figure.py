"""comparison.png shows confidence intervals (not std bars) and marks rows a reader must not over-trust."""

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from scipy import stats

from balancelab.sweep.plots import comparison_bars, difference_dotplot, difference_intervals, row_mark
from balancelab.sweep.aggregate import mean_interval


def table():
    rows = [
        {"experiment": "baseline", "status": "ok", "n_seeds": 3, "macro_f1_mean": 0.7, "macro_f1_verdict": "reference"},
        {"experiment": "three", "status": "ok", "n_seeds": 3, "macro_f1_mean": 0.8, "macro_f1_n_pairs": 3,
         "macro_f1_paired_diff": 0.1, "macro_f1_diff_ci_low": 0.06, "macro_f1_diff_ci_high": 0.14,
         "macro_f1_test": "two-level", "macro_f1_diff_ci_corrected_low": 0.05, "macro_f1_diff_ci_corrected_high": 0.15,
         "macro_f1_boot_ci_low": 0.0, "macro_f1_boot_ci_high": 0.2, "macro_f1_verdict": "better"},
        {"experiment": "one", "status": "partial", "n_seeds": 1, "macro_f1_mean": 0.6, "macro_f1_n_pairs": 1,
         "macro_f1_paired_diff": -0.1, "macro_f1_boot_ci_low": -0.19, "macro_f1_boot_ci_high": 0.0,
         "macro_f1_test": "two-level", "macro_f1_diff_ci_corrected_low": -0.2, "macro_f1_diff_ci_corrected_high": 0.01,
         "macro_f1_verdict": "no detectable difference"},
        {"experiment": "gone", "status": "failed", "n_seeds": 0, "macro_f1_mean": np.nan, "macro_f1_n_pairs": 0,
         "macro_f1_verdict": "not available"},
    ]
    return pd.DataFrame(rows)


def test_mean_interval_is_the_t_interval_and_undefined_for_one_seed():
    values = np.array([0.7, 0.75, 0.9])
    low, high = mean_interval(values)
    expected = stats.t.interval(0.95, 2, loc=values.mean(), scale=stats.sem(values))
    assert np.allclose([low, high], expected)
    assert all(np.isnan(mean_interval(np.array([0.7]))))


def test_difference_intervals_are_the_corrected_ones_of_the_decisive_test():
    intervals = difference_intervals(table(), "macro_f1").set_index("experiment")
    assert tuple(intervals.loc["three", ["low", "high", "source"]]) == (0.05, 0.15, "two-level")
    assert tuple(intervals.loc["one", ["low", "high", "source"]]) == (-0.2, 0.01, "two-level")
    assert intervals.loc["gone", "source"] == "none"


def test_rows_are_marked_failed_partial_and_single_seed():
    marks = {r["experiment"]: row_mark(r) for _, r in table().iterrows()}
    assert marks == {"baseline": "", "three": "", "one": " [partial, n=1]", "gone": " [failed]"}


def test_the_figure_draws_the_intervals_and_labels_the_marks():
    frame = table().assign(macro_f1_mean_ci_low=[0.6, 0.7, np.nan, np.nan], macro_f1_mean_ci_high=[0.8, 0.9, np.nan, np.nan])
    fig = comparison_bars(frame)
    delta_axis = fig.axes[1]
    lines = [line for line in delta_axis.get_lines() if line.get_gid() == "ci_two-level"]
    assert [list(line.get_xdata()) for line in lines] == [[0.05, 0.15], [-0.2, 0.01]]
    # the scores' axis is zoomed to them (from 0, 0.79 and 0.94 look alike)
    assert fig.axes[0].get_xlim()[0] > 0.5
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert labels == ["baseline", "three", "one [partial, n=1]", "gone [failed]"]
    plt.close(fig)


def test_the_dot_plot_sorts_the_differences_by_effect_on_a_zoomed_axis():
    frame = table()
    frame.loc[len(frame)] = {"experiment": "two", "status": "ok", "n_seeds": 3, "macro_f1_mean": 0.75,
                             "macro_f1_paired_diff": 0.05, "macro_f1_test": "two-level",
                             "macro_f1_diff_ci_corrected_low": 0.01, "macro_f1_diff_ci_corrected_high": 0.09,
                             "macro_f1_verdict": "better"}
    fig = difference_dotplot(frame)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["three", "two", "one"]  # baseline and untested left out
    low, high = ax.get_xlim()
    assert -0.25 < low < -0.2 and 0.15 < high < 0.2  # zoomed to the intervals, 0 inside
    plt.close(fig)
