"""Faults end to end with the installed `balance-run`: signals, truncated state, two processes, full disk.

Each resumed result must equal the uninterrupted one, byte for byte in predictions.csv. The model has
dropout (small_cnn) and digits_lt trains with on-device augmentation, so a resume that lost any
random stream would show.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest

from tests.conftest import BIN, run_cli

pytestmark = pytest.mark.slow
RUN = ["model=small_cnn", "model.dropout=0.3", "model.input_size=16", "trainer.epochs=4", "trainer.batch_size=32",
       "trainer.num_threads=1", "logger=none", "seed=1", "trainer.progress=log"]


def run_folder(root):
    (folder,) = [p for p in (root / "runs").iterdir() if p.is_dir()]
    return folder


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    root = tmp_path_factory.mktemp("full")
    result = run_cli([*RUN, f"output_root={root}"], cwd=root)
    assert result.returncode == 0, result.stderr[-2000:]
    return run_folder(root)


def start(args, cwd, env_extra=None):
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "WANDB_MODE": "disabled", **(env_extra or {})}
    env = {k: v for k, v in env.items() if v is not None}
    return subprocess.Popen([str(BIN / "balance-run"), *args], cwd=cwd, stderr=subprocess.PIPE, text=True, env=env)


def wait_for(proc, text, timeout=120):
    """Read the process's log until ``text`` appears; returns what was read."""
    seen, deadline = [], time.time() + timeout
    while time.time() < deadline:
        line = proc.stderr.readline()
        if not line and proc.poll() is not None:
            break
        seen.append(line)
        if text in line:
            return "".join(seen)
    raise AssertionError(f"'{text}' never appeared:\n" + "".join(seen)[-3000:])


def finish(proc, timeout=180):
    rest = proc.stderr.read()
    proc.wait(timeout=timeout)
    return rest


def interrupt(root, sig, at="epoch 2/4"):
    proc = start([*RUN, f"output_root={root}"], root)
    wait_for(proc, at)
    proc.send_signal(sig)
    return proc, finish(proc)


@pytest.fixture(scope="module")
def interrupted(tmp_path_factory):
    """A run stopped by SIGTERM during its third epoch (kept pristine: tests work on copies)."""
    root = tmp_path_factory.mktemp("interrupted")
    proc, log = interrupt(root, signal.SIGTERM)
    return root, proc.returncode, log


def copy_of(interrupted, tmp_path):
    root, _, _ = interrupted
    shutil.copytree(root / "runs", tmp_path / "runs")
    return run_folder(tmp_path)


def test_sigterm_saves_the_state_and_says_how_to_resume(interrupted):
    root, code, log = interrupted
    assert code == 75, log[-2000:]
    assert "SIGTERM received" in log and "Run the same command again to resume" in log and "Traceback" not in log
    folder = run_folder(root)
    assert (folder / "training_state.pt").exists() and not (folder / "experiment_summary.json").exists()


def test_a_rerun_after_sigterm_ends_where_the_uninterrupted_run_did(interrupted, uninterrupted, tmp_path):
    folder = copy_of(interrupted, tmp_path)
    again = run_cli([*RUN, f"output_root={tmp_path}"], cwd=tmp_path)
    assert again.returncode == 0, again.stderr[-2000:]
    assert "resuming" in again.stderr.lower()
    assert folder.name == uninterrupted.name  # same identity, same folder name on another root
    assert (folder / "predictions.csv").read_bytes() == (uninterrupted / "predictions.csv").read_bytes()
    assert not list(folder.glob("training_state*"))


