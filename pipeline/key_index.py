"""An on-disk multimap from 128-bit keys to the documents earlier batches kept: sorted runs of
memory-mapped Arrow files, looked up by binary search.

Why this shape: a nightly batch must find which of its keys (LSH band buckets, exact text
hashes) earlier batches already hold, at a cost that follows the batch, not the corpus. A join
against a Parquet table reads the whole table every night. Here every run is split by the top
bits of the key into files of bounded size, each file sorted by key and written as uncompressed
Arrow IPC; a lookup memory-maps only the files its keys fall in and binary-searches them, so the
pages it touches are about log2(file rows) per key, whatever the index holds. Runs are merged
size-tiered, as an LSM tree does (:mod:`gristmill.jobs.key_index`), so a key meets a logarithmic
number of runs and each row is rewritten a logarithmic number of times over the corpus's life.

A key is two 64-bit halves (``key``, ``lo``), computed by Spark's ``xxhash64`` so that the writer
and every lookup agree; a match needs both equal. A row may also carry a ``value`` (bytes: a
document's MinHash signature), returned with each match, so that what a lookup needs of an
earlier document costs no second read. This module holds the parts that run inside one task,
over Arrow batches.
"""

from __future__ import annotations

import math
import os
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

RUN_SCHEMA = pa.schema(
    [
        pa.field("key", pa.int64(), nullable=False),
        pa.field("lo", pa.int64(), nullable=False),
        pa.field("doc_id", pa.string(), nullable=False),
        pa.field("batch", pa.int32(), nullable=False),
    ]
)
VALUE = pa.field("value", pa.binary(), nullable=False)
MATCH_FIELDS = [
    pa.field("earlier_doc", pa.string(), nullable=False),
    pa.field("earlier_batch", pa.int32(), nullable=False),
]
EARLIER_VALUE = pa.field("earlier_value", pa.binary(), nullable=False)
WRITTEN_SCHEMA = pa.schema([pa.field("rows", pa.int64(), nullable=False)])
ROW_BYTES = 64  # key, lo, batch and a doc_id of ~40 bytes, with Arrow's offsets


def run_schema(valued: bool) -> pa.Schema:
    """The columns of a run's files: with a ``value`` column or without."""
    return RUN_SCHEMA.append(VALUE) if valued else RUN_SCHEMA


def match_columns(valued: bool) -> list[tuple[str, pa.Field]]:
    """(stored column, the field a lookup returns it as) for each column a lookup adds to the
    query rows it matches."""
    pairs = [("doc_id", MATCH_FIELDS[0]), ("batch", MATCH_FIELDS[1])]
    return [*pairs, ("value", EARLIER_VALUE)] if valued else pairs


def match_fields(valued: bool) -> list[pa.Field]:
    return [field for _, field in match_columns(valued)]


@dataclass(frozen=True)
class RunFiles:
    """Where a run's files are, how its keys are split among them, and whether rows carry a
    value."""

    path: str
    bits: int
    valued: bool = False

    def file(self, prefix: int) -> Path:
        return Path(self.path) / f"part-{prefix:0{max(1, (self.bits + 3) // 4)}x}.arrow"

    @property
    def schema(self) -> pa.Schema:
        return run_schema(self.valued)


def bits_for(rows: int, target_bytes: int, row_bytes: int = ROW_BYTES) -> int:
    """Prefix bits that split ``rows`` of ``row_bytes`` into files of about ``target_bytes`` at
    most."""
    files = rows * row_bytes / max(1, target_bytes)
    return 0 if files <= 1 else min(24, math.ceil(math.log2(files)))


def prefixes(keys: np.ndarray, bits: int) -> np.ndarray:
    """The file each signed 64-bit key falls in: its top ``bits`` bits, unsigned."""
    if bits == 0:
        return np.zeros(len(keys), dtype=np.int64)
    return (keys.view(np.uint64) >> np.uint64(64 - bits)).astype(np.int64)


def _sorted(table: pa.Table) -> pa.Table:
    """By unsigned key, then lo and doc_id: the order binary search needs, the same every run."""
    unsigned = pc.cast(table.column("key"), pa.uint64(), safe=False)
    order = pa.table({"k": unsigned, "lo": table.column("lo"), "doc_id": table.column("doc_id")})
    indices = pc.sort_indices(
        order, [("k", "ascending"), ("lo", "ascending"), ("doc_id", "ascending")]
    )
    return table.take(indices)


