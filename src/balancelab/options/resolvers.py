"""OmegaConf resolvers the shipped configs use."""

from __future__ import annotations

from balancelab.identity import register_resolver


def fraction_of_epochs(fraction, *, _root_) -> int:
    """``${fraction_of_epochs:0.8}``: that fraction of ``trainer.epochs``, rounded (e.g. the epoch at which
    deferred re-weighting or re-sampling starts: 160 of 200 in the LDAM-DRW protocol, 24 of 30), and at most
    ``trainer.epochs - 1``: a switch after the last epoch would never happen (2 epochs: after the first)."""
    epochs = int(_root_.trainer.epochs)
    return max(0, min(int(round(float(fraction) * epochs)), epochs - 1))


def dataset_input_size(default, *, _root_) -> int:
    """``${dataset_input_size:32}``: a model's default input side: the dataset's ``input_size`` (its images'
    native resolution decides it, e.g. 16 for the 8 x 8 digits) when it has one, else ``default``."""
    dataset = _root_.get("dataset")
    size = dataset.get("input_size") if dataset is not None else None
    return int(default) if size is None else int(size)


def feature_space_part(*, _root_) -> str:
    """``${feature_space_part:}`` in ``run_name``: ``_features_<technique>`` when the run balances in feature space
    (``feature_balancing`` set), else nothing, so that such a run's folder is told apart from the baseline's by its
    readable name and every other run keeps the name it had (the hash is of the identity, not of the name)."""
    node = _root_.get("feature_balancing")
    if node is None:
        return ""
    return f"_features_{node.get('name') or 'custom'}"


def register_resolvers() -> None:
    from omegaconf import OmegaConf

    register_resolver()
    if not OmegaConf.has_resolver("fraction_of_epochs"):
        OmegaConf.register_new_resolver("fraction_of_epochs", fraction_of_epochs)
    if not OmegaConf.has_resolver("dataset_input_size"):
        OmegaConf.register_new_resolver("dataset_input_size", dataset_input_size)
    if not OmegaConf.has_resolver("feature_space_part"):
        OmegaConf.register_new_resolver("feature_space_part", feature_space_part)
