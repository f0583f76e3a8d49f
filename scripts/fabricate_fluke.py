#!/usr/bin/env python
"""Build the "same images every seed" fluke from a finished sweep, to check that balance-report does not call it
better (issue 19). The new sweep folder holds the source's baseline jobs and its focal_loss jobs, the latter
with predictions rewritten as baseline's own plus the same test images fixed and the same ones broken in every
seed (one seed fixes one more, so the seeds are not exactly tied), and their test metrics recomputed from
those predictions. Re-report it with ``balance-report DST``.

    python scripts/fabricate_fluke.py outputs/sweeps/<default grid> /tmp/fluke --fixed 22 --broken 18
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import accuracy_score, balanced_accuracy_score, f1_score, recall_score


def job_folders(sweep: Path, marker: str) -> list:
    return sorted(p for p in sweep.iterdir() if p.is_dir() and marker in p.name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("source", type=Path, help="a finished sweep with baseline and focal_loss jobs")
    parser.add_argument("destination", type=Path)
    parser.add_argument("--fixed", type=int, default=22)
    parser.add_argument("--broken", type=int, default=18)
    args = parser.parse_args()
    baseline, focal = job_folders(args.source, "_none_ce_"), job_folders(args.source, "_none_focal_")
    if not baseline or len(baseline) != len(focal):
        raise SystemExit(f"{args.source} needs baseline (*_none_ce_*) and focal_loss (*_none_focal_*) jobs, one per seed")
    if args.destination.exists():
        shutil.rmtree(args.destination)
    args.destination.mkdir(parents=True)
    for job in baseline + focal:  # derived rows are left out: the fluke is about the trained comparison
        shutil.copytree(job, args.destination / job.name,
                        ignore=shutil.ignore_patterns("*.pt", "predictions_*.csv", "test_metrics_*"))
        summary_path = args.destination / job.name / "experiment_summary.json"
        summary = json.loads(summary_path.read_text())
        summary.pop("posthoc", None)
        summary_path.write_text(json.dumps(summary, indent=2))

    tables = [pd.read_csv(job / "predictions.csv") for job in baseline]
    y = tables[0]["true_index"].to_numpy()
    wrong_everywhere = np.all([t["pred_index"].to_numpy() != y for t in tables], axis=0)
    right_everywhere = np.all([t["pred_index"].to_numpy() == y for t in tables], axis=0)
    rng = np.random.default_rng(0)
    fixed = rng.choice(np.flatnonzero(wrong_everywhere), args.fixed + 1, replace=False)
    broken = rng.choice(np.flatnonzero(right_everywhere), args.broken, replace=False)
    n_classes = int(y.max()) + 1
    for seed, (base_job, focal_job) in enumerate(zip(baseline, focal)):
        table = tables[seed].copy()
        pred = table["pred_index"].to_numpy().copy()
        fix_here = fixed if seed == 0 else fixed[:-1]
        pred[fix_here] = y[fix_here]
        pred[broken] = (y[broken] + 1) % n_classes
        table["pred_index"] = pred
        names = dict(zip(table["true_index"], table["true_class"].astype(str)))
        table["pred_class"] = [names[i] for i in pred]
        table.to_csv(args.destination / focal_job.name / "predictions.csv", index=False)
        summary_path = args.destination / focal_job.name / "experiment_summary.json"
        summary = json.loads(summary_path.read_text())
        test = summary["test"]
        test.update(accuracy=accuracy_score(y, pred), macro_f1=f1_score(y, pred, average="macro"),
                    balanced_accuracy=balanced_accuracy_score(y, pred), weighted_f1=f1_score(y, pred, average="weighted"))
        minority = {v: k for k, v in names.items()}.get(test.get("minority_class"))
        if minority is not None:
            test["minority_class_recall"] = recall_score(y == minority, pred == minority)
        summary_path.write_text(json.dumps(summary, indent=2))
    print(f"{args.destination}: focal_loss fixes the same {args.fixed} test images (one more in seed 0) and breaks "
          f"the same {args.broken} in each of {len(baseline)} seeds; run: balance-report {args.destination}")


if __name__ == "__main__":
    main()
