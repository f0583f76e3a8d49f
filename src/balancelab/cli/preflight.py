"""The command line checked before Hydra starts: every job of the command composed and validated.

A mistake anywhere — an unknown option or key, a wrong type, a value out of range, a key that belongs to
another option — ends the command with one clear message and exit code 2, before any folder is made,
any data is loaded or torch is imported. A multirun (``-m``) is expanded the way Hydra's basic sweeper
expands it, and each job is checked.
"""

from __future__ import annotations

import difflib
from typing import List, Optional, Sequence, Tuple

from balancelab.cli.compose import Job, compose_job, compose_jobs
from balancelab.cli.hydra_private import parse_hydra_arguments
from balancelab.cli.launchers import LAUNCHERS, missing_launcher_plugin
from balancelab.cli.messages import explain_composition_error
from balancelab.errors import ConfigError
from balancelab.identity import identity_hash, resolved_without_name
from balancelab.options.catalog import (config_groups, default_choices, option_keys, recipe_choices, recipe_values,
                                        recipes_brought_by_datasets)
from balancelab.options.run import Mixing
from balancelab.options.searchpath import search_folders
from balancelab.options.validate import validate

# Hydra flags that neither run jobs nor print the job's config: leave them to Hydra. (`--cfg` is checked:
# printing a config that cannot run would pass a mistake off as valid.)
_NON_RUNNING = ("info", "help", "hydra_help", "shell_completion")


def preflight(argv: Sequence[str], jobs: Optional[List[Job]] = None, screen: bool = False) -> Optional[str]:
    """None when every job of ``argv`` composes and validates; otherwise the message to print. ``jobs``: the
    command's jobs as compose_jobs(argv) gave them, when the caller has composed them already. ``screen``: the
    jobs of ``balance-sweep screen=true`` (each trains only a classifier head on the features)."""
    return check_command(argv, jobs, screen)[0]


def check_command(argv: Sequence[str], jobs: Optional[List[Job]] = None,
                  screen: bool = False) -> Tuple[Optional[str], Optional[List[Job]]]:
    """(None, or the message to print; the command's jobs, each composed once and checked, or None when the
    command runs no job or is refused before its jobs are composed). ``jobs``, ``screen``: as for :func:`preflight`."""
    args = parse_hydra_arguments(argv)
    if args is None:
        return None, None  # Hydra's own argument errors are Hydra's to report (once: it parses them again)
    if any(getattr(args, flag, None) for flag in _NON_RUNNING):
        return None, None
    if args.multirun and args.cfg:  # Hydra refuses the pair with a traceback
        return ("--cfg prints one job's config and cannot be combined with -m. Drop -m and give one value per "
                "setting (balance-run balancing=smote --cfg job); every job of the multirun is checked when it "
                "runs."), None
    launcher = next((o.split("=", 1)[1] for o in args.overrides if o.split("=", 1)[0] == "hydra/launcher"), None)
    if launcher:
        missing = missing_launcher_plugin(LAUNCHERS.get(launcher, launcher) or "")
        if missing:
            return missing, None
    try:
        jobs = compose_jobs(argv) if jobs is None else jobs
        checked = [_check_one_of([job.overrides for job in jobs], job, screen) for job in jobs]
    except ConfigError as exc:
        return str(exc), jobs
    # A setting shared by the jobs of a multirun or grid must take effect in at least one of them.
    unused = [problems for problems, _ in checked]
    if unused and all(unused):
        return unused[0][0], jobs
    return same_run_twice([job.overrides for job in jobs], [identity for _, identity in checked]), jobs


def same_run_twice(jobs: List[List[str]], identities: List[str]) -> Optional[str]:
    """Two jobs of one command that are the same run (one identity) would share one folder: the second would
    skip as "already finished" and its row would vanish from the comparison without a word."""
    first = {}
    for overrides, identity in zip(jobs, identities):
        if identity in first:
            a, b = (" ".join(_differing(first[identity], overrides, side)) for side in (0, 1))
            which = (f"{a} and {b} resolve to the same configuration" if a or b
                     else f"the job '{' '.join(overrides)}' is listed twice")
            return (f"Two jobs of this command are the same run (identity {identity}): {which}, so they would share "
                    f"one folder and one of them would silently not run. Drop one of them, or add the setting that "
                    f"tells them apart.")
        first[identity] = overrides
    return None


def _differing(a: List[str], b: List[str], side: int) -> List[str]:
    own, other = (a, b) if side == 0 else (b, a)
    return [o for o in own if o not in other]


OPTIONAL_GROUPS = ("experiment", "recipe")  # optional in the defaults list: Hydra would ignore a misspelt one


def check_optional_groups(overrides: Sequence[str]) -> None:
    """``experiment=smote_focla`` must fail, not run the baseline: Hydra skips a missing optional option."""

    for override in overrides:
        key, _, value = override.partition("=")
        key = key.lstrip("+~")
        if key not in OPTIONAL_GROUPS or not value or value == "null":
            continue
        known = set(config_groups(search_folders(overrides)).get(key, []))
        if value.endswith(".yaml"):
            value = value[:-5]
        if value not in known and not any(v.startswith(f"{value}/") for v in known):
            close = difflib.get_close_matches(value, sorted(known), n=1)
            raise ConfigError(f"{key}={value} is not a known {key}" + (f" (did you mean {key}={close[0]}?)" if close
                              else "") + f". Known: {', '.join(sorted(known)) or 'none'}.")


