"""One validation pass over a composed config, before anything is loaded, built or written.

Hydra has already rejected unknown options (``model=shufflenet_v3``), unknown keys of built-in options and
wrong types (each option extends its typed schema). This pass adds what Hydra cannot see: the rules in the
schemas' field metadata (choices, bounds), checks across keys, mandatory values, and — for a user's own
component, which has no schema — its keys against its ``_target_``'s signature. It returns the resolved
config as plain Python data: everything below the entry points takes plain values.
"""

from __future__ import annotations

import dataclasses
import difflib
import inspect
import re
from typing import Any, Dict, List, Mapping, Optional

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import MissingMandatoryValue, OmegaConfBaseException

from balancelab.errors import ConfigError
from balancelab.options.annotations import expected_type, parameter_annotations
from balancelab.options.build import component_arguments
from balancelab.options.fields import field_default, rule_text, violates
from balancelab.options.run import Trainer
from balancelab.options.store import GROUPS, SETTINGS
from balancelab.options.targets import accepted_parameters, target_of


def validate(cfg: DictConfig, choices: Optional[Mapping[str, str]] = None, screen: bool = False) -> Dict[str, Any]:
    """The resolved config as a plain dict, or a :class:`ConfigError` listing every problem found.

    ``choices``: Hydra's ``runtime.choices`` ({group: option file name}); given, each option's ``name``
    (and a named experiment's ``experiment_name``) must be its file name. ``screen``: a job of ``balance-sweep
    screen=true``, which trains only a classifier head on the features (frozen_backbone_problems).
    """
    plain = _resolve(cfg)
    problems: List[str] = []
    for group in list(GROUPS) + list(SETTINGS):
        node = cfg.get(group)
        if node is None:
            problems.append(f"The config has no '{group}' group: add `{group}=<option>` to the command.")
            continue
        schema = OmegaConf.get_type(node)
        if dataclasses.is_dataclass(schema):
            problems += _check_fields(group, schema, plain[group])
            cross = getattr(schema, "cross_check", None)
            problems += cross(plain[group]) if cross else []
            # A built-in target takes its schema's keys (a test proves it for every shipped option); another
            # target under a built-in schema (a user's, or `_target_=` on the command line) is checked here.
            if group in GROUPS and plain[group].get("_target_") != getattr(schema, "_target_", None):
                problems += check_user_component(group, plain[group], schema)
        elif group in GROUPS:
            problems += check_user_component(group, plain[group])
    problems += _check_fields("", OmegaConf.get_type(cfg), plain, top_level=True)
    problems += names_are_file_names(plain, choices or {})
    problems += _check_combinations(cfg, plain)
    problems += _check_feature_balancing(cfg, plain, choices or {})
    problems += frozen_backbone_problems(plain, screen)
    problems = _without_echoes(cfg, problems)
    if problems:
        raise ConfigError(problems[0] if len(problems) == 1 else
                          "The config has problems:\n" + "\n".join(f"  - {p}" for p in problems))
    return plain


def _without_echoes(cfg: DictConfig, problems: List[str]) -> List[str]:
    """A bad ``dataset.input_size`` is also the model's when ``model.input_size`` takes it by interpolation
    (the shipped models: ``${dataset_input_size:32}``): report the key the user set, not its echo, whose
    suggested fix (model.input_size=...) would leave the dataset's value wrong."""
    model = cfg.get("model")
    raw = OmegaConf.to_container(model, resolve=False).get("input_size") if model is not None else None
    dataset_problem = any(p.startswith("'dataset.input_size'") for p in problems)
    if not (dataset_problem and isinstance(raw, str) and "dataset_input_size" in raw):
        return problems
    return [p for p in problems if not p.startswith("'model.input_size'")]


