"""PySpark's Python worker daemon (``pyspark.daemon``) without two fixed costs of every task; set
as ``spark.python.daemon.module`` where the workers run this Python (local mode).

Before every task a PySpark worker calls ``importlib.invalidate_caches()`` (to see files added
with ``addPyFile``), and since Python 3.10 that makes every ``zipimporter`` re-read its
archive's whole directory. A PySpark worker's path holds pyspark.zip (1,220 entries, one importer
per imported subpackage: 13 here) and the spark-core jar (5,261 entries, two importers), so a
task that does nothing took 0.1-0.2 s of Python before it started (measured with cProfile in the
worker: 26,000 directory entries parsed a task). Those archives, and the ``--py-files`` zips
gristmill ships (named by a hash of their contents), never change while a worker lives, so here
an importer keeps the directory it read; new path entries and plain directories are still
looked up afresh. Workers fork from this daemon and inherit the change.

After every task the daemon's worker loop also runs a full garbage collection, which walks every
object the worker holds: 0.17 s a task in an ingest worker (174,000 tracked objects: pyarrow,
numba, the language model...), where the task itself may take a second. Here it collects the
young generations only, where a task's cyclic garbage is; what outlives them is left to Python's
own full collections, which run when the old generation has grown by a quarter.
"""

from __future__ import annotations

import gc
import zipimport
from typing import Any


def _keep_directory(self: zipimport.zipimporter) -> None:
    """An archive's directory, once read, stays valid: the archives never change in place."""


zipimport.zipimporter.invalidate_caches = _keep_directory  # type: ignore[method-assign]


class _YoungCollections:
    """The ``gc`` module as the daemon sees it, but ``collect()`` takes generations 0 and 1."""

    def __getattr__(self, name: str) -> Any:
        return getattr(gc, name)

    @staticmethod
    def collect(generation: int = 1) -> int:
        return gc.collect(min(generation, 1))


if __name__ == "__main__":
    from pyspark import daemon

    daemon.gc = _YoungCollections()  # type: ignore[assignment]
    daemon.manager()
