"""A checkpoint written before components were named by _target_ still loads."""

import torch

from balancelab.checkpoint import load_checkpoint, save_checkpoint
from balancelab.models import SmallCNN, shufflenet_v2


def test_a_checkpoint_without_target_loads(tmp_path):
    for name, model, node in [
        ("small_cnn", SmallCNN(num_classes=3, in_channels=1, width=1.0, dropout=0.2),
         {"name": "small_cnn", "width": 1.0, "input_size": 16, "small_input": "auto", "pretrained": False,
          "weights_path": None, "dropout": 0.2}),
        ("shufflenet_v2_x0_5", shufflenet_v2(num_classes=3, in_channels=1, input_size=16, width=0.5),
         {"name": "shufflenet_v2_x0_5", "width": 0.5, "input_size": 16, "small_input": "auto", "pretrained": False,
          "weights_path": None, "dropout": 0.0}),
    ]:
        path = tmp_path / f"{name}.pt"
        save_checkpoint(path, model.state_dict(), {"class_names": ["a", "b", "c"], "input_size": 16, "in_channels": 1,
                                                   "model": node})
        loaded, _ = load_checkpoint(path)
        x = torch.randn(2, 1, 16, 16)
        assert torch.allclose(loaded(x), model.eval()(x))


def test_checkpoints_written_before_model_architecture_existed_load(tmp_path):
    """resnet18 by name only (no _target_), and mobilenet_v3_small by its old factory target."""
    from balancelab.models import mobilenet_v3_small, resnet18

    for name, model, node in [
        ("resnet18", resnet18(num_classes=3, in_channels=1, input_size=16),
         {"name": "resnet18", "width": 1.0, "input_size": 16, "small_input": "auto", "pretrained": False,
          "weights_path": None, "dropout": 0.0}),
        ("mobilenet_v3_small", mobilenet_v3_small(num_classes=3, in_channels=1, input_size=16, dropout=0.1),
         {"_target_": "balancelab.models.mobilenet_v3_small", "name": "mobilenet_v3_small", "input_size": 16,
          "small_input": "auto", "pretrained": False, "weights_path": None, "dropout": 0.1,
          "normed_classifier": False}),
    ]:
        path = tmp_path / f"{name}.pt"
        save_checkpoint(path, model.state_dict(), {"class_names": ["a", "b", "c"], "input_size": 16, "in_channels": 1,
                                                   "model": node})
        loaded, _ = load_checkpoint(path)
        x = torch.randn(2, 1, 16, 16)
        assert torch.allclose(loaded(x), model.eval()(x))
