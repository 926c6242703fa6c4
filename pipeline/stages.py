"""The stages of a run, in order: the one table that the command line, the ledger, the stage
tables, the digests and ``gristmill run`` read their lists from.

A batch stage runs once per batch of inputs and writes ``stages/<name>/batch=N/``; a final stage
runs over every batch once the batches are done. Importing this module imports nothing else of
gristmill's (nor pyspark): the command line reads it to answer ``--help``.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from types import ModuleType
from typing import Any


@dataclass(frozen=True)
class Stage:
    name: str
    # The job module (imported only when the stage runs: it imports pyspark and the models).
    job: str
    # The config sections its output depends on (its ledger digest): a change anywhere else
    # leaves it current. None: the whole config.
    sections: tuple[str, ...] | None
    # Its table keeps a text column (for every row, or only where the stage changed the text).
    stores_text: bool = False
    # Batch N+1 reads its output for batch N (dedup: what was kept; decontaminate: the running
    # n-gram counts): redoing it for an earlier batch makes it stale in every later batch.
    cross_batch: bool = False
    # The job's function for this stage (a final stage's; batch stages all use run_batch).
    entry: str = "run_batch"

    def module(self) -> ModuleType:
        return importlib.import_module(self.job)

    def function(self) -> Any:
        return getattr(self.module(), self.entry)


BATCH: tuple[Stage, ...] = (
    Stage("ingest", "gristmill.jobs.ingest", ("ingest",), stores_text=True),
    Stage("quality", "gristmill.jobs.quality", ("quality", "seed"), stores_text=True),
    Stage("dedup", "gristmill.jobs.dedup", ("dedup",), cross_batch=True),
    Stage(
        "decontaminate",
        "gristmill.jobs.decontaminate",
        ("decontaminate",),
        stores_text=True,
        cross_batch=True,
    ),
    Stage("tokenize", "gristmill.jobs.tokenize_shards", ("tokenize", "seed")),
)
FINAL: tuple[Stage, ...] = (
    Stage("manifest", "gristmill.jobs.tokenize_shards", None, entry="write_manifest_stage"),
    Stage("card", "gristmill.jobs.card", None, entry="write_card"),
)

BATCH_STAGES: tuple[str, ...] = tuple(s.name for s in BATCH)
FINAL_STAGES: tuple[str, ...] = tuple(s.name for s in FINAL)
TEXT_STAGES: tuple[str, ...] = tuple(s.name for s in BATCH if s.stores_text)
CROSS_BATCH_STAGES: tuple[str, ...] = tuple(s.name for s in BATCH if s.cross_batch)


def stage(name: str) -> Stage:
    """The stage of this name, batch or final."""
    for s in BATCH + FINAL:
        if s.name == name:
            return s
    raise KeyError(f"no stage {name!r}; the stages are {', '.join(BATCH_STAGES + FINAL_STAGES)}")
