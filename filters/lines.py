"""Lines and paragraphs as the Gopher and FineWeb rules count them, found by compiled passes
(numba) over a text's code points.

The rules need only where each line starts and ends and which lines repeat, never the lines as
Python strings: splitting a page into strings with a regular expression and counting them with a
Counter took a third of the repetition rules' time. A line is a span [start, end) of code
points; two lines are the same when their 64-bit hashes are (for two different lines of one
document to share one is a 1-in-10^13 event, as for the words of
:class:`gristmill.filters.words.WordTable`).
"""

from __future__ import annotations

import functools

import numpy as np

from gristmill.filters.words import SPACE, char_classes, code_points, fnv1a, text_code_points
from gristmill.pipeline.byte_hash import FNV_OFFSET, fmix64
from gristmill.pipeline.kernels import njit

NEWLINE = 10
# The line boundaries of str.splitlines ("\r\n" is one).
LINE_BOUNDARIES = "\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"


@functools.cache
def boundaries() -> np.ndarray:
    """Per code point, whether str.splitlines ends a line there."""
    table = np.zeros(0x110000, np.bool_)
    table[code_points(LINE_BOUNDARIES)] = True
    return table


@functools.cache
def spaces() -> np.ndarray:
    """Per code point, whether it is whitespace (str.isspace, what str.strip takes away)."""
    return (char_classes() & SPACE) != 0


@njit
def first_seen_ids(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each key's id, numbered in order of first appearance (an open-addressing hash table),
    with every id's count and first position."""
    m = keys.size
    size = 2
    while size < 2 * m:
        size <<= 1
    mask = np.uint64(size - 1)
    slot_ids = np.full(size, -1, np.int64)
    slot_keys = np.empty(size, np.uint64)
    ids = np.empty(m, np.int64)
    counts = np.zeros(m, np.int64)
    firsts = np.empty(m, np.int64)
    n = 0
    for p in range(m):
        key = keys[p]
        s = fmix64(key) & mask
        while slot_ids[s] != -1 and slot_keys[s] != key:
            s = (s + np.uint64(1)) & mask
        if slot_ids[s] == -1:
            slot_ids[s], slot_keys[s], firsts[n] = n, key, p
            n += 1
        ids[p] = slot_ids[s]
        counts[ids[p]] += 1
    return ids, counts[:n], firsts[:n]


@njit
def newline_pieces(
    cps: np.ndarray, start: int, end: int, min_run: int
) -> tuple[np.ndarray, np.ndarray]:
    """The pieces of ``cps[start:end]`` between runs of at least ``min_run`` newlines, empty
    ones included: the pieces ``re.split(r"\\n{min_run,}", text[start:end])`` gives."""
    starts = np.empty(end - start + 1, np.int64)
    ends = np.empty(end - start + 1, np.int64)
    k, piece, i = 0, start, start
    while i < end:
        if cps[i] != NEWLINE:
            i += 1
            continue
        j = i
        while j < end and cps[j] == NEWLINE:
            j += 1
        if j - i >= min_run:
            starts[k], ends[k] = piece, i
            k += 1
            piece = j
        i = j
    starts[k], ends[k] = piece, end
    return starts[: k + 1], ends[: k + 1]


@njit
def split_lines(cps: np.ndarray, boundary: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The lines ``str.splitlines`` gives: pieces between line boundaries, "\\r\\n" one
    boundary, no empty piece after a final boundary."""
    n = cps.size
    starts = np.empty(n + 1, np.int64)
    ends = np.empty(n + 1, np.int64)
    k, piece, i = 0, 0, 0
    while i < n:
        if not boundary[cps[i]]:
            i += 1
            continue
        starts[k], ends[k] = piece, i
        k += 1
        i += 2 if cps[i] == 13 and i + 1 < n and cps[i + 1] == NEWLINE else 1
        piece = i
    if piece < n:
        starts[k], ends[k] = piece, n
        k += 1
    return starts[:k], ends[:k]


@njit
def stripped_lines(
    cps: np.ndarray, boundary: np.ndarray, space: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The lines ``str.splitlines`` gives, each as ``line.strip()`` leaves it (empty where
    the line is blank)."""
    starts, ends = split_lines(cps, boundary)
    for p in range(starts.size):
        while starts[p] < ends[p] and space[cps[starts[p]]]:
            starts[p] += 1
        while ends[p] > starts[p] and space[cps[ends[p] - 1]]:
            ends[p] -= 1
    return starts, ends


@njit
def _whitespace_words(cps: np.ndarray, space: np.ndarray) -> int:
    words, inside = 0, False
    for c in cps:
        if space[c]:
            inside = False
        elif not inside:
            words, inside = words + 1, True
    return words


def whitespace_words(text: str) -> int:
    """``len(text.split())``, counted over the text's code points, which the rules that read
    the text converted already: the quality table's ``n_words`` without a list of every word."""
    return _whitespace_words(text_code_points(text), spaces())


@njit
def nonblank(
    cps: np.ndarray, starts: np.ndarray, ends: np.ndarray, space: np.ndarray
) -> np.ndarray:
    """Whether each span holds a character that is not whitespace (``line.strip()`` is true)."""
    out = np.zeros(starts.size, np.bool_)
    for p in range(starts.size):
        for i in range(starts[p], ends[p]):
            if not space[cps[i]]:
                out[p] = True
                break
    return out


@njit
def repeated(cps: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> tuple[int, int]:
    """How many spans repeat an earlier one, and their total length (first occurrences
    excluded): datatrove's ``find_duplicates`` over the spans' strings."""
    m = starts.size
    keys = np.empty(m, np.uint64)
    for p in range(m):
        keys[p] = fmix64(fnv1a(cps, starts[p], ends[p], FNV_OFFSET))
    ids, counts, firsts = first_seen_ids(keys)
    chars = 0
    for p in range(m):
        if firsts[ids[p]] != p:
            chars += ends[p] - starts[p]
    return m - counts.size, chars
