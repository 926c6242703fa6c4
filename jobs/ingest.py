"""Ingest: WARC/WET inputs -> ``stages/ingest/`` (one row per document record, text and language).

One Spark task per input file. A file that fails part-way keeps the rows read before the failure
and is listed under ``failed_inputs`` in the stage's stats; the run goes on.

    spark-submit jobs/ingest.py --input 'crawl/*.warc.gz' --output out/
"""

from __future__ import annotations

import argparse
import functools
import sys
from pathlib import Path
from typing import Any

from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from jobs.options import add_common, fail_usage, job_main
from jobs.stage_io import write_stage
from pipeline.config import Config
from pipeline.documents import ingest_batches
from pipeline.inputs import InputError, resolve_inputs
from schemas.tables import INGEST_EVENTS, spark_schema

STAGE = "ingest"


def add_input_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--input",
        nargs="+",
        required=True,
        metavar="PATH",
        help="WARC/WET files, directories, globs, http(s) URLs, or Common Crawl warc.paths.gz "
        "manifests (entries are prefixed with --cc-base-url)",
    )
    parser.add_argument(
        "--cc-base-url",
        help="base URL for relative paths in a warc.paths.gz manifest "
        "(default: ingest.cc_base_url, https://data.commoncrawl.org/)",
    )
    parser.add_argument(
        "--max-files", type=int, help="take only the first N inputs (after sorting)"
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_input_arguments(parser)
    add_common(parser)


def check(args: argparse.Namespace, cfg: Config) -> None:
    """Resolve --input into ``args.uris`` before Spark starts; nothing found is a usage error."""
    try:
        args.uris = resolve_inputs(
            args.input, args.cc_base_url or cfg.ingest.cc_base_url, args.max_files
        )
    except (InputError, OSError) as exc:
        fail_usage(str(exc))


def run_ingest(spark: SparkSession, uris: list[str], out: Path, cfg: Config) -> dict[str, Any]:
    uri_rows = spark.sparkContext.parallelize([(u,) for u in uris], len(uris))
    files = spark.createDataFrame(uri_rows, "uri string")
    events = files.mapInArrow(
        functools.partial(ingest_batches, cfg=cfg.ingest), spark_schema(INGEST_EVENTS)
    ).persist(StorageLevel.DISK_ONLY)
    docs = events.where(F.col("doc_id").isNotNull()).drop("input_error")

    def failures(_written: DataFrame) -> dict[str, Any]:
        rows = events.where(F.col("doc_id").isNull()).collect()
        failed = [{"path": r["input_file"], "error": r["input_error"]} for r in rows]
        return {"input_files": len(uris), "failed_inputs": sorted(failed, key=lambda f: f["path"])}

    try:
        # write_stage computes (and caches) the events; the failures are then read from the cache.
        return write_stage(docs, out, STAGE, failures)
    finally:
        events.unpersist()


def run(spark: SparkSession, args: argparse.Namespace, cfg: Config) -> dict[str, Any]:
    return run_ingest(spark, args.uris, args.output, cfg)


def main(argv: list[str] | None = None) -> int:
    return job_main(sys.modules[__name__], argv)


if __name__ == "__main__":
    sys.exit(main())