def _resolve(cfg: DictConfig) -> Dict[str, Any]:
    try:
        return OmegaConf.to_container(cfg, resolve=True, throw_on_missing=True)
    except MissingMandatoryValue as exc:
        key = exc.full_key
        hint = (" (dataset=image_folder needs its folder: dataset.root=/path/to/images, holding class "
                "sub-folders or train/ val/ test/ sub-folders)") if key == "dataset.root" else ""
        raise ConfigError(f"'{key}' has no value{hint}. Set it on the command line: {key}=...") from None
    except OmegaConfBaseException as exc:
        raise ConfigError(f"The config cannot be resolved at '{getattr(exc, 'full_key', '?')}': "
                          f"{str(exc).splitlines()[0]}. Run `balance-run --cfg job` to see the composed config.") from None


def _check_fields(path: str, schema: Any, values: Dict[str, Any], top_level: bool = False) -> List[str]:
    """Each field's rule from its metadata, recursively through nested dataclasses."""
    import typing

    if not dataclasses.is_dataclass(schema):
        return []
    hints = typing.get_type_hints(schema)
    problems = []
    known = [f.name for f in dataclasses.fields(schema)]
    for extra in [k for k in values if k not in known and not top_level]:  # `+group.key=...` opens the schema
        close = difflib.get_close_matches(extra, known, n=1)
        where = f"{path}.{extra}"
        chosen = values.get("name") if path in GROUPS else None
        option = f"{path}={chosen}" if chosen else "this option"
        # a key of the group's other options: the user meant one of them, so name them (the fix is to choose one)
        having = [n for n, s in GROUPS[path].schemas.items() if extra in {f.name for f in dataclasses.fields(s)}] \
            if path in GROUPS else []
        fix = (f"It is a key of {' / '.join(f'{path}={n}' for n in having)}: add {path}={having[0]} to use it, or "
               f"remove it." if having else "Remove it.")
        problems.append(f"'{where}' is not a key of {option}" + (f" (did you mean '{path}.{close[0]}'?)" if close and not having else "")
                        + f". Its keys: {', '.join(k for k in known if not k.startswith('_'))}. {fix}")
    for f in dataclasses.fields(schema):
        if f.name not in values or (top_level and (f.name in GROUPS or f.name in SETTINGS)):
            continue
        key = f"{path}.{f.name}" if path else f.name
        value, kind = values[f.name], hints.get(f.name)
        if dataclasses.is_dataclass(kind):
            problems += _check_fields(key, kind, value or {})
        elif violates(f.metadata, value):
            problems.append(_rule_message(f, key, value))
    return problems


def _rule_message(f: dataclasses.Field, key: str, value) -> str:
    # A misspelt choice (budget=step) is fixed by the closest choice, not by the default.
    words = [c for c in f.metadata.get("choices") or () if isinstance(c, str)]
    close = difflib.get_close_matches(value, words, n=1) if isinstance(value, str) else []
    return (f"'{key}' must be {rule_text(f.metadata)}; got {value!r}. Fix it with "
            f"{key}={close[0] if close else show(valid_example(f))}.")


def rule_problem(schema: type, name: str, value, key: str) -> Optional[str]:
    """The config check's message when ``value`` breaks the rule of ``schema``'s key ``name`` (None when it keeps
    it): a component that checks its argument again at run time (called from Python, not from a config) says
    exactly what the config check says."""
    f = next(f for f in dataclasses.fields(schema) if f.name == name)
    return _rule_message(f, key, value) if violates(f.metadata, value) else None


def valid_example(f: dataclasses.Field) -> Any:
    """A value that keeps the field's rule, for the fix of an error message: its default when that is valid,
    else its first choice, else a bound it allows."""
    meta = f.metadata
    default = f.default if f.default is not dataclasses.MISSING else (
        f.default_factory() if f.default_factory is not dataclasses.MISSING else None)
    gt, lt = meta.get("gt"), meta.get("lt")
    above = None if gt is None else (gt + 1 if lt is None or gt + 1 < lt else (gt + lt) / 2)
    below = None if lt is None else (lt - 1 if gt is None or lt - 1 > gt else (gt + lt) / 2)
    for candidate in (default, *(meta.get("choices") or ()), meta.get("ge"), meta.get("le"), above, below):
        usable = candidate is not None and not (isinstance(candidate, str) and "${" in candidate)
        if usable and not violates(meta, candidate):
            return candidate
    return default


