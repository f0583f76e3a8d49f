"""balancelab's logger: console always, plus the run folder's run.log while a run is active."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from balancelab.output.contract import RUN_LOG_FILE


def setup_logging(run_dir: Path | None = None) -> None:
    root = logging.getLogger("balancelab")
    root.setLevel(logging.INFO)
    root.propagate = False
    fmt = logging.Formatter("[%(asctime)s %(levelname)s] %(message)s", "%H:%M:%S")
    if not any(isinstance(h, logging.StreamHandler) and not isinstance(h, logging.FileHandler) for h in root.handlers):
        console = logging.StreamHandler(sys.stderr)
        console.setFormatter(fmt)
        root.addHandler(console)
    for h in [h for h in root.handlers if isinstance(h, logging.FileHandler)]:
        root.removeHandler(h)
        h.close()
    if run_dir is not None:
        file_handler = RunLogHandler(Path(run_dir) / RUN_LOG_FILE, encoding="utf-8")
        file_handler.setFormatter(fmt)
        root.addHandler(file_handler)


class RunLogHandler(logging.FileHandler):
    """run.log; if it cannot be written (a full disk), it says so once and stops, instead of a traceback a line.

    A failed write reaches ``handleError``; a failed flush or close (buffered lines meeting a full disk) is
    caught here too, so closing the log at the end of a run that failed for want of space raises nothing.
    """

    _gave_up = False

    def handleError(self, record) -> None:
        _give_up(self, "balancelab", RUN_LOG_FILE, sys.exc_info()[1], "the log continues on the console only")

    def flush(self) -> None:
        try:
            super().flush()
        except OSError as exc:
            _give_up(self, "balancelab", RUN_LOG_FILE, exc, "the log continues on the console only")

    def close(self) -> None:
        try:
            super().close()
        except OSError:
            pass  # its last lines could not be written either; said once already, or the run has ended


def quiet_on_write_failure(handler: logging.FileHandler, logger_name: str, what: str) -> None:
    """Give another library's log file (wandb's debug.log in the run folder) run.log's manners: on a full
    disk, one warning and the file is dropped, instead of a '--- Logging error ---' traceback per record
    and an OSError out of its ``close`` (which wandb calls inside ``finish``)."""
    flush, close = handler.flush, handler.close
    consequence = f"{logger_name}'s logging to it stops"

    def handle_error(record) -> None:
        _give_up(handler, logger_name, what, sys.exc_info()[1], consequence)

    def quiet_flush() -> None:
        try:
            flush()
        except OSError as exc:
            _give_up(handler, logger_name, what, exc, consequence)

    def quiet_close() -> None:
        try:
            close()
        except OSError:
            pass

    handler.handleError, handler.flush, handler.close = handle_error, quiet_flush, quiet_close


def _give_up(handler: logging.StreamHandler, logger_name: str, what: str, exc, consequence: str) -> None:
    if getattr(handler, "_gave_up", False):
        return
    handler._gave_up = True
    logging.getLogger(logger_name).removeHandler(handler)
    stream, handler.stream = handler.stream, None
    try:
        if stream is not None:
            stream.close()
    except OSError:
        pass
    logging.getLogger("balancelab").warning("%s can no longer be written (%s); %s.", what, exc, consequence)
