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


@pytest.mark.parametrize("env,mode", [("run", "online"), ("shared", "shared"), ("dryrun", "offline"),
                                      ("online", "online")])
def test_every_mode_wandb_itself_accepts_in_wandb_mode_is_accepted(monkeypatch, env, mode):
    """WANDB_MODE wins over logger.mode; a value wandb accepts must not be refused by balancelab's check."""
    from balancelab import tracking
    from balancelab.options.validate import validate
    from tests.conftest import compose

    monkeypatch.setenv("WANDB_MODE", env)
    assert tracking.resolve_mode("offline") == mode
    validate(compose(["logger=wandb"]))


def _history(records):
    rows = []
    for r in records:
        if r.WhichOneof("record_type") == "history":
            row = {(i.key or "/".join(i.nested_key)): json.loads(i.value_json) for i in r.history.item}
            if "val_macro_f1" in row:
                rows.append((r.history.step.num, row["epoch"]))
    return rows


@pytest.mark.slow
def test_a_resumed_job_continues_the_same_wandb_run(tmp_path):
    """SIGTERM after epoch 2, then the same command: one run id, epochs 1..4 once each, steps = epochs."""
    import signal

    from tests.test_faults_e2e import finish, start, wait_for

    args = [*TINY, "trainer.epochs=4", "logger=wandb", "logger.mode=offline", "trainer.progress=log",
            f"output_root={tmp_path}"]
    proc = start(args, tmp_path, env_extra={"WANDB_MODE": None, "WANDB_SILENT": "true"})
    wait_for(proc, "epoch 2/4")
    proc.send_signal(signal.SIGTERM)
    finish(proc)
    assert proc.returncode == 75
    again = run_cli(args, cwd=tmp_path, env_extra={"WANDB_MODE": None, "WANDB_SILENT": "true"})
    assert again.returncode == 0, again.stderr[-2000:]
    run = next((tmp_path / "runs").iterdir())
    files = sorted(run.glob("wandb/offline-run-*/run-*.wandb"))
    assert len(files) == 2 and len({f.name for f in files}) == 1  # two segments of one run id
    steps = [s for f in files for s in _history(read_wandb_records(f))]
    assert sorted({epoch for _, epoch in steps}) == [1, 2, 3, 4]
    assert all(step == epoch for step, epoch in steps)


# -- faults: wandb's files on a full disk never hide the run's own error ---------------------------------

import errno  # noqa: E402
import logging  # noqa: E402
import sys  # noqa: E402
import types  # noqa: E402
from pathlib import Path  # noqa: E402

from balancelab.errors import OutputWriteError  # noqa: E402

RUN_CONFIG = {"model": {"name": "m"}, "dataset": {"name": "d"}, "balancing": {"name": "b"}, "loss": {"name": "ce"},
              "seed": 0, "run_name": "r", "experiment_name": "e", "experiment_group": "g"}


class FakeRun:
    """A wandb run whose calls fail the way they do on a full disk (or with another error)."""

    def __init__(self, log_error=None, finish_error=None):
        self.log_error, self.finish_error, self.summary, self.logged = log_error, finish_error, {}, []

    def define_metric(self, *a, **k):
        pass

    def log(self, row, step=None):
        if self.log_error is not None:
            raise self.log_error
        self.logged.append(row)

    def finish(self, exit_code=0):
        if self.finish_error is not None:
            raise self.finish_error


class Records(logging.Handler):
    """balancelab's log records, each once (caplog may see a record twice: it propagates only sometimes)."""

    def __init__(self):
        super().__init__(logging.DEBUG)
        self.records = []

    def emit(self, record):
        self.records.append(record)

    @property
    def text(self):
        return "\n".join(r.getMessage() for r in self.records)


@pytest.fixture
def balancelab_log():
    handler, logger = Records(), logging.getLogger("balancelab")
    logger.addHandler(handler)
    yield handler
    logger.removeHandler(handler)


def fake_wandb(monkeypatch, run):
    module = types.SimpleNamespace(init=lambda **k: run, Settings=lambda **k: k)
    monkeypatch.setitem(sys.modules, "wandb", module)


def tracker_for(tmp_path):
    from balancelab.tracking import WandbTracker

    return WandbTracker(mode="offline", project="p", entity=None, group=None, tags=[], run_dir=tmp_path,
                        run_config=RUN_CONFIG, identity="00000000")


