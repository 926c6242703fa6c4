"""Command-line options shared by every stage job, and the way a job starts.

Each job module defines ``add_arguments(parser)`` and ``run(spark, args, cfg)`` (and optionally
``check(args, cfg)``); :func:`job_main` turns those into a ``main()`` usable both by
``gristmill <stage>`` and by ``spark-submit jobs/<stage>.py``. A usage error
(:class:`~gristmill.pipeline.errors.UsageError`, bad configs included) raised anywhere in a job
is reported here, once, and exits with code 2.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from gristmill.pipeline.config import load_config
from gristmill.pipeline.errors import EXIT_USAGE, UsageError
from gristmill.pipeline.layout import Layout
from gristmill.pipeline.log import configure, logger

LOG = logger(__name__)

EXIT_LOCKED = 3


def start(args: argparse.Namespace, job: Any) -> Any:
    """Check the config and the job's arguments, then start Spark and run the job.

    A job module may define ``check(args, cfg)`` to validate its arguments (resolve inputs, read
    benchmark files) before Spark starts, so that a usage error costs no JVM start and leaves
    nothing behind in the output directory. A usage error from any part of it ends here.
    """
    configure()
    try:
        # A job comparing several configs names the one whose spark: section starts Spark.
        cfg = load_config(job.config_path(args) if hasattr(job, "config_path") else args.config)
        if hasattr(job, "check"):
            job.check(args, cfg)
        from gristmill.pipeline.spark import spark_session

        out = getattr(args, "output", None)
        with output_lock(out) if out is not None else contextlib.nullcontext():
            # A job may need no Spark for some arguments (ablate --runs: no JVM, no Java).
            if hasattr(job, "needs_spark") and not job.needs_spark(args):
                return job.run(None, args, cfg)
            spark = spark_session(cfg.spark, args.master, args.verbose)
            return job.run(spark, args, cfg)
    except UsageError as exc:
        LOG.error("gristmill: error: %s", exc)
        raise SystemExit(EXIT_USAGE) from None


@contextlib.contextmanager
def output_lock(out: Path) -> Iterator[None]:
    """Hold an exclusive lock on the output directory for the length of a run.

    Two runs writing the same stages would replace each other's tables mid-flight. The lock is
    an flock on ``<output>/.gristmill.lock``: the kernel drops it when the process ends however
    it ends (kill -9 included), so a stale lock file never blocks the next run.
    """
    out.mkdir(parents=True, exist_ok=True)
    path = Layout(out).lock
    with path.open("a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = path.read_text().strip() or "unknown"
            LOG.error(
                "gristmill: error: another gristmill run (pid %s) is using %s; wait for it to "
                "finish or choose another --output",
                holder,
                out,
            )
            raise SystemExit(EXIT_LOCKED) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def job_main(job: Any, argv: list[str] | None = None) -> int:
    """``main()`` of a job module: its own options, then :func:`start`; 0 on success."""
    name = job.__name__.rsplit(".", 1)[-1]
    parser = argparse.ArgumentParser(
        prog=f"gristmill {name}",
        description=job.__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    job.add_arguments(parser)
    start(parser.parse_args(argv), job)
    return 0
