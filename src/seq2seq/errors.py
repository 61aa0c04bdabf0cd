"""User-facing errors.

Every mistake a user can make (a bad config key, a ragged corpus line, a missing model file)
raises a :class:`Seq2SeqError` subclass whose message names the place (file:line or config key),
the bad value and what is allowed. The CLI prints the message as one line on stderr and exits
with code 2; library callers can catch the base class.
"""


class Seq2SeqError(Exception):
    """Base class of every error caused by user input rather than by a bug."""


class ConfigError(Seq2SeqError):
    """A configuration file or override is invalid (unknown key, wrong type, bad choice)."""


class DataError(Seq2SeqError):
    """A corpus or input file cannot be read (missing, empty, binary, ragged lines)."""


class ModelDirError(Seq2SeqError):
    """A model directory is missing a file or holds a corrupt one."""


class InputError(Seq2SeqError):
    """An argument or inference input is unusable (empty line, unknown option value)."""
