"""``balance-sweep`` and ``balance-report``: the experiment grid as a Hydra multirun, and its comparison."""

from __future__ import annotations

import copy
import logging
import sys
from pathlib import Path
from typing import List, Optional

from balancelab.cli.compose import Job, compose_job, compose_jobs, mapping_settings, with_mappings_replaced
from balancelab.cli.hydra_private import parsed_value, value_text
from balancelab.cli.launchers import LAUNCHERS, install_hint, missing_launcher_plugin
from balancelab.cli.messages import explain_composition_error
from balancelab.cli.preflight import preflight
from balancelab.cli.roots import unwritable_folder
from balancelab.errors import (EXIT_LOCKED, EXIT_OUTPUT_ERROR, EXIT_USER_ERROR, BalancelabError, DataError,
                               OutputWriteError, RunLockedError)
from balancelab.identity import PRESENTATION_KEYS, RECORDED_ELSEWHERE
from balancelab.logs import setup_logging
from balancelab.output.atomic import ensure_writable
from balancelab.output.contract import COMPARISON_MD, RANKS_MD, Status
from balancelab.options.imports import importable_working_directory
from balancelab.output.lock import FolderLock
from balancelab.sweep.grid import BASELINE, DEFAULT_GROUPS, experiments, select
from balancelab.task import CONFIG_PATH, run_job

log = logging.getLogger("balancelab")

def _parse_list(value: str) -> list:
    return [v.strip() for v in value.strip("[]").split(",") if v.strip()]


def sweep_help(overrides: Optional[List[str]] = None) -> str:
    """The usage of balance-sweep; ``overrides``: the command's (a hydra.searchpath adds the user's experiments)."""
    grid = experiments(overrides)
    groups: dict = {}
    for name, group in grid.items():
        groups.setdefault(group, []).append(name)
    lines = ["balance-sweep: run the experiment grid as one Hydra multirun, then write its comparison.", "",
             "Usage: balance-sweep [group=NAME | experiments=[a,b]] [seeds=[0,1,2]] [name=SWEEP]",
             "                     [launcher=basic|parallel|slurm|local] [screen=true] [overrides for every job ...]",
             "",
             "screen=true: a screen of the classifier stage: the baseline trained once per seed and frozen, every",
             "  experiment trains only a linear head on its cached features (docs/balancing.md, Screening).", "",
             "Experiment groups (without group= or experiments=: the groups marked *; group=all: every group):"]
    lines += [f"  {group + ('*' if group in DEFAULT_GROUPS else ''):<14} {', '.join(names)}"
              for group, names in groups.items()]
    lines += ["", "Launchers: basic (one job after another), parallel (joblib, this machine), slurm and local (submitit);",
              f"  parallel needs {install_hint('joblib')}, slurm/local need {install_hint('slurm')}.",
              "Overrides: any balance-run override (model=..., dataset=..., trainer.epochs=...); see balance-run --help.",
              "Output: <output_root>/sweeps/<name>_<hash of the shared overrides>/ with one folder per job and",
              "comparison.csv/.md/.png; a rerun skips finished jobs. --cfg job prints the first job's config."]
    return "\n".join(lines)


def _split_arguments(argv: list) -> tuple[dict, list, list]:
    """(balance-sweep's own arguments, overrides for every job, Hydra flags such as --cfg job)."""
    own, passthrough, flags = {}, [], []
    args = list(argv)
    while args:
        arg = args.pop(0)
        key = arg.split("=", 1)[0]
        if key in ("group", "experiments", "experiment", "seeds", "name", "launcher", "screen") and "=" in arg:
            own[key] = arg.split("=", 1)[1]
        elif arg in ("--cfg", "-c", "--info", "-i", "--package", "-p"):
            flags.append(arg)
            if args and not args[0].startswith("-") and "=" not in args[0]:
                flags.append(args.pop(0))
        else:
            passthrough.append(arg)
    return own, passthrough, flags


