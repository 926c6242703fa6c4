"""The local driver JVM's classes, archived once so that every later local run maps them from one
file instead of loading them one by one from Spark's jars (the JDK's dynamic class-data sharing).

A local run starts its own JVM, and before its first task that JVM finds, reads, verifies and
links about ten thousand classes out of some 280 jars: on 2 cores, 10.2-10.7 s from the import to
a first small job's answer, 11.1-11.3 s of the JVM's CPU, one core busy while the other waits.
With the archive: 4.8-6.5 s, 4.9-6.8 s of CPU (``SparkSession`` 5.7-6.4 -> 2.4-3.4 s, the first
job 3.2-3.7 -> 1.4-2.0 s). Every command (``gristmill run``, each stage alone, the trainings)
pays that start once, a scheduled nightly run included.

The archive is built by a short Spark job in a JVM of its own (:func:`build`; ``make demo``,
``make test`` and ``make bench`` run it first, ``python -m gristmill.pipeline.class_archive``
for any other install) and named after
what it depends on (:func:`archive_path`): the Java runtime and Spark's jars, so an upgraded
JDK or pyspark gets a new one rather than a stale one. The JVM checks the archive anyway (the
runtime's build, each jar's size and time) and runs without it, silently, when it does not
match, as when the file is missing; nothing but the start-up time depends on it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import pyspark

from gristmill import cache_home

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

# The JVM's own messages about the archive (one that no longer matches, classes it cannot keep):
# a run without the archive is a correct run, and says nothing about it.
QUIET = "-Xlog:cds=off -Xlog:cds+dynamic=off"


def archive_path() -> Path:
    """Where this installation's archive lies: the user's cache directory, one file per Java
    runtime and set of Spark jars (two virtualenvs with two pysparks keep one each)."""
    return cache_home() / f"spark-classes-{_installation_key()}.jsa"


def _installation_key() -> str:
    digest = hashlib.sha256()
    jars = Path(pyspark.__file__).parent / "jars"
    for path in [_java(), *sorted(jars.glob("*.jar"))]:
        if path is not None and path.exists():
            stat = path.stat()
            digest.update(f"{path}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:16]


def _java() -> Path | None:
    """The java that Spark's launcher runs: ``$JAVA_HOME/bin/java``, else the one on PATH."""
    home = os.environ.get("JAVA_HOME")
    found = str(Path(home) / "bin" / "java") if home else shutil.which("java")
    return Path(found).resolve() if found else None


def jvm_options(path: Path | None = None) -> str:
    """The options that start a JVM from the archive, or "" where there is none yet."""
    path = archive_path() if path is None else path
    return f"-XX:SharedArchiveFile={path} {QUIET}" if path.is_file() else ""


def build(path: Path) -> bool:
    """Start a session in a fresh local JVM that writes the classes it loaded when it exits, run
    one small job (a shuffle, Parquet out and in), and move the file into place once checked
    (:func:`_verified`). False where the runtime wrote none (a JDK without its base archive) or
    the JVM did not exit cleanly.

    The start-up is what the archive saves: one built from the stages' own work as well (Arrow
    batches to and from Python workers, a join, a sort) started the demo's ``gristmill run`` no
    sooner (30.8 and 34.3 s, against 29.7 and 34.1 s from the session's classes alone). Building
    takes about 40 s on 2 cores, as a JVM that archives runs slower and writes 140-170 MB."""
    from pyspark import SparkContext
    from pyspark.sql import functions as F

    from gristmill.pipeline.config import SparkConfig
    from gristmill.pipeline.spark import spark_session

    if SparkContext._active_spark_context is not None:
        raise RuntimeError("the archive needs a JVM of its own; a SparkContext is already up")
    path.parent.mkdir(parents=True, exist_ok=True)
    written = path.with_name(f"{path.name}.tmp-{os.getpid()}")
    cfg = SparkConfig()  # a local master: what it archives does not depend on the cores
    dump = f"{cfg.local_jvm_options} -XX:ArchiveClassesAtExit={written} {QUIET}"
    spark = spark_session(dataclasses.replace(cfg, local_jvm_options=dump), archive=False)
    try:
        with tempfile.TemporaryDirectory() as where:
            keys = spark.range(1_000).groupBy((F.col("id") % 7).alias("key")).count()
            keys.write.parquet(where + "/keys")
            spark.read.parquet(where + "/keys").collect()
    except BaseException:
        _exit_jvm(spark)
        written.unlink(missing_ok=True)
        raise
    if _exit_jvm(spark) != 0 or not _verified(written):
        written.unlink(missing_ok=True)
        return False
    written.replace(path)
    return True


def _verified(path: Path) -> bool:
    """Whether a JVM started from the archive, every region's checksum checked, does not crash.
    A cut-off archive (a JVM killed while writing it, a full disk) makes every JVM that maps it
    crash at start (SIGBUS), so only a whole file is moved into place. (The JVM passes over the
    archive's classes here, whose class path it no longer finds: a run's JVM has Spark's.)"""
    java = _java()
    if java is None or not path.is_file():
        return False
    check = [
        str(java), f"-XX:SharedArchiveFile={path}", "-XX:+VerifySharedSpaces",
        "-XX:-CreateCoredumpOnCrash", "-version",
    ]  # fmt: skip
    with tempfile.TemporaryDirectory() as crash_log:  # where a crashing JVM writes hs_err_pid*
        return subprocess.run(check, capture_output=True, cwd=crash_log).returncode == 0


def _exit_jvm(spark: SparkSession) -> int | None:
    """Stop the session and wait for its JVM to exit, which is when the archive is written;
    the JVM's exit status (None: no JVM of this process's own to wait for)."""
    from pyspark import SparkContext

    spark.stop()
    gateway = SparkContext._gateway
    if gateway is None or getattr(gateway, "proc", None) is None:
        return None
    gateway.shutdown()
    gateway.proc.stdin.close()  # the launcher's JVM exits when its stdin closes
    return int(gateway.proc.wait(timeout=600))


def main() -> int:
    path = archive_path()
    if path.is_file():
        print(f"class archive up to date: {path}")
        return 0
    print(f"archiving the Spark driver's classes (once per Java and Spark install) to {path}")
    if not build(path):
        print("this Java runtime wrote no class archive; local runs start without one")
    return 0


if __name__ == "__main__":
    sys.exit(main())
