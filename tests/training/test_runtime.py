import pytest
import torch

from balancelab.training.runtime import prepare_for_device, seed_everything
from tests.conftest import build_option


def test_cudnn_benchmark_is_on_unless_deterministic():
    seed_everything(0, deterministic=False)
    assert torch.backends.cudnn.benchmark
    try:
        seed_everything(0, deterministic=True)
        assert not torch.backends.cudnn.benchmark and torch.backends.cudnn.deterministic
    finally:
        torch.use_deterministic_algorithms(False)
        torch.backends.cudnn.deterministic = False


def test_a_compiled_model_keeps_the_plain_models_state_dict_keys_on_cpu():
    plain = list(build_option("model", "small_cnn", num_classes=3, in_channels=1, input_size=16).state_dict())
    model = prepare_for_device(build_option("model", "small_cnn", num_classes=3, in_channels=1, input_size=16), torch.device("cpu"), compile_model=True)
    assert list(model.state_dict()) == plain
    assert model.features[0][0].weight.is_contiguous()  # channels_last only on CUDA


def _node_with_gpus(monkeypatch, count: int) -> list:
    """A simulated CUDA node: ``count`` visible devices; returns the list torch.cuda.set_device calls land in."""
    import torch

    chosen = []
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: count)
    monkeypatch.setattr(torch.cuda, "set_device", lambda device: chosen.append(str(torch.device(device))))
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    return chosen


def test_concurrent_jobs_on_a_gpu_node_spread_over_its_devices(tmp_path, monkeypatch):
    """Simulated 4-GPU node, 8 jobs starting at once (threads: each claim takes the choosing lock as a process
    would): every device gets exactly two, never three on one while another has one."""
    import threading

    import balancelab.training.runtime as runtime
    from balancelab.training.runtime import job_device

    _node_with_gpus(monkeypatch, 4)
    held, ready, done = [], threading.Barrier(8), threading.Event()
    # Between counting the claims and writing its own, each job waits for the others: without the choosing
    # lock all eight would count zero everywhere and take cuda:0; with it the first one breaks the barrier.
    between, real_start = threading.Barrier(8), runtime.process_start

    def slow_start(pid):
        try:
            between.wait(timeout=0.5)
        except threading.BrokenBarrierError:
            pass
        return real_start(pid)

    monkeypatch.setattr(runtime, "process_start", slow_start)

    def job(n):
        ready.wait()
        with job_device("auto", n, tmp_path) as (device, assignment):
            held.append(device.index)
            done.wait(timeout=60)

    threads = [threading.Thread(target=job, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    while len(held) < 8 and any(t.is_alive() for t in threads):
        threading.Event().wait(0.01)  # until every job holds its device (an event, not a deadline)
    counts = sorted(held.count(i) for i in range(4))
    done.set()
    for t in threads:
        t.join()
    assert counts == [2, 2, 2, 2]
    assert not [p for p in (tmp_path / ".devices").rglob("cuda*")]  # every claim released


def test_a_freed_gpu_is_taken_by_the_next_job_not_the_next_job_number(tmp_path, monkeypatch):
    """The defect of round-robin by job number: jobs 0-3 on a 4-GPU node, job 1 ends first; job 4 must go to
    cuda:1 (idle), not cuda:0 (4 mod 4, busy). The choice is recorded and set as the current device."""
    import contextlib

    import torch

    from balancelab.training.runtime import job_device

    chosen = _node_with_gpus(monkeypatch, 4)
    with contextlib.ExitStack() as running:
        jobs = [running.enter_context(job_device("auto", n, tmp_path)) for n in range(4)]
        assert [device.index for device, _ in jobs] == [0, 1, 2, 3]
        second = contextlib.ExitStack()
        second.enter_context(job_device("auto", 99, tmp_path))  # a fifth job: shares cuda:0 (all busy)
        with job_device("auto", 5, tmp_path) as (device, _):
            assert device == torch.device("cuda:1")  # least loaded: cuda:1..3 have one job, cuda:0 two
        second.close()
    # Job 1 (cuda:1) ended while 0, 2, 3 still run: the next job (number 4) takes cuda:1.
    with contextlib.ExitStack() as running:
        for n in (0, 1, 2, 3):
            running.enter_context(job_device("auto", n, tmp_path))
        claims = sorted((tmp_path / ".devices").rglob("cuda1.*"))
        assert len(claims) == 1
        claims[0].unlink()  # job 1 ended (its claim removed; the context's release then finds nothing)
        with job_device("auto", 4, tmp_path) as (device, assignment):
            assert device == torch.device("cuda:1")
            assert chosen[-1] == "cuda:1"  # torch.cuda.set_device: the job's current device
            assert assignment["device"] == "cuda:1" and assignment["job_number"] == 4
            assert assignment["visible_devices"] == 4 and assignment["other_jobs_on_device"] == 0
            assert "least" in assignment["rule"]


def test_a_claim_left_by_a_dead_process_is_ignored(tmp_path, monkeypatch):
    """A job killed with SIGKILL leaves its claim: a claim whose pid is gone does not count (and is removed)."""
    import subprocess
    import sys

    import torch

    from balancelab.training.runtime import job_device

    _node_with_gpus(monkeypatch, 2)
    with job_device("auto", 0, tmp_path) as (device, _):  # makes the claims folder; cuda:0
        assert device == torch.device("cuda:0")
        folder = next((tmp_path / ".devices").iterdir())
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True, check=True)
    pid = int(dead.stdout)
    for n in range(3):  # three dead jobs on cuda:0, one unreadable (a crash mid-write)
        (folder / f"cuda0.{pid}.{n}").write_text('{"pid": %d, "pid_start": null, "boot": null}' % pid)
    (folder / "cuda0.1.x").write_text("")
    with job_device("auto", 1, tmp_path) as (device, assignment):
        assert device == torch.device("cuda:0") and assignment["other_jobs_on_device"] == 0
        assert len(list(folder.glob("cuda*"))) == 1  # the stale claims are gone; ours is there


def test_an_explicit_device_or_a_single_run_claims_nothing(tmp_path, monkeypatch):
    import torch

    from balancelab.training.runtime import job_device, select_device

    chosen = _node_with_gpus(monkeypatch, 8)
    with job_device("cuda:5", 2, tmp_path) as (device, assignment):
        assert device == torch.device("cuda:5") and assignment is None
    assert chosen == ["cuda:5"]  # an explicit device is still made the current one
    with job_device("auto", None, tmp_path) as (device, assignment):
        assert device == torch.device("cuda") and assignment is None
    assert select_device("auto") == torch.device("cuda")
    assert not (tmp_path / ".devices").exists()
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    with job_device("auto", 5, tmp_path) as (device, assignment):
        assert device == torch.device("cuda") and assignment is None


def test_the_jobs_device_reaches_the_balancer_whole(tmp_path, monkeypatch):
    """cuda:3, not "cuda" (= the current device, GPU 0 before set_device): SMOTE's neighbour search runs on the
    job's own GPU. Simulated: the job's device is cuda:3 and the balancer records what it was given."""
    import contextlib
    import sys

    import torch

    import balancelab.balancing.apply as apply
    import balancelab.experiment as experiment
    from balancelab.cli.run_command import run
    from tests.conftest import TINY

    given = []
    real_build = apply.build

    def spy_build(node, group, **facts):
        if group == "balancing":
            given.append(facts.get("device"))
        return real_build(node, group, **{**facts, "device": "cpu"})

    @contextlib.contextmanager
    def on_cuda3(name="auto", job_index=None, claims_root=None):
        yield torch.device("cuda:3"), {"device": "cuda:3"}

    monkeypatch.setattr(apply, "build", spy_build)
    monkeypatch.setattr(experiment, "job_device", on_cuda3)
    monkeypatch.setattr(experiment, "assemble", lambda *a, **k: (_ for _ in ()).throw(RuntimeError("stop here")))
    import balancelab.task as task

    monkeypatch.setattr(task, "_exit_codes", [])
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", ["balance-run", "-m", "seed=0", "dataset=digits_lt", *TINY, "balancing=smote",
                                      "trainer.epochs=1", f"output_root={tmp_path}", "hydra.sweep.dir=sweep"])
    with pytest.raises(SystemExit):
        run()
    assert given == ["cuda:3"]


