import pytest
import torch
from torch import nn

from balancelab.backbones.cifar_resnet import NormedLinear, PaddedSubsampleShortcut, resnet32
from balancelab.errors import ConfigError


def _params(model):
    return sum(p.numel() for p in model.parameters())


def test_parameter_count_is_the_papers():
    # 0.46 M: the count of the reference implementation (Idelbayev's resnet_cifar, used by LDAM-DRW)
    assert _params(resnet32(num_classes=10, in_channels=3, input_size=32)) == 464_154
    assert _params(resnet32(num_classes=100, in_channels=3, input_size=32)) == 464_154 + 90 * 65


def test_structure_and_forward_shape():
    model = resnet32(num_classes=7, in_channels=1, input_size=16, dropout=0.1)
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert len(convs) == 31 and len([m for m in model.modules() if isinstance(m, nn.Linear)]) == 1  # 32 layers
    assert [len(s) for s in (model.layer1, model.layer2, model.layer3)] == [5, 5, 5]
    assert [s[0].conv1.out_channels for s in (model.layer1, model.layer2, model.layer3)] == [16, 32, 64]
    assert sum(isinstance(m, PaddedSubsampleShortcut) for m in model.modules()) == 2  # option A, no 1x1 convs
    model.eval()
    assert model(torch.randn(3, 1, 16, 16)).shape == (3, 7)
    assert resnet32(num_classes=10, in_channels=3, input_size=32)(torch.randn(2, 3, 32, 32)).shape == (2, 10)


def test_option_a_shortcut_subsamples_and_zero_pads():
    x = torch.randn(2, 16, 8, 8)
    out = PaddedSubsampleShortcut(16, 32)(x)
    assert out.shape == (2, 32, 4, 4)
    assert torch.equal(out[:, 8:24], x[:, :, ::2, ::2]) and not out[:, :8].any() and not out[:, 24:].any()


def test_normed_classifier_gives_cosines():
    model = resnet32(num_classes=4, in_channels=3, input_size=32, normed_classifier=True)
    assert isinstance(model.linear, NormedLinear) and _params(model) == 464_154 - 10 * 65 + 4 * 64
    model.eval()
    out = model(torch.randn(5, 3, 32, 32))
    assert out.shape == (5, 4) and out.abs().max() <= 1 + 1e-6


@pytest.mark.parametrize("kwargs, message", [
    ({"num_classes": 0}, "num_classes must be an integer >= 1"),
    ({"input_size": 4}, "input_size must be an integer >= 8"),
    ({"in_channels": 2.5}, "in_channels must be an integer"),
    ({"dropout": 1.0}, "'model.dropout' must be >= 0 and < 1; got 1.0"),
])
def test_bad_arguments_are_config_errors(kwargs, message):
    args = {"num_classes": 10, "in_channels": 3, "input_size": 32, **kwargs}
    with pytest.raises(ConfigError, match=message):
        resnet32(**args)


def test_arguments_are_keyword_only():
    with pytest.raises(TypeError):
        resnet32(10, 3, 32)
