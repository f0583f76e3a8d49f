#!/usr/bin/env python
"""Compare a finished LDAM-DRW recipe sweep with the paper's published top-1 errors.

    python scripts/compare_ldam_drw.py outputs/sweeps/<sweep folder>          # or .../comparison.csv
    python scripts/compare_ldam_drw.py SWEEP --map my_ce_run=ce --tolerance 1.0

The README's sweep (experiments=[baseline,focal_loss,ldam,cb_focal,ldam_drw]) is matched as it is:
`baseline` is plain cross-entropy (CE) and `focal_loss` is focal loss; the other experiments carry the
method's own name. Only the sweep's trained experiments are matched, never its post-hoc/cRT rows.

Published numbers: Cao et al., "Learning Imbalanced Datasets with Label-Distribution-Aware Margin
Loss", NeurIPS 2019, Table 2: CIFAR-10-LT, exponential imbalance ratio 100, ResNet-32, top-1 error (%).
The sweep's top-1 error is 1 - test accuracy, mean (and std) over its seeds.

Two differences to keep in mind when reading the gap: the reference code evaluates on the CIFAR-10
test set after every epoch and reports the best of those (the epoch is chosen on test), while
balancelab chooses the epoch on a validation split and scores the test set once, so its errors are
expected to be slightly higher; and the published numbers are single runs.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import pandas as pd

PUBLISHED_TOP1_ERROR = {  # percent
    "ce": 29.64,
    "focal": 29.62,
    "ldam": 26.65,
    "cb_focal": 25.43,
    "ldam_drw": 22.97,
}
LABELS = {"ce": "CE (ERM)", "focal": "Focal", "ldam": "LDAM", "cb_focal": "Class-balanced focal",
          "ldam_drw": "LDAM-DRW"}
# The project's experiment names (configs/experiment) of the published methods whose names differ.
EXPERIMENT_METHODS = {"baseline": "ce", "focal_loss": "focal"}


def method_of(experiment: str, overrides: dict) -> str | None:
    """The published method an experiment reproduces: an explicit --map, else its last name component
    (``baseline`` is CE, ``focal_loss`` is focal)."""
    if experiment in overrides:
        return overrides[experiment]
    last = re.split(r"[/:]", str(experiment))[-1].lower().replace("-", "_")
    for prefix in ("ldam_drw_cifar10_lt_", "recipe_", "recipes_"):
        last = last[len(prefix):] if last.startswith(prefix) else last
    last = EXPERIMENT_METHODS.get(last, last)
    return last if last in PUBLISHED_TOP1_ERROR else None


def _missing(value) -> bool:
    """None or NaN (pandas turns None into NaN in a frame)."""
    return value is None or (isinstance(value, float) and value != value) or bool(pd.isna(value))


def comparison(table: pd.DataFrame, overrides: dict | None = None, tolerance: float = 1.5) -> pd.DataFrame:
    """One row per published method: published error, the sweep's error (mean, std, seeds), the gap."""
    overrides = overrides or {}
    for column in ("experiment", "accuracy_mean"):
        if column not in table:
            raise SystemExit(f"comparison.csv has no '{column}' column: is it a balance-sweep comparison?")
    rows = []
    # Trained experiments only: "ldam + posthoc_la" is a correction of ldam, not a method of the paper.
    trained = table[table["row_kind"] == "trained"] if "row_kind" in table else table
    matched = {}
    for r in trained.to_dict("records"):
        method = method_of(r["experiment"], overrides)
        if method is not None and method in matched:
            raise SystemExit(f"Both {matched[method]['experiment']!r} and {r['experiment']!r} match the published "
                             f"method {method!r}; name one with --map EXPERIMENT={method}.")
        if method is not None:
            matched[method] = r
    for method, published in PUBLISHED_TOP1_ERROR.items():
        r = matched.get(method)
        ours = None if r is None or _missing(r["accuracy_mean"]) else 100.0 * (1.0 - float(r["accuracy_mean"]))
        std = None if r is None or _missing(r.get("accuracy_std")) or ours is None else 100.0 * float(r["accuracy_std"])
        gap = None if ours is None else ours - published
        rows.append({"method": LABELS[method], "experiment": None if r is None else r["experiment"],
                     "seeds": None if r is None else r.get("n_seeds"), "published_error": published,
                     "our_error": ours, "our_error_std": std, "gap": gap,
                     "verdict": "missing" if gap is None else "reproduced" if abs(gap) <= tolerance
                     else "higher" if gap > 0 else "lower"})
    return pd.DataFrame(rows)


