"""Exact-duplicate keys: a hash of the text after case and whitespace normalization.

Normalizing first catches the copies that differ only in layout (re-wrapped lines, trailing
spaces, title case), which are the most common exact duplicates across crawls.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator

import pyarrow as pa

from gristmill.filters.nfkc import nfkc_lower


def normalize(text: str) -> str:
    return " ".join(nfkc_lower(text).split())


def text_hash(text: str) -> str:
    return hashlib.blake2b(normalize(text).encode(), digest_size=16).hexdigest()


def with_text_hash(
    batches: Iterable[pa.RecordBatch], schema: pa.Schema
) -> Iterator[pa.RecordBatch]:
    """mapInArrow body: add ``text_hash`` and a null drop_reason (the decision comes later)."""
    for batch in batches:
        hashes = pa.array([text_hash(t) for t in batch.column("text").to_pylist()], pa.string())
        table = pa.Table.from_batches([batch]).append_column("text_hash", hashes)
        table = table.append_column("drop_reason", pa.nulls(len(table), pa.string()))
        yield from table.select(schema.names).cast(schema).to_batches()
