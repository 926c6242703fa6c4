"""C4's cleaning and document rules (Raffel et al. 2020, section 2.2), with datatrove's defaults.

C4 is the one heuristic set that rewrites the text: it keeps only the lines that look like prose
and then judges the page by what is left. Line rules (each switchable):

- drop a line with a word longer than ``max_word_length`` characters (1000; tfds's c4_utils);
- remove Wikipedia citation markers such as "[1]", "[edit]", "[citation needed]";
- drop a line that does not end in terminal punctuation (. ? ! " ') or that ends in "...";
- drop a line of fewer than ``min_words_per_line`` words (3);
- drop a line containing "javascript" (a "please enable JavaScript" notice);
- drop a line containing a policy phrase ("terms of use", "privacy policy", "cookie policy",
  "uses cookies", "use of cookies", "use cookies"): cookie banners and footers (tfds's c4_utils).

Document rules: drop a page containing "lorem ipsum" (placeholder text) or a curly bracket "{"
(code), and a page whose cleaned text has fewer than ``min_num_sentences`` sentences (5).
As in C4's code and datatrove, "lorem ipsum" and "{" are looked for in the lines that survive the
length, punctuation and word-count rules (and, for "{", the javascript rule), in the order those
run: a "{" in a menu line without punctuation does not condemn a page whose prose is fine.

Unlike the other heuristic modules, ``signals`` takes the config as well as the text, because
what cleaning removes depends on which line rules are on. The quality stage calls ``clean`` for
the text it stores and ``signals`` for the columns; both run the same cleaning, which is memoized
for the last document, so calling both costs one cleaning. ``signals`` ignores ``cfg.enabled``
(signals describe the document; decisions are separate), while ``clean`` returns the text
untouched when C4 is disabled. ``c4_lines_removed`` counts non-blank lines.

The line loop runs compiled (numba) over the text's code points (:func:`_kept_lines`), which
the Gopher rules convert next anyway: lines as ``str.splitlines`` gives them, stripped as
``str.strip`` strips, the phrases found in the line lower-cased by a table of what each code
point lower-cases to where that is one ASCII character (all a match of an ASCII phrase can
use). Over the 1,355 shared real pages it takes 0.093-0.096 s, the Python loop it replaces
(``str`` methods per line) 0.133-0.136 s; ``tests/test_filters_heuristics.py`` holds it to
that loop written out literally.

FineWeb (Penedo et al. 2024; datatrove's examples/fineweb.py) applies these rules with
``filter_no_terminal_punct`` off: in its ablations that rule removed a large share of the tokens
for little gain, and FineWeb's own line-punctuation ratio replaces it.

Sentences are counted without a tokenizer model (datatrove uses NLTK's punkt): in each kept line,
a run of . ! ? (and any closing quotes or brackets) followed by the end of the line, or by
whitespace and anything but a lowercase ASCII letter, ends a sentence; a kept line counts as at
least one sentence. Abbreviations followed by a capital ("Mr. Smith") count as ends, so the count
can exceed punkt's by a little; at the five-sentence minimum that rarely changes a decision.
"""

from __future__ import annotations

import functools
import string
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import pyarrow as pa

from gristmill.filters.lines import boundaries, spaces, stripped_lines
from gristmill.filters.words import (
    ALNUM,
    LETTER,
    char_classes,
    code_points,
    from_code_points,
    made_of_pieces,
    packed,
    text_code_points,
)
from gristmill.pipeline.config_checks import check
from gristmill.pipeline.kernels import njit

LOREM_IPSUM = "c4_lorem_ipsum"
CURLY_BRACKET = "c4_curly_bracket"
TOO_FEW_SENTENCES = "c4_too_few_sentences"
DROP_REASONS = (LOREM_IPSUM, CURLY_BRACKET, TOO_FEW_SENTENCES)