def show(value: Any) -> str:
    """A value as it is typed on the command line."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


def check_user_component(group: str, node: Dict[str, Any], schema: Optional[type] = None) -> List[str]:
    """A component checked against its ``_target_``: its keys must be parameters of the target, its values
    must fit the target's annotations, and its required parameters must be given (by the node or by the
    group's contract). ``schema``: the built-in schema the option extends, whose keys the target must take."""

    try:
        target = target_of(node, group)
    except ConfigError as exc:
        return [str(exc)]
    path = node["_target_"]
    names, takes_any = accepted_parameters(target)
    arguments = {k: v for k, v in component_arguments(node, group).items() if not k.startswith("_")}
    problems = []
    unknown = sorted(set(arguments) - names) if not takes_any else []
    if unknown and schema is not None:
        are = "is not a parameter" if len(unknown) == 1 else "are not parameters"
        problems.append(f"{', '.join(f'{group}.{k}' for k in unknown)} {are} of {path}, but the option "
                        f"extends /schema/{group}/{_schema_name(group, schema)}, whose keys "
                        f"({', '.join(sorted(arguments))}) its target must take. Give the option its own keys "
                        f"(remove the schema from its defaults list) or a target that takes them.")
    else:
        for key in unknown:
            close = difflib.get_close_matches(key, sorted(names), n=1)
            problems.append(f"'{group}.{key}' is not a parameter of {path}"
                            + (f" (did you mean '{close[0]}'?)" if close else "")
                            + f". Its parameters: {', '.join(sorted(names)) or 'none'}. Remove or rename the key.")
    try:
        parameters = dict(inspect.signature(target).parameters)
    except (TypeError, ValueError):
        parameters = {}
    annotations = parameter_annotations(target)
    for key, value in sorted(arguments.items()):
        expected = expected_type(value, annotations[key]) if key in annotations and key in names else None
        if expected:
            default = parameters[key].default if key in parameters else inspect.Parameter.empty
            fix = (f" Fix it with {group}.{key}={show(default)}." if default is not inspect.Parameter.empty
                   and expected_type(default, annotations[key]) is None else "")
            problems.append(f"'{group}.{key}' must be {expected} ({path} declares "
                            f"'{key}: {inspect.formatannotation(annotations[key])}'); got {value!r}.{fix}")
    problems += runner_key_problems(group, node, schema)
    offered = set(GROUPS[group].offered)
    for p in parameters.values():
        required = p.default is p.empty and p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)
        if required and p.name not in arguments and p.name not in offered and not node.get("_partial_"):
            problems.append(f"{path} needs '{p.name}', which '{group}' does not set: add "
                            f"`{p.name}: ...` to the option's YAML file or {group}.{p.name}=... (+{group}.{p.name}"
                            f"=... on the command line).")
    return problems


def runner_key_problems(group: str, node: Dict[str, Any], schema: Optional[type]) -> List[str]:
    """The keys balancelab itself reads from a component's node (``name``; a model's ``input_size``, the side
    images are resized to) follow the group's rules for an option without a schema too."""
    problems = []
    if group == "model" and schema is None:
        size = node.get("input_size")
        if size is None:
            problems.append("model: your model's YAML has no input_size (the side images are resized to). Add "
                            "`input_size: ${dataset_input_size:32}` (the dataset's side, else 32) or a number >= 8.")
        elif isinstance(size, bool) or not isinstance(size, int) or size < 8:
            problems.append(f"'model.input_size' must be an integer >= 8 (the side images are resized to); got "
                            f"{size!r}. Fix it with model.input_size=32.")
    return problems


def _schema_name(group: str, schema: type) -> str:
    return next((name for name, s in GROUPS[group].schemas.items() if s is schema), schema.__name__)


