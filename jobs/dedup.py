"""Dedup: a batch's ``stages/quality`` kept rows -> ``stages/dedup`` (exact and near duplicates
marked), ``dedup/clusters/`` (doc_id, component, kept, earlier) for every near-duplicate cluster,
``dedup/signatures/`` (the LSH bands of the documents kept, for the batches to come) and
``dedup/minhashes/`` (their MinHash signatures, to verify the pairs they are in later).

As NeMo Curator lays out fuzzy dedup, in named steps (FineWeb's parameters by default):

1. exact: of the documents with the same normalized-text hash, the best is kept;
2. MinHash: signatures of the survivors' shingles (:mod:`gristmill.pipeline.minhash`, in
   mapInArrow);
3. LSH: one row per (document, band, bucket); each bucket makes its smallest doc_id and each
   other member a candidate pair;
4. verification (``dedup.verify``): a candidate pair is linked when the share of equal values of
   its signatures (by default), or its exact shingle Jaccard, reaches the threshold;
5. connected components of the links: by union-find on the driver when the candidate pairs are
   at most ``dedup.local_components_max_edges`` (one bounded collect), else by large-star/small-star
   (:mod:`gristmill.jobs.connected_components`);
6. the best document of each component is kept, the others are ``fuzzy_duplicate``.

A batch of at most ``dedup.local_max_docs`` documents has steps 3-6 done on the driver
(:mod:`gristmill.pipeline.lsh_clusters`, the same rules over its collected signatures): in Spark
they are a dozen jobs of shuffles whose data, on such a batch, is a few megabytes at most.

"Best" is the highest quality_score (null counts as worst), ties to the smallest doc_id: the same
decision on every run and every partitioning. A batch is also deduplicated against what earlier
batches kept: their text hashes (exact) and stored bands (near), looked up in the key indexes
of :mod:`gristmill.jobs.key_index` so that a batch reads in proportion to its own size; an
earlier document always wins, because it may already be in shards someone trained on.
:mod:`gristmill.pipeline.connected_components` is the same algorithm on one machine with
datasketch, the reference this job is tested against.

    spark-submit jobs/dedup.py --output out/
"""

from __future__ import annotations

import argparse
import functools
import shutil
import sys
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from pyspark import StorageLevel
from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from gristmill.jobs import arguments
from gristmill.jobs.batches import DEFAULT_OPTIONS, StageOptions, check_standalone, run_stage
from gristmill.jobs.connected_components import connected_components
from gristmill.jobs.key_index import KeyIndex, band_keys, string_keys
from gristmill.jobs.local_rows import local_frame
from gristmill.jobs.options import job_main
from gristmill.jobs.stage_io import (
    aggregated,
    cached,
    commit,
    parquet_rows,
    read_kept_texts,
    read_table,
    temp_path,
    write_stage,
)
from gristmill.jobs.together import together
from gristmill.pipeline import lsh_clusters
from gristmill.pipeline.config import Config
from gristmill.pipeline.connected_components import EXACT_DUPLICATE, FUZZY_DUPLICATE
from gristmill.pipeline.layout import Layout
from gristmill.pipeline.ledger import Ledger
from gristmill.pipeline.lsh_clusters import EDGE
from gristmill.pipeline.minhash import (
    BAND_ROWS_SCHEMA,
    JACCARD,
    SIGNATURE_SCHEMA,
    MinHashParams,
    band_rows,
    pair_jaccard,
    pair_signature_jaccard,
    signature_rows,
)
from gristmill.pipeline.text_hash import with_text_hash
from gristmill.schemas.tables import DEDUP, DEDUP_CLUSTERS, spark_schema, with_text

