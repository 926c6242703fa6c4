"""fastText's supervised prediction, compiled, over the model file memory-mapped.

``fasttext``'s own ``predict`` costs the quality stage about a fifth of its time: each text is
copied into C++, re-read through a stream one character at a time and looked up by string, and
every Python worker holds a private copy of the model's matrices (89 MB at dim 100 and
200,000 buckets). Here the texts stay code points, as :func:`gristmill.filters.quality_classifier
.normalize`'s compiled pass leaves them, the features are found by one compiled pass
(:func:`_probabilities`), and the matrices are read from the ``.bin`` file through ``mmap``, so
the workers of a machine share one copy in the page cache.

It computes what fastText computes, step by step and in fastText's floating-point order, so the
probabilities are bit for bit fastText's (``tests/test_quality_classifier.py`` holds them to
``fasttext``'s ``predict`` on real pages). For one line of text (fastText 0.9, ``dictionary.cc``,
``densematrix.cc``, ``loss.cc``):

- tokens are split on ``" \\n\\r\\t\\v\\f\\0"``; the end of the line adds the token ``</s>``;
- each token's hash is FNV-1a over its UTF-8 bytes, each byte sign-extended (``int8_t``); a
  token in the vocabulary adds its row, and with character n-grams (``maxn > 0``) so do the
  n-grams of ``<token>`` (``minn`` to ``maxn`` characters, none of one character at either end)
  at ``nwords + hash % bucket``, for a token outside the vocabulary too (not for ``</s>``);
- word n-grams (``wordNgrams``): for each token and each of the next ``wordNgrams - 1`` ones,
  ``h = h * 116049371 + hash`` over the hashes sign-extended to 64 bits, row ``nwords + h %
  bucket``; their rows come after every token's;
- hidden = the float32 sum of those rows in that order, times ``float(1 / rows)``; each label's
  score is the float32 dot product of its output row with it, in order; the softmax subtracts
  the largest score and exponentiates in double precision (``loss.cc`` calls ``exp`` on a
  float, which is C's double ``exp``), summing and dividing in float32;
- ``predict`` reports ``exp(log(p + 1e-5))`` (``std_log``, in double, rounded to float; then
  ``std::exp`` on that float), which is why a probability can read 1.00001.

Tokens cannot be labels here: the normalization splits ``_`` off as a word of its own, so no
token starts with ``__label__``. Models this does not cover (quantized ``.ftz`` files, losses other
than softmax, unsupervised models) are answered by ``fasttext`` itself (:func:`dense_model` says
None).
"""

from __future__ import annotations

import functools
import math
import mmap
import os
import struct
from dataclasses import dataclass

import numba
import numpy as np

from gristmill.pipeline.errors import UsageError

_MAGIC = 793712314
_VERSIONS = (11, 12)
_SUPERVISED = 3
_SOFTMAX = 3
_LABEL = 1  # entry_type::label
_EOS = np.frombuffer(b"</s>", np.uint8)  # the token at the end of every line
# dim ws epoch minCount neg wordNgrams loss model bucket minn maxn lrUpdateRate, then t
_ARGS = struct.Struct("<12id")
_DICTIONARY = struct.Struct("<3iqq")  # size nwords nlabels ntokens pruneidx_size
_MATRIX = struct.Struct("<qq")  # rows, columns
_FNV_OFFSET = np.uint32(2166136261)
_FNV_PRIME = np.uint32(16777619)
_NGRAM_PRIME = np.uint64(116049371)


@dataclass(frozen=True)
class DenseModel:
    """A supervised softmax model with dense matrices, its dictionary as arrays."""

    labels: tuple[str, ...]
    word_ngrams: int
    minn: int
    maxn: int
    vocab_bytes: np.ndarray  # uint8: every word's UTF-8 bytes, one after the other
    vocab_ends: np.ndarray  # int64: where word i's bytes end (they start at ends[i - 1])
    slots: np.ndarray  # int32: open-addressing table of word ids by hash, -1 free
    input: np.ndarray  # float32 (nwords + bucket, dim), memory-mapped
    output: np.ndarray  # float32 (labels, dim), memory-mapped

    def probabilities(self, cps: np.ndarray, ends: np.ndarray) -> np.ndarray:
        """What ``predict`` reports for each label (float32, a row per text; all 0 where
        fastText predicts nothing) for the texts whose code points are ``cps`` joined, text
        ``i`` ending at ``ends[i]``."""
        return _probabilities(
            cps, ends, self.vocab_bytes, self.vocab_ends, self.slots,
            self.word_ngrams, self.minn, self.maxn, self.input, self.output,
        )  # fmt: skip