@pytest.mark.parametrize("error", [OSError(errno.ENOSPC, "No space left on device"), RuntimeError("service died")])
@pytest.mark.parametrize("failed", [True, False])
def test_finish_never_raises_and_says_so_in_one_line(tmp_path, monkeypatch, balancelab_log, error, failed):
    fake_wandb(monkeypatch, FakeRun(finish_error=error))
    tracker = tracker_for(tmp_path)
    tracker.finish(failed=failed)  # inside experiment.py's finally: must not replace the run's own error
    lines = [r.getMessage() for r in balancelab_log.records if r.levelno >= logging.WARNING]
    assert len(lines) == 1 and "\n" not in lines[0] and str(tmp_path / "wandb") in lines[0]
    if error.__class__ is OSError:
        assert "no space left" in lines[0]


def test_a_full_disk_under_wandb_while_logging_is_the_usual_write_error(tmp_path, monkeypatch):
    fake_wandb(monkeypatch, FakeRun(log_error=OSError(errno.ENOSPC, "No space left on device")))
    tracker = tracker_for(tmp_path)
    with pytest.raises(OutputWriteError) as err:
        tracker.log_epoch({"epoch": 1, "val_macro_f1": 0.5})
    assert str(tmp_path / "wandb") in str(err.value) and "Free space there" in str(err.value)


def test_another_logging_error_is_a_warning_once_and_training_goes_on(tmp_path, monkeypatch, balancelab_log):
    run = FakeRun(log_error=RuntimeError("wandb service went away"))
    fake_wandb(monkeypatch, run)
    tracker = tracker_for(tmp_path)
    for epoch in (1, 2, 3):
        tracker.log_epoch({"epoch": epoch})
    tracker.log_summary({"status": "completed"}, tmp_path)
    assert balancelab_log.text.count("wandb service went away") == 1


def fail_wandb_log_files(run_dir):
    """From now on wandb's own log files in ``run_dir`` meet a full disk (debug.log: write and flush fail)."""
    class Full:
        def __init__(self, real):
            self.real = real

        def write(self, text):
            raise OSError(errno.ENOSPC, "No space left on device")

        def flush(self):
            raise OSError(errno.ENOSPC, "No space left on device")

        def close(self):
            self.real.close()
            raise OSError(errno.ENOSPC, "No space left on device")

    handlers = [h for h in logging.getLogger("wandb").handlers
                if isinstance(h, logging.FileHandler) and str(run_dir) in h.baseFilename]
    for h in handlers:
        h.stream = Full(h.stream)
    return handlers


@pytest.mark.slow
def test_real_wandb_on_a_full_disk_one_line_no_logging_error_tracebacks(tmp_path, monkeypatch, capfd, balancelab_log):
    """wandb 0.31 offline: its debug.log handler prints '--- Logging error ---' for every record and its
    finish() raises the handler's OSError from close(). Ours: one warning, and finish returns."""
    from balancelab.tracking import WandbTracker

    monkeypatch.delenv("WANDB_MODE", raising=False)
    monkeypatch.setenv("WANDB_SILENT", "true")
    tracker = WandbTracker(mode="offline", project="p", entity=None, group=None, tags=[], run_dir=tmp_path,
                           run_config=RUN_CONFIG, identity="00000000")
    assert fail_wandb_log_files(tmp_path), "wandb wrote no log file into the run folder"
    tracker.log_epoch({"epoch": 1, "val_macro_f1": 0.5})
    tracker.finish(failed=True)
    err = capfd.readouterr().err
    assert "Logging error" not in err and "Traceback" not in err
    assert balancelab_log.text.count("can no longer be written") == 1


@pytest.mark.slow
def test_real_wandb_on_a_really_full_file_system(tmp_path, monkeypatch, capfd, balancelab_log):
    import subprocess

    mount = tmp_path / "full"
    mount.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mount)], capture_output=True).returncode:
        pytest.skip("mounting a tmpfs is not permitted here")
    try:
        (mount / "run").mkdir()
        (mount / "run" / "wandb_run.json").write_text('{"id": "bl-00000000-full"}')  # a resumed run: id kept
        with open(mount / "filler", "wb", buffering=0) as filler:
            try:
                while True:
                    filler.write(b"\0" * 4096)
            except OSError:
                pass
        from balancelab.tracking import WandbTracker

        monkeypatch.delenv("WANDB_MODE", raising=False)
        monkeypatch.setenv("WANDB_SILENT", "true")
        tracker = WandbTracker(mode="offline", project="p", entity=None, group=None, tags=[], run_dir=mount / "run",
                               run_config=RUN_CONFIG, identity="00000000")
        tracker.log_epoch({"epoch": 1, "val_macro_f1": 0.5})
        tracker.finish(failed=True)
        err = capfd.readouterr().err
        assert "Logging error" not in err and "Traceback" not in err
        assert balancelab_log.text.count("can no longer be written") <= 1
    finally:
        subprocess.run(["umount", "-l", str(mount)], capture_output=True)
