"""``balance-report`` (a sweep's comparison rebuilt from its job folders, and ranks across sweeps) and the
comparison step that ends ``balance-sweep``."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from balancelab.errors import (EXIT_LOCKED, EXIT_OUTPUT_ERROR, EXIT_USER_ERROR, BalancelabError, DataError,
                               OutputWriteError, RunLockedError)
from balancelab.logs import setup_logging
from balancelab.output.contract import COMPARISON_MD, RANKS_MD, Status
from balancelab.output.lock import FolderLock

log = logging.getLogger("balancelab")


REPORT_ADVICE = "wait for it to finish (its comparison is then up to date), or run balance-report again after it"


def _report_and_exit_code(sweep_dir: Path, stale_after_s: float = 600.0, bootstrap_seed: int = 0) -> int:
    """Build a sweep's comparison under its folder's lock: two reports at once would both write comparison.*
    and report.html. RunLockedError when another process is writing them now."""
    from balancelab.sweep.report import build_report

    with FolderLock(sweep_dir, stale_after_s=stale_after_s, what="sweep report", advice=REPORT_ADVICE):
        summary = build_report(sweep_dir, bootstrap_seed)
    counts = summary["status_counts"]
    log.info("Comparison: %s (jobs: %s)", sweep_dir / COMPARISON_MD, counts)
    print((sweep_dir / COMPARISON_MD).read_text())
    for job in summary["failed_jobs"]:
        log.error("Failed job %s: %s", job["job"], job["error"])
    return 1 if counts.get(Status.FAILED.value) or counts.get(Status.INCOMPLETE.value) else 0


def write_ranks_locked(folders, out_dir: Path, metric: str, stale_after_s: float = 600.0) -> dict:
    from balancelab.sweep.across import write_ranks

    with FolderLock(out_dir, stale_after_s=stale_after_s, what="ranks report", advice=REPORT_ADVICE):
        return write_ranks(folders, out_dir, metric)


def report_again_fix(exc: OutputWriteError, command: str) -> str:
    """The fix of a failed report file: the job folders are intact, so the report is simply rebuilt."""
    where = Path(exc.path).parent if exc.path is not None else "the sweep folder"
    first = f"Make {where} writable" if exc.permission else "Free some space there (or raise the quota)"
    return (f"{first}, then run {command} again: the job folders are not touched and the report is rebuilt from "
            f"them. Files written before are kept as they were.")


def sweep_report_step(sweep_dir: Path, stale_after_s: float = 600.0) -> int:
    """The end of balance-sweep: the comparison, and the exit code (a report that cannot be written says how
    to get it without running any job again)."""
    try:
        return _report_and_exit_code(sweep_dir, stale_after_s)
    except RunLockedError as exc:
        log.error("The sweep's jobs are done, but its comparison is being written by another process. %s", exc)
        return EXIT_LOCKED
    except OutputWriteError as exc:
        log.error("The sweep's jobs are done, but its comparison could not be written. %s",
                  exc.restated(report_again_fix(exc, f"balance-report {sweep_dir}")))
        return EXIT_OUTPUT_ERROR
    except BalancelabError as exc:  # the job folders cannot be compared as they are (e.g. two runs of one job)
        log.error("The sweep's jobs are done, but its comparison cannot be built: %s", exc)
        return EXIT_USER_ERROR


def report(argv=None) -> None:
    """``balance-report SWEEP_DIR [SWEEP_DIR ...]``: rebuild each sweep's comparison and report.html from its
    job folders (no training); with several sweeps (same experiments, other datasets or models) also their
    average ranks, Friedman test and critical-difference diagram."""
    import argparse

    parser = argparse.ArgumentParser(prog="balance-report", description=(report.__doc__ or "").replace("``", ""))
    parser.add_argument("paths", type=Path, nargs="+", help="sweep folders (each holding one sub-folder per job)")
    parser.add_argument("--out", type=Path, default=None,
                        help="where ranks.csv, ranks.md and critical_difference.png go (several sweeps only; "
                             "default: the folder the sweeps have in common, e.g. outputs/sweeps)")
    parser.add_argument("--metric", default="macro_f1", help="the score ranked across sweeps (default: macro_f1)")
    parser.add_argument("--bootstrap-seed", type=int, default=0, metavar="N",
                        help="seed of the paired bootstrap over test images (default: 0); a verdict whose p lies "
                             "outside [level/2, 2 level] does not change with it")
    args = parser.parse_args(argv)
    setup_logging()
    for path in args.paths:
        if not path.is_dir():
            log.error("%s is not a folder. Give sweep folders, e.g. outputs/sweeps/<name>.", path)
            sys.exit(EXIT_USER_ERROR)
    if args.out is not None and len(args.paths) < 2:  # accepted and ignored would be a silent no-op
        log.error("--out is where the ranks across several sweeps go; with one sweep its comparison is written in "
                  "%s itself. Drop --out, or give two or more sweep folders.", args.paths[0])
        sys.exit(EXIT_USER_ERROR)
    try:
        codes = [_report_and_exit_code(path, bootstrap_seed=args.bootstrap_seed) for path in args.paths]
        if len(args.paths) > 1:
            from balancelab.sweep.across import default_out_dir

            ranks = write_ranks_locked(args.paths, args.out or default_out_dir(args.paths), args.metric)
            print((Path(ranks["out_dir"]) / RANKS_MD).read_text())
            log.info("Ranks across %d sweeps: %s", len(args.paths), Path(ranks["out_dir"]) / RANKS_MD)
    except RunLockedError as exc:
        log.error("%s", exc)
        sys.exit(EXIT_LOCKED)
    except OutputWriteError as exc:
        again = " ".join(["balance-report", *map(str, argv if argv is not None else sys.argv[1:])])
        log.error("%s", exc.restated(report_again_fix(exc, again)))
        sys.exit(EXIT_OUTPUT_ERROR)
    except (FileNotFoundError, DataError) as exc:
        log.error("%s", exc)
        sys.exit(EXIT_USER_ERROR)
    sys.exit(max(codes))
