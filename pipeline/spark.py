"""The one SparkSession factory: embedded ``local[*]`` by default, any master when given.

Python workers run the interpreter the driver runs (the project's virtualenv) unless
PYSPARK_PYTHON says otherwise, so executors import the same gristmill and models.
"""

from __future__ import annotations

import os
import sys

from pyspark import SparkConf, SparkContext
from pyspark.sql import SparkSession

from gristmill.pipeline.config import SparkConfig


def spark_session(cfg: SparkConfig, master: str | None = None) -> SparkSession:
    """Get or create the session; ``master`` (from --master) overrides the config's.

    Under spark-submit the JVM is already up (PYSPARK_GATEWAY_PORT is set) with the settings
    given to spark-submit (--master, --executor-memory, --conf ...): those win over the config's,
    which only fill in what spark-submit left unset.
    """
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    submitted = None
    if "PYSPARK_GATEWAY_PORT" in os.environ:
        SparkContext._ensure_initialized()  # connect to spark-submit's JVM to read its settings
        submitted = SparkConf()
    settings = {
        "spark.app.name": cfg.app_name,
        "spark.driver.memory": cfg.driver_memory,
        "spark.executor.memory": cfg.executor_memory,
        "spark.sql.shuffle.partitions": str(cfg.shuffle_partitions),
        "spark.sql.execution.arrow.pyspark.enabled": "true",
        "spark.ui.showConsoleProgress": "false",
        # One input file is one task; do not retry a deterministic failure forever.
        "spark.task.maxFailures": "2",
        **cfg.conf,
    }
    builder = SparkSession.builder
    for key, value in settings.items():
        if submitted is None or not submitted.contains(key):
            builder = builder.config(key, value)
    if master:
        builder = builder.master(master)
    elif submitted is None or not submitted.contains("spark.master"):
        builder = builder.master(cfg.master)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel(cfg.log_level)
    return spark
