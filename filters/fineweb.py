"""FineWeb's own heuristic filters (Penedo et al. 2024), with datatrove's defaults.

FineWeb added three rules on top of C4 and Gopher, picked by comparing statistics of better and
worse crawl data and kept because each improved its ablation models; datatrove adds a fourth,
for list pages:

- at least 12% of lines end in punctuation (C4's line rule, relaxed to a document share);
- at most 67% of lines are short (30 characters or fewer): menus, lists, tables;
- duplicated lines hold at most 1% of the characters: the characters of the lines that repeat an
  earlier line (first occurrences excluded), over the characters of the text without its
  newlines (datatrove's ``char_duplicates_ratio``);
- at most 0.3 newlines per word (datatrove's ``new_line_ratio``): a page that is one word list.

Lines are the non-blank pieces of the text split on "\\n", not stripped, as in datatrove's
``FineWebQualityFilter``; words are :func:`gristmill.filters.words.word_table`'s, which count
punctuation as words as datatrove's tokenizer does. The short-line length and the line-ending
characters are fixed here (``signals`` takes only the text): FineWeb's 30 characters, and FineWeb's
. ' " ! ? plus the full stops, question and exclamation marks of the major non-Latin scripts
(datatrove's FineWeb-2 version uses the Unicode Sentence_Terminal set).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from gristmill.filters.lines import NEWLINE, newline_pieces, nonblank, repeated, spaces
from gristmill.filters.words import code_points, text_code_points, word_count
from gristmill.pipeline.config_checks import check
from gristmill.pipeline.kernels import njit

TOO_FEW_PUNCT_LINES = "fineweb_too_few_punct_lines"
TOO_MANY_SHORT_LINES = "fineweb_too_many_short_lines"
TOO_MANY_DUP_LINE_CHARS = "fineweb_too_many_dup_line_chars"
TOO_MANY_NEWLINES = "fineweb_too_many_newlines"
DROP_REASONS = (
    TOO_FEW_PUNCT_LINES,
    TOO_MANY_SHORT_LINES,
    TOO_MANY_DUP_LINE_CHARS,
    TOO_MANY_NEWLINES,
)

SIGNAL_FIELDS = [
    pa.field("fineweb_line_punct_ratio", pa.float64()),
    pa.field("fineweb_short_line_ratio", pa.float64()),
    pa.field("fineweb_char_dup_ratio", pa.float64()),
    pa.field("fineweb_newline_ratio", pa.float64()),
]

SHORT_LINE_CHARS = 30
LINE_END_CHARS = (
    ".'\"!?"  # FineWeb's stop characters
    "‼‽⁇⁈⁉"  # doubled marks
    "。．｡！？"  # CJK and full-width
    "؟۔"  # Arabic question mark and full stop
    "।॥"  # Devanagari danda, double danda
    "։"  # Armenian full stop
    "።፧"  # Ethiopic full stop, question mark
    "။"  # Myanmar section
    "។"  # Khmer khan
)


@functools.cache
def _line_ends() -> np.ndarray:
    """Per code point, whether a line ending in it counts as ending in punctuation."""
    table = np.zeros(0x110000, np.bool_)
    table[code_points(LINE_END_CHARS)] = True
    return table


@dataclass(frozen=True)
class FineWebConfig:
    """FineWeb's thresholds as datatrove sets them."""

    enabled: bool = True
    min_line_punct_ratio: float = 0.12
    # FineWeb-2 keeps documents with no punctuated line at all for scripts that do not use it.
    line_punct_exclude_zero: bool = False
    max_short_line_ratio: float = 0.67
    max_char_dup_ratio: float = 0.01
    max_newline_ratio: float = 0.3

    def __post_init__(self) -> None:
        key = "quality.fineweb."
        for name in ("min_line_punct_ratio", "max_short_line_ratio", "max_char_dup_ratio"):
            check(0.0 <= getattr(self, name) <= 1.0, key + name, "must be in [0, 1]")
        check(self.max_newline_ratio >= 0, key + "max_newline_ratio", "must be >= 0")


@njit
def _line_counts(
    cps: np.ndarray, space: np.ndarray, line_end: np.ndarray
) -> tuple[int, int, int, int, int]:
    """Non-blank lines (pieces between newlines), those ending in punctuation, the short ones,
    the characters of those that repeat an earlier one, and the newlines."""
    starts, ends = newline_pieces(cps, 0, cps.size, 1)
    kept = nonblank(cps, starts, ends, space)
    starts, ends = starts[kept], ends[kept]
    punct, short = 0, 0
    for p in range(starts.size):
        punct += line_end[cps[ends[p] - 1]]
        short += ends[p] - starts[p] <= SHORT_LINE_CHARS
    newlines = 0
    for c in cps:
        newlines += c == NEWLINE
    return starts.size, punct, short, repeated(cps, starts, ends)[1], newlines


def signals(
    text: str, cfg: FineWebConfig | None = None, *, lang: str | None = None
) -> dict[str, int | float]:
    """FineWeb's line measurements of one document (0.0 where a ratio has no denominator),
    under any config."""
    lines, punct, short, dup_chars, newlines = _line_counts(
        text_code_points(text), spaces(), _line_ends()
    )
    text_chars = len(text) - newlines
    per_line = 1.0 / lines if lines else 0.0
    return {
        "fineweb_line_punct_ratio": punct * per_line,
        "fineweb_short_line_ratio": short * per_line,
        "fineweb_char_dup_ratio": dup_chars / text_chars if text_chars else 0.0,
        "fineweb_newline_ratio": newlines / max(word_count(text), 1),
    }


def decide(sig: dict[str, int | float], cfg: FineWebConfig) -> str | None:
    """The first FineWeb rule the document fails, in datatrove's order, or None to keep it."""
    if not cfg.enabled:
        return None
    punct = sig["fineweb_line_punct_ratio"]
    if punct < cfg.min_line_punct_ratio and not (punct == 0 and cfg.line_punct_exclude_zero):
        return TOO_FEW_PUNCT_LINES
    if sig["fineweb_short_line_ratio"] > cfg.max_short_line_ratio:
        return TOO_MANY_SHORT_LINES
    if sig["fineweb_char_dup_ratio"] > cfg.max_char_dup_ratio:
        return TOO_MANY_DUP_LINE_CHARS
    if sig["fineweb_newline_ratio"] > cfg.max_newline_ratio:
        return TOO_MANY_NEWLINES
    return None
