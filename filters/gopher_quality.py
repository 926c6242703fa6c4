"""Gopher's quality filter (Rae et al. 2021, appendix A, "Quality Filtering"), datatrove's defaults.

Gopher keeps a document of 50 to 100,000 words, mean word length 3 to 10 characters, at most 0.1
hash symbols and at most 0.1 ellipses per word, at most 90% of lines starting with a bullet and
30% ending with an ellipsis, at least 80% of words containing a letter, and at least 2 of the
English stop words {the, be, to, of, and, that, have, with}. The checks and their order follow
datatrove's ``GopherQualityFilter``.

Words are :func:`gristmill.filters.words.word_table`'s, which splits like datatrove's English word
tokenizer (spaCy's): punctuation is its own word, so every comma counts as a word without a
letter, as in the FineWeb runs the thresholds come from. A word made only of punctuation or
symbols ("-", "|", "»", "©") is not counted among the words or in their mean length (datatrove
likewise leaves out words made of its punctuation set); the per-word ratios divide by all words,
as datatrove's do.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from gristmill.filters.lines import boundaries, spaces, stripped_lines
from gristmill.filters.words import text_code_points, word_hashes, word_table
from gristmill.pipeline.config_checks import check
from gristmill.pipeline.kernels import njit

TOO_FEW_WORDS = "gopher_too_few_words"
TOO_MANY_WORDS = "gopher_too_many_words"
WORDS_TOO_SHORT = "gopher_mean_word_length_too_short"
WORDS_TOO_LONG = "gopher_mean_word_length_too_long"
TOO_MANY_HASHES = "gopher_too_many_hashes"
TOO_MANY_ELLIPSES = "gopher_too_many_ellipses"
TOO_MANY_BULLET_LINES = "gopher_too_many_bullet_lines"
TOO_MANY_ELLIPSIS_LINES = "gopher_too_many_ellipsis_lines"
TOO_FEW_ALPHA_WORDS = "gopher_too_few_alpha_words"
TOO_FEW_STOP_WORDS = "gopher_too_few_stop_words"
DROP_REASONS = (
    TOO_FEW_WORDS,
    TOO_MANY_WORDS,
    WORDS_TOO_SHORT,
    WORDS_TOO_LONG,
    TOO_MANY_HASHES,
    TOO_MANY_ELLIPSES,
    TOO_MANY_BULLET_LINES,
    TOO_MANY_ELLIPSIS_LINES,
    TOO_FEW_ALPHA_WORDS,
    TOO_FEW_STOP_WORDS,
)

SIGNAL_FIELDS = [
    pa.field("gopher_words", pa.int64()),
    pa.field("gopher_mean_word_length", pa.float64()),
    pa.field("gopher_hash_ratio", pa.float64()),
    pa.field("gopher_ellipsis_ratio", pa.float64()),
    pa.field("gopher_bullet_lines_ratio", pa.float64()),
    pa.field("gopher_ellipsis_lines_ratio", pa.float64()),
    pa.field("gopher_alpha_words_ratio", pa.float64()),
    pa.field("gopher_stop_words", pa.int64()),
]

# Gopher's list (appendix A); datatrove counts how many distinct ones occur, case-sensitively.
STOP_WORDS = frozenset({"the", "be", "to", "of", "and", "that", "have", "with"})
# datatrove's bullets: the bullet sign and the hyphen-minus that plain-text lists use instead.
BULLETS = ("•", "-")
ELLIPSES = ("...", "…")
_BULLET, _HYPHEN = (ord(c) for c in BULLETS)
_FULL_STOP, _ELLIPSIS, _HASH = ord(ELLIPSES[0][0]), ord(ELLIPSES[1]), ord("#")

_STOP_WORD_HASHES = word_hashes(sorted(STOP_WORDS))


@dataclass(frozen=True)
class GopherQualityConfig:
    """Gopher's quality thresholds as datatrove sets them; a document outside any is dropped."""

    enabled: bool = True
    min_doc_words: int = 50
    max_doc_words: int = 100_000
    min_avg_word_length: float = 3.0
    max_avg_word_length: float = 10.0
    # Hashes per word and ellipses per word, each on its own (Gopher: "either ... or").
    max_symbol_word_ratio: float = 0.1
    max_bullet_lines_ratio: float = 0.9
    max_ellipsis_lines_ratio: float = 0.3
    # datatrove calls this max_non_alpha_words_ratio, but it is the minimum share of words that
    # contain a letter (its own TODO says to rename it).
    min_alpha_words_ratio: float = 0.8
    min_stop_words: int = 2

    def __post_init__(self) -> None:
        key = "quality.gopher_quality."
        check(self.min_doc_words >= 0, key + "min_doc_words", "must be >= 0")
        check(
            self.max_doc_words >= self.min_doc_words,
            key + "max_doc_words",
            "must be >= min_doc_words",
        )
        check(self.min_avg_word_length >= 0, key + "min_avg_word_length", "must be >= 0")
        check(
            self.max_avg_word_length >= self.min_avg_word_length,
            key + "max_avg_word_length",
            "must be >= min_avg_word_length",
        )
        check(self.max_symbol_word_ratio >= 0, key + "max_symbol_word_ratio", "must be >= 0")
        for name in ("max_bullet_lines_ratio", "max_ellipsis_lines_ratio", "min_alpha_words_ratio"):
            check(0.0 <= getattr(self, name) <= 1.0, key + name, "must be in [0, 1]")
        check(
            0 <= self.min_stop_words <= len(STOP_WORDS),
            key + "min_stop_words",
            f"must be in [0, {len(STOP_WORDS)}]",
        )


