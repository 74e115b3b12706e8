"""The errors gradwise expects: the user's or the machine's faults, never a bug.

Every one is a :class:`GradwiseError`; the command line prints it as one line (``gradwise
train: error: ...``) and exits with status 2. Any other exception is a bug and keeps its
traceback. Each class also derives from ``ValueError``, so code that caught ``ValueError``
before keeps working.

- :class:`ConfigError`: an invalid configuration (a key, its value and what it accepts).
- :class:`DataError`: data that cannot be trained on (file, row, column and value).
- :class:`CheckpointError`: a weights or checkpoint file that is truncated, corrupt, crafted
  or does not fit the model, optimizer or run.
- :class:`RunError`: a run folder that cannot be used as asked (another run in it, nothing to
  resume, not writable).
"""

from __future__ import annotations

__all__ = ["CheckpointError", "ConfigError", "DataError", "GradwiseError", "RunError"]


class GradwiseError(Exception):
    """An expected error: the message is one line naming the offending thing and its value."""


class ConfigError(GradwiseError, ValueError):
    """An invalid configuration: the message names the key and what it accepts."""


class DataError(GradwiseError, ValueError):
    """Data that cannot be used: the message names the file, row, column and value."""


class CheckpointError(GradwiseError, ValueError):
    """A weights or checkpoint file that is truncated, corrupt, crafted or does not fit."""


class RunError(GradwiseError, ValueError):
    """A run folder that cannot be used as asked."""
