import numpy as np

from balancelab.balancing.apply import balance_training_set


def _data():
    rng = np.random.default_rng(0)
    y = np.array([0] * 30 + [1] * 6)
    return rng.integers(0, 255, (len(y), 8, 8, 1)).astype(np.uint8), y


def test_second_run_hits_and_changed_param_misses(tmp_path):
    X, y = _data()
    cfg = {"name": "smote", "k_neighbors": 3, "sampling_strategy": "auto"}
    first = balance_training_set(X, y, cfg, ["a", "b"], 0, str(tmp_path))
    second = balance_training_set(X, y, cfg, ["a", "b"], 0, str(tmp_path))
    assert not first.from_cache and second.from_cache
    assert np.array_equal(first.X, second.X) and np.array_equal(first.provenance, second.provenance)
    changed = balance_training_set(X, y, {**cfg, "k_neighbors": 2}, ["a", "b"], 0, str(tmp_path))
    other_seed = balance_training_set(X, y, cfg, ["a", "b"], 1, str(tmp_path))
    assert not changed.from_cache and not other_seed.from_cache


def test_corrupt_entry_is_rebuilt(tmp_path):
    X, y = _data()
    cfg = {"name": "random_oversampling", "sampling_strategy": "auto"}
    first = balance_training_set(X, y, cfg, ["a", "b"], 0, str(tmp_path))
    entry = next((tmp_path / "balanced").glob("*.npz"))
    entry.write_bytes(entry.read_bytes()[:100])  # truncated
    again = balance_training_set(X, y, cfg, ["a", "b"], 0, str(tmp_path))
    assert not again.from_cache and np.array_equal(first.y, again.y)
    assert balance_training_set(X, y, cfg, ["a", "b"], 0, str(tmp_path)).from_cache
