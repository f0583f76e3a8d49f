"""Model options. Contract: the factory named by ``_target_`` is called with its own keys plus, where
its signature takes them, ``num_classes`` (logits to output), ``in_channels`` and ``input_size``.

``name`` labels the run; ``input_size`` is also read by the dataset loader (images are resized to it).
"""

from __future__ import annotations

from dataclasses import dataclass
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
        if node.get("weights_path") and not node.get("pretrained"):
            return ["'model.weights_path' is read only with model.pretrained=true; add model.pretrained=true or "
                    "remove model.weights_path."]
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
                import difflib

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