def sweep() -> None:
    """``balance-sweep``: the experiment grid as one Hydra multirun, then its comparison report."""

    setup_logging()
    importable_working_directory()
    if any(arg in ("-h", "--help") for arg in sys.argv[1:]):
        print(sweep_help(sys.argv[1:]))
        return
    own, passthrough, flags = _split_arguments(sys.argv[1:])
    passthrough = with_mappings_replaced(passthrough)  # `key={name: value}` takes effect (compose.py)
    lists = {k: v for k, v in _list_overrides(passthrough).items() if len(v) > 1}
    if lists:
        sys.exit(_sweep_each_combination(own, passthrough, lists, flags))
    try:
        names = _parse_list(own.get("experiments") or own.get("experiment") or "")
        if ("experiments" in own or "experiment" in own) and not names:
            raise ValueError("experiments=[] names no experiment. List some (experiments=[baseline,smote]) or leave "
                             "it out for the whole grid.")
        experiments = select(own.get("group"), names or None, overrides=passthrough)
        seeds = _parse_list(own.get("seeds", "")) or None
        if "seeds" in own and not seeds:
            raise ValueError("seeds=[] names no seed. Give at least one (seeds=[0,1,2]) or leave it out for seed=42.")
        bad = [s for s in seeds or [] if not s.lstrip("-").isdigit()]
        if bad:
            raise ValueError(f"seeds must be integers; got {', '.join(bad)}. Example: seeds=[0,1,2].")
        repeated = sorted({int(s) for s in seeds or [] if [int(t) for t in seeds].count(int(s)) > 1})
        if repeated:
            raise ValueError(
                f"seeds={own['seeds']} names seed {', '.join(map(str, repeated))} twice: a seed is one job of each "
                f"experiment, and a repeated one would be that same job again (skipped as finished, so the sweep "
                f"would have fewer seeds than listed). Give distinct seeds, e.g. seeds=[0,1,2].")
    except ValueError as exc:
        log.error("%s", exc)
        sys.exit(EXIT_USER_ERROR)
    screen = own.get("screen", "false").strip().lower()
    if screen not in ("true", "false"):
        log.error("screen=%s: give screen=true (a screen of the classifier stage) or screen=false (the full grid).",
                  own["screen"])
        sys.exit(EXIT_USER_ERROR)
    if screen == "true":
        sys.exit(_screen_sweep(own, experiments, seeds, passthrough, flags))
    launcher = LAUNCHERS.get(own.get("launcher", "basic"), "?")
    if launcher == "?":
        log.error("launcher=%s is not known. Valid: %s.", own["launcher"], ", ".join(LAUNCHERS))
        sys.exit(EXIT_USER_ERROR)
    if launcher and missing_launcher_plugin(launcher):
        log.error("%s", missing_launcher_plugin(launcher))
        sys.exit(EXIT_USER_ERROR)

    tail = [*passthrough, *([f"seed={','.join(seeds)}"] if seeds else []),
            *([f"hydra/launcher={launcher}"] if launcher else [])]
    # Every job of the grid composed once, before the sweep is named from them (its name is then set in each).
    try:
        jobs = compose_jobs(["-m", f"experiment={','.join(experiments)}", UNNAMED, *tail])
        cfg = _first_composed(jobs, experiments, passthrough)
    except Exception as exc:
        log.error("%s", explain_composition_error(exc, passthrough))
        sys.exit(EXIT_USER_ERROR)
    sweep_dir = _sweep_dir(own, passthrough, cfg=cfg)
    name = sweep_dir.name
    named = [f"hydra.sweep.dir={sweep_dir}", f"sweep_name={name}"]
    argv = [sys.argv[0], "-m", f"experiment={','.join(experiments)}", *named, *tail]
    _name_jobs(jobs, named, name)

    error = preflight(argv[1:], jobs)  # every job of the grid checked before the first one starts (--cfg too)
    if flags:  # --cfg / --info answer for the grid's first job (Hydra allows them without -m only)
        argv = [sys.argv[0], f"experiment={experiments[0]}", f"sweep_name={name}", *passthrough,
                *([f"seed={seeds[0]}"] if seeds else []), *flags]
    if error:
        log.error("%s", error)
        sys.exit(EXIT_USER_ERROR)
    # before Hydra makes the sweep folder under output_root (with --cfg/--info: nothing is written, none checked)
    unwritable = unwritable_folder(argv[1:], None if flags else jobs)
    if unwritable:
        log.error("%s", unwritable)
        sys.exit(EXIT_OUTPUT_ERROR)
    if not flags:  # only now is it sure that the sweep runs (and makes its folder)
        log.info("Sweep %s: %d experiment(s) x %d seed(s) -> %s", name, len(experiments), len(seeds or [cfg.seed]),
                 sweep_dir)
    sys.argv = argv
    import hydra

    import balancelab.configs  # noqa: F401 - registers the option schemas: --info defaults needs them first

    hydra.main(version_base="1.3", config_path=CONFIG_PATH, config_name="config")(run_job)()
    if flags:  # --cfg / --info printed their answer; nothing ran
        return
    sys.exit(sweep_report_step(sweep_dir, cfg.lock_stale_after_s))


