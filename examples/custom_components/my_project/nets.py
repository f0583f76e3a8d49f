"""A user's own network. balancelab passes num_classes and in_channels (and input_size, if the factory
takes it); every other argument comes from the option's YAML file."""

from torch import nn


class TinyNet(nn.Module):
    def __init__(self, *, num_classes: int, in_channels: int, hidden: int = 16):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(in_channels, hidden, 3, padding=1), nn.BatchNorm2d(hidden), nn.ReLU(),
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(hidden, num_classes))

    def forward(self, x):
        return self.body(x)
