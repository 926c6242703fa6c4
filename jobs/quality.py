"""Quality: ``stages/ingest`` kept rows -> ``stages/quality`` (signals and a drop reason each).

spark-submit jobs/quality.py --output out/
"""

from __future__ import annotations

import argparse
import functools
import sys
from typing import Any

from pyspark.sql import SparkSession

from jobs.options import add_common, job_main
from jobs.stage_io import read_kept, write_stage
from pipeline.config import Config
from pipeline.quality import quality_batches
from schemas.tables import QUALITY, spark_schema

STAGE = "quality"


add_arguments = add_common


def run(spark: SparkSession, args: argparse.Namespace, cfg: Config) -> dict[str, Any]:
    docs = read_kept(spark, args.output, "ingest")
    scored = docs.mapInArrow(
        functools.partial(quality_batches, cfg=cfg.quality), spark_schema(QUALITY)
    )
    return write_stage(scored, args.output, STAGE)


def main(argv: list[str] | None = None) -> int:
    return job_main(sys.modules[__name__], argv)


if __name__ == "__main__":
    sys.exit(main())
