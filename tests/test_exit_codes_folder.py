"""A multirun's jobs leave their exit codes as files; the command reads them once the launcher returns."""

from balancelab.errors import EXIT_FAILED
from balancelab.task import forget_exit_codes, single_run_exit_code


def test_a_code_file_whose_write_never_finished_is_not_read_as_a_failure(tmp_path):
    """The codes are written atomically (a temporary ``.<name>.<random>.tmp.code`` renamed into place); a job killed
    mid-write leaves the temporary file, which the glob *.code also matches: it was read as an empty code, i.e. a
    failed job, turning a green multirun red."""
    forget_exit_codes()
    (tmp_path / "101-ab12cd34.code").write_text("0")
    (tmp_path / ".102-ef56ab78.code.k3j2.tmp.code").write_text("")
    assert single_run_exit_code(tmp_path) == 0
    (tmp_path / "103-0badc0de.code").write_text("")  # a finished file that does not parse is still a failure
    assert single_run_exit_code(tmp_path) == EXIT_FAILED
