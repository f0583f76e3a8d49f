import pytest
import torch

from balancelab.errors import ConfigError
from balancelab.models import resnet18, shufflenet_v2
from tests.conftest import build_option, options_of

NAMES = options_of("model")


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("channels", [1, 3])
def test_models_adapt_classes_and_channels(name, channels):
    model = build_option("model", name, num_classes=7, in_channels=channels, input_size=32).eval()
    with torch.no_grad():
        out = model(torch.randn(2, channels, 32, 32))
    assert out.shape == (2, 7)


def test_shufflenet_widths():
    small = build_option("model", "shufflenet_v2_x0_5", num_classes=10, in_channels=1, input_size=32)
    large = build_option("model", "shufflenet_v2", num_classes=10, in_channels=1, input_size=32)
    assert sum(p.numel() for p in small.parameters()) < sum(p.numel() for p in large.parameters())
    with pytest.raises(ConfigError, match="valid widths"):
        shufflenet_v2(num_classes=10, in_channels=1, input_size=32, width=0.7)


def test_pretrained_without_weights_fails_clearly(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    with pytest.raises(ConfigError, match="not available offline"):
        resnet18(num_classes=10, in_channels=3, input_size=64, pretrained=True)


def test_pretrained_from_a_weights_file(tmp_path):
    from torchvision.models import resnet18 as torchvision_resnet18

    reference = torchvision_resnet18(weights=None)
    path = tmp_path / "r18.pth"
    torch.save(reference.state_dict(), path)
    model = resnet18(num_classes=10, in_channels=3, input_size=224, pretrained=True, weights_path=str(path))
    assert torch.equal(model.layer1[0].conv1.weight, reference.layer1[0].conv1.weight)
    gray = resnet18(num_classes=10, in_channels=1, input_size=224, pretrained=True, weights_path=str(path))
    assert torch.allclose(gray.conv1.weight, reference.conv1.weight.sum(1, keepdim=True))


@pytest.mark.parametrize("name", [n for n in NAMES if n != "timm"])  # timm's drop_rate: tests/test_timm_models.py
@pytest.mark.parametrize("dropout", [0.0, 0.35])
def test_the_configured_dropout_is_the_dropout_of_every_dropout_layer(name, dropout):
    model = build_option("model", name, {"dropout": dropout}, num_classes=4, in_channels=1, input_size=32)
    rates = [m.p for m in model.modules() if isinstance(m, torch.nn.Dropout)]
    assert rates and all(p == dropout for p in rates)


def test_a_pretrained_first_conv_replaced_by_the_small_stem_is_reported(tmp_path):
    from torchvision import models as tvm

    weights = tmp_path / "resnet18.pth"
    torch.save(tvm.resnet18(weights=None).state_dict(), weights)
    model = resnet18(num_classes=3, in_channels=3, input_size=32, small_input="true", pretrained=True,
                     weights_path=str(weights))
    assert any("first convolution" in n and "initialised" in n for n in model.build_notes)
    kept = resnet18(num_classes=3, in_channels=3, input_size=224, small_input="false", pretrained=True,
                    weights_path=str(weights))
    assert not any("first convolution" in n for n in kept.build_notes)
