"""The output directory's layout: every path a run writes or reads under ``--output``.

Spelled here once, so a job asks ``Layout(out).documents(batch)`` rather than joining names of
its own, and the tree below is the whole truth (the README's "Output layout" shows the same)::

    <output>/
      ledger.json                     batches: their stages done, crawl ids, input list
      ledger/inputs-N-<hash>.jsonl    the inputs of batch N (uri, size, checksum)
      .gristmill.lock                 held while a run writes
      stats.json, DATASET_CARD.md     the run's accounting and its dataset card
      stages/<stage>/batch=N/         each batch stage's table, dropped rows included, + _stats.json
      documents/batch=N/              the final documents
      shards/batch=N/                 token shards (*.bin, *.idx), the batch's files.json
                                      (its shard entries) and summary.json (their totals)
      shards/manifest.json            every batch, bucket weights: what the trainer reads
      dedup/clusters|signatures/batch=N/, dedup/index/{exact,bands}/
      decontamination/                report.json, clean/*.jsonl, batches/batch=N/report.json,
                                      ngram_counts/batch=N/
      models/perplexity_cutoffs.json  cut-offs frozen from the first batch (``first_batch``)
      card/                           the card's figures, per-batch samples and summaries
      tmp/                            work in progress: cleared by the next run

Batch folders are Hive partitions (``batch=00001``), so Spark reads a whole stage as one table
with a ``batch`` column while a nightly run adds a partition beside the others.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gristmill.pipeline.atomic import write_atomic

BATCH_COLUMN = "batch"
STAGE_STATS_FILE = "_stats.json"
MANIFEST_FILE = "manifest.json"
SHARD_LIST_FILE = "files.json"  # a batch's shard entries, beside its shards
SHARD_SUMMARY_FILE = "summary.json"  # their totals, which the manifest lists
CARD_FILE = "DATASET_CARD.md"
REPORT_FILE = "report.json"


def batch_dir(batch: int) -> str:
    return f"{BATCH_COLUMN}={batch:05d}"


def batches_of(folder: Path) -> list[int]:
    """The batches committed under a batch-partitioned folder, in order."""
    prefix = f"{BATCH_COLUMN}="
    if not folder.is_dir():
        return []
    return sorted(int(p.name[len(prefix) :]) for p in folder.iterdir() if p.name.startswith(prefix))


def write_json(path: Path, data: Any) -> None:
    """Write JSON atomically (:mod:`gristmill.pipeline.atomic`), keys sorted so equal data gives
    equal bytes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    write_atomic(path, text.encode("utf-8"))


def _batched(base: Path, batch: int | None) -> Path:
    return base if batch is None else base / batch_dir(batch)


@dataclass(frozen=True)
class Layout:
    """The paths of one output directory; ``batch`` None means the folder of every batch."""

    root: Path

    @property
    def ledger(self) -> Path:
        return self.root / "ledger.json"

    @property
    def input_lists(self) -> Path:
        """Each batch's inputs, apart from ledger.json (a night of a crawl is 80,000 files)."""
        return self.root / "ledger"

    @property
    def lock(self) -> Path:
        return self.root / ".gristmill.lock"

    @property
    def stats(self) -> Path:
        return self.root / "stats.json"

    @property
    def card(self) -> Path:
        return self.root / CARD_FILE

    @property
    def tmp(self) -> Path:
        return self.root / "tmp"

    def stage(self, name: str, batch: int | None = None) -> Path:
        return _batched(self.root / "stages" / name, batch)

    def stage_stats(self, name: str, batch: int | None = None) -> Path:
        return self.stage(name, batch) / STAGE_STATS_FILE

    def documents(self, batch: int | None = None) -> Path:
        return _batched(self.root / "documents", batch)

    def shards(self, batch: int | None = None) -> Path:
        return _batched(self.root / "shards", batch)

    @property
    def manifest(self) -> Path:
        return self.shards() / MANIFEST_FILE

    def dedup_clusters(self, batch: int | None = None) -> Path:
        return _batched(self.root / "dedup" / "clusters", batch)

    def dedup_signatures(self, batch: int | None = None) -> Path:
        """The LSH bands of the documents a batch kept."""
        return _batched(self.root / "dedup" / "signatures", batch)

    def dedup_minhashes(self, batch: int | None = None) -> Path:
        """The MinHash signatures of the documents a batch kept."""
        return _batched(self.root / "dedup" / "minhashes", batch)

    def dedup_index(self, kind: str) -> Path:
        """Earlier batches' keys (``exact`` text hashes, LSH ``bands``, the ``minhashes`` of
        doc_ids), indexed for lookups."""
        return self.root / "dedup" / "index" / kind

    @property
    def decontamination(self) -> Path:
        return self.root / "decontamination"

    def decontamination_batches(self, batch: int | None = None) -> Path:
        return _batched(self.decontamination / "batches", batch)

    def decontamination_report(self, batch: int | None = None) -> Path:
        """The report merged over every batch, or one batch's."""
        folder = self.decontamination if batch is None else self.decontamination_batches(batch)
        return folder / REPORT_FILE

    def ngram_counts(self, batch: int | None = None) -> Path:
        """Documents per label n-gram over batches 1..N (decontamination's "too common")."""
        return _batched(self.decontamination / "ngram_counts", batch)

    @property
    def clean_benchmarks(self) -> Path:
        """Each benchmark without the examples found in the data."""
        return self.decontamination / "clean"

    @property
    def frozen_cutoffs(self) -> Path:
        return self.root / "models" / "perplexity_cutoffs.json"

    @property
    def figures(self) -> Path:
        return self.root / "card"

    def card_batch(self, batch: int | None = None) -> Path:
        """A batch's summary and row samples for the card (folder of every batch: None)."""
        return _batched(self.figures / "batches", batch)

    @property
    def card_merged(self) -> Path:
        """The samples of every batch so far, merged."""
        return self.figures / "merged"

    def token_count(self, batch: int) -> Path:
        """A batch's tokens at the last text stage, counted once for the card."""
        return self.figures / "tokens" / f"{batch_dir(batch)}.json"