def test_the_feature_space_balancer_gets_the_whole_device(tmp_path, monkeypatch):
    """pipeline/feature_space.py hands its balancer str(device) ("cuda:3"), not device.type ("cuda"). On CPU:
    torch.device("cpu", 0), whose type ("cpu") is not its whole name ("cpu:0")."""
    import torch

    from balancelab.pipeline import feature_space
    from tests.training.test_feature_space import OVERSAMPLING, _Net, three_class_problem

    given = []

    def spy_build(node, group, **facts):
        given.append(facts.get("device"))
        raise RuntimeError("stop here")

    monkeypatch.setattr(feature_space, "build", spy_build)
    splits, data = three_class_problem()
    train, val = splits.train, splits.val
    node = dict(OVERSAMPLING)
    model = _Net()
    with pytest.raises(RuntimeError, match="stop here"):
        feature_space.feature_space_retraining(tmp_path, model, model.state_dict(), data(train), data(val), splits,
                                               node, epochs=1, batch_size=16, eval_batch_size=16, seed=0,
                                               device=torch.device("cpu", 0))
    assert given == ["cpu:0"]


def test_a_multirun_hands_each_job_its_number_for_the_device_choice(tmp_path, monkeypatch):
    """The job's number reaches the device choice (balance-run -m, Hydra's basic launcher, in this process)."""
    import sys

    import torch

    import balancelab.experiment as experiment
    from balancelab.cli.run_command import run
    from tests.conftest import TINY

    seen = []

    import contextlib

    @contextlib.contextmanager
    def spy(name="auto", job_index=None, claims_root=None):
        seen.append(job_index)
        yield torch.device("cpu"), None

    monkeypatch.setattr(experiment, "job_device", spy)
    import balancelab.task as task

    monkeypatch.setattr(task, "_exit_codes", [4])  # an earlier command of this process left a code: not ours
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", ["balance-run", "-m", "seed=0,1", "dataset=digits_lt", *TINY,
                                      "trainer.epochs=1", f"output_root={tmp_path}", "hydra.sweep.dir=sweep"])
    with pytest.raises(SystemExit) as ended:
        run()
    assert ended.value.code == 0
    assert sorted(seen) == [0, 1]
