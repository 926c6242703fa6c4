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

from pyspark.sql import SparkSession

from jobs.options import add_common, job_main
from jobs.stage_io import read_stage_stats, stage_path, write_json
from pipeline.card import render_card
from pipeline.config import Config
from schemas.stats import STATS_FILE, check_counts
from schemas.tables import STAGES

CARD_FILE = "DATASET_CARD.md"


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


def run(spark: SparkSession, args: argparse.Namespace, cfg: Config) -> dict[str, Any]:
    out = args.output
    stats = gather_stats(spark, out, cfg)
    write_json(out / STATS_FILE, stats)
    manifest = json.loads((out / "shards" / "manifest.json").read_text())
    card = out / CARD_FILE
    tmp = card.with_name(f".{CARD_FILE}.tmp")
    tmp.write_text(render_card(stats, manifest, cfg.to_dict()))
    tmp.replace(card)
    return stats


def main(argv: list[str] | None = None) -> int:
    return job_main(sys.modules[__name__], argv)


if __name__ == "__main__":
    sys.exit(main())
