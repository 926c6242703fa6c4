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

A token that starts with ``__label__`` is a label to fastText, not a word: it adds nothing
(the quality classifier's normalization splits ``_`` off, so none reaches it there; a page's
text for language ID may hold one).

Quantized models (``.ftz``, ``fasttext quantize``) and hierarchical softmax are covered too, as
language ID's lid.176.ftz uses both (``quantmatrix.cc``, ``productquantizer.cc``, ``loss.cc``):

- a quantized input row is a product-quantizer code per sub-vector, times the row's norm where
  the norm is quantized too (``qnorm``); fastText adds ``norm * centroid`` element by element, so
  the rows decoded once into float32 (:func:`_decoded`) sum to the same floats;
- a pruned dictionary (``cutoff``) keeps a few of the n-gram buckets, renumbered: an n-gram in
  another bucket adds no row (``Dictionary::pushHash``);
- hierarchical softmax's ``predict`` walks the Huffman tree of the label counts depth first,
  left child first, with fastText's pruning, in float32 (:func:`_tree_top`): the top label and
  ``exp`` of its log-probability, what ``predict(k=1)`` answers.

Models this does not cover (losses other than softmax and hierarchical softmax, a quantized
output matrix, unsupervised models) are answered by ``fasttext`` itself (:func:`compiled_model`
says None). On lid.176.ftz (its matrices decoded take 3.2 MB), language ID of the 1,356 shared
real pages' texts takes 145 against fastText's 309 us a text (seven alternated runs), and ingest
in one process 8.2-8.6 against 8.6-9.0 s. Most of what is left is hashing every character n-gram
of every token (5,000 a text, 93% of them pruned).
"""

from __future__ import annotations

import functools
import math
import mmap
import os
import struct
from dataclasses import dataclass

import numpy as np

from gristmill.filters.utf8 import write_point
from gristmill.pipeline.errors import UsageError
from gristmill.pipeline.kernels import njit, prefetch

_MAGIC = 793712314
_VERSIONS = (11, 12)
_SUPERVISED = 3
_HIERARCHICAL, _SOFTMAX = 1, 3
_LABEL = 1  # entry_type::label
_EOS = np.frombuffer(b"</s>", np.uint8)  # the token at the end of every line
_LABEL_PREFIX = np.frombuffer(b"__label__", np.uint8)
# dim ws epoch minCount neg wordNgrams loss model bucket minn maxn lrUpdateRate, then t
_ARGS = struct.Struct("<12id")
_DICTIONARY = struct.Struct("<3iqq")  # size nwords nlabels ntokens pruneidx_size
_MATRIX = struct.Struct("<qq")  # rows, columns
_QUANTIZER = struct.Struct("<4i")  # dim nsubq dsub lastdsub, then 256 centroids per sub-vector
_CENTROIDS = 256
_FNV_OFFSET = np.uint32(2166136261)
_FNV_PRIME = np.uint32(16777619)
_NGRAM_PRIME = np.uint64(116049371)
_NO_BUCKETS = np.empty(0, np.int64)  # the bucket table of a model that prunes none
# Rows asked for this many steps before they are summed (:func:`_hidden`): a quality classifier's
# rows (400 bytes at dim 100, of an 84 MB matrix) are read in the order of the text's words, a
# cache miss each. On the 1,356 shared real pages the kernel took 114-129 us a page against
# 148-167 without (alternated; 12 ahead did no better in a trial): the same floats, summed in the
# same order.
_AHEAD = 8


@dataclass(frozen=True)
class CompiledModel:
    """A supervised model (softmax or hierarchical softmax) as arrays: its dictionary, and its
    matrices dense, memory-mapped from the file or decoded from its quantized rows."""

    labels: tuple[str, ...]
    word_ngrams: int
    minn: int
    maxn: int
    vocab_bytes: np.ndarray  # uint8: every word's UTF-8 bytes, one after the other
    vocab_ends: np.ndarray  # int64: where word i's bytes end (they start at ends[i - 1])
    slots: np.ndarray  # int32: open-addressing table of word ids by hash, -1 free
    buckets: int  # the n-gram buckets hashes are taken modulo
    # The buckets a pruned model keeps (:func:`_bucket_table`); empty for one that prunes none.
    kept_buckets: np.ndarray
    input: np.ndarray  # float32 (rows, dim)
    output: np.ndarray  # float32 (labels, dim)
    # Hierarchical softmax: the Huffman tree's children, int32 (2 * labels - 1, 2), -1 at a
    # leaf; empty for softmax.
    tree: np.ndarray

    def _inputs(self) -> tuple:
        """What :func:`_hidden` reads of the model, as one argument of the kernels."""
        return (
            self.vocab_bytes, self.vocab_ends, self.slots, self.word_ngrams, self.minn,
            self.maxn, self.buckets, self.kept_buckets, self.input,
        )  # fmt: skip

    def probabilities(self, cps: np.ndarray, ends: np.ndarray) -> np.ndarray:
        """What ``predict`` reports for each label of a softmax model (float32, a row per text;
        all 0 where fastText predicts nothing) for the texts whose code points are ``cps``
        joined, text ``i`` ending at ``ends[i]``."""
        if self.tree.size:
            raise ValueError("a hierarchical softmax model has no probability table")
        return _probabilities(cps, ends, self._inputs(), self.output)

    def top(self, cps: np.ndarray, ends: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``predict(k=1)`` of a hierarchical softmax model for each text: the label's index
        (-1 where fastText predicts nothing) and its probability (float32)."""
        if not self.tree.size:
            raise ValueError("top() walks a hierarchical softmax model's tree")
        return _tree_top(cps, ends, self._inputs(), self.output, self.tree)


