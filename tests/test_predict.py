"""balance-predict's core: preprocessing from the checkpoint, unreadable files listed, threshold rules."""

import numpy as np
import pytest
import torch
from PIL import Image

from balancelab.checkpoint import save_checkpoint
from balancelab.data.decode import decode_image
from balancelab.errors import ConfigError, DataError
from balancelab.models import SmallCNN
from balancelab.predict import collect_inputs, main, predict_files


def checkpoint(tmp_path, classes=("a", "b", "c"), threshold=None, policy="center_crop", channels=3):
    torch.manual_seed(0)
    model = SmallCNN(num_classes=len(classes), in_channels=channels, width=8, dropout=0.0)
    meta = {"class_names": list(classes), "input_size": 16, "in_channels": channels, "output_units": len(classes),
            "normalization": {"mean": [0.4] * channels, "std": [0.2] * channels},
            "model": {"name": "small_cnn", "width": 8, "small_input": True, "dropout": 0.0},
            "config": {"dataset": {"name": "image_folder", "resize_policy": policy, "channels": channels}}}
    if threshold is not None:
        meta["threshold"] = {"value": threshold, "positive_class": classes[1], "positive_index": 1}
    path = tmp_path / "best_model.pt"
    save_checkpoint(path, model.state_dict(), meta)
    return path, model.eval()


def images(folder, n=5, size=(20, 30)):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    paths = []
    for i in range(n):
        path = folder / f"{i}.png"
        Image.fromarray(rng.integers(0, 255, (*size, 3)).astype(np.uint8)).save(path)
        paths.append(path)
    return paths


def test_predictions_follow_the_training_preprocessing_and_the_model(tmp_path):
    path, model = checkpoint(tmp_path)
    files = images(tmp_path / "in")
    table, unreadable, _ = predict_files(path, [tmp_path / "in"], device="cpu", batch_size=2)
    assert unreadable == [] and list(table["path"]) == [str(p) for p in files]
    decoded = np.stack([decode_image(str(p), 16, 3, "center_crop")[0] for p in files])
    x = (torch.from_numpy(decoded).permute(0, 3, 1, 2).float() / 255 - 0.4) / 0.2
    expected = torch.softmax(model(x), 1).detach().numpy()
    assert np.allclose(table[["prob_a", "prob_b", "prob_c"]].to_numpy(), expected, atol=1e-6)
    assert (table["pred_index"].to_numpy() == expected.argmax(1)).all()
    assert np.allclose(table["confidence"], expected.max(1), atol=1e-6)
    assert list(table["pred_class"]) == [["a", "b", "c"][i] for i in expected.argmax(1)]


