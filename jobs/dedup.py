"""Dedup: ``stages/quality`` kept rows -> ``stages/dedup`` (exact and near duplicates marked), plus
``dedup/clusters/`` (doc_id, component, kept) for every near-duplicate cluster.

As NeMo Curator lays out fuzzy dedup, in named steps (FineWeb's parameters by default):

1. exact: of the documents with the same normalized-text hash, the best is kept;
2. MinHash: signatures of the survivors' shingles (:mod:`pipeline.minhash`, in mapInArrow);
3. LSH: one row per (document, band, bucket); each bucket links its smallest doc_id to the others;
4. optionally, exact Jaccard of each linked pair, dropping links under the threshold;
5. connected components of the links, by large-star/small-star (:mod:`jobs.connected_components`);
6. the best document of each component is kept, the others are ``fuzzy_duplicate``.

"Best" is the highest quality_score (null counts as worst), ties to the smallest doc_id: the same
decision on every run and every partitioning. :mod:`pipeline.connected_components` is the same
algorithm on one machine with datasketch, the reference this job is tested against.

    spark-submit jobs/dedup.py --output out/
"""

from __future__ import annotations

import argparse
import functools
import shutil
import sys
from pathlib import Path
from typing import Any

from pyspark import StorageLevel
from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from jobs.connected_components import connected_components
from jobs.options import add_common, job_main
from jobs.stage_io import commit, read_kept, temp_path, write_stage
from pipeline.config import Config
from pipeline.connected_components import EXACT_DUPLICATE, FUZZY_DUPLICATE
from pipeline.minhash import (
    BAND_ROWS_SCHEMA,
    PAIR_SCHEMA,
    MinHashParams,
    band_rows,
    pair_jaccard,
)
from pipeline.text_hash import with_text_hash
from schemas.tables import DEDUP, DEDUP_CLUSTERS, spark_schema

STAGE = "dedup"
CLUSTERS_DIR = "dedup"  # <output>/dedup/clusters/

add_arguments = add_common


def best_first() -> list[Column]:
    return [F.col("quality_score").desc_nulls_last(), F.col("doc_id").asc()]


def mark_exact(docs: DataFrame) -> DataFrame:
    # input_file last: the same WARC record (same doc_id) can come from two input files.
    order = [*best_first(), F.col("input_file").asc_nulls_last()]
    first = F.row_number().over(Window.partitionBy("text_hash").orderBy(*order)) == 1
    return docs.withColumn(
        "drop_reason", F.when(first, F.lit(None)).otherwise(F.lit(EXACT_DUPLICATE))
    )


def candidate_edges(docs: DataFrame, params: MinHashParams) -> DataFrame:
    """(src, dst): each LSH bucket's smallest doc_id linked to each other member."""
    bands = docs.select("doc_id", "text").mapInArrow(
        functools.partial(band_rows, params=params), spark_schema(BAND_ROWS_SCHEMA)
    )
    smallest = F.min("doc_id").over(Window.partitionBy("band", "bucket"))
    return (
        bands.withColumn("src", smallest)
        .where(F.col("doc_id") != F.col("src"))
        .select("src", F.col("doc_id").alias("dst"))
        .distinct()
    )


def verified_edges(
    edges: DataFrame, docs: DataFrame, params: MinHashParams, threshold: float
) -> DataFrame:
    """The edges whose documents' exact shingle Jaccard is >= threshold."""
    src = docs.select(F.col("doc_id").alias("src"), F.col("text").alias("src_text"))
    dst = docs.select(F.col("doc_id").alias("dst"), F.col("text").alias("dst_text"))
    pairs = edges.join(src, "src").join(dst, "dst").select("src", "dst", "src_text", "dst_text")
    scored = pairs.mapInArrow(
        functools.partial(pair_jaccard, params=params), spark_schema(PAIR_SCHEMA)
    )
    return scored.where(F.col("jaccard") >= threshold).select("src", "dst")


