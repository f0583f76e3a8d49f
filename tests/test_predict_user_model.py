"""balance-predict rebuilds a user's own model from the working directory, as balance-run imported it."""

import numpy as np
import pytest
import torch
from PIL import Image

from balancelab.checkpoint import save_checkpoint
from tests.conftest import run_cli

USER_NET = '''
from torch import nn


class PixelNet(nn.Module):
    def __init__(self, *, num_classes, in_channels, hidden: int = 4):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(in_channels, hidden, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                                  nn.Linear(hidden, num_classes))

    def forward(self, x):
        return self.body(x)
'''


@pytest.fixture
def user_checkpoint(tmp_path, monkeypatch):
    project = tmp_path / "project"
    project.mkdir()
    (project / "user_nets.py").write_text(USER_NET)
    monkeypatch.syspath_prepend(str(project))
    from user_nets import PixelNet

    torch.manual_seed(0)
    model = PixelNet(num_classes=2, in_channels=3, hidden=4)
    meta = {"class_names": ["a", "b"], "input_size": 8, "in_channels": 3, "output_units": 2,
            "normalization": {"mean": [0.5] * 3, "std": [0.25] * 3},
            "model": {"_target_": "user_nets.PixelNet", "name": "pixel_net", "input_size": 8, "hidden": 4},
            "config": {"dataset": {"name": "image_folder", "resize_policy": "resize", "channels": 3}}}
    save_checkpoint(project / "best_model.pt", model.state_dict(), meta)
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (8, 8, 3)).astype(np.uint8)).save(project / "x.png")
    return project


def test_predict_imports_a_user_model_from_the_working_directory(user_checkpoint):
    result = run_cli(["best_model.pt", "x.png", "--out", "out.csv", "--device", "cpu"], cwd=user_checkpoint,
                     script="balance-predict")
    assert result.returncode == 0, result.stderr
    lines = (user_checkpoint / "out.csv").read_text().splitlines()
    assert lines[0].startswith("path,pred_index") and len(lines) == 2
