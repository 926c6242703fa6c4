"""Card: gather every stage's counts into ``stats.json`` and render ``DATASET_CARD.md``.

spark-submit jobs/card.py --output out/
"""

from __future__ import annotations

import argparse
import functools
import json
import platform
import sys
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path
from typing import Any

import pyarrow as pa
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from gristmill.jobs.dedup import CLUSTERS_DIR
from gristmill.jobs.options import add_common, fail_usage, job_main
from gristmill.jobs.stage_io import (
    batch_dir,
    batches_of,
    read_kept_texts,
    read_stage_stats,
    read_table,
    stage_path,
    write_json,
)
from gristmill.jobs.tokenize_shards import MANIFEST
from gristmill.pipeline import card_plots, langid
from gristmill.pipeline.card import render_card
from gristmill.pipeline.config import Config
from gristmill.pipeline.ledger import Ledger, crawl_id_of, file_sha256
from gristmill.pipeline.tokenizer import load_encoding
from gristmill.schemas.stats import STATS_FILE, check_counts
from gristmill.schemas.tables import QUALITY_SIGNALS, STAGES

CARD_FILE = "DATASET_CARD.md"
FIGURES = "card"


PACKAGES = (
    "gristmill", "pyspark", "pyarrow", "fastwarc", "resiliparse", "fasttext-numpy2", "kenlm",
    "tiktoken", "numpy", "numba",
)  # fmt: skip
QUANTILES = (0.1, 0.5, 0.9)


def _count_tokens(batches: Iterator[pa.RecordBatch], encoding: str) -> Iterator[pa.RecordBatch]:
    enc = load_encoding(encoding)
    for batch in batches:
        texts = [t or "" for t in batch.column("text").to_pylist()]
        n = sum(len(t) for t in enc.encode_ordinary_batch(texts))
        yield pa.RecordBatch.from_pydict(
            {"tokens": [n]}, schema=pa.schema([("tokens", pa.int64())])
        )


def tokens_of(df: DataFrame, encoding: str) -> int:
    counted = df.select("text").mapInArrow(
        functools.partial(_count_tokens, encoding=encoding), "tokens long"
    )
    return counted.agg(F.sum("tokens")).first()[0] or 0


def batch_stage_tokens(
    spark: SparkSession,
    out: Path,
    batch: int,
    stages: list[str],
    encoding: str,
    records: dict[str, Any],
) -> dict[str, dict[str, int]]:
    """One batch's tokens in and out of each stage, counted once and kept in
    ``card/tokens/batch=N.json`` under the ledger's records of its stages: a nightly card
    tokenizes the new batch's text only, and a batch whose stages were redone is counted again."""
    key = {
        "encoding": encoding,
        "stages": {s: [records.get(s, {}).get(k) for k in ("completed", "digest")] for s in stages},
    }
    cache = out / FIGURES / "tokens" / f"{batch_dir(batch)}.json"
    if cache.is_file():
        cached = json.loads(cache.read_text())
        if cached["key"] == key:
            return cached["counts"]
    counts: dict[str, dict[str, int]] = {}
    previous = None
    for stage in stages:
        if previous is None:
            previous = tokens_of(read_table(spark, out, stage, [batch]), encoding)
        kept = tokens_of(read_kept_texts(spark, out, stage, [batch]), encoding)
        counts[stage] = {"in": previous, "out": kept}
        previous = kept
    write_json(cache, {"key": key, "counts": counts})
    return counts


def stage_tokens(
    spark: SparkSession, out: Path, stages: dict[str, dict[str, Any]], cfg: Config
) -> dict[str, Any]:
    """Tokens (without EOT) of what each stage received and kept, summed over batches. A stage
    receives what the previous one kept; ingest receives the text of every record it extracted.
    Text changed inside a stage (C4 line cleaning, decontamination cuts) shows as tokens lost with
    no document dropped. Tokenize keeps every token: its out is the shards' tokens less one EOT
    a document."""
    encoding = cfg.tokenize.encoding
    text_stages = [s for s in stages if s != "tokenize"]
    counts: dict[str, Any] = {s: {"in": 0, "out": 0} for s in text_stages}
    ledger = Ledger.load(out)
    recorded = {b["batch"]: b["stages"] for b in ledger.batches}
    for batch in batches_of(stage_path(out, text_stages[-1])):
        records = recorded.get(batch, {})
        for stage, c in batch_stage_tokens(
            spark, out, batch, text_stages, encoding, records
        ).items():
            counts[stage]["in"] += c["in"]
            counts[stage]["out"] += c["out"]
    if "tokenize" in stages:
        s = stages["tokenize"]
        counts["tokenize"] = {"in": counts[text_stages[-1]]["out"], "out": s["tokens"] - s["out"]}
    return {"encoding": encoding, "stages": counts}