# The recipe's protocol as the jobs' config.yaml records it: (dotted key, value).
PROTOCOL = (("dataset.name", "cifar10"), ("dataset.imbalance_ratio", 100), ("dataset.imbalance_profile", "exponential"),
            ("model.name", "resnet32"), ("trainer.epochs", 200), ("trainer.batch_size", 128),
            ("optimizer.name", "sgd"), ("optimizer.lr", 0.1), ("scheduler.name", "multistep"))


def protocol_mismatches(sweep_dir: Path) -> list:
    """How the sweep's jobs differ from the LDAM-DRW protocol (empty: it is the protocol), read from their
    config.yaml; a mismatch in any job is listed."""
    import yaml

    found = []
    for config in sorted(sweep_dir.glob("*/config.yaml")):
        cfg = yaml.safe_load(config.read_text())
        for key, wanted in PROTOCOL:
            node = cfg
            for part in key.split("."):
                node = node.get(part) if isinstance(node, dict) else None
            if node != wanted and (key, node) not in [(k, v) for k, v, _ in found]:
                found.append((key, node, config.parent.name))
    return found


def render(frame: pd.DataFrame, tolerance: float) -> str:
    def pct(v):
        return "—" if _missing(v) else f"{v:.2f}"

    lines = [f"CIFAR-10-LT (ratio 100), ResNet-32: top-1 error in %, published vs this sweep "
             f"(reproduced = within {tolerance:.2f} points)", "",
             f"{'method':<22}{'published':>10}{'ours':>9}{'± std':>8}{'seeds':>7}{'gap':>8}  verdict    experiment"]
    for r in frame.to_dict("records"):
        seeds = "—" if _missing(r["seeds"]) else str(int(r["seeds"]))
        gap = "—" if _missing(r["gap"]) else f"{r['gap']:+.2f}"
        experiment = "" if _missing(r["experiment"]) else str(r["experiment"])
        lines.append(f"{r['method']:<22}{r['published_error']:>10.2f}{pct(r['our_error']):>9}"
                     f"{pct(r['our_error_std']):>8}{seeds:>7}{gap:>8}  {r['verdict']:<11}{experiment}")
    found = frame.dropna(subset=["our_error"])
    if len(found) >= 2:
        published_order = list(found.sort_values("published_error")["method"])
        our_order = list(found.sort_values("our_error")["method"])
        lines += ["", "ranking (best first), published: " + " < ".join(published_order),
                  "ranking (best first), this sweep: " + " < ".join(our_order)]
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("sweep", help="the sweep folder, or its comparison.csv")
    parser.add_argument("--map", action="append", default=[], metavar="EXPERIMENT=METHOD",
                        help=f"name the published method of an experiment; methods: {', '.join(PUBLISHED_TOP1_ERROR)}")
    parser.add_argument("--tolerance", type=float, default=1.5, help="points of top-1 error counted as reproduced")
    parser.add_argument("--any-protocol", action="store_true",
                        help="exit 0 even when the jobs are not the recipe's protocol (the warnings stay)")
    args = parser.parse_args(argv)
    path = Path(args.sweep)
    path = path / "comparison.csv" if path.is_dir() else path
    if not path.is_file():
        print(f"{path} does not exist: give a finished sweep's folder or its comparison.csv.", file=sys.stderr)
        return 2
    overrides = {}
    for item in args.map:
        experiment, _, method = item.partition("=")
        if method not in PUBLISHED_TOP1_ERROR:
            print(f"--map {item}: the method must be one of {', '.join(PUBLISHED_TOP1_ERROR)}.", file=sys.stderr)
            return 2
        overrides[experiment] = method
    mismatches = protocol_mismatches(path.parent)
    if not list(path.parent.glob("*/config.yaml")):
        print(f"warning: {path.parent} holds no job folders, so its protocol cannot be checked.", file=sys.stderr)
    for key, found, job in mismatches:
        print(f"warning: {key} is {found!r} in {job}, not the LDAM-DRW protocol's", file=sys.stderr)
    frame = comparison(pd.read_csv(path), overrides, args.tolerance)
    text = render(frame, args.tolerance)
    if mismatches:
        text = ("THIS SWEEP IS NOT THE LDAM-DRW PROTOCOL (see the warnings): the published numbers do not apply to "
                "it.\n\n" + text)
    print(text)
    return 3 if mismatches and not args.any_protocol else 0


if __name__ == "__main__":
    sys.exit(main())
