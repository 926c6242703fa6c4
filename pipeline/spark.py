"""The one SparkSession factory: embedded ``local[*]`` by default, any master when given.

Python workers run the interpreter the driver runs (the project's virtualenv) unless
PYSPARK_PYTHON says otherwise, so executors import the same gristmill and models.
"""

from __future__ import annotations

import os
import sys

from pyspark.sql import SparkSession

from pipeline.config import SparkConfig


def spark_session(cfg: SparkConfig, master: str | None = None) -> SparkSession:
    """Get or create the session; ``master`` (from --master) overrides the config's."""
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    builder = (
        SparkSession.builder.appName(cfg.app_name)
        .config("spark.driver.memory", cfg.driver_memory)
        .config("spark.executor.memory", cfg.executor_memory)
        .config("spark.sql.shuffle.partitions", str(cfg.shuffle_partitions))
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config("spark.ui.showConsoleProgress", "false")
        # One input file is one task; let Spark not retry a deterministic failure forever.
        .config("spark.task.maxFailures", "2")
    )
    # Under spark-submit the JVM is already up (PYSPARK_GATEWAY_PORT is set) and its --master
    # wins unless --master was also given to gristmill itself.
    if master or "PYSPARK_GATEWAY_PORT" not in os.environ:
        builder = builder.master(master or cfg.master)
    for key, value in cfg.conf.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel(cfg.log_level)
    return spark
