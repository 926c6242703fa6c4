"""The key index of earlier batches on Spark: runs written, merged size-tiered, looked up.

``<output>/dedup/index/<name>/manifest.json`` lists the runs and the batches each holds; a run is
a folder of sorted Arrow files (:mod:`gristmill.pipeline.key_index`). A batch adds one run of its
own keys; when :data:`FANOUT` runs share a level they are merged into one run of the next level,
up to :data:`TOP_LEVEL`, whose runs are never merged. Merges wait for the next batch's
:meth:`KeyIndex.prepare`: a batch adds its run before its stage is committed, and a run merged
then and the stage killed before its commit would hold a batch the ledger never recorded, so the
whole merged run (up to 64 batches) would be rebuilt; unmerged, only the batch's own run goes.
A merge rewrites its runs whole: without a top, the night that merged 4^k batches rewrote the
index of all of them (night 256: every night before it), a cost that grows with the corpus. With
it a merge rewrites 64 batches' keys at most, each key is rewritten three times, and a lookup,
which costs one binary search per run, meets ``FANOUT - 1`` runs of each lower level at most and
one run per 64 batches of the top (after 365 nightly batches, 11 runs, where unbounded merges
leave 8; after three years, 21 and 6).

A run of ``2**bits`` files (each about the advisory partition size) is written and read by tasks
of :data:`FILES_PER_TASK` files, not one task per file: a run of 64 nights of a whole crawl is
hundreds of thousands of files, as many tasks and shuffle partitions as Spark would schedule
badly, and listing them on the driver costs as much.

The index is derived data: the per-batch tables it is built from stay the record. Before a
batch is looked up the index is made to hold exactly the batches the ledger says came before it
(:meth:`KeyIndex.prepare`): runs holding a later batch (a batch redone, a stage killed after its
run was added) are dropped and the batches they held are rebuilt from their tables, and a change
of the parameters that made the keys rebuilds it all. Only the driver writes the manifest, with
the output lock held; a run's folder is listed in it only once the run is whole.
"""

from __future__ import annotations

import functools
import json
import math
import shutil
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from gristmill.jobs.local_rows import local_frame, one_row_per_task
from gristmill.pipeline.key_index import (
    ROW_BYTES,
    WRITTEN_SCHEMA,
    RunFiles,
    bits_for,
    match_fields,
    matches,
    read_run_files,
    run_schema,
    write_run_files,
)
from gristmill.pipeline.layout import write_json
from gristmill.schemas.tables import spark_schema

FANOUT = 4
TOP_LEVEL = 3
# Files of a run one task writes or reads (each about the advisory partition size), on average
# where hashing spreads a run's prefixes over its write tasks: enough to keep a task's fixed cost
# small, few enough that a failed task redoes little.
FILES_PER_TASK = 64
# A task's share of a run to read (:func:`read_run_files`): the files of prefixes first to end - 1.
_SLICE = pa.schema(
    [("path", pa.string()), ("bits", pa.int32()), ("first", pa.int64()), ("end", pa.int64())]
)
MANIFEST = "manifest.json"


@dataclass(frozen=True)
class Run:
    name: str
    level: int
    batches: tuple[int, ...]
    bits: int
    rows: int


def string_keys(column: str) -> tuple[Column, Column]:
    """(key, lo) of a string (an exact-duplicate hash, a doc_id): two independent 64-bit hashes
    of it."""
    return F.xxhash64(column), F.xxhash64(F.lit("lo"), column)


def band_keys(band: str, bucket: str) -> tuple[Column, Column]:
    """(key, lo) of an LSH band row: the bucket is already a 64-bit hash; the band tells apart
    equal buckets of different bands."""
    return F.col(bucket), F.col(band).cast("long")


