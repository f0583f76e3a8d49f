"""Several sweeps of the same experiments (other datasets or models): average ranks, the Friedman test and
the critical-difference diagram, or with two experiments the Wilcoxon signed-rank test (Demšar, JMLR 7, 2006),
from the sweeps' comparison tables.

Each *test set* is one block: a sweep's trained experiments are ranked by their mean test score over seeds
(rank 1 = best). Sweeps scored on one test set (``balance-sweep model=[a,b]`` on one dataset, or the same
dataset twice) are not independent datasets: their ranks are averaged into one block, and ranks.md says so.
Seeds are never blocks either (they share one test set). The rows derived from the experiments (post-hoc
corrections, cRT) are not ranked: they are not experiments of the grid, and ranking them would make k count one
experiment several times. Only experiments with a score in every sweep are ranked: the Friedman test needs
complete blocks, and dropping a whole dataset for one missing experiment would silently change what is
compared; those left out are named.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Dict, List, Sequence

import numpy as np
import pandas as pd
import yaml

from balancelab.errors import DataError
from balancelab.output import atomic
from balancelab.output.contract import (CONFIG_FILE, CRITICAL_DIFFERENCE_PLOT, FINISHED, PREDICTIONS_FILE,
                                        RANKS_CSV, RANKS_MD)
from balancelab.sweep.jobs import jobs_table, trained_jobs


def block_label(sweep_dir: Path, table: pd.DataFrame, jobs: pd.DataFrame) -> str:
    """A sweep's name in the rank table: its dataset and model, then its folder (which is unique)."""
    datasets = "+".join(sorted({str(d) for d in jobs["dataset"].dropna()}))
    models = "+".join(sorted({str(m) for m in jobs["model"].dropna()}))
    return f"{datasets}/{models} ({Path(sweep_dir).name})"


def test_set_of(sweep_dir: Path, jobs: pd.DataFrame) -> str:
    """A fingerprint of the test set a sweep was scored on: the test images and their classes from a finished
    job's predictions.csv, else the dataset settings of its config.yaml (which fix the split)."""
    finished = jobs[jobs["status"].isin(FINISHED)] if "status" in jobs else jobs
    for job in finished["job"]:
        path = Path(sweep_dir) / str(job) / PREDICTIONS_FILE
        if path.is_file():
            frame = pd.read_csv(path, usecols=["source_id", "true_index"]).astype(str).sort_values("source_id")
            text = "\n".join(frame["source_id"] + "," + frame["true_index"])
            return "images:" + hashlib.sha256(text.encode()).hexdigest()[:16]
    for job in jobs["job"]:
        path = Path(sweep_dir) / str(job) / CONFIG_FILE
        if path.is_file():
            dataset = (yaml.safe_load(path.read_text()) or {}).get("dataset", {})
            dataset = {k: v for k, v in dataset.items() if k not in ("online_augmentation",)}
            return "dataset:" + hashlib.sha256(json.dumps(dataset, sort_keys=True, default=str).encode()).hexdigest()[:16]
    return f"sweep:{Path(sweep_dir).resolve()}"


def score_table(sweep_dirs: Sequence[Path], metric: str = "macro_f1", test_sets: Dict[str, str] = None) -> pd.DataFrame:
    """Rows = sweeps, columns = trained experiments, values = mean test ``metric`` over finished seeds;
    ``test_sets`` (when given) is filled with each row's test-set fingerprint."""
    from balancelab.sweep.aggregate import comparison_table

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
        if test_sets is not None:
            test_sets[label] = test_set_of(sweep_dir, jobs)
    return pd.DataFrame(rows).T


def one_block_per_test_set(scores: pd.DataFrame, test_sets: Dict[str, str]) -> tuple[pd.DataFrame, List[str]]:
    """(blocks, notes): sweeps that share a test set become one block, scored by minus their average rank (so
    the block ranks the experiments by it); the others keep their scores."""
    blocks, notes = {}, []
    for fingerprint in dict.fromkeys(test_sets[label] for label in scores.index):
        members = [label for label in scores.index if test_sets[label] == fingerprint]
        if len(members) == 1:
            blocks[members[0]] = scores.loc[members[0]]
            continue
        ranks = scores.loc[members].rank(axis=1, ascending=False, method="average")
        label = " + ".join(members)
        blocks[label] = -ranks.mean(axis=0)
        notes.append(f"{len(members)} sweeps share one test set and are ranked as one dataset (their ranks averaged): "
                     f"{', '.join(members)}")
    return pd.DataFrame(blocks).T, notes


