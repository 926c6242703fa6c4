"""Run: every stage in order, WARC in, shards and a dataset card out.

    ingest -> quality -> dedup -> decontaminate -> tokenize    (per batch of inputs)
    -> manifest -> card                                        (over every batch)

A run plans a batch of the inputs the output has not seen yet (``--max-files`` of them at most),
then brings every batch's stages up to date and remakes the shards and the card. What was done
is in ``ledger.json``: running the same command again (after a crash, a kill, or the next night
with new files) does only what is missing, and a stage whose configuration changed is done again
for every batch, with what came after it.

    spark-submit jobs/run.py --input 'crawl/*.warc.gz' --output out/ --benchmark gsm8k.jsonl
    spark-submit jobs/run.py --crawl-id CC-MAIN-2024-10 --max-files 50 --output out/
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pyspark.sql import SparkSession

from gristmill.jobs import arguments, decontaminate, ingest, quality, tokenize_shards
from gristmill.jobs.batches import (
    StageOptions,
    open_ledger,
    plan_batch,
    run_and_record,
    stage_digest,
)
from gristmill.jobs.options import job_main
from gristmill.jobs.progress import progress
from gristmill.pipeline import stages
from gristmill.pipeline.benchmarks import Benchmark
from gristmill.pipeline.config import Config
from gristmill.pipeline.layout import Layout
from gristmill.pipeline.log import logger
from gristmill.pipeline.spark import cluster_parallelism

LOG = logger(__name__)

add_arguments = arguments.run


def check(args: argparse.Namespace, cfg: Config) -> None:
    """Inputs resolved, benchmarks read and the config's models checked, before Spark starts."""
    ingest.check(args, cfg)
    args.benchmarks = decontaminate.load_benchmarks(args.benchmark, cfg)
    check_config(args.output, cfg)


def check_config(out: Path, cfg: Config) -> None:
    """What a whole run needs of the config beyond its own checks: perplexity cut-offs to cut
    buckets from, the list files it names, token buckets that read document columns."""
    quality.check_models(out, cfg)
    quality.check_lists(cfg)
    quality.check_languages(cfg)
    tokenize_shards.check_buckets(cfg)


def run_pipeline(
    spark: SparkSession,
    out: Path,
    cfg: Config,
    uris: Sequence[str],
    *,
    benchmarks: Sequence[Benchmark] = (),
    max_files: int | None = None,
    plan: bool = True,
) -> dict[str, Any]:
    """Plan a batch of the ``uris`` this output has not seen, bring every batch's stages up to
    date, remake the manifest and the card; the stats.json written. ``uris`` as
    :func:`gristmill.jobs.ingest.resolve_uris` gives them, ``benchmarks`` as
    :func:`gristmill.jobs.decontaminate.load_benchmarks` reads them. ``plan=False``: no new
    batch, only the ledger's (an ablation's configurations follow its baseline's plan)."""
    check_config(out, cfg)
    LOG.info(
        "spark: %s, parallelism %d, %s shuffle partitions (adaptive)",
        spark.sparkContext.master,
        cluster_parallelism(spark),
        spark.conf.get("spark.sql.shuffle.partitions"),
    )
    options = StageOptions(benchmarks=tuple(benchmarks))
    ledger = open_ledger(out)
    if plan:
        plan_batch(ledger, list(uris), max_files, cfg)
    digests = {s: stage_digest(s, cfg, out, options.benchmarks) for s in stages.BATCH_STAGES}
    done_any = False
    for batch in [b["batch"] for b in ledger.batches]:
        for stage in stages.BATCH_STAGES:
            if ledger.current(batch, stage, digests[stage]):
                continue
            started = time.monotonic()
            result = run_and_record(stage, spark, out, cfg, batch, ledger, options, digests[stage])
            done_any = True
            seconds = time.monotonic() - started
            LOG.info(
                "batch %d %s: in %d, out %d (%.1f s, %.0f docs/s)",
                batch,
                stage,
                result["in"],
                result["out"],
                seconds,
                result["in"] / max(seconds, 1e-9),
            )
    for final in stages.FINAL:
        digest = stage_digest(final.name, cfg, out)
        if ledger.final_current(final.name, digest):
            continue
        started = time.monotonic()
        with progress(spark.sparkContext, final.name):
            result = final.function()(spark, out, cfg)
        ledger.mark_final(final.name, result, digest)
        ledger.save()
        done_any = True
        LOG.info("%s: done (%.1f s)", final.name, time.monotonic() - started)
    if not done_any:
        LOG.info("nothing to do: %s is up to date with these inputs and this config", out)
    stats = json.loads(Layout(out).stats.read_text())
    LOG.info("%s", funnel(stats))
    LOG.info("outputs in %s: documents/, shards/, stats.json, DATASET_CARD.md, ledger.json", out)
    return stats


def run(spark: SparkSession, args: argparse.Namespace, cfg: Config) -> dict[str, Any]:
    return run_pipeline(
        spark,
        args.output,
        cfg,
        args.uris,
        benchmarks=args.benchmarks,
        max_files=args.max_files,
    )


def funnel(stats: dict[str, Any]) -> str:
    """Documents in and out of each stage over every batch, and the main reasons for drops."""
    rows = [f"{'stage':<14}{'in':>10}{'out':>10}  dropped (top reasons)"]
    for stage in [name for name in stages.BATCH_STAGES if name in stats["stages"]]:
        counts = stats["stages"][stage]
        top = sorted(counts.get("dropped", {}).items(), key=lambda kv: -kv[1])[:3]
        reasons = ", ".join(f"{reason} {n}" for reason, n in top)
        rows.append(f"{stage:<14}{counts['in']:>10}{counts['out']:>10}  {reasons}")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    return job_main(sys.modules[__name__], argv)


if __name__ == "__main__":
    sys.exit(main())