STAGE = "dedup"
HASHED = with_text(DEDUP)  # the rows dedup works on; its table drops the text
TEXT_HASH = "blake2b-128 of NFKC, lower-cased, whitespace-joined text"
EXACT_QUERY = pa.schema(
    [pa.field("text_hash", pa.string()), pa.field("key", pa.int64()), pa.field("lo", pa.int64())]
)
BAND_QUERY = pa.schema(
    [*BAND_ROWS_SCHEMA, pa.field("key", pa.int64(), nullable=False), pa.field("lo", pa.int64())]
)
DOC_QUERY = pa.schema(
    [pa.field("doc_id", pa.string()), pa.field("key", pa.int64()), pa.field("lo", pa.int64())]
)
# How each `dedup.verify` compares a candidate pair: its two signatures, or its two texts.
VERIFIERS = {"signature": pair_signature_jaccard, "text": pair_jaccard}


add_arguments = arguments.batch_stage


def best_first() -> list[Column]:
    return [F.col("quality_score").desc_nulls_last(), F.col("doc_id").asc()]


def mark_exact(docs: DataFrame) -> DataFrame:
    # input_file last: the same WARC record (same doc_id) can come from two input files.
    order = [*best_first(), F.col("input_file").asc_nulls_last()]
    first = F.row_number().over(Window.partitionBy("text_hash").orderBy(*order)) == 1
    return docs.withColumn(
        "drop_reason", F.when(first, F.lit(None)).otherwise(F.lit(EXACT_DUPLICATE))
    )


def candidate_edges(bands: DataFrame) -> DataFrame:
    """(src, dst, src_earlier, dst_earlier): each LSH bucket's smallest doc_id linked to each
    other member, for the buckets holding at least one document of this batch.

    ``bands`` holds this batch's band rows and those of documents earlier batches kept
    (``earlier``); two earlier documents are never linked: they were judged in their own batch.
    """
    bucket = Window.partitionBy("band", "bucket")
    center = F.min(F.struct("doc_id", "earlier")).over(bucket)
    has_new = F.min(F.col("earlier").cast("int")).over(bucket) == 0
    return (
        bands.withColumn("c", center)
        .withColumn("has_new", has_new)
        .where(F.col("has_new"))
        .where(F.col("doc_id") != F.col("c.doc_id"))
        .where(~(F.col("earlier") & F.col("c.earlier")))
        .select(
            F.col("c.doc_id").alias("src"),
            F.col("doc_id").alias("dst"),
            F.col("c.earlier").alias("src_earlier"),
            F.col("earlier").alias("dst_earlier"),
        )
        .distinct()
    )


def verified_edges(edges: DataFrame, sides: DataFrame, cfg: Config) -> DataFrame:
    """``edges`` with ``linked``: whether the pair's similarity reaches ``dedup.threshold``, by
    ``dedup.verify``: ``sides`` holds (doc_id, signature) or (doc_id, text) of both ends.

    The pairs keep their columns through the kernel, so one aggregation gives the answer: a
    join of the scores back to ``edges`` would plan ``edges`` (a window and a distinct over
    every band row) a second time."""
    column = "signature" if cfg.dedup.verify == "signature" else "text"
    kernel = functools.partial(VERIFIERS[cfg.dedup.verify], params=MinHashParams.from_config(cfg))
    src = sides.select(F.col("doc_id").alias("src"), F.col(column).alias(f"src_{column}"))
    dst = sides.select(F.col("doc_id").alias("dst"), F.col(column).alias(f"dst_{column}"))
    pairs = edges.join(src, "src").join(dst, "dst")
    pairs = pairs.select(*EDGE.names, f"src_{column}", f"dst_{column}")
    scored = pairs.mapInArrow(kernel, spark_schema(pa.schema([*EDGE, JACCARD])))
    # One row per pair even where a doc_id repeats (possible with exact dedup off).
    close = F.max(F.col("jaccard") >= cfg.dedup.threshold).alias("linked")
    return scored.groupBy(*EDGE.names).agg(close)


