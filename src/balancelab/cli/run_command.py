"""Console entry points: balance-run and balance-cache (balance-sweep: cli.sweep_command; balance-report:
cli.report_command)."""

from __future__ import annotations

import logging
import sys

from balancelab.balancing.cache import BalancedSetCache
from balancelab.cli.compose import as_meant
from balancelab.cli.help import render_group_help, render_help
from balancelab.cli.preflight import check_command
from balancelab.cli.roots import folders_written, unwritable_folder
from balancelab.errors import EXIT_OUTPUT_ERROR, EXIT_USER_ERROR
from balancelab.options.catalog import config_groups
from balancelab.options.imports import importable_working_directory
from balancelab.task import CONFIG_PATH, EXIT_CODES_ENV, forget_exit_codes, run_job, single_run_exit_code

log = logging.getLogger("balancelab")


def run() -> None:
    """``balance-run``: one experiment, or a Hydra multirun with ``-m``."""
    args = sys.argv[1:]
    if any(arg in ("-h", "--help") for arg in args):
        code = show_help(args)
        if code:
            sys.exit(code)
        return
    sys.argv[1:] = as_meant(sys.argv[1:])  # `key={name: value}`, `model=timm model.name=X` (compose.py)
    importable_working_directory()

    # Every job composed once (cli.compose) and checked before anything is made or loaded; the composed jobs
    # are passed on to the checks of the folders, so none is composed again before Hydra runs.
    error, jobs = check_command(sys.argv[1:])
    if error:
        print(f"balance-run: {error}", file=sys.stderr)
        sys.exit(EXIT_USER_ERROR)
    unwritable = unwritable_folder(sys.argv[1:], jobs)  # before Hydra makes the run folder under output_root
    if unwritable:
        print(f"balance-run: {unwritable}", file=sys.stderr)
        sys.exit(EXIT_OUTPUT_ERROR)
    import hydra

    import balancelab.configs  # noqa: F401 - registers the option schemas: --info defaults needs them first

    main = hydra.main(version_base="1.3", config_path=CONFIG_PATH, config_name="config")(run_job)
    codes = _exit_codes_folder(sys.argv[1:], jobs)
    forget_exit_codes()
    try:
        main()
        code = single_run_exit_code(codes)
    finally:
        if codes is not None:
            import os
            import shutil

            shutil.rmtree(codes, ignore_errors=True)
            os.environ.pop(EXIT_CODES_ENV, None)
    sys.exit(code)


def _exit_codes_folder(args: list, jobs=None):
    """For a multirun, the folder where its jobs leave their exit codes (see task.EXIT_CODES_ENV): under the
    output root, which the SLURM nodes share, else the system's temporary folder. ``jobs``: the composed jobs."""
    import os
    import tempfile

    if not any(arg in ("-m", "--multirun") for arg in args):
        return None
    roots = [folder for setting, folder in folders_written(args, jobs) if setting == "output_root"]
    try:
        # absolute: a job may run in another working directory (hydra.job.chdir, a submitit node)
        folder = os.path.abspath(tempfile.mkdtemp(prefix=".exit-codes-", dir=roots[0] if roots else None))
    except OSError as exc:
        folder = tempfile.mkdtemp(prefix="balancelab-exit-codes-")
        log.warning("The jobs' exit codes go to %s (%s could not take them: %s); jobs on other machines (SLURM) "
                    "cannot reach it, so the exit code counts only this machine's jobs.", folder,
                    roots[0] if roots else "output_root", exc)
    os.environ[EXIT_CODES_ENV] = folder
    return folder


def show_help(args: list) -> int:
    """``balance-run --help [GROUP]``; the exit code: 2 for a group that does not exist (its message says so)."""

    at = next(i for i, a in enumerate(args) if a in ("-h", "--help"))
    topic = args[at + 1] if at + 1 < len(args) and "=" not in args[at + 1] else None
    if topic is None:
        print(render_help(overrides=args))
        return 0
    if topic not in config_groups() and topic not in ("top", "top_level"):
        print(render_group_help(topic, overrides=args), file=sys.stderr)
        return 2
    print(render_group_help(topic, overrides=args))
    return 0


def cache() -> None:
    """``balance-cache``: show or clear the cache of balanced training sets."""
    import argparse

    parser = argparse.ArgumentParser(prog="balance-cache", description=(cache.__doc__ or "").replace("``", ""))
    parser.add_argument("action", choices=["info", "clear"])
    parser.add_argument("--dir", default="outputs/.cache", help="cache_dir of the runs (default: outputs/.cache)")
    args = parser.parse_args()

    from pathlib import Path

    if not Path(args.dir).is_dir():
        print(f"balance-cache: {args.dir} does not exist (or is not a folder). Give the cache_dir of your runs: "
              f"--dir <output_root>/.cache (default outputs/.cache).", file=sys.stderr)
        sys.exit(2)
    store = BalancedSetCache(args.dir)
    if args.action == "clear":
        print(f"Removed {store.clear()} cached balanced training set(s) from {store.root}.")
    else:
        entries = sorted(store.root.glob("*.npz")) if store.root.exists() else []
        size = sum(p.stat().st_size for p in entries)
        print(f"{len(entries)} cached balanced training set(s), {size / 1e6:.1f} MB, in {store.root}.")


if __name__ == "__main__":  # last: run() needs the functions above
    run()
