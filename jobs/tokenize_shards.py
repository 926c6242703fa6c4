"""Tokenize: a batch's ``stages/decontaminate`` kept rows -> ``documents/batch=N/``,
``shards/batch=N/`` (llm.c token files, their document indexes, ``files.json``) and
``stages/tokenize/batch=N/`` (each document's shard); then ``shards/manifest.json`` lists the
shards of every complete batch, with bucket weights and epochs over all of them.

A nightly batch adds its own shards: the bytes of earlier batches' shards are never read or
rewritten, unless a configuration change redoes their tokenize stage (the ledger says why).

Executors write the shard files; the driver writes only the manifest. (The file is not called
``tokenize.py``: spark-submit puts the script's folder first on sys.path, where that name would
shadow Python's own ``tokenize`` module.)

    spark-submit jobs/tokenize_shards.py --output out/ [--batch N]
"""

from __future__ import annotations

import argparse
import functools
import math
import sys
from pathlib import Path
from typing import Any

from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from gristmill.jobs import arguments
from gristmill.jobs.batches import DEFAULT_OPTIONS, StageOptions, check_standalone, run_stage
from gristmill.jobs.options import job_main
from gristmill.jobs.stage_io import (
    commit,
    commit_stage,
    read_kept_texts,
    temp_path,
)
from gristmill.jobs.together import together
from gristmill.pipeline.config import Config
from gristmill.pipeline.errors import fail_usage
from gristmill.pipeline.layout import Layout, batch_dir
from gristmill.pipeline.ledger import Ledger
from gristmill.pipeline.manifest import BatchEntry, Manifest, ShardEntry
from gristmill.pipeline.quality import BUCKETS
from gristmill.pipeline.token_shards import (
    SHARD_FILES,
    SHARD_NAME,
    TOKENIZED,
    bucket_columns,
    tokenize_batches,
    write_shard_batches,
)
from gristmill.schemas.tables import DOCUMENTS, spark_schema

STAGE = "tokenize"


add_arguments = arguments.batch_stage


def write_documents(docs: DataFrame, out: Path, batch: int) -> Path:
    final = Layout(out).documents(batch)
    tmp = temp_path(out, final)
    docs.write.parquet(str(tmp.resolve()))
    commit(tmp, final, out)
    return final


def shard_counts(tokenized: DataFrame, shard_tokens: int) -> dict[tuple[str, str], int]:
    totals = tokenized.groupBy("split", "bucket").agg(F.sum("n_tokens").alias("t")).collect()
    return {(r["split"], r["bucket"]): max(1, math.ceil(r["t"] / shard_tokens)) for r in totals}


def place(tokenized: DataFrame, counts: dict[tuple[str, str], int]) -> DataFrame:
    """Add ``shard`` (index within its split and bucket) and ``shard_id`` (global, dense)."""
    shard = F.lit(None).cast("long")
    offset = F.lit(None).cast("long")
    first = 0
    for (split, bucket), n in sorted(counts.items()):
        here = (F.col("split") == split) & (F.col("bucket") == bucket)
        shard = F.when(here, F.pmod(F.col("order_key"), F.lit(n))).otherwise(shard)
        offset = F.when(here, F.lit(first)).otherwise(offset)
        first += n
    return tokenized.withColumn("shard", shard).withColumn("shard_id", offset + F.col("shard"))


def check(args: argparse.Namespace, cfg: Config) -> None:
    """On its own, the stage needs its batch decontaminated."""
    check_standalone(args, STAGE)
    check_buckets(cfg)


def check_buckets(cfg: Config) -> None:
    """Bucket rules may only read columns the documents have, and a perplexity bucket only by
    the names it has (a misspelt one would send its documents to the last bucket unseen)."""
    unknown = set(bucket_columns(cfg.tokenize.buckets)) - set(DOCUMENTS.names)
    if unknown:
        fail_usage(
            f"config key 'tokenize.buckets' reads unknown columns {sorted(unknown)}; "
            f"document columns are {', '.join(DOCUMENTS.names)}"
        )
    for b in cfg.tokenize.buckets:
        wrong = sorted(set(b.values.get("perplexity_bucket", [])) - set(BUCKETS))
        if wrong:
            fail_usage(
                f"config key 'tokenize.buckets' ({b.name}): perplexity_bucket {wrong} is none of "
                f"{list(BUCKETS)}"
            )