@njit(inline="always")
def _hash(h: np.uint32, byte: np.uint8) -> np.uint32:
    """One FNV-1a step over a byte sign-extended to 32 bits, as fastText's ``hash`` (numba
    computes in 64 bits: the cast keeps the product to 32)."""
    return np.uint32((h ^ np.uint32(np.int32(np.int8(byte)))) * _FNV_PRIME)


@njit
def _word_hash(word: np.ndarray) -> np.uint32:
    h = _FNV_OFFSET
    for b in word:
        h = _hash(h, b)
    return h


@njit(inline="always")
def _separates(c: int) -> bool:
    """fastText's token separators: space, \\n, \\r, \\t, \\v, \\f and \\0."""
    return c == 32 or c == 0 or 9 <= c <= 13


@njit
def _utf8(cps: np.ndarray, out: np.ndarray) -> tuple[int, np.uint32]:
    """The UTF-8 bytes of ``cps`` into ``out`` (four per code point fit): their count and
    their hash."""
    k, h = 0, _FNV_OFFSET
    for c in cps:
        end = write_point(c, out, k)
        for b in range(k, end):
            h = _hash(h, out[b])
        k = end
    return k, h


@njit
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


def _bucket_table(pairs: np.ndarray, buckets: int) -> np.ndarray:
    """The kept buckets (``pairs``: int32 (n, 2), bucket and its row among them) as one int64
    array: a bitmap of the buckets (``buckets`` bits, 244 KB for lid.176's 2,000,000), which
    answers most n-grams (93% of lid.176's are pruned) from the cache, then an open-addressing
    table at most half full of ``bucket << 32 | row``, keyed by the bucket's low bits (a hash
    already), -1 free."""
    words = (buckets + 63) // 64
    size = 16
    while size < 2 * len(pairs):
        size *= 2
    table = np.zeros(words + size, np.int64)
    table[words:] = -1
    _fill_buckets(pairs, table, words)
    return table


@njit
def _fill_buckets(pairs: np.ndarray, table: np.ndarray, words: int) -> None:
    """:func:`_bucket_table`'s bitmap bits and entries, compiled: in Python, lid.176's buckets
    took 0.15 s of every process that identifies languages."""
    mask = table.size - words - 1
    for k in range(pairs.shape[0]):
        bucket, row = np.int64(pairs[k, 0]), np.int64(pairs[k, 1])
        table[bucket >> 6] |= np.int64(1) << (bucket & 63)
        slot = bucket & mask
        while table[words + slot] >= 0:
            slot = (slot + 1) & mask
        table[words + slot] = bucket << 32 | row