def signal_quantiles(spark: SparkSession, out: Path) -> dict[str, dict[str, float | None]]:
    """p10/p50/p90 of every numeric quality signal over the documents the quality stage scored."""
    table = read_table(spark, out, "quality")
    numeric = [
        f.name
        for f in QUALITY_SIGNALS
        if pa.types.is_integer(f.type) or pa.types.is_floating(f.type)
    ]
    row = table.agg(
        *[F.percentile_approx(c, list(QUANTILES), 10_000).alias(c) for c in numeric],
        *[F.count(c).alias(f"{c}__n") for c in numeric],
    ).first()
    result = {}
    for c in numeric:
        values = row[c] or [None] * len(QUANTILES)
        result[c] = {f"p{round(q * 100)}": v for q, v in zip(QUANTILES, values, strict=True)}
        result[c]["count"] = row[f"{c}__n"]
    return result


def dedup_evaluation(spark: SparkSession, out: Path, labels: Path) -> dict[str, Any]:
    """Precision and recall of dedup's decisions on labelled page pairs: a pair is predicted
    duplicate when both pages are in one near-duplicate cluster or have the same text hash."""
    pairs = [json.loads(line) for line in labels.read_text().splitlines() if line.strip()]
    urls = sorted({p[k] for p in pairs for k in ("a", "b")})
    rows = (
        read_table(spark, out, "dedup")
        .where(F.col("url").isin(urls))
        .select("url", "doc_id", "text_hash")
        .collect()
    )
    by_url = {r["url"]: r for r in rows}
    component = {}
    if (out / CLUSTERS_DIR).exists():
        clusters = spark.read.parquet(str((out / CLUSTERS_DIR).resolve()))
        ids = [r["doc_id"] for r in rows]
        component = dict(
            clusters.where(F.col("doc_id").isin(ids)).select("doc_id", "component").collect()
        )
    tp = fp = fn = tn = unmatched = 0
    for pair in pairs:
        a, b = by_url.get(pair["a"]), by_url.get(pair["b"])
        if a is None or b is None:
            unmatched += 1
            continue
        ca, cb = component.get(a["doc_id"]), component.get(b["doc_id"])
        predicted = a["text_hash"] == b["text_hash"] or (ca is not None and ca == cb)
        truth = bool(pair["duplicate"])
        tp += predicted and truth
        fp += predicted and not truth
        fn += truth and not predicted
        tn += not predicted and not truth
    return {
        "labels": str(labels),
        "pairs": len(pairs),
        "unmatched": unmatched,
        "true_positives": tp,
        "false_positives": fp,
        "false_negatives": fn,
        "true_negatives": tn,
        "precision": tp / (tp + fp) if tp + fp else None,
        "recall": tp / (tp + fn) if tp + fn else None,
    }