def test_unreadable_and_missing_inputs_are_listed_not_fatal(tmp_path):
    path, _ = checkpoint(tmp_path)
    images(tmp_path / "in", n=2)
    (tmp_path / "in" / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n not an image")
    (tmp_path / "in" / "empty.jpg").write_bytes(b"")
    table, unreadable, _ = predict_files(path, [tmp_path / "in", tmp_path / "nowhere.png"], device="cpu")
    assert len(table) == 2
    reasons = dict(unreadable)
    assert set(reasons) == {str(tmp_path / "in" / "corrupt.png"), str(tmp_path / "in" / "empty.jpg"),
                            str(tmp_path / "nowhere.png")}
    assert "no such file" in reasons[str(tmp_path / "nowhere.png")]


def test_binary_uses_the_saved_threshold_and_the_override(tmp_path):
    path, _ = checkpoint(tmp_path, classes=("neg", "pos"), threshold=0.999)
    images(tmp_path / "in", n=6)
    saved, _, _ = predict_files(path, [tmp_path / "in"], device="cpu")
    assert (saved["pred_index"] == (saved["prob_pos"] >= 0.999).astype(int)).all()
    low, _, _ = predict_files(path, [tmp_path / "in"], device="cpu", threshold=0.0)
    assert (low["pred_class"] == "pos").all() and np.allclose(low["confidence"], low["prob_pos"])


def test_threshold_errors_name_the_rule(tmp_path):
    path, _ = checkpoint(tmp_path)
    images(tmp_path / "in", n=1)
    with pytest.raises(ConfigError, match="two-class"):
        predict_files(path, [tmp_path / "in"], device="cpu", threshold=0.5)
    (tmp_path / "b").mkdir()
    binary, _ = checkpoint(tmp_path / "b", classes=("n", "p"))
    with pytest.raises(ConfigError, match=r"\[0, 1\]"):
        predict_files(binary, [tmp_path / "in"], device="cpu", threshold=1.5)


def test_missing_or_foreign_checkpoint_is_a_clear_error(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        predict_files(tmp_path / "none.pt", [tmp_path], device="cpu")
    torch.save({"weights": 1}, tmp_path / "foreign.pt")
    with pytest.raises(DataError, match="not a balancelab checkpoint"):
        predict_files(tmp_path / "foreign.pt", [tmp_path], device="cpu")


def test_folders_are_walked_recursively_skipping_hidden_and_non_images(tmp_path):
    images(tmp_path / "in" / "sub", n=2)
    (tmp_path / "in" / "notes.txt").write_text("x")
    images(tmp_path / "in" / ".hidden", n=1)
    files, problems = collect_inputs([tmp_path / "in"])
    assert [p.name for p in files] == ["0.png", "1.png"] and problems == []


def test_command_writes_the_csv_and_the_unreadable_list(tmp_path, capsys):
    path, _ = checkpoint(tmp_path)
    images(tmp_path / "in", n=2)
    (tmp_path / "in" / "bad.png").write_bytes(b"nope")
    out = tmp_path / "out.csv"
    main([str(path), str(tmp_path / "in"), "--out", str(out), "--device", "cpu"])
    import pandas as pd

    assert len(pd.read_csv(out)) == 2
    listed = pd.read_csv(f"{out}.unreadable.csv")
    assert listed["path"].str.endswith("bad.png").all()
    with pytest.raises(SystemExit) as stop:
        main([str(path), str(tmp_path / "in" / "bad.png"), "--out", str(out), "--device", "cpu"])
    assert stop.value.code == 2


def _run_folder(tmp_path, summary=None, failure=None):
    """A run folder as balance-run leaves it: config.yaml, best_model.pt, and a summary or failure.json (or
    neither: stopped before its evaluation finished)."""
    import json

    folder = tmp_path / "runs" / "small_cnn_balance_none_ce_x_seed0_0123abcd"
    folder.mkdir(parents=True)
    (folder / "config.yaml").write_text("seed: 0\n")
    path, _ = checkpoint(folder)
    if summary is not None:
        (folder / "experiment_summary.json").write_text(json.dumps(summary))
    if failure is not None:
        (folder / "failure.json").write_text(json.dumps(failure))
    images(tmp_path / "in", n=2)
    return path


@pytest.mark.parametrize("summary,failure,status", [(None, None, "incomplete"),
                                                    ({"status": "diverged"}, None, "diverged"),
                                                    (None, {"error": "boom"}, "failed")])
def test_a_checkpoint_of_an_unfinished_or_failed_run_is_refused_unless_asked_for(tmp_path, summary, failure, status):
    """balance-predict reads the run folder with the one job reader (output.run_folder.read_job_record): a model
    from a run that did not finish is not passed off as the run's result."""
    path = _run_folder(tmp_path, summary, failure)
    with pytest.raises(DataError, match=rf"run .* is {status}.*--allow-unfinished"):
        predict_files(path, [tmp_path / "in"], device="cpu")
    table, _, _ = predict_files(path, [tmp_path / "in"], device="cpu", allow_unfinished=True)
    assert len(table) == 2


def test_a_checkpoint_of_a_finished_run_or_outside_a_run_folder_is_used(tmp_path):
    path = _run_folder(tmp_path, {"status": "early_stopped"})
    assert len(predict_files(path, [tmp_path / "in"], device="cpu")[0]) == 2
    loose, _ = checkpoint(tmp_path)  # a checkpoint copied out of its folder: nothing to read, nothing refused
    assert len(predict_files(loose, [tmp_path / "in"], device="cpu")[0]) == 2