class KeyIndex:
    """One index (``dedup/index/<name>``) built with ``params``; see the module docstring.

    ``value_bytes``: the size of the value each row carries (a ``value`` column of bytes,
    returned by lookups as ``earlier_value``), or 0 for rows without one."""

    def __init__(
        self,
        spark: SparkSession,
        root: Path,
        params: dict[str, Any],
        target_bytes: int,
        value_bytes: int = 0,
    ):
        self.spark = spark
        self.root = root
        self.params = params
        self.target_bytes = target_bytes
        self.valued = value_bytes > 0
        self.row_bytes = ROW_BYTES + value_bytes
        self.schema = run_schema(self.valued)
        self.runs = self._load()

    def _load(self) -> list[Run]:
        path = self.root / MANIFEST
        if not path.is_file():
            return []
        manifest = json.loads(path.read_text())
        if manifest["params"] != self.params:
            return []
        return [Run(**{**r, "batches": tuple(r["batches"])}) for r in manifest["runs"]]

    def _save(self) -> None:
        """Write the manifest, then remove every folder it does not list (merged or dropped
        runs, and runs a killed stage left half-written)."""
        self.runs.sort(key=lambda r: r.batches)
        self.root.mkdir(parents=True, exist_ok=True)
        runs = [asdict(r) | {"batches": list(r.batches)} for r in self.runs]
        write_json(self.root / MANIFEST, {"params": self.params, "runs": runs})
        listed = {r.name for r in self.runs}
        for path in self.root.iterdir():
            if path.is_dir() and path.name not in listed:
                shutil.rmtree(path, ignore_errors=True)

    def _files(self, run: Run) -> RunFiles:
        return RunFiles(str((self.root / run.name).resolve()), run.bits, self.valued)

    @property
    def batches(self) -> set[int]:
        return {b for r in self.runs for b in r.batches}

    def prepare(self, earlier: list[int], source: Callable[[list[int]], DataFrame]) -> None:
        """Make the index hold exactly the batches ``earlier``; ``source(batches)`` gives the
        (key, lo, doc_id, batch[, value]) rows of batches it must build again."""
        wanted = set(earlier)
        self.runs = [r for r in self.runs if set(r.batches) <= wanted]
        missing = sorted(wanted - self.batches)
        if missing:
            level = min(TOP_LEVEL, int(math.log(len(missing), FANOUT)))
            self.runs.append(self._write(source(missing), level, tuple(missing)))
        self._compact()

    def add(self, rows: DataFrame, batch: int, count: int | None = None) -> None:
        """Add one batch's (key, lo, doc_id, batch[, value]) rows as a run (``count`` of them,
        where the caller knows: counting is a Spark job of its own), merged by the next
        :meth:`prepare` (see the module docstring)."""
        self.runs.append(self._write(rows, 0, (batch,), count))
        self._save()

    def _write(
        self, rows: DataFrame, level: int, batches: tuple[int, ...], count: int | None = None
    ) -> Run:
        """``rows`` as a run; ``count``, their number where it is known already (a merge's is
        the sum of its runs': counting would read them all once more)."""
        if count is None:
            count = rows.count()
        bits = bits_for(count, self.target_bytes, self.row_bytes)
        run = Run(
            f"run-{batches[0]:05d}-{batches[-1]:05d}-{uuid.uuid4().hex[:8]}",
            level,
            batches,
            bits,
            count,
        )
        files = self._files(run)
        Path(files.path).mkdir(parents=True)
        if count:
            rows = rows.select(*self.schema.names)
            if bits:  # sorted by prefix, a task holds one file's rows at a time
                prefix = F.shiftrightunsigned("key", 64 - bits)
                rows = rows.repartition(self._tasks(2**bits), prefix).sortWithinPartitions(prefix)
            else:  # one file: a shuffle to one task, so that the rows' upstream work (a scan of
                # the batch's table, a rebuild's MinHash) stays spread over every core
                rows = rows.repartition(1)
            (
                rows.mapInArrow(
                    functools.partial(write_run_files, run=files), spark_schema(WRITTEN_SCHEMA)
                )
                .agg(F.sum("rows"))
                .collect()
            )
        return run

    def _tasks(self, files: int) -> int:
        """Tasks for ``files`` files of a run: the session's shuffle partitions (a few per core),
        and more where each would hold over :data:`FILES_PER_TASK` files on average."""
        cores = int(self.spark.conf.get("spark.sql.shuffle.partitions") or 1)
        return min(files, max(cores, math.ceil(files / FILES_PER_TASK)))

    def _compact(self) -> None:
        """Merge the oldest FANOUT runs of a level under the top while one has FANOUT; save."""
        while True:
            for level in sorted({r.level for r in self.runs if r.level < TOP_LEVEL}):
                same = [r for r in self.runs if r.level == level]
                if len(same) >= FANOUT:
                    merged = same[:FANOUT]
                    batches = tuple(sorted(b for r in merged for b in r.batches))
                    self.runs = [r for r in self.runs if r not in merged]
                    rows = sum(r.rows for r in merged)
                    self.runs.append(self._write(self._read(merged), level + 1, batches, rows))
                    break
            else:
                break
        self._save()

    def _read(self, runs: list[Run]) -> DataFrame:
        """The rows of ``runs``, each task reading the files of :data:`FILES_PER_TASK` prefixes."""
        slices = [
            {
                "path": self._files(r).path,
                "bits": r.bits,
                "first": first,
                "end": min(first + FILES_PER_TASK, 2**r.bits),
            }
            for r in runs
            for first in range(0, 2**r.bits, FILES_PER_TASK)
        ]
        listing = pa.Table.from_pylist(slices, schema=_SLICE)
        return one_row_per_task(self.spark, listing).mapInArrow(
            read_run_files, spark_schema(self.schema)
        )

    def lookup(self, queries: DataFrame, schema: pa.Schema) -> DataFrame:
        """Each row of ``queries`` (of Arrow ``schema``, with key and lo) once per earlier row
        with the same key, with that row's ``earlier_doc``, ``earlier_batch`` and, in an index of
        values, ``earlier_value``."""
        out = pa.schema([*schema, *match_fields(self.valued)])
        if not self.runs:
            return local_frame(self.spark, out.empty_table())
        bits = max(r.bits for r in self.runs)
        if bits:
            queries = queries.repartition(F.shiftrightunsigned("key", 64 - bits))
        runs = [self._files(r) for r in self.runs]
        return queries.select(*schema.names).mapInArrow(
            functools.partial(matches, runs=runs, schema=out), spark_schema(out)
        )
