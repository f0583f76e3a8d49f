"""torchvision and timm classifiers adapted to the dataset: class count, input channels, small inputs."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Optional

import torch
from torch import nn
from torchvision import models as tvm

from balancelab.backbones.cifar_resnet import NormedLinear
from balancelab.errors import ConfigError
from balancelab.options.models import timm_architecture_problem


class SmallCNN(nn.Module):
    """Three conv blocks and a linear head: enough for 8-32 px images, fast on a CPU."""

    def __init__(self, *, num_classes: int, in_channels: int, width: float, dropout: float,
                 normed_classifier: bool = False):
        super().__init__()
        c1, c2, c3 = (max(8, int(round(w * width))) for w in (32, 64, 128))

        def block(cin, cout):
            return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout),
                                 nn.ReLU(inplace=True), nn.Conv2d(cout, cout, 3, padding=1, bias=False),
                                 nn.BatchNorm2d(cout), nn.ReLU(inplace=True), nn.MaxPool2d(2))

        self.features = nn.Sequential(block(in_channels, c1), block(c1, c2), block(c2, c3))
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(dropout),
                                  classifier(c3, num_classes, normed_classifier))

    def forward(self, x):
        return self.head(self.features(x))


def _use_small_stem(small_input: str, input_size: int) -> bool:
    setting = str(small_input).lower()
    return input_size < 64 if setting == "auto" else setting == "true"


def _replace_first_conv(conv: nn.Conv2d, in_channels: int, stride: int, notes: list) -> nn.Conv2d:
    """A copy of ``conv`` taking ``in_channels`` inputs; pretrained RGB filters are summed for 1 channel.

    The small-input stem needs a 3x3 kernel: a larger pretrained kernel (resnet18's 7x7) cannot be
    copied into it, so that layer starts from a fresh initialisation, which ``notes`` records.
    """
    kernel = (3, 3) if stride == 1 else conv.kernel_size
    padding = 1 if stride == 1 else conv.padding
    new = nn.Conv2d(in_channels, conv.out_channels, kernel, stride=stride, padding=padding, bias=conv.bias is not None)
    if kernel != tuple(conv.kernel_size):
        notes.append(f"the first convolution ({conv.kernel_size[0]}x{conv.kernel_size[1]}, stride "
                     f"{conv.stride[0]}) became a 3x3 stride-1 convolution for small inputs and is freshly "
                     f"initialised: its pretrained weights are not used")
    else:
        with torch.no_grad():
            w = conv.weight
            if in_channels == w.shape[1]:
                new.weight.copy_(w)
            elif in_channels == 1:
                new.weight.copy_(w.sum(dim=1, keepdim=True))
            else:
                new.weight.copy_(w.mean(dim=1, keepdim=True).repeat(1, in_channels, 1, 1) * (3.0 / in_channels))
            if conv.bias is not None:
                new.bias.copy_(conv.bias)
    return new


def classifier(in_features: int, num_classes: int, normed: bool) -> nn.Module:
    """The final layer: linear, or the cosine classifier LDAM is meant for (logits in [-1, 1])."""
    if normed:
        return NormedLinear(in_features, num_classes)
    return nn.Linear(in_features, num_classes)


def _adapt(model: nn.Module, num_classes: int, in_channels: int, small: bool, dropout: float, notes: list,
           normed: bool = False) -> nn.Module:
    """The first convolution takes ``in_channels`` (stride 1 for small inputs, and the stem's max-pool
    goes); the last linear layer gives ``num_classes`` logits behind a dropout of rate ``dropout``.

    Found by the network's structure, not its name: the first ``Conv2d`` and the last ``Linear`` of
    ``model.modules()``. A dropout just before that layer (MobileNet V3's) gets the configured rate;
    a network without one (ResNet, ShuffleNet) gets ``Sequential(Dropout, classifier)`` in its place.
    """
    stride = 1 if small else 2
    stem, first_conv = next((n, m) for n, m in model.named_modules() if isinstance(m, nn.Conv2d))
    _replace(model, stem, _replace_first_conv(first_conv, in_channels, stride, notes))
    if small and isinstance(getattr(model, "maxpool", None), nn.MaxPool2d):
        model.maxpool = nn.Identity()
    head, last = [(n, m) for n, m in model.named_modules() if isinstance(m, nn.Linear)][-1]
    parent_name, _, leaf = head.rpartition(".")
    parent = model.get_submodule(parent_name)
    before = _sibling_before(parent, leaf)
    new_head = classifier(last.in_features, num_classes, normed)
    if isinstance(before, nn.Dropout):
        _replace(model, head, new_head)
        _replace(model, f"{parent_name}.{_previous_name(parent, leaf)}".lstrip("."), nn.Dropout(dropout))
    else:
        _replace(model, head, nn.Sequential(nn.Dropout(dropout), new_head))
    return model


def _replace(model: nn.Module, dotted: str, module: nn.Module) -> None:
    parent_name, _, leaf = dotted.rpartition(".")
    setattr(model.get_submodule(parent_name), leaf, module)


def _previous_name(parent: nn.Module, leaf: str) -> Optional[str]:
    names = [n for n, _ in parent.named_children()]
    at = names.index(leaf)
    return names[at - 1] if isinstance(parent, nn.Sequential) and at > 0 else None


def _sibling_before(parent: nn.Module, leaf: str) -> Optional[nn.Module]:
    """The layer just before ``leaf`` in a Sequential parent (None elsewhere: no order to rely on)."""
    name = _previous_name(parent, leaf)
    return getattr(parent, name) if name is not None else None


def pretrained_state(architecture: str, weights_path: Optional[str]) -> dict:
    """torchvision's weights from a given file or the local torch cache; never downloaded."""
    weights = tvm.get_model_weights(architecture).DEFAULT
    if weights_path:
        path = Path(weights_path).expanduser()
        if not path.is_file():
            raise ConfigError(f"model.weights_path={weights_path} does not exist. Point it to a .pth file of "
                              f"{architecture} weights.")
    else:
        filename = weights.url.rsplit("/", 1)[-1]
        path = Path(torch.hub.get_dir()) / "checkpoints" / filename
        if not path.is_file():
            raise ConfigError(
                f"Pretrained weights for {architecture} are not available offline: {path} does not exist. "
                f"Download {weights.url} into {path.parent} on a machine with a network "
                f"(e.g. python -c \"import torchvision; torchvision.models.{architecture}(weights='DEFAULT')\"), "
                f"or give model.weights_path=..., or use model.pretrained=false."
            )
    return torch.load(path, map_location="cpu", weights_only=True)


def torchvision_classifier(*, architecture: str, num_classes: int, in_channels: int, input_size: int,
                           small_input: str = "auto", pretrained: bool = False, weights_path: Optional[str] = None,
                           dropout: float = 0.0, normed_classifier: bool = False) -> nn.Module:
    """torchvision's ``architecture`` (a ``torchvision.models`` builder name, from the option's YAML) with the
    dataset's classes and channels, and a small-input stem below 64 px.

    ``build_notes`` on the model lists what the adaptation cost a pretrained model (logged, and kept in
    the run's summary).
    """
    available = tvm.list_models(module=tvm)
    if architecture not in available:
        import difflib

        close = difflib.get_close_matches(architecture, available, n=3)
        raise ConfigError(f"model.architecture={architecture} is not a torchvision classification model"
                          + (f" (did you mean {', '.join(close)}?)" if close else "")
                          + ". See torchvision.models.list_models(module=torchvision.models).")
    model = tvm.get_model(architecture, weights=None)
    notes: list = []
    if pretrained:
        model.load_state_dict(pretrained_state(architecture, weights_path))
    else:
        notes = _DiscardNotes()  # nothing pretrained to lose
    model = _adapt(model, num_classes, in_channels, _use_small_stem(small_input, input_size), dropout, notes,
                   normed_classifier)
    model.build_notes = list(notes)
    return model


SHUFFLENET_PREFIX = "shufflenet_v2_x"  # torchvision names each width's builder shufflenet_v2_x<width, . as _>


def shufflenet_v2(*, num_classes: int, in_channels: int, input_size: int, width: float = 1.0,
                  small_input: str = "auto", pretrained: bool = False, weights_path: Optional[str] = None,
                  dropout: float = 0.0, normed_classifier: bool = False) -> nn.Module:
    """ShuffleNet V2 at channel width ``width``: torchvision's ``shufflenet_v2_x<width>``."""
    architecture = f"{SHUFFLENET_PREFIX}{float(width):.1f}".replace(".", "_")
    builders = [n for n in tvm.list_models(module=tvm) if n.startswith(SHUFFLENET_PREFIX)]
    if architecture not in builders:
        widths = sorted(float(n[len(SHUFFLENET_PREFIX):].replace("_", ".")) for n in builders)
        raise ConfigError(f"model.width={width} is not available for shufflenet_v2; valid widths: {widths}.")
    return torchvision_classifier(architecture=architecture, num_classes=num_classes, in_channels=in_channels,
                                  input_size=input_size, small_input=small_input, pretrained=pretrained,
                                  weights_path=weights_path, dropout=dropout, normed_classifier=normed_classifier)


# Shorthands for code, and the targets of checkpoints written before model.architecture existed.
resnet18 = functools.partial(torchvision_classifier, architecture="resnet18")
mobilenet_v3_small = functools.partial(torchvision_classifier, architecture="mobilenet_v3_small")
mobilenet_v3_large = functools.partial(torchvision_classifier, architecture="mobilenet_v3_large")


def timm_classifier(*, architecture: str, num_classes: int, in_channels: int, input_size: int,
                    small_input: str = "auto", pretrained: bool = False, weights_path: Optional[str] = None,
                    drop_path_rate: float = 0.0, dropout: float = 0.0, normed_classifier: bool = False) -> nn.Module:
    """timm's ``architecture`` (``pip install "balancelab[timm]"``) with the dataset's classes and channels.

    timm itself adapts the classes (``num_classes``: a pretrained classifier is dropped) and the channels
    (``in_chans``: pretrained RGB filters summed for one channel); ``dropout`` is timm's ``drop_rate``. A model
    that takes ``img_size`` (vision transformers) gets its patch grid sized to ``input_size``; a convolutional
    one gets the torchvision models' small-input stem below 64 px (stride-1 first convolution, no max-pool).
    The module names stay timm's, so ``best_model.pt``'s state dict loads into ``timm.create_model``.

    ``pretrained``: weights from ``weights_path`` or timm's cache (downloaded into it once, unless
    ``HF_HUB_OFFLINE=1``); ``pretrained_normalization`` on the model then holds the weights' mean and std (read by
    the run instead of the training split's statistics). ``build_notes``: what the adaptation cost them.
    """
    problem = timm_architecture_problem(architecture)
    if problem:
        raise ConfigError(problem)
    import timm  # deferred: an optional extra, seconds to import

    kwargs: dict = {"num_classes": num_classes, "in_chans": in_channels}
    if dropout:
        kwargs["drop_rate"] = float(dropout)
    if drop_path_rate:
        kwargs["drop_path_rate"] = float(drop_path_rate)
    if pretrained:
        kwargs.update(_timm_weights_source(timm, architecture, weights_path))
    try:
        model, sized = _create_timm(timm, architecture, pretrained, weights_path, kwargs, input_size)
    except (ConfigError, TypeError):
        raise
    except Exception as exc:  # noqa: BLE001 - a patch grid of nothing fails in the constructor (test_vit_relpos at 8 px)
        raise _input_size_error(timm, architecture, in_channels, input_size, kwargs, small_input, exc) or exc
    sized = sized and _fixes_img_size(timm, architecture, kwargs, model)
    notes: list = [] if pretrained else _DiscardNotes()  # what the adaptation cost pretrained weights
    kept: list = []
    if not sized and _use_small_stem(small_input, input_size):
        _timm_small_stem(model, notes)
        if _forward_fails(model, in_channels, input_size) is not None:
            # a stem of parallel branches (fastvit's MobileOne block) does not run with one stride-1 convolution:
            # its own stem is kept when that one runs at this side (else the input-size check below says why)
            own, _ = _create_timm(timm, architecture, pretrained, weights_path, kwargs, input_size)
            if _forward_fails(own, in_channels, input_size) is None:
                model, notes = own, ([] if pretrained else _DiscardNotes())
                kept.append(f"model.small_input is not applied to {architecture}: its stem does not run with a "
                            f"stride-1 first convolution, so it keeps its own")
    elif sized and str(small_input).lower() == "true":
        kept.append(f"model.small_input=true is not applied to {architecture}: it takes img_size, so its patch "
                    f"grid is sized to model.input_size={input_size} instead")
    if normed_classifier:
        _timm_normed_classifier(model, architecture, num_classes)
    _check_input_size(timm, model, architecture, in_channels, input_size, kwargs, small_input)
    if pretrained:
        config = timm.data.resolve_data_config({}, model=model)
        model.pretrained_normalization = _per_channel(config["mean"], config["std"], in_channels)
    model.build_notes = kept + list(notes)
    return model


def _shapes(model: nn.Module) -> dict:
    return {**{k: tuple(v.shape) for k, v in model.named_parameters()},
            **{k: tuple(v.shape) for k, v in model.named_buffers()}}


def _fixes_img_size(timm, architecture: str, kwargs: dict, model: nn.Module) -> bool:
    """Whether the ``img_size`` a timm model accepted fixes anything: a patch grid, position embeddings, attention
    biases or masks, i.e. a parameter or buffer whose shape depends on it. Some CNNs (repvit, mobilevit) take
    ``img_size`` and change nothing with it; they are convolutional models (the small-input stem applies). Two
    builds on the meta device (no memory, no weights) at the model's default side and twice it decide; a model
    that cannot be built there keeps its img_size."""
    side = int((getattr(model, "pretrained_cfg", None) or {}).get("input_size", (3, 224, 224))[-1])
    plain = {k: v for k, v in kwargs.items() if k != "pretrained_cfg_overlay"}
    try:
        shapes = [_shapes(timm.create_model(architecture, pretrained=False, img_size=s, device="meta", **plain))
                  for s in (side, 2 * side)]
    except Exception:  # noqa: BLE001 - no meta build for it: it took img_size, so it keeps it
        return True
    return shapes[0] != shapes[1]


def _forward_fails(model: nn.Module, in_channels: int, side: int) -> Optional[Exception]:
    was_training = model.training
    try:
        with torch.no_grad():
            model.eval()(torch.zeros(1, in_channels, side, side))
    except Exception as exc:  # noqa: BLE001 - torch and timm raise whatever a too small map makes them raise
        return exc
    finally:
        model.train(was_training)
    return None


def _runs_at(timm, architecture: str, in_channels: int, side: int, kwargs: dict, small_input: str) -> bool:
    """Whether ``architecture`` (unpretrained, adapted as timm_classifier adapts it) runs at ``side``."""
    try:
        probe, sized = _create_timm(timm, architecture, False, None, kwargs, side)
    except Exception:  # noqa: BLE001 - not buildable at this side either
        return False
    if _forward_fails(probe, in_channels, side) is None:
        return True  # (with the small-input stem, if it applies, or else its own: timm_classifier keeps one that runs)
    if sized or not _use_small_stem(small_input, side):
        return False
    _timm_small_stem(probe, _DiscardNotes())  # downsamples less
    return _forward_fails(probe, in_channels, side) is None


def _check_input_size(timm, model: nn.Module, architecture: str, in_channels: int, input_size: int,
                      kwargs: dict, small_input: str = "auto") -> None:
    """One forward pass of a blank image at ``input_size``: an architecture that downsamples more than the side
    allows (a pooling window larger than what is left, a window partition of nothing) fails here with the key to
    change, not in the first training step with torch's or timm's own message."""
    failure = _forward_fails(model, in_channels, input_size)
    if failure is None:
        return
    raise _input_size_error(timm, architecture, in_channels, input_size, kwargs, small_input, failure) or failure


def _input_size_error(timm, architecture: str, in_channels: int, input_size: int, kwargs: dict, small_input: str,
                      failure: Exception) -> Optional[ConfigError]:
    """The error naming model.input_size and the smallest side that works, when ``failure`` (building or running
    ``architecture`` at ``input_size``) goes away at a larger side; None when no side up to 384 px helps (the
    failure is not the input size's). The sides tried start just above ``input_size``."""
    plain = {k: v for k, v in kwargs.items() if k != "pretrained_cfg_overlay"}
    works = next((side for side in (12, 16, 24, 32, 48, 64, 96, 128, 160, 192, 224, 256, 384)
                  if side > input_size and _runs_at(timm, architecture, in_channels, side, plain, small_input)), None)
    if works is None:
        return None
    return ConfigError(
        f"timm's {architecture} cannot take model.input_size={input_size} px inputs: it downsamples more than "
        f"{input_size} px allow ({type(failure).__name__}: {(str(failure).splitlines() or [''])[0][:160]}). "
        f"Fix it with model.input_size={works} (the smallest side of {architecture} that works; images are "
        f"resized to it), or choose a model that downsamples less (e.g. model.architecture=resnet10t).")


def _timm_weights_source(timm, architecture: str, weights_path: Optional[str]) -> dict:
    """create_model's keyword for a local weights file; nothing for timm's cache (checked to have a source)."""
    if weights_path:
        path = Path(weights_path).expanduser()
        if not path.is_file():
            raise ConfigError(f"model.weights_path={weights_path} does not exist. Point it to a .pth or .safetensors "
                              f"file of timm {architecture} weights, or use model.pretrained=false.")
        return {"pretrained_cfg_overlay": {"file": str(path.resolve())}}
    base = architecture.partition(".")[0]
    if not timm.list_pretrained(f"{base}.*"):
        raise ConfigError(f"timm has no pretrained weights for {architecture}. Give model.weights_path=file.pth or "
                          f"use model.pretrained=false.")
    return {}


def _create_timm(timm, architecture: str, pretrained: bool, weights_path: Optional[str], kwargs: dict,
                 input_size: int):
    """(model, whether it took img_size=input_size). A model whose constructor has no ``img_size`` (a CNN) is
    built without it; loading weights comes after construction, so that retry reads no file twice."""
    try:
        try:
            return timm.create_model(architecture, pretrained=pretrained, img_size=input_size, **kwargs), True
        except TypeError as exc:
            if "img_size" not in str(exc):
                raise
        return timm.create_model(architecture, pretrained=pretrained, **kwargs), False
    except TypeError as exc:
        keys = {"drop_rate": "model.dropout", "drop_path_rate": "model.drop_path_rate"}
        key = next((k for k in keys if k in str(exc)), None)
        if key is None:
            raise
        raise ConfigError(f"timm's {architecture} does not take {key}: set {keys[key]}=0.") from None
    except ConfigError:
        raise
    except Exception as exc:  # noqa: BLE001 - timm's loaders raise whatever their source raises
        if not pretrained:
            raise
        where = (f"model.weights_path={weights_path}" if weights_path else
                 "timm's cache (the Hugging Face hub cache, ~/.cache/huggingface/hub, or $HF_HUB_CACHE)")
        raise ConfigError(
            f"Pretrained weights for timm {architecture} could not be loaded from {where}: "
            f"{type(exc).__name__}: {(str(exc).splitlines() or [''])[0].rstrip('.')}. On a machine with a network, "
            f"python -c \"import timm; timm.create_model('{architecture}', pretrained=True)\" puts them in the "
            f"cache; or give model.weights_path=file.pth, or use model.pretrained=false.") from exc


def _timm_small_stem(model: nn.Module, notes: list) -> None:
    """The torchvision models' small-input stem on a timm CNN: its first convolution (the pretrained config's
    ``first_conv``, else the first Conv2d) with stride 1, and its ``maxpool`` stem layer removed."""
    first = (getattr(model, "pretrained_cfg", None) or {}).get("first_conv")
    first = first[0] if isinstance(first, (list, tuple)) else first
    try:
        conv = model.get_submodule(first) if first else None
    except AttributeError:
        conv = None
    if not isinstance(conv, nn.Conv2d):
        first, conv = next(((n, m) for n, m in model.named_modules() if isinstance(m, nn.Conv2d)), (None, None))
    if conv is None:
        return
    if tuple(conv.stride) != (1, 1):
        _replace(model, first, _replace_first_conv(conv, conv.in_channels, 1, notes))
    if isinstance(getattr(model, "maxpool", None), nn.MaxPool2d):
        model.maxpool = nn.Identity()


def _timm_normed_classifier(model: nn.Module, architecture: str, num_classes: int) -> None:
    """The cosine classifier in place of timm's final linear layer (the module keeps timm's name)."""
    head = model.get_classifier() if hasattr(model, "get_classifier") else None
    path = next((n for n, m in model.named_modules() if m is head), None)
    if not isinstance(head, nn.Linear) or not path:
        raise ConfigError(f"model.normed_classifier=true needs a final linear layer; timm's {architecture} has "
                          f"{type(head).__name__}. Use model.normed_classifier=false.")
    _replace(model, path, NormedLinear(head.in_features, num_classes))


def _per_channel(mean, std, channels: int) -> dict:
    """The weights' RGB statistics for ``channels`` inputs (averaged over RGB otherwise, as for ImageNet's)."""
    mean, std = [float(v) for v in mean], [float(v) for v in std]
    if channels != len(mean):
        mean, std = [sum(mean) / len(mean)] * channels, [sum(std) / len(std)] * channels
    return {"mean": mean, "std": std}


class _DiscardNotes(list):
    def append(self, item) -> None:
        pass