# The grid's jobs are composed before the sweep has its name (made from them): this stands for the name, and
# _name_jobs puts the name in its place (sweep_name is a label, out of the run identity: see balancelab.identity).
UNNAMED = "sweep_name=unnamed"


def _first_composed(jobs: List[Job], experiments: list, passthrough: list):
    """The config the sweep is named from: the first job (in the grid's order) that composed. A key of an
    experiment's own option (``loss.gamma`` with ``experiments=[focal_loss]``) composes only with that experiment;
    the jobs it does not fit are reported by the check of every job that follows. When Hydra cannot parse the
    command (no jobs; Hydra reports it when it runs), the config is composed from the shared overrides."""
    if not jobs:
        return _grid_config(experiments, passthrough)
    composed = next((job.cfg for job in jobs if job.error is None), None)
    if composed is None:
        raise jobs[0].error
    return composed


def _name_jobs(jobs: List[Job], named: list, name: str) -> None:
    """The sweep's folder and name put in each composed job, where UNNAMED held their place."""
    for job in jobs:
        at = job.overrides.index(UNNAMED)
        job.overrides[at:at + 1] = named
        if job.cfg is not None:
            job.cfg.sweep_name = name


def _screen_sweep(own: dict, experiments: list, seeds, passthrough: list, flags: list) -> int:
    """``balance-sweep screen=true``: every job composed and checked here, then the screen runs in this process
    (balancelab.sweep.screening) and the same report is written. Returns the exit code."""
    if flags:
        log.error("screen=true runs no Hydra multirun, so %s has nothing to answer; run it without screen=true.",
                  " ".join(flags))
        return EXIT_USER_ERROR
    if own.get("launcher", "basic") != "basic":
        log.error("screen=true trains each seed's representation once and then only linear heads, in this process; "
                  "launcher=%s does not apply. Drop launcher=.", own["launcher"])
        return EXIT_USER_ERROR
    from balancelab.sweep.screening import ScreenJob, run_screen  # loads torch

    # trainer.feature_head_epochs sets the screen's head epochs: a run refuses it without feature_balancing, so it
    # is taken out of the composition and put into every job's config after its check (retrain_head checks it).
    head_key = "trainer.feature_head_epochs"
    head = [a.partition("=")[2] for a in passthrough if a.partition("=")[0].lstrip("+~") == head_key]
    shared = [a for a in composable(passthrough) if a.partition("=")[0].lstrip("+~") != head_key]
    # The screen's jobs, and the baseline of each seed (its representation) when the grid has none, composed once
    # and checked by the same pre-flight as a sweep's grid.
    representation = [] if BASELINE in experiments else [BASELINE]
    argv = ["-m", f"experiment={','.join([*representation, *experiments])}", *shared,
            *([f"seed={','.join(seeds)}"] if seeds else [])]
    try:
        composed = compose_jobs(argv)
        error = preflight(argv, composed) if composed else "the screen's command does not parse"
    except BalancelabError as exc:
        error = str(exc)
    if error:
        log.error("%s", error)
        return EXIT_USER_ERROR

    def with_head(plain: dict) -> dict:
        if head:  # the representation's own run is a plain baseline run
            plain = copy.deepcopy(plain)
            plain["trainer"]["feature_head_epochs"] = int(head[-1]) if head[-1].strip().isdigit() else head[-1]
        return plain

    by_row = {(job.choices["experiment"], int(job.plain["seed"])): job for job in composed}
    order = sorted({seed for _, seed in by_row}, key=[seed for _, seed in by_row].index)
    bases = {s: ScreenJob(BASELINE, s, by_row[BASELINE, s].plain, by_row[BASELINE, s].identity) for s in order}
    jobs = [ScreenJob(e, s, with_head(by_row[e, s].plain), by_row[e, s].identity) for s in order for e in experiments]
    first = next(iter(bases.values())).cfg
    sweep_dir = _sweep_dir(own, passthrough, cfg=by_row[experiments[0], order[0]].cfg)
    try:
        ensure_writable(first["output_root"], "output_root")
    except OutputWriteError as exc:
        log.error("%s", exc)
        return EXIT_OUTPUT_ERROR
    log.info("Screen %s: %d experiment(s) x %d seed(s) on a frozen representation -> %s", sweep_dir.name,
             len(experiments), len(bases), sweep_dir)
    try:
        run_screen(sweep_dir, bases, jobs, first["lock_stale_after_s"])
    except RunLockedError as exc:
        log.error("%s", exc)
        return EXIT_LOCKED
    except OutputWriteError as exc:
        log.error("%s", exc)
        return EXIT_OUTPUT_ERROR
    return sweep_report_step(sweep_dir, first["lock_stale_after_s"])


