"""Card: gather every stage's counts into ``stats.json`` and render ``DATASET_CARD.md``.

spark-submit jobs/card.py --output out/
"""

from __future__ import annotations

import argparse
import functools
import json
import platform
import sys
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from gristmill.jobs import arguments
from gristmill.jobs.options import job_main
from gristmill.jobs.stage_io import (
    ROW_KEY,
    aggregated,
    commit,
    read_stage_stats,
    read_table,
    temp_path,
)
from gristmill.jobs.together import together
from gristmill.pipeline import ablation, langid
from gristmill.pipeline.atomic import write_atomic
from gristmill.pipeline.card import LISTED_PATHS, render_card
from gristmill.pipeline.card_sample import HASH, SAMPLE_ROWS, histogram, merge, quantiles
from gristmill.pipeline.config import Config
from gristmill.pipeline.errors import fail_usage
from gristmill.pipeline.layout import Layout, batches_of, write_json
from gristmill.pipeline.ledger import CRAWL_ID, Ledger
from gristmill.pipeline.manifest import Manifest
from gristmill.pipeline.stages import BATCH_STAGES, TEXT_STAGES
from gristmill.pipeline.tokenizer import load_encoding, token_counts
from gristmill.schemas.stats import check_counts
from gristmill.schemas.tables import DOCUMENTS, QUALITY_SIGNALS, spark_schema

PACKAGES = (
    "gristmill", "pyspark", "pyarrow", "fastwarc", "resiliparse", "fasttext-numpy2", "kenlm",
    "tiktoken", "numpy", "numba",
)  # fmt: skip
QUANTILES = (0.1, 0.5, 0.9)
# (column, log10 scale, title, x label) of the histograms drawn for the card.
HISTOGRAMS = (
    ("quality_score", False, "Quality classifier score", "P(high quality)"),
    ("perplexity", True, "KenLM perplexity", "log10 perplexity"),
    ("n_words", True, "Document length", "log10 words"),
)
BINS = 30
# Values of one option shown in the card's command line (:func:`command_line`).
LISTED_ARGUMENTS = 5
# Part of a batch summary's key: a summary written in another form is computed again.
SUMMARY_FORMAT = 2


def _row_tokens(batches: Iterator[pa.RecordBatch], encoding: str) -> Iterator[pa.RecordBatch]:
    """mapInArrow body: each row's text replaced by its token count (null where no text)."""
    enc = load_encoding(encoding)
    for batch in batches:
        texts = batch.column("text").to_pylist()
        lengths = iter(token_counts(enc, [t for t in texts if t is not None]))
        tokens = pa.array([None if t is None else next(lengths) for t in texts], pa.int64())
        yield batch.drop_columns(["text"]).append_column("tokens", tokens)