@numba.njit(cache=True, inline="always")
def _hash(h: np.uint32, byte: np.uint8) -> np.uint32:
    """One FNV-1a step over a byte sign-extended to 32 bits, as fastText's ``hash`` (numba
    computes in 64 bits: the cast keeps the product to 32)."""
    return np.uint32((h ^ np.uint32(np.int32(np.int8(byte)))) * _FNV_PRIME)


@numba.njit(cache=True)
def _word_hash(word: np.ndarray) -> np.uint32:
    h = _FNV_OFFSET
    for b in word:
        h = _hash(h, b)
    return h


@numba.njit(cache=True, inline="always")
def _separates(c: int) -> bool:
    """fastText's token separators: space, \\n, \\r, \\t, \\v, \\f and \\0."""
    return c == 32 or c == 0 or 9 <= c <= 13


@numba.njit(cache=True)
def _utf8(cps: np.ndarray, out: np.ndarray) -> tuple[int, np.uint32]:
    """The UTF-8 bytes of ``cps`` into ``out`` (four per code point fit): their count and
    their hash."""
    k, h = 0, _FNV_OFFSET
    for c in cps:
        if c < 0x80:
            out[k] = c
            n = 1
        elif c < 0x800:
            out[k], out[k + 1] = 0xC0 | (c >> 6), 0x80 | (c & 0x3F)
            n = 2
        elif c < 0x10000:
            out[k], out[k + 1] = 0xE0 | (c >> 12), 0x80 | ((c >> 6) & 0x3F)
            out[k + 2] = 0x80 | (c & 0x3F)
            n = 3
        else:
            out[k], out[k + 1] = 0xF0 | (c >> 18), 0x80 | ((c >> 12) & 0x3F)
            out[k + 2], out[k + 3] = 0x80 | ((c >> 6) & 0x3F), 0x80 | (c & 0x3F)
            n = 4
        for b in range(k, k + n):
            h = _hash(h, out[b])
        k += n
    return k, h


@numba.njit(cache=True)
def _slots(vocab_bytes: np.ndarray, vocab_ends: np.ndarray) -> np.ndarray:
    """An open-addressing table of the word ids by hash, at most half full."""
    size = 16
    while size < 2 * vocab_ends.size:
        size *= 2
    slots = np.full(size, -1, np.int32)
    for i in range(vocab_ends.size):
        slot = np.int64(_word_hash(vocab_bytes[vocab_ends[i - 1] if i else 0 : vocab_ends[i]]))
        while slots[slot & (size - 1)] >= 0:
            slot += 1
        slots[slot & (size - 1)] = i
    return slots


@numba.njit(cache=True)
def _find(word: np.ndarray, h: np.uint32, vocab_bytes, vocab_ends, slots) -> int:
    """The id of the word with these bytes and hash, or -1."""
    mask = slots.size - 1
    slot = np.int64(h) & mask
    while slots[slot] >= 0:
        i = slots[slot]
        start = vocab_ends[i - 1] if i else 0
        if vocab_ends[i] - start == word.size:
            same = True
            for b in range(word.size):
                if vocab_bytes[start + b] != word[b]:
                    same = False
                    break
            if same:
                return i
        slot = (slot + 1) & mask
    return -1


@numba.njit(cache=True)
def _add_subwords(word, minn, maxn, nwords, buckets, rows, k):
    """fastText's ``computeSubwords`` over ``word`` (the bytes of ``<token>``): the rows of its
    character n-grams appended to ``rows`` from ``k``; the new end."""
    n_bytes = word.size
    for i in range(n_bytes):
        if word[i] & 0xC0 == 0x80:
            continue
        h = _FNV_OFFSET
        j, n = i, 1
        while j < n_bytes and n <= maxn:
            h = _hash(h, word[j])
            j += 1
            while j < n_bytes and word[j] & 0xC0 == 0x80:
                h = _hash(h, word[j])
                j += 1
            if n >= minn and not (n == 1 and (i == 0 or j == n_bytes)):
                rows[k] = nwords + np.int64(h % np.uint32(buckets))
                k += 1
            n += 1
    return k


