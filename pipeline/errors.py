"""gristmill's errors, grouped by what the caller should do about them (dolma's ``core/errors``
is the model). Each module's own error subclasses one of these, so a handler catches a group, not
a list of modules' names, and each group is handled in exactly one place:

- :class:`UsageError`: what was asked cannot be done as asked (a command line, a config, a model
  or benchmark file, an output directory that holds something else). Raised before anything is
  written where possible; the command line prints the message once and exits 2 (``jobs/options``).
- :class:`InputFileError`: one input file cannot be read (not a WARC, cut short, gone). The
  ingest stage reports it by name in ``failed_inputs`` and goes on with the other files.
- :class:`RetryableError`: a failure that may pass (a 503, a reset connection). Retried with
  backoff where it happens (``pipeline/remote``); still failing, the input is set aside in the
  ledger and planned again by the next run.

Anything else is a bug, and is left to raise with its traceback.
"""

from __future__ import annotations

from typing import NoReturn

EXIT_USAGE = 2


class UsageError(ValueError):
    """A request that cannot be carried out as given; the message says what to change."""


class InputFileError(OSError):
    """One input file that cannot be read; the others are still processed."""


class RetryableError(OSError):
    """A failure that may pass if the same thing is tried again later."""


def fail_usage(message: str) -> NoReturn:
    """Stop with a usage error (the command line exits 2 with this message)."""
    raise UsageError(message)