SIGNAL_FIELDS = [
    pa.field("c4_lines_removed", pa.int64()),
    pa.field("c4_chars_removed", pa.int64()),
    pa.field("c4_has_lorem_ipsum", pa.int64()),
    pa.field("c4_has_curly_bracket", pa.int64()),
    pa.field("c4_sentences", pa.int64()),
]

# C4's terminal punctuation (tfds c4_utils): ASCII only, quotes included for quoted sentences.
END_PUNCTUATION = (".", "?", "!", '"', "'")
_END_PUNCTUATION = tuple(map(ord, END_PUNCTUATION))
# Sentence ends, the regex [.!?]+["'”’)\]]*(?:$|\s+(?![a-z])) over a line, as classes of code
# points for the compiled count.
_STOP, _CLOSER, _SPACE, _LOWER = 1, 2, 4, 8


@dataclass(frozen=True)
class C4Config:
    """C4's switches and limits; 0 turns off min_words_per_line and min_num_sentences, and None
    turns off max_word_length."""

    enabled: bool = True
    remove_citations: bool = True
    # Off as in FineWeb (its line-punctuation ratio judges such lines instead); C4 had it on
    # (quality.recipe: c4).
    filter_no_terminal_punct: bool = False
    min_words_per_line: int = 3
    max_word_length: int | None = 1000
    filter_javascript: bool = True
    filter_policy: bool = True
    filter_lorem_ipsum: bool = True
    filter_curly_bracket: bool = True
    min_num_sentences: int = 5

    # The settings that change the cleaned text (the line rules), as against those that only
    # judge a document by its stored signals (lorem ipsum, curly brackets, sentences): a
    # re-selection may change the latter alone.
    LINE_RULES = (
        "enabled", "remove_citations", "filter_no_terminal_punct", "min_words_per_line",
        "max_word_length", "filter_javascript", "filter_policy",
    )  # fmt: skip

    def __post_init__(self) -> None:
        key = "quality.c4."
        check(self.min_words_per_line >= 0, key + "min_words_per_line", "must be >= 0")
        check(
            self.max_word_length is None or self.max_word_length >= 1,
            key + "max_word_length",
            "must be >= 1, or null for no limit",
        )
        check(self.min_num_sentences >= 0, key + "min_num_sentences", "must be >= 0")


class _Cleaned(NamedTuple):
    text: str
    lines_removed: int
    has_lorem_ipsum: bool
    has_curly_bracket: bool
    sentences: int


@functools.cache
def _sentence_classes() -> np.ndarray:
    classes = np.where(spaces(), _SPACE, 0).astype(np.uint8)
    for members, bit in ((".!?", _STOP), ("\"'”’)]", _CLOSER), (string.ascii_lowercase, _LOWER)):
        classes[code_points(members)] |= bit
    return classes


@njit
def _sentences(cps: np.ndarray, classes: np.ndarray) -> int:
    """The sentences of the lines of ``cps`` (newline-separated): in each non-empty line, the
    matches of the sentence-end regex, at least one. A run of stops and closers matches where
    the line ends after it, or whitespace follows it and then no lowercase ASCII letter; or
    two or more whitespace characters follow it, since the regex then backtracks into them and
    leaves a space as the next character."""
    total, count, start, i, n = 0, 0, 0, 0, cps.size
    while i <= n:
        if i == n or cps[i] == 10:  # a line ends
            if i > start:
                total += max(count, 1)
            count, start, i = 0, i + 1, i + 1
            continue
        if not classes[cps[i]] & _STOP:
            i += 1
            continue
        while i < n and classes[cps[i]] & _STOP:
            i += 1
        while i < n and classes[cps[i]] & _CLOSER:
            i += 1
        if i == n or cps[i] == 10:
            count += 1
        elif classes[cps[i]] & _SPACE:
            j = i
            while j < n and cps[j] != 10 and classes[cps[j]] & _SPACE:
                j += 1
            if j - i >= 2 or j == n or cps[j] == 10 or not classes[cps[j]] & _LOWER:
                count += 1
            i = j
    return total


