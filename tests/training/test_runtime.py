import torch

from balancelab.training.runtime import prepare_for_device, seed_everything
from tests.conftest import build_option


def test_cudnn_benchmark_is_on_unless_deterministic():
    seed_everything(0, deterministic=False)
    assert torch.backends.cudnn.benchmark
    try:
        seed_everything(0, deterministic=True)
        assert not torch.backends.cudnn.benchmark and torch.backends.cudnn.deterministic
    finally:
        torch.use_deterministic_algorithms(False)
        torch.backends.cudnn.deterministic = False


def test_a_compiled_model_keeps_the_plain_models_state_dict_keys_on_cpu():
    plain = list(build_option("model", "small_cnn", num_classes=3, in_channels=1, input_size=16).state_dict())
    model = prepare_for_device(build_option("model", "small_cnn", num_classes=3, in_channels=1, input_size=16), torch.device("cpu"), compile_model=True)
    assert list(model.state_dict()) == plain
    assert model.features[0][0].weight.is_contiguous()  # channels_last only on CUDA
