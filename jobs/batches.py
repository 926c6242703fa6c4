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
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pyspark.sql import SparkSession

from gristmill.filters.perplexity import FIRST_BATCH, cutoffs_files
from gristmill.jobs.progress import progress
from gristmill.jobs.stage_io import clear_temp
from gristmill.pipeline import langid, stages
from gristmill.pipeline.benchmarks import Benchmark
from gristmill.pipeline.config import (
    BucketConfig,
    Config,
    TokenizeConfig,
    without_execution_only,
)
from gristmill.pipeline.errors import fail_usage
from gristmill.pipeline.extract import EXTRACTOR_VERSIONS
from gristmill.pipeline.ledger import Ledger, describe_input, file_sha256
from gristmill.pipeline.log import logger
from gristmill.pipeline.ngrams import HASH_VERSION as NGRAM_HASH_VERSION
from gristmill.pipeline.stages import BATCH_STAGES

LOG = logger(__name__)


@dataclass(frozen=True)
class StageOptions:
    """What a batch stage is given besides the output, the config and the batch: every stage's
    ``run_batch(spark, out, cfg, batch, ledger, options)`` takes the same arguments."""

    # quality: re-apply the selection rules to the stored signals instead of scoring again.
    reselect: bool = False
    # decontaminate: the benchmark sets, read (and checked) before Spark started.
    benchmarks: tuple[Benchmark, ...] = ()


DEFAULT_OPTIONS = StageOptions()


def open_ledger(out: Path) -> Ledger:
    """The output's ledger, with what killed runs left in tmp/ cleared (the lock is held)."""
    ledger = Ledger.load(out)
    clear_temp(out)
    return ledger


def stage_digest(stage: str, cfg: Config, out: Path, benchmarks: Sequence[Benchmark] = ()) -> str:
    """A hash of what shapes a stage's output: its config sections, and the bytes of the models
    and benchmark files it reads (a model retrained in place changes the scores)."""
    data = cfg.to_dict()
    sections = stages.stage(stage).sections
    if stage == "manifest":  # an output whose manifest lists every shard gets one of batches
        return hashlib.sha256(f"{cfg.digest()} batches".encode()).hexdigest()[:16]
    if sections is None:
        return cfg.digest()
    parts: dict[str, Any] = without_execution_only({key: data[key] for key in sections})
    if stage == "ingest":
        parts["extractor_version"] = EXTRACTOR_VERSIONS[cfg.ingest.extractor]
        parts["langid_chars"] = langid.MAX_CHARS
        if model := langid.chosen_model_sha256():  # absent for the packaged model: old digests hold
            parts["langid_model"] = model
    if stage == "quality":
        perplexity = cfg.quality.perplexity
        parts["models"] = [
            cfg.quality.classifier.model and file_sha256(cfg.quality.classifier.model),
            perplexity.model and file_sha256(perplexity.model),
        ]
        if perplexity.models:
            parts["language_models"] = {
                lang: file_sha256(path) for lang, path in sorted(perplexity.models.items())
            }
        parts["lists"] = {k: file_sha256(p) for k, p in cfg.quality.list_files().items()}
        # The frozen cut-offs decide buckets: a new file is a reconfiguration. (first_batch
        # cut-offs derive from the models and batch 1, both already in the digest.)
        if perplexity.cutoffs != FIRST_BATCH:
            for lang, cutoffs in cutoffs_files(out, perplexity).items():
                key = f"cutoffs_{lang}" if lang else "cutoffs"
                parts[key] = cutoffs.is_file() and file_sha256(str(cutoffs))
    if stage == "dedup" and cfg.seed:  # MinHash's permutations; absent at 0: old digests hold
        parts["minhash_seed"] = cfg.seed
    if stage == "dedup" and cfg.dedup.verify != "signature":  # verify_jaccard's two values
        parts["dedup"]["verify_jaccard"] = parts["dedup"].pop("verify") == "text"
    if stage == "tokenize":
        # A bucket's weight and the token budget shape the manifest alone (rewritten whenever
        # the config changes), not the shards: read at their defaults, so tuning the mix does
        # not tokenize a year of batches again.
        tok = parts["tokenize"]
        tok["target_tokens"] = TokenizeConfig.target_tokens
        tok["buckets"] = [{**b, "weight": BucketConfig.weight} for b in tok["buckets"]]
    if stage == "decontaminate":
        # "Too common" counts documents over every batch so far (decontamination/ngram_counts/);
        # outputs written when it counted per batch redo the stage once.
        parts["too_common_counts"] = "all batches, label n-grams included"
        parts["ngram_hash"] = NGRAM_HASH_VERSION
        # By name and content: the same files given by another path (a run from another
        # directory, "./x.jsonl") redo nothing.
        parts["benchmarks"] = sorted((b.name, file_sha256(b.path)) for b in benchmarks)
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:16]