SPLIT_KEYS = ("dataset", "model")  # list values run one sweep per combination


def _list_overrides(overrides: list) -> dict:
    """{dataset|model: [values]} from ``dataset=[a,b]`` / ``dataset=a,b`` (one value: a plain override)."""
    found = {}
    for arg in overrides:
        key, _, value = arg.partition("=")
        if key in SPLIT_KEYS and value:
            found[key] = _parse_list(value)
    return found


def _sweep_each_combination(own: dict, passthrough: list, lists: dict, flags: list = ()) -> int:
    """One balance-sweep per dataset x model combination (separate processes: Hydra runs once per
    process), then the ranks across the sweeps that finished. Returns the worst exit code.

    Hydra flags (``--cfg job``, ``--info``) go to each combination, which answers them and runs nothing.
    """
    import itertools
    import subprocess

    shared = [a for a in passthrough if a.partition("=")[0] not in lists]
    keys = list(lists)
    own_args = [f"{k}={v}" for k, v in own.items() if k != "name"]
    codes, folders = [], []
    for values in itertools.product(*(lists[k] for k in keys)):
        chosen = [f"{k}={v}" for k, v in zip(keys, values)]
        name = "_".join([own["name"], *values]) if own.get("name") else None
        args = [*own_args, *([f"name={name}"] if name else []), *shared, *chosen, *flags]
        log.info("Sweep %d: %s", len(codes) + 1, " ".join(chosen))
        code = subprocess.call([sys.executable, "-m", "balancelab.cli.sweep_command", *args])
        codes.append(code)
        if code in (0, 1):  # 1: finished with failed jobs; its folder still holds a comparison
            folders.append(_sweep_dir(own, [*shared, *chosen], name))
    if flags:  # each combination printed its answer; nothing ran, so there is nothing to rank
        return max(codes)
    if len(folders) >= 2:
        cfg = _grid_config(select(own.get("group"), _parse_list(own.get("experiments") or own.get("experiment") or "")
                                  or None, overrides=shared), shared)
        out = Path(cfg.output_root) / "sweeps" / f"{own.get('name') or 'grid'}_across_{shared_overrides_hash(shared, cfg)}"
        try:
            ranks = _write_ranks_locked(folders, out, "macro_f1", cfg.lock_stale_after_s)
            print((Path(ranks["out_dir"]) / RANKS_MD).read_text())
        except DataError as exc:
            log.error("No ranks across the sweeps: %s", exc)
            codes.append(EXIT_USER_ERROR)
        except RunLockedError as exc:
            log.error("%s", exc)
            codes.append(EXIT_LOCKED)
        except OutputWriteError as exc:
            log.error("%s", exc.restated(_report_again_fix(exc, f"balance-report {' '.join(map(str, folders))} "
                                                               f"--out {out}")))
            codes.append(EXIT_OUTPUT_ERROR)
    return max(codes)


