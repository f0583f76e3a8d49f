"""balance-predict on a run's own test images gives back the run's predictions.csv."""

import numpy as np
import pandas as pd
import pytest

from tests.conftest import TINY, noise_image_folder, run_cli

pytestmark = pytest.mark.slow


def test_predict_reproduces_the_runs_predictions_and_lists_a_corrupt_file(tmp_path):
    # not square: the checkpoint's resize policy (center_crop) matters
    root = noise_image_folder(tmp_path / "shapes", (("dark", 40, 60), ("light", 20, 180)), (20, 28, 3), 40)
    run = run_cli([*TINY, "trainer.epochs=2", "dataset=image_folder", f"dataset.root={root}",
                   f"output_root={tmp_path}"], cwd=tmp_path)
    assert run.returncode == 0, run.stderr[-2000:]
    run_dir = next((tmp_path / "runs").iterdir())
    assert (run_dir / "report.html").is_file()
    expected = pd.read_csv(run_dir / "predictions.csv")
    test_files = tmp_path / "test_files"
    test_files.mkdir()
    names = {}
    for i, source in enumerate(expected["source_id"]):  # a flat folder of the test images, under new names
        target = test_files / f"{i:03d}.png"
        target.write_bytes(open(source, "rb").read())
        names[str(target)] = source
    (test_files / "zz_corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    out = tmp_path / "out.csv"
    result = run_cli([str(run_dir / "best_model.pt"), str(test_files), "--out", str(out), "--device", "cpu"],
                     cwd=tmp_path, script="balance-predict")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "zz_corrupt.png" in result.stderr
    assert pd.read_csv(f"{out}.unreadable.csv")["path"].str.endswith("zz_corrupt.png").all()
    got = pd.read_csv(out)
    got["source_id"] = got["path"].map(names)
    merged = expected.merge(got, on="source_id", suffixes=("", "_predicted"))
    assert len(merged) == len(expected) > 0
    assert (merged["pred_class"] == merged["pred_class_predicted"]).all()
    assert np.allclose(merged["confidence"], merged["confidence_predicted"], atol=1e-6)
    for name in ("dark", "light"):
        assert np.allclose(merged[f"prob_{name}"], merged[f"prob_{name}_predicted"], atol=1e-6)
