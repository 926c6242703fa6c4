"""Batches of inputs and the ledger, as the stage jobs see them.

``gristmill run`` and ``gristmill ingest`` plan a batch from the inputs the output has not seen;
every per-batch stage (ingest, quality, dedup, decontaminate) run on its own works on one batch
(``--batch N``, default the latest), records its completion in the ledger, and so marks what
came after it in that batch as to be done again.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import functools
import hashlib
import json
import os
from pathlib import Path
from typing import Any, Protocol

from pyspark.sql import SparkSession

from gristmill.filters.perplexity import FIRST_BATCH, cutoffs_location
from gristmill.jobs.options import fail_usage
from gristmill.jobs.progress import progress
from gristmill.jobs.stage_io import clear_temp
from gristmill.pipeline.config import EXECUTION_ONLY, Config
from gristmill.pipeline.ledger import BATCH_STAGES, Ledger, LedgerError, describe_input, file_sha256

# The config sections each stage's output depends on: a change elsewhere leaves it current.
STAGE_SECTIONS = {
    "ingest": ("ingest",),
    "quality": ("quality", "seed"),
    "dedup": ("dedup",),
    "decontaminate": ("decontaminate",),
    "tokenize": ("tokenize", "seed"),
}


class BatchJob(Protocol):
    STAGE: str

    def run_batch(
        self, spark: SparkSession, args: argparse.Namespace, cfg: Config, batch: int, ledger: Ledger
    ) -> dict[str, Any]: ...


def open_ledger(out: Path) -> Ledger:
    """The output's ledger, with what killed runs left in tmp/ cleared (the lock is held)."""
    try:
        ledger = Ledger.load(out)
    except LedgerError as exc:
        fail_usage(str(exc))
    clear_temp(out)
    return ledger


def stage_digest(stage: str, cfg: Config, args: argparse.Namespace) -> str:
    """A hash of what shapes a stage's output: its config sections, and the bytes of the models
    and benchmark files it reads (a model retrained in place changes the scores)."""
    data = cfg.to_dict()
    if stage not in STAGE_SECTIONS:
        return cfg.digest()
    parts: dict[str, Any] = {key: data[key] for key in STAGE_SECTIONS[stage]}
    if stage == "ingest":
        for key in EXECUTION_ONLY:
            parts["ingest"].pop(key)
    if stage == "quality":
        perplexity = cfg.quality.perplexity
        parts["models"] = [
            cfg.quality.classifier.model and file_sha256(cfg.quality.classifier.model),
            perplexity.model and file_sha256(perplexity.model),
        ]
        # The frozen cut-offs decide buckets: a new file is a reconfiguration. (first_batch
        # cut-offs derive from the model and batch 1, both already in the digest.)
        cutoffs = cutoffs_location(args.output, perplexity.model, perplexity.cutoffs)
        if cutoffs is not None and perplexity.cutoffs != FIRST_BATCH:
            parts["cutoffs"] = cutoffs.is_file() and file_sha256(str(cutoffs))
    if stage == "decontaminate":
        # "Too common" counts documents over every batch so far (decontamination/ngram_counts/);
        # outputs written when it counted per batch redo the stage once.
        parts["too_common_counts"] = "all batches"
        paths = [b.path for b in getattr(args, "benchmarks", [])]
        parts["benchmarks"] = sorted((p, file_sha256(p)) for p in paths)
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:16]


def plan_batch(ledger: Ledger, uris: list[str], max_files: int | None, cfg: Config) -> int | None:
    """Record a batch of the inputs to read: those a network failure set aside in earlier runs
    (first, whatever this run's --input says: the ledger never lets an input go), then the ones
    this output has not seen yet, at most ``max_files`` in all, in sorted order; None when there
    are none."""
    try:
        fresh = ledger.new_inputs(uris)
    except LedgerError as exc:
        fail_usage(str(exc))
    retried = ledger.pending_retries()
    todo = retried + fresh
    if max_files:
        todo = todo[:max_files]
    if not todo:
        return None
    describe = functools.partial(describe_input, policy=cfg.ingest.network)
    with concurrent.futures.ThreadPoolExecutor(describe_threads()) as pool:
        described = list(pool.map(describe, todo))
    batch = ledger.add_batch(described)
    ledger.save()
    again = len(set(retried) & set(todo))
    print(
        f"batch {batch}: {len(described) - again} new input file(s)"
        + (f", {again} set aside by a network failure before" if again else ""),
        flush=True,
    )
    return batch


def describe_threads() -> int:
    """Inputs described at once: sha256 of local files releases the GIL and HEAD requests wait
    on the network, so a few per core."""
    return 4 * (os.cpu_count() or 1)


def run_and_record(
    job: BatchJob,
    spark: SparkSession,
    args: argparse.Namespace,
    cfg: Config,
    batch: int,
    ledger: Ledger,
    digest: str | None = None,
) -> dict[str, Any]:
    """Run one stage of one batch and record it in the ledger once its output is committed."""
    digest = digest or stage_digest(job.STAGE, cfg, args)
    why = ledger.why(batch, job.STAGE, digest)
    with progress(spark.sparkContext, f"batch {batch} {job.STAGE}"):
        stats = job.run_batch(spark, args, cfg, batch, ledger)
    ledger.mark(batch, job.STAGE, stats, digest, why)
    ledger.save()
    return stats


def _standalone_batch(ledger: Ledger, args: argparse.Namespace, stage: str) -> int:
    """The batch a stage run on its own works on; a usage error if it cannot run yet."""
    try:
        batch = args.batch or ledger.latest()
        ledger.batch(batch)
    except LedgerError as exc:
        fail_usage(str(exc))
    before = BATCH_STAGES[: BATCH_STAGES.index(stage)]
    if before and not ledger.done(batch, before[-1]):
        fail_usage(f"batch {batch}: stage '{before[-1]}' is not done; run it first")
    return batch


def check_standalone(args: argparse.Namespace, stage: str) -> None:
    """The batch checks, before Spark starts and before the output directory is touched."""
    try:
        ledger = Ledger.load(args.output)
    except LedgerError as exc:
        fail_usage(str(exc))
    _standalone_batch(ledger, args, stage)


def run_standalone(
    job: BatchJob, spark: SparkSession, args: argparse.Namespace, cfg: Config
) -> dict[str, Any]:
    """``gristmill <stage>``: the stage on ``--batch`` (default: the latest batch)."""
    ledger = open_ledger(args.output)
    batch = _standalone_batch(ledger, args, job.STAGE)
    return run_and_record(job, spark, args, cfg, batch, ledger)
