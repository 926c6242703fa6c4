"""PySpark's daemon with gristmill's stage code loaded before it forks a worker (local mode).

PySpark runs one daemon per executor (``python -m pyspark.daemon``) and forks a Python worker
from it whenever a task needs one and none is idle. Each fork started bare: a tokenize worker's
first task took 2.0 s of which 24 ms was the task's work, the rest importing gristmill's stage
code (numba, pyarrow, the extractor, the models' libraries: 1.5-1.7 s), loading the tables and
kernels it reads, for each new worker of each stage; in a small batch that is most of a stage.
This daemon imports every stage's job module (and pandas, which pyarrow imports when it first
converts a Python list), loads the per-code-point tables and initializes numba's typing (one
kernel) first, so that every fork starts with them in its copy of the daemon's memory, and it
spares PySpark's per-task costs there once for all forks (:mod:`gristmill.pipeline.spark_worker`).

It serves local mode only (``spark.python.daemon.module``, set by :mod:`gristmill.pipeline.spark`):
a cluster's executors start their daemon before any task has put gristmill's zip on the path.
Nothing it loads writes to standard output, where the daemon tells the JVM its port; a failure
to load is reported on standard error and the workers import what they need themselves, where
the same failure then fails the task with its own message.
"""

from __future__ import annotations

import contextlib
import sys
import traceback

from pyspark import daemon

from gristmill.pipeline import spark_worker


def preload() -> None:
    """Import every stage's code and load what every worker of it reads first."""
    import pandas  # noqa: F401  pyarrow imports it when it first converts a Python list: 0.46 s

    from gristmill.filters import lines
    from gristmill.pipeline.kernels import STORED_TABLES
    from gristmill.pipeline.stages import BATCH, FINAL

    for stage in (*BATCH, *FINAL):
        stage.module()
    for table in STORED_TABLES:
        table()
    lines.whitespace_words("numba's typing, once")


if __name__ == "__main__":
    # gristmill's own import ran before this module was ``__main__`` (``python -m`` imports the
    # packages first), where it could not tell that this is a daemon.
    spark_worker.spare()
    with contextlib.redirect_stdout(sys.stderr):
        try:
            preload()
        except Exception:  # each worker imports what it needs itself, and fails there
            traceback.print_exc()
    daemon.manager()
