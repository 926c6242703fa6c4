"""Dedup: ``stages/quality`` kept rows -> ``stages/dedup`` (exact duplicates marked).

Of each group of documents with the same normalized-text hash, the one with the smallest doc_id
is kept: doc_ids are hashes of WARC record ids, so the choice is arbitrary but the same on every
run and every partitioning.

    spark-submit jobs/dedup.py --output out/
"""

from __future__ import annotations

import argparse
import functools
import sys
from typing import Any

from pyspark.sql import SparkSession, Window
from pyspark.sql import functions as F

from jobs.options import add_common, job_main
from jobs.stage_io import read_kept, write_stage
from pipeline.config import Config
from pipeline.text_hash import with_text_hash
from schemas.tables import DEDUP, spark_schema

STAGE = "dedup"
EXACT_DUPLICATE = "exact_duplicate"


add_arguments = add_common


def run(spark: SparkSession, args: argparse.Namespace, cfg: Config) -> dict[str, Any]:
    docs = read_kept(spark, args.output, "quality")
    hashed = docs.mapInArrow(functools.partial(with_text_hash, schema=DEDUP), spark_schema(DEDUP))
    if cfg.dedup.exact:
        first = F.row_number().over(Window.partitionBy("text_hash").orderBy("doc_id")) == 1
        hashed = hashed.withColumn(
            "drop_reason", F.when(first, F.lit(None)).otherwise(F.lit(EXACT_DUPLICATE))
        )
    return write_stage(hashed.select(*DEDUP.names), args.output, STAGE)


def main(argv: list[str] | None = None) -> int:
    return job_main(sys.modules[__name__], argv)


if __name__ == "__main__":
    sys.exit(main())
