"""The ingest benchmark generates its folder in the surveillance proportions and measures both sides."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "benchmark_ingest.py"


@pytest.mark.slow
def test_the_ingest_benchmark_generates_its_folder_and_compares_with_a_plain_decode_loop(tmp_path):
    folder = tmp_path / "frames"
    proc = subprocess.run([sys.executable, str(SCRIPT), "--files", "400", "--threads", "1", "--repeat", "1",
                           "--folder", str(folder)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    counts = {d.name: len(list(d.glob("*.jpg"))) for d in folder.iterdir() if d.is_dir()}
    assert sum(counts.values()) == 400 and max(counts, key=counts.get) == "NormalVideos" and min(counts.values()) >= 3
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["files"] == 400 and result["ratio"] > 0 and result["cpu_ratio"] > 0
    assert {"plain", "balancelab", "balancelab_cached"} <= set(result)
    assert all(result[k]["peak_rss_mb"] > 0 for k in ("plain", "balancelab", "balancelab_cached"))
