"""Ingest: WARC/WET inputs -> ``stages/ingest/batch=N/`` (one row per document record, text and
language), for a new batch of the inputs this output has not seen (see
:mod:`gristmill.pipeline.ledger`).

One Spark task per input file. A file that fails part-way keeps the rows read before the failure
and is listed under ``failed_inputs`` in the stage's stats; the run goes on.

    spark-submit jobs/ingest.py --input 'crawl/*.warc.gz' --output out/
"""

from __future__ import annotations

import argparse
import functools
import shutil
import sys
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from pyspark.accumulators import Accumulator, AccumulatorParam
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from gristmill.jobs import arguments
from gristmill.jobs.batches import (
    DEFAULT_OPTIONS,
    StageOptions,
    open_ledger,
    plan_batch,
    run_and_record,
)
from gristmill.jobs.options import job_main
from gristmill.jobs.stage_io import commit_stage, read_stage_stats, temp_path
from gristmill.pipeline.config import Config, IngestConfig
from gristmill.pipeline.documents import ingest_batches
from gristmill.pipeline.errors import fail_usage
from gristmill.pipeline.inputs import resolve_inputs
from gristmill.pipeline.layout import Layout
from gristmill.pipeline.ledger import Ledger, crawl_manifest
from gristmill.pipeline.log import logger
from gristmill.schemas.tables import INGEST, spark_schema

LOG = logger(__name__)

STAGE = "ingest"


add_arguments = arguments.ingest


def resolve_uris(
    specs: Sequence[str],
    cfg: Config,
    *,
    crawl_id: str | None = None,
    cc_base_url: str | None = None,
) -> list[str]:
    """The input files of ``--input`` specs (paths, globs, URLs, ``warc.paths.gz`` manifests),
    or of a whole crawl's manifest by ``crawl_id``; nothing found is a usage error."""
    base_url = cc_base_url or cfg.ingest.cc_base_url
    if not specs:
        if not crawl_id:
            fail_usage("no inputs: give --input or --crawl-id")
        specs = [crawl_manifest(crawl_id, base_url)]
    try:
        return resolve_inputs(list(specs), base_url)
    except OSError as exc:
        fail_usage(str(exc))


def check(args: argparse.Namespace, cfg: Config) -> None:
    """Resolve --input (or --crawl-id) into ``args.uris`` before Spark starts."""
    if args.max_files is not None and args.max_files < 1:
        fail_usage(f"--max-files must be >= 1, not {args.max_files}")
    args.uris = resolve_uris(
        args.input or [], cfg, crawl_id=args.crawl_id, cc_base_url=args.cc_base_url
    )


class _Rows(AccumulatorParam):
    """An accumulator of row dicts: the failed inputs, reported by the tasks that read them."""

    def zero(self, value: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return []

    def addInPlace(
        self, value1: list[dict[str, Any]], value2: list[dict[str, Any]]
    ) -> list[dict[str, Any]]:
        return value1 + value2


_ERROR_COLUMNS = ["input_file", "input_error", "input_retryable"]


def _documents(
    batches: Iterable[pa.RecordBatch], cfg: IngestConfig, failures: Accumulator
) -> Iterator[pa.RecordBatch]:
    """mapInArrow body: :func:`ingest_batches`, with each failed file's error row sent to the
    driver by ``failures`` instead of into the table. The table is then written in one pass: no
    persisted copy of every text to split the errors off (measured: about 0.5 ms of JVM time a
    document)."""
    for events in ingest_batches(batches, cfg):
        error = pc.is_null(events.column("doc_id"))
        if pc.any(error).as_py():
            failures.add(events.filter(error).select(_ERROR_COLUMNS).to_pylist())
            events = events.filter(pc.invert(error))
        yield events.select(INGEST.names)


def run_ingest(
    spark: SparkSession,
    uris: list[str],
    out: Path,
    cfg: Config,
    batch: int | None = None,
    sizes: list[int | None] | None = None,
) -> dict[str, Any]:
    """Ingest the inputs, one task each; ``sizes``, their lengths as the ledger recorded them.

    A file that failed on the network (after its retries) is set aside whole: none of its rows
    are written, and the stats list it under ``deferred_inputs`` for the ledger to plan again. A
    damaged file keeps the rows read before the damage and is listed under ``failed_inputs``.
    """
    inputs = list(zip(uris, sizes or [None] * len(uris), strict=True))
    rows = spark.sparkContext.parallelize(inputs, max(1, len(inputs)))
    files = spark.createDataFrame(rows, "uri string, size long")
    failures = spark.sparkContext.accumulator([], _Rows())
    docs = files.mapInArrow(
        functools.partial(_documents, cfg=cfg.ingest, failures=failures), spark_schema(INGEST)
    )
    tmp = temp_path(out, Layout(out).stage(STAGE, batch))
    docs.write.parquet(str(tmp.resolve()))
    # A task that ran twice reports its file twice: one entry per (file, error).
    failed = sorted(
        {(r["input_file"], r["input_error"], r["input_retryable"]) for r in failures.value}
    )
    deferred = [{"path": path, "error": error} for path, error, retryable in failed if retryable]
    if deferred:  # rare: rewrite the table without the rows of the files set aside
        set_aside = [f["path"] for f in deferred]
        whole, tmp = tmp, temp_path(out, Layout(out).stage(STAGE, batch))
        table = spark.read.parquet(str(whole.resolve()))
        table.where(~F.col("input_file").isin(set_aside)).write.parquet(str(tmp.resolve()))
        shutil.rmtree(whole)
    extra = {
        "input_files": len(inputs) - len(deferred),
        "failed_inputs": [
            {"path": path, "error": error} for path, error, retryable in failed if not retryable
        ],
        "deferred_inputs": deferred,
    }
    return commit_stage(spark, tmp, out, STAGE, lambda _w, _c: extra, batch)


def run_batch(
    spark: SparkSession,
    out: Path,
    cfg: Config,
    batch: int,
    ledger: Ledger,
    options: StageOptions = DEFAULT_OPTIONS,
) -> dict[str, Any]:
    inputs = ledger.batch(batch)["inputs"]
    uris, sizes = [i["uri"] for i in inputs], [i["size"] for i in inputs]
    stats = run_ingest(spark, uris, out, cfg, batch, sizes)
    ledger.settle_inputs(batch, stats["deferred_inputs"], cfg.ingest.network.max_attempts)
    for f in stats["deferred_inputs"]:
        LOG.warning("batch %d: %s set aside for the next run: %s", batch, f["path"], f["error"])
    return stats


def ingest_new(
    spark: SparkSession, out: Path, cfg: Config, uris: Sequence[str], max_files: int | None = None
) -> dict[str, Any]:
    """A new batch of the inputs not seen yet, or the latest batch again if its ingest did not
    finish."""
    ledger = open_ledger(out)
    batch = plan_batch(ledger, list(uris), max_files, cfg)
    if batch is None:
        pending = [b for b in ledger.unfinished() if not ledger.done(b, STAGE)]
        if not pending:
            LOG.info("nothing to ingest: every input is in %s", Layout(out).ledger)
            return read_stage_stats(out, STAGE)
        batch = pending[0]
    return run_and_record(STAGE, spark, out, cfg, batch, ledger, DEFAULT_OPTIONS)


def run(spark: SparkSession, args: argparse.Namespace, cfg: Config) -> dict[str, Any]:
    return ingest_new(spark, args.output, cfg, args.uris, args.max_files)


def main(argv: list[str] | None = None) -> int:
    return job_main(sys.modules[__name__], argv)


if __name__ == "__main__":
    sys.exit(main())