def names_are_file_names(plain: Dict[str, Any], choices: Mapping[str, str]) -> List[str]:
    """An option's ``name`` labels its runs, folders and sweep rows: it must be the file name users type, or a
    copy (smote.yaml saved as smote_k3.yaml) would pool its runs with the original's as seeds of one setting."""
    problems = []
    for group in GROUPS:
        choice = choices.get(group)
        name = (plain.get(group) or {}).get("name")
        if choice and name != _as_name(choice):
            problems.append(f"{group}={choice} is named {name!r} (written in its YAML file or inherited from the "
                            f"schema it extends); an option's name labels its runs and sweep rows, so it must be its "
                            f"file name. Add `name: {_as_name(choice)}` to {group}/{choice}.yaml.")
    experiment = choices.get("experiment")
    if experiment and plain.get("experiment_name") != _as_name(experiment):
        problems.append(f"experiment={experiment} sets experiment_name: {plain.get('experiment_name')!r}; a named "
                        f"experiment's rows in a sweep are labelled by it, so it must be its file name. Set "
                        f"`experiment_name: {_as_name(experiment)}` in experiment/{experiment}.yaml.")
    return problems


def _as_name(choice: str) -> str:
    return choice.replace("/", "_")  # an option in a sub-folder (group/sub/option.yaml)


def _check_combinations(cfg: DictConfig, plain: Dict[str, Any]) -> List[str]:
    problems = []
    loss_schema, dataset_schema = OmegaConf.get_type(cfg.loss), OmegaConf.get_type(cfg.dataset)
    known = getattr(dataset_schema, "known_num_classes", None)
    classes = known(plain["dataset"]) if known else None
    if getattr(loss_schema, "two_classes_only", False) and classes not in (None, 2):
        problems.append(f"loss={plain['loss']['name']} is for two-class tasks; dataset={plain['dataset']['name']} has "
                        f"{classes} classes. Use loss=ce, weighted_ce or focal.")
    alpha = plain["loss"].get("alpha")
    if isinstance(alpha, list) and classes is not None and len(alpha) != classes:
        problems.append(f"'loss.alpha' lists {len(alpha)} class weights but dataset={plain['dataset']['name']} has "
                        f"{classes} classes. Give one weight per class, or loss.alpha=balanced.")
    evaluation = plain.get("evaluation", {})
    if evaluation.get("few_shot_max", 0) > evaluation.get("many_shot_min", 0):
        problems.append(f"'evaluation.few_shot_max' ({evaluation['few_shot_max']}) must not exceed "
                        f"'evaluation.many_shot_min' ({evaluation['many_shot_min']}): the shot buckets would overlap.")
    trainer = plain["trainer"]
    if trainer.get("crt_epochs") and plain["model"].get("normed_classifier"):
        problems.append("trainer.crt_epochs re-trains a final linear layer, but model.normed_classifier=true gives a "
                        "cosine classifier. Use one of them (model.normed_classifier=false for cRT).")
    if trainer.get("crt_epochs") and _one_output(loss_schema, plain["loss"]):
        problems.append(f"loss={plain['loss']['name']} makes the model output one logit, but trainer.crt_epochs "
                        f"re-trains a classifier with one output per class on class-balanced batches. Use loss=ce "
                        f"(or weighted_ce, focal) with cRT, or trainer.crt_epochs=0.")
    if trainer["epochs"]:  # (trainer.epochs=0 trains no representation: nothing switches: frozen_backbone_problems)
        problems += _starts_within_the_run(plain, trainer["epochs"])  # (trainer.steps >= epochs: Trainer.cross_check)
    return problems


def _one_output(loss_schema, loss: Dict[str, Any]) -> bool:
    """The loss makes the model output a single logit (``output_units = 1``: binary cross-entropy). A built-in
    option says so on its schema; a user's loss on its class (imported only then)."""
    if dataclasses.is_dataclass(loss_schema) and loss.get("_target_") == getattr(loss_schema, "_target_", None):
        return getattr(loss_schema, "output_units", None) == 1

    try:
        return getattr(target_of(loss, "loss"), "output_units", None) == 1
    except ConfigError:
        return False  # reported by the component check


