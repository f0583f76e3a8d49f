import numpy as np
import pandas as pd
import pytest

from balancelab.errors import DataError
from balancelab.sweep import statistics as st
from tests.sweep.statistics.helpers import from_predictions, predictions_frame


def test_align_predictions_matches_by_source_id():
    ids, y = np.array(["s3", "s1", "s2"]), np.array([2, 0, 1])
    shuffled = [2, 0, 1]
    y_true, preds = st.align_predictions({
        ("baseline", 0): predictions_frame(ids, y, [2, 0, 0]),
        ("a", 0): predictions_frame(ids[shuffled], y[shuffled], np.array([2, 1, 1])[shuffled])})
    assert y_true.tolist() == [0, 1, 2]  # s1, s2, s3
    assert preds["baseline"][0].tolist() == [0, 0, 2] and preds["a"][0].tolist() == [1, 1, 2]


@pytest.mark.parametrize("other, message", [
    (predictions_frame(["s1", "s2", "s4"], [0, 1, 2], [0, 1, 2]), "different test samples"),
    (predictions_frame(["s1", "s2", "s3"], [0, 1, 1], [0, 1, 2]), "disagree on the true class"),
    (predictions_frame(["s1", "s1", "s3"], [0, 0, 2], [0, 1, 2]), "more than once"),
    (pd.DataFrame({"source_id": ["s1"], "pred_index": [0]}), "lack the columns"),
])
def test_align_predictions_rejects_unpaired_tables(other, message):
    frames = {("baseline", 0): predictions_frame(["s1", "s2", "s3"], [0, 1, 2], [0, 1, 2]), ("a", 0): other}
    with pytest.raises(DataError, match=message):
        st.align_predictions(frames)


def test_read_predictions_from_job_folders(tmp_path):
    y = np.arange(20) % 3
    jobs, frames = from_predictions({("baseline", 0): y, ("a", 0): (y + 1) % 3}, y)
    for (experiment, seed), frame in frames.items():
        (tmp_path / f"{experiment}_seed{seed}").mkdir()
        frame.to_csv(tmp_path / f"{experiment}_seed{seed}" / "predictions.csv", index=False)
    read = st.read_predictions(tmp_path, jobs)
    assert set(read) == {("baseline", 0), ("a", 0)}
    assert read[("a", 0)]["pred_index"].tolist() == frames[("a", 0)]["pred_index"].tolist()


def test_minority_class_index_from_the_summaries(tmp_path):
    y = np.arange(20) % 3
    jobs, frames = from_predictions({("baseline", 0): y, ("a", 0): y}, y)
    for experiment in ("baseline", "a"):
        (tmp_path / f"{experiment}_seed0").mkdir()
        (tmp_path / f"{experiment}_seed0" / "experiment_summary.json").write_text('{"test": {"minority_class": "c2"}}')
    assert st.minority_class_index(tmp_path, jobs, frames) == 2
    (tmp_path / "a_seed0" / "experiment_summary.json").write_text('{"test": {"minority_class": "c1"}}')
    with pytest.raises(DataError, match="different minority classes"):
        st.minority_class_index(tmp_path, jobs, frames)