@njit(inline="always")
def _bucket_row(bucket: int, nwords: int, buckets: int, kept: np.ndarray) -> int:
    """The input row of an n-gram bucket (``Dictionary::pushHash``), -1 where pruning dropped
    it."""
    if kept.size == 0:
        return nwords + bucket
    if not (kept[bucket >> 6] >> (bucket & 63)) & 1:
        return -1
    words = (buckets + 63) // 64
    mask = kept.size - words - 1
    slot = bucket & mask
    while kept[words + slot] >= 0:
        if kept[words + slot] >> 32 == bucket:
            return nwords + (kept[words + slot] & 0xFFFFFFFF)
        slot = (slot + 1) & mask
    return -1


@njit
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


@njit
def _add_subwords(word, minn, maxn, nwords, buckets, kept, rows, k):
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
                row = _bucket_row(np.int64(h % np.uint32(buckets)), nwords, buckets, kept)
                if row >= 0:
                    rows[k] = row
                    k += 1
            n += 1
    return k


@njit(inline="always")
def _is_label(token: np.ndarray) -> bool:
    """Whether a token starts with fastText's label prefix, ``__label__``."""
    if token.size < _LABEL_PREFIX.size or token[0] != 95:  # "_": seldom past here
        return False
    return bool((token[: _LABEL_PREFIX.size] == _LABEL_PREFIX).all())


@njit
def _features(
    text, vocab_bytes, vocab_ends, slots, word_ngrams, minn, maxn, buckets, kept, word, hashes,
    rows,
):  # fmt: skip
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
        if _is_label(token):  # fastText reads it as a label: no word, no n-grams
            i = j
            continue
        wid = _find(token, hashes[t], vocab_bytes, vocab_ends, slots)
        t += 1
        if wid >= 0:
            rows[k] = wid
            k += 1
        if j == i:
            break
        if maxn > 0:
            word[0], word[n_bytes + 1] = 60, 62  # "<", ">"
            k = _add_subwords(word[: n_bytes + 2], minn, maxn, nwords, buckets, kept, rows, k)
        i = j
    for a in range(t):
        h = np.uint64(np.int64(np.int32(hashes[a])))
        for b in range(a + 1, min(t, a + word_ngrams)):
            h = h * _NGRAM_PRIME + np.uint64(np.int64(np.int32(hashes[b])))
            row = _bucket_row(np.int64(h % np.uint64(buckets)), nwords, buckets, kept)
            if row >= 0:
                rows[k] = row
                k += 1
    return k


@njit
def _room(ends: np.ndarray, model: tuple) -> tuple:
    """Scratch arrays for the longest text: a token's bytes with "<" and ">", the token
    hashes, the rows (per token its word row and word n-gram rows, and at most maxn character
    n-grams per byte of "<token>")."""
    _, _, _, word_ngrams, _, maxn, _, _, _ = model
    longest = 0
    for d in range(ends.size):
        longest = max(longest, ends[d] - (ends[d - 1] if d else 0))
    word = np.empty(4 * longest + _EOS.size + 2, np.uint8)
    hashes = np.empty(longest + 1, np.uint32)
    rows = np.empty((longest + 1) * word_ngrams + (6 * longest + 8) * max(maxn, 0), np.int64)
    return word, hashes, rows