def near_duplicate_clusters(docs: DataFrame, cfg: Config) -> tuple[DataFrame, dict[str, Any]]:
    """(doc_id, component, kept) of the documents in clusters of two or more, and LSH counts.

    Needs a checkpoint directory set on the SparkContext: the edges and every round of connected
    components are checkpointed.
    """
    params = MinHashParams.from_config(cfg)
    edges = candidate_edges(docs, params).checkpoint()
    info = {
        "shingle": cfg.dedup.shingle,
        "ngram": params.ngram,
        "num_perm": params.num_perm,
        "bands": params.bands,
        "rows": params.rows,
        "threshold": cfg.dedup.threshold,
        "verify_jaccard": cfg.dedup.verify_jaccard,
        "candidate_pairs": edges.count(),
    }
    info["linked_pairs"] = info["candidate_pairs"]
    if cfg.dedup.verify_jaccard:
        edges = verified_edges(edges, docs, params, cfg.dedup.threshold).checkpoint()
        info["linked_pairs"] = edges.count()
    components, info["cc_rounds"] = connected_components(edges)
    # One row per doc_id even if an id repeats (possible with exact dedup off).
    scores = docs.groupBy(F.col("doc_id").alias("node")).agg(
        F.max("quality_score").alias("quality_score")
    )
    ranked = components.join(scores, "node").withColumnRenamed("node", "doc_id")
    first = F.row_number().over(Window.partitionBy("component").orderBy(*best_first())) == 1
    return ranked.select("doc_id", "component", first.alias("kept")), info


def cluster_stats(clusters: DataFrame) -> dict[str, Any]:
    """Number of clusters, documents in them, the largest, and sizes in power-of-two bins."""
    sizes = clusters.groupBy("component").count()
    # The bit length of size - 1 bins sizes as 2, 3-4, 5-8, ... exactly (no floating log2).
    bins = (
        sizes.groupBy(F.length(F.bin(F.col("count") - 1)).alias("k"))
        .agg(F.count("*").alias("clusters"), F.sum("count").alias("docs"), F.max("count"))
        .collect()
    )
    histogram = {}
    for row in sorted(bins, key=lambda r: r["k"]):
        low, high = 2 ** (row["k"] - 1) + 1, 2 ** row["k"]
        histogram[str(high) if low == high else f"{low}-{high}"] = row["clusters"]
    return {
        "clusters": sum(r["clusters"] for r in bins),
        "docs_in_clusters": sum(r["docs"] for r in bins),
        "largest_cluster": max((r["max(count)"] for r in bins), default=0),
        "cluster_sizes": histogram,
    }


def removed(written: DataFrame) -> dict[str, int]:
    counts = dict(
        written.where(F.col("drop_reason").isin(EXACT_DUPLICATE, FUZZY_DUPLICATE))
        .groupBy("drop_reason")
        .count()
        .collect()
    )
    return {
        "exact_duplicates": counts.get(EXACT_DUPLICATE, 0),
        "fuzzy_duplicates": counts.get(FUZZY_DUPLICATE, 0),
    }


def run(spark: SparkSession, args: argparse.Namespace, cfg: Config) -> dict[str, Any]:
    out: Path = args.output
    docs = read_kept(spark, out, "quality")
    hashed = docs.mapInArrow(functools.partial(with_text_hash, schema=DEDUP), spark_schema(DEDUP))
    if cfg.dedup.exact:
        hashed = mark_exact(hashed)
    if not cfg.dedup.fuzzy:
        return write_stage(hashed.select(*DEDUP.names), out, STAGE, lambda w: {"dedup": removed(w)})

    final = out / CLUSTERS_DIR
    work = temp_path(final)
    checkpoints = work / "checkpoints"
    spark.sparkContext.setCheckpointDir(str(checkpoints.resolve()))
    hashed = hashed.persist(StorageLevel.MEMORY_AND_DISK)
    try:
        survivors = hashed.where(F.col("drop_reason").isNull())
        clusters, info = near_duplicate_clusters(survivors, cfg)
        clusters_path = str((work / "clusters").resolve())
        clusters.select(*DEDUP_CLUSTERS.names).write.parquet(clusters_path)
        clusters = spark.read.parquet(clusters_path)
        fuzzy = clusters.where(~F.col("kept")).select("doc_id", F.lit(FUZZY_DUPLICATE).alias("f"))
        table = hashed.join(fuzzy, "doc_id", "left").withColumn(
            "drop_reason", F.coalesce("drop_reason", "f")
        )

        def extra(written: DataFrame) -> dict[str, Any]:
            section = removed(written) | cluster_stats(clusters) | info
            shutil.rmtree(checkpoints)
            commit(work, final, out)
            return {"dedup": section}

        return write_stage(table.select(*DEDUP.names), out, STAGE, extra)
    finally:
        hashed.unpersist()
        shutil.rmtree(checkpoints, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    return job_main(sys.modules[__name__], argv)


if __name__ == "__main__":
    sys.exit(main())
