"""Card: gather every stage's counts into ``stats.json`` and render ``DATASET_CARD.md``.

spark-submit jobs/card.py --output out/
"""

from __future__ import annotations

import argparse
import json
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from jobs.options import add_common, job_main
from jobs.stage_io import read_stage_stats, stage_path, write_json
from pipeline import card_plots
from pipeline.card import render_card
from pipeline.config import Config
from schemas.stats import STATS_FILE, check_counts
from schemas.tables import STAGES

CARD_FILE = "DATASET_CARD.md"
FIGURES = "card"


def gather_stats(spark: SparkSession, out: Path, cfg: Config) -> dict[str, Any]:
    stages = {s: read_stage_stats(out, s) for s in STAGES if stage_path(out, s).exists()}
    for name, counts in stages.items():
        check_counts(name, counts)
    ingest = stages.get("ingest", {})
    files = spark.read.parquet(str(stage_path(out, "ingest").resolve())).select("input_file")
    documents = spark.read.parquet(str((out / "documents").resolve()))
    return {
        "gristmill_version": metadata.version("gristmill"),
        "config_digest": cfg.digest(),
        "inputs": {
            "files": ingest.get("input_files", 0),
            "paths": sorted(r["input_file"] for r in files.distinct().collect()),
            "failed": ingest.get("failed_inputs", []),
        },
        "stages": stages,
        "languages": {r["lang"]: r["count"] for r in documents.groupBy("lang").count().collect()},
    }


add_arguments = add_common


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
    manifest = json.loads((out / "shards" / "manifest.json").read_text())
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