@numba.njit(cache=True)
def _features(
    text, vocab_bytes, vocab_ends, slots, word_ngrams, minn, maxn, buckets, word, hashes, rows
):
    """The input rows of one text (fastText's ``getLine``) into ``rows``; their number.
    ``word``, ``hashes``: room for a token's bytes and for the text's token hashes."""
    nwords = vocab_ends.size
    k, t, i = 0, 0, 0
    while True:
        while i < text.size and _separates(text[i]):
            i += 1
        j = i
        while j < text.size and not _separates(text[j]):
            j += 1
        if j > i:
            n_bytes, hashes[t] = _utf8(text[i:j], word[1:])
        else:  # the end of the line
            n_bytes = _EOS.size
            for b in range(n_bytes):  # no slice assignment (see gopher_repetition._ngram_chars)
                word[1 + b] = _EOS[b]
            hashes[t] = _word_hash(word[1 : 1 + n_bytes])
        token = word[1 : 1 + n_bytes]
        wid = _find(token, hashes[t], vocab_bytes, vocab_ends, slots)
        t += 1
        if wid >= 0:
            rows[k] = wid
            k += 1
        if j == i:
            break
        if maxn > 0:
            word[0], word[n_bytes + 1] = 60, 62  # "<", ">"
            k = _add_subwords(word[: n_bytes + 2], minn, maxn, nwords, buckets, rows, k)
        i = j
    for a in range(t):
        h = np.uint64(np.int64(np.int32(hashes[a])))
        for b in range(a + 1, min(t, a + word_ngrams)):
            h = h * _NGRAM_PRIME + np.uint64(np.int64(np.int32(hashes[b])))
            rows[k] = nwords + np.int64(h % np.uint64(buckets))
            k += 1
    return k


@numba.njit(cache=True)
def _probabilities(cps, ends, vocab_bytes, vocab_ends, slots, word_ngrams, minn, maxn, wi, wo):
    buckets = wi.shape[0] - vocab_ends.size
    dim, labels = wi.shape[1], wo.shape[0]
    out = np.zeros((ends.size, labels), np.float32)
    longest = 0
    for d in range(ends.size):
        longest = max(longest, ends[d] - (ends[d - 1] if d else 0))
    word = np.empty(4 * longest + _EOS.size + 2, np.uint8)  # "<" + a token's bytes + ">"
    hashes = np.empty(longest + 1, np.uint32)
    # Per text: at most longest + 1 tokens, each with its word row and word n-gram rows, and
    # at most maxn character n-grams per byte of "<token>".
    rows = np.empty((longest + 1) * word_ngrams + (6 * longest + 8) * max(maxn, 0), np.int64)
    hidden = np.empty(dim, np.float32)
    scores = np.empty(labels, np.float32)
    for d in range(ends.size):
        text = cps[ends[d - 1] if d else 0 : ends[d]]
        k = _features(
            text,
            vocab_bytes,
            vocab_ends,
            slots,
            word_ngrams,
            minn,
            maxn,
            buckets,
            word,
            hashes,
            rows,
        )
        if k == 0:  # fastText predicts nothing
            continue
        hidden[:] = 0
        for r in rows[:k]:
            for c in range(dim):
                hidden[c] += wi[r, c]
        scale = np.float32(1.0 / k)
        for c in range(dim):
            hidden[c] *= scale
        for y in range(labels):
            s = np.float32(0)
            for c in range(dim):
                s += wo[y, c] * hidden[c]
            scores[y] = s
        top = scores[0]
        for y in range(labels):
            top = max(top, scores[y])
        z = np.float32(0)
        for y in range(labels):
            scores[y] = np.float32(math.exp(np.float64(scores[y] - top)))
            z += scores[y]
        for y in range(labels):
            out[d, y] = np.exp(np.float32(math.log(np.float64(scores[y] / z) + 1e-5)))
    return out


