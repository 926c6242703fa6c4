"""Words as the Gopher and FineWeb rules count them: a tokenizer that splits text the way
datatrove's English word tokenizer (spaCy's) does, without loading spaCy.

The rules' thresholds were set on tokenizer words, not whitespace tokens: "end." is two words
("end", "."), so a comma or a dash counts against "80% of words contain a letter". Counting
whitespace tokens instead kept 143 of 2,011 real documents that datatrove's Gopher quality
filter drops (decisions equal on 92.7% of the documents, against 99.5% with these words;
``bench.filter_agreement``). What is split like spaCy: punctuation before and after a word, each
mark on its own (runs of dots, dashes, slashes and colons stay one token); hyphens between
letters and between digits (spaCy's infixes; "Covid-19" stays whole); English contractions
("do", "n't"; "it", "'s"; "i", "m"; "can", "not"); URLs whole; abbreviations ("U.S.", "Dr.", "p.")
whole; numbers with their separators ("3.14", "1,000", "12/05") whole; a Chinese or Japanese run
without spaces whole, as spaCy's English rules leave it. What is not: spaCy's long tail of
special cases.

The rules never need the words as strings, only what :class:`WordTable` holds (a hash, a length
and two flags per word), so the tokenizer runs compiled (numba) over the text's code points:
:func:`_scan` finds the tokens (the regex ``W+(?:P+W+)*\\+*|\\.{2,}|-{2,}|/{2,}|:{2,}|P``, W a
word character, P neither a word character nor a space), :func:`_split_compiled` splits the
tokens with inner punctuation as spaCy's contractions and infixes do (:func:`_split`, the
regexes, is its definition, and the answer for a token holding one of the four characters the
case-insensitive regex takes for ASCII letters), :func:`_word_spans` applies contractions and
abbreviations, and :func:`_describe` describes each word (a rule that only counts words skips
it: :func:`word_count`). The 1,340 shared real pages (about 1,000 words each) take 0.19-0.22 s,
where the regex version took 1.16 s (0.87 ms a page). Splitting the composite tokens (about 30
a page, "don't", "U.S", "e-mail", "3.14") by the regexes, cached by token, took 0.07 s of that
when the cache held every token and 0.23 s from an empty cache, as on a stream of new pages;
compiled, the whole scan of those pages takes 0.08-0.09 s, against 0.27-0.30 s.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from gristmill.pipeline.byte_hash import FNV_OFFSET, FNV_PRIME, fmix64
from gristmill.pipeline.kernels import njit, stored_table

# A word character: \w and the combining marks \w leaves out (Indic vowel signs and viramas,
# Arabic and Hebrew points, Thai, Lao, Tibetan, Myanmar and Khmer marks, accents), so that
# "ಅಟ್ಟಾಳ" stays one word.
_MARKS = (
    "\u0300-\u036f\u0483-\u0489\u0591-\u05bd\u05bf-\u05c7\u0610-\u061a\u064b-\u065f\u0670"
    "\u06d6-\u06ed\u0900-\u0963\u0966-\u0dff\u0e31\u0e34-\u0e3a\u0e47-\u0e4e\u0eb1\u0eb4-\u0ebc"
    "\u0ec8-\u0ecd\u0f18\u0f19\u0f35\u0f37\u0f39\u0f71-\u0f84\u102b-\u103e\u1056-\u1059"
    "\u17b4-\u17d3\u200c\u200d\u3099\u309a"
)

# Character classes, one bit each in the table indexed by code point.
SPACE = 1  # \s
WORD = 2  # a word character for the scan: \w or a combining mark
ALNUM = 4  # \w without "_": str.isalnum
LETTER = 8  # \w without digits and "_": what "contains a letter" means to Gopher
WORDCHAR = 16  # \w itself
# Token kinds from the scan.
SIMPLE, SINGLE, COMPOSITE = 0, 1, 2


# The planes that hold characters of any class here: the BMP, SMP, SIP and TIP (planes 0-3) and
# plane 14 (tags, variation selectors). Planes 4-13 have no assigned character and 15-16 are
# private use: no word character, no space, no digit (class 0, as ``re`` would say).
_CLASSIFIED_PLANES = ((0x0, 0x40000), (0xE0000, 0xF0000))


@stored_table
def char_classes() -> np.ndarray:
    """The class bits of every code point, computed with Python's own regex classes (so the
    compiled scan agrees with ``re`` on every character): each class's matches are replaced by
    a character of that class, and the table marks where that character stands. About 0.2 s,
    once per content of the sources (:func:`gristmill.pipeline.kernels.stored_table`)."""
    table = np.zeros(0x110000, np.uint8)
    for first, end in _CLASSIFIED_PLANES:
        every = "".join(map(chr, range(first, end)))
        for bit, pattern, member in (
            (SPACE, r"\s", " "),
            (WORD, rf"[\w{_MARKS}]", "a"),
            (ALNUM, r"[^\W_]", "a"),
            (LETTER, r"[^\W\d_]", "a"),
            (WORDCHAR, r"\w", "a"),
        ):
            marked = code_points(re.sub(pattern, member, every))
            table[first:end][marked == ord(member)] |= bit
    return table


def code_points(text: str) -> np.ndarray:
    return np.frombuffer(text.encode("utf-32-le", "surrogatepass"), np.uint32)


def from_code_points(cps: np.ndarray) -> str:
    """The text of ``cps`` (uint32): the inverse of :func:`code_points`."""
    return cps.tobytes().decode("utf-32-le", "surrogatepass")


@functools.lru_cache(maxsize=2)
def text_code_points(text: str) -> np.ndarray:
    """The code points of one of the texts every rule set reads (the extracted and the cleaned
    text), kept for the last two: converted once for all of them."""
    return code_points(text)


@njit
def _scan(cps: np.ndarray, table: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """[start, end) and kind of every token: SIMPLE (all alphanumeric), SINGLE (one other
    character), COMPOSITE (anything longer with a non-alphanumeric character). The regex's
    alternatives in order; each is greedy and none needs to backtrack, since a group P+W+ either
    matches whole or the repetition stops before it."""
    n = cps.size
    starts = np.empty(n, np.int64)
    ends = np.empty(n, np.int64)
    kinds = np.empty(n, np.uint8)
    k, i = 0, 0
    while i < n:
        c = table[cps[i]]
        if c & SPACE:
            i += 1
            continue
        j = i + 1
        if c & WORD:
            alnum = (c & ALNUM) != 0
            while j < n and table[cps[j]] & WORD:
                alnum = alnum and (table[cps[j]] & ALNUM) != 0
                j += 1
            while True:  # (?:P+W+)*
                q = j
                while q < n and not table[cps[q]] & (WORD | SPACE):
                    q += 1
                if q == j or q >= n or not table[cps[q]] & WORD:
                    break
                alnum = False
                j = q
                while j < n and table[cps[j]] & WORD:
                    j += 1
            while j < n and cps[j] == 43:  # \+*
                alnum = False
                j += 1
            kind = SIMPLE if alnum else SINGLE if j - i == 1 else COMPOSITE
        else:
            if cps[i] == 46 or cps[i] == 45 or cps[i] == 47 or cps[i] == 58:  # . - / :
                while j < n and cps[j] == cps[i]:
                    j += 1
            kind = SINGLE if j - i == 1 else COMPOSITE
        starts[k], ends[k], kinds[k] = i, j, kind
        k += 1
        i = j
    return starts[:k], ends[:k], kinds[:k]


# English contractions (spaCy's exceptions and suffixes): do|n't, it|'s, you|'re, i|m, can|not.
_NEGATED = ("ca", "wo", "do", "does", "did", "is", "are", "was", "were", "have", "has", "had",
            "could", "would", "should", "must", "need", "might", "ai", "sha")  # fmt: skip
_CONTRACTION = re.compile(
    rf"""(?ix)^(?:
    ({"|".join(_NEGATED)})(n['’]t)
  | (.+?)(['’](?:s|m|re|ve|ll|d))
  | (i)(m)
  | (can)(not)
    )$"""
)
# spaCy's infixes: where a word with inner punctuation is split after all.
_LETTER = r"[^\W\d_]"
_INFIX = re.compile(
    rf"""(
    \.{{2,}}|…
  | (?<=[^\W_])[-–—](?={_LETTER})
  | (?<=\d)[-+*^](?=\d)
  | (?<=[^\W_])[:<>=/](?={_LETTER})
  | (?<={_LETTER}),(?={_LETTER})
  | (?<=[a-z])\.(?=[A-Z])
    )""",
    re.VERBOSE,
)


@functools.lru_cache(maxsize=1 << 14)
def _split(token: str) -> tuple[int, ...]:
    """The lengths of the parts spaCy splits a composite token into, in order (they cover the
    token: a contraction's groups, or the pieces and separators of an infix split). The
    definition, and the answer for a token :func:`_split_compiled` leaves to it."""
    contraction = _CONTRACTION.match(token)
    if contraction:
        parts = contraction.groups()
    elif token.startswith(("http", "www.")):  # a URL
        return (len(token),)
    else:
        parts = tuple(_INFIX.split(token))
    return tuple(len(p) for p in parts if p)


def packed(words: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """``words`` for a compiled pass: their code points end to end, and where each word starts
    (one more entry: where the last ends), so word ``i`` is ``cps[ends[i]:ends[i + 1]]``."""
    return code_points("".join(words)), np.cumsum([0] + [len(w) for w in words]).astype(np.int64)


_NEGATED_CPS, _NEGATED_ENDS = packed(_NEGATED)
_RIGHT_QUOTE, _ELLIPSIS = 0x2019, 0x2026
# The infixes' characters, as code points: [-–—], [-+*^], [:<>=/].
_DASHES = tuple(map(ord, "-–—"))
_OPERATORS = tuple(map(ord, "-+*^"))
_RELATIONS = tuple(map(ord, ":<>=/"))
_URL_STARTS = (code_points("http"), code_points("www."))
# The characters past ASCII that the contraction regex, case-insensitive, takes for ASCII
# letters (İ and ı for "i", ſ for "s", the Kelvin sign for "k"): a token with one goes to Python.
_CASE_TWINS = (0x130, 0x131, 0x17F, 0x212A)


@njit
def _lower(c: int) -> int:
    return c | 32 if 65 <= c <= 90 else c


@njit
def _apostrophe(c: int) -> bool:
    return c == 39 or c == _RIGHT_QUOTE


@njit
def _negated(cps: np.ndarray, start: int, end: int, known: np.ndarray, ends: np.ndarray) -> bool:
    """Whether ``cps[start:end]`` is one of the negated words, in any case."""
    for a in range(ends.size - 1):
        if ends[a + 1] - ends[a] == end - start:
            same = True
            for i in range(end - start):
                if _lower(cps[start + i]) != known[ends[a] + i]:
                    same = False
                    break
            if same:
                return True
    return False


@njit
def _suffix(cps: np.ndarray, start: int, end: int) -> int:
    """Where a contraction suffix ('s 'm 'd 're 've 'll, in any case) starts in the token, or
    -1. At most one fits the token's end: its apostrophe is where the other's letter is."""
    last = _lower(cps[end - 1])
    if (
        end - start >= 3
        and _apostrophe(cps[end - 2])
        and (last == 115 or last == 109 or last == 100)
    ):
        return end - 2
    if end - start >= 4 and _apostrophe(cps[end - 3]):
        pair = _lower(cps[end - 2]) * 256 + last
        if pair == 114 * 256 + 101 or pair == 118 * 256 + 101 or pair == 108 * 256 + 108:
            return end - 3
    return -1


@njit
def _infix(cps: np.ndarray, i: int, start: int, end: int, table: np.ndarray) -> int:
    """The length of the infix that ``_INFIX`` matches at ``i`` of the token, or 0."""
    c = cps[i]
    if c == _ELLIPSIS:
        return 1
    if c == 46 and i + 1 < end and cps[i + 1] == 46:
        j = i
        while j < end and cps[j] == 46:
            j += 1
        return j - i
    if i == start or i + 1 == end:
        return 0
    before, after = table[cps[i - 1]], table[cps[i + 1]]
    alnum_before, letter_after = (before & ALNUM) != 0, (after & LETTER) != 0
    if c in _DASHES and alnum_before and letter_after:
        return 1
    if c in _OPERATORS:  # between two digits: \w and not a letter
        digits = before & (ALNUM | LETTER) == ALNUM and after & (ALNUM | LETTER) == ALNUM
        return 1 if digits else 0
    if c in _RELATIONS:
        return 1 if alnum_before and letter_after else 0
    if c == 44:
        return 1 if before & LETTER and letter_after else 0
    if c == 46:
        return 1 if 97 <= cps[i - 1] <= 122 and 65 <= cps[i + 1] <= 90 else 0
    return 0


@njit
def _split_compiled(
    cps: np.ndarray, start: int, end: int, table: np.ndarray, negated: np.ndarray,
    negated_ends: np.ndarray, out: np.ndarray, k: int
) -> int:  # fmt: skip
    """:func:`_split` of the token ``cps[start:end]``: its part lengths written to ``out`` from
    ``k``, and the next free index; -1 for a token with one of the _CASE_TWINS."""
    for i in range(start, end):
        for twin in _CASE_TWINS:
            if cps[i] == twin:
                return -1
    size = end - start
    if (
        size >= 5
        and _lower(cps[end - 1]) == 116  # n't
        and _apostrophe(cps[end - 2])
        and _lower(cps[end - 3]) == 110
        and _negated(cps, start, end - 3, negated, negated_ends)
    ):
        out[k], out[k + 1] = size - 3, 3
        return k + 2
    cut = _suffix(cps, start, end)
    if cut > start:
        out[k], out[k + 1] = cut - start, end - cut
        return k + 2
    for url in _URL_STARTS:  # a URL is one word
        if size >= url.size and (cps[start : start + url.size] == url).all():
            out[k] = size
            return k + 1
    last, i = start, start
    while i < end:
        m = _infix(cps, i, start, end, table)
        if not m:
            i += 1
            continue
        if i > last:
            out[k] = i - last
            k += 1
        out[k] = m
        k += 1
        i += m
        last = i
    if end > last:
        out[k] = end - last
        k += 1
    return k


@njit
def _composite_parts(
    cps: np.ndarray, starts: np.ndarray, ends: np.ndarray, kinds: np.ndarray, table: np.ndarray,
    negated: np.ndarray, negated_ends: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """The part lengths of every composite token in order, -1 standing for the parts of one
    that :func:`_split_compiled` leaves to Python; and those tokens' indices."""
    size = 0
    for t in range(starts.size):
        if kinds[t] == COMPOSITE:
            size += ends[t] - starts[t]
    out = np.empty(size, np.int64)
    left = np.empty(starts.size, np.int64)
    k, n_left = 0, 0
    for t in range(starts.size):
        if kinds[t] != COMPOSITE:
            continue
        at = _split_compiled(cps, starts[t], ends[t], table, negated, negated_ends, out, k)
        if at < 0:
            out[k] = -1
            left[n_left] = t
            n_left += 1
            k += 1
        else:
            k = at
    return out[:k], left[:n_left]


# Words spaCy keeps with their full stop ("Dr.", "U.S.", "p."): single letters, titles, months.
_ABBREVIATIONS = ("Mr", "Mrs", "Ms", "Dr", "St", "Jr", "Sr", "vs", "etc", "Inc", "Ltd", "Co",
                  "Mt", "Ft", "Gen", "Gov", "Sen", "Rep", "Prof", "Jan", "Feb", "Aug", "Sept",
                  "Oct", "Nov", "Dec")  # fmt: skip
_ABBREVIATION_CPS, _ABBREVIATION_ENDS = packed(_ABBREVIATIONS)


@njit
def _ascii_letter(c: int) -> bool:
    return 65 <= c <= 90 or 97 <= c <= 122


@njit
def _abbreviation(
    cps: np.ndarray, start: int, end: int, known: np.ndarray, known_ends: np.ndarray
) -> bool:
    """Whether ``cps[start:end]`` keeps a following full stop: one ASCII letter, a listed
    abbreviation, or dotted letters ("U.S")."""
    size = end - start
    if size == 1:
        return _ascii_letter(cps[start])
    for a in range(known_ends.size - 1):
        if known_ends[a + 1] - known_ends[a] == size:
            same = True
            for i in range(size):
                if cps[start + i] != known[known_ends[a] + i]:
                    same = False
                    break
            if same:
                return True
    if size < 3 or size % 2 == 0:
        return False
    for i in range(size):
        c = cps[start + i]
        if (c != 46) if i % 2 else not _ascii_letter(c):
            return False
    return True


@njit
def _contraction_split(cps: np.ndarray, s: int, e: int) -> int:
    """Where a one-piece contraction splits ("im", "Im" after 1; "cannot", "Cannot" after 3),
    else 0."""
    if e - s == 2 and (cps[s] == 105 or cps[s] == 73) and cps[s + 1] == 109:
        return 1
    if e - s == 6 and (cps[s] == 99 or cps[s] == 67):
        for i, c in enumerate((97, 110, 110, 111, 116)):  # "annot"
            if cps[s + 1 + i] != c:
                return 0
        return 3
    return 0


@njit
def fnv1a(cps: np.ndarray, start: int, end: int, h: np.uint64) -> np.uint64:
    """FNV-1a over code points (the byte hash's steps, one code point per step)."""
    for i in range(start, end):
        h = (h ^ np.uint64(cps[i])) * FNV_PRIME
    return h


@njit
def _word_spans(
    cps: np.ndarray,
    starts: np.ndarray,
    ends: np.ndarray,
    kinds: np.ndarray,
    part_lengths: np.ndarray,
    known: np.ndarray,
    known_ends: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The words from the tokens: start and end in the text, and whether a full stop that does
    not follow the word directly ("Dr ." -> "Dr.") was added."""
    cap = cps.size + 1
    w_start = np.empty(cap, np.int64)
    w_end = np.empty(cap, np.int64)
    dotted = np.zeros(cap, np.bool_)
    n, part = 0, 0
    for t in range(starts.size):
        s, e, kind = starts[t], ends[t], kinds[t]
        if kind == SIMPLE:
            cut = _contraction_split(cps, s, e)
            if cut:
                w_start[n], w_end[n] = s, s + cut
                n += 1
                s += cut
            w_start[n], w_end[n] = s, e
            n += 1
        elif kind == SINGLE:
            if (
                cps[s] == 46
                and n
                and not dotted[n - 1]
                and _abbreviation(cps, w_start[n - 1], w_end[n - 1], known, known_ends)
            ):
                if w_end[n - 1] == s:
                    w_end[n - 1] = e
                else:
                    dotted[n - 1] = True
            else:
                w_start[n], w_end[n] = s, e
                n += 1
        else:
            while s < e:
                w_start[n], w_end[n] = s, s + part_lengths[part]
                s += part_lengths[part]
                part += 1
                n += 1
    return w_start[:n], w_end[:n], dotted[:n]


@njit
def _describe(
    cps: np.ndarray, table: np.ndarray, w_start: np.ndarray, w_end: np.ndarray, dotted: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The table's columns of the words: hashes, lengths, and the letter and wordchar flags."""
    n = w_start.size
    hashes = np.empty(n, np.uint64)
    lengths = np.empty(n, np.int64)
    letter = np.zeros(n, np.bool_)
    wordchar = np.zeros(n, np.bool_)
    for w in range(n):
        for i in range(w_start[w], w_end[w]):
            c = table[cps[i]]
            letter[w] |= (c & LETTER) != 0
            wordchar[w] |= (c & WORDCHAR) != 0
        h = fnv1a(cps, w_start[w], w_end[w], FNV_OFFSET)
        if dotted[w]:
            h = (h ^ np.uint64(46)) * FNV_PRIME
        hashes[w] = fmix64(h)
        lengths[w] = w_end[w] - w_start[w] + dotted[w]
    return hashes, lengths, np.stack((letter, wordchar))


@dataclass(frozen=True)
class WordTable:
    """A text's words, one entry per word in order: ``hashes`` (64-bit, equal for equal words;
    two different words of one document sharing one is a 1-in-10^13 event), ``lengths`` in
    characters, ``letter`` (the word contains a letter), ``wordchar`` (the word contains a
    letter, digit or "_"); ``starts`` and ``dotted`` rebuild the strings (:func:`words`)."""

    starts: np.ndarray
    dotted: np.ndarray
    hashes: np.ndarray
    lengths: np.ndarray
    letter: np.ndarray
    wordchar: np.ndarray

    def __len__(self) -> int:
        return self.hashes.size


def _spans(text: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Where the text's words start and end, and which got a full stop added."""
    cps = text_code_points(text)
    starts, ends, kinds = _scan(cps, char_classes())
    parts, left = _composite_parts(
        cps, starts, ends, kinds, char_classes(), _NEGATED_CPS, _NEGATED_ENDS
    )
    if left.size:  # the rare token that only Python's regexes split as they do
        merged, done = [], 0
        for at, t in zip(np.flatnonzero(parts < 0).tolist(), left.tolist(), strict=True):
            merged += [*parts[done:at].tolist(), *_split(text[starts[t] : ends[t]])]
            done = at + 1
        parts = np.array(merged + parts[done:].tolist(), np.int64)
    return _word_spans(
        cps,
        starts,
        ends,
        kinds,
        np.array(parts, np.int64),
        _ABBREVIATION_CPS,
        _ABBREVIATION_ENDS,
    )


@functools.lru_cache(maxsize=2)
def word_table(text: str) -> WordTable:
    """The text's words (kept for the last two texts: the Gopher rules read the same one)."""
    w_starts, w_ends, dotted = _spans(text)
    hashes, lengths, flags = _describe(
        text_code_points(text), char_classes(), w_starts, w_ends, dotted
    )
    return WordTable(w_starts, dotted, hashes, lengths, flags[0], flags[1])


class _Pieces(NamedTuple):
    text: str
    source: str
    starts: np.ndarray
    ends: np.ndarray


# The last text noted by :func:`made_of_pieces`: at most one, the document being scored.
_noted: list[_Pieces] = []


def made_of_pieces(text: str, source: str, starts: np.ndarray, ends: np.ndarray) -> None:
    """Note that ``text`` (this very string) is the pieces ``source[starts[i]:ends[i]]`` as they
    stand, in order, with only whitespace between and around them: C4's kept lines of a page
    (:func:`gristmill.filters.c4.clean`), for :func:`word_count`."""
    _noted[:] = [_Pieces(text, source, starts, ends)]


@njit
def _words_in_pieces(
    word_starts: np.ndarray, cps: np.ndarray, classes: np.ndarray, starts: np.ndarray,
    ends: np.ndarray,
) -> int:  # fmt: skip
    """The words of ``cps`` that start inside a piece, or -1 where that may not be the word
    count of the pieces alone: a piece that does not begin and end at whitespace (or the
    text's ends), or that begins with a full stop, which can join the word before it
    ("Dr ." -> "Dr."), in another piece."""
    count, w = 0, 0
    for p in range(starts.size):
        s, e = starts[p], ends[p]
        if s < e and cps[s] == 46:
            return -1
        before = classes[cps[s - 1]] if s > 0 else SPACE
        after = classes[cps[e]] if e < cps.size else SPACE
        if not before & after & SPACE:
            return -1
        while w < word_starts.size and word_starts[w] < s:
            w += 1
        while w < word_starts.size and word_starts[w] < e:
            count += 1
            w += 1
    return count


def word_count(text: str) -> int:
    """``len(word_table(text))``, without describing the words: for a rule that only counts
    them (FineWeb's newlines per word, over the cleaned text, which the other rules split into
    words only where cleaning changed nothing).

    A text noted as pieces of another (:func:`made_of_pieces`: C4's kept lines, as nearly every
    page's cleaned text is) is counted from that text's word table, which the Gopher rules have
    built: a word never spans whitespace, and the only word that reads past one, a full stop
    joining an abbreviation before it, is ruled out at the pieces' starts. Counting the cleaned
    text again took a tenth of the quality stage."""
    noted = _noted[0] if _noted else None  # read once: one entry, whichever thread noted it
    if noted is not None and noted.text is text:
        count = _words_in_pieces(
            word_table(noted.source).starts, text_code_points(noted.source), char_classes(),
            noted.starts, noted.ends,
        )  # fmt: skip
        if count >= 0:
            return count
    return _spans(text)[0].size


def words(text: str) -> tuple[str, ...]:
    """The text's words as strings."""
    table = word_table(text)
    out = []
    for start, length, dot in zip(
        table.starts.tolist(), table.lengths.tolist(), table.dotted.tolist(), strict=True
    ):
        out.append(text[start : start + length - dot] + "." * dot)
    return tuple(out)


def word_hashes(items: list[str]) -> np.ndarray:
    """The hash :class:`WordTable` gives each of ``items``, taken as one word."""
    cps = code_points("".join(items))
    ends = np.cumsum([len(item) for item in items])
    return _hash_spans(cps, ends)


@njit
def _hash_spans(cps: np.ndarray, ends: np.ndarray) -> np.ndarray:
    out = np.empty(ends.size, np.uint64)
    start = 0
    for w in range(ends.size):
        out[w] = fmix64(fnv1a(cps, start, ends[w], FNV_OFFSET))
        start = ends[w]
    return out
