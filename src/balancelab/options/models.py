"""Model options. Contract: the factory named by ``_target_`` is called with its own keys plus, where
its signature takes them, ``num_classes`` (logits to output), ``in_channels`` and ``input_size``.

``name`` labels the run; ``input_size`` is also read by the dataset loader (images are resized to it).
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional

from balancelab.options.fields import components, field_default, option

SMALL_INPUT = ("auto", "true", "false")


@dataclass
class ModelBase:
    _target_: str = "???"
    name: str = "???"
    input_size: int = option("${dataset_input_size:32}", "square input side in pixels; images are resized to it "
                             "when loaded (default: the dataset's input_size if it has one, else 32)", ge=8)
    dropout: float = option(0.0, "dropout before the final linear layer", ge=0.0, lt=1.0)
    normed_classifier: bool = option(False, "cosine classifier (logits = cos(x, w_j), the LDAM-DRW code's NormedLinear) "
                                     "instead of a linear layer: what loss=ldam's scale assumes")


@dataclass
class TorchvisionAdaptation(ModelBase):
    """The keys of a torchvision network adapted to the dataset (balancelab.models)."""

    small_input: str = option("auto", "stride-1 first conv and no max-pool for inputs below 64 px: auto|true|false",
                              choices=SMALL_INPUT)
    pretrained: bool = option(False, "torchvision's ImageNet weights (local torch cache or weights_path; never downloaded)")
    weights_path: Optional[str] = option(None, "a .pth file of the architecture's torchvision weights")

    @staticmethod
    def cross_check(node) -> List[str]:
        path = node.get("weights_path")
        if path and not node.get("pretrained"):
            return ["'model.weights_path' is read only with model.pretrained=true; add model.pretrained=true or "
                    "remove model.weights_path."]
        if path and not Path(str(path)).expanduser().is_file():  # refused before any job starts, not by the job
            return [f"model.weights_path={path}: no such file. With model.pretrained=true the weights are read from "
                    f"this file, which must exist when the command starts (a .pth or .safetensors file of "
                    f"model.architecture's weights). Fix the path, or use model.pretrained=false."]
        return []


@dataclass
class TorchvisionModel(TorchvisionAdaptation):
    """Any torchvision classifier, named by its builder (the option's YAML sets ``architecture``)."""

    _target_: str = "balancelab.models.torchvision_classifier"
    architecture: str = option("???", "the torchvision.models builder, e.g. resnet18 "
                               "(torchvision.models.list_models() lists them)")

    @classmethod
    def cross_check(cls, node) -> List[str]:
        problems = TorchvisionAdaptation.cross_check(node)
        architecture = node.get("architecture")
        if architecture != field_default(cls, "architecture"):  # the shipped ones are tested; only then torchvision
            from torchvision import models as tvm

            available = tvm.list_models(module=tvm)
            if architecture not in available:
                close = difflib.get_close_matches(str(architecture), available, n=3)
                problems.append(f"model.architecture={architecture} is not a torchvision classification model"
                                + (f" (did you mean {', '.join(close)}?)" if close else "")
                                + f". Fix it with model.architecture={close[0] if close else 'resnet18'}.")
        return problems


@dataclass
class ShuffleNetV2(TorchvisionAdaptation):
    _target_: str = "balancelab.models.shufflenet_v2"
    name: str = "shufflenet_v2"
    width: float = option(1.0, "channel width multiplier (torchvision shufflenet_v2_x*)", choices=(0.5, 1.0, 1.5, 2.0))


@dataclass
class ResNet18(TorchvisionModel):
    name: str = "resnet18"
    architecture: str = option("resnet18", "the torchvision.models builder")


@dataclass
class MobileNetV3Small(TorchvisionModel):
    name: str = "mobilenet_v3_small"
    architecture: str = option("mobilenet_v3_small", "the torchvision.models builder")


@dataclass
class MobileNetV3Large(TorchvisionModel):
    name: str = "mobilenet_v3_large"
    architecture: str = option("mobilenet_v3_large", "the torchvision.models builder")


TIMM_INSTALL = 'model=timm needs the timm package: pip install "balancelab[timm]" (or pip install timm).'
TIMM_DEFAULT = "resnet10t"


def timm_architecture_problem(architecture: str) -> Optional[str]:
    """Why ``architecture`` cannot be built by timm (not installed, no such model, no such pretrained tag), with
    the close names and the fix; None when it can. ``architecture`` is a timm model name, optionally with a
    pretrained tag (``resnet10t.c3_in1k``)."""
    try:
        import timm
    except ImportError:
        return TIMM_INSTALL
    name = str(architecture)
    base, _, tag = name.partition(".")
    if timm.is_model(base) and (not tag or name in timm.list_pretrained(f"{base}.*")):
        return None
    if timm.is_model(base):
        tags = timm.list_pretrained(f"{base}.*")
        close = difflib.get_close_matches(name, tags, n=3, cutoff=0.0) if tags else []
        return (f"model.architecture={name}: timm has no pretrained tag '{tag}' for {base}"
                + (f" (its tags: {', '.join(close)})" if close else " (it has no pretrained weights)")
                + f". Fix it with model.architecture={close[0] if close else base}.")
    close = difflib.get_close_matches(base, timm.list_models(), n=3)
    family = re.match(r"[A-Za-z]*", base).group(0)
    return (f"model.architecture={name} is not a timm model"
            + (f" (did you mean {', '.join(close)}?)" if close else "")
            + f". Fix it with model.architecture={close[0] if close else TIMM_DEFAULT} "
            + f"(python -c \"import timm; print(timm.list_models('{family}*'))\" lists the names).")


def _did_you_mean(problem: str) -> str:
    found = re.search(r" \((did you mean [^)]*|its tags: [^)]*)\)", problem)
    return f" ({found.group(1)})" if found else ""


@dataclass
class TimmModel(ModelBase):
    """Any timm (PyTorch Image Models) classifier: ``pip install "balancelab[timm]"``. ``name`` labels the run
    (``timm``, the option's file name); the timm model is ``architecture``."""

    _target_: str = "balancelab.models.timm_classifier"
    name: str = "timm"
    architecture: str = option(TIMM_DEFAULT, "the timm model, e.g. resnet10t, convnext_atto, vit_tiny_patch16_224 "
                               "(timm.list_models() lists them; name.tag picks pretrained weights)")
    small_input: str = option("auto", "stride-1 first conv and no max-pool for inputs below 64 px: auto|true|false "
                              "(convolutional models; a model taking img_size gets its patch grid sized to "
                              "input_size instead)", choices=SMALL_INPUT)
    pretrained: bool = option(False, "timm's pretrained weights (weights_path, else timm's cache, downloaded "
                              "into it once); inputs are then normalised with the weights' mean and std")
    weights_path: Optional[str] = option(None, "a .pth/.safetensors file of the architecture's timm weights")
    drop_path_rate: float = option(0.0, "stochastic depth: timm's drop_path_rate (models that have it)",
                                   ge=0.0, lt=1.0)
    dropout: float = option(0.0, "dropout before the final linear layer (timm's drop_rate)", ge=0.0, lt=1.0)

    @classmethod
    def cross_check(cls, node) -> List[str]:
        problems = TorchvisionAdaptation.cross_check(node)
        architecture = node.get("architecture")
        problem = timm_architecture_problem(architecture)
        if problem == TIMM_INSTALL:
            return problems + [problem]
        name = node.get("name")
        if name != field_default(cls, "name") and name != architecture:
            # model.name is the run's label and must stay the option's; a timm model typed there (misspelt or
            # not) would otherwise train the default architecture under its label
            meant = timm_architecture_problem(name)
            close = re.search(r"Fix it with model\.architecture=(\S+?)[ .]?(?: \(|$)", meant or "")
            fix = name if not meant else (close.group(1) if close else TIMM_DEFAULT)
            problems.append(f"model.name={name} labels the run; the timm model is model.architecture"
                            + (f", and {name} is not a timm model" + _did_you_mean(meant) if meant else "")
                            + f". Fix it with model=timm model.architecture={fix} (and no model.name).")
        return problems + ([problem] if problem else [])


@dataclass
class SmallCNN(ModelBase):
    _target_: str = "balancelab.models.SmallCNN"
    name: str = "small_cnn"
    width: float = option(1.0, "channel width multiplier of the three conv blocks (32/64/128 at 1.0)", gt=0.0)
    dropout: float = option(0.2, "dropout before the final linear layer", ge=0.0, lt=1.0)


@dataclass
class ResNet32(ModelBase):
    _target_: str = "balancelab.backbones.cifar_resnet.resnet32"
    name: str = "resnet32"


SCHEMAS = components(globals(), ModelBase)
