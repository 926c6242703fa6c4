"""Word n-grams as 64-bit hashes, with the character span each n-gram covers.

Words are cut from the folded text: each character replaced by its compatibility decomposition,
lower-cased (NFKD, so full-width letters, ligatures, precomposed and combining accents read
alike, and a final sigma as a sigma), and format characters (zero-width spaces and joiners, soft
hyphens, bidirectional marks, tags) removed. GPT-3 lower-cases and drops punctuation before
matching 13-grams; folding also keeps a copied question from hiding behind invisible characters
inside its words, full-width forms or another normalization form of its accents. A word is a run
of word characters (``\\w`` and combining marks), except in the scripts written without spaces
between words (Han, kana, Thai, Lao, Khmer, Myanmar), where each character, with its marks, is
a word: as a run a Chinese clause was one word, so no 13-gram of a Chinese question of a
benchmark could ever be cut from a page that copied it. A word's hash is FNV-1a over its folded
code points finished by MurmurHash3's finalizer (stable across processes, unlike ``hash()``);
folding, cutting and hashing are one compiled pass over the text's code points, which also
keeps where each folded character came from, so that a match's span is in the original text.
An n-gram's hash is a polynomial of its words' hashes modulo 2**64, computed for all positions
at once with numpy.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence

import numpy as np

from gristmill.filters.nfkc import KEPT, Forms, forms_table
from gristmill.filters.words import (
    WORD,
    WORDCHAR,
    char_classes,
    code_points,
    fnv1a,
    from_code_points,
)
from gristmill.pipeline.byte_hash import FNV_OFFSET, fmix64
from gristmill.pipeline.kernels import njit, stored_table

# Stored n-gram hashes (the decontaminate stage's counts over batches) are only comparable under
# one word hash: part of that stage's digest, so a change redoes the stage once. 1 was BLAKE2b;
# 2 FNV-1a over every \w run; 3 each character of the scripts written without spaces a word;
# 4 words of the folded text (NFKD, lower case, no format characters).
HASH_VERSION = 4

# Code point ranges of the scripts written without spaces: Thai, Lao, Myanmar, Khmer, kana (with
# its half-width forms and extensions), CJK ideographs and their marks (々〆〇; extension A, the
# compatibility block and the supplementary planes' B-G).
_UNSPACED = (
    (0x0E00, 0x0EFF), (0x1000, 0x109F), (0x1780, 0x17FF), (0x3005, 0x3007), (0x3040, 0x30FF),
    (0x31F0, 0x31FF), (0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xF900, 0xFAFF), (0xFF66, 0xFF9F),
    (0x20000, 0x3134F),
)  # fmt: skip
_LOW, _HIGH = np.array(_UNSPACED, dtype=np.int64).T
# Planes 0-2 hold every character that decomposes, lower-cases or is a format character, but
# for plane 14's tags and variation selectors, which are removed as a block.
_FOLDED_PLANES = range(0x30000)
_INVISIBLE_PLANE = (0xE0000, 0xE1000)
MULTIPLIER = np.uint64(0x9E3779B97F4A7C15)  # odd, so multiplication is a bijection mod 2**64


@stored_table
def _fold_table() -> Forms:
    """Each code point's folded form, where that is not itself (empty for format characters)."""
    forms: dict[int, str | None] = {}
    for code in _FOLDED_PLANES:
        char = chr(code)
        if unicodedata.category(char) == "Cf":
            forms[code] = ""
            continue
        form = unicodedata.normalize("NFKD", char).lower().replace("\u03c2", "\u03c3")
        if form != char:
            forms[code] = form
    return forms_table(forms)