# Epoch keys that switch something on after that many finished epochs: at trainer.epochs or later, never.
SWITCH_EPOCHS = (("loss", "drw_epoch", "re-weighting starts"), ("balancing", "start_epoch", "class-balanced batching starts"))


def _starts_within_the_run(plain: Dict[str, Any], epochs: int) -> List[str]:
    problems = []
    for group, key, what in SWITCH_EPOCHS:
        value = plain[group].get(key)
        if isinstance(value, int) and not isinstance(value, bool) and value >= epochs:
            problems.append(f"{group}.{key} ({value}) must be below trainer.epochs ({epochs}): {what} after "
                            f"{group}.{key} finished epochs, so it would never start. Set {group}.{key}="
                            f"{max(epochs - 1, 0)} or lower, or raise trainer.epochs.")
    return problems




def frozen_backbone_problems(plain: Dict[str, Any], screen: bool = False) -> List[str]:
    """``trainer.epochs=0``: no representation training, the pretrained backbone taken frozen as built. It needs
    pretrained weights (else the features would be a random network's), and a classifier head trained on the
    features afterwards: ``feature_balancing`` (``none``: a linear probe), or a screen (``screen``), whose every row
    trains one. A plain run would evaluate the backbone under its fresh, untrained classifier."""
    if plain["trainer"].get("epochs") != 0:
        return []
    model, problems = plain["model"], []
    if not (model.get("pretrained") or model.get("weights_path")):
        problems.append(f"trainer.epochs=0 trains no representation: the backbone is taken pretrained and frozen, "
                        f"and only a classifier head is trained on its features. model={model.get('name')} has no "
                        f"pretrained weights (model.pretrained={show(model.get('pretrained', False))}), so its "
                        f"features would be a random network's. Give it pretrained weights (model.pretrained=true, "
                        f"and model.weights_path=<file> for a local file; e.g. model=timm or model=resnet18), or "
                        f"train the representation: Fix it with trainer.epochs=30.")
    if not plain.get("feature_balancing") and not screen:
        problems.append("trainer.epochs=0 trains no representation (the pretrained backbone is taken frozen), so a "
                        "run must then train a classifier head on its features, but feature_balancing is null: the "
                        "run would evaluate the backbone under its fresh, untrained classifier. Add "
                        "balancing@feature_balancing=none (a linear probe on the unbalanced features) or another "
                        "technique (experiment=smote_features), or screen the grid (balance-sweep screen=true), or "
                        "train the representation with trainer.epochs >= 1.")
    balancing = (plain.get("balancing") or {}).get("name")
    if balancing not in (None, "none") and not screen:  # a screen applies each row's balancing to the features
        # The pixel-space technique shapes the representation's training only; with none, it would run (and
        # cost its time) and change nothing: the head is trained on the features of the split as it is.
        problems.append(f"trainer.epochs=0 trains no representation, so balancing={balancing} (pixel space: it "
                        f"shapes what the representation is trained on) would run and change nothing; the head "
                        f"is balanced by feature_balancing. Fix it with balancing=none (and "
                        f"balancing@feature_balancing={balancing} to balance the features), or train the "
                        f"representation with trainer.epochs >= 1.")
    return problems


def feature_space_refusal(node: Dict[str, Any]) -> Optional[str]:
    """Why the balancing option ``node`` cannot balance features (None: it can). A technique's class says so
    with ``feature_space_refusal`` (offline_augmentation: it transforms pixels); SMOTE's and ADASYN's image side
    ``feature_size`` means nothing for vectors. Also the run's own check (pipeline/feature_space.py)."""
    cls = target_of(node, "feature_balancing")
    why = getattr(cls, "feature_space_refusal", None)
    name = node.get("name")
    if why:
        return (f"feature_balancing={name} cannot balance features: {why}. Balancing in feature space takes a "
                f"technique that chooses, copies or interpolates rows (none, random_oversampling, "
                f"random_undersampling, resample_to_target, smote, adasyn, weighted_sampler, or your own). Choose "
                f"one of them (balancing@feature_balancing=smote), or use {name} in pixel space "
                f"(balancing={name}).")
    if node.get("feature_size") is not None:
        return (f"'feature_balancing.feature_size' ({node['feature_size']}) resizes images for the neighbour "
                f"search, but in feature space the rows are feature vectors, searched as they are. Remove it "
                f"(feature_balancing.feature_size=null).")
    return None


