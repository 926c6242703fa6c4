"""Decontaminate: a batch's ``stages/dedup`` kept rows -> ``stages/decontaminate``, plus
``decontamination/batches/batch=N/report.json``, and over every batch so far
``decontamination/report.json`` and ``decontamination/clean/<benchmark>.jsonl``.

    spark-submit jobs/decontaminate.py --output out/ --benchmark gsm8k_test.jsonl piqa.jsonl
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import json
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
from pyspark import SparkFiles
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from gristmill.jobs import arguments
from gristmill.jobs.batches import DEFAULT_OPTIONS, StageOptions, check_standalone, run_stage
from gristmill.jobs.options import job_main
from gristmill.jobs.stage_io import (
    cached,
    commit,
    read_kept_texts,
    temp_path,
    write_stage,
)
from gristmill.jobs.together import together
from gristmill.pipeline.atomic import atomic_file
from gristmill.pipeline.benchmarks import (
    TEXT_FIELDS,
    Benchmark,
    benchmark_name,
    read_benchmark,
)
from gristmill.pipeline.config import Config
from gristmill.pipeline.decontaminate import (
    CUT,
    BenchmarkNgrams,
    NgramIndex,
    build_index,
    decontaminate_batches,
    decontaminate_joined_batches,
    doc_keys,
    doc_ngram_batches,
    load_index,
    matched_hashes,
)
from gristmill.pipeline.errors import fail_usage
from gristmill.pipeline.layout import Layout, batches_of, write_json
from gristmill.pipeline.ledger import Ledger
from gristmill.schemas.tables import DECONTAMINATE, spark_schema

STAGE = "decontaminate"
JOIN_SLICE_ROWS = 1 << 20
# Documents the cutting pass is told to read (8 bytes each, shipped with its tasks) at most;
# past it, every document is read (:func:`cut_documents`).
TOUCHED_MAX = 1 << 20


add_arguments = arguments.decontaminate


def read_configured(path: Path, cfg: Config) -> Benchmark:
    name = benchmark_name(path)
    fields = cfg.decontaminate.text_fields.get(name)
    return read_benchmark(
        path, tuple(fields) if fields else TEXT_FIELDS, cfg.decontaminate.id_fields.get(name)
    )


def check(args: argparse.Namespace, cfg: Config) -> None:
    """Check the batch it would work on and read the benchmarks into ``args.benchmarks``, before
    Spark starts."""
    check_standalone(args, STAGE)
    args.benchmarks = load_benchmarks(args.benchmark, cfg)


def load_benchmarks(paths: Sequence[str | Path], cfg: Config) -> tuple[Benchmark, ...]:
    """The benchmark sets of ``--benchmark`` and of the config, read and checked (a bad file is
    a usage error), in path order."""
    every = sorted({str(p) for p in paths} | set(cfg.decontaminate.benchmarks))
    benchmarks = tuple(read_configured(Path(p), cfg) for p in every)
    names: dict[str, str] = {}
    for bench in benchmarks:
        if bench.name in names and Path(names[bench.name]).resolve() != Path(bench.path).resolve():
            fail_usage(
                f"benchmarks {names[bench.name]} and {bench.path} are both named {bench.name!r}: "
                "the report and the clean subsets are by name; rename one"
            )
        names[bench.name] = bench.path
    return tuple({b.name: b for b in benchmarks}.values())  # one file given by two paths: once


@dataclass(frozen=True)
class ShippedIndex:
    """An n-gram index in a file that Spark copies once to each executor (``addFile``), where
    every Python worker memory-maps it: one copy in memory per machine, shared by its workers'
    page cache, instead of one unpickled copy per worker."""

    file: str
    vocab_file: str
    names: tuple[str, ...]
    lengths: tuple[int, ...]

    def load(self) -> NgramIndex:
        files = SparkFiles.get(self.file), SparkFiles.get(self.vocab_file)
        return load_index(*files, self.names, self.lengths)


def ship(spark: SparkSession, index: NgramIndex, work: Path) -> ShippedIndex:
    """Write ``index`` and its vocabulary under ``work`` (named by their content) and register
    them with Spark."""
    assert index.vocab is not None
    data = np.stack([index.hashes, index.owners, index.kinds]).astype(np.uint64)
    return ShippedIndex(
        _shipped(spark, work, "ngram-index", data),
        _shipped(spark, work, "vocab", index.vocab),
        index.names,
        index.lengths,
    )


def _shipped(spark: SparkSession, work: Path, kind: str, data: np.ndarray) -> str:
    """``data`` as a .npy file under ``work``, named by its content, registered with Spark."""
    data = np.ascontiguousarray(data, np.uint64)
    name = f"{kind}-{hashlib.sha256(data.tobytes()).hexdigest()[:16]}.npy"
    path = (work / name).resolve()
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_file(path) as f:
            np.save(f, data)
    sc = spark.sparkContext
    if not any(f.endswith(f"/{name}") for f in sc.listFiles):
        sc.addFile(str(path))
    return name


def _with_index(
    batches: Iterator[Any], body: Callable[..., Any], index: ShippedIndex, **kw: Any
) -> Iterator[Any]:
    """Run a mapInArrow body with the shipped n-gram index, memory-mapped once per worker."""
    return body(batches, index=index.load(), **kw)


def index_rows(
    batches: Iterator[pa.RecordBatch], index: ShippedIndex, parts: int
) -> Iterator[pa.RecordBatch]:
    """mapInArrow body over ``spark.range(parts)``: slice ``id`` of the index as (ngram, owner)
    rows (with what each is for: ``kind``), so that the join path's table of benchmark n-grams
    is built by the executors."""
    loaded = index.load()
    size = -(-len(loaded.hashes) // parts)
    for batch in batches:
        for part in batch.column("id").to_pylist():
            rows = slice(part * size, (part + 1) * size)
            yield pa.RecordBatch.from_pydict(
                {
                    "ngram": np.asarray(loaded.hashes[rows]).view(np.int64),
                    "owner": np.asarray(loaded.owners[rows]).view(np.int64),
                    "kind": np.asarray(loaded.kinds[rows]).view(np.int64),
                }
            )


# (ngram, docs) as of the previous batch, None for the first.
Counts = DataFrame | None
# (n-grams acted on, n-grams ignored as too common, the decontaminated table, running counts),
# from a path that notes what it persisted (the matched n-grams of each document, read by the
# counts, the cut-offs and the cuts: without it, three passes over every text) in ``keep``.
Decontaminated = tuple[np.ndarray, np.ndarray, DataFrame, DataFrame]


def document_counts(pairs: DataFrame, before: DataFrame | None) -> DataFrame:
    """(ngram, docs): the training documents holding each benchmark n-gram, in this batch and,
    with ``before`` (the same table as of the previous batch), every batch so far. Its size is
    bounded by the benchmarks' n-grams, not by the corpus."""
    here = pairs.groupBy("ngram").agg(F.countDistinct("doc_id").cast("long").alias("docs"))
    if before is None:
        return here
    return here.unionByName(before).groupBy("ngram").agg(F.sum("docs").alias("docs"))


