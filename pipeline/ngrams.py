"""Word n-grams as 64-bit hashes, with the character span each n-gram covers.

Words are ``\\w+`` runs, lower-cased (GPT-3 lower-cases and drops punctuation before matching
13-grams). A word is hashed once with BLAKE2b (stable across processes, unlike ``hash()``), and an
n-gram's hash is a polynomial of its words' hashes modulo 2**64, computed for all positions at once
with numpy, so a document costs one pass over its words, not one hash call per n-gram.
"""

from __future__ import annotations

import hashlib
import re

import numpy as np

_WORD = re.compile(r"\w+")
_MULTIPLIER = np.uint64(0x9E3779B97F4A7C15)  # odd, so multiplication is a bijection mod 2**64


def word_hash(word: str) -> int:
    return int.from_bytes(hashlib.blake2b(word.encode(), digest_size=8).digest(), "little")


def words_with_spans(text: str) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Lower-cased words and their [start, end) character offsets in ``text``."""
    matches = list(_WORD.finditer(text))
    words = [m.group().lower() for m in matches]
    starts = np.fromiter((m.start() for m in matches), dtype=np.int64, count=len(matches))
    ends = np.fromiter((m.end() for m in matches), dtype=np.int64, count=len(matches))
    return words, starts, ends


def ngram_hashes(words: list[str], n: int) -> np.ndarray:
    """Hash of ``words[i:i+n]`` for every i (empty when there are fewer than n words)."""
    if len(words) < n:
        return np.empty(0, dtype=np.uint64)
    cache: dict[str, int] = {}
    hashed = np.fromiter(
        (cache.setdefault(w, word_hash(w)) if w not in cache else cache[w] for w in words),
        dtype=np.uint64,
        count=len(words),
    )
    count = len(words) - n + 1
    result = np.zeros(count, dtype=np.uint64)
    for k in range(n):
        result = result * _MULTIPLIER + hashed[k : k + count]
    return result


def text_ngram_hashes(text: str, n: int) -> np.ndarray:
    return ngram_hashes(words_with_spans(text)[0], n)
