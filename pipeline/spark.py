"""The one SparkSession factory: embedded ``local[*]`` by default, any master when given.

Python workers run the interpreter the driver runs (the project's virtualenv) unless
PYSPARK_PYTHON says otherwise, so executors import the same gristmill and models.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from pyspark import SparkConf, SparkContext
from pyspark.sql import SparkSession

from gristmill.pipeline import class_archive
from gristmill.pipeline.config import SparkConfig
from gristmill.pipeline.spark_worker import PRELOADING_DAEMON

QUIET_LOG4J = Path(__file__).with_name("log4j2.properties")
JAVA_OPTIONS = "spark.driver.extraJavaOptions"
MIN_PARTITIONS = "spark.sql.adaptive.coalescePartitions.minPartitionNum"
DAEMON_MODULE = "spark.python.daemon.module"


def spark_session(
    cfg: SparkConfig, master: str | None = None, verbose: bool = False, archive: bool = True
) -> SparkSession:
    """Get or create the session; ``master`` (from --master) overrides the config's.

    Unless ``verbose``, the driver's JVM logs errors only (``log4j2.properties`` here), from its
    first line: a user sees gristmill's progress, not Spark's start-up noise.

    A local JVM starts from the class archive where one was built
    (:mod:`gristmill.pipeline.class_archive`; not while building one, ``archive`` False).

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
        # Adaptive query execution sizes each shuffle by its data: partitions are coalesced to
        # about advisory_partition_mb, or to a share of the cluster's cores each, whichever is
        # smaller, and to no less than 1 MB (Spark's minPartitionSize). A large batch runs
        # many tasks, a tiny one few, and a small one still every core: coalesced to the size
        # alone, the crawl-sized bench batch's tokenizing and decontamination (after a join)
        # ran as one task of 33-40 MB on one core of two, 5-6 s of 10 and 2 s of 6.
        "spark.sql.adaptive.enabled": "true",
        "spark.sql.adaptive.coalescePartitions.enabled": "true",
        "spark.sql.adaptive.coalescePartitions.parallelismFirst": "true",
        "spark.sql.adaptive.advisoryPartitionSizeInBytes": f"{cfg.advisory_partition_mb}m",
        # A persisted DataFrame's last shuffle is coalesced too. Spark 4.0 leaves it at
        # spark.sql.shuffle.partitions (so that a later join on the same key may reuse its
        # partitioning): dedup's persisted table of a batch's texts, hashpartitioned by
        # text_hash, then ran the MinHash signatures and every later stage over it as 8 tasks a
        # stage (4 per core), of a few rows each on a small batch. Coalesced, dedup's Spark
        # jobs took 3.7 s instead of 5.1 on the demo sample, 4.0 instead of 5.9 on 5,424
        # documents; the outputs are the same.
        "spark.sql.optimizer.canChangeCachedPlanOutputPartitioning": "true",
        "spark.sql.execution.arrow.pyspark.enabled": "true",
        "spark.ui.showConsoleProgress": "false",
        # One input file is one task; do not retry a deterministic failure forever.
        "spark.task.maxFailures": "2",
    }
    local = (master or cfg.master).startswith("local")
    settings.update(cfg.conf)
    if submitted is None and local:
        classes = class_archive.jvm_options() if archive else ""
        given = settings.get(JAVA_OPTIONS, "")
        settings[JAVA_OPTIONS] = " ".join(o for o in (cfg.local_jvm_options, classes, given) if o)
        # Python workers forked with the stage code loaded (pipeline/spark_daemon.py).
        settings.setdefault(DAEMON_MODULE, PRELOADING_DAEMON)
    if not verbose:
        quiet = f"-Dlog4j2.configurationFile={QUIET_LOG4J.resolve().as_uri()}"
        settings[JAVA_OPTIONS] = f"{settings.get(JAVA_OPTIONS, '')} {quiet}".strip()
    builder = SparkSession.builder
    for key, value in settings.items():
        if submitted is None or not submitted.contains(key):
            builder = builder.config(key, value)
    if master:
        builder = builder.master(master)
    elif submitted is None or not submitted.contains("spark.master"):
        builder = builder.master(cfg.master)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel(cfg.log_level if verbose else "ERROR")
    if submitted is None or not submitted.contains("spark.sql.shuffle.partitions"):
        partitions = cfg.shuffle_partitions or shuffle_partitions_for(spark, cfg.shuffle_per_core)
        spark.conf.set("spark.sql.shuffle.partitions", str(partitions))
    # Coalesced to no fewer partitions than a shuffle starts with, unless under 1 MB each: the
    # Python work after a join follows the documents' texts, not the bytes shuffled (the texts
    # of documents dropped since ride along), and one partition per core left one core idle:
    # the crawl-sized bench batch's tokenizing ran 8.2 s on one core while the other's task
    # was done in 1.7 s, its decontamination 1.5 against 0.5.
    shuffle = spark.conf.get("spark.sql.shuffle.partitions")
    derived = MIN_PARTITIONS not in cfg.conf and (
        submitted is None or not submitted.contains(MIN_PARTITIONS)
    )
    if shuffle and derived:
        spark.conf.set(MIN_PARTITIONS, shuffle)
    return spark


def cluster_parallelism(spark: SparkSession) -> int:
    """Cores the application can use: the cores it asked for (spark.cores.max on a standalone
    cluster, executor instances x cores on YARN or Kubernetes) when it said, else what the
    scheduler reports (on a cluster, the executors registered so far)."""
    conf = spark.sparkContext.getConf()
    asked = 0
    if conf.contains("spark.cores.max"):
        asked = int(conf.get("spark.cores.max", "0"))
    elif conf.contains("spark.executor.instances") and conf.contains("spark.executor.cores"):
        instances = conf.get("spark.executor.instances", "0")
        asked = int(instances) * int(conf.get("spark.executor.cores", "0"))
    return max(asked, spark.sparkContext.defaultParallelism)


def shuffle_partitions_for(spark: SparkSession, per_core: int) -> int:
    """The starting number of shuffle partitions: a few per core, for adaptive execution to
    coalesce into what each shuffle's data needs."""
    return per_core * cluster_parallelism(spark)
