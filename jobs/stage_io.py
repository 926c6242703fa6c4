"""Reading and committing stage tables (where they lie: :mod:`gristmill.pipeline.layout`).

The batch stages are Hive-partitioned by batch, ``stages/<stage>/batch=00001/``, so reading
``stages/<stage>`` sees every batch as one table while a scheduled run adds ``batch=00002``
beside the first without touching it.

A table is written to ``<output>/tmp/`` first, its counts are taken from what was actually
written, and only then is it renamed into place. A run killed mid-stage leaves a directory under
``tmp/`` (cleared by the next run), never a half-written table under the final name.
"""

from __future__ import annotations

import json
import shutil
import uuid
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
from pyspark import StorageLevel
from pyspark.sql import DataFrame, DataFrameReader, Row, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import StructType

from gristmill.pipeline.layout import BATCH_COLUMN, STAGE_STATS_FILE, Layout, batches_of, write_json
from gristmill.pipeline.stages import BATCH_STAGES, TEXT_STAGES
from gristmill.schemas.stats import check_counts, merge_stage_stats, stage_counts
from gristmill.schemas.tables import STAGE_TABLES, spark_schema


def temp_path(out: Path, final: Path) -> Path:
    """A fresh directory name under ``<output>/tmp/`` for a result that will be renamed to final.

    Outside the final's parent, because a stray ``batch=00001.tmp`` beside committed batches would
    be read as a partition. Not dot- or underscore-prefixed: Spark skips such paths as hidden.
    """
    name = "-".join(final.resolve().relative_to(out.resolve()).parts)
    return Layout(out).tmp / f"{name}-{uuid.uuid4().hex[:8]}"


def sibling_temp_path(final: Path) -> Path:
    """A fresh name beside ``final``, for outputs that are a directory of their own (models)."""
    return final.parent / f"{final.name}.tmp-{uuid.uuid4().hex[:8]}"


def clear_temp(out: Path) -> None:
    """Remove what killed runs left in ``tmp/``; called with the output lock held."""
    shutil.rmtree(Layout(out).tmp, ignore_errors=True)


def commit(tmp: Path, final: Path, out: Path) -> None:
    """Move a finished temp directory into place, replacing an older result of the same name.

    The older result is first renamed aside, so at every instant ``final`` is either the whole
    old result, absent, or the whole new one.
    """
    out_resolved = out.resolve()
    if out_resolved not in final.resolve().parents or out_resolved not in tmp.resolve().parents:
        raise ValueError(f"refusing to move {tmp} to {final}: not inside the output {out}")
    final.parent.mkdir(parents=True, exist_ok=True)
    old = None
    if final.exists():
        old = temp_path(out, final)
        old.parent.mkdir(parents=True, exist_ok=True)
        final.rename(old)
    tmp.rename(final)
    if old is not None:
        shutil.rmtree(old)


def read_table(
    spark: SparkSession, out: Path, stage: str, batches: Iterable[int] | None = None
) -> DataFrame:
    """A stage's whole table (every row, drop_reason included), of the given batches or all.

    Batch-partitioned stages carry a ``batch`` column.
    """
    base = Layout(out).stage(stage)
    if batches is None:
        if not base.is_dir():
            raise FileNotFoundError(f"stage '{stage}' has no output in {base}; run it first")
        return _reader(spark, stage).parquet(str(base.resolve()))
    paths = []
    for batch in batches:
        path = Layout(out).stage(stage, batch)
        if not Layout(out).stage_stats(stage, batch).is_file():
            raise FileNotFoundError(f"stage '{stage}' has no complete output for batch {batch}")
        paths.append(str(path.resolve()))
    return _reader(spark, stage).option("basePath", str(base.resolve())).parquet(*paths)


def _reader(spark: SparkSession, stage: str) -> DataFrameReader:
    """Spark's reader for a stage's table, its schema given where :data:`STAGE_TABLES` fixes it:
    inferring it reads a file's footer in a Spark job of its own, in every stage and batch."""
    schema = STAGE_TABLES.get(stage)
    return spark.read if schema is None else spark.read.schema(spark_schema(schema))


def read_kept(
    spark: SparkSession, out: Path, stage: str, batches: Iterable[int] | None = None
) -> DataFrame:
    """The documents a stage kept: rows with a null drop_reason, without it or the batch column.

    ``batches`` None: a single-table stage, or every committed batch of a partitioned one.
    """
    if batches is None:
        base = Layout(out).stage(stage)
        committed = batches_of(base)
        if not committed and not (base / STAGE_STATS_FILE).is_file():
            raise FileNotFoundError(
                f"stage '{stage}' has no complete output in {base}; run it first"
            )
        batches = committed or None
    if batches is None:
        df = _reader(spark, stage).parquet(str(Layout(out).stage(stage).resolve()))
    else:
        df = read_table(spark, out, stage, batches)
    return df.where(F.col("drop_reason").isNull()).drop("drop_reason", BATCH_COLUMN)


# The columns that name one row of the ingest table (ingest drops a record id repeated in a file).
ROW_KEY = ("doc_id", "input_file")


# A stage's _stats.json key: its table stores the text of every row it kept (quality's does).
EVERY_KEPT_TEXT = "stores_every_kept_text"