@njit
def _hidden(text, model, word, hashes, rows, hidden) -> bool:
    """fastText's ``computeHidden`` for one text into ``hidden``: the float32 sum of its rows
    (:func:`_features`) in order, times 1 / rows; False where it has no row (fastText then
    predicts nothing). ``model``: :meth:`CompiledModel._inputs`."""
    vocab_bytes, vocab_ends, slots, word_ngrams, minn, maxn, buckets, kept, wi = model
    k = _features(
        text, vocab_bytes, vocab_ends, slots, word_ngrams, minn, maxn, buckets, kept, word,
        hashes, rows,
    )  # fmt: skip
    if k == 0:
        return False
    for c in range(hidden.size):
        hidden[c] = 0
    for j in range(k):
        if j + _AHEAD < k:  # the row _AHEAD steps on, each of its cache lines
            for c in range(0, hidden.size, 16):
                prefetch(wi, rows[j + _AHEAD], c)
        r = rows[j]
        for c in range(hidden.size):
            hidden[c] += wi[r, c]
    scale = np.float32(1.0 / k)
    for c in range(hidden.size):
        hidden[c] *= scale
    return True


@njit(inline="always")
def _dot(wo: np.ndarray, y: int, hidden: np.ndarray) -> np.float32:
    """Output row ``y`` times the hidden vector (``dotRow``), in order, in float32."""
    s = np.float32(0)
    for c in range(hidden.size):
        s += wo[y, c] * hidden[c]
    return s


@njit(inline="always")
def _std_log(x: np.float64) -> np.float32:
    """``loss.cc``'s ``std_log``: log(x + 1e-5) in double, of x taken as a float."""
    return np.float32(math.log(np.float64(np.float32(x)) + 1e-5))


@njit
def _probabilities(cps, ends, model, wo):
    labels = wo.shape[0]
    out = np.zeros((ends.size, labels), np.float32)
    word, hashes, rows = _room(ends, model)
    hidden = np.empty(wo.shape[1], np.float32)
    scores = np.empty(labels, np.float32)
    for d in range(ends.size):
        if not _hidden(cps[ends[d - 1] if d else 0 : ends[d]], model, word, hashes, rows, hidden):
            continue  # fastText predicts nothing
        for y in range(labels):
            scores[y] = _dot(wo, y, hidden)
        top = scores[0]
        for y in range(labels):
            top = max(top, scores[y])
        z = np.float32(0)
        for y in range(labels):
            scores[y] = np.float32(math.exp(np.float64(scores[y] - top)))
            z += scores[y]
        for y in range(labels):
            out[d, y] = np.exp(_std_log(scores[y] / z))
    return out


@njit
def _tree_top(cps, ends, model, wo, tree):
    """``HierarchicalSoftmaxLoss::predict`` with k = 1 and threshold 0 for each text: the
    depth-first walk, left child first, that skips a node scoring under log(1e-5) or under the
    best leaf so far, a leaf scoring as high as the best replacing it (the heap's order)."""
    labels = wo.shape[0]
    found = np.full(ends.size, -1, np.int32)
    probability = np.zeros(ends.size, np.float32)
    word, hashes, rows = _room(ends, model)
    hidden = np.empty(wo.shape[1], np.float32)
    floor = _std_log(0.0)
    nodes = np.empty(tree.shape[0] + 1, np.int64)
    scores = np.empty(tree.shape[0] + 1, np.float32)
    for d in range(ends.size):
        if not _hidden(cps[ends[d - 1] if d else 0 : ends[d]], model, word, hashes, rows, hidden):
            continue
        best, best_score = -1, np.float32(0)
        nodes[0], scores[0], n = tree.shape[0] - 1, np.float32(0), 1
        while n:
            n -= 1
            node, score = nodes[n], scores[n]
            if score < floor or (best >= 0 and score < best_score):
                continue
            if tree[node, 0] == -1 and tree[node, 1] == -1:
                best, best_score = node, score
                continue
            f = _dot(wo, node - labels, hidden)
            f = np.float32(1.0 / np.float64(np.float32(1) + np.exp(-f)))
            # the right child waits under the left one, as the recursion's second call does
            nodes[n], scores[n] = tree[node, 1], score + _std_log(f)
            nodes[n + 1], scores[n + 1] = tree[node, 0], score + _std_log(1.0 - np.float64(f))
            n += 2
        found[d] = best
        probability[d] = np.exp(best_score)
    return found, probability


