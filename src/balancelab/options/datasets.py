"""Dataset options. Contract: the loader named by ``_target_`` is called with its own keys plus, where its
signature takes them, ``name``, ``input_size`` (from the model) and ``cache_dir`` (None when caching is
off); it returns a :class:`balancelab.data.dataset.DataSplits` (train / val / test images and class names).

``online_augmentation`` is read by the training loop (batched on the device), not by the loader.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar, List, Optional

from omegaconf import MISSING

from balancelab.data.group_rule import (group_keys, group_rule_problem, groups_per_class, parse_group_rule, rule_paths,
                                        too_few_groups_message, unmatched_message)
from balancelab.data.listing import scan
from balancelab.data.sources import TORCHVISION_CLASS_COUNTS, TORCHVISION_SOURCES
from balancelab.errors import DataError
from balancelab.options.fields import components, field_default, option

PROFILES = ("exponential", "step", "none")



@dataclass
class OnlineAugmentation:
    hflip: bool = option(False, "random horizontal flips (off for orientation-sensitive images such as digits)")
    vflip: bool = option(False, "random vertical flips")
    max_shift: float = option(0.0, "random translation, as a fraction of the image side", ge=0.0, le=0.5)
    max_rotation: float = option(0.0, "random rotation range in degrees (+-)", ge=0.0, le=180.0)
    scale_range: float = option(0.0, "random zoom range (+- fraction)", ge=0.0, lt=1.0)
    crop_padding: int = option(0, "random crop with zero padding: integer translation of up to this many pixels, "
                               "like torchvision RandomCrop(size, padding)", ge=0)


@dataclass
class DatasetBase:
    _target_: str = "???"
    name: str = "???"
    channels: int = option(1, "1 = grayscale, 3 = RGB (images are converted)", choices=(1, 3))
    split_seed: int = option(0, "seed of the split, fixed across runs so every experiment is scored on the same test set")
    imbalance_ratio: float = option(1.0, "long-tail ratio n_max / n_min of the training split (1 = as it is)", ge=1.0)
    imbalance_profile: str = option("none", "long-tail shape: exponential (n_i = n_max * ratio^(-i/(C-1))), step "
                                    "(two levels) or none", choices=PROFILES)
    online_augmentation: OnlineAugmentation = field(default_factory=OnlineAugmentation)
    # Read by the training assembly (like online_augmentation), not by the loader.
    normalization_mean: Optional[List[float]] = option(None, "per-channel mean the images are normalised with, in "
                                                       "[0, 1] pixel units (null: the training split's own; "
                                                       "ImageNet's for pretrained weights); set with "
                                                       "normalization_std")
    normalization_std: Optional[List[float]] = option(None, "per-channel std the images are normalised with "
                                                      "(null: the training split's own); set with normalization_mean")
    # Read by the model's default input size (resolver dataset_input_size), not by the loader.
    input_size: Optional[int] = option(None, "the image side models are given on this dataset unless model.input_size "
                                       "is set (null: the model's own default, 32); set from the images' native "
                                       "resolution", ge=8)

    @staticmethod
    def known_num_classes(node) -> Optional[int]:
        """The number of classes, when the option knows it before loading (None: known after loading)."""
        return None

    @classmethod
    def cross_check(cls, node) -> List[str]:
        problems = []
        val, test = node.get("val_fraction"), node.get("test_fraction")
        if val is not None and test is not None and val + test >= 1:
            problems.append(f"dataset.val_fraction + dataset.test_fraction must be below 1 (some images must be left "
                            f"to train on); got {val} + {test}. Lower one of them.")
        problems += _normalization_problems(node)
        ratio, own = node.get("imbalance_ratio"), field_default(cls, "imbalance_ratio")
        if node.get("imbalance_profile") == "none" and ratio not in (own, 1):
            problems.append(f"'dataset.imbalance_ratio' ({ratio:g}) shapes the training split only through a profile; "
                            f"with dataset.imbalance_profile=none it would do nothing. Set "
                            f"dataset.imbalance_profile=exponential (or step), or remove dataset.imbalance_ratio.")
        return problems


@dataclass
class FractionSplit(DatasetBase):
    val_fraction: float = option(0.2, "fraction of the images for validation (stratified)", gt=0.0, lt=1.0)
    test_fraction: float = option(0.2, "fraction of the images for test (stratified)", gt=0.0, lt=1.0)


@dataclass
class DigitsLT(FractionSplit):
    _target_: str = "balancelab.data.digits.load_digits_lt"
    name: str = "digits_lt"

    @staticmethod
    def known_num_classes(node) -> Optional[int]:
        return 10
    imbalance_ratio: float = option(10.0, "long-tail ratio n_max / n_min of the training split (1 = as it is)", ge=1.0)
    imbalance_profile: str = option("exponential", "long-tail shape: exponential, step or none", choices=PROFILES)
    online_augmentation: OnlineAugmentation = field(
        default_factory=lambda: OnlineAugmentation(max_shift=0.1, max_rotation=10.0, scale_range=0.1))


@dataclass
class MnistLT(DatasetBase):
    _target_: str = "balancelab.data.mnist_lt.load_mnist_lt"
    name: str = "mnist_lt"
    val_per_class: int = option(50, "balanced validation set: images of each class (of its 500)", ge=1)
    test_per_class: int = option(150, "balanced test set: images of each class (of its 500)", ge=1)
    imbalance_ratio: float = option(100.0, "long-tail ratio n_max / n_min of the training split (1 = as it is)",
                                    ge=1.0)
    imbalance_profile: str = option("exponential", "long-tail shape: exponential, step or none", choices=PROFILES)
    online_augmentation: OnlineAugmentation = field(
        default_factory=lambda: OnlineAugmentation(max_shift=0.1, max_rotation=10.0, scale_range=0.1))

    @staticmethod
    def known_num_classes(node) -> Optional[int]:
        return 10

    @classmethod
    def cross_check(cls, node) -> List[str]:
        problems = super().cross_check(node)
        val, test = node.get("val_per_class"), node.get("test_per_class")
        if isinstance(val, int) and isinstance(test, int) and val + test >= 500:
            problems.append(f"dataset.val_per_class + dataset.test_per_class must leave training images of the 500 "
                            f"each class of mnist_lt has; got {val} + {test}. Lower one of them.")
        return problems


@dataclass
class DigitsBinary(FractionSplit):
    _target_: str = "balancelab.data.digits.load_digits_binary"
    name: str = "digits_binary"

    @staticmethod
    def known_num_classes(node) -> Optional[int]:
        return 2
    positive_digit: int = option(0, "the digit that is the positive (minority) class digit_<d>, index 1; the other "
                                 "nine are the negative class 'other', index 0", ge=0, le=9)
    # Two classes: exponential and step both cut the positives to n_negative / ratio; ratio 1 keeps the natural
    # ~1:9. So dataset.imbalance_ratio=20 takes effect without also naming a profile.
    imbalance_profile: str = option("exponential", "long-tail shape of the training split: exponential or step (the "
                                    "same for two classes: positives = negatives / ratio) or none", choices=PROFILES)
    online_augmentation: OnlineAugmentation = field(
        default_factory=lambda: OnlineAugmentation(max_shift=0.1, max_rotation=10.0, scale_range=0.1))


@dataclass
class ImageFolder(FractionSplit):
    _target_: str = "balancelab.data.image_folder.load_image_folder"
    name: str = "image_folder"
    root: str = option(MISSING, "root/<class>/*.jpg (split here, once) or root/{train,val,test}/<class>/*")
    channels: int = option(3, "1 = grayscale, 3 = RGB (every file is converted)", choices=(1, 3))
    resize_policy: str = option("center_crop", "resize (squash to a square) or center_crop (short side, then centre)",
                                choices=("resize", "center_crop"))
    decode_workers: int = option(0, "threads decoding images (0 = one per core)", ge=0)
    val_fraction: float = option(0.15, "fraction of the images for validation", gt=0.0, lt=1.0)
    test_fraction: float = option(0.15, "fraction of the images for test", gt=0.0, lt=1.0)
    split_manifest: Optional[str] = option(None, "a CSV (source_id, split) to use instead of splitting")
    group: Optional[str] = option(None, "keep each group (video, plant, patient) in one split: null (no groups), "
                                  "folder:<N> (the first N folders below the class folder) or a regular expression "
                                  "with one capture group over the path <class>/.../<file>, e.g. "
                                  "'(clip\\d+)_frame'; every file must match")
    online_augmentation: OnlineAugmentation = field(
        default_factory=lambda: OnlineAugmentation(hflip=True, max_shift=0.05, max_rotation=10.0, scale_range=0.1))

    @classmethod
    def cross_check(cls, node) -> List[str]:
        from pathlib import Path

        problems = super().cross_check(node)
        root = Path(str(node.get("root"))).expanduser()

        rule_problem = group_rule_problem(node.get("group"))
        problems += [rule_problem] if rule_problem else []
        manifest = node.get("split_manifest")
        if not root.is_dir():
            problems.append(f"'dataset.root' must be a folder of images (root/<class>/* or root/{{train,val,test}}/"
                            f"<class>/*); {str(root)!r} {'is not a folder' if root.exists() else 'does not exist'}. "
                            f"Fix it with dataset.root=/path/to/images.")
        else:
            layout, listing, layout_problems = _image_folder_listing(root)
            problems += layout_problems
            if listing and node.get("group") is not None and not rule_problem:
                problems += _group_problems(str(node.get("group")), root, layout, listing,
                                            splits_here=layout == "classes" and not manifest)
        if manifest and not Path(str(manifest)).expanduser().is_file():
            problems.append(f"'dataset.split_manifest' must be a CSV file (source_id, split); {manifest!r} does not "
                            f"exist. Fix the path or remove it (dataset.split_manifest=null).")
        return problems


@dataclass
class TorchvisionDataset(DatasetBase):
    # one schema for every torchvision dataset's YAML (cifar10.yaml, mnist.yaml, ...), each setting its name
    schema_name: ClassVar[str] = "torchvision"
    _target_: str = "balancelab.data.torchvision_sets.load_torchvision"
    # Which torchvision dataset is read; by default the option's name (a user's cifar10_ir50 sets source: cifar10).
    source: str = option("${.name}", "the torchvision dataset read: mnist, fashion_mnist, cifar10 or cifar100",
                         choices=tuple(TORCHVISION_SOURCES))

    @staticmethod
    def known_num_classes(node) -> Optional[int]:
        return TORCHVISION_CLASS_COUNTS.get(str(node.get("source")))

    @classmethod
    def cross_check(cls, node) -> List[str]:
        from pathlib import Path

        problems = super().cross_check(node)
        root = Path(str(node.get("root"))).expanduser()
        if not node.get("download") and not root.is_dir():
            layout = TORCHVISION_SOURCES.get(str(node.get("source")), ("", "the dataset's files"))[1]
            problems.append(f"'dataset.root' must be the folder holding torchvision's {node.get('source')} files "
                            f"({str(root)}/{layout}); {str(root)!r} does not exist. Fix it with dataset.root=/path/to/"
                            f"data, or fetch the files once with dataset.download=true on a machine with a network.")
        return problems
    root: str = option("data", "folder holding torchvision's files for this dataset")
    download: bool = option(False, "let torchvision download the files (needs a network)")
    val_per_class: int = option(50, "balanced validation set: images per class, from the images the profile left unused",
                                ge=1)
    imbalance_ratio: float = option(100.0, "long-tail ratio n_max / n_min of the training split (1 = as it is)", ge=1.0)
    imbalance_profile: str = option("exponential", "long-tail shape: exponential, step or none", choices=PROFILES)


def _normalization_problems(node) -> List[str]:
    """Fixed statistics come as a pair, one finite value per image channel, the stds above 0."""
    import math

    mean, std = node.get("normalization_mean"), node.get("normalization_std")
    if mean is None and std is None:
        return []
    if mean is None or std is None:
        given = "normalization_mean" if std is None else "normalization_std"
        return [f"'dataset.{given}' is set alone: set both dataset.normalization_mean and "
                f"dataset.normalization_std (one value per channel), or neither (the training split's statistics)."]
    channels, problems = node.get("channels"), []
    for key, values in (("normalization_mean", mean), ("normalization_std", std)):
        if channels is not None and len(values) != channels:
            problems.append(f"'dataset.{key}' needs {channels} value per channel{'s' if channels != 1 else ''} "
                            f"(dataset.channels={channels}); got {list(values)}. Give {channels} number(s).")
        elif not all(isinstance(v, (int, float)) and math.isfinite(v) for v in values):
            problems.append(f"'dataset.{key}' must hold finite numbers; got {list(values)}.")
        elif key == "normalization_std" and not all(v > 0 for v in values):
            problems.append(f"'dataset.normalization_std' values must be above 0 (each channel is divided by its "
                            f"std); got {list(values)}.")
    return problems


def _image_folder_listing(root):
    """(layout, listing, problems): the image_folder loader's own listing of ``root`` (class folders holding image
    files), without decoding a file or making a folder: an unusable root fails here, before anything runs."""

    try:
        layout, listing = scan(root)
    except DataError as exc:
        return None, None, [f"'dataset.root' ({str(root)!r}) cannot be used: {exc} Fix it with dataset.root=/path/"
                            f"to/images (root/<class>/*.jpg, or root/{{train,val,test}}/<class>/*)."]
    return layout, listing, []


def _group_problems(text: str, root, layout: str, listing, splits_here: bool) -> List[str]:
    """``dataset.group`` applied to the listing: files it gives no group, and (when balancelab makes the split)
    classes in fewer groups than train, val and test need. The loader checks both again after decoding (an
    unusable file can take a class's group away; groups sharing an identical file are merged)."""

    rule = parse_group_rule(text)
    entries = [entry for split in listing for entry in listing[split]]
    seen = rule_paths([path for path, _ in entries], root, layout == "presplit")
    keys = group_keys(rule, seen)
    problem = unmatched_message(rule, seen, keys)
    if problem is None and splits_here:
        problem = too_few_groups_message(text, groups_per_class(keys, [cls for _, cls in entries]))
    return [problem] if problem else []


SCHEMAS = components(globals(), DatasetBase)