def _grid_config(experiments: list, passthrough: list):
    """The config the sweep's folder is named from: the shared overrides composed with the first of the grid's
    experiments they compose with. A key of an experiment's own option (``loss.gamma`` with
    ``experiments=[focal_loss]``) composes only with that experiment; the jobs it does not fit are reported
    by the check of every job that follows."""
    first_error = None
    for experiment in experiments:
        try:
            return compose_job([f"experiment={experiment}", *composable(passthrough)])
        except Exception as exc:  # noqa: BLE001 - Hydra's composition errors have no common base
            first_error = first_error or exc
    raise first_error if first_error is not None else ValueError("the sweep has no experiment")


def _sweep_dir(own: dict, passthrough: list, name=None, cfg=None) -> Path:
    """The folder ``sweep`` gives these arguments (see its naming rule)."""
    if cfg is None:
        names = _parse_list(own.get("experiments") or own.get("experiment") or "")
        cfg = _grid_config(select(own.get("group"), names or None, overrides=passthrough), passthrough)
    if _screening(own):  # a screen is another sweep than the full grid's, in a folder of its own
        base = name or own.get("name") or f"screen_{cfg.model.name}_{cfg.dataset.name}"
        return Path(cfg.output_root) / "sweeps" / f"{base}_{shared_overrides_hash([*passthrough, 'screen=true'], cfg)}"
    base = name or own.get("name") or f"grid_{cfg.model.name}_{cfg.dataset.name}"
    return Path(cfg.output_root) / "sweeps" / f"{base}_{shared_overrides_hash(passthrough, cfg)}"


def _screening(own: dict) -> bool:
    return own.get("screen", "false").strip().lower() == "true"