def distributed_nodes(edges: DataFrame) -> tuple[DataFrame, int]:
    """(node, component, earlier) of the linked ``edges``, by large-star/small-star rounds; and
    the number of rounds."""
    linked = edges.where(F.col("linked"))
    found, rounds = connected_components(linked.select("src", "dst"))
    earlier = linked.select(F.col("src").alias("node"), F.col("src_earlier").alias("earlier"))
    earlier = earlier.union(linked.select("dst", "dst_earlier"))
    return found.join(earlier.distinct(), "node"), rounds


def lsh_info(cfg: Config) -> dict[str, Any]:
    """The LSH parameters, as the stats record them."""
    params = MinHashParams.from_config(cfg)
    return {
        "shingle": cfg.dedup.shingle,
        "ngram": params.ngram,
        "num_perm": params.num_perm,
        "bands": params.bands,
        "rows": params.rows,
        "threshold": cfg.dedup.threshold,
        "verify": cfg.dedup.verify,
    }


_SCORES = pa.schema([("doc_id", pa.string()), ("quality_score", pa.float64())]).empty_table()


def write_driver_clusters(
    docs: DataFrame, pairs: pa.Table, path: Path
) -> tuple[dict[str, Any], pa.Table]:
    """Write the clusters of ``pairs`` (:data:`~gristmill.pipeline.lsh_clusters.LINKED` rows
    the driver holds) to ``path``, solved on the driver; their counts, and the clusters. The
    quality scores of this batch's documents among them are the one Spark job (a broadcast
    semi-join)."""
    found = lsh_clusters.nodes(pairs)
    new = found.filter(pc.invert(found.column("earlier"))).column("node")
    wanted = F.broadcast(local_frame(docs.sparkSession, pa.table({"doc_id": new})))
    scores = docs.join(wanted, "doc_id", "left_semi").select("doc_id", "quality_score")
    path.mkdir(parents=True)
    clusters = lsh_clusters.kept_in_clusters(found, scores.toArrow() if len(new) else _SCORES)
    pq.write_table(clusters, path / "part-00000.parquet")
    linked = pc.sum(pairs.column("linked").cast(pa.int64())).as_py() or 0
    return {"cc_rounds": 0, "candidate_pairs": pairs.num_rows, "linked_pairs": linked}, clusters


def near_duplicate_clusters(
    docs: DataFrame,
    bands: DataFrame,
    sides: DataFrame | None,
    cfg: Config,
    keep: list[DataFrame],
    path: Path,
) -> tuple[dict[str, Any], pa.Table | None]:
    """Write (doc_id, component, kept, earlier) of the documents in clusters of two or more to
    ``path``; return the LSH counts, and the clusters where the driver solved them.

    ``bands``: band rows of ``docs`` and of earlier batches' kept documents, flagged ``earlier``;
    ``sides``: what ``dedup.verify`` compares of both ((doc_id, signature) or (doc_id, text)),
    None when it is off. A cluster holding an earlier document keeps none of this batch's: what
    a previous batch published stays, and its near duplicates are not added. A graph of at most
    ``dedup.local_components_max_edges`` candidate pairs is collected (one bounded job: the
    limit, not the corpus, sets its size) and solved on the driver; a larger one by
    :func:`gristmill.jobs.connected_components`, which needs a checkpoint directory set on the
    SparkContext.
    """
    edges = candidate_edges(bands)
    if sides is not None:
        edges = verified_edges(edges, sides, cfg)
    else:
        edges = edges.withColumn("linked", F.lit(True))
    edges = cached(edges, keep)
    limit = cfg.dedup.local_components_max_edges
    few = edges.limit(limit + 1).toArrow() if limit > 0 else None
    if few is not None and few.num_rows <= limit:
        return write_driver_clusters(docs, few, path)
    counts = aggregated(edges.agg(F.count("*"), F.sum(F.col("linked").cast("long"))))
    nodes, rounds = distributed_nodes(edges)
    # One row per doc_id even if an id repeats (possible with exact dedup off).
    scores = docs.groupBy(F.col("doc_id").alias("node")).agg(
        F.max("quality_score").alias("quality_score")
    )
    ranked = nodes.join(scores, "node", "left").withColumnRenamed("node", "doc_id")
    cluster = Window.partitionBy("component")
    has_earlier = F.max(F.col("earlier").cast("int")).over(cluster) == 1
    first = F.row_number().over(cluster.orderBy(*best_first())) == 1
    kept = F.when(F.col("earlier"), True).when(has_earlier, False).otherwise(first)
    clusters = ranked.select("doc_id", "component", kept.alias("kept"), "earlier")
    clusters.write.parquet(str(path.resolve()))
    return {"cc_rounds": rounds, "candidate_pairs": counts[0], "linked_pairs": counts[1] or 0}, None