def _k2_decisive_p(result) -> float:
    """Wilcoxon's p when the scores share one scale, else the sign test's (rank_comparison left Wilcoxon out)."""
    return result.wilcoxon_p if np.isfinite(result.wilcoxon_p) else result.sign_p


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
    test_sets: Dict[str, str] = {}
    scores = score_table(sweep_dirs, metric, test_sets)
    complete = [c for c in scores.columns if scores[c].notna().all()]
    left_out = [c for c in scores.columns if c not in complete]
    if len(complete) < 2:
        raise DataError(f"Fewer than 2 experiments have a finished score in every sweep (have {complete}; "
                        f"missing somewhere: {left_out}). Run the same experiments in every sweep.")
    blocks, shared = one_block_per_test_set(scores[complete], test_sets)
    result = rank_comparison(blocks, alpha, commensurable=not shared)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    ranks = result.ranks.reset_index()
    atomic.write_csv(out_dir / RANKS_CSV, ranks)
    notes: List[str] = [f"experiments left out (no finished score in every sweep): {', '.join(left_out)}"] if left_out else []
    notes += shared
    if result.note:
        notes.append(result.note)
    lines = [f"# Ranks across {result.n_datasets} test sets, {len(scores)} sweeps ({metric}, mean over seeds; "
             "rank 1 = best)", "", "| experiment | average rank | " + " | ".join(blocks.index) + " |",
             "|---|---|" + "---|" * len(blocks.index)]
    for _, r in ranks.iterrows():
        lines.append(f"| {r['experiment']} | {r['average_rank']:.2f} | "
                     + " | ".join(f"{r[f'rank_{b}']:.1f}" if f"rank_{b}" in r else "—" for b in blocks.index) + " |")
    lines.append("")
    if result.n_experiments == 2:
        first, second = list(result.ranks.index[:2])
        lines += [f"Two experiments: {first} scores higher on {result.wins}, lower on {result.losses} and the same on "
                  f"{result.ties} of {result.n_datasets} test sets. Wilcoxon signed-rank p = "
                  + ("—" if pd.isna(result.wilcoxon_p) else f"{result.wilcoxon_p:.4g}") + ", sign test p = "
                  + ("—" if pd.isna(result.sign_p) else f"{result.sign_p:.4g}") + " (Demšar §3.1; no Nemenyi test with "
                  f"k = 2): {first} vs {second} is "
                  + ("significant" if _k2_decisive_p(result) < alpha else "not significant")
                  + f" at α = {alpha} ({'Wilcoxon' if np.isfinite(result.wilcoxon_p) else 'sign test'})."]
    else:
        lines.append(_test_line("Friedman", "χ²", result.friedman_statistic, result.friedman_p) + "; "
                     + _test_line("Iman-Davenport", "F", result.iman_davenport_statistic, result.iman_davenport_p) + ".")
        if result.post_hoc:
            lines += [f"The omnibus test rejects (p = {result.omnibus_p:.4g} < {alpha}), so the Nemenyi post-hoc test is "
                      f"made: CD = {result.critical_difference:.3f} (q = {result.q_alpha:.3f}, k = "
                      f"{result.n_experiments}, N = {result.n_datasets}).",
                      "Groups not significantly different (average ranks closer than CD): "
                      + ("; ".join(", ".join(g) for g in result.groups) or "none") + "."]
        else:
            lines.append(f"No post-hoc test: the omnibus test does not reject at α = {alpha}, so no two experiments "
                         "are shown as different (no critical difference, no groups).")
    lines += [f"> {n}" for n in notes]
    atomic.write_text(out_dir / RANKS_MD, "\n".join(lines) + "\n")
    figure = critical_difference_figure(result.average_ranks, result.critical_difference, result.groups,
                                        title=f"{metric}: average rank over {result.n_datasets} test sets")
    atomic.save_figure(out_dir / CRITICAL_DIFFERENCE_PLOT, figure)
    return {"out_dir": str(out_dir), "sweeps": list(scores.index), "blocks": list(blocks.index),
            "experiments": complete, "left_out": left_out, "friedman_p": result.friedman_p,
            "omnibus_p": result.omnibus_p, "post_hoc": result.post_hoc,
            "critical_difference": result.critical_difference, "groups": result.groups,
            "wilcoxon_p": result.wilcoxon_p, "sign_p": result.sign_p, "notes": notes}
