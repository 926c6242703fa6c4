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
import json
import os
import sys
import uuid
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from pyspark.sql import SparkSession

from gristmill.jobs import arguments
from gristmill.jobs.batches import (
    DEFAULT_OPTIONS,
    StageOptions,
    open_ledger,
    plan_batch,
    run_and_record,
)
from gristmill.jobs.local_rows import one_row_per_task
from gristmill.jobs.options import job_main
from gristmill.jobs.quality import check_languages
from gristmill.jobs.stage_io import commit_stage, read_stage_stats, temp_path
from gristmill.pipeline.config import Config, IngestConfig
from gristmill.pipeline.documents import input_batches
from gristmill.pipeline.errors import fail_usage
from gristmill.pipeline.inputs import is_remote, resolve_inputs
from gristmill.pipeline.layout import Layout
from gristmill.pipeline.ledger import Ledger, crawl_manifest, file_sha256
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
    """Resolve --input (or --crawl-id) into ``args.uris`` before Spark starts; the codes of
    the language screen (``ingest.languages``) are lid.176's."""
    if cfg.ingest.languages:
        check_languages(cfg)
    if args.max_files is not None and args.max_files < 1:
        fail_usage(f"--max-files must be >= 1, not {args.max_files}")
    args.uris = resolve_uris(
        args.input or [], cfg, crawl_id=args.crawl_id, cc_base_url=args.cc_base_url
    )


_ERROR_COLUMNS = ["input_file", "input_error", "input_retryable"]
# Rows buffered (as Arrow, uncompressed) before they are written as one Parquet row group:
# large enough for the later stages' column reads, small against a Python worker's memory.
ROW_GROUP_BYTES = 32 << 20
PART_PREFIX = "part-"
# What a task answers for each input: its place in the batch, the hidden file it wrote, the
# input's error rows (JSON) and a local input's sha256 (for the ledger).
_WRITTEN = pa.schema(
    [
        ("index", pa.int64()),
        ("partial", pa.string()),
        ("errors", pa.string()),
        ("checksum", pa.string()),
    ]
)


def _write_input(
    uri: str, size: int | None, index: int, cfg: IngestConfig, directory: Path
) -> dict[str, Any]:
    """One input file's documents -> a hidden Parquet file in ``directory``, named afresh by
    each task attempt; what the driver needs to accept it (:data:`_WRITTEN`)."""
    partial = directory / f".{PART_PREFIX}{uuid.uuid4().hex}.parquet"
    errors: list[dict[str, Any]] = []
    pending: list[pa.RecordBatch] = []
    buffered = 0
    with pq.ParquetWriter(partial, INGEST, compression="snappy") as writer:
        for events in input_batches(uri, cfg, size):
            error = pc.is_null(events.column("doc_id"))
            if pc.any(error).as_py():
                errors += events.filter(error).select(_ERROR_COLUMNS).to_pylist()
                events = events.filter(pc.invert(error))
            columns = events.select(INGEST.names).columns
            pending.append(pa.RecordBatch.from_arrays(columns, schema=INGEST))
            buffered += pending[-1].nbytes
            if buffered >= ROW_GROUP_BYTES:
                _flush(writer, pending)
                buffered = 0
        _flush(writer, pending)
    return {
        "index": index,
        "partial": partial.name,
        "errors": json.dumps(errors),
        "checksum": _local_checksum(uri, size),
    }


def _local_checksum(uri: str, planned_size: int | None) -> str | None:
    """The sha256 of a local input, read again just after its documents (from the page cache,
    as a rule: about 1 s a GB, against minutes to extract its pages). None for a URL (the ledger
    has its ETag), a file that cannot be read (its error is reported already), or one whose
    size is no longer the size the ledger planned: its hash would describe other bytes."""
    path = uri.removeprefix("file://")
    if is_remote(uri):
        return None
    try:
        if planned_size is not None and os.path.getsize(path) != planned_size:
            return None
        return f"sha256:{file_sha256(path)}"
    except OSError:
        return None


def _flush(writer: pq.ParquetWriter, pending: list[pa.RecordBatch]) -> None:
    """Write the buffered rows as one row group."""
    table = pa.Table.from_batches(pending, schema=INGEST)
    pending.clear()
    if table.num_rows:
        writer.write_table(table, row_group_size=table.num_rows)


