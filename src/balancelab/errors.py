"""User-facing errors: each message names the thing, the rule and the fix."""


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
