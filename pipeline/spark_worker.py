"""Two fixed costs that PySpark's Python workers add to every task, removed in each worker that
imports gristmill (:func:`spare`, called from ``gristmill/__init__.py``), on any master.

Before every task a PySpark worker calls ``importlib.invalidate_caches()`` (to see files added
with ``addPyFile``), and since Python 3.10 that makes every ``zipimporter`` re-read its
archive's whole directory. A PySpark worker's path holds pyspark.zip (1,220 entries, one importer
per imported subpackage: 13 here) and the spark-core jar (5,261 entries, two importers), and
under ``gristmill submit`` the project's own zip: a task that does nothing took 0.1-0.2 s of
Python before it started (measured with cProfile in the worker: 26,000 directory entries parsed a
task). Those archives, and the ``--py-files`` zips gristmill ships (named by a hash of their
contents), never change while a worker lives, so here an importer keeps the directory it read;
new path entries and plain directories are still looked up afresh.

After every task the daemon's worker loop also runs a full garbage collection, which walks every
object the worker holds: 0.17 s a task in an ingest worker (174,000 tracked objects: pyarrow,
numba, the language model...), where the task itself may take a second. Here it collects the
young generations only, where a task's cyclic garbage is; what outlives them is left to Python's
own full collections, which run when the old generation has grown by a quarter.

Both are changed inside the worker, the first time a task imports gristmill, and last as long as
the worker (PySpark reuses it for the application's later tasks). In local mode the daemon is
gristmill's own (:mod:`gristmill.pipeline.spark_daemon`), which imports gristmill before it forks:
both are changed there once, and every worker starts with them. It must be importable before any
task has run, where ``--py-files`` are not yet on the path (a cluster's executors), so it serves
local mode only.
"""

from __future__ import annotations

import gc
import sys
import zipimport
from types import ModuleType
from typing import Any

# The module that PySpark's JVM starts its Python workers from (``python -m pyspark.daemon``):
# each worker is a fork of it, running its loop in its ``__main__``; and gristmill's, which runs
# that module's loop after loading the stage code (``spark.python.daemon.module`` in local mode).
DAEMON = "pyspark.daemon"
PRELOADING_DAEMON = "gristmill.pipeline.spark_daemon"


def _keep_directory(self: zipimport.zipimporter) -> None:
    """An archive's directory, once read, stays valid: the archives never change in place."""


class _YoungCollections:
    """The ``gc`` module as the daemon sees it, but ``collect()`` takes generations 0 and 1."""

    def __getattr__(self, name: str) -> Any:
        return getattr(gc, name)

    @staticmethod
    def collect(generation: int = 1) -> int:
        return gc.collect(min(generation, 1))


def _daemon() -> ModuleType | None:
    """The module whose worker loop this process runs, if a PySpark daemon started it (the
    daemon itself, or a worker it forked): PySpark's daemon run as ``__main__``, or the one
    that gristmill's daemon imported."""
    spec = getattr(sys.modules.get("__main__"), "__spec__", None)
    name = spec.name if spec is not None else None
    if name == DAEMON:
        return sys.modules["__main__"]
    return sys.modules.get(DAEMON) if name == PRELOADING_DAEMON else None


def in_worker() -> bool:
    """Whether this process is a PySpark daemon or a Python worker forked by one. A driver, a
    notebook or a test run its own ``__main__``, and keeps Python's own behaviour."""
    return _daemon() is not None


def spare() -> None:
    """Remove both costs from this process, if it is a PySpark worker (else nothing)."""
    daemon = _daemon()
    if daemon is not None:
        zipimport.zipimporter.invalidate_caches = _keep_directory  # type: ignore[method-assign]
        daemon.gc = _YoungCollections()  # type: ignore[attr-defined]  # its loop's gc.collect()