def shared_overrides_hash(overrides: list, cfg=None) -> str:
    """Short hash of the overrides every job of a sweep shares (the sweep folder's name ends in it).

    A sweep with other shared settings (``trainer.epochs=50``) is another sweep: it gets its own
    folder and comparison instead of reusing jobs run with different settings. Overrides are taken in
    Hydra's canonical form and sorted; presentation-only keys (see balancelab.identity) and Hydra's own
    settings are left out, but not ``hydra.searchpath`` (where the user's own configs come from).

    A mapping setting (``balancing.overrides``) counts by the entries it ends up with: ``key={a: 1.5}`` and
    ``+key.a=1.5`` compose the same jobs, so both count as ``key.a=<a's value in cfg>``, cfg being the sweep's
    composed config (the typed value without it), written as Hydra writes a value. The ``+key.a=...`` spelling,
    the only one that worked before, keeps the text it always had, so its existing folders keep their names.
    """
    import hashlib

    from hydra.core.override_parser.overrides_parser import OverridesParser
    from omegaconf import OmegaConf

    # A key left out of the identity because another resolved key records its effect (dataset.input_size
    # sets model.input_size) still changes what is trained when it is overridden: it stays in the hash.
    SWEEP_NEUTRAL_KEYS = [k for k in PRESENTATION_KEYS if k not in RECORDED_ELSEWHERE]
    canonical = []
    mappings = mapping_settings()
    for override in OverridesParser.create().parse_overrides([o for o in overrides if not o.startswith("-")]):
        key = override.get_key_element().lstrip("+~")
        entries = _mapping_entries(override, key, mappings)
        if entries is not None:
            absent = object()
            for entry, typed in entries:
                found = OmegaConf.select(cfg, entry, default=absent) if cfg is not None else absent
                plain = OmegaConf.to_container(found) if OmegaConf.is_config(found) else found
                canonical.append(f"{entry}={value_text(typed if found is absent else plain)}")
            continue
        # hydra.* is Hydra's own bookkeeping, except the search path: another folder of the user's own
        # configs can give the same option name (model=mynet) another meaning.
        if key == "hydra.searchpath":
            canonical.append(f"{key}={override.get_value_element_as_str()}")
            continue
        if key.startswith("hydra") or any(key == p or key.startswith(p + ".") for p in SWEEP_NEUTRAL_KEYS):
            continue
        canonical.append(f"{key}={override.get_value_element_as_str()}")
    return hashlib.sha256("\n".join(sorted(canonical)).encode()).hexdigest()[:8]


def _mapping_entries(override, key: str, mappings: set) -> Optional[list]:
    """[(``setting.entry``, value as typed)] of an override that sets entries of a mapping setting, else None
    (a deletion with ``~`` keeps its own text)."""
    if override.is_delete():
        return None
    value = parsed_value(override)
    if key in mappings and isinstance(value, dict):
        return [(f"{key}.{name}", entry) for name, entry in value.items()]
    if any(key.startswith(f"{mapping}.") for mapping in mappings):
        return [(key, value)]
    return None


def composable(overrides: list) -> list:
    """The overrides the primary config can be composed with: Hydra's own settings and flags left out, but
    not ``hydra.searchpath`` (the user's own options, e.g. model=mynet, are found through it)."""
    return [a for a in overrides if not a.startswith(("hydra", "-")) or a.startswith("hydra.searchpath")]


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


def _write_ranks_locked(folders, out_dir: Path, metric: str, stale_after_s: float = 600.0) -> dict:
    from balancelab.sweep.across import write_ranks

    with FolderLock(out_dir, stale_after_s=stale_after_s, what="ranks report", advice=REPORT_ADVICE):
        return write_ranks(folders, out_dir, metric)


def _report_again_fix(exc: OutputWriteError, command: str) -> str:
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
                  exc.restated(_report_again_fix(exc, f"balance-report {sweep_dir}")))
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

            ranks = _write_ranks_locked(args.paths, args.out or default_out_dir(args.paths), args.metric)
            print((Path(ranks["out_dir"]) / RANKS_MD).read_text())
            log.info("Ranks across %d sweeps: %s", len(args.paths), Path(ranks["out_dir"]) / RANKS_MD)
    except RunLockedError as exc:
        log.error("%s", exc)
        sys.exit(EXIT_LOCKED)
    except OutputWriteError as exc:
        again = " ".join(["balance-report", *map(str, argv if argv is not None else sys.argv[1:])])
        log.error("%s", exc.restated(_report_again_fix(exc, again)))
        sys.exit(EXIT_OUTPUT_ERROR)
    except (FileNotFoundError, DataError) as exc:
        log.error("%s", exc)
        sys.exit(EXIT_USER_ERROR)
    sys.exit(max(codes))


if __name__ == "__main__":  # the per-combination child of a multi-dataset balance-sweep
    sweep()