def _check_feature_balancing(cfg: DictConfig, plain: Dict[str, Any], choices: Mapping[str, str]) -> List[str]:
    """``feature_balancing``: a balancing option checked as ``balancing`` is, plus what feature space rules out;
    off (null), ``trainer.feature_head_epochs`` is not used and may not be changed - except in a sweep, where it
    is one setting for the whole grid and reaches the feature-space rows (a row without feature balancing leaves
    it out of its identity, so its run is the same run with or without it)."""
    node, trainer = plain.get("feature_balancing"), plain["trainer"]
    if node is None:
        default = field_default(Trainer, "feature_head_epochs")
        epochs = trainer.get("feature_head_epochs", default)
        if epochs != default and not plain.get("sweep_name"):
            return [f"'trainer.feature_head_epochs' ({epochs}) is used only by balancing in feature space, which is "
                    f"off (feature_balancing is null). Choose a technique (balancing@feature_balancing=smote, or "
                    f"experiment=smote_features) or remove the setting."]
        return []
    if not isinstance(node, dict) or "_target_" not in node:
        return [f"'feature_balancing' must be a balancing option, chosen with balancing@feature_balancing=<option> "
                f"(e.g. smote); got {node!r}."]
    schema = OmegaConf.get_type(cfg.feature_balancing)
    problems = []
    if dataclasses.is_dataclass(schema):
        problems += _check_fields("feature_balancing", schema, node)
        if node.get("_target_") != getattr(schema, "_target_", None):
            problems += check_user_component("balancing", node, schema)
    else:
        problems += check_user_component("balancing", node)
    problems = [re.sub(r"(?<![\w@/])balancing\.", "feature_balancing.", p) for p in problems]
    if problems:
        return problems
    try:
        refused = feature_space_refusal(node)
    except ConfigError as exc:
        return [str(exc)]
    problems += [refused] if refused else []
    choice = choices.get("balancing@feature_balancing")
    if choice and node.get("name") != _as_name(choice):
        problems.append(f"balancing@feature_balancing={choice} is named {node.get('name')!r}; an option's name "
                        f"labels its results, so it must be its file name. Add `name: {_as_name(choice)}` to "
                        f"balancing/{choice}.yaml.")
    if trainer.get("crt_epochs"):
        problems.append(f"feature_balancing={node.get('name')} and trainer.crt_epochs both re-train the trained "
                        f"model's classifier. cRT is class-balanced sampling on frozen features: in feature space it "
                        f"is feature_balancing=weighted_sampler (or random_oversampling). Use one of them "
                        f"(trainer.crt_epochs=0, or feature_balancing=null).")
    if plain["model"].get("normed_classifier"):
        problems.append("feature_balancing re-trains a final linear layer, but model.normed_classifier=true gives a "
                        "cosine classifier. Use one of them (model.normed_classifier=false).")
    if plain["loss"].get("drw_epoch"):
        problems.append(f"loss.drw_epoch={plain['loss']['drw_epoch']} starts re-weighting at an epoch of the "
                        f"representation's training, but feature_balancing re-trains the classifier with the run's "
                        f"loss for epochs of its own. Use one of them (loss.drw_epoch=null, or feature_balancing=null).")
    if _one_output(OmegaConf.get_type(cfg.loss), plain["loss"]):
        problems.append(f"loss={plain['loss']['name']} makes the model output one logit, but feature_balancing "
                        f"re-trains a classifier with one output per class. Use loss=ce (or weighted_ce, focal), or "
                        f"feature_balancing=null.")
    return problems
