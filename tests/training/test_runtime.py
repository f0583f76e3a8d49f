import pytest
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


def test_on_a_node_with_several_gpus_each_job_of_a_multirun_gets_its_own(monkeypatch):
    """Simulated 8-GPU node: job n of a multirun goes to cuda:(n mod 8) with trainer.device=auto; a single run
    and an explicit device are left alone; more jobs than GPUs share them round-robin."""
    import torch

    from balancelab.training.runtime import device_assignment, select_device

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 8)
    assert [select_device("auto", n).index for n in range(10)] == [0, 1, 2, 3, 4, 5, 6, 7, 0, 1]
    assert select_device("auto") == torch.device("cuda")
    assert select_device("cuda:5", 2) == torch.device("cuda:5")
    assert device_assignment("auto", 11, select_device("auto", 11)) == {
        "rule": "round-robin over the visible CUDA devices by the job's number in the multirun", "job_number": 11,
        "visible_devices": 8, "device": "cuda:3"}
    assert device_assignment("cuda:5", 2, torch.device("cuda:5")) is None
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    assert select_device("auto", 5) == torch.device("cuda")


def test_a_multirun_hands_each_job_its_number_for_the_device_choice(tmp_path, monkeypatch):
    """The job's number reaches the device choice (balance-run -m, Hydra's basic launcher, in this process)."""
    import sys

    import torch

    import balancelab.experiment as experiment
    from balancelab.cli.run_command import run
    from tests.conftest import TINY

    seen = []

    def spy(name="auto", job_index=None):
        seen.append(job_index)
        return torch.device("cpu")

    monkeypatch.setattr(experiment, "select_device", spy)
    import balancelab.task as task

    monkeypatch.setattr(task, "_exit_codes", [4])  # an earlier command of this process left a code: not ours
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", ["balance-run", "-m", "seed=0,1", "dataset=digits_lt", *TINY,
                                      "trainer.epochs=1", f"output_root={tmp_path}", "hydra.sweep.dir=sweep"])
    with pytest.raises(SystemExit) as ended:
        run()
    assert ended.value.code == 0
    assert sorted(seen) == [0, 1]
