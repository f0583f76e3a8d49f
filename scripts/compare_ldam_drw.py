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

A row gets a verdict (reproduced / higher / lower) only when every job of its experiment, read from the
job folders' config.yaml, is the whole protocol (PROTOCOL: the recipe, key by key) *and* the paper's method
(METHODS: the reference code's definition, kaidic/LDAM-DRW cifar_train.py). Otherwise the row keeps its
numbers and says why it has no verdict: "not the protocol", "not the paper's method" (e.g. focal_loss's
gamma 2; balancelab's cb_focal, the softmax form), or "unchecked" (no job configs to read).

Three differences to keep in mind when reading the gap: the reference code evaluates on the CIFAR-10
test set after every epoch and reports the best of those (the epoch is chosen on test), while
balancelab chooses the epoch on a validation split and scores the test set once, so its errors are
expected to be slightly higher; that validation split (50 images per class) is drawn from the training
images the profile leaves unused, and the head class has none, so it trains on 4,950 of its 5,000 images
(the other nine classes on exactly the paper's images); and the published numbers are single runs.
"""

from __future__ import annotations

import argparse
import math
import re
import sys
from pathlib import Path
from typing import Dict, List, NamedTuple, Optional

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

# The recipe's protocol as the jobs' config.yaml records it, for every method (configs/recipe/
# ldam_drw_cifar10_lt.yaml; the reference: cifar_train.py and imbalance_cifar.py).
PROTOCOL = (
    ("dataset.source", "cifar10"), ("dataset.imbalance_ratio", 100), ("dataset.imbalance_profile", "exponential"),
    ("dataset.split_seed", 0),  # rand_number=0: with it the subset is IMBALANCECIFAR10's
    ("dataset.normalization_mean", [0.4914, 0.4822, 0.4465]), ("dataset.normalization_std", [0.2023, 0.1994, 0.2010]),
    ("dataset.online_augmentation.crop_padding", 4), ("dataset.online_augmentation.hflip", True),
    ("dataset.online_augmentation.vflip", False), ("dataset.online_augmentation.max_shift", 0.0),
    ("dataset.online_augmentation.max_rotation", 0.0), ("dataset.online_augmentation.scale_range", 0.0),
    ("model.name", "resnet32"), ("model.input_size", 32), ("model.dropout", 0.0),
    ("optimizer.name", "sgd"), ("optimizer.lr", 0.1), ("optimizer.momentum", 0.9), ("optimizer.weight_decay", 2e-4),
    ("optimizer.nesterov", False),
    ("scheduler.name", "multistep"), ("scheduler.milestones", [160, 180]), ("scheduler.gamma", 0.01),
    ("scheduler.warmup_epochs", 5),
    ("trainer.epochs", 200), ("trainer.batch_size", 128), ("trainer.budget", "epochs"),
    ("trainer.early_stopping_patience", 0), ("trainer.amp", False), ("trainer.precise_bn_images", 0),
    ("trainer.grad_clip_norm", None),
)
# Each published method as the reference code defines it (cifar_train.py: --loss_type, --train_rule; LDAM
# on NormedLinear, use_norm only for LDAM), on top of no resampling and no batch mixing.
_PLAIN = (("balancing.name", "none"), ("augmentation.mixup.method", "none"))
METHODS = {
    "ce": _PLAIN + (("loss.name", "ce"), ("loss.label_smoothing", 0.0), ("loss.drw_epoch", None),
                    ("model.normed_classifier", False)),
    # FocalLoss(gamma=1) on softmax cross-entropy, unweighted (train_rule None)
    "focal": _PLAIN + (("loss.name", "focal"), ("loss.gamma", 1.0), ("loss.alpha", None), ("loss.drw_epoch", None),
                       ("model.normed_classifier", False)),
    # LDAMLoss(max_m=0.5, s=30) on the cosine classifier; DRW: effective-number weights (beta 0.9999) from epoch 160
    "ldam": _PLAIN + (("loss.name", "ldam"), ("loss.max_margin", 0.5), ("loss.scale", 30.0), ("loss.drw_epoch", None),
                      ("model.normed_classifier", True)),
    "ldam_drw": _PLAIN + (("loss.name", "ldam"), ("loss.max_margin", 0.5), ("loss.scale", 30.0),
                          ("loss.drw_epoch", 160), ("loss.beta", 0.9999), ("model.normed_classifier", True)),
}
# Published methods no balancelab experiment implements: why their row never gets a verdict.
NOT_AVAILABLE = {
    "cb_focal": "the published CB Focal (Cui et al. 2019) is the sigmoid form; balancelab's cb_focal is the softmax "
                "focal loss with class-balanced weights",
}
_ABSENT = object()


class Checked(NamedTuple):
    """How an experiment's jobs differ from the protocol and from its published method (empty: they do not)."""

    protocol: List[str]
    method: List[str]


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


def _lookup(cfg: dict, key: str):
    node = cfg
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            return _ABSENT
        node = node[part]
    return node


def _same(found, wanted) -> bool:
    """Equal as config values: numbers to rounding (2e-4 vs 0.0002), lists item by item, booleans as booleans."""
    if isinstance(wanted, (list, tuple)):
        return isinstance(found, (list, tuple)) and len(found) == len(wanted) and all(map(_same, found, wanted))
    if isinstance(wanted, bool) or wanted is None or isinstance(wanted, str):
        return type(found) is type(wanted) and found == wanted
    return (isinstance(found, (int, float)) and not isinstance(found, bool)
            and math.isclose(found, wanted, rel_tol=1e-9, abs_tol=1e-12))


def _show(value) -> str:
    return "absent" if value is _ABSENT else repr(value) if isinstance(value, str) else str(value)


def differences(configs: List[dict], expected, source: str) -> List[str]:
    """'key is X (source: Y)' for each key whose value differs from Y in any of ``configs`` (each value once)."""
    found = []
    for key, wanted in expected:
        values = []
        for cfg in configs:
            value = _lookup(cfg, key)
            if not _same(value, wanted) and _show(value) not in values:
                values.append(_show(value))
        if values:
            found.append(f"{key} is {' / '.join(values)} ({source}: {_show(wanted)})")
    return found


def job_configs(sweep_dir: Path) -> Dict[str, List[dict]]:
    """{experiment_name: [config.yaml of each of its job folders]}."""
    import yaml

    out: Dict[str, List[dict]] = {}
    for path in sorted(Path(sweep_dir).glob("*/config.yaml")):
        try:
            cfg = yaml.safe_load(path.read_text())
        except (OSError, yaml.YAMLError):
            continue  # the sweep report lists the job as unreadable
        if isinstance(cfg, dict):
            out.setdefault(str(cfg.get("experiment_name")), []).append(cfg)
    return out


def check_jobs(sweep_dir: Path, overrides: dict | None = None) -> Dict[str, Checked]:
    """For each experiment with job folders: its differences from the protocol and from its published method."""
    checks = {}
    for experiment, configs in job_configs(sweep_dir).items():
        method = method_of(experiment, overrides or {})
        own = ([NOT_AVAILABLE[method]] if method in NOT_AVAILABLE
               else differences(configs, METHODS[method], "the paper's method") if method in METHODS else [])
        checks[experiment] = Checked(differences(configs, PROTOCOL, "protocol"), own)
    return checks


def _verdict(gap, check: Optional[Checked], tolerance: float) -> str:
    if gap is None:
        return "missing"
    if check is None:
        return "unchecked"
    if check.protocol:
        return "not the protocol"
    if check.method:
        return "not the paper's method"
    return "reproduced" if abs(gap) <= tolerance else "higher" if gap > 0 else "lower"


def comparison(table: pd.DataFrame, overrides: dict | None = None, tolerance: float = 1.5,
               checks: Dict[str, Checked] | None = None) -> pd.DataFrame:
    """One row per published method: published error, the sweep's error (mean, std, seeds), the gap, and the
    verdict, given only to an experiment ``checks`` found to be the protocol and the paper's method."""
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
        check = None if r is None or checks is None else checks.get(str(r["experiment"]))
        differs = "" if check is None else "; ".join(check.protocol + check.method)
        rows.append({"method": LABELS[method], "experiment": None if r is None else r["experiment"],
                     "seeds": None if r is None else r.get("n_seeds"), "published_error": published,
                     "our_error": ours, "our_error_std": std, "gap": gap,
                     "verdict": _verdict(gap, check, tolerance), "differs": differs})
    return pd.DataFrame(rows)


def render(frame: pd.DataFrame, tolerance: float) -> str:
    def pct(v):
        return "—" if _missing(v) else f"{v:.2f}"

    lines = [f"CIFAR-10-LT (ratio 100), ResNet-32: top-1 error in %, published vs this sweep "
             f"(reproduced = within {tolerance:.2f} points, given only to the protocol and the paper's method)", "",
             f"{'method':<22}{'published':>10}{'ours':>9}{'± std':>8}{'seeds':>7}{'gap':>8}  "
             f"{'verdict':<24}experiment"]
    for r in frame.to_dict("records"):
        seeds = "—" if _missing(r["seeds"]) else str(int(r["seeds"]))
        gap = "—" if _missing(r["gap"]) else f"{r['gap']:+.2f}"
        experiment = "" if _missing(r["experiment"]) else str(r["experiment"])
        why = f"  ({r['differs']})" if isinstance(r.get("differs"), str) and r["differs"] else ""
        lines.append(f"{r['method']:<22}{r['published_error']:>10.2f}{pct(r['our_error']):>9}"
                     f"{pct(r['our_error_std']):>8}{seeds:>7}{gap:>8}  {r['verdict']:<24}{experiment}{why}")
    found = frame.dropna(subset=["our_error"])
    if len(found) >= 2:
        published_order = list(found.sort_values("published_error")["method"])
        our_order = list(found.sort_values("our_error")["method"])
        lines += ["", "ranking (best first), published: " + " < ".join(published_order),
                  "ranking (best first), this sweep: " + " < ".join(our_order)]
    lines += ["", "not the paper's: the epoch is chosen on a validation split (the paper's code chose it on test), "
                  "and the head class trains on 4,950 of its 5,000 images (50 are that validation split's)"]
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
    checks = check_jobs(path.parent, overrides)
    if not checks:
        print(f"warning: {path.parent} holds no job folders, so neither the protocol nor the methods can be "
              f"checked: no row gets a verdict.", file=sys.stderr)
    frame = comparison(pd.read_csv(path), overrides, args.tolerance, checks or None)
    compared = {str(e) for e in frame["experiment"].dropna()}
    mismatches = sorted({d for e in compared if e in checks for d in checks[e].protocol})
    for difference in mismatches:
        jobs = ", ".join(sorted(e for e in compared if e in checks and difference in checks[e].protocol))
        print(f"warning: {difference}, not the LDAM-DRW protocol's, in {jobs}", file=sys.stderr)
    text = render(frame, args.tolerance)
    if mismatches:
        text = ("THIS SWEEP IS NOT THE LDAM-DRW PROTOCOL (see the warnings): the published numbers do not apply to "
                "it.\n\n" + text)
    print(text)
    return 3 if mismatches and not args.any_protocol else 0


if __name__ == "__main__":
    sys.exit(main())
