"""Quality: a batch's ``stages/ingest`` kept rows -> ``stages/quality`` (every signal, and a drop
reason).

    spark-submit jobs/quality.py --output out/ --config quality.yaml
    spark-submit jobs/quality.py --output out/ --config stricter.yaml --reselect

``--reselect`` re-applies the selection rules of a new config to the stored signals of an
earlier run of this stage on the batch, without rescoring. It applies thresholds, language and
classifier selection and perplexity buckets; a change to C4's line rules or to a model needs a
full run.
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import sys
from pathlib import Path
from typing import Any

from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from gristmill.jobs.batches import add_batch_argument, check_standalone, run_standalone
from gristmill.jobs.options import add_common, job_main
from gristmill.jobs.stage_io import read_kept, read_table, write_stage
from gristmill.pipeline.config import Config
from gristmill.pipeline.ledger import Ledger
from gristmill.pipeline.quality import decide_batches, signal_batches
from gristmill.schemas.tables import QUALITY, spark_schema

STAGE = "quality"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--reselect",
        action="store_true",
        help="re-run only the selection over the stored signals of stages/quality",
    )
    add_batch_argument(parser)
    add_common(parser)


def perplexity_cutoffs(scored: DataFrame, cfg: Config) -> dict[str, tuple[float, float]]:
    """Each language's perplexity at the head and middle percentiles (CCNet: 30th, 60th)."""
    p = cfg.quality.perplexity
    rows = (
        scored.where(F.col("perplexity").isNotNull())
        .groupBy("lang")
        .agg(
            F.percentile_approx(
                "perplexity", [p.head_percentile / 100, p.middle_percentile / 100], 100_000
            ).alias("cut")
        )
        .collect()
    )
    return {r["lang"]: (r["cut"][0], r["cut"][1]) for r in rows}


def _model_info(path: str | None) -> dict[str, str] | None:
    if not path:
        return None
    return {"path": path, "sha256": hashlib.sha256(Path(path).read_bytes()).hexdigest()}


def run_batch(
    spark: SparkSession, args: argparse.Namespace, cfg: Config, batch: int, ledger: Ledger
) -> dict[str, Any]:
    out = args.output
    reselect = getattr(args, "reselect", False)  # gristmill run has no --reselect
    if reselect:
        stored = read_table(spark, out, STAGE, [batch])
        scored = stored.select(*QUALITY.names).drop("drop_reason")
    else:
        scored = read_kept(spark, out, "ingest", [batch]).mapInArrow(
            functools.partial(signal_batches, cfg=cfg.quality), spark_schema(QUALITY)
        )
    scored = scored.persist(StorageLevel.DISK_ONLY)
    try:
        cutoffs = perplexity_cutoffs(scored, cfg)
        decided = scored.mapInArrow(
            functools.partial(decide_batches, cfg=cfg.quality, seed=cfg.seed, cutoffs=cutoffs),
            spark_schema(QUALITY),
        )
        extra = {
            "perplexity_cutoffs": {lang: list(c) for lang, c in sorted(cutoffs.items())},
            "models": {
                "classifier": _model_info(cfg.quality.classifier.model),
                "perplexity": _model_info(cfg.quality.perplexity.model),
            },
            "reselected": reselect,
        }
        return write_stage(decided, out, STAGE, lambda _t: extra, batch)
    finally:
        scored.unpersist()


def check(args: argparse.Namespace, cfg: Config) -> None:
    check_standalone(args, STAGE)


def run(spark: SparkSession, args: argparse.Namespace, cfg: Config) -> dict[str, Any]:
    return run_standalone(sys.modules[__name__], spark, args, cfg)


def main(argv: list[str] | None = None) -> int:
    return job_main(sys.modules[__name__], argv)


if __name__ == "__main__":
    sys.exit(main())