def cluster_stats(clusters: DataFrame) -> dict[str, Any]:
    """Number of clusters, this batch's documents in them, the largest, sizes in power-of-two
    bins, and the documents dropped for a cluster holding an earlier batch's document, in one
    job. The stats of all batches are summed: a document counts in the batch it came in (an
    earlier batch's member of a cluster counted there, not again), a cluster in each batch that
    adds to it."""
    sizes = clusters.groupBy("component").agg(
        F.count("*").alias("count"),
        F.sum((~F.col("earlier")).cast("int")).alias("new"),
        F.max(F.col("earlier").cast("int")).alias("has_earlier"),
        F.sum((~F.col("kept")).cast("int")).alias("dropped"),
    )
    # The bit length of size - 1 bins sizes as 2, 3-4, 5-8, ... exactly (no floating log2).
    bins = (
        sizes.groupBy(F.length(F.bin(F.col("count") - 1)).alias("k"))
        .agg(
            F.count("*").alias("clusters"),
            F.sum("new").alias("docs"),
            F.max("count").alias("largest"),
            F.sum(F.col("dropped") * F.col("has_earlier")).alias("late"),
        )
        .collect()
    )
    return lsh_clusters.cluster_summary([row.asDict() for row in bins])


def removed(counts: dict[str, Any]) -> dict[str, int]:
    """The duplicates among the written table's drop reasons."""
    dropped = counts.get("dropped", {})
    return {
        "exact_duplicates": dropped.get(EXACT_DUPLICATE, 0),
        "fuzzy_duplicates": dropped.get(FUZZY_DUPLICATE, 0),
    }


def mark_seen(docs: DataFrame, seen: DataFrame) -> DataFrame:
    """Exact duplicates of what earlier batches kept (``seen``: their text_hash values)."""
    flagged = seen.select("text_hash").distinct().withColumn("seen", F.lit(True))
    return (
        docs.join(flagged, "text_hash", "left")
        .withColumn(
            "drop_reason",
            F.when(F.col("seen"), F.lit(EXACT_DUPLICATE)).otherwise(F.col("drop_reason")),
        )
        .drop("seen")
    )


def batch_signatures(docs: DataFrame, params: MinHashParams) -> DataFrame:
    return docs.select("doc_id", "text").mapInArrow(
        functools.partial(signature_rows, params=params), spark_schema(SIGNATURE_SCHEMA)
    )


def batch_band_rows(signatures: DataFrame, params: MinHashParams) -> DataFrame:
    return signatures.mapInArrow(
        functools.partial(band_rows, params=params), spark_schema(BAND_ROWS_SCHEMA)
    )


def with_keys(df: DataFrame, keys: tuple[Column, Column]) -> DataFrame:
    return df.withColumn("key", keys[0]).withColumn("lo", keys[1])


