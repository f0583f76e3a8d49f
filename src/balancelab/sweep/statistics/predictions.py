"""The jobs' test predictions (predictions.csv, and predictions_<derived>.csv of a derived row), matched image
by image across experiments and seeds, and the minority class the runs name. Every paired statistic needs one
test split: these functions refuse tables that do not share it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Dict, Hashable, Mapping, Optional, Tuple

import numpy as np
import pandas as pd

from balancelab.errors import DataError
from balancelab.evaluation.derived import job_file
from balancelab.sweep.statistics.seeds import FINISHED

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
        path = Path(sweep_dir) / job["job"] / "experiment_summary.json"
        if path.exists():
            name = (json.loads(path.read_text()).get("test") or {}).get("minority_class")
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
