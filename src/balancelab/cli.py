"""Console entry points. The only modules that touch Hydra are this one and the schema."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from balancelab.errors import BalancelabError

log = logging.getLogger("balancelab")
CONFIG_PATH = "pkg://balancelab.configs"
EXIT_USER_ERROR = 2
EXIT_DIVERGED = 3

_outcome: dict = {}  # Hydra discards the task's return value; the single-run status travels here


def setup_logging(run_dir: Path | None = None) -> None:
    root = logging.getLogger("balancelab")
    root.setLevel(logging.INFO)
    root.propagate = False
    fmt = logging.Formatter("[%(asctime)s %(levelname)s] %(message)s", "%H:%M:%S")
    if not any(isinstance(h, logging.StreamHandler) and not isinstance(h, logging.FileHandler) for h in root.handlers):
        console = logging.StreamHandler(sys.stderr)
        console.setFormatter(fmt)
        root.addHandler(console)
    for h in [h for h in root.handlers if isinstance(h, logging.FileHandler)]:
        root.removeHandler(h)
        h.close()
    if run_dir is not None:
        file_handler = logging.FileHandler(Path(run_dir) / "run.log", encoding="utf-8")
        file_handler.setFormatter(fmt)
        root.addHandler(file_handler)


def run_job(cfg) -> dict:
    """One job: validate, claim the run folder, run. Errors of the user's making exit cleanly."""
    from hydra.core.hydra_config import HydraConfig

    from balancelab.output.run_folder import prepare_run_folder
    from balancelab.schema import validate

    setup_logging()
    hydra_cfg = HydraConfig.get()
    is_multirun = str(hydra_cfg.mode) == "RunMode.MULTIRUN"
    try:
        cfg = validate(cfg)  # before any data is loaded
        run_dir = Path(hydra_cfg.runtime.output_dir)
        action = prepare_run_folder(run_dir, cfg.overwrite, skip_finished=is_multirun)
        if action == "skip":
            log.info("Skipping %s: already finished.", run_dir)
            return {"status": "skipped", "run_dir": str(run_dir)}
        if action == "restart":
            log.warning("Removed the leftovers of an unfinished run in %s.", run_dir)
        elif action == "resume":
            log.info("Unfinished run found in %s: resuming it.", run_dir)
        setup_logging(run_dir)
        log.info("Run folder: %s", run_dir)
        from balancelab.experiment import run_experiment

        summary = run_experiment(cfg, run_dir, launcher=hydra_cfg.launcher.get("_target_"))
        _outcome["status"] = summary["status"]
        test = summary.get("test") or {}
        log.info("Done: status=%s  test macro-F1=%s  balanced acc=%s  -> %s", summary["status"],
                 _fmt(test.get("macro_f1")), _fmt(test.get("balanced_accuracy")), run_dir)
        return summary
    except BalancelabError as exc:
        log.error("%s", exc)
        _outcome["status"] = "error"
        if is_multirun:
            return record_failure(Path(hydra_cfg.runtime.output_dir), exc, cfg)
        sys.exit(EXIT_USER_ERROR)
    except Exception as exc:
        if not is_multirun:
            raise
        # Inside a sweep one failing job must not stop the others (nor skip the end-of-sweep
        # report, which Hydra's callbacks would): record it in the job's folder and carry on.
        log.exception("Job failed: %s", exc)
        return record_failure(Path(hydra_cfg.runtime.output_dir), exc, cfg)
    finally:
        setup_logging(None)


def record_failure(run_dir: Path, exc: BaseException, cfg=None) -> dict:
    """failure.json in the job folder; the folder stays unfinished, so a rerun retries the job."""
    import traceback

    from omegaconf import OmegaConf

    from balancelab.output.atomic import write_json, write_text

    info = {"status": "failed", "error_type": type(exc).__name__, "error": str(exc),
            "traceback": "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))}
    run_dir.mkdir(parents=True, exist_ok=True)
    if cfg is not None and not (run_dir / "config.yaml").exists():
        # The report finds jobs by their config.yaml; a job that failed early still needs one.
        write_text(run_dir / "config.yaml", OmegaConf.to_yaml(cfg, resolve=True))
    write_json(run_dir / "failure.json", info)
    return info


def _fmt(value) -> str:
    return "n/a" if value is None else f"{value:.4f}"


def run() -> None:
    """``balance-run``: one experiment, or a Hydra multirun with ``-m``."""
    if any(arg in ("-h", "--help") for arg in sys.argv[1:]):
        from balancelab.help import render_help

        print(render_help())
        return
    import hydra

    main = hydra.main(version_base="1.3", config_path=CONFIG_PATH, config_name="config")(run_job)
    main()
    if _outcome.get("status") == "diverged":
        sys.exit(EXIT_DIVERGED)


if __name__ == "__main__":
    run()


def cache() -> None:
    """``balance-cache``: show or clear the cache of balanced training sets."""
    import argparse

    parser = argparse.ArgumentParser(prog="balance-cache", description=cache.__doc__)
    parser.add_argument("action", choices=["info", "clear"])
    parser.add_argument("--dir", default="outputs/.cache", help="cache_dir of the runs (default: outputs/.cache)")
    args = parser.parse_args()
    from balancelab.balancing.cache import BalancedSetCache

    store = BalancedSetCache(args.dir)
    if args.action == "clear":
        print(f"Removed {store.clear()} cached balanced training set(s) from {store.root}.")
    else:
        entries = sorted(store.root.glob("*.npz")) if store.root.exists() else []
        size = sum(p.stat().st_size for p in entries)
        print(f"{len(entries)} cached balanced training set(s), {size / 1e6:.1f} MB, in {store.root}.")