class EarlierKeys:
    """The exact hashes, LSH bands and MinHash signatures of the documents earlier batches
    kept, as key indexes (:mod:`gristmill.jobs.key_index`) that a batch reads in proportion to
    its own size.

    Built from, and rebuilt when needed from, each batch's dedup table (text_hash of the kept
    rows), ``dedup/signatures/batch=N/`` (their bands) and ``dedup/minhashes/batch=N/`` (their
    signatures, kept only with ``dedup.verify: signature``), which stay the record.
    """

    def __init__(self, spark: SparkSession, out: Path, cfg: Config, earlier: list[int]):
        self.spark, self.out, self.cfg = spark, out, cfg
        target = cfg.spark.advisory_partition_mb << 20
        layout = Layout(out)
        self.exact = KeyIndex(spark, layout.dedup_index("exact"), {"text_hash": TEXT_HASH}, target)
        self.exact.prepare(earlier, self._exact_source)
        self.params = MinHashParams.from_config(cfg)
        self.bands = self.minhashes = None
        if cfg.dedup.fuzzy:
            bands = layout.dedup_index("bands")
            self.bands = KeyIndex(spark, bands, asdict(self.params), target)
            self.bands.prepare(earlier, self._band_source)
        minhashes = layout.dedup_index("minhashes")
        if cfg.dedup.fuzzy and cfg.dedup.verify == "signature":
            width = 4 * self.params.num_perm
            self.minhashes = KeyIndex(spark, minhashes, asdict(self.params), target, width)
            self.minhashes.prepare(earlier, self._minhash_source)
        else:  # not kept up to date by this batch: rebuilt from the record when next needed
            shutil.rmtree(minhashes, ignore_errors=True)

    def _exact_source(self, batches: list[int]) -> DataFrame:
        kept = read_table(self.spark, self.out, STAGE, batches).where(F.col("drop_reason").isNull())
        return with_keys(kept, string_keys("text_hash"))

    def _batched(self, folder: Callable[[int | None], Path], batches: list[int]) -> DataFrame:
        paths = [str(folder(b).resolve()) for b in batches]
        return self.spark.read.option("basePath", str(folder(None).resolve())).parquet(*paths)

    def _band_source(self, batches: list[int]) -> DataFrame:
        bands = self._batched(Layout(self.out).dedup_signatures, batches)
        return with_keys(bands, band_keys("band", "bucket"))

    def _minhash_source(self, batches: list[int]) -> DataFrame:
        """The stored signatures of ``batches``; for a batch deduplicated before they were
        stored, those of its kept texts, computed again (once: the index then holds them)."""
        layout = Layout(self.out)
        stored = [b for b in batches if layout.dedup_minhashes(b).is_dir()]
        computed = [b for b in batches if b not in stored]
        parts = [self._batched(layout.dedup_minhashes, stored)] if stored else []
        for b in computed:
            texts = read_kept_texts(self.spark, self.out, STAGE, [b])
            parts.append(batch_signatures(texts, self.params).withColumn("batch", F.lit(b)))
        rows = functools.reduce(lambda a, b: a.unionByName(b), parts)
        return with_keys(rows.withColumnRenamed("signature", "value"), string_keys("doc_id"))

    def seen(self, hashed: DataFrame) -> DataFrame:
        """The text_hash values of ``hashed`` that an earlier batch kept."""
        queries = with_keys(hashed.select("text_hash").distinct(), string_keys("text_hash"))
        return self.exact.lookup(queries, EXACT_QUERY).select("text_hash").distinct()

    def band_rows(self, bands: DataFrame) -> DataFrame:
        """(doc_id, band, bucket, batch) of the earlier kept documents sharing a bucket with
        ``bands``."""
        assert self.bands is not None
        queries = with_keys(bands, band_keys("band", "bucket"))
        return (
            self.bands.lookup(queries, BAND_QUERY)
            .select(F.col("earlier_doc").alias("doc_id"), "band", "bucket", "earlier_batch")
            .distinct()
        )

    def signatures(self, docs: DataFrame) -> DataFrame:
        """(doc_id, signature) of the earlier kept documents ``docs`` names: one per doc_id, the
        smallest where a record was kept in two batches."""
        assert self.minhashes is not None
        queries = with_keys(docs.select("doc_id").distinct(), string_keys("doc_id"))
        found = self.minhashes.lookup(queries, DOC_QUERY)
        return found.groupBy("doc_id").agg(F.min("earlier_value").alias("signature"))

    def add_kept(self, written: DataFrame, kept: int, batch: int) -> None:
        """Add the text hashes of the ``kept`` rows of ``written`` without a drop reason, for
        the batches to come; the count, known already (the stage's), spares the index a job."""
        rows = written.where(F.col("drop_reason").isNull()).withColumn("batch", F.lit(batch))
        self.exact.add(with_keys(rows, string_keys("text_hash")), batch, kept)

    def add_record(self, name: str, folder: Path, batch: int) -> None:
        """Add the bands (``name`` "signatures") or signatures ("minhashes") this batch kept,
        just written to ``folder``, to their index; sized by the files' footers, not by a job."""
        read = self.spark.read  # the schema given: inferring it from the files is a Spark job
        if name == "signatures":
            index, keys = self.bands, band_keys("band", "bucket")
            found = read.schema(spark_schema(BAND_ROWS_SCHEMA)).parquet(str(folder.resolve()))
        else:
            index, keys = self.minhashes, string_keys("doc_id")
            found = read.schema(spark_schema(SIGNATURE_SCHEMA)).parquet(str(folder.resolve()))
            found = found.withColumnRenamed("signature", "value")
        assert index is not None, f"dedup keeps no index of {name}"
        index.add(
            with_keys(found.withColumn("batch", F.lit(batch)), keys), batch, parquet_rows(folder)
        )