def _huffman_tree(counts: list[int]) -> np.ndarray:
    """``HierarchicalSoftmaxLoss::buildTree`` over the label counts (fastText sorts them by
    count, most frequent first): each inner node joins the two least counted of the leaves and
    inner nodes not yet joined, the leaf first on equal counts only where it counts less."""
    labels = len(counts)
    tree = np.full((2 * labels - 1, 2), -1, np.int32)
    count = list(counts) + [10**15] * (labels - 1)
    leaf, node = labels - 1, labels
    for i in range(labels, 2 * labels - 1):
        pair = []
        for _ in range(2):
            if leaf >= 0 and count[leaf] < count[node]:
                pair.append(leaf)
                leaf -= 1
            else:
                pair.append(node)
                node += 1
        tree[i] = pair
        count[i] = count[pair[0]] + count[pair[1]]
    return tree


class ModelFileError(UsageError):
    """A file that is not a whole fastText model (``fasttext`` itself loads a cut-off one and
    answers 0.5 for every text)."""


def _damaged(path: str, data: mmap.mmap, why: str) -> ModelFileError:
    return ModelFileError(
        f"{path}: a fastText model cut short or damaged ({len(data)} bytes, {why})"
    )


class _Reader:
    """The file read in order, as fastText's ``loadModel`` reads it."""

    def __init__(self, path: str, data: mmap.mmap) -> None:
        self.path, self.data, self.at = path, data, 0

    def take(self, layout: struct.Struct) -> tuple:
        values = layout.unpack_from(self.data, self.at)
        self.at += layout.size
        return values

    def array(self, dtype: type, count: int) -> np.ndarray:
        """``count`` values from here, memory-mapped (not read)."""
        size = np.dtype(dtype).itemsize * count
        if self.at + size > len(self.data):
            raise _damaged(self.path, self.data, "a matrix runs past the end")
        mapped = np.memmap(self.path, np.uint8, "r")
        # The matrices start where the dictionary ends, seldom at a multiple of 4 bytes: numba
        # reads them as it would aligned ones, which x86-64 and AArch64 loads allow.
        values = np.ndarray((count,), dtype, mapped, self.at)
        self.at += size
        return values

    def flag(self) -> bool:
        self.at += 1
        return bool(self.data[self.at - 1])

    def dense(self) -> np.ndarray:
        rows, columns = self.take(_MATRIX)
        return self.array(np.float32, rows * columns).reshape(rows, columns)

    def quantized(self) -> tuple[np.ndarray, np.ndarray]:
        """A ``QuantMatrix``: its rows' centroids decoded (float32 (rows, dim)) and each row's
        norm (1 without ``qnorm``)."""
        qnorm = self.flag()
        rows, dim = self.take(_MATRIX)
        (codesize,) = self.take(struct.Struct("<i"))
        codes = self.array(np.uint8, codesize)
        centroids = self._centroids(dim)
        norms = np.ones(rows, np.float32)
        if qnorm:
            norm_codes = self.array(np.uint8, rows)
            norms = self._centroids(1)(norm_codes[:, None])[:, 0]
        return centroids(codes.reshape(rows, -1)), norms

    def _centroids(self, dim: int):
        """A ``ProductQuantizer``: a function from codes (uint8 (rows, nsubq)) to vectors."""
        qdim, nsubq, dsub, lastdsub = self.take(_QUANTIZER)
        if qdim != dim or (nsubq - 1) * dsub + lastdsub != dim:
            raise _damaged(self.path, self.data, "a quantizer does not fit its matrix")
        table = self.array(np.float32, dim * _CENTROIDS)

        def decode(codes: np.ndarray) -> np.ndarray:
            parts = []
            for m in range(nsubq):
                d = lastdsub if m == nsubq - 1 else dsub
                block = table[m * _CENTROIDS * dsub : m * _CENTROIDS * dsub + _CENTROIDS * d]
                parts.append(block.reshape(_CENTROIDS, d)[codes[:, m]])
            return np.concatenate(parts, axis=1)

        return decode