# Looked for in each line lower-cased. A line with a policy phrase goes (tfds's c4_utils).
JAVASCRIPT = "javascript"
LOREM = "lorem ipsum"
POLICY_PHRASES = (
    "terms of use", "privacy policy", "cookie policy", "uses cookies", "use of cookies",
    "use cookies",
)  # fmt: skip
# Wikipedia's citation markers, the regex \[\d*]|\[edit]|\[citation needed]: "[" digits "]"
# and these.
_CITATION_WORDS = ("[edit]", "[citation needed]")


@functools.cache
def _ascii_lower() -> np.ndarray:
    """Per code point, its lowercase where that is one ASCII character, else 0: all that
    matching the ASCII phrases in ``line.lower()`` needs. "K" (the Kelvin sign) lower-cases to
    "k"; "İ" to "i" and a combining dot, 0 here, which no phrase can match, as none ends in "i".
    Lower-cased a block at a time, character by character only in a block whose lowercase is
    longer (the one with "İ"); past plane 1 no character has a lowercase of its own."""
    table = np.zeros(0x110000, np.uint8)
    for first in range(0, 0x20000, 4096):
        block = "".join(map(chr, range(first, first + 4096)))
        lower = block.lower()
        if len(lower) != len(block):
            lower = "".join(c.lower() if len(c.lower()) == 1 else "\0" for c in block)
        points = code_points(lower)
        table[first : first + 4096] = np.where(points < 128, points, 0)
    return table


# Each phrase's group, a bit: JAVASCRIPT, LOREM, a policy phrase (:func:`_phrase_tables`).
_JAVASCRIPT, _LOREM, _POLICY = 1, 2, 4
_PHRASES = ((JAVASCRIPT, _JAVASCRIPT), (LOREM, _LOREM), *((p, _POLICY) for p in POLICY_PHRASES))
assert len(_PHRASES) <= 8, "the phrase table holds a bit per phrase in a byte"
assert min(len(p) for p, _ in _PHRASES) >= 2, "a phrase is found by its first two characters"


@njit
def _phrase_groups(
    line: np.ndarray, lower: np.ndarray, phrases: np.ndarray, ends: np.ndarray,
    groups: np.ndarray, starting: np.ndarray,
) -> int:  # fmt: skip
    """The groups of the phrases that ``line``, lower-cased, holds (a bit each). A phrase is
    compared only where the line's next two characters are its first two: a test of two table
    bits per character, where one on the first character alone made a third of C4's time."""
    found = 0
    for i in range(line.size - 1):
        candidates = starting[0, line[i]] & starting[1, line[i + 1]]
        p = 0
        while candidates:
            if candidates & 1 and not found & groups[p]:
                start, size = ends[p], ends[p + 1] - ends[p]
                j = 2
                while j < size and i + j < line.size and lower[line[i + j]] == phrases[start + j]:
                    j += 1
                if j == size:
                    found |= groups[p]
            candidates >>= 1
            p += 1
    return found


@njit
def _without_citations(
    line: np.ndarray, digit: np.ndarray, words: np.ndarray, ends: np.ndarray
) -> np.ndarray:
    """The line without its citation markers, removed left to right as ``re.sub`` does."""
    out = np.empty(line.size, np.uint32)
    k, i = 0, 0
    while i < line.size:
        if line[i] == 91:  # [
            j = i + 1
            while j < line.size and digit[line[j]]:
                j += 1
            if j < line.size and line[j] == 93:  # ]
                i = j + 1
                continue
            matched = False
            for w in range(ends.size - 1):
                word = words[ends[w] : ends[w + 1]]
                if i + word.size <= line.size and (line[i : i + word.size] == word).all():
                    i += word.size
                    matched = True
                    break
            if matched:
                continue
        out[k] = line[i]
        k += 1
        i += 1
    return out[:k]


