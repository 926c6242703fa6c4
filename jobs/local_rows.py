"""DataFrames of rows the driver holds (a batch's inputs, a key index's files, a small graph's
components), made in the JVM.

``spark.createDataFrame`` over a Python list or RDD converts the rows in Python workers of their
own: started with other settings than a DataFrame's UDFs (a separate daemon, whose workers never
import gristmill and so re-read PySpark's archives before every task), and run again by every job
that reads the rows. From a pyarrow table the rows are sent to the JVM once, as a local relation.
"""

from __future__ import annotations

import pyarrow as pa
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

_TASK = "_task"


def local_frame(spark: SparkSession, rows: pa.Table) -> DataFrame:
    """``rows`` as a DataFrame of the same columns and types (none of them in a Python worker)."""
    return spark.createDataFrame(rows)


def one_row_per_task(spark: SparkSession, rows: pa.Table) -> DataFrame:
    """``rows`` with one row in each partition, in their order: a range of one number per
    partition joined to the rows, which every task receives whole (80,000 WARC paths are a few
    megabytes). Repartitioning would spread them by hash or round robin, two rows in one task
    and none in another."""
    tasks = spark.range(0, rows.num_rows, 1, numPartitions=max(1, rows.num_rows))
    numbered = rows.append_column(_TASK, pa.array(range(rows.num_rows), pa.int64()))
    listed = F.broadcast(local_frame(spark, numbered))
    return tasks.withColumnRenamed("id", _TASK).join(listed, _TASK).drop(_TASK)
