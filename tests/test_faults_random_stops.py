"""A real SIGTERM, SIGUSR1 or SIGINT at seeded random moments of a run, then the same run again: its
predictions.csv is byte for byte the uninterrupted run's. In-process (run_experiment under StopSignals), so
each stop point costs two short runs and no interpreter start.

The moment is a random one of the checks the training loop makes (after every batch and every epoch),
drawn from the number of checks the uninterrupted run made: early and late, mid-epoch and at epoch ends.
"""

import os
import random
import signal

import pytest

from balancelab.training.loop import Interrupted
from balancelab.training.signals import StopSignals
from tests.conftest import compose

pytestmark = pytest.mark.slow
RUN = ["model=small_cnn", "model.dropout=0.3", "model.input_size=16", "trainer.epochs=3", "trainer.batch_size=32",
       "trainer.num_threads=1", "logger=none", "seed=1", "trainer.progress=log", "use_cache=false"]


class SignalAt(StopSignals):
    """StopSignals that sends itself ``sig`` at its ``at``-th check; counts the checks made."""

    def __init__(self, sig=None, at=None):
        super().__init__()
        self.sig, self.at, self.checks = sig, at, 0

    def __call__(self):
        self.checks += 1
        if self.checks == self.at:
            os.kill(os.getpid(), self.sig)  # a real signal: our handler runs, as it would for kill(1)
        return super().__call__()


def run(folder, stop=None):
    from balancelab.options.validate import validate
    from balancelab.experiment import run_experiment

    cfg = validate(compose([*RUN, f"output_root={folder.parent}"]))
    folder.mkdir(exist_ok=True)
    stop = stop or SignalAt()
    with stop:
        run_experiment(cfg, folder, "0123abcd", stop=stop)
    return stop


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    folder = tmp_path_factory.mktemp("full") / "run"
    checks = run(folder).checks
    return (folder / "predictions.csv").read_bytes(), checks


@pytest.mark.parametrize("name,seed", [("SIGTERM", 0), ("SIGTERM", 1), ("SIGUSR1", 2), ("SIGUSR1", 3), ("SIGINT", 4)])
def test_a_signal_at_a_random_moment_then_the_same_run_ends_as_the_uninterrupted_one(tmp_path, uninterrupted, name,
                                                                                     seed):
    expected, checks = uninterrupted
    at = random.Random(seed).randint(1, checks - 1)
    folder = tmp_path / "run"
    with pytest.raises(Interrupted) as stopped:
        run(folder, SignalAt(getattr(signal, name), at))
    assert stopped.value.signal_name == name and stopped.value.saved
    assert (folder / "training_state.pt").exists() and not (folder / "predictions.csv").exists()
    run(folder)
    assert (folder / "predictions.csv").read_bytes() == expected, f"{name} at check {at} of {checks}"
    assert not list(folder.glob("training_state*"))


def test_a_signal_after_training_stops_before_evaluation_and_inside_crt_and_the_rerun_redoes_them(tmp_path,
                                                                                                 uninterrupted):
    """Classifier re-training can take minutes: a SLURM pre-emption signal then must not wait for it (the
    grace period ends in SIGKILL). The checks after training and in cRT's batches stop the run with the
    finished training state saved; the rerun redoes evaluation and cRT from it, to the same files."""
    crt = ["trainer.crt_epochs=2"]

    def run_crt(folder, stop=None):
        from balancelab.options.validate import validate
        from balancelab.experiment import run_experiment

        cfg = validate(compose([*RUN, *crt, f"output_root={folder.parent}"]))
        folder.mkdir(exist_ok=True)
        stop = stop or SignalAt()
        with stop:
            run_experiment(cfg, folder, "0123abcd", stop=stop)
        return stop

    full = tmp_path / "full"
    checks = run_crt(full).checks
    expected = {name: (full / name).read_bytes() for name in ("predictions.csv", "predictions_crt.csv")}
    after_training = uninterrupted[1]  # the same training without cRT: its last check is the one after fit
    for at, stage in [(after_training, "evaluation"), (checks - 1, "classifier re-training")]:
        folder = tmp_path / f"at{at}"
        with pytest.raises(Interrupted) as stopped:
            run_crt(folder, SignalAt(signal.SIGTERM, at))
        assert stopped.value.stage == stage and stopped.value.saved
        assert (folder / "training_state.pt").exists() and not (folder / "experiment_summary.json").exists()
        run_crt(folder)
        for name, content in expected.items():
            assert (folder / name).read_bytes() == content, f"{name} after a stop at check {at} of {checks}"