@njit
def _line_facts(
    line: np.ndarray, space: np.ndarray, limit: int, minimum: int
) -> tuple[bool, bool, bool, bool]:
    """Whether a whitespace word of the line is longer than ``limit`` (-1: no limit), whether
    it has fewer than ``minimum`` words, and whether it holds a "[" and a "{"."""
    words, size, longest, bracket, curly = 0, 0, 0, False, False
    for c in line:
        if space[c]:
            size = 0
            continue
        words += size == 0
        size += 1
        longest = max(longest, size)
        bracket |= c == 91
        curly |= c == 123
    return limit >= 0 and longest > limit, words < minimum, bracket, curly


@njit
def _kept_lines(
    cps: np.ndarray, boundary: np.ndarray, space: np.ndarray, digit: np.ndarray,
    lower: np.ndarray, rules: np.ndarray, phrases: tuple[np.ndarray, ...],
    sentence_classes: np.ndarray,
) -> tuple[np.ndarray, int, bool, bool, int, np.ndarray, np.ndarray, bool]:  # fmt: skip
    """C4's line loop over code points: the kept lines joined by newlines, the removed count,
    the document flags, the sentences; and where the kept lines that hold a character start
    and end in ``cps``, with whether removing citation markers rewrote a kept line (then those
    spans are empty). ``rules``: max word length (-1: none), min words per line, then
    remove_citations, filter_no_terminal_punct, filter_javascript, filter_policy."""
    limit, min_words, citations, punct, javascript, policy = rules
    citation_words, citation_ends, points, phrase_ends, groups, starting = phrases
    starts, ends = stripped_lines(cps, boundary, space)
    out = np.empty(cps.size + starts.size, np.uint32)
    k, removed, lorem, curly, emptied, kept = 0, 0, False, False, 0, 0
    verbatim = np.empty(starts.size, np.int64)  # the kept lines as they stand in ``cps``
    n_verbatim, rewritten = 0, False
    for p in range(starts.size):
        line = cps[starts[p] : ends[p]]
        if not line.size:  # kept only when no rule drops empty lines; never counted as removed
            if min_words == 0 and not punct:
                if kept:
                    out[k] = 10
                    k += 1
                kept += 1
            continue
        removed += 1  # until the line is kept
        too_long, few_words, bracket, has_curly = _line_facts(line, space, limit, min_words)
        if too_long:
            continue
        if citations and bracket:
            line = _without_citations(line, digit, citation_words, citation_ends)
        if punct:
            n = line.size
            if not n or line[n - 1] not in _END_PUNCTUATION:
                continue
            if n >= 3 and line[n - 1] == line[n - 2] == line[n - 3] == 46:  # "..."
                continue
        if few_words:
            continue
        found = _phrase_groups(line, lower, points, phrase_ends, groups, starting)
        lorem = lorem or found & _LOREM != 0
        if javascript and found & _JAVASCRIPT:
            continue
        curly = curly or has_curly  # removing citation markers removes no "{"
        if policy and found & _POLICY:
            continue
        removed -= 1
        if kept:
            out[k] = 10
            k += 1
        kept += 1
        for c in line:  # no slice assignment (see gopher_repetition._ngram_chars)
            out[k] = c
            k += 1
        emptied += line.size == 0
        rewritten = rewritten or line.size != ends[p] - starts[p]  # citation markers went
        verbatim[n_verbatim] = p
        n_verbatim += 1
    joined = out[:k]
    sentences = _sentences(joined, sentence_classes) + emptied
    kept_lines = verbatim[: 0 if rewritten else n_verbatim]
    return joined, removed, lorem, curly, sentences, starts[kept_lines], ends[kept_lines], rewritten


@functools.cache
def _digits() -> np.ndarray:
    """Per code point, whether it is a decimal digit (``\\d``: \\w, and not a letter)."""
    return (char_classes() & (ALNUM | LETTER)) == ALNUM


