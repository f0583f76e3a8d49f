"""torchvision classifiers adapted to the dataset: class count, input channels, small inputs."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import torch
from torch import nn
from torchvision import models as tvm

from balancelab.errors import ConfigError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

# model name -> (torchvision builder name, weights enum name) for each width.
_TORCHVISION = {
    ("shufflenet_v2", 0.5): ("shufflenet_v2_x0_5", "ShuffleNet_V2_X0_5_Weights"),
    ("shufflenet_v2", 1.0): ("shufflenet_v2_x1_0", "ShuffleNet_V2_X1_0_Weights"),
    ("shufflenet_v2", 1.5): ("shufflenet_v2_x1_5", "ShuffleNet_V2_X1_5_Weights"),
    ("shufflenet_v2", 2.0): ("shufflenet_v2_x2_0", "ShuffleNet_V2_X2_0_Weights"),
    ("resnet18", 1.0): ("resnet18", "ResNet18_Weights"),
    ("mobilenet_v3_small", 1.0): ("mobilenet_v3_small", "MobileNet_V3_Small_Weights"),
    ("mobilenet_v3_large", 1.0): ("mobilenet_v3_large", "MobileNet_V3_Large_Weights"),
}


class SmallCNN(nn.Module):
    """Three conv blocks and a linear head: enough for 8-32 px images, fast on a CPU."""

    def __init__(self, num_classes: int, in_channels: int, width: float = 1.0, dropout: float = 0.2):
        super().__init__()
        c1, c2, c3 = (max(8, int(round(w * width))) for w in (32, 64, 128))

        def block(cin, cout):
            return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout),
                                 nn.ReLU(inplace=True), nn.Conv2d(cout, cout, 3, padding=1, bias=False),
                                 nn.BatchNorm2d(cout), nn.ReLU(inplace=True), nn.MaxPool2d(2))

        self.features = nn.Sequential(block(in_channels, c1), block(c1, c2), block(c2, c3))
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(dropout), nn.Linear(c3, num_classes))

    def forward(self, x):
        return self.head(self.features(x))


def resolve_name(name: str, width: float) -> tuple[str, float]:
    if name == "shufflenet_v2_x0_5":
        return "shufflenet_v2", 0.5
    return name, float(width)


def _use_small_stem(small_input: str, input_size: int) -> bool:
    setting = str(small_input).lower()
    return input_size < 64 if setting == "auto" else setting == "true"


def _replace_first_conv(conv: nn.Conv2d, in_channels: int, stride: int) -> nn.Conv2d:
    """A copy of ``conv`` taking ``in_channels`` inputs; pretrained RGB filters are summed for 1 channel."""
    kernel = 3 if stride == 1 else conv.kernel_size
    padding = 1 if stride == 1 else conv.padding
    new = nn.Conv2d(in_channels, conv.out_channels, kernel, stride=stride, padding=padding, bias=conv.bias is not None)
    if kernel == conv.kernel_size:
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


def _adapt(model: nn.Module, arch: str, num_classes: int, in_channels: int, small: bool, dropout: float) -> nn.Module:
    stride = 1 if small else 2
    if arch == "shufflenet_v2":
        model.conv1[0] = _replace_first_conv(model.conv1[0], in_channels, stride)
        if small:
            model.maxpool = nn.Identity()
        model.fc = nn.Sequential(nn.Dropout(dropout), nn.Linear(model.fc.in_features, num_classes))
    elif arch == "resnet18":
        model.conv1 = _replace_first_conv(model.conv1, in_channels, stride)
        if small:
            model.maxpool = nn.Identity()
        model.fc = nn.Sequential(nn.Dropout(dropout), nn.Linear(model.fc.in_features, num_classes))
    elif arch.startswith("mobilenet_v3"):
        model.features[0][0] = _replace_first_conv(model.features[0][0], in_channels, stride)
        last = model.classifier[-1]
        model.classifier[-1] = nn.Linear(last.in_features, num_classes)
        if dropout:
            model.classifier[-2] = nn.Dropout(dropout)
    return model


def pretrained_state(builder: str, weights_enum: str, weights_path: Optional[str]) -> dict:
    """torchvision's weights from a given file or the local torch cache; never downloaded."""
    weights = getattr(tvm, weights_enum).DEFAULT
    if weights_path:
        path = Path(weights_path).expanduser()
        if not path.is_file():
            raise ConfigError(f"model.weights_path={weights_path} does not exist. Point it to a .pth file of {builder} weights.")
    else:
        filename = weights.url.rsplit("/", 1)[-1]
        path = Path(torch.hub.get_dir()) / "checkpoints" / filename
        if not path.is_file():
            raise ConfigError(
                f"Pretrained weights for {builder} are not available offline: {path} does not exist. "
                f"Download {weights.url} into {path.parent} on a machine with a network "
                f"(e.g. python -c \"import torchvision; torchvision.models.{builder}(weights='DEFAULT')\"), "
                f"or give model.weights_path=..., or use model.pretrained=false."
            )
    return torch.load(path, map_location="cpu", weights_only=True)


def build_model(name: str, num_classes: int, in_channels: int, input_size: int, width: float = 1.0,
                small_input: str = "auto", pretrained: bool = False, weights_path: Optional[str] = None,
                dropout: float = 0.0) -> nn.Module:
    arch, width = resolve_name(name, width)
    if arch == "small_cnn":
        if pretrained:
            raise ConfigError("small_cnn has no pretrained weights; use model.pretrained=false or a torchvision model.")
        return SmallCNN(num_classes, in_channels, width, dropout)
    key = (arch, width)
    if key not in _TORCHVISION:
        widths = sorted(w for a, w in _TORCHVISION if a == arch)
        raise ConfigError(f"model.width={width} is not available for {arch}; valid widths: {widths}.")
    builder, weights_enum = _TORCHVISION[key]
    model = getattr(tvm, builder)(weights=None)
    if pretrained:
        model.load_state_dict(pretrained_state(builder, weights_enum, weights_path))
    return _adapt(model, arch, num_classes, in_channels, _use_small_stem(small_input, input_size), dropout)