def _stage_rows(spark: SparkSession, out: Path, stage: str, batch: int, encoding: str) -> DataFrame:
    """A stage's rows: key, kept, and (a stage that stores text) the tokens of its text."""
    text = [F.col("text")] if stage in TEXT_STAGES else []
    kept = F.col("drop_reason").isNull().alias(f"{stage}_kept")
    table = read_table(spark, out, stage, [batch]).select(*ROW_KEY, kept, *text)
    if stage not in TEXT_STAGES:
        return table
    schema = f"doc_id string, input_file string, {stage}_kept boolean, tokens long"
    counted = table.mapInArrow(functools.partial(_row_tokens, encoding=encoding), schema)
    return counted.withColumnRenamed("tokens", f"{stage}_tokens")


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
    tokenizes the new batch's text only, and a batch whose stages were redone is counted again.

    Every stored text is tokenized once, and one aggregation sums, per stage, the tokens of the
    text each kept document has as of that stage (its own stored text, else the nearest earlier
    stage's): one Spark job, where counting each stage's kept texts took two per stage."""
    key = {
        "encoding": encoding,
        "stages": {s: [records.get(s, {}).get(k) for k in ("completed", "digest")] for s in stages},
    }
    cache = Layout(out).token_count(batch)
    if cache.is_file():
        cached = json.loads(cache.read_text())
        if cached["key"] == key:
            return cached["counts"]
    first, *later = stages
    rows = _stage_rows(spark, out, first, batch, encoding)
    if later:
        # Later stages hold the rows ingest kept, whose key is unique (a record id repeated in
        # a file is dropped at ingest, and that dropped row must not match them again).
        rest = functools.reduce(
            lambda a, b: a.join(b, list(ROW_KEY), "left"),
            [_stage_rows(spark, out, s, batch, encoding) for s in later],
        ).withColumnsRenamed({k: f"_{k}" for k in ROW_KEY})
        on = [rows[k] == rest[f"_{k}"] for k in ROW_KEY] + [rows[f"{first}_kept"]]
        rows = rows.join(rest, on, "left")
    current = F.coalesce(F.col(f"{first}_tokens"), F.lit(0))
    sums = [F.sum(current).alias(f"{first}:in")]
    for stage in stages:
        if stage in TEXT_STAGES and stage != first:
            current = F.coalesce(F.col(f"{stage}_tokens"), current)
        kept = F.coalesce(F.col(f"{stage}_kept"), F.lit(False))
        sums.append(F.sum(F.when(kept, current).otherwise(0)).alias(f"{stage}:out"))
    totals = aggregated(rows.agg(*sums)).asDict()
    counts: dict[str, dict[str, int]] = {}
    previous = int(totals[f"{first}:in"] or 0)
    for stage in stages:
        kept_tokens = int(totals[f"{stage}:out"] or 0)
        counts[stage] = {"in": previous, "out": kept_tokens}
        previous = kept_tokens
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
    for batch in batches_of(Layout(out).stage(text_stages[-1])):
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


NUMERIC_SIGNALS = tuple(
    f.name for f in QUALITY_SIGNALS if pa.types.is_integer(f.type) or pa.types.is_floating(f.type)
)
SAMPLED = ("quality", "documents")


def bottom_k(df: DataFrame, columns: list[str]) -> pa.Table:
    """The batch's part of a card sample (:mod:`gristmill.pipeline.card_sample`)."""
    hashed = df.select("doc_id", *columns).withColumn(HASH, F.xxhash64("doc_id"))
    return hashed.orderBy(HASH, "doc_id").limit(SAMPLE_ROWS).toArrow()


def batch_summary(
    spark: SparkSession, out: Path, batch: int, records: dict[str, Any]
) -> dict[str, Any]:
    """What the card needs of one batch, computed once and kept in ``card/batches/batch=N/``
    under the ledger's records of its stages (a batch redone is summarized again): input paths,
    WARC-Date range, signal counts, languages, and bottom-k samples of its quality signals and
    documents. A nightly card reads these, never the whole corpus; and names the batch's first
    :data:`LISTED_PATHS` input files, not all of them."""
    key: dict[str, Any] = {
        s: [records.get(s, {}).get(k) for k in ("completed", "digest")] for s in BATCH_STAGES
    }
    key["summary"] = SUMMARY_FORMAT
    folder = Layout(out).card_batch(batch)
    if (folder / "summary.json").is_file():
        cached = json.loads((folder / "summary.json").read_text())
        if cached["key"] == key:
            return cached
    ingest = read_table(spark, out, "ingest", [batch])
    crawl = F.regexp_extract("input_file", CRAWL_ID.pattern, 0)
    quality = read_table(spark, out, "quality", [batch])
    reader = spark.read.schema(spark_schema(DOCUMENTS))  # inferring it is a Spark job
    documents = reader.parquet(str(Layout(out).documents(batch).resolve()))
    # The first paths by name, not all of a batch's 80,000 on the driver.
    paths = ingest.select("input_file").distinct().orderBy("input_file").limit(LISTED_PATHS)
    histogrammed = [c for c, *_ in HISTOGRAMS]
    # Six independent jobs, each a fraction of a second on a small batch (jobs/together.py).
    dates, counts, listed, languages, quality_sample, documents_sample = together(
        spark,
        lambda: aggregated(
            ingest.agg(F.min("warc_date"), F.max("warc_date"), F.collect_set(crawl))
        ),
        lambda: aggregated(quality.agg(*[F.count(c).alias(c) for c in NUMERIC_SIGNALS])).asDict(),
        paths.collect,
        documents.groupBy("lang").count().collect,
        lambda: bottom_k(quality, list(NUMERIC_SIGNALS)),
        lambda: bottom_k(documents, histogrammed),
    )
    first, last, crawls = dates
    summary = {
        "key": key,
        "paths": [r[0] for r in listed],
        "crawl_ids": sorted(c for c in crawls if c),
        "warc_dates": [first, last],
        "signal_counts": counts,
        "languages": dict(languages),
    }
    tmp = temp_path(out, folder)
    tmp.mkdir(parents=True)
    pq.write_table(quality_sample, tmp / "quality.parquet")
    pq.write_table(documents_sample, tmp / "documents.parquet")
    write_json(tmp / "summary.json", summary)
    commit(tmp, folder, out)
    return summary


def merged_samples(out: Path, summaries: dict[int, dict[str, Any]]) -> dict[str, pa.Table]:
    """The samples of every batch, merged: last night's merge plus the batches new since, or,
    when an earlier batch was redone, all batches' samples again, folded in one at a time (a
    bottom-k of bottom-k's: the driver holds two samples at once, not a year of them)."""
    folder = Layout(out).card_merged
    keys = {str(b): s["key"] for b, s in summaries.items()}
    done: dict[str, Any] = {}
    if (folder / "keys.json").is_file():
        done = json.loads((folder / "keys.json").read_text())
    incremental = bool(done) and all(keys.get(b) == k for b, k in done.items())
    if not incremental:
        done = {}
    merged = {}
    tmp = temp_path(out, folder)
    tmp.mkdir(parents=True)
    for name in SAMPLED:
        table = pq.read_table(folder / f"{name}.parquet") if done else None
        for b in sorted(keys, key=int):
            if b not in done:
                part = pq.read_table(Layout(out).card_batch(int(b)) / f"{name}.parquet")
                table = merge([part] if table is None else [table, part])
        merged[name] = merge([]) if table is None else table
        pq.write_table(merged[name], tmp / f"{name}.parquet")
    write_json(tmp / "keys.json", keys)
    commit(tmp, folder, out)
    return merged


def signal_quantiles(
    sample: pa.Table, summaries: dict[int, dict[str, Any]]
) -> dict[str, dict[str, float | None]]:
    """p10/p50/p90 of every numeric quality signal over the documents the quality stage scored:
    exact counts, quantiles of the merged sample (exact up to SAMPLE_ROWS documents)."""
    result: dict[str, dict[str, float | None]] = {}
    for c in NUMERIC_SIGNALS:
        found = quantiles(sample, c, QUANTILES)
        values: list[float | None] = list(found) if found else [None] * len(QUANTILES)
        result[c] = {f"p{round(q * 100)}": v for q, v in zip(QUANTILES, values, strict=True)}
        result[c]["count"] = sum(s["signal_counts"][c] for s in summaries.values())
    return result


def first_by_url(rows: Iterable[Mapping[str, Any]]) -> dict[str, Mapping[str, Any]]:
    """One document per URL, the same whatever order Spark returned them in: the earliest
    batch's, then the lowest doc_id's (a page crawled again on a later night, or twice in one
    crawl, is read more than once)."""
    first: dict[str, Mapping[str, Any]] = {}
    for row in sorted(rows, key=lambda r: (r["batch"], r["doc_id"]), reverse=True):
        first[row["url"]] = row
    return first


def dedup_evaluation(spark: SparkSession, out: Path, labels: Path) -> dict[str, Any]:
    """Precision and recall of dedup's decisions on labelled page pairs: a pair is predicted
    duplicate when both pages are in one near-duplicate cluster or have the same text hash."""
    pairs = [json.loads(line) for line in labels.read_text().splitlines() if line.strip()]
    urls = sorted({p[k] for p in pairs for k in ("a", "b")})
    labelled = read_table(spark, out, "dedup").where(F.col("url").isin(urls))
    rows = [r.asDict() for r in labelled.select("url", "doc_id", "text_hash", "batch").collect()]
    by_url = first_by_url(rows)
    component: dict[str, int] = {}
    if Layout(out).dedup_clusters().exists():
        clusters = spark.read.parquet(str(Layout(out).dedup_clusters().resolve()))
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


def command_line(argv: list[str]) -> str:
    """The command as given, an option's values cut to the first :data:`LISTED_ARGUMENTS` and a
    count: ``--input`` over a crawl's files (the shell expands a glob to every name) would put
    each file's name in every night's card, and the ledger lists every input."""
    words: list[str] = ["gristmill"]
    values: list[str] = []
    for arg in argv:
        if arg.startswith("-"):
            words += _shown(values)
            words.append(arg)
            values = []
        else:
            values.append(arg)
    return " ".join(words + _shown(values))


def _shown(values: list[str]) -> list[str]:
    if len(values) <= LISTED_ARGUMENTS:
        return values
    return [*values[:LISTED_ARGUMENTS], f"... ({len(values) - LISTED_ARGUMENTS} more)"]


def gather_stats(spark: SparkSession, out: Path, cfg: Config) -> tuple[dict[str, Any], pa.Table]:
    """stats.json's content, and the sample of documents the figures are drawn from."""
    layout = Layout(out)
    stages = {s: read_stage_stats(out, s) for s in BATCH_STAGES if layout.stage(s).exists()}
    for name, counts in stages.items():
        check_counts(name, counts)
    ingest = stages.get("ingest", {})
    ledger = Ledger.load(out)
    recorded = {b["batch"]: b["stages"] for b in ledger.batches}
    # The batches' summaries and their token counts: independent jobs (jobs/together.py).
    summaries, tokens = together(
        spark,
        lambda: {
            b: batch_summary(spark, out, b, recorded.get(b, {}))
            for b in batches_of(layout.documents())
        },
        lambda: stage_tokens(spark, out, stages, cfg) if cfg.card.stage_tokens else None,
    )
    samples = merged_samples(out, summaries)
    # The first LISTED_PATHS of all batches are among each batch's own first LISTED_PATHS.
    paths = sorted({p for s in summaries.values() for p in s["paths"]})[:LISTED_PATHS]
    dates = [d for s in summaries.values() for d in s["warc_dates"] if d]
    first, last = (min(dates), max(dates)) if dates else (None, None)
    languages: Counter[str] = Counter()
    for s in summaries.values():
        languages.update(s["languages"])
    sources = ledger.sources()
    crawls = {c for b in sources for c in b["crawl_ids"]} | {
        c for s in summaries.values() for c in s["crawl_ids"]
    }
    quality_models = stages.get("quality", {}).get("models", {})
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
        "languages": dict(languages),
        "models": {
            "lid.176": langid.model_info(),
            **{k: v for k, v in quality_models.items() if v},
        },
        "quality_signals": signal_quantiles(samples["quality"], summaries)
        if "quality" in stages
        else {},
        "sample_rows": SAMPLE_ROWS,
        "reproducibility": {
            "config_digest": cfg.digest(),
            "command": command_line(sys.argv[1:]),
            "python": platform.python_version(),
            "packages": {p: metadata.version(p) for p in PACKAGES},
        },
    }
    if tokens is not None:
        stats["tokens"] = tokens
    if cfg.card.dedup_labels:
        stats["dedup_evaluation"] = dedup_evaluation(spark, out, Path(cfg.card.dedup_labels))
    return stats, samples["documents"]


