"""gristmill's console output, through stdlib ``logging``.

Jobs and the trainer log to loggers under ``gristmill``; :func:`configure`, called once by each
command-line entry point, sends INFO lines (progress, results) to stdout and warnings and errors
to stderr as bare messages, the way a command-line tool talks. Imported as a library, gristmill
writes nothing unless the application configures logging itself (the ``gristmill`` logger has
only a ``NullHandler`` until then).
"""

from __future__ import annotations

import logging
import sys

ROOT = "gristmill"
logging.getLogger(ROOT).addHandler(logging.NullHandler())


def logger(name: str) -> logging.Logger:
    """The logger of a gristmill module. Under ``spark-submit jobs/run.py`` or ``python -m`` the
    module's ``__name__`` is ``__main__``, outside the ``gristmill`` tree that :func:`configure`
    sets up: it becomes ``gristmill.__main__``."""
    return logging.getLogger(name if name.startswith(f"{ROOT}.") else f"{ROOT}.{name}")


class ConsoleHandler(logging.Handler):
    """Looks up ``sys.stdout``/``sys.stderr`` at each record rather than holding the streams of
    the moment it was made, so redirections (pytest's capture, ``contextlib.redirect_stdout``)
    see the output."""

    def emit(self, record: logging.LogRecord) -> None:
        stream = sys.stderr if record.levelno >= logging.WARNING else sys.stdout
        try:
            stream.write(self.format(record) + "\n")
            stream.flush()
        except Exception:  # logging's contract: a failed write never raises
            self.handleError(record)


def configure(verbose: bool = False) -> None:
    """Console output for a command (idempotent); ``verbose`` adds DEBUG lines."""
    root = logging.getLogger(ROOT)
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    if not any(isinstance(h, ConsoleHandler) for h in root.handlers):
        handler = ConsoleHandler()
        handler.setFormatter(logging.Formatter("%(message)s"))
        root.addHandler(handler)
        root.propagate = False