@functools.cache
def _phrase_tables() -> tuple[np.ndarray, ...]:
    """The citation words packed (:func:`gristmill.filters.words.packed`); the phrases packed,
    each one's group; and per code point, the phrases whose first character it can be (row 0)
    and those whose second (row 1), a bit each, by its lowercase."""
    starting = np.zeros((2, 128), np.uint8)
    for i, (phrase, _) in enumerate(_PHRASES):
        for at in range(2):
            starting[at, ord(phrase[at])] |= 1 << i
    groups = np.array([g for _, g in _PHRASES], np.int64)
    phrases = packed([p for p, _ in _PHRASES])
    return *packed(_CITATION_WORDS), *phrases, groups, starting[:, _ascii_lower()]


@functools.cache
def _rules(cfg: C4Config) -> np.ndarray:
    """The config's line rules as :func:`_kept_lines` reads them (once per config, not per
    document)."""
    return np.array(
        [
            -1 if cfg.max_word_length is None else cfg.max_word_length,
            cfg.min_words_per_line,
            cfg.remove_citations,
            cfg.filter_no_terminal_punct,
            cfg.filter_javascript,
            cfg.filter_policy,
        ],
        np.int64,
    )


@functools.lru_cache(maxsize=1)
def _clean(text: str, cfg: C4Config) -> _Cleaned:
    """One pass over the lines: the kept lines, the removed count and the document flags.

    Sentences are counted in the kept lines joined by newlines; a kept line that removing
    citation markers emptied counts one, as every kept line does."""
    joined, removed, lorem, curly, sentences, starts, ends, rewritten = _kept_lines(
        text_code_points(text), boundaries(), spaces(), _digits(), _ascii_lower(), _rules(cfg),
        _phrase_tables(), _sentence_classes(),
    )  # fmt: skip
    cleaned = from_code_points(joined).strip()
    if not rewritten:
        made_of_pieces(cleaned, text, starts, ends)
    return _Cleaned(cleaned, removed, lorem, curly, sentences)


def clean(text: str, cfg: C4Config) -> tuple[str, dict[str, int]]:
    """The text with C4's line rules applied, and how many content lines and characters went.

    ``c4_chars_removed`` is ``len(text) - len(cleaned)``: removed lines, citation markers and the
    whitespace that stripping and re-joining the kept lines takes away."""
    if not cfg.enabled:
        return text, {"c4_lines_removed": 0, "c4_chars_removed": 0}
    cleaned = _clean(text, cfg)
    return cleaned.text, {
        "c4_lines_removed": cleaned.lines_removed,
        "c4_chars_removed": len(text) - len(cleaned.text),
    }


def signals(text: str, cfg: C4Config, *, lang: str | None = None) -> dict[str, int | float]:
    """C4's signals of the ORIGINAL text under ``cfg``'s line rules (see the module docstring)."""
    cleaned = _clean(text, cfg)
    return {
        "c4_lines_removed": cleaned.lines_removed,
        "c4_chars_removed": len(text) - len(cleaned.text),
        "c4_has_lorem_ipsum": int(cleaned.has_lorem_ipsum),
        "c4_has_curly_bracket": int(cleaned.has_curly_bracket),
        "c4_sentences": cleaned.sentences,
    }


def decide(sig: dict[str, int | float], cfg: C4Config) -> str | None:
    """C4's document rules over the signals, or None to keep the (cleaned) document."""
    if not cfg.enabled:
        return None
    if cfg.filter_lorem_ipsum and sig["c4_has_lorem_ipsum"]:
        return LOREM_IPSUM
    if cfg.filter_curly_bracket and sig["c4_has_curly_bracket"]:
        return CURLY_BRACKET
    if sig["c4_sentences"] < cfg.min_num_sentences:
        return TOO_FEW_SENTENCES
    return None
