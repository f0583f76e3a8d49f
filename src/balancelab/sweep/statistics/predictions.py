"""The jobs' test predictions (predictions.csv, and predictions_<derived>.csv of a derived row), matched image
by image across experiments and seeds, and the minority class the runs name. Every paired statistic needs one
test split: these functions refuse tables that do not share it."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Hashable, List, Mapping, Optional, Sequence, Tuple

import numpy as np
import pandas as pd

from balancelab.errors import DataError
from balancelab.sweep.jobs import job_file
from balancelab.output.contract import FINISHED, SPLIT_MANIFEST_FILE, SUMMARY_FILE
from balancelab.output.run_folder import read_summary

Predictions = Dict[str, Dict[Hashable, np.ndarray]]  # experiment -> seed -> predicted class index per test sample


def align_predictions(frames: Mapping[Tuple[str, Hashable], pd.DataFrame]) -> Tuple[np.ndarray, Predictions]:
    """Match predictions.csv tables by ``source_id``: (y_true, {experiment: {seed: pred_index}}).

    Rows are put in sorted source_id order. Every table must hold the same test samples, each
    once, with the same ``true_index``: otherwise the experiments were not scored on the same
    test split and a paired comparison would be meaningless.
    """
    if not frames:
        raise DataError("No predictions to align: pass {(experiment, seed): predictions.csv table}.")
    reference_key, reference = None, None
    y_true, out = None, {}
    for key, frame in frames.items():
        missing = {"source_id", "true_index", "pred_index"} - set(frame.columns)
        if missing:
            raise DataError(f"predictions of {key} lack the columns {sorted(missing)}; a predictions.csv written by "
                            "balance-run has source_id, true_index, pred_index, ...")
        ids = frame["source_id"].astype(str)
        if ids.duplicated().any():
            raise DataError(f"predictions of {key} list source_id {ids[ids.duplicated()].iloc[0]!r} more than once; "
                            "each test sample must appear once. Re-run that job.")
        table = frame.assign(source_id=ids).set_index("source_id").sort_index()
        if reference is None:
            reference_key, reference = key, table
            y_true = table["true_index"].to_numpy(int)
        else:
            if not table.index.equals(reference.index):
                extra = table.index.difference(reference.index)
                lacking = reference.index.difference(table.index)
                raise DataError(
                    f"predictions of {key} and {reference_key} cover different test samples ({len(extra)} only in "
                    f"the first, e.g. {list(extra[:3])}; {len(lacking)} only in the second, e.g. {list(lacking[:3])}). "
                    "Paired comparisons need one test split: run both with the same dataset and split_seed.")
            differs = table["true_index"].to_numpy(int) != y_true
            if differs.any():
                raise DataError(f"predictions of {key} and {reference_key} disagree on the true class of "
                                f"{int(differs.sum())} test samples (e.g. {table.index[differs][0]!r}); the class "
                                "mapping or the data changed between the runs. Re-run them on the same data.")
        experiment, seed = key
        out.setdefault(experiment, {})[seed] = table["pred_index"].to_numpy(int)
    return y_true, out


def read_predictions(sweep_dir: str | Path, jobs: pd.DataFrame) -> Dict[Tuple[str, Hashable], pd.DataFrame]:
    """{(experiment, seed): predictions} for the finished rows that wrote them: predictions.csv of a job,
    predictions_<derived>.csv of a derived row (job ``<folder>#<label>``)."""

    frames = {}
    for _, job in jobs[jobs["status"].isin(FINISHED)].iterrows():
        path = job_file(sweep_dir, job["job"], "predictions")
        if path.exists():
            frames[(job["experiment"], job["seed"])] = pd.read_csv(path)
    return frames


def minority_class_index(sweep_dir: str | Path, jobs: pd.DataFrame,
                         frames: Mapping[Tuple[str, Hashable], pd.DataFrame]) -> Optional[int]:
    """The runs' minority class (experiment_summary.json: test.minority_class) as a class index.

    The runs pick it from the training counts before balancing, so every job of one dataset names
    the same class; its index comes from the predictions' true_class -> true_index pairs. None when
    no summary names one.
    """
    names = set()
    for _, job in jobs[jobs["status"].isin(FINISHED)].iterrows():
        if (Path(sweep_dir) / job["job"] / SUMMARY_FILE).exists():
            name = (read_summary(Path(sweep_dir) / job["job"], require_status=False).get("test") or {}).get("minority_class")
            if name is not None:
                names.add(str(name))
    if not names:
        return None
    if len(names) > 1:
        raise DataError(f"The jobs name different minority classes ({', '.join(sorted(names))}); they were not run "
                        "on one dataset and split. Compare jobs of one dataset only.")
    (name,) = names
    for frame in frames.values():
        if "true_class" in frame:
            match = frame.loc[frame["true_class"].astype(str) == name, "true_index"].unique()
            if len(match):
                return int(match[0])
    raise DataError(f"The minority class {name!r} named by the runs' summaries has no sample in the predictions' "
                    "true_class column; the predictions do not belong to these jobs.")


# The columns of a job's split_manifest.csv that name the unit its split kept whole: ``split_group`` (a split made
# with dataset.group: the rule's group, or groups merged for identical files), else ``group`` (a split the user
# gave, manifest or train/ val/ test/ folders, with a rule: each file's group by the rule).
GROUP_COLUMNS = ("split_group", "group")


@dataclass
class TestGroups:
    """The test set's groups as the jobs recorded them: {source_id: group}, and what the reader is told."""

    of: Dict[str, str]
    column: str
    notes: List[str] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(set(self.of.values()))


def _job_test_groups(path: Path) -> Optional[Tuple[str, Dict[str, str]]]:
    try:
        # as text, no NA guessing: a group named 007 or NA is a name (as the loader reads manifests)
        manifest = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (OSError, ValueError, pd.errors.EmptyDataError, pd.errors.ParserError) as exc:
        raise DataError(f"{path} cannot be read ({exc}); the test set's groups are unknown. Re-run that job.") from None
    column = next((c for c in GROUP_COLUMNS if c in manifest.columns), None)
    if column is None or not {"source_id", "split"} <= set(manifest.columns):
        return None
    test = manifest[manifest["split"] == "test"]
    return column, dict(zip(test["source_id"], test[column]))


def _coarsest_common(groupings: Sequence[Mapping[str, str]]) -> Dict[str, str]:
    """The finest grouping every given one refines: images in one group of any grouping share a group (union-find
    over the groupings' groups); each group is named after one of its member groups."""
    parent: Dict[Tuple[int, str], Tuple[int, str]] = {}

    def find(x):
        while parent.setdefault(x, x) != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    ids = sorted(set().union(*groupings))
    for sid in ids:
        nodes = [(j, g[sid]) for j, g in enumerate(groupings) if sid in g]
        for other in nodes[1:]:
            a, b = find(nodes[0]), find(other)
            if a != b:
                parent[max(a, b)] = min(a, b)
    def name(root):
        return f"{root[0]}/{root[1]}"

    return {sid: name(find(next((j, g[sid]) for j, g in enumerate(groupings) if sid in g))) for sid in ids}


def read_test_groups(sweep_dir: str | Path, jobs: pd.DataFrame) -> Optional[TestGroups]:
    """The test set's groups from the finished jobs' split_manifest.csv (``GROUP_COLUMNS``), None when no job
    records groups (a split without dataset.group: the bootstrap resamples images, as always).

    The jobs of a comparison share one test set, so they must agree on its groups. When they do not (jobs run
    with different dataset.group rules, or some without one), the bootstrap resamples the coarsest grouping
    consistent with every job that records groups, and a note says so: merging groups keeps a cluster bootstrap
    valid (it only allows more dependence), whereas falling back to images would ignore the dependence some job
    declared, and refusing would leave the sweep without its decisive test."""
    folders = dict.fromkeys(str(j).partition("#")[0] for j in jobs.loc[jobs["status"].isin(FINISHED), "job"])
    found, columns, without = {}, set(), []
    for folder in folders:
        path = Path(sweep_dir) / folder / SPLIT_MANIFEST_FILE
        recorded = _job_test_groups(path) if path.exists() else None
        if recorded is None:
            without.append(folder)
            continue
        column, groups = recorded
        columns.add(column)
        found[folder] = groups
    if not found:
        return None
    notes = []
    distinct = []
    for groups in found.values():
        if groups not in distinct:
            distinct.append(groups)
    if len(distinct) == 1:
        of = distinct[0]
    else:
        of = _coarsest_common(distinct)
        notes.append(f"the jobs record {len(distinct)} different groupings of the test set (split_manifest.csv); "
                     f"the bootstrap resamples the coarsest grouping consistent with all of them ({len(set(of.values()))}"
                     " groups): check that every job of the sweep was run with the same dataset.group")
    if without:
        notes.append(f"{len(without)} of {len(folders)} jobs record no test groups (e.g. {without[0]}); the groups "
                     "of the others are used")
    column = " / ".join(c for c in GROUP_COLUMNS if c in columns)
    return TestGroups(of, column, notes)


def groups_in_order(frames: Mapping[Tuple[str, Hashable], pd.DataFrame], groups: Mapping[str, str]) -> np.ndarray:
    """Each test sample's group in :func:`align_predictions`'s order (sorted source_id). DataError when a test
    sample has no group: the predictions and the manifests do not describe one test set."""
    ids = next(iter(frames.values()))["source_id"].astype(str).sort_values().tolist()
    missing = [i for i in ids if i not in groups]
    if missing:
        raise DataError(f"{len(missing)} test samples of the predictions have no group in the jobs' "
                        f"split_manifest.csv (e.g. {missing[0]!r}); the predictions and the manifests do not "
                        "describe one test set. Re-run those jobs.")
    return np.array([groups[i] for i in ids], dtype=object)
