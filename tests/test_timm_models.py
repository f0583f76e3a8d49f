"""model=timm: any timm classifier adapted to the dataset (classes, channels, input size), its weights from a
local file or timm's cache (never downloaded here), normalised with its weights' statistics, and refused up
front, with the close names, when timm has no such model."""

import re
import sys

import numpy as np

import pytest
import torch

from balancelab.errors import ConfigError
from balancelab.options.validate import validate
from tests.conftest import build_option, compose

timm = pytest.importorskip("timm")

from balancelab.evaluation.forward import final_linear, forward_pass  # noqa: E402
from balancelab.models import timm_classifier  # noqa: E402
from balancelab.training.batches import DeviceImages, input_normalization  # noqa: E402

# timm's "test_*" models: a few hundred thousand parameters, built in milliseconds.
TINY = ["test_resnet", "test_vit", "test_convnext", "test_efficientnet"]


@pytest.fixture
def no_download(monkeypatch, tmp_path):
    """timm's download paths raise, and the Hugging Face hub is offline with an empty cache."""
    import huggingface_hub.constants as hub
    import timm.models._builder as builder

    def refuse(*args, **kwargs):
        raise AssertionError("a test tried to download weights")

    monkeypatch.setattr(builder, "load_state_dict_from_url", refuse)
    monkeypatch.setattr(builder, "load_state_dict_from_hf", refuse)
    monkeypatch.setattr(hub, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(hub, "HF_HUB_CACHE", str(tmp_path / "hub"))


def _images(n, channels, size):
    rng = np.random.default_rng(0)
    X = rng.integers(0, 256, (n, size, size, channels), dtype=np.uint8)
    return DeviceImages(X, rng.integers(0, 3, n), torch.device("cpu"), [0.5] * channels, [0.25] * channels)


@pytest.mark.parametrize("architecture", TINY)
@pytest.mark.parametrize("channels", [1, 3])
def test_a_timm_model_gives_the_classes_takes_the_channels_and_exposes_its_classifier(architecture, channels):
    model = build_option("model", "timm", {"architecture": architecture}, num_classes=3, in_channels=channels,
                         input_size=32)
    outputs = forward_pass(model, _images(5, channels, 32), batch_size=4, features=True, strict=True)
    assert outputs.probabilities.shape == (5, 3)
    # tau-normalisation and cRT act on the final linear layer: timm's classifier, fed the pooled features
    assert final_linear(model) is model.get_classifier()
    assert outputs.features.shape == (5, model.get_classifier().in_features)


def test_small_inputs_get_the_stride_1_stem_of_the_torchvision_models_and_transformers_their_patch_grid():
    small = timm_classifier(architecture="test_resnet", num_classes=3, in_channels=1, input_size=32)
    assert small.conv1[0].stride == (1, 1) and isinstance(small.maxpool, torch.nn.Identity)
    large = timm_classifier(architecture="test_resnet", num_classes=3, in_channels=1, input_size=64)
    assert large.conv1[0].stride == (2, 2) and isinstance(large.maxpool, torch.nn.MaxPool2d)
    kept = timm_classifier(architecture="test_resnet", num_classes=3, in_channels=1, input_size=32, small_input="false")
    assert kept.conv1[0].stride == (2, 2)
    for model in (small, large):  # timm's module names and shapes: best_model.pt's weights load into timm's model
        timm.create_model("test_resnet", num_classes=3, in_chans=1).load_state_dict(model.state_dict())
    vit = timm_classifier(architecture="test_vit", num_classes=3, in_channels=3, input_size=48, small_input="true")
    assert vit.patch_embed.img_size == (48, 48)
    assert any("small_input=true is not applied" in n for n in vit.build_notes)
    with torch.no_grad():
        assert vit.eval()(torch.randn(1, 3, 48, 48)).shape == (1, 3)


def test_dropout_is_timms_drop_rate_and_drop_path_rate_its_stochastic_depth():
    """(timm's ResNet applies drop_rate functionally: no nn.Dropout to count, so the dropout's effect is checked.)"""
    x = torch.randn(4, 1, 32, 32)
    for dropout, differ in ((0.0, False), (0.5, True)):
        model = timm_classifier(architecture="test_resnet", num_classes=3, in_channels=1, input_size=32,
                                dropout=dropout).train()
        torch.manual_seed(0)
        a = model(x)
        torch.manual_seed(1)
        assert (not torch.equal(a, model(x))) == differ
    model = timm_classifier(architecture="test_convnext", num_classes=3, in_channels=1, input_size=32,
                            drop_path_rate=0.2)
    rates = [m.drop_prob for m in model.modules() if type(m).__name__ == "DropPath"]
    assert rates and max(rates) == pytest.approx(0.2)


def test_the_cosine_classifier_takes_the_place_of_timms_linear_layer():
    from balancelab.backbones.cifar_resnet import NormedLinear

    model = timm_classifier(architecture="test_vit", num_classes=4, in_channels=3, input_size=32,
                            normed_classifier=True).eval()
    assert isinstance(model.head, NormedLinear)
    with torch.no_grad():
        out = model(torch.randn(3, 3, 32, 32))
    assert out.shape == (3, 4) and out.abs().max() <= 1.0 + 1e-5


def test_pretrained_weights_from_a_local_file_are_the_files_and_set_the_normalisation(tmp_path, no_download):
    reference = timm.create_model("test_resnet", pretrained=False)  # 1000 classes, 3 channels
    path = tmp_path / "test_resnet.pth"
    torch.save(reference.state_dict(), path)
    saved = torch.load(path, weights_only=True)
    model = timm_classifier(architecture="test_resnet", num_classes=5, in_channels=3, input_size=64,
                            pretrained=True, weights_path=str(path))
    state = model.state_dict()
    body = [k for k in saved if not k.startswith("fc.")]
    assert body and all(torch.equal(state[k], saved[k]) for k in body)
    assert state["fc.weight"].shape == (5, saved["fc.weight"].shape[1])  # a new classifier for 5 classes
    # the weights' own statistics (test_resnet's are 0.5 / 0.5), not ImageNet's
    assert model.pretrained_normalization == {"mean": [0.5] * 3, "std": [0.5] * 3}
    gray = timm_classifier(architecture="test_resnet", num_classes=5, in_channels=1, input_size=64,
                           pretrained=True, weights_path=str(path))
    assert torch.allclose(gray.conv1[0].weight, saved["conv1.0.weight"].sum(1, keepdim=True))
    assert gray.pretrained_normalization == {"mean": [0.5], "std": [0.5]}
    X = np.zeros((2, 8, 8, 1), np.uint8)
    assert input_normalization(True, X, None, gray.pretrained_normalization) == {"mean": [0.5], "std": [0.5]}
    assert input_normalization(True, X, None)["mean"] == [pytest.approx(0.449)]  # ImageNet's, as before
    imagenet = timm_classifier(architecture="resnet10t", num_classes=5, in_channels=3, input_size=64,
                               pretrained=True, weights_path=str(_saved(tmp_path, "resnet10t")))
    assert imagenet.pretrained_normalization["mean"] == pytest.approx([0.485, 0.456, 0.406])


def _saved(tmp_path, architecture):
    path = tmp_path / f"{architecture}.pth"
    torch.save(timm.create_model(architecture, pretrained=False).state_dict(), path)
    return path


def test_pretrained_without_a_file_or_cached_weights_fails_naming_the_fix(tmp_path, no_download):
    with pytest.raises(ConfigError, match=r"could not be loaded from timm's cache.*model\.weights_path"):
        timm_classifier(architecture="test_resnet", num_classes=5, in_channels=3, input_size=32, pretrained=True)
    with pytest.raises(ConfigError, match="model.weights_path=.* does not exist"):
        timm_classifier(architecture="test_resnet", num_classes=5, in_channels=3, input_size=32, pretrained=True,
                        weights_path=str(tmp_path / "missing.pth"))


def test_a_misspelt_timm_model_is_refused_before_anything_runs_naming_the_close_names():
    assert validate(compose(["model=timm", "model.architecture=test_vit"]))["model"]["architecture"] == "test_vit"
    with pytest.raises(ConfigError, match=r"model\.architecture=resnet10 is not a timm model \(did you mean "
                                          r"resnet10t.*Fix it with model\.architecture=resnet10t"):
        validate(compose(["model=timm", "model.architecture=resnet10"]))
    with pytest.raises(ConfigError, match=r"no pretrained tag 'in1k' for resnet10t.*resnet10t\.c3_in1k"):
        validate(compose(["model=timm", "model.architecture=resnet10t.in1k"]))
    with pytest.raises(ConfigError, match=r"convnext_atto"):  # the factory says the same, called from Python
        timm_classifier(architecture="convnext_atoo", num_classes=2, in_channels=1, input_size=32)


def test_a_timm_model_given_as_model_name_is_refused_with_the_key_that_names_it():
    with pytest.raises(ConfigError, match=r"model\.name=test_vit labels the run.*model=timm "
                                          r"model\.architecture=test_vit"):
        validate(compose(["model=timm", "model.name=test_vit"]))


def test_a_misspelt_timm_model_given_as_model_name_is_refused_not_trained_as_the_default():
    """The issue spells the key model.name: a misspelt name there once trained resnet10t under its label."""
    with pytest.raises(ConfigError, match=r"model\.name=convnext_atoo labels the run.*not a timm model.*"
                                          r"model=timm model\.architecture=convnext_atto"):
        validate(compose(["model=timm", "model.name=convnext_atoo"]))
    with pytest.raises(ConfigError, match=r"model\.name=my_label labels the run"):
        validate(compose(["model=timm", "model.name=my_label"]))


def test_without_timm_the_option_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "timm", None)  # import timm raises ImportError
    with pytest.raises(ConfigError, match=r'pip install "balancelab\[timm\]"'):
        validate(compose(["model=timm"]))


