"""The training benchmark runs end to end (quick mode, tiny model) and writes figures that add up."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "benchmark_training.py"


@pytest.mark.slow
def test_quick_benchmark_writes_its_figures_and_the_machine(tmp_path):
    out = tmp_path / "bench.json"
    proc = subprocess.run([sys.executable, str(SCRIPT), "--quick", "--threads", "1", "--out", str(out),
                           "model=small_cnn", "dataset=digits_lt", "model.input_size=8", "trainer.batch_size=64"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(out.read_text())
    loop = result["loop"]
    assert 0 < loop["pipeline_efficiency"] and len(loop["pipeline_efficiency_pairs"]) == 1
    synthetic = loop["synthetic_train_seconds"][0] + loop["synthetic_eval_seconds"][0]
    assert loop["pipeline_efficiency"] == pytest.approx(synthetic / loop["real_epoch_seconds"][0])
    assert loop["train_images_per_epoch"] <= 440 and loop["val_images"] == 360  # digits_lt's splits
    assert result["machine"]["cpu_cores"] >= 1 and result["machine"]["library_versions"]["torch"]
    assert "pipeline efficiency" in proc.stdout