def _check_one_of(jobs: List[List[str]], job: Job, screen: bool = False):
    """check_job, its message naming the job when the command has several (what sets it apart from the rest)."""
    overrides = job.overrides
    try:
        return check_job(overrides, job, screen)
    except ConfigError as exc:
        own = [o for o in overrides if not all(o in other for other in jobs)]
        if len(jobs) > 1 and own:
            raise ConfigError(f"In the job {' '.join(own)} (one of {len(jobs)}): {exc}") from None
        raise


def recipe_learning_rate_problem(overrides: List[str], cfg) -> Optional[str]:
    """A recipe in effect (typed as recipe=..., or brought by the dataset, as mnist_lt brings its own) sets a
    learning rate tuned for its optimizer. Another optimizer chosen on the command line would silently train at
    that rate (sgd at mnist_lt's 0.002, not its own 0.05), so the learning rate must then be given. (The LDAM
    recipe's sgd keys already refuse adam at composition: adam has no momentum.)"""
    typed = {o.split("=", 1)[0].lstrip("+~"): o.split("=", 1)[-1] for o in overrides}
    if "optimizer" not in typed or "optimizer.lr" in typed:
        return None
    recipe = typed.get("recipe") or recipes_brought_by_datasets().get(cfg.dataset.name)
    if not recipe or recipe == "null":
        return None
    recipe_lr = recipe_values(recipe).get("optimizer", {}).get("lr")
    tuned_for = recipe_choices(recipe).get("optimizer", default_choices().get("optimizer"))
    if recipe_lr is None or cfg.optimizer.name == tuned_for:
        return None
    own = dict((key, value) for key, value, _ in option_keys("optimizer", cfg.optimizer.name,
                                                             search_folders(overrides))).get("lr")
    return (f"optimizer={cfg.optimizer.name} with recipe={recipe}: the recipe sets optimizer.lr={recipe_lr}, tuned "
            f"for {tuned_for}, and it would apply to {cfg.optimizer.name} too"
            + (f" (its own default is {own})" if own is not None else "")
            + f". Say which learning rate you mean: Fix it with optimizer.lr={own if own is not None else recipe_lr}"
            + (f" ({cfg.optimizer.name}'s own) or optimizer.lr={recipe_lr} (the recipe's)." if own is not None else "."))


def check_job(overrides: List[str], job: Optional[Job] = None, screen: bool = False):
    """Raises ConfigError for a mistake; returns (the settings this job would not use (see preflight), the job's
    identity hash). ``job``: the job already composed by compose_jobs (else it is composed here); ``screen``: a job
    of a screen (options.validate.frozen_backbone_problems)."""

    check_optional_groups(overrides)
    job = job or Job(list(overrides))
    if job.cfg is None and job.error is None:
        try:
            job.cfg, job.choices = compose_job(overrides, with_choices=True)
        except Exception as exc:
            job.error = exc
    if job.error is not None:
        raise ConfigError(explain_composition_error(job.error, overrides)) from None
    cfg, choices = job.cfg, job.choices
    # A name or experiment_name typed on the command line is the user's label, not a copied file's.
    typed = {o.split("=", 1)[0].lstrip("+~") for o in overrides}
    choices = {g: c for g, c in choices.items() if f"{g}.name" not in typed
               and not (g == "experiment" and "experiment_name" in typed)}
    job.plain = validate(cfg, choices, screen)
    recipe_problem = recipe_learning_rate_problem(overrides, cfg)
    if recipe_problem:
        raise ConfigError(recipe_problem)
    job.identity = identity_hash(resolved_without_name(cfg))

    unused = unused_preset_settings(overrides, cfg) + unused_input_size(overrides, cfg)
    return unused + Mixing.unused_settings(_plain(cfg.augmentation.mixup)), job.identity


def unused_preset_settings(overrides: Sequence[str], cfg) -> List[str]:
    """An augmentation preset (``augmentation=...``, ``augmentation.rotate.p=...``) is read only by a balancing
    technique that augments images offline; typed for one that does not, it would be accepted and ignored.
    (``augmentation.mixup.*`` is the trainer's batch mixing and applies to every technique.)"""
    typed = [o.lstrip("+~") for o in overrides]
    preset = [o for o in typed if o.split("=", 1)[0] == "augmentation"
              or (o.startswith("augmentation.") and not o.startswith("augmentation.mixup"))]
    if preset and "augmentation" not in cfg.balancing:
        return [f"'{preset[0]}' sets the offline augmentation preset, which only "
                          f"balancing=offline_augmentation uses; balancing={cfg.balancing.get('name')} would ignore it. "
                          f"Add balancing=offline_augmentation, or remove the setting (batch mixing is "
                          f"augmentation.mixup.*, online augmentation dataset.online_augmentation.*)."]
    return []


def _plain(node) -> dict:
    from omegaconf import OmegaConf

    return OmegaConf.to_container(node, resolve=True)


def unused_input_size(overrides: Sequence[str], cfg) -> List[str]:
    """``dataset.input_size`` only sets the model's default side: typed while the model's side comes from
    elsewhere (``model.input_size`` typed, or set by the model's own YAML or a recipe) it is ignored."""
    typed = {o.lstrip("+~").split("=", 1)[0] for o in overrides}
    if "dataset.input_size" not in typed:
        return []
    wanted, used = cfg.dataset.get("input_size"), cfg.model.get("input_size")
    if wanted is None or used == wanted:
        return []
    source = "model.input_size on the command line" if "model.input_size" in typed else "the model's own config"
    return [f"'dataset.input_size={wanted}' sets the side models are given on this dataset when the model does not "
            f"set its own; here {source} gives {used}, so it would be ignored. Set model.input_size={wanted} "
            f"instead, or remove dataset.input_size."]
