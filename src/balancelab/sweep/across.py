"""Several sweeps of the same experiments (other datasets or models): average ranks, Friedman test and
the critical-difference diagram (Demšar, JMLR 7, 2006), from the sweeps' comparison tables.

Each sweep is one block: its trained experiments are ranked by their mean test score over seeds (rank 1 =
best). The rows derived from them (post-hoc corrections, cRT) are not ranked: they are not experiments of
the grid, and ranking them would make k count one experiment several times. Seeds are never blocks (they
share one test set). Only experiments with a score in every sweep
are ranked: the Friedman test needs complete blocks, and dropping a whole dataset for one missing
experiment would silently change what is compared; those left out are named.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import List, Sequence

import pandas as pd

from balancelab.errors import DataError
from balancelab.output import atomic

RANK_FILES = ("ranks.csv", "ranks.md", "critical_difference.png")


def block_label(sweep_dir: Path, table: pd.DataFrame, jobs: pd.DataFrame) -> str:
    """A sweep's name in the rank table: its dataset and model, then its folder (which is unique)."""
    datasets = "+".join(sorted({str(d) for d in jobs["dataset"].dropna()}))
    models = "+".join(sorted({str(m) for m in jobs["model"].dropna()}))
    return f"{datasets}/{models} ({Path(sweep_dir).name})"


def score_table(sweep_dirs: Sequence[Path], metric: str = "macro_f1") -> pd.DataFrame:
    """Rows = sweeps, columns = trained experiments, values = mean test ``metric`` over finished seeds."""
    from balancelab.sweep.report import comparison_table, jobs_table, trained_jobs

    rows = {}
    for sweep_dir in sweep_dirs:
        jobs = jobs_table(sweep_dir)
        if jobs.empty:
            raise DataError(f"{sweep_dir} holds no job folders (with config.yaml); give sweep folders, e.g. "
                            "outputs/sweeps/<name>.")
        table = comparison_table(trained_jobs(jobs))
        column = f"{metric}_mean"
        if column not in table:
            raise DataError(f"Unknown metric {metric!r} for ranking; valid: macro_f1, balanced_accuracy, accuracy, "
                            "weighted_f1, minority_class_recall.")
        label = block_label(sweep_dir, table, jobs)
        rows[label] = table.set_index("experiment")[column]
    return pd.DataFrame(rows).T


def default_out_dir(sweep_dirs: Sequence[Path]) -> Path:
    """The folder the sweeps have in common (outputs/sweeps for sweeps made by balance-sweep)."""
    return Path(os.path.commonpath([str(Path(d).resolve()) for d in sweep_dirs]))


def _test_line(name: str, symbol: str, statistic: float, p: float) -> str:
    if pd.isna(statistic) or pd.isna(p):
        return f"{name} {symbol}: not computable (see the notes below)"
    return f"{name} {symbol} = {statistic:.3f}, p = {p:.4g}"


def write_ranks(sweep_dirs: Sequence[Path], out_dir: Path, metric: str = "macro_f1", alpha: float = 0.05) -> dict:
    """ranks.csv, ranks.md and critical_difference.png in ``out_dir``; returns what they say."""
    from balancelab.sweep.critical_difference import critical_difference_figure
    from balancelab.sweep.statistics import rank_comparison

    if len(sweep_dirs) < 2:
        raise DataError(f"Ranking across sweeps needs at least 2 sweep folders; received {len(sweep_dirs)}.")
    scores = score_table(sweep_dirs, metric)
    complete = [c for c in scores.columns if scores[c].notna().all()]
    left_out = [c for c in scores.columns if c not in complete]
    if len(complete) < 2:
        raise DataError(f"Fewer than 2 experiments have a finished score in every sweep (have {complete}; "
                        f"missing somewhere: {left_out}). Run the same experiments in every sweep.")
    result = rank_comparison(scores[complete], alpha)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    ranks = result.ranks.reset_index()
    atomic.write_csv(out_dir / "ranks.csv", ranks)
    notes: List[str] = [f"experiments left out (no finished score in every sweep): {', '.join(left_out)}"] if left_out else []
    if result.note:
        notes.append(result.note)
    lines = [f"# Ranks across {result.n_datasets} sweeps ({metric}, mean over seeds; rank 1 = best)", "",
             "| experiment | average rank | " + " | ".join(scores.index) + " |",
             "|---|---|" + "---|" * len(scores.index)]
    for _, r in ranks.iterrows():
        lines.append(f"| {r['experiment']} | {r['average_rank']:.2f} | "
                     + " | ".join(f"{r[f'rank_{b}']:.1f}" if f"rank_{b}" in r else "—" for b in scores.index) + " |")
    lines += ["", _test_line("Friedman", "χ²", result.friedman_statistic, result.friedman_p) + "; "
              + _test_line("Iman-Davenport", "F", result.iman_davenport_statistic, result.iman_davenport_p) + ".",
              f"Nemenyi critical difference (α = {alpha}): CD = {result.critical_difference:.3f} "
              f"(q = {result.q_alpha:.3f}, k = {result.n_experiments}, N = {result.n_datasets}).",
              "Groups not significantly different (average ranks closer than CD): "
              + ("; ".join(", ".join(g) for g in result.groups) or "none") + "."]
    lines += [f"> {n}" for n in notes]
    atomic.write_text(out_dir / "ranks.md", "\n".join(lines) + "\n")
    figure = critical_difference_figure(result.average_ranks, result.critical_difference, result.groups,
                                        title=f"{metric}: average rank over {result.n_datasets} sweeps")
    atomic.save_figure(out_dir / "critical_difference.png", figure)
    return {"out_dir": str(out_dir), "blocks": list(scores.index), "experiments": complete, "left_out": left_out,
            "friedman_p": result.friedman_p, "critical_difference": result.critical_difference,
            "groups": result.groups, "notes": notes}
