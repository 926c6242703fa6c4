"""Independent Spark actions of one stage, submitted at once from driver threads.

On a small batch a Spark job costs its scheduling, not its data: 0.1-0.3 s each on 2 cores,
most of it the driver planning and the executors waiting for their tasks. What a stage does
after its table is written is often a row of such jobs that need nothing of each other (dedup:
its records of bands and signatures, its three key indexes, its cluster stats), and one after
the other they cost their sum. Spark's scheduler takes jobs from several driver threads at once
(FIFO among them, each stage's tasks as cores free up), so run together they cost about their
longest, and on a large batch they share the cores as the one-by-one jobs would have.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from pyspark.sql import SparkSession
from pyspark.util import inheritable_thread_target


def together(spark: SparkSession, *actions: Callable[[], Any]) -> list[Any]:
    """Each action's result, in order, once all have finished; the first failure (in the
    actions' order) is raised after the others have finished too, so that nothing still writes
    when the caller cleans up. Each thread keeps the caller's job group and ``spark``'s tags
    (which a new JVM thread does not inherit in PySpark's pinned-thread mode)."""
    with ThreadPoolExecutor(max_workers=len(actions)) as pool:
        inherit = inheritable_thread_target(spark)
        futures = [pool.submit(inherit(action)) for action in actions]
    return [future.result() for future in futures]
