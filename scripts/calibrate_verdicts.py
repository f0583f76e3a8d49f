#!/usr/bin/env python
"""Calibration of the sweep verdicts: false-positive rate and power of the decision rule, measured on sweeps
simulated with known truth (balancelab.sweep.statistics.calibration) and decided exactly as balance-report
decides a real sweep. Prints a Markdown table (docs/statistics.md carries its figures).

    python scripts/calibrate_verdicts.py                  # every standard scenario, 300 sweeps each
    python scripts/calibrate_verdicts.py --sweeps 50      # quicker, rougher
"""

from __future__ import annotations

import argparse
import time

import pandas as pd

from balancelab.sweep.statistics.calibration import run_scenario, standard_scenarios


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sweeps", type=int, default=300, help="simulated sweeps per scenario (default 300)")
    parser.add_argument("--resamples", type=int, default=1000, help="bootstrap resamples per sweep (default 1000)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--alpha", type=float, default=0.05)
    parser.add_argument("--only", default="", help="run only the scenarios whose name contains this text")
    args = parser.parse_args()
    rows = []
    for scenario in [s for s in standard_scenarios() if args.only in s.name]:
        start = time.time()
        rows += run_scenario(scenario, args.sweeps, args.seed, args.alpha, args.resamples)
        print(f"# {scenario.name}: {time.time() - start:.0f} s", flush=True)
    table = pd.DataFrame(rows)
    print(f"\n{args.sweeps} simulated sweeps per scenario, {args.resamples} bootstrap resamples, alpha = {args.alpha}; "
          "rates per comparison, ± one Monte-Carlo standard error (sweeps are the unit).\n")
    print("| scenario | arm | mean Δ macro-F1 | p < α (two-level) | called better after Holm | called worse | "
          "p < α (seed t-test alone) |")
    print("|---|---|---|---|---|---|---|")
    for r in table.itertuples():
        arm = r.kind if r.kind in ("null", "fluke") else f"{r.kind} {r.size:g}"
        print(f"| {r.scenario} | {arm} | {r.mean_gain:+.3f} | {r.rejection_rate:.3f} ± {r.rejection_rate_se:.3f} | "
              f"{r.better_rate:.3f} ± {r.better_rate_se:.3f} | {r.worse_rate:.3f} | {r.t_test_rejection_rate:.3f} |")


if __name__ == "__main__":
    main()
