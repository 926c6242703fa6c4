"""MinHash signatures and LSH band buckets of document shingles, vectorized with numba.

Why this shape:

- Shingles are word n-grams (FineWeb: 5) or character n-grams (NeMo Curator: 24) of the text
  normalized by Arrow (:mod:`gristmill.pipeline.shingle_text`: case, accents, quotes, dashes,
  punctuation, entities, digits) and split on whitespace (the set ``str.split()`` uses). No
  Python runs per document: Arrow normalizes a whole batch and one numba kernel walks its UTF-8
  buffer, which is what makes signatures >= 10x faster per core than datasketch's
  ``update_batch`` (``bench/minhash_vs_datasketch.py``).
- Shingle hashes are stable across processes and machines, unlike ``hash()``: a word n-gram
  combines the FNV-1a hashes of its words (each word hashed once), a character n-gram is a
  polynomial over its bytes (O(1) per position from prefix hashes); both end with the MurmurHash3
  64-bit finalizer.
- A signature is datasketch 2.0's "affine32" MinHash: the low 32 bits of the shingle hash are
  pre-mixed by MurmurHash3's 32-bit finalizer and permuted by ``h -> a*h + b mod 2**32`` (``a``
  odd), with ``a, b`` drawn from ``numpy.random.RandomState(seed)`` exactly as datasketch draws
  them. Equal sketches are what let datasketch's MinHash and MinHashLSH be the single-machine
  path (:mod:`gristmill.pipeline.connected_components`) that the Spark path is tested against.
- A band's bucket is a 64-bit hash of its ``rows`` values (FineWeb and NeMo Curator hash bands
  too): 8 bytes per band instead of 32 in the shuffle.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from gristmill.pipeline.byte_hash import FNV_OFFSET, FNV_PRIME, bytes_hash, fmix64
from gristmill.pipeline.config import Config, DedupConfig
from gristmill.pipeline.kernels import njit
from gristmill.pipeline.shingle_text import shingle_text

_MASK32 = np.uint64(0xFFFFFFFF)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)  # odd: h -> (h ^ x) * _GOLDEN is a bijection in x
_SPACE = np.uint8(0x20)

BAND_ROWS_SCHEMA = pa.schema(
    [
        pa.field("doc_id", pa.string(), nullable=False),
        pa.field("band", pa.int32(), nullable=False),
        pa.field("bucket", pa.int64(), nullable=False),
    ]
)
SIGNATURE_SCHEMA = pa.schema(
    [
        pa.field("doc_id", pa.string(), nullable=False),
        pa.field("signature", pa.binary(), nullable=False),  # num_perm little-endian uint32
    ]
)
# What a pair's verification adds to the pair's other columns.
JACCARD = pa.field("jaccard", pa.float64(), nullable=False)


@dataclass(frozen=True)
class MinHashParams:
    """Everything that shapes a signature and its bands; built once on the driver."""

    char_shingles: bool
    ngram: int
    num_perm: int
    bands: int
    rows: int
    seed: int
    normalization: str

    @classmethod
    def from_config(cls, config: Config) -> MinHashParams:
        dedup = config.dedup
        bands, rows = lsh_shape(dedup)
        char = dedup.shingle == "char"
        return cls(
            char_shingles=char,
            ngram=dedup.char_ngram if char else dedup.word_ngram,
            num_perm=dedup.num_perm,
            bands=bands,
            rows=rows,
            seed=config.seed,
            normalization=dedup.normalization,
        )


def lsh_shape(cfg: DedupConfig) -> tuple[int, int]:
    """(bands, rows): the configured ones, or datasketch's optimum for ``cfg.threshold``.

    datasketch's routine minimizes the false-positive plus false-negative areas under the LSH
    s-curve with equal weights, as ``MinHashLSH(threshold=...)`` does.
    """
    if cfg.bands is not None and cfg.rows is not None:
        return cfg.bands, cfg.rows
    from datasketch.lsh import _optimal_param

    bands, rows = _optimal_param(cfg.threshold, cfg.num_perm, 0.5, 0.5)
    return int(bands), int(rows)


def permutations(num_perm: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(a, b) as uint32, drawn as datasketch 2.0 draws its "affine32" permutations."""
    gen = np.random.RandomState(seed)
    a = gen.randint(0, 1 << 31, num_perm, dtype=np.uint32) * np.uint32(2) + np.uint32(1)
    b = gen.randint(0, 1 << 32, num_perm, dtype=np.uint32)
    return a, b