class ModelFileError(UsageError):
    """A file that is not a whole fastText model (``fasttext`` itself loads a cut-off one and
    answers 0.5 for every text)."""


def _damaged(path: str, data: mmap.mmap, why: str) -> ModelFileError:
    return ModelFileError(
        f"{path}: a fastText model cut short or damaged ({len(data)} bytes, {why})"
    )


def _read(path: str, data: mmap.mmap) -> tuple | None:
    """(labels, words, options, input offset, input shape, output offset, output shape) of a
    fastText file, or None where the kernel does not cover it."""
    magic, version = struct.unpack_from("<2i", data, 0)
    if magic != _MAGIC or version not in _VERSIONS:
        raise ModelFileError(f"{path}: not a fastText model (no fastText signature)")
    dim, _, _, _, _, word_ngrams, loss, model, bucket, minn, maxn, *_ = _ARGS.unpack_from(data, 8)
    if version == 11:
        maxn = 0  # fastText's rule for old supervised models
    offset = 8 + _ARGS.size
    size, nwords, nlabels, _, pruned = _DICTIONARY.unpack_from(data, offset)
    offset += _DICTIONARY.size
    words: list[bytes] = []
    labels: list[bytes] = []
    for _ in range(size):  # word, NUL, count (int64), type (int8)
        end = data.find(b"\0", offset)
        if end < 0:
            raise _damaged(path, data, "a dictionary word runs to the end")
        (words, labels)[data[end + 9] == _LABEL].append(data[offset:end])
        offset = end + 10
    if model != _SUPERVISED or loss != _SOFTMAX or pruned >= 0 or data[offset]:
        return None  # data[offset]: the input matrix is quantized
    if (len(words), len(labels)) != (nwords, nlabels):
        found = f"{len(words)} words and {len(labels)} labels"
        raise _damaged(path, data, f"{found}, where the header says {nwords} and {nlabels}")
    input_shape = _MATRIX.unpack_from(data, offset + 1)
    input_at = offset + 1 + _MATRIX.size
    output_flag = input_at + 4 * input_shape[0] * input_shape[1]
    if input_shape != (nwords + bucket, dim) or data[output_flag]:
        raise _damaged(path, data, "the input matrix does not fit the dictionary")
    output_shape = _MATRIX.unpack_from(data, output_flag + 1)
    output_at = output_flag + 1 + _MATRIX.size
    if output_shape != (len(labels), dim) or output_at + 4 * len(labels) * dim != len(data):
        raise _damaged(path, data, "the output matrix does not fit the labels or the file")
    options = (word_ngrams, minn, maxn)
    return labels, words, options, input_at, input_shape, output_at, output_shape


@functools.cache
def dense_model(path: str) -> DenseModel | None:
    """The model at ``path`` (a fastText ``.bin``), read once per process, or None where it is
    one this kernel does not cover (quantized, not softmax, not supervised); a file that is not
    a whole fastText model raises :class:`ModelFileError`."""
    with open(path, "rb") as f:
        if not os.fstat(f.fileno()).st_size:
            raise ModelFileError(f"{path}: empty, not a fastText model")
        with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as data:
            try:
                found = _read(path, data)
            except (struct.error, IndexError) as exc:  # read past the end
                raise _damaged(path, data, str(exc)) from None
    if found is None:
        return None
    labels, words, (word_ngrams, minn, maxn), input_at, input_shape, output_at, output_shape = found
    vocab_bytes = np.frombuffer(b"".join(words), np.uint8)
    vocab_ends = np.cumsum([len(w) for w in words], dtype=np.int64)
    # The matrices start where the dictionary ends, seldom at a multiple of 4 bytes: numba reads
    # them as it would aligned ones, which x86-64 and AArch64 loads allow.
    mapped = np.memmap(path, np.uint8, "r")
    return DenseModel(
        labels=tuple(label.decode() for label in labels),
        word_ngrams=word_ngrams,
        minn=minn,
        maxn=maxn,
        vocab_bytes=vocab_bytes,
        vocab_ends=vocab_ends,
        slots=_slots(vocab_bytes, vocab_ends),
        input=np.ndarray(input_shape, np.float32, mapped, input_at),
        output=np.ndarray(output_shape, np.float32, mapped, output_at),
    )