@njit
def _marked_lines(
    cps: np.ndarray, boundary: np.ndarray, space: np.ndarray
) -> tuple[int, int, int, int, int]:
    """Lines, how many start with a bullet after their leading whitespace and how many end with
    an ellipsis before their trailing whitespace (``str.splitlines``; ``line.lstrip()
    .startswith(BULLETS)``, ``line.rstrip().endswith(ELLIPSES)``); and the text's hash signs
    and ellipses (``text.count("#")``, ``text.count("...") + text.count("…")``)."""
    starts, ends = stripped_lines(cps, boundary, space)
    bullets, ellipses = 0, 0
    for p in range(starts.size):
        first, last = starts[p], ends[p]
        if first == last:
            continue
        if cps[first] == _BULLET or cps[first] == _HYPHEN:
            bullets += 1
        if cps[last - 1] == _ELLIPSIS or (
            last - first >= 3 and cps[last - 1] == cps[last - 2] == cps[last - 3] == _FULL_STOP
        ):
            ellipses += 1
    hashes, ellipsis_marks, dots = 0, 0, 0
    for c in cps:
        hashes += c == _HASH
        ellipsis_marks += c == _ELLIPSIS
        if c == _FULL_STOP:
            dots += 1
        else:
            ellipsis_marks += dots // 3  # "..." counted without overlap, as str.count does
            dots = 0
    return starts.size, bullets, ellipses, hashes, ellipsis_marks + dots // 3


@njit
def _word_counts(
    hashes: np.ndarray, lengths: np.ndarray, letter: np.ndarray, wordchar: np.ndarray,
    stop_words: np.ndarray,
) -> tuple[int, int, int, int]:  # fmt: skip
    """Words (tokens with a letter, digit or "_"), their characters, tokens with a letter, and
    how many of the ``stop_words`` (hashes; an argument, as a cached kernel would keep a global
    array's values past a change of the word hash) occur."""
    words, chars, letters = 0, 0, 0
    found = np.zeros(stop_words.size, np.bool_)
    for w in range(hashes.size):
        letters += letter[w]
        if wordchar[w]:
            words += 1
            chars += lengths[w]
            for s in range(found.size):
                found[s] |= hashes[w] == stop_words[s]
    return words, chars, letters, found.sum()


def signals(
    text: str, cfg: GopherQualityConfig | None = None, *, lang: str | None = None
) -> dict[str, int | float]:
    """The Gopher quality measurements of one document (0 where a ratio has no denominator);
    the same under any config, so a new threshold re-selects without rescoring."""
    tokens = word_table(text)
    n_words, word_chars, letters, stop_words = _word_counts(
        tokens.hashes, tokens.lengths, tokens.letter, tokens.wordchar, _STOP_WORD_HASHES
    )
    lines, bullet_lines, ellipsis_lines, hashes, ellipses = _marked_lines(
        text_code_points(text), boundaries(), spaces()
    )
    per_token = 1.0 / len(tokens) if len(tokens) else 0.0
    per_line = 1.0 / lines if lines else 0.0
    return {
        "gopher_words": n_words,
        "gopher_mean_word_length": word_chars / n_words if n_words else 0.0,
        "gopher_hash_ratio": hashes * per_token,
        "gopher_ellipsis_ratio": ellipses * per_token,
        "gopher_bullet_lines_ratio": bullet_lines * per_line,
        "gopher_ellipsis_lines_ratio": ellipsis_lines * per_line,
        "gopher_alpha_words_ratio": letters * per_token,
        "gopher_stop_words": stop_words,
    }


def decide(sig: dict[str, int | float], cfg: GopherQualityConfig) -> str | None:
    """The first Gopher rule the document fails, in datatrove's order, or None to keep it."""
    if not cfg.enabled:
        return None
    if sig["gopher_words"] < cfg.min_doc_words:
        return TOO_FEW_WORDS
    if sig["gopher_words"] > cfg.max_doc_words:
        return TOO_MANY_WORDS
    if sig["gopher_mean_word_length"] < cfg.min_avg_word_length:
        return WORDS_TOO_SHORT
    if sig["gopher_mean_word_length"] > cfg.max_avg_word_length:
        return WORDS_TOO_LONG
    if sig["gopher_hash_ratio"] > cfg.max_symbol_word_ratio:
        return TOO_MANY_HASHES
    if sig["gopher_ellipsis_ratio"] > cfg.max_symbol_word_ratio:
        return TOO_MANY_ELLIPSES
    if sig["gopher_bullet_lines_ratio"] > cfg.max_bullet_lines_ratio:
        return TOO_MANY_BULLET_LINES
    if sig["gopher_ellipsis_lines_ratio"] > cfg.max_ellipsis_lines_ratio:
        return TOO_MANY_ELLIPSIS_LINES
    if sig["gopher_alpha_words_ratio"] < cfg.min_alpha_words_ratio:
        return TOO_FEW_ALPHA_WORDS
    if sig["gopher_stop_words"] < cfg.min_stop_words:
        return TOO_FEW_STOP_WORDS
    return None