@njit
def _fmix32(h: np.uint64) -> np.uint64:
    h ^= h >> np.uint64(16)
    h = (h * np.uint64(0x85EBCA6B)) & _MASK32
    h ^= h >> np.uint64(13)
    h = (h * np.uint64(0xC2B2AE35)) & _MASK32
    h ^= h >> np.uint64(16)
    return h


# Byte classes for splitting UTF-8 on the whitespace set of str.split(): 1 = ASCII whitespace,
# 2 = lead byte of a multi-byte whitespace character (U+0085, U+00A0, U+1680, U+2000-200A, U+2028,
# U+2029, U+202F, U+205F, U+3000), 0 = anything else. A table lookup per byte measured 10x faster
# than a chain of comparisons here.
_BYTE_CLASS = np.zeros(256, np.uint8)
_BYTE_CLASS[[0x09, 0x0A, 0x0B, 0x0C, 0x0D, 0x1C, 0x1D, 0x1E, 0x1F, 0x20]] = 1
_BYTE_CLASS[[0xC2, 0xE1, 0xE2, 0xE3]] = 2


@njit
def _multibyte_space(data: np.ndarray, i: int, end: int) -> int:
    """Byte length of the multi-byte whitespace character at ``data[i]``, 0 if there is none."""
    c = data[i]
    if c == 0xC2:
        return 2 if i + 1 < end and (data[i + 1] == 0x85 or data[i + 1] == 0xA0) else 0
    if i + 2 >= end:
        return 0
    c1, c2 = data[i + 1], data[i + 2]
    if c == 0xE1:
        return 3 if c1 == 0x9A and c2 == 0x80 else 0
    if c == 0xE3:
        return 3 if c1 == 0x80 and c2 == 0x80 else 0
    if c1 == 0x80 and (c2 <= 0x8A or c2 == 0xA8 or c2 == 0xA9 or c2 == 0xAF):
        return 3
    return 3 if c1 == 0x81 and c2 == 0x9F else 0


@njit
def _words(data: np.ndarray, start: int, end: int) -> tuple[np.ndarray, np.ndarray]:
    """[start, end) byte offsets of the whitespace-separated words of ``data[start:end]``."""
    starts = np.empty(end - start, np.int64)
    ends = np.empty(end - start, np.int64)
    n, i, in_word = 0, start, False
    while i < end:
        kind = _BYTE_CLASS[data[i]]
        skip = 0 if kind == 0 else 1 if kind == 1 else _multibyte_space(data, i, end)
        if skip:
            if in_word:
                ends[n] = i
                n += 1
                in_word = False
            i += skip
        else:
            if not in_word:
                starts[n] = i
                in_word = True
            i += 1
    if in_word:
        ends[n] = end
        n += 1
    return starts[:n], ends[:n]


