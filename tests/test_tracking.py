"""wandb in offline mode: the run lives in the job folder and its history holds the epochs."""

import json
import struct

import pytest

from tests.conftest import TINY, run_cli


def read_wandb_records(path):
    """Records of a .wandb file: wandb's own protobuf ``Record`` messages in a leveldb-style log."""
    from wandb.proto import wandb_internal_pb2

    data = path.read_bytes()
    assert data[:4] == b":W&B"
    pos, block, records, pending = 7, 32768, [], b""
    while pos + 7 <= len(data):
        if block - pos % block < 7:  # block trailer padding
            pos += block - pos % block
            continue
        _, length, kind = struct.unpack("<IHB", data[pos:pos + 7])
        chunk = data[pos + 7:pos + 7 + length]
        pos += 7 + length
        if kind == 0 and length == 0:
            continue
        pending += chunk
        if kind in (1, 4):  # FULL or LAST
            record = wandb_internal_pb2.Record()
            record.ParseFromString(pending)
            records.append(record)
            pending = b""
    return records


@pytest.mark.slow
def test_offline_run_holds_per_epoch_metrics(tmp_path):
    args = [*TINY, "trainer.epochs=3", "logger=wandb", "logger.mode=offline", f"output_root={tmp_path}"]
    result = run_cli(args, cwd=tmp_path, env_extra={"WANDB_MODE": None, "WANDB_SILENT": "true"})
    assert result.returncode == 0, result.stderr[-2000:]
    run = next((tmp_path / "runs").iterdir())
    files = list(run.glob("wandb/offline-run-*/run-*.wandb"))
    assert len(files) == 1
    records = read_wandb_records(files[0])
    history = []
    for r in records:
        if r.WhichOneof("record_type") == "history":
            history.append({(i.key or "/".join(i.nested_key)): json.loads(i.value_json) for i in r.history.item})
    epochs = [h for h in history if "val_macro_f1" in h]
    assert [h["epoch"] for h in epochs] == [1, 2, 3]
    assert all(0 <= h["val_macro_f1"] <= 1 for h in epochs)
    config = [r for r in records if r.WhichOneof("record_type") == "run"][0].run.config
    keys = {item.key for item in config.update}
    assert {"model", "balancing", "loss", "seed"} <= keys
    tags = set([r for r in records if r.WhichOneof("record_type") == "run"][0].run.tags)
    assert {"balancing:none", "loss:ce", "model:small_cnn"} <= tags


def test_auto_mode_is_offline_without_credentials(monkeypatch, tmp_path):
    from balancelab import tracking

    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.delenv("WANDB_MODE", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("NETRC", str(tmp_path / "none"))
    assert tracking.resolve_mode("auto") == "offline"
    monkeypatch.setenv("WANDB_API_KEY", "x" * 40)
    assert tracking.resolve_mode("auto") == "online"
    monkeypatch.setenv("WANDB_MODE", "disabled")
    assert tracking.resolve_mode("auto") == "disabled"
