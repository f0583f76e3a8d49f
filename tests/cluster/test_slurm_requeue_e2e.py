"""`balance-sweep launcher=slurm` on a real one-node SLURM cluster, one job requeued mid-training.

The cluster is Debian's slurm-wlm and munge started by tests/cluster/slurm_cluster.py (.ci/run installs the
packages). The sweep is the installed console script with Hydra's submitit launcher submitting through
``sbatch``; once one job's run.log shows its second epoch, ``scontrol requeue`` kills it and puts it back in the
queue. SLURM starts it again, the same submitit job runs the same job folder, and training must continue from
the saved state: every epoch once in its history, none trained twice, the sweep's comparison written, exit 0.
"""

from __future__ import annotations

import csv
import os
import re
import subprocess
import time

import pytest

from tests.cluster.slurm_cluster import SlurmCluster, unavailable, wait_until
from tests.conftest import BIN

REASON = unavailable()
# .ci/run sets it where it is root and has installed the packages: there a missing cluster is a failure, not a skip
REQUIRED = os.environ.get("BALANCELAB_REQUIRE_SLURM") == "1"
pytestmark = [pytest.mark.slow, pytest.mark.slurm,
              pytest.mark.skipif(REASON is not None and not REQUIRED, reason=f"no one-node SLURM cluster here: {REASON}")]

EPOCHS = 12          # 0.7-2 s each on a shared core: the requeue lands well inside training
REQUEUE_AFTER = 2    # epochs the job has finished (its run.log says so) when it is requeued
SWEEP = ["launcher=slurm", "experiments=[baseline,focal_loss]", "name=slurm_ci",
         "model=small_cnn", "model.input_size=16", f"trainer.epochs={EPOCHS}", "trainer.batch_size=64",
         "trainer.num_threads=1", "trainer.progress=log", "trainer.state_every_s=0", "logger=none",
         # the CI node: no GPU, 2 cores, one partition
         "hydra.launcher.partition=ci", "hydra.launcher.gpus_per_node=0", "hydra.launcher.cpus_per_task=1",
         "hydra.launcher.mem_gb=2", "hydra.launcher.timeout_min=10"]


@pytest.fixture(scope="module")
def cluster():
    if REASON is not None:  # BALANCELAB_REQUIRE_SLURM=1 and still no cluster
        pytest.fail(f"BALANCELAB_REQUIRE_SLURM=1 but no one-node SLURM cluster can start here: {REASON}")
    with SlurmCluster() as running:
        yield running


def _epochs_logged(run_log) -> list:
    text = run_log.read_text(errors="replace") if run_log.exists() else ""
    return [int(n) for n in re.findall(rf"INFO\] epoch (\d+)/{EPOCHS} ", text)]


def _job_running(sweep_root, after: int):
    """(job id, run folder) of a job whose run.log shows ``after`` finished epochs, found through submitit's
    folder of that job (.submitit/<job id>/), whose log names the run folder."""
    for err in sweep_root.glob("sweeps/*/.submitit/*/*_log.err"):
        found = re.search(r"Run folder: (\S+)", err.read_text(errors="replace"))
        if found:
            folder = type(sweep_root)(found.group(1))
            if len(_epochs_logged(folder / "run.log")) >= after:
                return err.parent.name, folder
    return None


def test_a_requeued_slurm_job_resumes_and_the_sweep_finishes(cluster, tmp_path):
    env = cluster.env({**os.environ, "PYTHONUNBUFFERED": "1", "WANDB_MODE": "disabled", "OMP_NUM_THREADS": "1"})
    started = time.monotonic()
    out = open(tmp_path / "sweep.out", "w+")
    sweep = subprocess.Popen([str(BIN / "balance-sweep"), *SWEEP, f"output_root={tmp_path}"], cwd=tmp_path,
                             stdout=out, stderr=subprocess.STDOUT, text=True, env=env)

    def said() -> str:
        return (tmp_path / "sweep.out").read_text(errors="replace")[-4000:] + "\n" + cluster.logs(15)

    try:
        def running_job():
            if sweep.poll() is not None:
                raise AssertionError(f"balance-sweep ended ({sweep.returncode}) before a job was requeued:\n{said()}")
            return _job_running(tmp_path, REQUEUE_AFTER)

        job_id, folder = wait_until(running_job, 300, f"a job's epoch {REQUEUE_AFTER}", on_timeout=said)
        cluster.command("scontrol", "requeue", job_id)
        requeued_at = _epochs_logged(folder / "run.log")
        assert len(requeued_at) < EPOCHS, "the job had finished training before it was requeued"
        sweep.wait(timeout=420)
    finally:
        if sweep.poll() is None:
            sweep.kill()
            sweep.wait()
        out.close()
    seconds = time.monotonic() - started
    log = said()
    assert sweep.returncode == 0, f"exit {sweep.returncode} after {seconds:.0f} s\n{log}"
    assert (next(tmp_path.glob("sweeps/slurm_ci_*")) / "comparison.md").is_file()

    # SLURM restarted the job (not a second submission): the controller counts the restart
    job = cluster.command("scontrol", "show", "job", job_id)
    assert "Restarts=1" in job, job
    # Its history has every epoch once ...
    with open(folder / "history.csv") as f:
        assert [int(float(row["epoch"])) for row in csv.DictReader(f)] == list(range(1, EPOCHS + 1))
    # ... and the second session resumed from the saved state instead of training from epoch 1 again.
    # The job's console (submitit's log, appended by both sessions): SLURM's SIGTERM stopped training after a
    # batch with the state saved, and the second session found the unfinished run.
    console = next(tmp_path.glob(f"sweeps/*/.submitit/{job_id}/{job_id}_0_log.err")).read_text(errors="replace")
    assert "DUE TO JOB REQUEUE" in console and "Stopped by SIGTERM" in console, console[-3000:]
    assert "Unfinished run found in" in console, console[-3000:]
    run_log = (folder / "run.log").read_text(errors="replace")
    resumed = re.search(r"Resuming training from the saved state \(training_state(?:\.prev)?\.pt\), epoch (\d+)",
                        run_log)
    assert resumed and int(resumed.group(1)) > REQUEUE_AFTER, run_log[-3000:]
    epochs = _epochs_logged(folder / "run.log")
    assert sorted(epochs) == list(range(1, EPOCHS + 1)), epochs  # no epoch trained (logged) twice
    print(f"\nSLURM sweep with a requeue: {seconds:.0f} s; job {job_id} requeued after epoch {max(requeued_at)}, "
          f"resumed at epoch {resumed.group(1)}")
