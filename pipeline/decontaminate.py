"""Benchmark decontamination as GPT-3 did it (Brown et al. 2020, appendix C).

A training document that shares a 13-gram with any benchmark example loses that 13-gram plus 200
characters on each side; the cuts split it into pieces, pieces under 200 characters are dropped,
and a document split into more than 10 pieces is dropped whole. N-grams that occur in more than
``too_common_docs`` training documents are left alone (they are boilerplate, not leaked tests);
finding them takes a first pass over the corpus (:func:`matched_hashes`) before the cutting pass
(:func:`decontaminate_batches`).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from gristmill.pipeline.benchmarks import Benchmark
from gristmill.pipeline.config import DecontaminateConfig
from gristmill.pipeline.ngrams import text_ngram_hashes, word_spans
from gristmill.schemas.tables import DECONTAMINATE

TOO_MANY_PIECES = "contaminated_too_many_pieces"
NOTHING_LEFT = "contaminated_nothing_left"


@dataclass(frozen=True)
class NgramIndex:
    """Sorted benchmark n-gram hashes, each with a bitmask of the benchmarks it occurs in."""

    hashes: np.ndarray  # uint64, sorted, unique
    owners: np.ndarray  # uint64 bitmask, aligned with hashes
    names: tuple[str, ...]

    def lookup(self, hashes: np.ndarray) -> np.ndarray:
        """Index into ``self.hashes`` for each of ``hashes``, or -1 where it is not there."""
        if not len(self.hashes) or not len(hashes):
            return np.full(len(hashes), -1, dtype=np.int64)
        pos = np.searchsorted(self.hashes, hashes)
        pos = np.minimum(pos, len(self.hashes) - 1)
        return np.where(self.hashes[pos] == hashes, pos, -1)

    def without(self, ignored: np.ndarray) -> NgramIndex:
        keep = ~np.isin(self.hashes, ignored)
        return NgramIndex(self.hashes[keep], self.owners[keep], self.names)

    def benchmarks_of(self, owner_mask: int) -> list[str]:
        return [name for bit, name in enumerate(self.names) if owner_mask >> bit & 1]


@functools.cache
def load_index(path: str, names: tuple[str, ...]) -> NgramIndex:
    """The index a (2, n) uint64 ``.npy`` file holds, memory-mapped: its pages are shared by
    every process on the machine that maps it, and read only where lookups land."""
    data = np.load(path, mmap_mode="r")
    return NgramIndex(data[0], data[1], names)


def build_index(benchmarks: list[Benchmark], n: int) -> NgramIndex:
    if len(benchmarks) > 64:
        raise ValueError("at most 64 benchmark files per run (one bit each in the owner mask)")
    all_hashes, all_owners = [], []
    for bit, bench in enumerate(benchmarks):
        hashes = [text_ngram_hashes(t, n) for ex in bench.examples for t in ex.texts]
        unique = np.unique(np.concatenate(hashes)) if hashes else np.empty(0, np.uint64)
        all_hashes.append(unique)
        all_owners.append(np.full(len(unique), 1 << bit, dtype=np.uint64))
    if not all_hashes:
        return NgramIndex(np.empty(0, np.uint64), np.empty(0, np.uint64), ())
    hashes = np.concatenate(all_hashes)
    owners = np.concatenate(all_owners)
    unique, inverse = np.unique(hashes, return_inverse=True)
    merged = np.zeros(len(unique), dtype=np.uint64)
    np.bitwise_or.at(merged, inverse, owners)
    return NgramIndex(unique, merged, tuple(b.name for b in benchmarks))


def dirty_examples(bench: Benchmark, n: int, matched: np.ndarray) -> list[str]:
    """Ids of a benchmark's examples that share an acted-on n-gram with the training data."""
    matched = np.sort(matched)
    dirty = []
    for ex in bench.examples:
        for text in ex.texts:
            hashes = text_ngram_hashes(text, n)
            if len(hashes) and np.isin(hashes, matched).any():
                dirty.append(ex.id)
                break
    return dirty


def matched_hashes(
    batches: Iterable[pa.RecordBatch], index: NgramIndex, n: int
) -> Iterator[pa.RecordBatch]:
    """First pass (mapInArrow body): the distinct benchmark n-grams each document contains.

    Hashes leave as int64 (Spark has no unsigned type); ``.view`` turns them back.
    """
    for batch in batches:
        doc_ids: list[str] = []
        found: list[np.ndarray] = []
        for doc_id, text in zip(
            batch.column("doc_id").to_pylist(), batch.column("text").to_pylist(), strict=True
        ):
            hashes = text_ngram_hashes(text, n)
            hits = np.unique(hashes[index.lookup(hashes) >= 0])
            doc_ids.extend([doc_id] * len(hits))
            found.append(hits)
        ngrams = np.concatenate(found) if found else np.empty(0, np.uint64)
        yield pa.RecordBatch.from_pydict(
            {
                "doc_id": pa.array(doc_ids, pa.string()),
                "ngram": pa.array(ngrams.view(np.int64), pa.int64()),
            }
        )