def _write_file(table: pa.Table, path: Path) -> None:
    """One sorted file, renamed into place: a retried or speculative task writes the same bytes."""
    tmp = path.with_name(f"{path.name}.tmp-{uuid.uuid4().hex[:8]}")
    with pa.OSFile(str(tmp), "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
        writer.write_table(_sorted(table).combine_chunks())
    os.replace(tmp, path)


def write_run_files(batches: Iterable[pa.RecordBatch], run: RunFiles) -> Iterator[pa.RecordBatch]:
    """mapInArrow body: write this task's rows to their files, one file at a time; yield how
    many rows were written.

    The rows arrive sorted by prefix (:class:`gristmill.jobs.key_index.KeyIndex` sorts each
    partition), so the task holds one file's rows, not its whole partition: hash partitioning
    gives a task many prefixes (about 64 of a large run's: :data:`gristmill.jobs.key_index.
    FILES_PER_TASK`), and holding them all would cost as many files' rows. A prefix whose rows
    come back after another's is an error, not a second file that would replace the first."""
    Path(run.path).mkdir(parents=True, exist_ok=True)
    pending: list[pa.Table] = []
    current, written, rows = -1, set(), 0
    for batch in batches:
        table = pa.Table.from_batches([batch]).select(run.schema.names).cast(run.schema)
        keys = table.column("key").to_numpy()
        for subset in _by_file(keys, run.bits):
            prefix = int(prefixes(keys[subset[:1]], run.bits)[0])
            if prefix != current:
                if pending:
                    _write_file(pa.concat_tables(pending), run.file(current))
                    written.add(current)
                    pending = []
                if prefix in written:
                    raise ValueError(
                        f"rows of key prefix {prefix:x} after another prefix's: a run's rows "
                        "must arrive sorted by prefix"
                    )
                current = prefix
            pending.append(table.take(pa.array(subset)))
            rows += len(subset)
    if pending:
        _write_file(pa.concat_tables(pending), run.file(current))
    if rows:
        yield pa.RecordBatch.from_pydict({"rows": [rows]}, schema=WRITTEN_SCHEMA)


def read_run_files(batches: Iterable[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """mapInArrow body over slices of runs (``path``, ``bits``, ``first``, ``end``): the rows of
    the files of prefixes ``first`` to ``end`` - 1 of each (to merge runs). A slice names its
    files by their prefixes, so the driver lists no file: a run merged late holds millions."""
    for batch in batches:
        for path, bits, first, end in zip(*batch.to_pydict().values(), strict=True):
            for prefix in range(first, end):
                file = RunFiles(path, bits).file(prefix)
                if file.is_file():  # a prefix no key fell in has no file
                    with pa.memory_map(str(file)) as source:
                        yield from pa.ipc.open_file(source).read_all().to_batches()


def _by_file(keys: np.ndarray, bits: int) -> list[np.ndarray]:
    """The row numbers of ``keys`` grouped by the file their key falls in."""
    if not len(keys):
        return []
    file_of = prefixes(keys, bits)
    order = np.argsort(file_of, kind="stable")
    starts = np.flatnonzero(np.diff(file_of[order], prepend=-1))
    return np.split(order, starts[1:])


def _matches_in_file(
    path: Path, keys: np.ndarray, lo: np.ndarray, columns: list[tuple[str, pa.Field]]
) -> tuple[np.ndarray, list[pa.Array]]:
    """(query row, and the stored ``columns``) of every row of the file equal to a query key."""
    if not path.is_file():
        return np.zeros(0, dtype=np.int64), [pa.array([], f.type) for _, f in columns]
    with pa.memory_map(str(path)) as source:
        stored = pa.ipc.open_file(source).read_all()
    stored_keys = stored.column("key").chunk(0).to_numpy().view(np.uint64)
    queries = keys.view(np.uint64)
    left = np.searchsorted(stored_keys, queries, "left")
    right = np.searchsorted(stored_keys, queries, "right")
    counts = right - left
    query_rows = np.repeat(np.arange(len(keys)), counts)
    positions = np.repeat(left - np.cumsum(counts) + counts, counts) + np.arange(counts.sum())
    stored_lo = stored.column("lo").chunk(0).to_numpy()
    same = stored_lo[positions] == lo[query_rows]
    query_rows, positions = query_rows[same], positions[same]
    taken = pa.array(positions, pa.int64())
    return query_rows, [pc.take(stored.column(n), taken).combine_chunks() for n, _ in columns]


def matches(
    batches: Iterable[pa.RecordBatch], runs: list[RunFiles], schema: pa.Schema
) -> Iterator[pa.RecordBatch]:
    """mapInArrow body: each input row (with ``key`` and ``lo``) once per stored row it matches,
    with that row's ``earlier_doc``, ``earlier_batch`` and (where the runs hold values)
    ``earlier_value``; rows that match nothing are dropped."""
    for batch in batches:
        if not batch.num_rows:
            continue
        keys = batch.column("key").to_numpy()
        lo = batch.column("lo").to_numpy()
        for run in runs:
            columns = match_columns(run.valued)
            for subset in _by_file(keys, run.bits):
                rows, found = _matches_in_file(
                    run.file(int(prefixes(keys[subset[:1]], run.bits)[0])),
                    keys[subset],
                    lo[subset],
                    columns,
                )
                if len(rows):
                    table = pa.Table.from_batches([batch]).take(pa.array(subset[rows]))
                    for (_, field), column in zip(columns, found, strict=True):
                        table = table.append_column(field, column)
                    yield from table.select(schema.names).cast(schema).to_batches()