@njit
def _fold(
    cps: np.ndarray, entries: np.ndarray, offsets: np.ndarray, forms: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The folded code points of ``cps``, and the index in ``cps`` each one came from."""
    size = 0
    for c in cps:
        if _INVISIBLE_PLANE[0] <= c < _INVISIBLE_PLANE[1]:
            continue
        k = entries[c] if c < entries.size else KEPT
        size += 1 if k == KEPT else offsets[k + 1] - offsets[k]
    out = np.empty(size, np.uint32)
    origin = np.empty(size, np.int64)
    at = 0
    for i in range(cps.size):
        c = cps[i]
        if _INVISIBLE_PLANE[0] <= c < _INVISIBLE_PLANE[1]:
            continue
        k = entries[c] if c < entries.size else KEPT
        if k == KEPT:
            out[at] = c
            origin[at] = i
            at += 1
        else:
            for j in range(offsets[k], offsets[k + 1]):
                out[at] = forms[j]
                origin[at] = i
                at += 1
    return out, origin


@njit
def _unspaced(c: int, low: np.ndarray, high: np.ndarray) -> bool:
    if c < low[0]:  # below Thai: every Latin, Greek, Cyrillic, Arabic, Devanagari character
        return False
    for k in range(low.size):  # noqa: SIM110 (compiled: no generator)
        if low[k] <= c <= high[k]:
            return True
    return False


@njit
def _bounds(
    cps: np.ndarray, table: np.ndarray, low: np.ndarray, high: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """[start, end) in ``cps`` of every word: a ``\\w`` character and the word characters
    (``\\w`` and combining marks) after it, or one character of a script written without
    spaces with the marks after it."""
    starts = np.empty(cps.size, np.int64)
    ends = np.empty(cps.size, np.int64)
    n, i = 0, 0
    while i < cps.size:
        if not table[cps[i]] & WORDCHAR:  # a mark extends a word, never starts one ("´" is
            i += 1  # a space and an accent to NFKD)
            continue
        start = i
        if _unspaced(cps[i], low, high):
            i += 1
            while i < cps.size and table[cps[i]] & WORD and not table[cps[i]] & WORDCHAR:
                i += 1
        else:
            while i < cps.size and table[cps[i]] & WORD and not _unspaced(cps[i], low, high):
                i += 1
        starts[n], ends[n] = start, i
        n += 1
    return starts[:n], ends[:n]


@njit
def _hashes(cps: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    out = np.empty(starts.size, np.uint64)
    for k in range(starts.size):
        out[k] = fmix64(fnv1a(cps, starts[k], ends[k], FNV_OFFSET))
    return out


def _words(text: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(folded code points, their origins, word starts, word ends in the folded text)."""
    folded, origin = _fold(code_points(text), *_fold_table())
    starts, ends = _bounds(folded, char_classes(), _LOW, _HIGH)
    return folded, origin, starts, ends


def words(text: str) -> list[str]:
    """The words :func:`word_hashes` hashes, as (folded) strings."""
    folded, _origin, starts, ends = _words(text)
    return [from_code_points(folded[a:b]) for a, b in zip(starts, ends, strict=True)]


def word_hashes(text: str) -> np.ndarray:
    """The hash of each of ``words(text)``, in order."""
    folded, _origin, starts, ends = _words(text)
    return _hashes(folded, starts, ends)


def texts_word_hashes(texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """:func:`word_hashes` of every text, one after the other, and the offsets where each text's
    words start (``len(texts) + 1`` of them): a compiled pass over the texts joined by newlines
    instead of one per text, which for a benchmark's thousands of short questions cost more in
    calls than in hashing. A newline ends a word and starts none, so no word crosses two texts."""
    folded, origin, starts, ends = _words("\n".join(texts))
    # Where each text starts in the joined text: a character is a code point (surrogatepass).
    text_starts = np.cumsum(np.array([0, *(len(t) + 1 for t in texts)], np.int64))
    owner = np.searchsorted(text_starts, origin[starts], side="right") - 1
    return _hashes(folded, starts, ends), np.searchsorted(owner, np.arange(len(texts) + 1))


def word_spans(text: str) -> tuple[np.ndarray, np.ndarray]:
    """[start, end) offsets in ``text`` of each of ``words(text)``."""
    _folded, origin, starts, ends = _words(text)
    return origin[starts], origin[ends - 1] + 1


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


def grouped_ngram_hashes(
    hashed: np.ndarray, offsets: np.ndarray, n: int, whole_shorter: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`ngram_hashes` of each group of words (``hashed[offsets[g]:offsets[g + 1]]``, as
    :func:`texts_word_hashes` gives them), one group after the other, and the group of each;
    ``whole_shorter``: a group of 1 to n - 1 words gives its one n-gram of all its words
    (``ngram_hashes(words, len(words))``). All groups at once: a pass over every word per word of
    the n-gram, instead of as many per group."""
    sizes = np.diff(offsets)
    owner = np.repeat(np.arange(sizes.size), sizes)
    grams = ngram_hashes(hashed, n)
    first = owner[: grams.size]  # the group of each n-gram's first word
    kept = np.arange(grams.size) + n <= offsets[1:][first]  # it ends within that group
    found, groups = [grams[kept]], [first[kept]]
    if whole_shorter:
        short = np.flatnonzero((sizes > 0) & (sizes < n))
        whole = np.zeros(short.size, np.uint64)
        for k in range(1, n):  # as ngram_hashes: hash * multiplier + the next word's
            going = sizes[short] >= k
            whole[going] = whole[going] * MULTIPLIER + hashed[offsets[short[going]] + k - 1]
        found.append(whole)
        groups.append(short)
    group = np.concatenate(groups)
    order = np.argsort(group, kind="stable")
    return np.concatenate(found)[order], group[order]


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
