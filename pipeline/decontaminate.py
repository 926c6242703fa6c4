"""Benchmark decontamination as GPT-3 did it (Brown et al. 2020, appendix C).

Two rules, one pass over the corpus:

- **Cutting** (what the training text loses): a training document that shares a 13-gram
  (``decontaminate.ngram``) with any benchmark field loses that 13-gram plus 200 characters on
  each side; the cuts split it into pieces, pieces under 200 characters are dropped, and a
  document split into more than 10 pieces is dropped whole.
- **Labelling** (which benchmark examples are dirty, for the clean subsets and the report): the
  example's context joined with each completion, matched by N-grams where N is the benchmark's
  own: the 5th percentile of its sequences' lengths in words, at least 8 and at most 13. A
  sequence shorter than N is dirty when it appears whole. Without this, a benchmark of short
  fields (44% of PIQA's examples have none of 13 words) could never be found.

N-grams that occur in more than ``too_common_docs`` training documents are left alone by both
(boilerplate, not leaked tests); finding them takes a first pass over the corpus
(:func:`matched_hashes`) before the cutting pass (:func:`decontaminate_batches`).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from hashlib import blake2b
from typing import Any

import numpy as np
import pyarrow as pa

from gristmill.pipeline.benchmarks import Benchmark
from gristmill.pipeline.config import DecontaminateConfig
from gristmill.pipeline.kernels import njit
from gristmill.pipeline.ngrams import (
    MULTIPLIER,
    gram_hashes,
    grouped_ngram_hashes,
    text_ngram_hashes,
    texts_word_hashes,
    word_hashes,
    word_spans,
)
from gristmill.schemas.tables import DECONTAMINATE

TOO_MANY_PIECES = "contaminated_too_many_pieces"
NOTHING_LEFT = "contaminated_nothing_left"
# What an index entry is for (bits, OR-ed where one hash serves both).
CUT = 1
LABEL = 2


@njit
def _block_and_mask(hashes: Any, bits: int) -> tuple[Any, Any]:
    """The Bloom filter's word for each hash (its top ``bits - 6`` bits) and the two bits it
    sets in that 64-bit word (the next two 6-bit fields; an n-gram hash's low bits mix least)."""
    word_bits = np.uint64(bits - 6)
    word = hashes >> (np.uint64(64) - word_bits)
    first = (hashes >> (np.uint64(58) - word_bits)) & np.uint64(63)
    second = (hashes >> (np.uint64(52) - word_bits)) & np.uint64(63)
    return word, (np.uint64(1) << first) | (np.uint64(1) << second)


@njit
def _find(h: np.uint64, index: np.ndarray, bitmap: np.ndarray, bits: int) -> int:
    """Position of ``h`` in the sorted ``index``, -1 where absent: one filter word read, then a
    binary search for the few hashes whose two bits are both set."""
    word, mask = _block_and_mask(h, bits)
    if bitmap[word] & mask != mask:
        return -1
    p = int(np.searchsorted(index, h))
    return p if p < index.size and index[p] == h else -1


@njit
def _lookup(hashes: np.ndarray, index: np.ndarray, bitmap: np.ndarray, bits: int) -> np.ndarray:
    found = np.empty(hashes.size, np.int64)
    for i in range(hashes.size):
        found[i] = _find(hashes[i], index, bitmap, bits)
    return found


@njit
def _gram_hits(
    hashed: np.ndarray,
    wanted: np.ndarray,
    index: np.ndarray,
    bitmap: np.ndarray,
    bits: int,
    vocab: np.ndarray,
    vocab_bits: int,
) -> np.ndarray:
    """The hashes of the k-grams (``wanted[k]``) of the words with these hashes that are in the
    index: each computed as :func:`gristmill.pipeline.ngrams.gram_hashes` does, and looked up
    at once, never stored. A k-gram is looked up only where each of its words is in the
    benchmarks' vocabulary (``vocab``, a filter as the index's, one probe a word): the k-grams
    from a position stop at its first word no benchmark holds."""
    hits = []
    longest = wanted.size - 1
    known = np.empty(hashed.size, np.bool_)
    for i in range(hashed.size):
        word, mask = _block_and_mask(hashed[i], vocab_bits)
        known[i] = vocab[word] & mask == mask
    for i in range(hashed.size):
        h = np.uint64(0)
        for k in range(1, min(longest, hashed.size - i) + 1):
            if not known[i + k - 1]:
                break
            h = h * MULTIPLIER + hashed[i + k - 1]
            if wanted[k] and _find(h, index, bitmap, bits) >= 0:
                hits.append(h)
    return np.array(hits, dtype=np.uint64)


@dataclass(frozen=True)
class NgramIndex:
    """Sorted benchmark n-gram hashes, each with a bitmask of the benchmarks it occurs in and of
    what it is for (:data:`CUT`, :data:`LABEL`); ``lengths``, the n-gram lengths it holds (in
    words), which a document's lookups must hash."""

    hashes: np.ndarray  # uint64, sorted, unique
    owners: np.ndarray  # uint64 bitmask, aligned with hashes
    names: tuple[str, ...]
    kinds: np.ndarray  # uint64: CUT | LABEL bits, aligned with hashes
    lengths: tuple[int, ...]
    # uint64, sorted, unique: the hash of every word of the benchmarks (None: not known, every
    # word may be one, as in an index of one document's matches).
    vocab: np.ndarray | None = None

    @functools.cached_property
    def _filter(self) -> tuple[np.ndarray, int]:
        """A Bloom filter of the index, blocked (two probes in one 64-bit word, so one memory
        read a lookup) with 32 to 64 bits an entry and at most 16 MB, built once per process:
        nearly every n-gram of a document is in no benchmark (1 of 13.5 million on the shared
        pages), and the filter turns away all but about 1% of them, where a binary search of the
        index takes twenty cache misses."""
        return _bloom(np.asarray(self.hashes), 64)

    @functools.cached_property
    def _vocab_filter(self) -> tuple[np.ndarray, int]:
        """A Bloom filter of the benchmarks' words, 16 to 32 bits a word (24,000 words of the
        shared benchmarks: 64 KB, in a core's cache). Half the words of the shared real pages
        are in none of them, and 79% of a document's k-gram lookups include one such word: a
        probe a word spares them (the n-gram pass 433 -> 113 ms over those pages). Without a known
        vocabulary the filter holds every word."""
        if self.vocab is None:  # two words (the least the filter's shifts allow), all set
            return np.full(2, ~np.uint64(0), np.uint64), 7
        return _bloom(np.asarray(self.vocab), 32)

    def lookup(self, hashes: np.ndarray) -> np.ndarray:
        """Index into ``self.hashes`` for each of ``hashes``, or -1 where it is not there."""
        if not len(self.hashes) or not len(hashes):
            return np.full(len(hashes), -1, dtype=np.int64)
        bitmap, bits = self._filter
        return _lookup(hashes, np.asarray(self.hashes), bitmap, bits)

    def hits(self, hashed: np.ndarray) -> np.ndarray:
        """The hashes of the n-grams (of every length the index holds) of the words with these
        hashes that are in the index, one per occurrence."""
        if not len(self.hashes) or not len(hashed):
            return np.empty(0, np.uint64)
        bitmap, bits = self._filter
        vocab, vocab_bits = self._vocab_filter
        hashes = np.asarray(self.hashes)
        return _gram_hits(hashed, self._wanted, hashes, bitmap, bits, vocab, vocab_bits)

    @functools.cached_property
    def _wanted(self) -> np.ndarray:
        """``wanted[k]``: whether the index holds k-grams."""
        wanted = np.zeros(max(self.lengths) + 1, np.bool_)
        wanted[list(self.lengths)] = True
        return wanted

    def benchmarks_of(self, owner_mask: int) -> list[str]:
        return [name for bit, name in enumerate(self.names) if owner_mask >> bit & 1]


def _bloom(hashes: np.ndarray, per_entry: int) -> tuple[np.ndarray, int]:
    """A blocked Bloom filter of ``hashes`` (:func:`_block_and_mask`), ``per_entry`` to twice as
    many bits an entry, 2^16 bits at least and 2^27 (16 MB) at most; and its size in bits, log2."""
    bits = min(max(len(hashes) * per_entry, 1 << 16), 1 << 27).bit_length() - 1
    bitmap = np.zeros(1 << (bits - 6), dtype=np.uint64)
    words, masks = _block_and_mask(hashes, bits)
    np.bitwise_or.at(bitmap, words.astype(np.int64), masks)
    return bitmap, bits


@functools.cache
def load_index(
    path: str, vocab_path: str, names: tuple[str, ...], lengths: tuple[int, ...]
) -> NgramIndex:
    """The index a (3, n) uint64 ``.npy`` file holds (hashes, owners, kinds), with the
    benchmarks' words from another, memory-mapped: their pages are shared by every process on
    the machine that maps them, and read only where lookups land."""
    data = np.load(path, mmap_mode="r")
    return NgramIndex(data[0], data[1], names, data[2], lengths, np.load(vocab_path, mmap_mode="r"))


def label_ngram(lengths: list[int], cfg: DecontaminateConfig) -> int:
    """The benchmark's N for labelling (GPT-3 appendix C), from the lengths in words of its
    sequences: their ``label_percentile``, clipped to [label_min_ngram, label_max_ngram]."""
    if not lengths:
        return cfg.label_max_ngram
    n = int(np.percentile(lengths, cfg.label_percentile, method="lower"))
    return min(max(n, cfg.label_min_ngram), cfg.label_max_ngram)


@dataclass(frozen=True)
class BenchmarkNgrams:
    """One benchmark's n-grams, hashed once a batch: the index of every benchmark is built from
    them, and the batch's report (what matched, which examples are dirty) reads them again.

    What finds an example (labelling) is the N-grams of each of its sequences, or the whole
    sequence (its one len-gram) where it is shorter than N.
    """

    name: str
    cut: np.ndarray  # uint64, sorted, unique: the ``ngram``-grams of every field
    label_n: int  # N for labelling: :func:`label_ngram`
    labels: np.ndarray  # uint64: every example's label n-grams, one after the other
    label_examples: np.ndarray  # int64, aligned with labels: the example's position
    lengths: frozenset[int]  # n-gram lengths to look up: ngram, N, and shorter sequences
    short_sequences: int  # sequences shorter than N (found only whole)
    words: np.ndarray  # uint64, sorted, unique: the hash of every word of its texts

    @classmethod
    def of(cls, bench: Benchmark, cfg: DecontaminateConfig) -> BenchmarkNgrams:
        words, texts = texts_word_hashes([t for ex in bench.examples for t in ex.texts])
        cut, _ = grouped_ngram_hashes(words, texts, cfg.ngram)
        owners = [(i, s) for i, ex in enumerate(bench.examples) for s in ex.sequences]
        sequence_words, sequences = texts_word_hashes([s for _, s in owners])
        lengths = np.diff(sequences)
        n = label_ngram(lengths.tolist(), cfg)
        labels, labelled = grouped_ngram_hashes(sequence_words, sequences, n, whole_shorter=True)
        short = (lengths > 0) & (lengths < n)
        return cls(
            name=bench.name,
            cut=np.unique(cut),
            label_n=n,
            labels=labels,
            label_examples=np.array([i for i, _ in owners], np.int64)[labelled],
            lengths=frozenset({cfg.ngram, n, *lengths[short].tolist()}),
            short_sequences=int(short.sum()),
            words=np.unique(np.concatenate([words, sequence_words])),
        )

    @functools.cached_property
    def all(self) -> np.ndarray:
        """Every n-gram of the benchmark, cutting and labelling, sorted and unique."""
        return np.unique(np.concatenate([self.cut, self.labels]))

    def dirty(self, bench: Benchmark, matched: np.ndarray) -> list[str]:
        """Ids of the examples found in the training data by their label n-grams among
        ``matched``, the n-grams acted on, in the benchmark's order."""
        found = np.unique(self.label_examples[np.isin(self.labels, matched)])
        return [bench.examples[i].id for i in found.tolist()]


def build_index(
    benchmarks: Sequence[Benchmark | BenchmarkNgrams], cfg: DecontaminateConfig
) -> NgramIndex:
    """The index of every benchmark (at most 64: one bit each in the owner mask), from the
    benchmarks or their n-grams hashed already."""
    if len(benchmarks) > 64:
        raise ValueError("at most 64 benchmark files per run (one bit each in the owner mask)")
    grams = [
        b if isinstance(b, BenchmarkNgrams) else BenchmarkNgrams.of(b, cfg) for b in benchmarks
    ]
    all_hashes, all_owners, all_kinds = [], [], []
    lengths: set[int] = set()
    for bit, own in enumerate(grams):
        all_hashes += [own.cut, own.labels]
        all_owners.append(np.full(len(own.cut) + len(own.labels), 1 << bit, dtype=np.uint64))
        all_kinds += [
            np.full(len(own.cut), CUT, np.uint64),
            np.full(len(own.labels), LABEL, np.uint64),
        ]
        lengths |= own.lengths
    names = tuple(g.name for g in grams)
    empty = np.empty(0, np.uint64)
    if not all_hashes:
        return NgramIndex(empty, empty, names, empty, (cfg.ngram,), empty)
    unique, inverse = np.unique(np.concatenate(all_hashes), return_inverse=True)
    owners = np.zeros(len(unique), dtype=np.uint64)
    np.bitwise_or.at(owners, inverse, np.concatenate(all_owners))
    kinds = np.zeros(len(unique), dtype=np.uint64)
    np.bitwise_or.at(kinds, inverse, np.concatenate(all_kinds))
    vocab = np.unique(np.concatenate([*(g.words for g in grams), empty]))
    return NgramIndex(unique, owners, names, kinds, tuple(sorted(lengths)), vocab)


def dirty_in_texts(
    texts: Sequence[str], benchmarks: Sequence[Benchmark], cfg: DecontaminateConfig
) -> dict[str, set[str]]:
    """Each benchmark's dirty example ids among ``texts``, in one process, as the stage labels
    them over a batch: every cutting and labelling n-gram looked up, those in more than
    ``too_common_docs`` of the texts left alone (for the tests and benchmarks)."""
    grams = [BenchmarkNgrams.of(b, cfg) for b in benchmarks]
    index = build_index(grams, cfg)
    hits = [document_hits(text, index) for text in texts]
    ngrams, docs = np.unique(np.concatenate(hits) if hits else hits, return_counts=True)
    acted = ngrams[docs <= cfg.too_common_docs]
    return {b.name: set(g.dirty(b, acted)) for b, g in zip(benchmarks, grams, strict=True)}


def document_hits(text: str, index: NgramIndex) -> np.ndarray:
    """The distinct index n-grams (of every length the index holds) a document contains."""
    return np.unique(index.hits(word_hashes(text)))


def matched_hashes(
    batches: Iterable[pa.RecordBatch], index: NgramIndex
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
            hits = document_hits(text, index)
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


_NONE_IGNORED = np.empty(0, np.uint64)


def _members(values: np.ndarray, sorted_values: np.ndarray) -> np.ndarray:
    """Which of ``values`` are in ``sorted_values``: a binary search each, where ``np.isin``
    sorts both arrays at every call (37 ms a document against 200,000 too-common n-grams)."""
    if not sorted_values.size:
        return np.zeros(values.size, np.bool_)
    at = np.minimum(np.searchsorted(sorted_values, values), sorted_values.size - 1)
    return sorted_values[at] == values


def decontaminate_row(
    row: dict, index: NgramIndex, cfg: DecontaminateConfig, ignored: np.ndarray = _NONE_IGNORED
) -> dict:
    """Cut one document's matched n-grams: those of ``index`` marked :data:`CUT` (all
    ``cfg.ngram`` words long), but not the ``ignored`` ones (sorted; too common to act on)."""
    n, text = cfg.ngram, row["text"]
    if not len(index.hashes):  # the join path's index of a document without a match
        return row | UNTOUCHED
    hashes = text_ngram_hashes(text, n)
    pos = index.lookup(hashes)
    hit = np.nonzero(pos >= 0)[0]
    if len(hit):
        hit = hit[((index.kinds[pos[hit]] & CUT) > 0) & ~_members(hashes[hit], ignored)]
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


# What the cutting pass gives a document it has nothing to cut from.
UNTOUCHED = {
    "contaminated_ngrams": 0, "benchmarks_matched": [], "chars_removed": 0, "drop_reason": None,
}  # fmt: skip


def doc_keys(doc_ids: Iterable[str]) -> np.ndarray:
    """A 64-bit key of each doc_id (BLAKE2b's first 8 bytes), for a membership test that two
    ids sharing a key can only make slower (:func:`decontaminate_batches`)."""
    digests = b"".join(blake2b(d.encode(), digest_size=8).digest() for d in doc_ids)
    return np.frombuffer(digests, "<u8")


def _untouched(batch: pa.RecordBatch) -> pa.RecordBatch:
    """``batch`` as the cutting pass leaves a document without a match, column by column."""
    n = batch.num_rows
    zeros = pa.array(np.zeros(n, np.int64))
    added = {
        "text": batch.column("text"),
        "contaminated_ngrams": zeros,
        "chars_removed": zeros,
        "benchmarks_matched": pa.ListArray.from_arrays(
            pa.array(np.zeros(n + 1, np.int32)), pa.array([], pa.string())
        ),
        "drop_reason": pa.nulls(n, pa.string()),
    }
    columns = [
        added[f.name] if f.name in added else batch.column(f.name).cast(f.type)
        for f in DECONTAMINATE
    ]
    return pa.RecordBatch.from_arrays(columns, schema=DECONTAMINATE)


def decontaminate_batches(
    batches: Iterable[pa.RecordBatch],
    index: NgramIndex,
    cfg: DecontaminateConfig,
    ignored: np.ndarray = _NONE_IGNORED,
    touched: np.ndarray | None = None,
) -> Iterator[pa.RecordBatch]:
    """Second pass (mapInArrow body): cut matched n-grams out of each document. The index is
    the first pass's, whole: the n-grams too common to act on (``ignored``, which change with
    every batch) are left out at each lookup rather than from a copy of the index, so every
    batch's tasks map the one file that every executor already holds.

    ``touched``: the :func:`doc_keys` of the documents the first pass found an n-gram to cut in
    (None: not known). Those are read again; every other document passes as it is, unread: the
    pass over the shared real pages took 235 ms, the word hashes and row conversions of
    documents nearly all of which hold no benchmark n-gram."""
    ignored = np.sort(np.asarray(ignored, np.uint64))  # once a task, not a document
    touched = None if touched is None else np.sort(np.asarray(touched, np.uint64))
    for batch in batches:
        if touched is None:
            read = np.ones(batch.num_rows, np.bool_)
        else:
            read = _members(doc_keys(batch.column("doc_id").to_pylist()), touched)
            if not read.any():
                yield _untouched(batch)
                continue
        rows = [
            decontaminate_row(row, index, cfg, ignored) if cut else row | UNTOUCHED
            for row, cut in zip(batch.to_pylist(), read.tolist(), strict=True)
        ]
        yield pa.RecordBatch.from_pylist(rows, schema=DECONTAMINATE)


def doc_ngram_batches(
    batches: Iterable[pa.RecordBatch], lengths: tuple[int, ...]
) -> Iterator[pa.RecordBatch]:
    """Every distinct n-gram (of each of ``lengths``) of each document, for joining with a
    benchmark table too large to broadcast (int64 hashes, as Spark stores them)."""
    for batch in batches:
        doc_ids: list[str] = []
        found: list[np.ndarray] = []
        for doc_id, text in zip(
            batch.column("doc_id").to_pylist(), batch.column("text").to_pylist(), strict=True
        ):
            hashes = np.unique(gram_hashes(word_hashes(text), lengths))
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
            kinds = np.full(len(matched), CUT, np.uint64)
            index = NgramIndex(matched[order], owners[order], names, kinds, (cfg.ngram,))
            rows.append(decontaminate_row(row, index, cfg))
        yield pa.RecordBatch.from_pylist(rows, schema=DECONTAMINATE)