def holds_every_kept_text(out: Path, stage: str, batches: Iterable[int] | None = None) -> bool:
    """Whether the stage's table stores the text of every document it kept, in each of these
    batches (None: every committed batch), so that no earlier table need be read for one."""
    chosen = batches_of(Layout(out).stage(stage)) if batches is None else list(batches)
    stats = [Layout(out).stage_stats(stage, b) for b in chosen]
    return bool(stats) and all(
        path.is_file() and json.loads(path.read_text()).get(EVERY_KEPT_TEXT, False)
        for path in stats
    )


def read_kept_texts(
    spark: SparkSession, out: Path, stage: str, batches: Iterable[int] | None = None
) -> DataFrame:
    """:func:`read_kept` with each document's text as of ``stage``: its own stored text where
    the stage changed it, else the nearest earlier stage's, down to one that stores every kept
    document's text (:func:`holds_every_kept_text`; the quality stage) or to ingest's.

    Stopping at the quality table spares every later stage a join with the ingest table, which
    holds every document's text, kept or not: on the crawl-sized bench batch (43,392
    documents, 9,929 kept by quality) each such join shuffled 262 MB, and dedup, decontamination
    (twice) and tokenization each ran one."""
    batches = None if batches is None else list(batches)  # read once per table below
    df = read_kept(spark, out, stage, batches)
    order = BATCH_STAGES.index(stage)
    text = F.col("text") if stage in TEXT_STAGES else None
    sources = [s for s in TEXT_STAGES if BATCH_STAGES.index(s) <= order]
    for source in reversed(sources):
        if source != stage:
            stored = read_table(spark, out, source, batches).where(F.col("text").isNotNull())
            alias = f"text_{source}"
            df = df.join(stored.select(*ROW_KEY, F.col("text").alias(alias)), list(ROW_KEY), "left")
            text = F.col(alias) if text is None else F.coalesce(text, F.col(alias))
        if holds_every_kept_text(out, source, batches):
            break
    if text is None:
        return df
    return df.withColumn("text", text).drop(*(f"text_{s}" for s in TEXT_STAGES))


def parquet_rows(folder: Path) -> int:
    """The rows of a Parquet folder Spark wrote, from its files' footers: no Spark job."""
    return sum(pq.ParquetFile(f).metadata.num_rows for f in sorted(folder.glob("*.parquet")))


def cached(df: DataFrame, keep: list[DataFrame]) -> DataFrame:
    """``df`` persisted (memory, spilling to disk) and noted in ``keep`` for unpersisting: read
    several times, computed once. A reliable checkpoint would compute it twice (once to count,
    once to write) and its lineage is one step long anyway."""
    keep.append(df.persist(StorageLevel.MEMORY_AND_DISK))
    return df


def aggregated(df: DataFrame) -> Row:
    """The one row of a global aggregation (``df.agg(...)`` always has one; Spark's ``first``
    is typed for any DataFrame, which may have none)."""
    row = df.first()
    if row is None:
        raise ValueError("an aggregation returned no row")
    return row


def write_stage(
    df: DataFrame,
    out: Path,
    stage: str,
    extra: Callable[[DataFrame, dict[str, Any]], dict[str, Any]] | None = None,
    batch: int | None = None,
) -> dict[str, Any]:
    """Write a stage table (of one batch, or whole), count it by drop_reason, write _stats.json,
    commit; return the stats.

    ``extra`` is called with the written table and its counts (in, out, dropped by reason) after
    it is written and before the commit, for stage-specific stats and side outputs that need the
    computed data (the counts come free: no second pass over the table).
    """
    final = Layout(out).stage(stage, batch)
    tmp = temp_path(out, final)
    df.write.parquet(str(tmp.resolve()))
    return commit_stage(df.sparkSession, tmp, df.schema, out, stage, extra, batch)


def commit_stage(
    spark: SparkSession,
    tmp: Path,
    schema: StructType,
    out: Path,
    stage: str,
    extra: Callable[[DataFrame, dict[str, Any]], dict[str, Any]] | None = None,
    batch: int | None = None,
) -> dict[str, Any]:
    """The second half of :func:`write_stage`, for a job that wrote its table to ``tmp`` (a
    :func:`temp_path`) itself, of ``schema``: count it, write _stats.json, commit; return the
    stats. The schema is given because reading it from the files is a Spark job of its own."""
    final = Layout(out).stage(stage, batch)
    written = spark.read.schema(schema).parquet(str(tmp.resolve()))
    by_reason = {
        r["drop_reason"]: r["count"] for r in written.groupBy("drop_reason").count().collect()
    }
    stats = stage_counts(by_reason)
    check_counts(stage, stats)
    if extra:
        stats.update(extra(written, stats))
    if batch is not None:
        stats["batch"] = batch
    write_json(tmp / STAGE_STATS_FILE, stats)
    commit(tmp, final, out)
    return stats


def read_stage_stats(out: Path, stage: str, batches: Iterable[int] | None = None) -> dict[str, Any]:
    """A stage's _stats.json; for a batch-partitioned stage, its batches' stats merged (counts
    summed, see :func:`gristmill.schemas.stats.merge_stage_stats`)."""
    base = Layout(out).stage(stage)
    chosen = batches_of(base) if batches is None else list(batches)
    if not chosen:
        return json.loads((base / STAGE_STATS_FILE).read_text())
    per_batch = [json.loads(Layout(out).stage_stats(stage, b).read_text()) for b in chosen]
    return merge_stage_stats(stage, per_batch)
