"""PySpark's Python workers, once a task imported gristmill, keep their zip directories across
tasks and collect only the young generations after each; in local mode they are forked from
gristmill's daemon with the stage code and its tables loaded; the driver keeps Python's own
behaviour; the job group names the gristmill stage; the embedded JVM runs with
spark.local_jvm_options."""

from __future__ import annotations

import importlib
import sys
import zipimport

from gristmill.jobs.progress import progress
from gristmill.pipeline import spark_worker
from gristmill.pipeline.config import SparkConfig


def _worker_state(_rows):
    """In a worker, after a task ran there: what the daemon had loaded, is a zip directory
    re-read by invalidate_caches, and what the daemon's gc.collect() does."""
    # Before this task imports anything of a stage: the daemon did.
    from gristmill.filters import words

    loaded = "gristmill.jobs.tokenize_shards" in sys.modules and words.char_classes.cache_info()

    cache = sys.path_importer_cache.values()
    importers = [f for f in cache if isinstance(f, zipimport.zipimporter)]
    before = [importer._files for importer in importers]  # the directory each has read
    importlib.invalidate_caches()  # what PySpark runs before every task
    reread = any(i._files is not b for i, b in zip(importers, before, strict=True))
    loop = sys.modules[spark_worker.DAEMON]  # the loop gristmill's daemon runs
    main = sys.modules["__main__"].__spec__.name
    yield (main, bool(loaded and loaded.currsize), len(importers), reread, type(loop.gc).__name__)


def test_workers_start_loaded_keep_zip_directories_and_collect_young_generations(spark):
    conf = spark.sparkContext.getConf()
    assert conf.get("spark.python.daemon.module") == spark_worker.PRELOADING_DAEMON
    with progress(spark.sparkContext, "batch 7 dedup"):
        rdd = spark.sparkContext.parallelize(range(4), 2)
        states = rdd.mapPartitions(_worker_state).collect()
        group = spark.sparkContext.getLocalProperty("spark.jobGroup.id")
    assert group == "batch 7 dedup"
    for main, loaded, importers, reread, gc_kind in states:
        assert main == spark_worker.PRELOADING_DAEMON
        assert loaded
        assert importers > 0  # pyspark.zip is on a PySpark worker's path
        assert not reread
        assert gc_kind == "_YoungCollections"


def test_the_driver_keeps_pythons_own_behaviour():
    assert not spark_worker.in_worker()
    spark_worker.spare()  # as importing gristmill did here
    assert zipimport.zipimporter.invalidate_caches is not spark_worker._keep_directory
    young = spark_worker._YoungCollections
    assert not isinstance(getattr(sys.modules["__main__"], "gc", None), young)


def test_the_embedded_jvm_runs_with_the_local_flags_before_the_given_ones(spark):
    bean = spark.sparkContext._jvm.java.lang.management.ManagementFactory.getRuntimeMXBean()
    arguments = list(bean.getInputArguments())
    flags = SparkConfig().local_jvm_options.split()
    assert flags and all(flag in arguments for flag in flags)
    # The quiet log4j setting is appended after them, as conf's own extraJavaOptions are: the
    # JVM takes the last of a repeated flag, so a flag given there wins.
    log4j = next(i for i, a in enumerate(arguments) if a.startswith("-Dlog4j2.configurationFile"))
    assert max(arguments.index(flag) for flag in flags) < log4j
