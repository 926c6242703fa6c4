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
from typing import Any

from pyspark.sql import SparkSession

from gristmill.jobs import arguments, card, decontaminate, dedup, ingest, quality, tokenize_shards
from gristmill.jobs.batches import open_ledger, plan_batch, run_and_record, stage_digest
from gristmill.jobs.options import job_main
from gristmill.jobs.progress import progress
from gristmill.pipeline.config import Config
from gristmill.pipeline.ledger import FINAL_STAGES
from gristmill.pipeline.spark import cluster_parallelism
from gristmill.schemas.stats import STATS_FILE

BATCH_JOBS = (ingest, quality, dedup, decontaminate, tokenize_shards)
FINAL_JOBS = dict(zip(FINAL_STAGES, (tokenize_shards.run_manifest, card.run), strict=True))


add_arguments = arguments.run


def check(args: argparse.Namespace, cfg: Config) -> None:
    ingest.check(args, cfg)
    quality.check_cutoffs(args.output, cfg)
    decontaminate.check(args, cfg)
    tokenize_shards.check(args, cfg)


def run(spark: SparkSession, args: argparse.Namespace, cfg: Config) -> dict[str, Any]:
    out = args.output
    print(
        f"spark: {spark.sparkContext.master}, parallelism {cluster_parallelism(spark)}, "
        f"{spark.conf.get('spark.sql.shuffle.partitions')} shuffle partitions (adaptive)",
        flush=True,
    )
    ledger = open_ledger(out)
    plan_batch(ledger, args.uris, args.max_files, cfg)
    digests = {job.STAGE: stage_digest(job.STAGE, cfg, args) for job in BATCH_JOBS}
    done_any = False
    for batch in [b["batch"] for b in ledger.batches]:
        for job in BATCH_JOBS:
            if ledger.current(batch, job.STAGE, digests[job.STAGE]):
                continue
            started = time.monotonic()
            result = run_and_record(job, spark, args, cfg, batch, ledger, digests[job.STAGE])
            done_any = True
            seconds = time.monotonic() - started
            print(
                f"batch {batch} {job.STAGE}: in {result['in']}, out {result['out']} "
                f"({seconds:.1f} s, {result['in'] / max(seconds, 1e-9):.0f} docs/s)",
                flush=True,
            )
    for stage, job in FINAL_JOBS.items():
        digest = stage_digest(stage, cfg, args)
        if ledger.final_current(stage, digest):
            continue
        started = time.monotonic()
        with progress(spark.sparkContext, stage):
            result = job(spark, args, cfg)
        ledger.mark_final(stage, result, digest)
        ledger.save()
        done_any = True
        print(f"{stage}: done ({time.monotonic() - started:.1f} s)", flush=True)
    if not done_any:
        print(f"nothing to do: {out} is up to date with these inputs and this config")
    stats = json.loads((out / STATS_FILE).read_text())
    print(funnel(stats))
    print(f"outputs in {out}: documents/, shards/, stats.json, DATASET_CARD.md, ledger.json")
    return stats


def funnel(stats: dict[str, Any]) -> str:
    """Documents in and out of each stage over every batch, and the main reasons for drops."""
    rows = [f"{'stage':<14}{'in':>10}{'out':>10}  dropped (top reasons)"]
    for stage, s in stats["stages"].items():
        top = sorted(s.get("dropped", {}).items(), key=lambda kv: -kv[1])[:3]
        reasons = ", ".join(f"{reason} {n}" for reason, n in top)
        rows.append(f"{stage:<14}{s['in']:>10}{s['out']:>10}  {reasons}")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    return job_main(sys.modules[__name__], argv)


if __name__ == "__main__":
    sys.exit(main())