def driver_graph(
    index: EarlierKeys, signatures: DataFrame, cfg: Config, earlier: bool
) -> tuple[pa.Table, pa.Table, pa.Table] | None:
    """This batch's band rows, its signatures and its candidate pairs with ``linked``, found on
    the driver (:mod:`gristmill.pipeline.lsh_clusters`) from the batch's collected
    ``signatures`` and the band rows and signatures of the earlier documents sharing a bucket
    with it; None where those earlier rows are more than a batch of ``dedup.local_max_docs``
    documents has, or the candidate pairs more than ``dedup.local_components_max_edges``."""
    spark, params = signatures.sparkSession, MinHashParams.from_config(cfg)
    signed = signatures.toArrow().cast(SIGNATURE_SCHEMA)
    bands = pa.Table.from_batches(list(band_rows(signed.to_batches(), params)), BAND_ROWS_SCHEMA)
    sides = [signed]
    rows = [bands.append_column("earlier", pa.array(np.zeros(bands.num_rows, np.bool_)))]
    if earlier:
        bound = cfg.dedup.local_max_docs * params.bands
        matched = index.band_rows(local_frame(spark, bands)).limit(bound + 1).toArrow()
        if matched.num_rows > bound:
            return None
        flagged = matched.select(["doc_id", "band", "bucket"]).cast(BAND_ROWS_SCHEMA)
        rows.append(flagged.append_column("earlier", pa.array(np.ones(len(flagged), np.bool_))))
        if cfg.dedup.verify == "signature":
            ids = local_frame(spark, matched.select(["doc_id"]))
            found = index.signatures(ids).toArrow().select(["doc_id", "signature"])
            sides.append(found.cast(SIGNATURE_SCHEMA))
    pairs = lsh_clusters.candidate_pairs(pa.concat_tables(rows))
    if pairs.num_rows > cfg.dedup.local_components_max_edges:
        return None
    if cfg.dedup.verify == "signature":
        pairs = lsh_clusters.verified_pairs(
            pairs, pa.concat_tables(sides), params.num_perm, cfg.dedup.threshold
        )
    else:
        pairs = lsh_clusters.all_linked(pairs)
    return bands, signed, pairs


