"""Word n-grams as 64-bit hashes, with the character span each n-gram covers.

Words are the ``\\w+`` runs of the lower-cased text (GPT-3 lower-cases and drops punctuation
before matching 13-grams), except in the scripts written without spaces between words (Han,
kana, Thai, Lao, Khmer, Myanmar), where each character is a word: as a ``\\w+`` run a Chinese
clause was one word, so a Chinese question of a benchmark was a few "words" long and no 13-gram
of it could ever be cut from a page that copied it. A word's hash is FNV-1a over its code
points finished by MurmurHash3's finalizer (stable across processes, unlike ``hash()``),
computed for every word of a document in one compiled pass over its code points
(:func:`word_hashes`); an n-gram's hash is a polynomial of its words' hashes modulo 2**64,
computed for all positions at once with numpy. Character spans are only computed for documents
that match.
"""

from __future__ import annotations

import re

import numba
import numpy as np

from gristmill.filters.words import WORDCHAR, char_classes, code_points, fnv1a
from gristmill.pipeline.byte_hash import FNV_OFFSET, fmix64

# Stored n-gram hashes (the decontaminate stage's counts over batches) are only comparable under
# one word hash: part of that stage's digest, so a change redoes the stage once. 1 was BLAKE2b;
# 2 FNV-1a over every \w run; 3 each character of the scripts written without spaces a word.
HASH_VERSION = 3

# Code point ranges of the scripts written without spaces: Thai, Lao, Myanmar, Khmer, kana (with
# its half-width forms and extensions), CJK ideographs and their marks (々〆〇; extension A, the
# compatibility block and the supplementary planes' B-G).
_UNSPACED = (
    (0x0E00, 0x0EFF), (0x1000, 0x109F), (0x1780, 0x17FF), (0x3005, 0x3007), (0x3040, 0x30FF),
    (0x31F0, 0x31FF), (0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xF900, 0xFAFF), (0xFF66, 0xFF9F),
    (0x20000, 0x3134F),
)  # fmt: skip
_RANGES = "".join(f"\\U{lo:08x}-\\U{hi:08x}" for lo, hi in _UNSPACED)
_WORD = re.compile(rf"(?=[{_RANGES}])\w|(?:(?![{_RANGES}])\w)+")
_LOW, _HIGH = np.array(_UNSPACED, dtype=np.int64).T
MULTIPLIER = np.uint64(0x9E3779B97F4A7C15)  # odd, so multiplication is a bijection mod 2**64


def words(text: str) -> list[str]:
    """The words :func:`word_hashes` hashes, as strings."""
    return _WORD.findall(text.lower())


@numba.njit(cache=True)
def _unspaced(c: int, low: np.ndarray, high: np.ndarray) -> bool:
    if c < low[0]:  # below Thai: every Latin, Greek, Cyrillic, Arabic, Devanagari character
        return False
    for k in range(low.size):  # noqa: SIM110 (compiled: no generator)
        if low[k] <= c <= high[k]:
            return True
    return False


@numba.njit(cache=True)
def _run_hashes(
    cps: np.ndarray, table: np.ndarray, low: np.ndarray, high: np.ndarray
) -> np.ndarray:
    """The hash of every word of ``cps``: a run of word characters (``\\w``), or one word
    character of a script written without spaces."""
    out = np.empty(cps.size + 1, np.uint64)
    n, i = 0, 0
    while i < cps.size:
        if not table[cps[i]] & WORDCHAR:
            i += 1
            continue
        start = i
        if _unspaced(cps[i], low, high):
            i += 1
        else:
            while i < cps.size and table[cps[i]] & WORDCHAR and not _unspaced(cps[i], low, high):
                i += 1
        out[n] = fmix64(fnv1a(cps, start, i, FNV_OFFSET))
        n += 1
    return out[:n]


def word_hashes(text: str) -> np.ndarray:
    """The hash of each of ``words(text)``, in order."""
    return _run_hashes(code_points(text.lower()), char_classes(), _LOW, _HIGH)


def word_spans(text: str) -> tuple[np.ndarray, np.ndarray]:
    """[start, end) offsets in ``text`` of each of ``words(text)``."""
    lowered = text.lower()
    spans = np.array([m.span() for m in _WORD.finditer(lowered)], dtype=np.int64).reshape(-1, 2)
    if len(lowered) != len(text):  # a few characters lower-case to two (e.g. "İ"): map back
        origin = np.repeat(np.arange(len(text)), [len(c.lower()) for c in text])
        spans = np.append(origin, len(text))[spans]
    return spans[:, 0], spans[:, 1]


def ngram_hashes(hashed: np.ndarray, n: int) -> np.ndarray:
    """Hash of the words ``i .. i+n-1`` for every i, given the words' hashes (empty when there
    are fewer than n words)."""
    if len(hashed) < n:
        return np.empty(0, dtype=np.uint64)
    count = len(hashed) - n + 1
    result = np.zeros(count, dtype=np.uint64)
    for k in range(n):
        result = result * MULTIPLIER + hashed[k : k + count]
    return result


def text_ngram_hashes(text: str, n: int) -> np.ndarray:
    return ngram_hashes(word_hashes(text), n)


def gram_hashes(hashed: np.ndarray, lengths: tuple[int, ...]) -> np.ndarray:
    """The hashes of every k-gram of the words with these hashes for each k in ``lengths`` (as
    :func:`ngram_hashes` gives them), in one pass: the k-gram hashes are the (k-1)-gram hashes
    times the multiplier plus the next word's, so all lengths up to the longest cost what the
    longest alone does, bar the lookups."""
    if not lengths or not len(hashed):
        return np.empty(0, dtype=np.uint64)
    found = []
    result = np.zeros(len(hashed), dtype=np.uint64)
    for k in range(1, min(max(lengths), len(hashed)) + 1):
        count = len(hashed) - k + 1
        result = result[:count] * MULTIPLIER + hashed[k - 1 : k - 1 + count]
        if k in lengths:
            found.append(result)
    return np.concatenate(found) if found else np.empty(0, dtype=np.uint64)