def gather_stats(spark: SparkSession, out: Path, cfg: Config) -> dict[str, Any]:
    stages = {s: read_stage_stats(out, s) for s in STAGES if stage_path(out, s).exists()}
    for name, counts in stages.items():
        check_counts(name, counts)
    ingest = stages.get("ingest", {})
    table = read_table(spark, out, "ingest")
    paths = sorted(r["input_file"] for r in table.select("input_file").distinct().collect())
    first, last = table.agg(F.min("warc_date"), F.max("warc_date")).first()
    ledger = Ledger.load(out)
    sources = ledger.sources()
    crawls = {c for b in sources for c in b["crawl_ids"]} | {
        c for p in paths if (c := crawl_id_of(p))
    }
    documents = spark.read.parquet(str((out / "documents").resolve()))
    quality_models = stages.get("quality", {}).get("models", {})
    lid = langid.model_path()
    stats: dict[str, Any] = {
        "gristmill_version": metadata.version("gristmill"),
        "config_digest": cfg.digest(),
        "inputs": {
            "files": ingest.get("input_files", 0),
            "paths": paths,
            "failed": ingest.get("failed_inputs", []),
            "retrying": ledger.retrying(),
            "given_up": ledger.given_up(),
            "crawl_ids": sorted(crawls),
            "batches": sources,
            "warc_dates": {"first": first, "last": last},
        },
        "stages": stages,
        "languages": {r["lang"]: r["count"] for r in documents.groupBy("lang").count().collect()},
        "models": {
            "lid.176": {"path": str(lid), "sha256": file_sha256(str(lid))},
            **{k: v for k, v in quality_models.items() if v},
        },
        "quality_signals": signal_quantiles(spark, out) if "quality" in stages else {},
        "reproducibility": {
            "config_digest": cfg.digest(),
            "command": " ".join(["gristmill", *sys.argv[1:]]) if sys.argv else "",
            "python": platform.python_version(),
            "packages": {p: metadata.version(p) for p in PACKAGES},
        },
    }
    if cfg.card.stage_tokens:
        stats["tokens"] = stage_tokens(spark, out, stages, cfg)
    if cfg.card.dedup_labels:
        stats["dedup_evaluation"] = dedup_evaluation(spark, out, Path(cfg.card.dedup_labels))
    return stats


add_arguments = add_common


def check(args: argparse.Namespace, cfg: Config) -> None:
    """The card describes shards: without them there is nothing to describe yet."""
    if not hasattr(args, "input") and not (args.output / "shards" / MANIFEST).is_file():
        fail_usage(f"{args.output} has no shards yet; run the tokenize stage first")


# (column, log10 scale, title, x label) of the histograms drawn for the card.
HISTOGRAMS = (
    ("quality_score", False, "Quality classifier score", "P(high quality)"),
    ("perplexity", True, "KenLM perplexity", "log10 perplexity"),
    ("n_words", True, "Document length", "log10 words"),
)
BINS = 30


def histogram(df: DataFrame, column: str, log: bool) -> tuple[list[float], list[int]] | None:
    """Equal-width histogram computed in Spark; None when the column has no values."""
    x = F.log10(F.col(column)) if log else F.col(column)
    values = df.select(x.alias("x")).where(F.col("x").isNotNull() & ~F.isnan("x"))
    lo, hi = values.agg(F.min("x"), F.max("x")).first()
    if lo is None:
        return None
    width = (hi - lo) / BINS or 1.0
    index = F.least(F.floor((F.col("x") - lo) / width), F.lit(BINS - 1)).cast("int")
    counts = dict(values.groupBy(index.alias("b")).count().collect())
    return [lo + i * width for i in range(BINS + 1)], [counts.get(i, 0) for i in range(BINS)]


def draw_figures(
    spark: SparkSession, out: Path, stats: dict[str, Any], manifest: dict[str, Any]
) -> list[tuple[str, str]]:
    """(title, file) of each PNG written next to the card, in ``card/``."""
    folder = out / FIGURES
    folder.mkdir(exist_ok=True)
    documents = spark.read.parquet(str((out / "documents").resolve()))
    figures = [
        ("Funnel", card_plots.funnel(stats, folder / "funnel.png")),
        ("Languages", card_plots.languages(stats["languages"], folder / "languages.png")),
        ("Tokens per bucket", card_plots.bucket_tokens(manifest, folder / "buckets.png")),
    ]
    for column, log, title, xlabel in HISTOGRAMS:
        hist = histogram(documents, column, log)
        if hist:
            name = card_plots.histogram(*hist, title, xlabel, folder / f"{column}.png")
            figures.append((title, name))
    return [(title, f"{FIGURES}/{name}") for title, name in figures]


def run(spark: SparkSession, args: argparse.Namespace, cfg: Config) -> dict[str, Any]:
    out = args.output
    stats = gather_stats(spark, out, cfg)
    write_json(out / STATS_FILE, stats)
    manifest = json.loads((out / "shards" / MANIFEST).read_text())
    figures = draw_figures(spark, out, stats, manifest)
    card = out / CARD_FILE
    tmp = card.with_name(f".{CARD_FILE}.tmp")
    tmp.write_text(render_card(stats, manifest, cfg.to_dict(), figures))
    tmp.replace(card)
    return stats


def main(argv: list[str] | None = None) -> int:
    return job_main(sys.modules[__name__], argv)


if __name__ == "__main__":
    sys.exit(main())