def run_batch(
    spark: SparkSession,
    out: Path,
    cfg: Config,
    batch: int,
    ledger: Ledger,
    options: StageOptions = DEFAULT_OPTIONS,
) -> dict[str, Any]:
    """One batch's kept documents -> ``documents/batch=N/``, ``shards/batch=N/`` and its
    ``files.json``; earlier batches' documents and shards are not read, let alone rewritten."""
    kept = read_kept_texts(spark, out, "decontaminate", [batch]).select(*DOCUMENTS.names)
    final = write_documents(kept, out, batch)
    docs = spark.read.schema(spark_schema(DOCUMENTS)).parquet(str(final.resolve()))
    tok = cfg.tokenize
    tokenized = docs.select("doc_id", "text", *bucket_columns(tok.buckets)).mapInArrow(
        functools.partial(
            tokenize_batches,
            encoding=tok.encoding,
            seed=cfg.seed,
            val_fraction=tok.val_fraction,
            buckets=tok.buckets,
        ),
        spark_schema(TOKENIZED),
    )
    tokenized = tokenized.persist(StorageLevel.DISK_ONLY)
    try:
        counts = shard_counts(tokenized, tok.shard_tokens)
        placed = place(tokenized, counts)
        shards_final = Layout(out).shards(batch)
        shards_tmp = temp_path(out, shards_final)
        shards_tmp.mkdir(parents=True)
        shards = (
            placed.repartition(max(1, sum(counts.values())), "shard_id")
            .sortWithinPartitions("shard_id", "order_key", "doc_id")
            .mapInArrow(
                functools.partial(
                    write_shard_batches,
                    shard_dir=str(shards_tmp.resolve()),
                    encoding=tok.encoding,
                ),
                spark_schema(SHARD_FILES),
            )
        )
        table = placed.select(
            "doc_id",
            "split",
            "bucket",
            "n_tokens",
            F.format_string(SHARD_NAME, "split", "bucket", "shard").alias("shard_file"),
            F.lit(None).cast("string").alias("drop_reason"),
        )
        table_tmp = temp_path(out, Layout(out).stage(STAGE, batch))
        # The shards and the stage's table: two independent jobs (gristmill.jobs.together).
        written, _ = together(
            spark, shards.collect, lambda: table.write.parquet(str(table_tmp.resolve()))
        )
        files = [r.asDict() for r in written]  # one row per shard of this batch
        prefix = f"{batch_dir(batch)}/"
        entries = [ShardEntry(**f | {"path": prefix + f["path"]}) for f in files]
        BatchEntry.write(shards_tmp, batch, prefix, entries)
        commit(shards_tmp, shards_final, out)
        return commit_stage(
            spark,
            table_tmp,
            table.schema,
            out,
            STAGE,
            lambda _t, _c: {"tokens": sum(f["tokens"] for f in files), "shards": len(files)},
            batch,
        )
    finally:
        tokenized.unpersist()


def write_manifest(out: Path, cfg: Config, batches: list[int]) -> dict[str, Any]:
    """``shards/manifest.json`` over the shards of ``batches`` from each batch's small
    ``summary.json`` (no shard entry of theirs is read): bucket weights and epochs over all."""
    layout = Layout(out)
    entries = [BatchEntry.read(layout.shards(b), b, f"{batch_dir(b)}/") for b in batches]
    manifest = Manifest.build(cfg, entries)
    manifest.write(layout.manifest)
    return {"batches": batches, "shards": manifest.shard_count, "tokens": manifest.tokens}


def write_manifest_stage(spark: SparkSession, out: Path, cfg: Config) -> dict[str, Any]:
    """The final "manifest" stage of a run: the manifest of every complete batch's shards."""
    return write_manifest(out, cfg, Ledger.load(out).complete())


def run(spark: SparkSession, args: argparse.Namespace, cfg: Config) -> dict[str, Any]:
    """``gristmill tokenize [--batch N]``: the batch's shards, then the manifest."""
    stats = run_stage(STAGE, spark, args.output, cfg, batch=args.batch)
    write_manifest_stage(spark, args.output, cfg)
    return stats


def main(argv: list[str] | None = None) -> int:
    return job_main(sys.modules[__name__], argv)


if __name__ == "__main__":
    sys.exit(main())
