"""One reader of a job folder (output.run_folder.read_job_record): finished, failed, incomplete, unreadable."""

import json

import pytest

from balancelab.output.contract import FAILURE_FILE, SUMMARY_FILE, Status
from balancelab.output.run_folder import UnreadableRunFile, read_job_record, read_summary


def test_a_finished_job_reads_as_its_summary(tmp_path):
    (tmp_path / SUMMARY_FILE).write_text(json.dumps({"status": "early_stopped", "test": {"macro_f1": 0.9}}))
    record = read_job_record(tmp_path)
    assert record.status == Status.EARLY_STOPPED and record.summary["test"]["macro_f1"] == 0.9
    assert read_summary(tmp_path) == record.summary


def test_a_failed_job_reads_as_its_failure(tmp_path):
    (tmp_path / FAILURE_FILE).write_text(json.dumps({"error_type": "DataError", "error": "no images"}))
    record = read_job_record(tmp_path)
    assert record.status == Status.FAILED and record.failure["error_type"] == "DataError" and record.summary is None


def test_a_job_without_either_is_incomplete(tmp_path):
    assert read_job_record(tmp_path).status == Status.INCOMPLETE
    with pytest.raises(FileNotFoundError):
        read_summary(tmp_path)


@pytest.mark.parametrize("name,text,words", [(SUMMARY_FILE, '{"status": "compl', "does not parse"),
                                             (SUMMARY_FILE, '{"test": {}}', "no status"),
                                             (FAILURE_FILE, "[1, 2]", "not a mapping")])
def test_a_file_that_does_not_parse_says_which_and_why(tmp_path, name, text, words):
    (tmp_path / name).write_text(text)
    with pytest.raises(UnreadableRunFile, match=words) as error:
        read_job_record(tmp_path)
    assert name in str(error.value)
