"""Word n-grams as 64-bit hashes, with the character span each n-gram covers.

Words are the ``\\w+`` runs of the lower-cased text (GPT-3 lower-cases and drops punctuation
before matching 13-grams). A word is hashed with BLAKE2b (stable across processes, unlike
``hash()``) once per process — words repeat, so a bounded cache turns most of them into a dict
lookup — and an n-gram's hash is a polynomial of its words' hashes modulo 2**64, computed for all
positions at once with numpy. Character spans are only computed for documents that match.
"""

from __future__ import annotations

import hashlib
import re

import numpy as np

_WORD = re.compile(r"\w+")
_MULTIPLIER = np.uint64(0x9E3779B97F4A7C15)  # odd, so multiplication is a bijection mod 2**64


_CACHE_LIMIT = 1 << 20
_word_hashes: dict[str, int] = {}


def word_hash(word: str) -> int:
    return int.from_bytes(hashlib.blake2b(word.encode(), digest_size=8).digest(), "little")


def words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def word_spans(text: str) -> tuple[np.ndarray, np.ndarray]:
    """[start, end) offsets in ``text`` of each of ``words(text)``."""
    lowered = text.lower()
    spans = np.array([m.span() for m in _WORD.finditer(lowered)], dtype=np.int64).reshape(-1, 2)
    if len(lowered) != len(text):  # a few characters lower-case to two (e.g. "İ"): map back
        origin = np.repeat(np.arange(len(text)), [len(c.lower()) for c in text])
        spans = np.append(origin, len(text))[spans]
    return spans[:, 0], spans[:, 1]


def _hashed(tokens: list[str]) -> np.ndarray:
    cache = _word_hashes
    if len(cache) > _CACHE_LIMIT:
        cache.clear()
    out = []
    for w in tokens:
        h = cache.get(w)
        if h is None:
            h = cache[w] = word_hash(w)
        out.append(h)
    return np.array(out, dtype=np.uint64)


def ngram_hashes(tokens: list[str], n: int) -> np.ndarray:
    """Hash of ``tokens[i:i+n]`` for every i (empty when there are fewer than n tokens)."""
    if len(tokens) < n:
        return np.empty(0, dtype=np.uint64)
    hashed = _hashed(tokens)
    count = len(tokens) - n + 1
    result = np.zeros(count, dtype=np.uint64)
    for k in range(n):
        result = result * _MULTIPLIER + hashed[k : k + count]
    return result


def text_ngram_hashes(text: str, n: int) -> np.ndarray:
    return ngram_hashes(words(text), n)


def gram_hashes(tokens: list[str], lengths: tuple[int, ...]) -> np.ndarray:
    """The hashes of every k-gram of ``tokens`` for each k in ``lengths`` (as
    :func:`ngram_hashes` gives them), in one pass: the k-gram hashes are the (k-1)-gram hashes
    times the multiplier plus the next word's, so all lengths up to the longest cost what the
    longest alone does, bar the lookups."""
    if not lengths or not tokens:
        return np.empty(0, dtype=np.uint64)
    hashed = _hashed(tokens)
    found = []
    result = np.zeros(len(tokens), dtype=np.uint64)
    for k in range(1, min(max(lengths), len(tokens)) + 1):
        count = len(tokens) - k + 1
        result = result[:count] * _MULTIPLIER + hashed[k - 1 : k - 1 + count]
        if k in lengths:
            found.append(result)
    return np.concatenate(found) if found else np.empty(0, dtype=np.uint64)