def plan_batch(ledger: Ledger, uris: list[str], max_files: int | None, cfg: Config) -> int | None:
    """Record a batch of the inputs to read: those a network failure set aside in earlier runs
    (first, whatever this run's --input says: the ledger never lets an input go), then the ones
    this output has not seen yet, at most ``max_files`` in all, in sorted order; None when there
    are none."""
    fresh = ledger.new_inputs(uris)
    retried = ledger.pending_retries()
    todo = retried + fresh
    if max_files:
        todo = todo[:max_files]
    if not todo:
        return None
    describe = functools.partial(describe_input, policy=cfg.ingest.network)
    with concurrent.futures.ThreadPoolExecutor(cfg.ingest.network.concurrent_requests) as pool:
        described = list(pool.map(describe, todo))
    batch = ledger.add_batch(described)
    ledger.save()
    again = len(set(retried) & set(todo))
    LOG.info(
        "batch %d: %d new input file(s)%s",
        batch,
        len(described) - again,
        f", {again} set aside by a network failure before" if again else "",
    )
    return batch


def run_and_record(
    stage: str,
    spark: SparkSession,
    out: Path,
    cfg: Config,
    batch: int,
    ledger: Ledger,
    options: StageOptions,
    digest: str | None = None,
) -> dict[str, Any]:
    """Run one stage of one batch and record it in the ledger once its output is committed."""
    digest = digest or stage_digest(stage, cfg, out, options.benchmarks)
    why = ledger.why(batch, stage, digest)
    with progress(spark.sparkContext, f"batch {batch} {stage}"):
        stats = stages.stage(stage).function()(spark, out, cfg, batch, ledger, options)
    ledger.mark(batch, stage, stats, digest, why)
    ledger.save()
    return stats


def _standalone_batch(ledger: Ledger, batch: int | None, stage: str) -> int:
    """The batch a stage run on its own works on; a usage error if it cannot run yet."""
    batch = batch or ledger.latest()
    ledger.batch(batch)
    before = BATCH_STAGES[: BATCH_STAGES.index(stage)]
    if before and not ledger.done(batch, before[-1]):
        fail_usage(f"batch {batch}: stage '{before[-1]}' is not done; run it first")
    return batch


def check_standalone(args: argparse.Namespace, stage: str) -> None:
    """The batch checks, before Spark starts and before the output directory is touched."""
    _standalone_batch(Ledger.load(args.output), args.batch, stage)


def run_stage(
    stage: str,
    spark: SparkSession,
    out: Path,
    cfg: Config,
    *,
    batch: int | None = None,
    options: StageOptions = DEFAULT_OPTIONS,
) -> dict[str, Any]:
    """One stage on its own (``gristmill <stage>``), on ``batch`` (default: the latest)."""
    ledger = open_ledger(out)
    batch = _standalone_batch(ledger, batch, stage)
    return run_and_record(stage, spark, out, cfg, batch, ledger, options)