def too_common(pairs: DataFrame, counts: DataFrame, cfg: Config) -> tuple[np.ndarray, np.ndarray]:
    """(n-grams acted on, n-grams ignored as too common) among those this batch's documents
    hold, both as uint64 arrays (in the order of Spark's signed longs): too common means in more
    than ``too_common_docs`` documents over every batch so far (``counts``), so a document's cuts
    do not depend on how the inputs were split into batches (bounded by the benchmarks'
    n-grams)."""
    found = counts.join(pairs.select("ngram").distinct(), "ngram", "left_semi").collect()
    limit = cfg.decontaminate.too_common_docs
    acted = np.array(sorted(r["ngram"] for r in found if r["docs"] <= limit), dtype=np.int64)
    ignored = np.array(sorted(r["ngram"] for r in found if r["docs"] > limit), dtype=np.int64)
    return acted.view(np.uint64), ignored.view(np.uint64)


def broadcast_path(
    spark: SparkSession,
    docs: DataFrame,
    index: NgramIndex,
    cfg: Config,
    before: Counts,
    work: Path,
    keep: list[DataFrame],
) -> Decontaminated:
    """The benchmark n-grams go to every executor as a file of sorted uint64 arrays (24 bytes an
    n-gram with its owner mask and kind; GPT-3's whole evaluation suite is a few tens of MB),
    which each worker memory-maps and binary-searches, in both passes. The n-grams too common to
    act on, which differ with every batch, go with the cutting pass's tasks (an array, bounded
    by the benchmarks' n-grams): a file of each batch's own index would be one more
    file on every executor's disk, and one more map in every worker, for each batch that a
    Spark application decontaminates (a redo over a year of nights is 365)."""
    shipped = ship(spark, index, work)
    pairs = docs.select("doc_id", "text").mapInArrow(
        functools.partial(_with_index, body=matched_hashes, index=shipped),
        "doc_id string, ngram long",
    )
    pairs = cached(pairs, keep)
    counts = document_counts(pairs, before)
    acted, ignored = too_common(pairs, counts, cfg)
    cleaned = docs.mapInArrow(
        functools.partial(
            _with_index,
            body=decontaminate_batches,
            index=shipped,
            cfg=cfg.decontaminate,
            ignored=ignored,
            touched=cut_documents(spark, pairs, acted, index),
        ),
        spark_schema(DECONTAMINATE),
    )
    return acted, ignored, cleaned, counts


