"""``balance-sweep`` and ``balance-report``: the experiment grid as a Hydra multirun, and its comparison."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from balancelab.cli import CONFIG_PATH, EXIT_USER_ERROR, run_job, setup_logging

log = logging.getLogger("balancelab")

# Short names for Hydra launcher configs (configs/hydra/launcher/) and the plugin each needs.
LAUNCHERS = {"basic": None, "parallel": "parallel", "joblib": "parallel", "slurm": "slurm", "submitit_slurm": "slurm",
             "local": "local", "submitit_local": "local"}
LAUNCHER_PLUGINS = {"parallel": ("hydra_plugins.hydra_joblib_launcher", "joblib"),
                    "slurm": ("hydra_plugins.hydra_submitit_launcher", "slurm"),
                    "local": ("hydra_plugins.hydra_submitit_launcher", "slurm")}


def _parse_list(value: str) -> list:
    return [v.strip() for v in value.strip("[]").split(",") if v.strip()]


def sweep() -> None:
    """``balance-sweep``: the experiment grid as one Hydra multirun, then its comparison report.

    Own arguments: group=NAME, experiments=[a,b] (or experiment=a,b), seeds=[0,1,2], name=SWEEP,
    launcher=basic|parallel|slurm|local. Every other argument is an override for every job.
    """
    import importlib.util

    from balancelab.sweep.grid import select

    setup_logging()
    own, passthrough = {}, []
    for arg in sys.argv[1:]:
        key = arg.split("=", 1)[0]
        if key in ("group", "experiments", "experiment", "seeds", "name", "launcher") and "=" in arg:
            own[key] = arg.split("=", 1)[1]
        elif arg in ("-h", "--help"):
            print(sweep.__doc__)
            return
        else:
            passthrough.append(arg)
    try:
        names = _parse_list(own.get("experiments") or own.get("experiment") or "")
        experiments = select(own.get("group"), names or None)
    except ValueError as exc:
        log.error("%s", exc)
        sys.exit(EXIT_USER_ERROR)
    seeds = _parse_list(own.get("seeds", "")) or None
    launcher = LAUNCHERS.get(own.get("launcher", "basic"), "?")
    if launcher == "?":
        log.error("launcher=%s is not known. Valid: %s.", own["launcher"], ", ".join(LAUNCHERS))
        sys.exit(EXIT_USER_ERROR)
    if launcher and importlib.util.find_spec(LAUNCHER_PLUGINS[launcher][0]) is None:
        log.error("launcher=%s needs its Hydra plugin: pip install \"balancelab[%s]\".", own["launcher"],
                  LAUNCHER_PLUGINS[launcher][1])
        sys.exit(EXIT_USER_ERROR)

    cfg = _compose([a for a in passthrough if not a.startswith(("hydra", "-"))])
    name = own.get("name") or f"grid_{cfg.model.name}_{cfg.dataset.name}"
    sweep_dir = Path(cfg.output_root) / "sweeps" / name
    argv = [sys.argv[0], "-m", f"experiment={','.join(experiments)}", f"hydra.sweep.dir={sweep_dir}",
            f"sweep_name={name}", *passthrough]
    if seeds:
        argv.append(f"seed={','.join(seeds)}")
    if launcher:
        argv.append(f"hydra/launcher={launcher}")
    log.info("Sweep %s: %d experiment(s) x %d seed(s) -> %s", name, len(experiments), len(seeds or [cfg.seed]), sweep_dir)
    sys.argv = argv
    import hydra

    hydra.main(version_base="1.3", config_path=CONFIG_PATH, config_name="config")(run_job)()
    sys.exit(_report_and_exit_code(sweep_dir))


def _compose(overrides: list):
    from hydra import compose, initialize_config_module

    with initialize_config_module(config_module="balancelab.configs", version_base="1.3"):
        return compose("config", overrides=overrides)


def _report_and_exit_code(sweep_dir: Path) -> int:
    from balancelab.sweep.report import build_report

    summary = build_report(sweep_dir)
    counts = summary["status_counts"]
    log.info("Comparison: %s (jobs: %s)", sweep_dir / "comparison.md", counts)
    print((sweep_dir / "comparison.md").read_text())
    for job in summary["failed_jobs"]:
        log.error("Failed job %s: %s", job["job"], job["error"])
    return 1 if counts.get("failed") or counts.get("incomplete") else 0


def report() -> None:
    """``balance-report PATH``: rebuild a sweep's comparison from its job folders (no training)."""
    import argparse

    parser = argparse.ArgumentParser(prog="balance-report", description=report.__doc__)
    parser.add_argument("path", type=Path, help="the sweep folder (holding one sub-folder per job)")
    args = parser.parse_args()
    setup_logging()
    if not args.path.is_dir():
        log.error("%s is not a folder. Give the sweep folder, e.g. outputs/sweeps/<name>.", args.path)
        sys.exit(EXIT_USER_ERROR)
    try:
        sys.exit(_report_and_exit_code(args.path))
    except FileNotFoundError as exc:
        log.error("%s", exc)
        sys.exit(EXIT_USER_ERROR)