def _decoded(centroids: np.ndarray, norms: np.ndarray) -> np.ndarray:
    """A quantized input matrix's rows as ``addcode`` adds them: ``norm * centroid`` in float32
    (the product fastText computes before each addition, so the sums are the same floats)."""
    return np.ascontiguousarray(norms[:, None] * centroids, dtype=np.float32)


def _read(path: str, data: mmap.mmap) -> CompiledModel | None:
    """The model in a fastText file, or None where the kernels do not cover it."""
    f = _Reader(path, data)
    magic, version = f.take(struct.Struct("<2i"))
    if magic != _MAGIC or version not in _VERSIONS:
        raise ModelFileError(f"{path}: not a fastText model (no fastText signature)")
    dim, _, _, _, _, word_ngrams, loss, model, bucket, minn, maxn, *_ = f.take(_ARGS)
    if version == 11:
        maxn = 0  # fastText's rule for old supervised models
    size, nwords, nlabels, _, pruned = f.take(_DICTIONARY)
    words: list[bytes] = []
    labels: list[bytes] = []
    counts: list[int] = []
    for _ in range(size):  # word, NUL, count (int64), type (int8)
        end = data.find(b"\0", f.at)
        if end < 0:
            raise _damaged(path, data, "a dictionary word runs to the end")
        if data[end + 9] == _LABEL:
            labels.append(data[f.at : end])
            counts.append(struct.unpack_from("<q", data, end + 1)[0])
        else:
            words.append(data[f.at : end])
        f.at = end + 10
    if model != _SUPERVISED or loss not in (_SOFTMAX, _HIERARCHICAL):
        return None
    if (len(words), len(labels)) != (nwords, nlabels):
        found = f"{len(words)} words and {len(labels)} labels"
        raise _damaged(path, data, f"{found}, where the header says {nwords} and {nlabels}")
    kept = _NO_BUCKETS
    if pruned >= 0:  # pairs (bucket, its row among the kept ones)
        kept = _bucket_table(f.array(np.int32, 2 * pruned).reshape(-1, 2), bucket)
    rows = nwords + (bucket if pruned < 0 else pruned)
    quantized = f.flag()
    wi = _decoded(*f.quantized()) if quantized else f.dense()
    if wi.shape != (rows, dim):
        raise _damaged(path, data, "the input matrix does not fit the dictionary")
    if f.flag() and quantized:  # qout: the output matrix quantized too
        return None
    wo = f.dense()
    if wo.shape != (nlabels, dim) or f.at != len(data):
        raise _damaged(path, data, "the output matrix does not fit the labels or the file")
    vocab_bytes = np.frombuffer(b"".join(words), np.uint8)
    vocab_ends = np.cumsum([len(w) for w in words], dtype=np.int64)
    return CompiledModel(
        labels=tuple(label.decode() for label in labels),
        word_ngrams=word_ngrams,
        minn=minn,
        maxn=maxn,
        vocab_bytes=vocab_bytes,
        vocab_ends=vocab_ends,
        slots=_slots(vocab_bytes, vocab_ends),
        buckets=bucket,
        kept_buckets=kept,
        input=wi,
        output=wo,
        tree=_huffman_tree(counts) if loss == _HIERARCHICAL else np.empty((0, 2), np.int32),
    )


@functools.cache
def compiled_model(path: str) -> CompiledModel | None:
    """The model at ``path`` (a fastText ``.bin`` or ``.ftz``), read once per process, or None
    where it is one the kernels do not cover (a loss other than softmax and hierarchical
    softmax, not supervised); a file that is not a whole fastText model raises
    :class:`ModelFileError`."""
    with open(path, "rb") as f:
        if not os.fstat(f.fileno()).st_size:
            raise ModelFileError(f"{path}: empty, not a fastText model")
        with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as data:
            try:
                return _read(path, data)
            except (struct.error, IndexError, ValueError) as exc:  # read past the end
                raise _damaged(path, data, str(exc)) from None