def cut_documents(
    spark: SparkSession, pairs: DataFrame, acted: np.ndarray, index: NgramIndex
) -> np.ndarray | None:
    """The :func:`doc_keys` of the documents that hold an n-gram to cut (one the first pass
    matched, not too common, of those the index holds for cutting), for the cutting pass to
    read those alone; None where they are over :data:`TOUCHED_MAX`. At most ``too_common_docs``
    documents hold each such n-gram, so the collect is bounded by the benchmarks, not the batch;
    where none was matched, no Spark job runs."""
    at = index.lookup(acted)
    assert (at >= 0).all(), "acted n-grams are first-pass hits: the index holds each"
    grams = acted[(np.asarray(index.kinds)[at] & CUT) > 0]
    if not grams.size:
        return np.empty(0, np.uint64)
    wanted = spark.createDataFrame(pa.table({"ngram": grams.view(np.int64)}))
    ids = pairs.join(F.broadcast(wanted), "ngram", "left_semi").select("doc_id").distinct()
    rows = ids.limit(TOUCHED_MAX + 1).collect()
    return None if len(rows) > TOUCHED_MAX else doc_keys(r[0] for r in rows)


def join_path(
    spark: SparkSession,
    docs: DataFrame,
    index: NgramIndex,
    cfg: Config,
    before: Counts,
    work: Path,
    keep: list[DataFrame],
) -> Decontaminated:
    """Too many benchmark n-grams to look up in every task: join them with every document's
    n-grams, then hand each document the matched n-grams it must cut. The executors build the
    table of benchmark n-grams from the shipped file, slices of about a million rows each."""
    parts = max(1, -(-len(index.hashes) // JOIN_SLICE_ROWS))
    bench = spark.range(parts, numPartitions=parts).mapInArrow(
        functools.partial(index_rows, index=ship(spark, index, work), parts=parts),
        "ngram long, owner long, kind long",
    )
    found = docs.select("doc_id", "text").mapInArrow(
        functools.partial(doc_ngram_batches, lengths=index.lengths), "doc_id string, ngram long"
    )
    pairs = cached(found.join(bench, "ngram"), keep)
    counts = document_counts(pairs, before)
    acted, ignored = too_common(pairs, counts, cfg)
    limit = cfg.decontaminate.too_common_docs
    per_doc = (
        pairs.where((F.col("kind").bitwiseAND(CUT)) > 0)
        .join(counts.where(F.col("docs") <= limit).select("ngram"), "ngram")
        .groupBy("doc_id")
        .agg(F.collect_list("ngram").alias("matched"), F.collect_list("owner").alias("owners"))
    )
    cleaned = docs.join(per_doc, "doc_id", "left").mapInArrow(
        functools.partial(decontaminate_joined_batches, names=index.names, cfg=cfg.decontaminate),
        spark_schema(DECONTAMINATE),
    )
    return acted, ignored, cleaned, counts


def batch_report(
    benchmarks: Sequence[Benchmark],
    grams: Sequence[BenchmarkNgrams],
    cfg: Config,
    acted: np.ndarray,
    ignored: np.ndarray,
    per_benchmark: dict[str, dict[str, int]],
) -> dict[str, Any]:
    """What one batch's documents matched of each benchmark, dirty example ids included."""
    n = cfg.decontaminate.ngram
    report: dict[str, Any] = {
        "ngram": n,
        "window_chars": cfg.decontaminate.window_chars,
        "min_piece_chars": cfg.decontaminate.min_piece_chars,
        "max_pieces": cfg.decontaminate.max_pieces,
        "too_common_docs": cfg.decontaminate.too_common_docs,
        "too_common_ngrams": len(ignored),
        # Cutting: any `ngram`-gram of a benchmark field. Labelling an example dirty: its context
        # joined with a completion, by the benchmark's `label_ngram`-grams, or whole if shorter.
        "label_percentile": cfg.decontaminate.label_percentile,
        "label_ngram_range": [cfg.decontaminate.label_min_ngram, cfg.decontaminate.label_max_ngram],
        "benchmarks": {},
    }
    for bench, own in zip(benchmarks, grams, strict=True):
        dirty = own.dirty(bench, acted)
        stats = per_benchmark.get(bench.name, {})
        report["benchmarks"][bench.name] = {
            "path": bench.path,
            "examples": len(bench.examples),
            "ngrams": len(own.cut),
            "label_ngram": own.label_n,
            "short_sequences": own.short_sequences,
            "matched_ngrams": int(np.isin(own.cut, acted).sum()),
            "too_common_ngrams": int(np.isin(own.all, ignored).sum()),
            "docs_touched": stats.get("docs_touched", 0),
            "docs_dropped": stats.get("docs_dropped", 0),
            "chars_removed": stats.get("chars_removed", 0),
            "dirty_examples": len(dirty),
            "dirty_ids": dirty,
        }
    return report


def merge_reports(reports: list[dict[str, Any]]) -> dict[str, Any]:
    """The batches' reports as one: dirty ids are the union, counts are summed over batches (an
    n-gram matched in two batches counts in both)."""
    merged = {k: v for k, v in reports[-1].items() if k != "benchmarks"}
    merged["too_common_ngrams"] = sum(r["too_common_ngrams"] for r in reports)
    merged["batches"] = len(reports)
    merged["benchmarks"] = {}
    summed = (
        "matched_ngrams",
        "too_common_ngrams",
        "docs_touched",
        "docs_dropped",
        "chars_removed",
    )
    for report in reports:
        for name, b in report["benchmarks"].items():
            m = merged["benchmarks"].setdefault(
                name,
                # .get: a batch reported before labelling had its own N (redone in turn).
                {
                    k: b.get(k)
                    for k in ("path", "examples", "ngrams", "label_ngram", "short_sequences")
                }
                | dict.fromkeys(summed, 0),
            )
            for key in summed:
                m[key] += b[key]
            m["dirty_ids"] = sorted(set(m.get("dirty_ids", [])) | set(b["dirty_ids"]))
            m["dirty_examples"] = len(m["dirty_ids"])
    return merged


def write_merged_report(out: Path, benchmarks: Sequence[Benchmark]) -> dict[str, Any]:
    """report.json and the clean subsets over every committed batch, committed together by one
    directory rename: the clean subset excludes an example found in any batch."""
    layout = Layout(out)
    reports = [
        json.loads(layout.decontamination_report(b).read_text())
        for b in batches_of(layout.decontamination_batches())
    ]
    merged = merge_reports(reports)
    final = layout.clean_benchmarks
    tmp = temp_path(out, final)
    tmp.mkdir(parents=True)
    for bench in benchmarks:
        dirty = set(merged["benchmarks"].get(bench.name, {}).get("dirty_ids", []))
        clean = [ex.raw for ex in bench.examples if ex.id not in dirty]
        (tmp / f"{bench.name}.jsonl").write_text("".join(line + "\n" for line in clean))
    commit(tmp, final, out)
    write_json(layout.decontamination_report(), merged)
    return merged


def run_batch(
    spark: SparkSession,
    out: Path,
    cfg: Config,
    batch: int,
    ledger: Ledger,
    options: StageOptions = DEFAULT_OPTIONS,
) -> dict[str, Any]:
    benchmarks = options.benchmarks
    grams = [BenchmarkNgrams.of(b, cfg.decontaminate) for b in benchmarks]
    index = build_index(grams, cfg.decontaminate)
    docs = read_kept_texts(spark, out, "dedup", [batch])
    earlier = ledger.completed_before(batch, STAGE)
    layout = Layout(out)
    previous = layout.ngram_counts(earlier[-1]) if earlier else None
    before = spark.read.parquet(str(previous.resolve())) if previous else None
    path = (
        broadcast_path if len(index.hashes) <= cfg.decontaminate.broadcast_max_ngrams else join_path
    )
    work = layout.tmp / "ngram-index"  # cleared by the next run
    keep: list[DataFrame] = []  # (doc_id, ngram) of the matches: read by counts, cut-offs, cuts
    acted, ignored, cleaned, counts = path(spark, docs, index, cfg, before, work, keep)
    counts_tmp = temp_path(out, layout.ngram_counts(batch))

    def report(table: DataFrame, _counts: dict[str, Any]) -> dict[str, Any]:
        by_benchmark = (
            table.select(
                F.explode("benchmarks_matched").alias("benchmark"), "drop_reason", "chars_removed"
            )
            .groupBy("benchmark")
            .agg(
                F.count("*").alias("docs_touched"),
                F.count("drop_reason").alias("docs_dropped"),
                F.sum("chars_removed").alias("chars_removed"),
            )
        )
        touched, _ = together(  # independent jobs: see gristmill.jobs.together
            spark, by_benchmark.collect, lambda: counts.write.parquet(str(counts_tmp.resolve()))
        )
        per_benchmark = {r["benchmark"]: r.asDict() for r in touched}
        written = batch_report(benchmarks, grams, cfg, acted, ignored, per_benchmark)
        write_json(layout.decontamination_report(batch), written)
        write_merged_report(out, benchmarks)
        commit(counts_tmp, layout.ngram_counts(batch), out)
        keys = (
            "examples",
            "label_ngram",
            "dirty_examples",
            "docs_touched",
            "docs_dropped",
            "chars_removed",
        )
        return {
            "benchmarks": {
                name: {k: b[k] for k in (*keys, "dirty_ids")}
                for name, b in written["benchmarks"].items()
            }
        }

    # Only the texts a cut changed are stored: the others are the dedup stage's input text.
    changed = (F.col("chars_removed") > 0) & F.col("drop_reason").isNull()
    stored = cleaned.withColumn("text", F.when(changed, F.col("text")))
    try:
        return write_stage(stored.select(*DECONTAMINATE.names), out, STAGE, report, batch)
    finally:
        for df in keep:
            df.unpersist()


def run(spark: SparkSession, args: argparse.Namespace, cfg: Config) -> dict[str, Any]:
    options = StageOptions(benchmarks=args.benchmarks)
    return run_stage(STAGE, spark, args.output, cfg, batch=args.batch, options=options)


def main(argv: list[str] | None = None) -> int:
    return job_main(sys.modules[__name__], argv)


if __name__ == "__main__":
    sys.exit(main())