def test_a_truncated_state_is_set_aside_and_the_run_completes(interrupted, uninterrupted, tmp_path):
    folder = copy_of(interrupted, tmp_path)
    state = folder / "training_state.pt"
    state.write_bytes(state.read_bytes()[: state.stat().st_size // 3])
    again = run_cli([*RUN, f"output_root={tmp_path}"], cwd=tmp_path)
    assert again.returncode == 0 and "Traceback" not in again.stderr, again.stderr[-2000:]
    assert "cannot be read" in again.stderr and list(folder.glob("training_state.pt.corrupt-*"))
    assert (folder / "predictions.csv").read_bytes() == (uninterrupted / "predictions.csv").read_bytes()


@pytest.mark.parametrize("sig", [signal.SIGUSR1, signal.SIGINT])
def test_slurms_warning_signal_and_ctrl_c_stop_gracefully_too(tmp_path, sig):
    proc, log = interrupt(tmp_path, sig, at="epoch 1/4")
    assert proc.returncode == 75, log[-2000:]
    assert "Traceback" not in log and (run_folder(tmp_path) / "training_state.pt").exists()


def test_the_same_command_started_twice_trains_once(tmp_path):
    first = start([*RUN, f"output_root={tmp_path}"], tmp_path)
    wait_for(first, "epoch 1/4")
    second = run_cli([*RUN, f"output_root={tmp_path}"], cwd=tmp_path)
    assert second.returncode == 5, second.stderr[-2000:]
    assert f"process {first.pid} on host" in second.stderr and "Traceback" not in second.stderr
    finish(first)
    assert first.returncode == 0
    assert json.loads((run_folder(tmp_path) / "experiment_summary.json").read_text())["status"] == "completed"


DISK_FULL = """
import sys, torch
real_save = torch.save
def full_disk(obj, f, *a, **k):
    if "best_model" in str(f):
        raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 7232 vs 7120")
    return real_save(obj, f, *a, **k)
torch.save = full_disk
sys.argv = ["balance-run", *sys.argv[1:]]
from balancelab.cli.run_command import run
run()
"""


def test_a_full_disk_while_saving_ends_clearly_and_keeps_earlier_files(tmp_path):
    env = {**os.environ, "WANDB_MODE": "disabled"}
    result = subprocess.run([sys.executable, "-c", DISK_FULL, *RUN, "trainer.epochs=2", f"output_root={tmp_path}"],
                            cwd=tmp_path, capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 4, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    assert "best_model.pt" in result.stderr and "Free space there" in result.stderr
    folder = run_folder(tmp_path)
    assert (folder / "history.csv").exists() and (folder / "config.yaml").exists()
    assert not (folder / "best_model.pt").exists() and not list(folder.glob(".*.tmp*"))


def test_submitit_preemption_requeues_the_job_and_it_resumes(tmp_path, uninterrupted):
    """SLURM's protocol through submitit's local executor: SIGUSR2 -> state saved -> submitit checkpoint
    and requeue -> the requeued job resumes from the saved state and ends as the uninterrupted run did."""
    pytest.importorskip("hydra_plugins.hydra_submitit_launcher")
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "WANDB_MODE": "disabled"}
    proc = subprocess.Popen([str(BIN / "balance-run"), "-m", "hydra/launcher=local", *RUN, f"output_root={tmp_path}"],
                            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    deadline = time.time() + 180
    folder = None
    while time.time() < deadline:
        folders = [p for p in (tmp_path / "runs").glob("small_cnn_*") if (p / "training_state.pt").exists()]
        if folders:
            folder = folders[0]
            break
        time.sleep(0.05)
    assert folder is not None, "the job never saved a training state"
    task_pid = json.loads((folder / ".lock").read_text())["pid"]
    os.kill(task_pid, signal.SIGUSR2)
    out, _ = proc.communicate(timeout=300)
    assert proc.returncode == 0, out[-3000:]
    logs = "".join(p.read_text(errors="replace") for p in (tmp_path / "runs" / ".submitit").rglob("*.err"))
    assert "this job is preempted" in logs and "Stopped by SIGUSR2" in logs, logs[-3000:]
    assert "Resuming training from the saved state" in logs
    assert (folder / "predictions.csv").read_bytes() == (uninterrupted / "predictions.csv").read_bytes()


@pytest.mark.parametrize("sig,seed", [(signal.SIGTERM, 11), (signal.SIGUSR1, 12), (signal.SIGINT, 13)])
def test_a_signal_after_a_random_delay_then_a_rerun_gives_the_uninterrupted_predictions(tmp_path, uninterrupted,
                                                                                        sig, seed):
    """The delay after training starts is drawn (seeded) over about the length of training: the signal lands
    wherever it lands, mid-batch, between epochs, during validation."""
    import random

    proc = start([*RUN, f"output_root={tmp_path}"], tmp_path)
    wait_for(proc, "Training ")
    time.sleep(random.Random(seed).uniform(0.0, 3.0))
    proc.send_signal(sig)
    log = finish(proc)
    assert proc.returncode in (0, 75), log[-2000:]  # 0: it landed after the last epoch; the run had finished
    assert "Traceback" not in log
    if proc.returncode == 75:
        assert f"Stopped by {signal.Signals(sig).name}" in log
        again = run_cli([*RUN, f"output_root={tmp_path}"], cwd=tmp_path)
        assert again.returncode == 0, again.stderr[-2000:]
    folder = run_folder(tmp_path)
    assert (folder / "predictions.csv").read_bytes() == (uninterrupted / "predictions.csv").read_bytes()


SLOW_SAVE = """
import sys, time
from balancelab.training import state
real_save = state.TrainingStateStore.save
saves = []
def slow_save(self, snapshot):
    # Every save after the first (epoch 1's) is slow: the one a stop request makes, whether the signal lands
    # mid-epoch or after the epoch's last batch (a slow disk).
    # The test signals only once epoch 1's state is on disk ("state saved"), so the save the signal asks
    # for is always the second: a signal landing between epoch 1's log line and its save would otherwise
    # make epoch 1's own save the slow one, and the second signal would leave no state at all.
    saves.append(snapshot["epoch"])
    if len(saves) > 1:
        print("saving the interrupted epoch slowly", file=sys.stderr, flush=True)
        time.sleep(20)
    real_save(self, snapshot)
    print(f"state saved ({len(saves)})", file=sys.stderr, flush=True)
state.TrainingStateStore.save = slow_save
sys.argv = ["balance-run", *sys.argv[1:]]
from balancelab.cli.run_command import run
run()
"""


def test_a_second_signal_stops_at_once_and_the_last_saved_state_still_resumes(tmp_path, uninterrupted):
    """The first SIGTERM asks for a save that takes long (a slow disk); the second ends the process now,
    the way SIGTERM ends a process. The state saved before (after epoch 1) is intact and resumes."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "WANDB_MODE": "disabled"}
    proc = subprocess.Popen([sys.executable, "-c", SLOW_SAVE, *RUN, f"output_root={tmp_path}"], cwd=tmp_path,
                            stderr=subprocess.PIPE, text=True, env=env)
    wait_for(proc, "state saved (1)")
    proc.send_signal(signal.SIGTERM)
    wait_for(proc, "saving the interrupted epoch slowly")
    started = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    rest = finish(proc, timeout=60)
    assert proc.returncode == -signal.SIGTERM, rest[-2000:]
    assert time.monotonic() - started < 10 and "Second SIGTERM: stopping immediately" in rest
    again = run_cli([*RUN, f"output_root={tmp_path}"], cwd=tmp_path)
    assert again.returncode == 0 and "Resuming training from the saved state" in again.stderr, again.stderr[-2000:]
    folder = run_folder(tmp_path)
    assert (folder / "predictions.csv").read_bytes() == (uninterrupted / "predictions.csv").read_bytes()
