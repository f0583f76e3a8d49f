"""run.log on a full disk: one warning, the console goes on, no '--- Logging error ---' traceback per line."""

import errno
import logging

import pytest

from balancelab.logs import RunLogHandler, setup_logging


class FullDisk:
    """A file object whose writes (or flushes) fail with ENOSPC from some point on."""

    def __init__(self, real, fail_on="write"):
        self.real, self.fail_on, self.full = real, fail_on, False

    def write(self, text):
        if self.full and self.fail_on == "write":
            raise OSError(errno.ENOSPC, "No space left on device")
        return self.real.write(text)

    def flush(self):
        if self.full:
            raise OSError(errno.ENOSPC, "No space left on device")
        return self.real.flush()

    def close(self):
        self.real.close()
        if self.full:
            raise OSError(errno.ENOSPC, "No space left on device")


def run_log_handler():
    (handler,) = [h for h in logging.getLogger("balancelab").handlers if isinstance(h, RunLogHandler)]
    return handler


@pytest.fixture
def logged_run(tmp_path):
    setup_logging(tmp_path)
    yield tmp_path
    setup_logging(None)


@pytest.mark.parametrize("fail_on", ["write", "flush"])
def test_a_full_disk_under_run_log_is_one_warning_and_the_console_goes_on(logged_run, capsys, caplog, fail_on):
    log = logging.getLogger("balancelab")
    log.addHandler(caplog.handler)  # balancelab's logger does not propagate: listen to it directly
    handler = run_log_handler()
    handler.stream = FullDisk(handler.stream, fail_on)
    log.info("before the disk filled")
    handler.stream.full = True
    for i in range(20):
        log.info("epoch %d", i)
    setup_logging(None)  # closing the failed file must not raise either
    log.removeHandler(caplog.handler)
    err = capsys.readouterr().err
    assert "Logging error" not in err and "Traceback" not in err
    assert caplog.text.count("run.log can no longer be written") == 1 and "epoch 19" in caplog.text
    assert "before the disk filled" in (logged_run / "run.log").read_text()


def test_closing_run_log_on_a_full_disk_does_not_raise(logged_run, capsys):
    handler = run_log_handler()
    handler.stream = FullDisk(handler.stream, "flush")
    handler.stream.full = True
    setup_logging(None)
    assert "Traceback" not in capsys.readouterr().err