def spark_graph(
    index: EarlierKeys,
    bands: DataFrame,
    signatures: DataFrame,
    survivors: DataFrame,
    keep: list[DataFrame],
    earlier: list[int],
) -> tuple[DataFrame, DataFrame | None]:
    """The band rows of this batch and of the earlier documents sharing a bucket with it
    (flagged ``earlier``), and what ``dedup.verify`` compares of both (None when it is off)."""
    cfg, out, spark = index.cfg, index.out, index.spark
    sides = {"signature": signatures, "text": survivors.select("doc_id", "text")}
    all_bands = bands.withColumn("earlier", F.lit(False))
    if earlier:
        matched = cached(index.band_rows(bands), keep)
        all_bands = all_bands.unionByName(
            matched.drop("earlier_batch").withColumn("earlier", F.lit(True))
        )
        if cfg.dedup.verify == "signature":
            sides["signature"] = signatures.unionByName(index.signatures(matched))
        elif cfg.dedup.verify == "text":
            sides["text"] = sides["text"].unionByName(earlier_texts(spark, out, matched))
    return all_bands, sides.get(cfg.dedup.verify)


def run_batch(
    spark: SparkSession,
    out: Path,
    cfg: Config,
    batch: int,
    ledger: Ledger,
    options: StageOptions = DEFAULT_OPTIONS,
) -> dict[str, Any]:
    """Dedup one batch, within itself and against the documents earlier batches kept."""
    earlier = ledger.completed_before(batch, STAGE)
    index = EarlierKeys(spark, out, cfg, earlier)
    docs = read_kept_texts(spark, out, "quality", [batch])
    hashed = docs.mapInArrow(functools.partial(with_text_hash, schema=HASHED), spark_schema(HASHED))
    if cfg.dedup.exact:
        hashed = mark_exact(hashed)
    # Persisted past the exact window, a shuffle of every row with its text: the MinHash pass,
    # the clusters' quality scores and the table each read it (each ran the window again).
    persisted = hashed = hashed.persist(StorageLevel.MEMORY_AND_DISK)
    seen = index.seen(hashed) if earlier and cfg.dedup.exact else None
    if seen is not None:
        hashed = mark_seen(hashed, seen)

    def against_earlier(written: DataFrame) -> dict[str, int]:
        exact = written.where(F.col("drop_reason") == EXACT_DUPLICATE)
        return {
            "exact_duplicates": exact.join(seen, "text_hash", "left_semi").count()
            if seen is not None
            else 0
        }

    if not cfg.dedup.fuzzy:

        def exact_only(written: DataFrame, counts: dict[str, Any]) -> dict[str, Any]:
            earlier_counts, _ = together(
                spark,
                lambda: against_earlier(written),
                lambda: index.add_kept(written, counts["out"], batch),
            )
            return {"dedup": removed(counts) | {"against_earlier": earlier_counts}}

        try:
            return write_stage(hashed.select(*DEDUP.names), out, STAGE, exact_only, batch)
        finally:
            persisted.unpersist()

    layout = Layout(out)
    work = temp_path(out, layout.dedup_clusters(batch))
    spark.sparkContext.setCheckpointDir(str((work / "checkpoints").resolve()))
    keep: list[DataFrame] = []
    try:
        params = MinHashParams.from_config(cfg)
        survivors = hashed.where(F.col("drop_reason").isNull())
        signatures = cached(batch_signatures(survivors, params), keep)
        # The quality table's rows (from its footers, no job) bound the batch's survivors.
        bound = cfg.dedup.local_max_docs if cfg.dedup.verify != "text" else 0
        on_driver = bound > 0 and 0 < parquet_rows(layout.stage("quality", batch)) <= bound
        found = driver_graph(index, signatures, cfg, bool(earlier)) if on_driver else None
        # What later batches are matched and verified against: the kept documents' bands, and
        # their signatures where they verify by signature; held by the driver where it found
        # the pairs.
        records: dict[str, DataFrame | pa.Table]
        if found is not None:
            bands, signed, pairs = found
            records = {"signatures": bands, "minhashes": signed}
            info, held = write_driver_clusters(survivors, pairs, work / "clusters")
        else:
            spread = cached(batch_band_rows(signatures, params), keep)
            records = {"signatures": spread, "minhashes": signatures}
            all_bands, verifying = spark_graph(index, spread, signatures, survivors, keep, earlier)
            info, held = near_duplicate_clusters(
                survivors, all_bands, verifying, cfg, keep, work / "clusters"
            )
        if cfg.dedup.verify != "signature":
            del records["minhashes"]
        info = lsh_info(cfg) | info
        read = spark.read.schema(spark_schema(DEDUP_CLUSTERS))  # inferring it is a Spark job
        clusters = read.parquet(str((work / "clusters").resolve()))
        fuzzy = clusters.where(~F.col("kept")).select("doc_id", F.lit(FUZZY_DUPLICATE).alias("f"))
        table = hashed.join(fuzzy, "doc_id", "left").withColumn(
            "drop_reason", F.coalesce("drop_reason", "f")
        )
        finals = {
            "signatures": layout.dedup_signatures(batch),
            "minhashes": layout.dedup_minhashes(batch),
        }

        def extra(written: DataFrame, counts: dict[str, Any]) -> dict[str, Any]:
            kept = written.where(F.col("drop_reason").isNull()).select("doc_id")

            def record(name: str) -> None:  # a record of what was kept, then its index
                rows, path = records[name], work / name
                if isinstance(rows, pa.Table):  # the batch's kept are those no cluster drops
                    assert held is not None
                    dropped = held.filter(pc.invert(held.column("kept"))).column("doc_id")
                    path.mkdir()
                    kept_rows = rows.filter(pc.invert(pc.is_in(rows.column("doc_id"), dropped)))
                    pq.write_table(kept_rows, path / "part-00000.parquet")
                else:
                    rows.join(kept, "doc_id", "left_semi").write.parquet(str(path.resolve()))
                index.add_record(name, path, batch)

            def stats() -> dict[str, Any]:
                if held is None:
                    return cluster_stats(clusters)
                return lsh_clusters.cluster_summary(lsh_clusters.size_bins(held))

            # Independent jobs, a few tenths of a second each on a small batch: run together.
            summary, earlier_counts, *_ = together(
                spark,
                stats,
                lambda: against_earlier(written),
                lambda: index.add_kept(written, counts["out"], batch),
                *(functools.partial(record, name) for name in records),
            )
            section = removed(counts) | summary | info
            section["against_earlier"] = earlier_counts | {
                "fuzzy_duplicates": section.pop("late_fuzzy_duplicates")
            }
            commit(work / "clusters", layout.dedup_clusters(batch), out)
            for name in records:
                commit(work / name, finals[name], out)
            if "minhashes" not in records:  # a redo without them: none stale to rebuild from
                shutil.rmtree(layout.dedup_minhashes(batch), ignore_errors=True)
            return {"dedup": section}

        return write_stage(table.select(*DEDUP.names), out, STAGE, extra, batch)
    finally:
        for df in [persisted, *keep]:
            df.unpersist()
        shutil.rmtree(work, ignore_errors=True)


_TEXTS = pa.schema([("doc_id", pa.string()), ("text", pa.string())])


def earlier_texts(spark: SparkSession, out: Path, matched: DataFrame) -> DataFrame:
    """(doc_id, text) of the earlier documents ``matched`` names, read from only the batches
    that hold one (a small list: one entry per earlier batch at most)."""
    holding = sorted(r[0] for r in matched.select("earlier_batch").distinct().collect())
    if not holding:
        return local_frame(spark, _TEXTS.empty_table())
    ids = matched.select("doc_id").distinct()
    return (
        read_kept_texts(spark, out, STAGE, holding)
        .select("doc_id", "text")
        .join(ids, "doc_id", "left_semi")
    )


def check(args: argparse.Namespace, cfg: Config) -> None:
    check_standalone(args, STAGE)


def run(spark: SparkSession, args: argparse.Namespace, cfg: Config) -> dict[str, Any]:
    return run_stage(STAGE, spark, args.output, cfg, batch=args.batch)


def main(argv: list[str] | None = None) -> int:
    return job_main(sys.modules[__name__], argv)


if __name__ == "__main__":
    sys.exit(main())
