import pytest
import torch

from balancelab.errors import ConfigError
from balancelab.models import build_model

NAMES = ["shufflenet_v2", "shufflenet_v2_x0_5", "resnet18", "mobilenet_v3_small", "mobilenet_v3_large", "small_cnn"]


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("channels", [1, 3])
def test_models_adapt_classes_and_channels(name, channels):
    model = build_model(name, num_classes=7, in_channels=channels, input_size=32).eval()
    with torch.no_grad():
        out = model(torch.randn(2, channels, 32, 32))
    assert out.shape == (2, 7)


def test_shufflenet_widths():
    small = build_model("shufflenet_v2", 10, 1, 32, width=0.5)
    large = build_model("shufflenet_v2", 10, 1, 32, width=1.0)
    assert sum(p.numel() for p in small.parameters()) < sum(p.numel() for p in large.parameters())
    with pytest.raises(ConfigError, match="valid widths"):
        build_model("shufflenet_v2", 10, 1, 32, width=0.7)


def test_pretrained_without_weights_fails_clearly(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    with pytest.raises(ConfigError, match="not available offline"):
        build_model("resnet18", 10, 3, 64, pretrained=True)


def test_pretrained_from_a_weights_file(tmp_path):
    from torchvision.models import resnet18

    reference = resnet18(weights=None)
    path = tmp_path / "r18.pth"
    torch.save(reference.state_dict(), path)
    model = build_model("resnet18", 10, 3, 224, pretrained=True, weights_path=str(path))
    assert torch.equal(model.layer1[0].conv1.weight, reference.layer1[0].conv1.weight)
    gray = build_model("resnet18", 10, 1, 224, pretrained=True, weights_path=str(path))
    assert torch.allclose(gray.conv1.weight, reference.conv1.weight.sum(1, keepdim=True))
