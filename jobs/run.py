"""Run: every stage in order, WARC in, shards and a dataset card out.

    ingest -> quality -> dedup -> decontaminate -> tokenize -> card

Each stage reads the previous stage's committed table, so a failed run can be resumed by running
the remaining stages (``gristmill <stage> --output DIR``) one by one.

    spark-submit jobs/run.py --input 'crawl/*.warc.gz' --output out/ --benchmark gsm8k.jsonl
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from pyspark.sql import SparkSession

from jobs import card, decontaminate, dedup, ingest, quality, tokenize_shards
from jobs.options import add_common, job_main
from pipeline.config import Config

STAGE_JOBS = (ingest, quality, dedup, decontaminate, tokenize_shards, card)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    ingest.add_input_arguments(parser)
    decontaminate.add_benchmark_argument(parser)
    add_common(parser)


def check(args: argparse.Namespace, cfg: Config) -> None:
    ingest.check(args, cfg)
    decontaminate.check(args, cfg)


def run(spark: SparkSession, args: argparse.Namespace, cfg: Config) -> dict[str, Any]:
    for job in STAGE_JOBS:
        started = time.monotonic()
        result = job.run(spark, args, cfg)
        name = getattr(job, "STAGE", "card")
        if job is not card:
            print(
                f"{name}: in {result['in']}, out {result['out']} "
                f"({time.monotonic() - started:.1f} s)",
                flush=True,
            )
    print(f"outputs in {args.output}: documents/, shards/, stats.json, DATASET_CARD.md")
    return result


def main(argv: list[str] | None = None) -> int:
    return job_main(sys.modules[__name__], argv)


if __name__ == "__main__":
    sys.exit(main())
