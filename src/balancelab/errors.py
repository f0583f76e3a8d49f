"""User-facing errors: each message names the thing, the rule and the fix."""

from __future__ import annotations


class BalancelabError(Exception):
    """An error caused by the user's input or environment, reported without a traceback."""


class ConfigError(BalancelabError):
    """The composed config breaks the schema (wrong type, unknown key, invalid choice)."""


class DataError(BalancelabError):
    """The dataset cannot be loaded or split as asked."""


class BalancingError(BalancelabError):
    """A balancing technique cannot be applied to this training set."""


class OutputFolderError(BalancelabError):
    """The run folder cannot be written (finished already, not writable, disk full)."""


class OutputWriteError(OutputFolderError):
    """A file could not be written: disk full, quota, read-only or forbidden folder.

    Keeps its parts (the path, the reason, the free space) so that a command whose fix differs, such as
    balance-report, which has no ``output_root=`` to point elsewhere, can restate it in its own terms.
    """

    def __init__(self, message: str, path=None, reason: str | None = None, free: str | None = None,
                 permission: bool = False):
        super().__init__(message)
        self.path, self.reason, self.free = path, reason, free
        self.permission = permission  # read-only or forbidden (make it writable), not full (free some space)

    def restated(self, fix: str) -> str:
        """The same failure with another fix (the message as it is when the parts are unknown)."""
        if self.path is None:
            return str(self)
        return f"Cannot write {self.path}: {self.reason}. Free space there: {self.free}. {fix}"


class RunLockedError(OutputFolderError):
    """Another process holds the run (or sweep) folder's lock."""


# Exit codes of the console scripts (documented in the README, "When things go wrong").
EXIT_FAILED = 1        # a sweep with failed jobs, or an unexpected error
EXIT_USER_ERROR = 2    # a mistake in the command or config: nothing was run
EXIT_DIVERGED = 3      # training diverged (NaN/inf loss)
EXIT_OUTPUT_ERROR = 4  # an output could not be written (disk full, quota, read-only, permission)
EXIT_LOCKED = 5        # another process is running the same run (or report) right now
EXIT_INTERRUPTED = 75  # stopped by a signal after saving its state; run the same command again to resume
