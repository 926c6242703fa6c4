"""Train-quality: reference text vs raw crawl -> GPT-3's fastText quality classifier.

GPT-3 (Brown et al. 2020, appendix A) trained a classifier with a reference corpus as positives
and raw Common Crawl as negatives; its P(high quality) drives the quality stage's Pareto
selection (filters/quality_classifier.py). gristmill trains it from files the user points at.

    gristmill train-quality --positive wiki.txt books.jsonl.gz --negative out/stages/ingest \\
        --out models/quality
    spark-submit jobs/train_quality.py --positive ... --negative ... --out models/quality

Inputs, by name: .txt and .txt.gz: every non-empty line is one document; .jsonl and .jsonl.gz:
the "text" field of each line; .parquet files and directories (a gristmill stages/ingest, say):
the "text" column, only the rows with a null drop_reason where the table has that column.

Spark reads and normalizes every document (lowercased, punctuation split off, one line, the first
5,000 characters), drops exact copies, and brings back at most --max-docs per class: those with
the smallest hash of (seed, text). The larger class is then cut to the smaller's size,
--heldout-fraction of the sources of each (by a hash of the source: a WikiText article of a .txt
file, the --source-field value of a .jsonl or Parquet record, else the document itself) is held
out, fastText trains in a fresh Python process and the held-out documents, cleaned as the quality
stage cleans them, are scored: precision, recall and F1 at P(hq) >= 0.5, and ROC AUC with a 95%
interval from a bootstrap over sources. DIR/model.bin and DIR/metrics.json are written to a
temporary directory and renamed into place together; an existing DIR is replaced only if it holds
nothing but those two files.
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from pyspark import StorageLevel
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from gristmill.filters.quality_classifier import LABEL_HQ, LABEL_LQ, MAX_CHARS
from gristmill.jobs import arguments
from gristmill.jobs.options import job_main
from gristmill.jobs.stage_io import commit, sibling_temp_path
from gristmill.jobs.text_inputs import check_text_inputs, read_text_documents
from gristmill.pipeline.classifier_training import (
    KEYED_SCHEMA,
    MIN_DOCS_PER_CLASS,
    Hyperparameters,
    Sample,
    auc_interval,
    balance,
    binary_metrics,
    keyed_documents,
    split_heldout,
    train_and_score,
    write_training_file,
)
from gristmill.pipeline.config import Config
from gristmill.pipeline.errors import fail_usage
from gristmill.pipeline.layout import write_json
from gristmill.schemas.tables import spark_schema

MODEL_FILE = "model.bin"
METRICS_FILE = "metrics.json"


add_arguments = arguments.train_quality


def hyperparameters(args: argparse.Namespace, seed: int) -> Hyperparameters:
    return Hyperparameters(
        lr=args.lr,
        epoch=args.epoch,
        dim=args.dim,
        word_ngrams=args.word_ngrams,
        min_count=args.min_count,
        bucket=args.bucket,
        threads=args.threads,
        seed=seed,
    )


def check_out(out: Path) -> None:
    """Refuse an --out that holds anything but an earlier model: replacing it deletes it."""
    if out.exists() and (
        not out.is_dir() or {p.name for p in out.iterdir()} - {MODEL_FILE, METRICS_FILE}
    ):
        fail_usage(f"--out {out} exists and is not a quality-classifier directory")


def check(args: argparse.Namespace, cfg: Config) -> None:
    """Inputs readable and of a known format, options in range, before Spark starts."""
    check_text_inputs([*args.positive, *args.negative], "--positive/--negative")
    if args.max_docs < MIN_DOCS_PER_CLASS:
        fail_usage(f"--max-docs must be >= {MIN_DOCS_PER_CLASS}")
    if not 0.0 < args.heldout_fraction < 1.0:
        fail_usage("--heldout-fraction must be in (0, 1)")
    try:
        hyperparameters(args, cfg.seed)
    except ValueError as exc:
        fail_usage(str(exc))
    check_out(args.out)


def sample_class(
    spark: SparkSession, paths: list[Path], args: argparse.Namespace, seed: int, cfg: Config
) -> tuple[int, list[Sample]]:
    """(distinct documents available, the sample) in sample-key order."""
    docs = read_text_documents(spark, paths, sources=True, source_field=args.source_field)
    keyed = docs.mapInArrow(
        functools.partial(
            keyed_documents, seed=seed, fraction=args.heldout_fraction, quality=cfg.quality
        ),
        spark_schema(KEYED_SCHEMA),
    )
    # Exact copies from several sources: the one with the smallest source key stays, whatever
    # the partitioning. Read once for the count and once for the sample.
    first = F.min(F.struct("source_key", "heldout_text")).alias("first")
    unique = (
        keyed.groupBy("key", "text")
        .agg(first)
        .select("key", "text", "first.source_key", "first.heldout_text")
        .persist(StorageLevel.MEMORY_AND_DISK)
    )
    try:
        available = unique.count()
        sample = unique.orderBy("key").limit(args.max_docs).toArrow().sort_by("key")
    finally:
        unique.unpersist()
    columns = (sample.column(c).to_pylist() for c in ("text", "source_key", "heldout_text"))
    return available, [Sample(*row) for row in zip(*columns, strict=True)]


def run(spark: SparkSession, args: argparse.Namespace, cfg: Config) -> dict[str, Any]:
    seed = cfg.seed if args.seed is None else args.seed
    hp = hyperparameters(args, seed)
    available_hq, sampled_hq = sample_class(spark, args.positive, args, seed, cfg)
    available_lq, sampled_lq = sample_class(spark, args.negative, args, seed, cfg)
    hq, lq = balance(sampled_hq, sampled_lq)
    if len(hq) < MIN_DOCS_PER_CLASS:
        fail_usage(
            f"too few documents to train on: {available_hq} positive and {available_lq} negative "
            f"(distinct, non-empty); fastText needs at least {MIN_DOCS_PER_CLASS} of each"
        )
    train_hq, heldout_hq = split_heldout(hq, args.heldout_fraction)
    train_lq, heldout_lq = split_heldout(lq, args.heldout_fraction)

    check_out(args.out)
    tmp = sibling_temp_path(args.out)
    work = tmp / "work"
    work.mkdir(parents=True)
    write_training_file(
        work / "train.txt", [d.text for d in train_hq], [d.text for d in train_lq], seed
    )
    heldout = heldout_hq + heldout_lq
    started = time.monotonic()
    predictions = train_and_score(
        work / "train.txt", [d.heldout_text or "" for d in heldout], tmp / MODEL_FILE, hp, work
    )
    training_seconds = time.monotonic() - started
    shutil.rmtree(work)

    labels = [True] * len(heldout_hq) + [False] * len(heldout_lq)
    with (tmp / MODEL_FILE).open("rb") as f:
        sha256 = hashlib.file_digest(f, "sha256").hexdigest()
    metrics = {
        "labels": {"positive": LABEL_HQ, "negative": LABEL_LQ},
        "inputs": {
            "positive": [str(p.resolve()) for p in args.positive],
            "negative": [str(p.resolve()) for p in args.negative],
        },
        "sampling": {
            "seed": seed,
            "max_docs": args.max_docs,
            "heldout_fraction": args.heldout_fraction,
            "source_field": args.source_field,
            "max_chars": MAX_CHARS,
        },
        "counts": {
            name: {
                "available": available,
                "sampled": len(sampled),
                "balanced": len(train) + len(heldout),
                "train": len(train),
                "heldout": len(heldout),
            }
            for name, available, sampled, train, heldout in (
                ("positive", available_hq, sampled_hq, train_hq, heldout_hq),
                ("negative", available_lq, sampled_lq, train_lq, heldout_lq),
            )
        },
        "hyperparameters": hp.fasttext_args(),
        "heldout": binary_metrics(labels, predictions)
        | {
            "sources": len({d.source_key for d in heldout}),
            "roc_auc_95": auc_interval(labels, predictions, [d.source_key for d in heldout], seed),
        },
        "model": {"file": MODEL_FILE, "bytes": (tmp / MODEL_FILE).stat().st_size, "sha256": sha256},
        # Wall time of the child process: interpreter start, training, scoring the held-out part.
        "training_seconds": round(training_seconds, 3),
    }
    write_json(tmp / METRICS_FILE, metrics)
    commit(tmp, args.out, args.out.parent)
    return metrics


def main(argv: list[str] | None = None) -> int:
    return job_main(sys.modules[__name__], argv)


if __name__ == "__main__":
    sys.exit(main())
