"""The CIFAR ResNet-32 of the long-tail papers (He et al. 2016, section 4.2; the LDAM-DRW code's
``resnet32``): a 3x3 stem with 16 channels, 3 stages of 5 basic blocks with 16/32/64 channels (stride
2 at the start of stages 2 and 3), global average pooling and a linear classifier: 0.46 M parameters
for 10 classes.

Shortcuts are option A of the ResNet paper, as in the reference code: where a block halves the
resolution and doubles the channels, the shortcut subsamples by 2 and pads the new channels with zeros
(no parameters). Weights of convolutions and the classifier are Kaiming-normal, as in the reference.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from balancelab.errors import ConfigError
from balancelab.options.models import ResNet32 as ResNet32Options
from balancelab.options.validate import rule_problem

STAGE_CHANNELS = (16, 32, 64)
BLOCKS_PER_STAGE = 5  # 6n + 2 = 32 layers with n = 5


class PaddedSubsampleShortcut(nn.Module):
    """Option A: x[:, :, ::2, ::2] with the added channels zero, split evenly before and after."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        extra = out_channels - in_channels
        self.before, self.after = extra // 2, extra - extra // 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, self.before, self.after))


class BasicBlock(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        changes_shape = stride != 1 or in_channels != out_channels
        self.shortcut = PaddedSubsampleShortcut(in_channels, out_channels) if changes_shape else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class NormedLinear(nn.Module):
    """Cosine classifier of the LDAM-DRW code (used with LDAM): logits = cos(x, w_j), in [-1, 1]."""

    def __init__(self, in_features: int, out_features: int):
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        # (out, in) like nn.Linear; the reference stores the transpose. Initialised as in the reference.
        self.weight = nn.Parameter(torch.empty(out_features, in_features).uniform_(-1, 1).renorm_(2, 0, 1e-5).mul_(1e5))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(x, dim=1) @ F.normalize(self.weight, dim=1).T


class CifarResNet(nn.Module):
    def __init__(self, num_classes: int, in_channels: int, blocks_per_stage: int, dropout: float,
                 normed_classifier: bool):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, STAGE_CHANNELS[0], 3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(STAGE_CHANNELS[0])
        stages, channels = [], STAGE_CHANNELS[0]
        for i, width in enumerate(STAGE_CHANNELS):
            blocks = []
            for j in range(blocks_per_stage):
                blocks.append(BasicBlock(channels, width, stride=2 if i > 0 and j == 0 else 1))
                channels = width
            stages.append(nn.Sequential(*blocks))
        self.layer1, self.layer2, self.layer3 = stages
        self.dropout = nn.Dropout(dropout)
        self.linear = NormedLinear(channels, num_classes) if normed_classifier else nn.Linear(channels, num_classes)
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.kaiming_normal_(m.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.layer3(self.layer2(self.layer1(out)))
        out = F.adaptive_avg_pool2d(out, 1).flatten(1)
        return self.linear(self.dropout(out))


def resnet32(*, num_classes: int, in_channels: int, input_size: int, dropout: float = 0.0,
             normed_classifier: bool = False) -> CifarResNet:
    """ResNet-32 for small images (CIFAR's 32 px; any size >= 8 works: the net pools globally).

    ``normed_classifier``: the cosine classifier the LDAM-DRW code uses with the LDAM loss (its ``scale``
    of 30 assumes logits in [-1, 1]); off by default, as the reference uses a plain linear layer otherwise.
    """
    for name, value, low in (("num_classes", num_classes, 1), ("in_channels", in_channels, 1),
                             ("input_size", input_size, 8)):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ConfigError(f"model=resnet32: {name} must be an integer >= {low}; got {value!r}."
                              + (" ResNet-32 halves the resolution twice; use model.input_size=32 (CIFAR)."
                                 if name == "input_size" else ""))
    problem = rule_problem(ResNet32Options, "dropout", dropout, "model.dropout")
    if problem:
        raise ConfigError(problem)
    model = CifarResNet(num_classes, in_channels, BLOCKS_PER_STAGE, float(dropout), bool(normed_classifier))
    model.build_notes = []
    return model
