"""When the one-node SLURM cluster cannot start, the reason says what is missing and how CI provides it."""

from tests.cluster import slurm_cluster


def test_the_reason_names_the_missing_packages_and_root(monkeypatch):
    monkeypatch.setattr(slurm_cluster, "_which", lambda name: None)
    monkeypatch.setattr(slurm_cluster.os, "geteuid", lambda: 1000)
    reason = slurm_cluster.unavailable()
    assert "not installed" in reason and "not root" in reason and "slurm-wlm munge" in reason

    monkeypatch.setattr(slurm_cluster.os, "geteuid", lambda: 0)
    assert ".ci/run" in slurm_cluster.unavailable() and "not root" not in slurm_cluster.unavailable()

    monkeypatch.setattr(slurm_cluster, "_which", lambda name: f"/usr/bin/{name}")
    assert slurm_cluster.unavailable() is None
    monkeypatch.setattr(slurm_cluster.os, "geteuid", lambda: 1000)
    assert "must run as root" in slurm_cluster.unavailable()
