"""Dispatch from the ``dataset`` config to a loader; the only place that knows every dataset."""

from __future__ import annotations

from balancelab.data.dataset import DataSplits
from balancelab.errors import DataError


def load_dataset(dataset_cfg, input_size: int, cache_dir: str | None = None) -> DataSplits:
    name = dataset_cfg.name
    if name == "image_folder":
        from balancelab.data.image_folder import load_image_folder

        return load_image_folder(dataset_cfg, input_size, cache_dir)
    if name in ("mnist", "fashion_mnist", "cifar10", "cifar100"):
        from balancelab.data.torchvision_sets import load_torchvision

        return load_torchvision(dataset_cfg, input_size)
    if name == "digits_binary":
        from balancelab.data.digits import load_digits_binary

        return load_digits_binary(input_size, dataset_cfg.split_seed, dataset_cfg.val_fraction,
                                  dataset_cfg.test_fraction, dataset_cfg.positive_digit, name)
    if name in ("digits_lt",):
        from balancelab.data.digits import load_digits_lt

        return load_digits_lt(
            input_size=input_size, split_seed=dataset_cfg.split_seed,
            val_fraction=dataset_cfg.val_fraction, test_fraction=dataset_cfg.test_fraction,
            imbalance_ratio=dataset_cfg.imbalance_ratio, imbalance_profile=dataset_cfg.imbalance_profile,
            name=name,
        )
    raise DataError(f"No loader for dataset '{name}'.")
