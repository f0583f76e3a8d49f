"""`balance-run --help GROUP`: a group that does not exist is a mistake (exit 2), with its suggestion."""

import pytest

from tests.conftest import run_cli


def test_an_unknown_group_is_a_mistake(tmp_path):
    result = run_cli(["--help", "trainr"], cwd=tmp_path)
    assert result.returncode == 2
    assert "no config group 'trainr'" in result.stderr and "did you mean 'trainer'?" in result.stderr
    assert result.stdout == ""


@pytest.mark.parametrize("topic", ["trainer", "top"])
def test_a_known_group_answers(tmp_path, topic):
    result = run_cli(["--help", topic], cwd=tmp_path)
    assert result.returncode == 0 and result.stdout.strip() and result.stderr == ""
