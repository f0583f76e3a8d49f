"""Typed schema of the composed config, checked before any data is loaded.

Hydra already rejects unknown group options (``model=shufflenet_v3``) and unknown keys
(``trainer.epohcs=3``: the composed config is in struct mode). What it cannot see is a wrong
type or an invalid choice inside a plain YAML option, so each group option has a dataclass here
and :func:`validate` merges the composed node into it. The config groups stay the registry of
options; this module only types them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from balancelab.errors import ConfigError


# --- model -------------------------------------------------------------------------------
@dataclass
class ModelConfig:
    name: str = "shufflenet_v2"
    width: float = 1.0
    input_size: int = 32
    small_input: str = "auto"
    pretrained: bool = False
    weights_path: Optional[str] = None
    dropout: float = 0.0


# --- dataset -----------------------------------------------------------------------------
@dataclass
class OnlineAugmentationConfig:
    hflip: bool = False
    vflip: bool = False
    max_shift: float = 0.0
    max_rotation: float = 0.0
    scale_range: float = 0.0


@dataclass
class DatasetBase:
    """Keys every dataset shares: channels, the fixed split, the long-tail profile, on-device augmentation."""

    name: str = "digits_lt"
    channels: int = 1
    split_seed: int = 0
    val_fraction: float = 0.2
    imbalance_ratio: float = 1.0
    imbalance_profile: str = "none"
    online_augmentation: OnlineAugmentationConfig = field(default_factory=OnlineAugmentationConfig)


@dataclass
class DigitsConfig(DatasetBase):
    test_fraction: float = 0.2
    imbalance_ratio: float = 10.0
    imbalance_profile: str = "exponential"


@dataclass
class DigitsBinaryConfig(DatasetBase):
    name: str = "digits_binary"
    positive_digit: int = 0
    test_fraction: float = 0.2


@dataclass
class ImageFolderConfig(DatasetBase):
    name: str = "image_folder"
    root: str = "???"
    channels: int = 3
    resize_policy: str = "center_crop"
    decode_workers: int = 0
    val_fraction: float = 0.15
    test_fraction: float = 0.15
    split_manifest: Optional[str] = None


@dataclass
class TorchvisionDatasetConfig(DatasetBase):
    name: str = "cifar10"
    root: str = "data"
    download: bool = False
    channels: int = 3
    val_fraction: float = 0.1
    imbalance_ratio: float = 100.0
    imbalance_profile: str = "exponential"


# --- balancing ---------------------------------------------------------------------------
@dataclass
class NoBalancingConfig:
    name: str = "none"


@dataclass
class RandomOversamplingConfig:
    name: str = "random_oversampling"
    sampling_strategy: Any = "auto"


@dataclass
class SmoteConfig:
    name: str = "smote"
    sampling_strategy: Any = "auto"
    k_neighbors: int = 5
    feature_size: Optional[int] = None
    knn_backend: str = "auto"


@dataclass
class AdasynConfig:
    name: str = "adasyn"
    sampling_strategy: Any = "auto"
    n_neighbors: int = 5
    feature_size: Optional[int] = None
    knn_backend: str = "auto"


@dataclass
class OfflineAugmentationConfig:
    name: str = "offline_augmentation"
    sampling_strategy: Any = "auto"


@dataclass
class RandomUndersamplingConfig:
    name: str = "random_undersampling"
    target_per_class: Optional[int] = None
    overrides: Dict[str, Any] = field(default_factory=dict)


@dataclass
class ResampleToTargetConfig:
    name: str = "resample_to_target"
    target_per_class: Optional[int] = None
    overrides: Dict[str, Any] = field(default_factory=dict)
    oversampler: str = "random"
    k_neighbors: int = 5
    feature_size: Optional[int] = None
    knn_backend: str = "auto"


# --- augmentation presets (used by offline_augmentation) ---------------------------------
@dataclass
class ProbabilityOnly:
    p: float = 0.0


@dataclass
class RotateConfig:
    p: float = 0.0
    max_degrees: float = 0.0


@dataclass
class ShiftScaleConfig:
    p: float = 0.0
    max_shift: float = 0.0
    scale_range: float = 0.0


@dataclass
class BrightnessContrastConfig:
    p: float = 0.0
    brightness: float = 0.0
    contrast: float = 0.0


@dataclass
class HueSaturationConfig:
    p: float = 0.0
    hue: float = 0.0
    saturation: float = 0.0


@dataclass
class BlurConfig:
    p: float = 0.0
    max_kernel: int = 3


@dataclass
class NoiseConfig:
    p: float = 0.0
    std: float = 0.0


@dataclass
class AugmentationConfig:
    name: str = "default"
    hflip: ProbabilityOnly = field(default_factory=ProbabilityOnly)
    vflip: ProbabilityOnly = field(default_factory=ProbabilityOnly)
    rotate: RotateConfig = field(default_factory=RotateConfig)
    shift_scale: ShiftScaleConfig = field(default_factory=ShiftScaleConfig)
    brightness_contrast: BrightnessContrastConfig = field(default_factory=BrightnessContrastConfig)
    hue_saturation: HueSaturationConfig = field(default_factory=HueSaturationConfig)
    blur: BlurConfig = field(default_factory=BlurConfig)
    noise: NoiseConfig = field(default_factory=NoiseConfig)


# --- loss --------------------------------------------------------------------------------
@dataclass
class CrossEntropyConfig:
    name: str = "ce"
    label_smoothing: float = 0.0


@dataclass
class WeightedCrossEntropyConfig:
    name: str = "weighted_ce"
    weighting: str = "inverse_frequency"
    beta: float = 0.999
    label_smoothing: float = 0.0


@dataclass
class BceConfig:
    name: str = "bce"
    # null: no weighting; "auto": n_negative / n_positive from the training counts; or a number.
    pos_weight: Any = None


@dataclass
class FocalConfig:
    name: str = "focal"
    gamma: float = 2.0
    alpha: Any = None


# --- optimisation ------------------------------------------------------------------------
@dataclass
class OptimizerConfig:
    name: str = "adam"
    lr: float = 5e-4
    weight_decay: float = 1e-4
    momentum: float = 0.9


@dataclass
class StepSchedulerConfig:
    name: str = "step"
    step_size: int = 15
    gamma: float = 0.5
    warmup_epochs: int = 0
    min_lr: float = 0.0


@dataclass
class CosineSchedulerConfig:
    name: str = "cosine"
    min_lr: float = 0.0
    warmup_epochs: int = 1


@dataclass
class NoSchedulerConfig:
    name: str = "none"
    warmup_epochs: int = 0
    min_lr: float = 0.0


@dataclass
class TrainerConfig:
    epochs: int = 30
    batch_size: int = 32
    device: str = "auto"
    amp: bool = True
    early_stopping_patience: int = 10
    deterministic: bool = False
    num_threads: int = 0
    grad_clip_norm: Optional[float] = None
    progress: str = "auto"


# --- logger ------------------------------------------------------------------------------
@dataclass
class NoLoggerConfig:
    name: str = "none"


@dataclass
class WandbConfig:
    name: str = "wandb"
    mode: str = "auto"
    project: str = "balancelab"
    entity: Optional[str] = None
    group: Optional[str] = None
    tags: List[str] = field(default_factory=list)


@dataclass
class EvaluationConfig:
    many_shot_min: int = 100
    few_shot_max: int = 20
    calibration_bins: int = 15
    # Binary tasks: how the operating threshold is chosen on the validation split (youden | f1).
    threshold_metric: str = "youden"


# For a group whose options differ in their keys, the option's ``name`` picks the dataclass.
OPTION_SCHEMAS: Dict[str, Dict[str, type]] = {
    "dataset": {"digits_lt": DigitsConfig, "digits_binary": DigitsBinaryConfig, "image_folder": ImageFolderConfig,
                "mnist": TorchvisionDatasetConfig, "fashion_mnist": TorchvisionDatasetConfig,
                "cifar10": TorchvisionDatasetConfig, "cifar100": TorchvisionDatasetConfig},
    "balancing": {
        "none": NoBalancingConfig,
        "weighted_sampler": NoBalancingConfig,
        "random_oversampling": RandomOversamplingConfig,
        "smote": SmoteConfig,
        "adasyn": AdasynConfig,
        "offline_augmentation": OfflineAugmentationConfig,
        "random_undersampling": RandomUndersamplingConfig,
        "resample_to_target": ResampleToTargetConfig,
    },
    "loss": {"ce": CrossEntropyConfig, "weighted_ce": WeightedCrossEntropyConfig, "focal": FocalConfig,
             "bce": BceConfig},
    "scheduler": {"step": StepSchedulerConfig, "cosine": CosineSchedulerConfig, "none": NoSchedulerConfig},
    "logger": {"none": NoLoggerConfig, "wandb": WandbConfig},
}
# Groups whose options all share one shape.
GROUP_SCHEMAS: Dict[str, type] = {
    "model": ModelConfig,
    "augmentation": AugmentationConfig,
    "optimizer": OptimizerConfig,
    "trainer": TrainerConfig,
    "evaluation": EvaluationConfig,
}
TOP_LEVEL_TYPES: Dict[str, type] = {
    "seed": int, "overwrite": bool, "output_root": str, "cache_dir": str, "use_cache": bool, "run_name": str,
    "experiment_name": str, "experiment_group": str,
}
# String fields limited to a fixed set of values: dotted path -> allowed values.
CHOICES: Dict[str, tuple] = {
    "model.name": ("shufflenet_v2", "shufflenet_v2_x0_5", "resnet18", "mobilenet_v3_small",
                   "mobilenet_v3_large", "small_cnn"),
    "model.small_input": ("auto", "true", "false"),
    "dataset.imbalance_profile": ("exponential", "step", "none"),
    "loss.weighting": ("inverse_frequency", "effective_number"),
    "optimizer.name": ("adam", "adamw", "sgd"),
    "trainer.progress": ("auto", "bar", "log"),
    "logger.mode": ("auto", "online", "offline", "disabled"),
    "balancing.knn_backend": ("auto", "sklearn", "torch"),
    "balancing.oversampler": ("random", "smote"),
    "dataset.resize_policy": ("resize", "center_crop"),
    "dataset.channels": ("1", "3"),
    "evaluation.threshold_metric": ("youden", "f1"),
}


def _typed_node(path: str, schema: type, node: Any) -> DictConfig:
    try:
        return OmegaConf.merge(OmegaConf.structured(schema), node)
    except OmegaConfBaseException as exc:
        key = getattr(exc, "full_key", None) or getattr(exc, "key", None) or "?"
        reason = str(exc).split("\n")[0]
        raise ConfigError(
            f"Invalid config value at '{path}.{key}': {reason}. "
            f"Fix the override or the YAML file (run `balance-run --cfg job` to see the composed config)."
        ) from None


def validate(cfg: DictConfig) -> DictConfig:
    """Return a typed copy of ``cfg`` or raise :class:`ConfigError` naming the bad key."""
    typed = OmegaConf.create({})
    for group, options in OPTION_SCHEMAS.items():
        node = cfg.get(group)
        if node is None:
            raise ConfigError(f"The config has no '{group}' group; add `{group}=<option>` to the command.")
        name = node.get("name")
        if name not in options:
            raise ConfigError(
                f"'{group}.name' is '{name}', which is not a known {group}. Valid: {', '.join(sorted(options))}."
            )
        typed[group] = _typed_node(group, options[name], node)
    for group, schema in GROUP_SCHEMAS.items():
        typed[group] = _typed_node(group, schema, cfg.get(group, {}))
    for key, kind in TOP_LEVEL_TYPES.items():
        value = cfg.get(key)
        if kind is bool and not isinstance(value, bool):
            raise ConfigError(f"'{key}' must be true or false, got {value!r}.")
        if kind is int and (isinstance(value, bool) or not isinstance(value, int)):
            raise ConfigError(f"'{key}' must be an integer, got {value!r}.")
        typed[key] = value
    for key in cfg:
        if key not in typed:
            typed[key] = cfg[key]  # extra top-level entries (e.g. sweep bookkeeping) pass through
    if typed.dataset.name == "image_folder" and OmegaConf.is_missing(typed.dataset, "root"):
        raise ConfigError("dataset=image_folder needs its folder: add dataset.root=/path/to/images "
                          "(class sub-folders, or train/ val/ test/ sub-folders).")
    if typed.loss.name == "bce" and typed.dataset.name not in ("digits_binary", "image_folder"):
        raise ConfigError(f"loss=bce is for two-class tasks; dataset={typed.dataset.name} is not one. "
                          f"Use loss=ce, weighted_ce or focal.")
    for dotted, allowed in CHOICES.items():
        value = OmegaConf.select(typed, dotted)
        if value is not None and str(value).lower() not in allowed:
            raise ConfigError(f"'{dotted}' is {value!r}; valid values: {', '.join(allowed)}.")
    _check_ranges(typed)
    return typed


def _check_ranges(cfg: DictConfig) -> None:
    rules = [
        (cfg.trainer.epochs >= 1, "trainer.epochs", "at least 1"),
        (cfg.trainer.batch_size >= 1, "trainer.batch_size", "at least 1"),
        (cfg.model.input_size >= 8, "model.input_size", "at least 8 pixels"),
        (cfg.optimizer.lr > 0, "optimizer.lr", "positive"),
        (0 < cfg.dataset.val_fraction < 1 and 0 < cfg.dataset.get("test_fraction", 0.5) < 1
         and cfg.dataset.val_fraction + cfg.dataset.get("test_fraction", 0.0) < 1,
         "dataset.val_fraction/test_fraction", "each in (0, 1) and together below 1"),
        (cfg.dataset.imbalance_ratio >= 1, "dataset.imbalance_ratio", "at least 1 (1 = no imbalance)"),
    ]
    for ok, key, rule in rules:
        if not ok:
            raise ConfigError(f"'{key}' must be {rule}; got {OmegaConf.select(cfg, key.split('/')[0])!r}.")


def to_plain(cfg: DictConfig) -> dict:
    """The resolved config as plain Python types (for JSON, checkpoints and loggers)."""
    return OmegaConf.to_container(cfg, resolve=True, throw_on_missing=False)