def test_a_missing_weights_file_is_refused_before_any_job_starts(tmp_path):
    """It was caught only when the job ran (after the sweep had started its jobs)."""
    from balancelab.cli.preflight import preflight

    missing = tmp_path / "missing.pth"
    args = ["model=timm", "model.architecture=test_resnet", "model.pretrained=true", f"model.weights_path={missing}"]
    with pytest.raises(ConfigError, match=rf"model\.weights_path={missing}: no such file.*model\.pretrained=false"):
        validate(compose(args))
    message = preflight([*args, f"output_root={tmp_path / 'out'}"])
    assert message and "model.weights_path" in message and "no such file" in message
    assert not (tmp_path / "out").exists()
    present = tmp_path / "w.pth"
    present.write_bytes(b"")
    assert validate(compose([*args[:-1], f"model.weights_path={present}"]))["model"]["weights_path"] == str(present)


@pytest.mark.parametrize("architecture,side", [("test_coatnet", 16), ("test_maxvit", 16), ("test_vit_relpos", 8)])
def test_an_architecture_too_deep_for_the_input_size_is_a_clear_error(architecture, side):
    """test_coatnet at 16 px raised torch's 'Output size is too small', test_maxvit 'integer modulo by zero' (both
    in the first training step), test_vit_relpos at 8 px 'negative dimension' (in its constructor)."""
    with pytest.raises(ConfigError, match=rf"timm's {architecture} cannot take model\.input_size={side} .*"
                                          r"model\.input_size=\d+"):
        timm_classifier(architecture=architecture, num_classes=3, in_channels=1, input_size=side)