add_arguments = arguments.add_common


def check(args: argparse.Namespace, cfg: Config) -> None:
    """The card describes shards: without them there is nothing to describe yet. Nor while a
    batch has stages to run again (a stage run on its own marks what follows it stale, whose
    tables are still on disk): the card would sum new counts with stale ones."""
    out = args.output
    if not Layout(out).manifest.is_file():
        fail_usage(f"{out} has no shards yet; run the tokenize stage first")
    ledger = Ledger.load(out)
    for batch in ledger.unfinished():
        stage = next(s for s in BATCH_STAGES if s not in ledger.batch(batch)["stages"])
        fail_usage(
            f"batch {batch} of {out} has stages to run again ({stage}: "
            f"{ledger.why(batch, stage, '')}); `gristmill run --output {out}` brings every "
            "batch up to date and writes the card"
        )


def draw_figures(
    out: Path, stats: dict[str, Any], manifest: Manifest, documents: pa.Table
) -> list[tuple[str, str]]:
    """(title, file) of each PNG written next to the card, in ``card/``; the histograms are of
    ``documents``, the merged sample of the documents."""
    # Here, not with the module: the Python workers that count the stages' tokens import this
    # module, and matplotlib would cost each of them 0.66 s for figures the driver draws.
    from gristmill.pipeline import card_plots

    folder = Layout(out).figures
    folder.mkdir(exist_ok=True)
    figures = [
        ("Funnel", card_plots.funnel(stats, folder / "funnel.png")),
        ("Languages", card_plots.languages(stats["languages"], folder / "languages.png")),
        ("Tokens per bucket", card_plots.bucket_tokens(manifest, folder / "buckets.png")),
    ]
    for column, log, title, xlabel in HISTOGRAMS:
        hist = histogram(documents, column, log, BINS)
        if hist:
            name = card_plots.histogram(*hist, title, xlabel, folder / f"{column}.png")
            figures.append((title, name))
    return [(title, f"{folder.name}/{name}") for title, name in figures]


def write_card(spark: SparkSession, out: Path, cfg: Config) -> dict[str, Any]:
    """The final "card" stage of a run: stats.json, the figures and DATASET_CARD.md."""
    stats, documents = gather_stats(spark, out, cfg)
    layout = Layout(out)
    write_json(layout.stats, stats)
    manifest = Manifest.read(layout.manifest)
    figures = draw_figures(out, stats, manifest, documents)
    text = render_card(stats, manifest, cfg.to_dict(), figures)
    links = out / ablation.RUN_LINKS  # written by gristmill ablate
    if links.is_file():
        text = ablation.with_card_section(text, json.loads(links.read_text()))
    write_atomic(layout.card, text.encode("utf-8"))
    return stats


def run(spark: SparkSession, args: argparse.Namespace, cfg: Config) -> dict[str, Any]:
    return write_card(spark, args.output, cfg)


def main(argv: list[str] | None = None) -> int:
    return job_main(sys.modules[__name__], argv)


if __name__ == "__main__":
    sys.exit(main())