def _documents(
    batches: Iterable[pa.RecordBatch], cfg: IngestConfig, directory: str
) -> Iterator[pa.RecordBatch]:
    """mapInArrow body: each input's documents written by this Python worker itself
    (:func:`_write_input`), one row per input back to the driver.

    Handing the rows to Spark's Parquet writer instead cost a JVM-side conversion and encoding
    of every text: on 5,424 documents (44 files, local[2], four interleaved runs each), the
    JVM's CPU 4.0-5.9 s that way against 1.4-2.5 s this way, the stage's best 48.9 against
    46.1 s of CPU (the first form of this writer: 4.6-5.5 against 1.6-1.9, 50.3 against 44.5).
    """
    for batch in batches:
        for row in batch.to_pylist():
            written = _write_input(row["uri"], row["size"], row["index"], cfg, Path(directory))
            yield pa.RecordBatch.from_pylist([written], schema=_WRITTEN)


def _accept(directory: Path, written: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Name the accepted attempts' files ``part-<index>.parquet``, and return the inputs' error
    rows. Spark answers one attempt per task however many ran (retries, speculation), so only
    that attempt's file and errors count; a file set aside on the network (a retryable error)
    gets an empty part, its rows to be read again in a later batch. Every other hidden file
    (attempts that died or lost) is removed."""
    failures = []
    for w in written:
        errors = json.loads(w["errors"])
        final = directory / f"{PART_PREFIX}{w['index']:06d}.parquet"
        if any(e["input_retryable"] for e in errors):
            pq.write_table(INGEST.empty_table(), final, compression="snappy")
        else:
            (directory / w["partial"]).rename(final)
        failures += errors
    for leftover in directory.glob(f".{PART_PREFIX}*"):
        leftover.unlink()
    return failures


def run_ingest(
    spark: SparkSession,
    uris: list[str],
    out: Path,
    cfg: Config,
    batch: int | None = None,
    sizes: list[int | None] | None = None,
) -> tuple[dict[str, Any], dict[str, str]]:
    """Ingest the inputs, one task each; ``sizes``, their lengths as the ledger recorded them.
    Returns the stage's stats and, for the ledger, the sha256 each task took of a local input
    it read, by uri (80,000 of them a night: not for _stats.json).

    A file that failed on the network (after its retries) is set aside whole: none of its rows
    are written, and the stats list it under ``deferred_inputs`` for the ledger to plan again. A
    damaged file keeps the rows read before the damage and is listed under ``failed_inputs``.
    The Python workers write the table themselves (:func:`_documents`), so the output must be a
    path every executor sees, as for Spark's own writer; the driver collects one small row per
    input (it holds the batch's list of inputs already).
    """
    sizes = sizes or [None] * len(uris)
    listed = pa.table(
        {
            "uri": pa.array(uris, pa.string()),
            "size": pa.array(sizes, pa.int64()),
            "index": pa.array(range(len(uris)), pa.int64()),
        }
    )
    tmp = temp_path(out, Layout(out).stage(STAGE, batch)).resolve()
    tmp.mkdir(parents=True)
    write = functools.partial(_documents, cfg=cfg.ingest, directory=str(tmp))
    files = one_row_per_task(spark, listed)
    written = [r.asDict() for r in files.mapInArrow(write, spark_schema(_WRITTEN)).collect()]
    failures = _accept(tmp, written)
    checksums = {uris[w["index"]]: w["checksum"] for w in written if w["checksum"]}
    failed = sorted({(r["input_file"], r["input_error"], r["input_retryable"]) for r in failures})
    deferred = [{"path": path, "error": error} for path, error, retryable in failed if retryable]
    extra = {
        "input_files": len(uris) - len(deferred),
        "failed_inputs": [
            {"path": path, "error": error} for path, error, retryable in failed if not retryable
        ],
        "deferred_inputs": deferred,
    }
    stats = commit_stage(spark, tmp, spark_schema(INGEST), out, STAGE, lambda _w, _c: extra, batch)
    return stats, checksums


def run_batch(
    spark: SparkSession,
    out: Path,
    cfg: Config,
    batch: int,
    ledger: Ledger,
    options: StageOptions = DEFAULT_OPTIONS,
) -> dict[str, Any]:
    inputs = ledger.inputs(batch)
    uris, sizes = [i["uri"] for i in inputs], [i["size"] for i in inputs]
    stats, checksums = run_ingest(spark, uris, out, cfg, batch, sizes)
    ledger.settle_inputs(
        batch, stats["deferred_inputs"], cfg.ingest.network.max_attempts, checksums
    )
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