def test_the_side_the_input_size_error_proposes_is_the_smallest_that_works():
    """The sides tried began at 32 px: test_vit_relpos at 8 px was told 32 although 16 px builds and runs."""
    with pytest.raises(ConfigError, match=r"Fix it with model\.input_size=(\d+)") as caught:
        timm_classifier(architecture="test_vit_relpos", num_classes=3, in_channels=1, input_size=8)
    proposed = int(re.search(r"Fix it with model\.input_size=(\d+)", str(caught.value)).group(1))
    assert proposed < 32
    timm_classifier(architecture="test_vit_relpos", num_classes=3, in_channels=1, input_size=proposed)


def test_a_cnn_that_merely_accepts_img_size_is_not_marked_as_sized():
    """repvit and mobilevit take an img_size argument that fixes nothing (no parameter or buffer depends on it):
    they were treated as vision transformers, so inputs below 64 px never got the small-input stem."""
    for architecture, first in (("repvit_m0_9", "stem.conv1.c"), ("mobilevit_xxs", "stem.conv")):
        model = timm_classifier(architecture=architecture, num_classes=3, in_channels=1, input_size=32,
                                small_input="true")
        assert not any("is not applied" in n for n in model.build_notes), architecture
        assert model.get_submodule(first).stride == (1, 1), architecture
    vit = timm_classifier(architecture="test_vit", num_classes=3, in_channels=1, input_size=48, small_input="true")
    assert any("is not applied" in n for n in vit.build_notes)  # a patch grid does depend on it


def test_a_stem_that_does_not_run_stride_1_keeps_its_own():
    """fastvit_t8's stem is a MobileOne block of parallel branches: with only its first convolution at stride 1 it
    failed in the first training step (a shape mismatch), though its own stem runs at 16 px."""
    model = timm_classifier(architecture="fastvit_t8", num_classes=3, in_channels=1, input_size=16)
    assert any("small_input is not applied to fastvit_t8" in n for n in model.build_notes)
    with torch.no_grad():
        assert model.eval()(torch.zeros(2, 1, 16, 16)).shape == (2, 3)
