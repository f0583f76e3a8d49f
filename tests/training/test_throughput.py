import torch
from torch import nn

from balancelab.training.throughput import (SyntheticSteps, eval_batch_sizes, loop_batch_sizes, machine_info,
                                            peak_tflops, training_step_flops)


def test_loop_batch_sizes_cover_the_epoch_as_train_one_epoch_does():
    assert loop_batch_sizes(100, 32) == [32, 32, 32, 4]
    assert loop_batch_sizes(65, 32) == [32, 32]          # the 1-sample tail batch is skipped
    assert sum(eval_batch_sizes(65, 32)) == 65            # evaluation sees every sample


def test_peaks_are_known_for_named_gpus_and_omitted_otherwise():
    assert peak_tflops("NVIDIA H100 80GB HBM3", torch.bfloat16) == 989.0
    assert peak_tflops("NVIDIA H200", torch.bfloat16) == 989.0
    assert peak_tflops("NVIDIA A100-SXM4-40GB", torch.bfloat16) == 312.0
    assert peak_tflops("NVIDIA H100 PCIe", torch.bfloat16) == 756.0
    assert peak_tflops("Some Future GPU", torch.bfloat16) is None
    assert peak_tflops("Tesla T4", torch.bfloat16) is None   # no bf16 tensor cores


def test_flops_of_a_linear_layer_step_are_forward_plus_backward():
    model = nn.Linear(10, 4, bias=False)
    x, y = torch.randn(8, 10), torch.randint(0, 4, (8,))
    # forward 2*8*10*4; backward: grad of weight only (the input needs none) 2*8*10*4
    assert training_step_flops(model, x, y, nn.functional.cross_entropy) == 2 * (2 * 8 * 10 * 4)


def test_synthetic_steps_train_the_model_and_time_positive():
    model = nn.Sequential(nn.Flatten(), nn.Linear(16, 3))
    before = model[1].weight.detach().clone()
    steps = SyntheticSteps(model, torch.optim.SGD(model.parameters(), lr=0.1), nn.functional.cross_entropy,
                           in_channels=1, input_size=4, num_classes=3, device=torch.device("cpu"))
    assert steps.train([8, 8, 3]) > 0 and steps.evaluate([8]) > 0
    assert not torch.equal(before, model[1].weight)


def test_machine_info_names_cpu_threads_and_versions():
    info = machine_info(torch.device("cpu"))
    assert info["cpu_cores"] >= 1 and info["torch_threads"] >= 1 and info["gpu"] is None
    assert info["cpu_model"] and info["library_versions"]["torch"] is not None