@njit
def _word_hashes(data: np.ndarray, start: int, end: int) -> np.ndarray:
    """:func:`bytes_hash` of each word of ``data[start:end]``, in one pass over the bytes."""
    out = np.empty((end - start) // 2 + 1, np.uint64)
    n, i, h, in_word = 0, start, FNV_OFFSET, False
    while i < end:
        c = data[i]
        kind = _BYTE_CLASS[c]
        skip = 0 if kind == 0 else 1 if kind == 1 else _multibyte_space(data, i, end)
        if skip:
            if in_word:
                out[n] = fmix64(h)
                n += 1
                in_word = False
            i += skip
        else:
            if not in_word:
                h = FNV_OFFSET
                in_word = True
            h = (h ^ np.uint64(c)) * FNV_PRIME
            i += 1
    if in_word:
        out[n] = fmix64(h)
        n += 1
    return out[:n]


@njit
def _polynomial_hash(data: np.ndarray) -> np.uint64:
    """A character n-gram's hash: sum of (byte + 1) * _GOLDEN**k mod 2**64, then the finalizer.

    Polynomial, so the kernel gets every n-gram of a text from its prefix hashes in O(1) each.
    Windows are far shorter than the ~2**11 bytes that Thue-Morse collisions of polynomial hashes
    modulo 2**64 need.
    """
    h = np.uint64(0)
    for i in range(len(data)):
        h = h * _GOLDEN + np.uint64(data[i]) + np.uint64(1)
    return fmix64(h)


@njit
def _combine(hashes: np.ndarray, start: int, end: int) -> np.uint64:
    """The hash of a word n-gram from its words' hashes ``hashes[start:end]``."""
    h = FNV_OFFSET
    for j in range(start, end):
        h = (h ^ hashes[j]) * _GOLDEN
    return fmix64(h)


@njit
def _doc_shingles(
    data: np.ndarray, start: int, end: int, char_shingles: bool, n: int
) -> np.ndarray:
    """64-bit hashes of a document's shingles, in text order (repeats included).

    A document shorter than one n-gram is one shingle of everything it has; an empty one has none.
    """
    if not char_shingles:
        words = _word_hashes(data, start, end)
        if len(words) == 0:
            return words
        width = min(n, len(words))
        out = np.empty(len(words) - width + 1, np.uint64)
        for i in range(len(out)):
            out[i] = _combine(words, i, i + width)
        return out
    starts, ends = _words(data, start, end)
    k = len(starts)
    if k == 0:
        return np.empty(0, np.uint64)
    # Character n-grams run over the words joined by single spaces (the normalized text).
    size = k - 1
    for w in range(k):
        size += ends[w] - starts[w]
    text = np.empty(size, np.uint8)
    pos = 0
    for w in range(k):
        if w:
            text[pos] = _SPACE
            pos += 1
        for c in range(starts[w], ends[w]):  # no slice assignment (gopher_repetition's note)
            text[pos] = data[c]
            pos += 1
    chars = np.empty(size + 1, np.int64)
    # Polynomial hashes of every prefix give each n-gram's hash in O(1) (see _polynomial_hash).
    prefix = np.empty(size + 1, np.uint64)
    powers = np.empty(size + 1, np.uint64)
    prefix[0], powers[0] = np.uint64(0), np.uint64(1)
    nch = 0
    for i in range(size):
        if (text[i] & 0xC0) != 0x80:  # not a UTF-8 continuation byte: a character starts here
            chars[nch] = i
            nch += 1
        prefix[i + 1] = prefix[i] * _GOLDEN + np.uint64(text[i]) + np.uint64(1)
        powers[i + 1] = powers[i] * _GOLDEN
    chars[nch] = size
    width = min(n, nch)
    out = np.empty(nch - width + 1, np.uint64)
    for i in range(len(out)):
        start, stop = chars[i], chars[i + width]
        out[i] = fmix64(prefix[stop] - prefix[start] * powers[stop - start])
    return out


@njit
def _signatures(
    data: np.ndarray, offsets: np.ndarray, char_shingles: bool, n: int, a: np.ndarray, b: np.ndarray
) -> np.ndarray:
    """Each document's minimum of ``(a * h + b) mod 2**32`` over its shingles' hashes ``h``,
    per permutation. The operands are uint32 and the sum is cast to uint32 (numba computes it
    in 64 bits; the cast is the modulo), which LLVM narrows to 32-bit lanes and runs eight
    wide, where a 64-bit mask kept it one lane at a time: the kernel took half the time."""
    docs, perms = len(offsets) - 1, len(a)
    out = np.empty((docs, perms), np.uint32)
    for d in range(docs):
        shingles = _doc_shingles(data, offsets[d], offsets[d + 1], char_shingles, n)
        mixed = np.empty(len(shingles), np.uint32)
        for s in range(len(shingles)):
            mixed[s] = np.uint32(_fmix32(shingles[s] & _MASK32))
        for p in range(perms):
            ap, bp, best = a[p], b[p], np.uint32(0xFFFFFFFF)
            for s in range(len(mixed)):
                best = min(best, np.uint32(ap * mixed[s] + bp))
            out[d, p] = best
    return out


@njit
def _band_hashes(signatures: np.ndarray, bands: int, rows: int) -> np.ndarray:
    out = np.empty((signatures.shape[0], bands), np.uint64)
    for d in range(signatures.shape[0]):
        for band in range(bands):
            h = FNV_OFFSET
            for r in range(band * rows, (band + 1) * rows):
                h = (h ^ np.uint64(signatures[d, r])) * _GOLDEN
            out[d, band] = fmix64(h)
    return out


def _utf8_buffers(texts: pa.Array, normalization: str) -> tuple[np.ndarray, np.ndarray]:
    """(bytes, int64 offsets) of a string array after normalization; null counts as ''."""
    lowered = shingle_text(texts, normalization)
    _validity, offsets, data = lowered.buffers()
    width = np.int64 if pa.types.is_large_string(lowered.type) else np.int32
    ends = np.frombuffer(offsets, width)[lowered.offset : lowered.offset + len(lowered) + 1]
    raw = np.frombuffer(data, np.uint8) if data is not None else np.empty(0, np.uint8)
    return raw, ends.astype(np.int64)


def signatures(texts: pa.Array, params: MinHashParams) -> np.ndarray:
    """(documents, num_perm) uint32 MinHash signatures, equal to datasketch's for the same input."""
    data, offsets = _utf8_buffers(texts, params.normalization)
    a, b = permutations(params.num_perm, params.seed)
    return _signatures(data, offsets, params.char_shingles, params.ngram, a, b)


def band_buckets(sigs: np.ndarray, params: MinHashParams) -> np.ndarray:
    """(documents, bands) int64 bucket ids: a hash of each band's ``rows`` signature values."""
    return _band_hashes(sigs, params.bands, params.rows).view(np.int64)


def shingle_set(text: str, params: MinHashParams) -> np.ndarray:
    """Sorted distinct 64-bit shingle hashes of one document: its set for exact Jaccard."""
    data, offsets = _utf8_buffers(pa.array([text], pa.string()), params.normalization)
    shingles = _doc_shingles(data, offsets[0], offsets[1], params.char_shingles, params.ngram)
    return np.unique(shingles)


def jaccard(a: np.ndarray, b: np.ndarray) -> float:
    """|a & b| / |a | b| of two sorted distinct arrays; two empty sets are identical (1.0)."""
    both = len(np.intersect1d(a, b, assume_unique=True))
    union = len(a) + len(b) - both
    return both / union if union else 1.0


def signature_rows(
    batches: Iterable[pa.RecordBatch], params: MinHashParams
) -> Iterator[pa.RecordBatch]:
    """mapInArrow body: (doc_id, text) rows in, (doc_id, signature) out.

    A document with no shingle at all (nothing left after normalization: symbols, emoji, an
    empty text) has no signature: its values would be the empty set's, the same for every such
    document, and all of them would fall in one bucket of every band, one cluster, every later
    night's too. Exact dedup still finds its copies."""
    for batch in batches:
        sigs = signatures(batch.column("text"), params)
        shingled = np.flatnonzero((sigs != np.uint32(_MASK32)).any(axis=1))
        if not len(shingled):
            continue
        yield pa.RecordBatch.from_arrays(
            [batch.column("doc_id").take(pa.array(shingled)), _as_binary(sigs[shingled])],
            schema=SIGNATURE_SCHEMA,
        )


def _as_binary(sigs: np.ndarray) -> pa.Array:
    """One binary value per row of a (documents, num_perm) uint32 matrix, without a copy per row."""
    data = np.ascontiguousarray(sigs, dtype="<u4")
    width = data.shape[1] * 4
    offsets = np.arange(0, (len(data) + 1) * width, width, dtype=np.int32)
    return pa.Array.from_buffers(
        pa.binary(), len(data), [None, pa.py_buffer(offsets), pa.py_buffer(data)]
    )


def signature_matrix(values: pa.Array, num_perm: int) -> np.ndarray:
    """The (rows, num_perm) uint32 matrix of a binary array of signatures, without a copy."""
    if not len(values):
        return np.zeros((0, num_perm), np.uint32)
    width = np.int64 if pa.types.is_large_binary(values.type) else np.int32
    _validity, offsets, data = values.buffers()
    starts = np.frombuffer(offsets, width)[values.offset : values.offset + len(values) + 1]
    if not (np.diff(starts) == num_perm * 4).all():
        raise ValueError(f"a stored MinHash signature is not {num_perm} values long")
    raw = np.frombuffer(data, np.uint8)[starts[0] : starts[-1]]
    return raw.view("<u4").reshape(len(values), num_perm)


def band_rows(batches: Iterable[pa.RecordBatch], params: MinHashParams) -> Iterator[pa.RecordBatch]:
    """mapInArrow body: (doc_id, signature) rows in, one (doc_id, band, bucket) row per band out."""
    for batch in batches:
        if not batch.num_rows:
            continue
        buckets = band_buckets(signature_matrix(batch.column("signature"), params.num_perm), params)
        ids = batch.column("doc_id")
        yield pa.RecordBatch.from_arrays(
            [
                pc.take(ids, np.repeat(np.arange(len(ids)), params.bands)),
                pa.array(np.tile(np.arange(params.bands, dtype=np.int32), len(ids))),
                pa.array(buckets.reshape(-1)),
            ],
            schema=BAND_ROWS_SCHEMA,
        )


def signature_similarity(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The share of equal values of each pair of rows of two signature matrices: MinHash's
    estimate of their shingle sets' Jaccard, as datasketch's ``MinHash.jaccard`` computes it."""
    return np.count_nonzero(a == b, axis=1) / np.float64(a.shape[1])


def _scored(batch: pa.RecordBatch, compared: str, scores: pa.Array) -> pa.RecordBatch:
    """``batch`` without ``src_<compared>`` and ``dst_<compared>``, with the pairs' ``scores``
    as :data:`JACCARD`: the pair's other columns pass through, so the caller needs no join to
    get them back."""
    kept = [n for n in batch.schema.names if n not in (f"src_{compared}", f"dst_{compared}")]
    return pa.RecordBatch.from_arrays(
        [*(batch.column(n) for n in kept), scores], names=[*kept, JACCARD.name]
    )


def pair_signature_jaccard(
    batches: Iterable[pa.RecordBatch], params: MinHashParams
) -> Iterator[pa.RecordBatch]:
    """mapInArrow body: pairs with src_signature and dst_signature in, the same pairs with
    their estimated Jaccard instead out."""
    for batch in batches:
        if not batch.num_rows:
            continue
        left = signature_matrix(batch.column("src_signature"), params.num_perm)
        right = signature_matrix(batch.column("dst_signature"), params.num_perm)
        yield _scored(batch, "signature", pa.array(signature_similarity(left, right)))


def pair_jaccard(
    batches: Iterable[pa.RecordBatch], params: MinHashParams
) -> Iterator[pa.RecordBatch]:
    """mapInArrow body: pairs with src_text and dst_text in, the same pairs with their exact
    shingle Jaccard instead out."""
    for batch in batches:
        left = batch.column("src_text").to_pylist()
        right = batch.column("dst_text").to_pylist()
        scores = [
            jaccard(shingle_set(x or "", params), shingle_set(y or "", params))
            for x, y in zip(left, right, strict=True)
        ]
        yield _scored(batch, "text", pa.array(scores, pa.float64()))


def shingles(text: str, params: MinHashParams) -> list[str]:
    """The shingles as strings, by plain Python: what datasketch is given in the reference path."""
    words = shingle_text(pa.array([text or ""], pa.string()), params.normalization)[0].as_py()
    words = words.split()
    if not words:
        return []
    if params.char_shingles:
        joined, n = " ".join(words), params.ngram
        return [joined[i : i + n] for i in range(max(1, len(joined) - n + 1))]
    n = min(params.ngram, len(words))
    return [" ".join(words[i : i + n]) for i in range(len(words) - n + 1)]


def datasketch_hashfunc(params: MinHashParams) -> Callable[[bytes], int]:
    """datasketch ``hashfunc``: a UTF-8 shingle -> the low 32 bits of the kernel's shingle hash."""

    def word_shingle(shingle: bytes) -> int:
        data = np.frombuffer(shingle, np.uint8)
        bounds = [-1] + [i for i, c in enumerate(shingle) if c == 0x20] + [len(shingle)]
        words = np.array(
            [bytes_hash(data, s + 1, e) for s, e in itertools.pairwise(bounds)],
            np.uint64,
        )
        return int(_combine(words, 0, len(words)) & _MASK32)

    def char_shingle(shingle: bytes) -> int:
        return int(_polynomial_hash(np.frombuffer(shingle, np.uint8)) & _MASK32)

    return char_shingle if params.char_shingles else word_shingle
