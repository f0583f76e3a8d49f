"""``balance-sweep``: the experiment grid as a Hydra multirun (or a screen), ended by its comparison
(``report_command``); the sweep folder's name is ``sweep_naming``'s."""

from __future__ import annotations

import copy
import logging
import sys
from pathlib import Path
from typing import List, Optional

from balancelab.cli.compose import as_meant, compose_jobs
from balancelab.cli.launchers import LAUNCHERS, install_hint, missing_launcher_plugin
from balancelab.cli.messages import explain_composition_error
from balancelab.cli.preflight import preflight
# report: the balance-report console script of an install made before report_command existed imports it here.
from balancelab.cli.report_command import report, report_again_fix, sweep_report_step, write_ranks_locked  # noqa: F401
from balancelab.cli.roots import unwritable_folder
from balancelab.cli.sweep_folder import other_settings_refusal
from balancelab.cli.sweep_naming import (UNNAMED, composable, first_composed, given_sweep_dir, grid_config, name_jobs,
                                         parse_list, shared_overrides_hash, sweep_dir_of)
from balancelab.errors import (EXIT_LOCKED, EXIT_OUTPUT_ERROR, EXIT_USER_ERROR, BalancelabError, DataError,
                               OutputWriteError, RunLockedError)
from balancelab.logs import setup_logging
from balancelab.output.atomic import ensure_writable
from balancelab.output.contract import RANKS_MD
from balancelab.options.imports import importable_working_directory
from balancelab.sweep.grid import BASELINE, DEFAULT_GROUPS, experiments, select
from balancelab.task import CONFIG_PATH, run_job

log = logging.getLogger("balancelab")

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
    passthrough = as_meant(passthrough)  # `key={name: value}`, `model=timm model.name=X` (compose.py)
    lists = {k: v for k, v in _list_overrides(passthrough).items() if len(v) > 1}
    chosen_dir = given_sweep_dir(passthrough)
    if chosen_dir is not None and ("${" in chosen_dir or not chosen_dir.strip() or lists):
        log.error("%s", _sweep_dir_refusal(chosen_dir, lists))
        sys.exit(EXIT_USER_ERROR)
    if lists:
        sys.exit(_sweep_each_combination(own, passthrough, lists, flags))
    try:
        names = parse_list(own.get("experiments") or own.get("experiment") or "")
        if ("experiments" in own or "experiment" in own) and not names:
            raise ValueError("experiments=[] names no experiment. List some (experiments=[baseline,smote]) or leave "
                             "it out for the whole grid.")
        experiments = select(own.get("group"), names or None, overrides=passthrough)
        seeds = parse_list(own.get("seeds", "")) or None
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
        cfg = first_composed(jobs, experiments, passthrough)
    except Exception as exc:
        log.error("%s", explain_composition_error(exc, passthrough))
        sys.exit(EXIT_USER_ERROR)
    sweep_dir = sweep_dir_of(own, passthrough, cfg=cfg)
    name = sweep_dir.name
    named = [f"hydra.sweep.dir={sweep_dir}", f"sweep_name={name}"]
    argv = [sys.argv[0], "-m", f"experiment={','.join(experiments)}", *named, *tail]
    name_jobs(jobs, named, name)

    error = preflight(argv[1:], jobs)  # every job of the grid checked before the first one starts (--cfg too)
    if flags:  # --cfg / --info answer for the grid's first job (Hydra allows them without -m only)
        argv = [sys.argv[0], f"experiment={experiments[0]}", f"sweep_name={name}", *passthrough,
                *([f"seed={seeds[0]}"] if seeds else []), *flags]
    if not error and not flags:
        error = other_settings_refusal(sweep_dir, jobs)
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


def _sweep_dir_refusal(chosen: str, lists: dict) -> str:
    """Why ``hydra.sweep.dir=<chosen>`` cannot be the sweep's folder, and what to give instead."""
    if lists:
        return (f"hydra.sweep.dir={chosen} with {' and '.join(f'{k}=[...]' for k in lists)}: each combination is a "
                f"sweep of its own, in a folder of its own (then ranked across them), so one folder cannot hold "
                f"them. Leave hydra.sweep.dir out (the folders are named under output_root/sweeps/), or name them "
                f"with name=<prefix>.")
    return (f"hydra.sweep.dir={chosen!r}: balance-sweep makes its comparison in that folder after the jobs, so it "
            f"needs the folder itself, not an interpolation or an empty value. Give a path "
            f"(hydra.sweep.dir=outputs/sweeps/mine), or leave it out and name the sweep with name=mine.")


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
    if head and not (head[-1].strip().isdigit() and int(head[-1]) >= 1):  # checked here: no run's check sees it
        log.error("'%s' (the epochs each screened head trains) must be an integer >= 1; got %r. Fix it with "
                  "%s=10.", head_key, head[-1], head_key)
        return EXIT_USER_ERROR
    # The screen's jobs, and the baseline of each seed (its representation) when the grid has none, composed once
    # and checked by the same pre-flight as a sweep's grid.
    representation = [] if BASELINE in experiments else [BASELINE]
    argv = ["-m", f"experiment={','.join([*representation, *experiments])}", *shared,
            *([f"seed={','.join(seeds)}"] if seeds else [])]
    try:
        composed = compose_jobs(argv)
        error = preflight(argv, composed, screen=True) if composed else "the screen's command does not parse"
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
    sweep_dir = sweep_dir_of(own, passthrough, cfg=by_row[experiments[0], order[0]].cfg)
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
            found[key] = parse_list(value)
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
            folders.append(sweep_dir_of(own, [*shared, *chosen], name))
    if flags:  # each combination printed its answer; nothing ran, so there is nothing to rank
        return max(codes)
    if len(folders) >= 2:
        cfg = grid_config(select(own.get("group"), parse_list(own.get("experiments") or own.get("experiment") or "")
                                  or None, overrides=shared), shared)
        out = Path(cfg.output_root) / "sweeps" / f"{own.get('name') or 'grid'}_across_{shared_overrides_hash(shared, cfg)}"
        try:
            ranks = write_ranks_locked(folders, out, "macro_f1", cfg.lock_stale_after_s)
            print((Path(ranks["out_dir"]) / RANKS_MD).read_text())
        except DataError as exc:
            log.error("No ranks across the sweeps: %s", exc)
            codes.append(EXIT_USER_ERROR)
        except RunLockedError as exc:
            log.error("%s", exc)
            codes.append(EXIT_LOCKED)
        except OutputWriteError as exc:
            log.error("%s", exc.restated(report_again_fix(exc, f"balance-report {' '.join(map(str, folders))} "
                                                               f"--out {out}")))
            codes.append(EXIT_OUTPUT_ERROR)
    return max(codes)


if __name__ == "__main__":  # the per-combination child of a multi-dataset balance-sweep
    sweep()