def cut(
    text: str, spans: list[tuple[int, int]], cfg: DecontaminateConfig
) -> tuple[str | None, str | None, int]:
    """Apply the GPT-3 rules to matched character spans: (new text, drop reason, chars removed)."""
    windows = sorted(
        (max(0, s - cfg.window_chars), min(len(text), e + cfg.window_chars)) for s, e in spans
    )
    merged: list[list[int]] = []
    for start, end in windows:
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    pieces, cursor = [], 0
    for start, end in merged:
        pieces.append(text[cursor:start])
        cursor = end
    pieces.append(text[cursor:])
    pieces = [p.strip() for p in pieces if p.strip()]
    if len(pieces) > cfg.max_pieces:
        return None, TOO_MANY_PIECES, len(text)
    kept = [p for p in pieces if len(p) >= cfg.min_piece_chars]
    if not kept:
        return None, NOTHING_LEFT, len(text)
    new_text = "\n\n".join(kept)
    return new_text, None, len(text) - sum(len(p) for p in kept)


def decontaminate_row(row: dict, index: NgramIndex, cfg: DecontaminateConfig) -> dict:
    """Cut one document's matched n-grams (``index`` holds the n-grams acted on)."""
    n, text = cfg.ngram, row["text"]
    pos = index.lookup(text_ngram_hashes(text, n))
    hit = np.nonzero(pos >= 0)[0]
    row["contaminated_ngrams"] = len(hit)
    row["benchmarks_matched"] = []
    row["chars_removed"] = 0
    row["drop_reason"] = None
    if len(hit):
        mask = int(np.bitwise_or.reduce(index.owners[pos[hit]]))
        row["benchmarks_matched"] = index.benchmarks_of(mask)
        starts, ends = word_spans(text)
        spans = [(int(starts[i]), int(ends[i + n - 1])) for i in hit]
        row["text"], row["drop_reason"], row["chars_removed"] = cut(text, spans, cfg)
        if row["text"] is None:
            row["text"] = text  # dropped rows keep their text, for inspection
    return row


def decontaminate_batches(
    batches: Iterable[pa.RecordBatch], index: NgramIndex, cfg: DecontaminateConfig
) -> Iterator[pa.RecordBatch]:
    """Second pass (mapInArrow body): cut matched n-grams out of each document."""
    for batch in batches:
        rows = [decontaminate_row(row, index, cfg) for row in batch.to_pylist()]
        yield pa.RecordBatch.from_pylist(rows, schema=DECONTAMINATE)


def doc_ngram_batches(batches: Iterable[pa.RecordBatch], n: int) -> Iterator[pa.RecordBatch]:
    """Every distinct n-gram of each document, for joining with a benchmark table too large to
    broadcast (int64 hashes, as Spark stores them)."""
    for batch in batches:
        doc_ids: list[str] = []
        found: list[np.ndarray] = []
        for doc_id, text in zip(
            batch.column("doc_id").to_pylist(), batch.column("text").to_pylist(), strict=True
        ):
            hashes = np.unique(text_ngram_hashes(text, n))
            doc_ids.extend([doc_id] * len(hashes))
            found.append(hashes)
        ngrams = np.concatenate(found) if found else np.empty(0, np.uint64)
        yield pa.RecordBatch.from_pydict(
            {"doc_id": pa.array(doc_ids, pa.string()), "ngram": pa.array(ngrams.view(np.int64))}
        )


def decontaminate_joined_batches(
    batches: Iterable[pa.RecordBatch], names: tuple[str, ...], cfg: DecontaminateConfig
) -> Iterator[pa.RecordBatch]:
    """Second pass of the join path: each row brings its own matched n-grams and owner masks
    (columns ``matched``/``owners``), which become that document's index."""
    for batch in batches:
        rows = []
        for row in batch.to_pylist():
            matched = np.array(row.pop("matched") or [], dtype=np.int64).view(np.uint64)
            owners = np.array(row.pop("owners") or [], dtype=np.int64).view(np.uint64)
            order = np.argsort(matched)
            index = NgramIndex(matched[order], owners[order], names)
            rows.append(decontaminate_row(row, index, cfg))
        yield pa.RecordBatch.from_pylist(rows, schema=DECONTAMINATE)
