"""A seed with no result (killed without failure.json, still running, never launched) keeps a comparison from
being "better" on its survivors, as a failed seed does (issue 19, point 5)."""

import numpy as np
import pandas as pd

from balancelab.sweep.statistics.comparisons import BETTER, compare_to_baseline


def _jobs(x_status, x_rows=5):
    rows = []
    for s in range(5):
        rows.append(dict(job=f"b{s}", experiment="baseline", seed=s, status="completed", macro_f1=0.80 + 0.002 * s))
        rows.append(dict(job=f"y{s}", experiment="y", seed=s, status="completed", macro_f1=0.80 + 0.003 * s))
        if s < x_rows:
            status = x_status(s)
            done = status == "completed"
            rows.append(dict(job=f"x{s}", experiment="x", seed=s, status=status,
                             macro_f1=0.85 + 0.004 * (s % 2) if done else np.nan))
    return pd.DataFrame(rows)


def _row(table, experiment):
    return table[(table["experiment"] == experiment) & (table["metric"] == "macro_f1")].iloc[0]


def test_a_method_whose_other_seeds_were_killed_is_not_better_on_its_survivors():
    table = compare_to_baseline(_jobs(lambda s: "completed" if s < 3 else "incomplete"), metrics=["macro_f1"])
    row = _row(table, "x")
    assert row["verdict"] != BETTER and "2 of 5 seeds" in row["verdict"], row["verdict"]


def test_a_seed_that_never_ran_counts_too():
    table = compare_to_baseline(_jobs(lambda s: "completed", x_rows=3), metrics=["macro_f1"])
    row = _row(table, "x")
    assert row["verdict"] != BETTER and "2 of 5 seeds" in row["verdict"], row["verdict"]


def test_with_every_seed_finished_the_gain_is_called_better():
    table = compare_to_baseline(_jobs(lambda s: "completed"), metrics=["macro_f1"])
    assert _row(table, "x")["verdict"] == BETTER
