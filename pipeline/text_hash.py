"""Exact-duplicate keys: a hash of the text after case and whitespace normalization.

Normalizing first catches the copies that differ only in layout (re-wrapped lines, trailing
spaces, title case), which are the most common exact duplicates across crawls.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator

import numpy as np
import pyarrow as pa

from gristmill.filters.nfkc import nfkc_lower_code_points
from gristmill.filters.words import SPACE, char_classes, code_points, from_code_points
from gristmill.pipeline.kernels import njit


@njit
def _spaces_collapsed(cps: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """``cps`` with each run of whitespace (``classes``' SPACE bit: ``str.isspace``, where
    ``str.split`` splits) made one space, and none at either end."""
    out = np.empty(cps.size, np.uint32)
    k, pending = 0, False
    for c in cps:
        if classes[c] & SPACE:
            pending = k > 0
            continue
        if pending:
            out[k] = 32
            k += 1
            pending = False
        out[k] = c
        k += 1
    return out[:k]


def normalize(text: str) -> str:
    """``" ".join(nfkc_lower(text).split())``, in compiled passes over the code points: the
    split and join made a string of every word, 90 us of the 150 us a 5.8 KB page's hash took
    (the shared real pages), most of the text-hash job's Python time."""
    cps = nfkc_lower_code_points(code_points(text))
    return from_code_points(_spaces_collapsed(cps, char_classes()))


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
