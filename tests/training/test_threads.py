import pytest

from balancelab.errors import ConfigError
from balancelab.training.threads import launcher_concurrent_jobs, threads_per_job


@pytest.mark.parametrize("cores,jobs", [(2, 2), (2, 1), (16, 8), (16, 4), (16, 3), (8, 2)])
def test_parallel_jobs_share_the_cores_without_oversubscribing(cores, jobs):
    threads = threads_per_job(requested=0, cores=cores, concurrent_jobs=jobs)
    assert threads >= 1 and threads * jobs <= cores
    assert (threads + 1) * jobs > cores  # and use as much of the machine as an equal share allows


def test_a_single_run_uses_every_core_and_an_explicit_count_wins():
    assert threads_per_job(requested=0, cores=16, concurrent_jobs=None) == 16
    assert threads_per_job(requested=3, cores=16, concurrent_jobs=8) == 3


def test_more_jobs_than_cores_and_joblibs_negative_counts_give_one_thread():
    assert threads_per_job(requested=0, cores=2, concurrent_jobs=8) == 1
    assert threads_per_job(requested=0, cores=4, concurrent_jobs=-1) == 1   # -1: one job per core
    assert threads_per_job(requested=0, cores=4, concurrent_jobs=-2) == 1   # -2: cores - 1 jobs


def test_a_negative_thread_count_is_a_config_error_naming_the_key():
    with pytest.raises(ConfigError, match="trainer.num_threads"):
        threads_per_job(requested=-1, cores=2, concurrent_jobs=None)


def test_outside_a_hydra_app_no_launcher_is_assumed():
    assert launcher_concurrent_jobs() is None


def test_the_parallel_launcher_config_reports_its_job_count(composed):
    """The joblib launcher's n_jobs, read from the Hydra config a job sees."""
    pytest.importorskip("hydra_plugins.hydra_joblib_launcher")
    from hydra import compose, initialize_config_module
    from hydra.core.hydra_config import HydraConfig

    with initialize_config_module(config_module="balancelab.configs", version_base="1.3"):
        cfg = compose("config", overrides=["hydra/launcher=parallel"], return_hydra_config=True)
        HydraConfig.instance().set_config(cfg)
        try:
            assert launcher_concurrent_jobs() == cfg.hydra.launcher.n_jobs == 2
        finally:
            HydraConfig.instance().cfg = None
