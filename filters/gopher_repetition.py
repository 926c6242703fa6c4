"""Gopher's repetition rules (Rae et al. 2021, appendix A, table A1), with datatrove's defaults.

Repeated lines, paragraphs and n-grams mark boilerplate, link farms and spam; Gopher found them to
correlate with low-quality text. Every fraction follows datatrove's ``GopherRepetitionFilter``
and divides by the document's length in characters, ``len(text)``:

- lines are the pieces of ``text`` split on runs of newlines (blank lines are not lines);
  paragraphs are the pieces of the stripped ``text`` split on two or more newlines. A line or
  paragraph is a duplicate when an identical one came before it: the *fraction* counts those
  duplicates over all lines (paragraphs), the *char fraction* sums their lengths over
  ``len(text)``. The first occurrence is never counted.
- top n-gram char fraction (n = 2, 3, 4): the most frequent word n-gram (the first to reach the
  top count, on ties), its length joined with single spaces, times its number of occurrences,
  overlapping ones included. An n-gram seen once still counts; in documents long enough to pass
  Gopher's 50-word minimum that stays far below the thresholds.
- duplicate n-gram char fraction (n = 5 ... 10): a left-to-right scan over word positions that
  keeps the set of n-grams seen; an n-gram already in the set adds the characters of its words
  (without the spaces between them) and the scan jumps past it, so overlapping repeats are not
  counted twice and the fraction cannot exceed 1; an unseen n-gram joins the set and the scan
  moves one word on. The n-grams the jump passes over are not added to the set.

Words are :func:`gristmill.filters.words.words` (punctuation split off as datatrove's English
tokenizer splits it). The results equal those of datatrove's definitions over the same words;
``_ngram_chars`` says how they are computed faster.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from gristmill.filters.words import words
from gristmill.pipeline.config_checks import check

PREFIX = "gopher_rep_"
TOP_NGRAMS = (2, 3, 4)
DUP_NGRAMS = (5, 6, 7, 8, 9, 10)
# Measured fractions in the order datatrove checks them; each is both a signal (PREFIX + name),
# a threshold (cfg.max_<name>) and a drop reason (PREFIX + name).
RULES = (
    "dup_para_frac",
    "dup_para_char_frac",
    "dup_line_frac",
    "dup_line_char_frac",
    *(f"top_{n}gram_char_frac" for n in TOP_NGRAMS),
    *(f"dup_{n}gram_char_frac" for n in DUP_NGRAMS),
)
DROP_REASONS = tuple(PREFIX + rule for rule in RULES)
SIGNAL_FIELDS = [pa.field(PREFIX + rule, pa.float64()) for rule in RULES]

_PARAGRAPH_BREAK = re.compile(r"\n{2,}")
_LINE_BREAK = re.compile(r"\n+")


@dataclass(frozen=True)
class GopherRepetitionConfig:
    """Gopher's table A1 maxima; a document above any of them is dropped."""

    enabled: bool = True
    max_dup_para_frac: float = 0.3
    max_dup_para_char_frac: float = 0.2
    max_dup_line_frac: float = 0.3
    max_dup_line_char_frac: float = 0.2
    max_top_2gram_char_frac: float = 0.20
    max_top_3gram_char_frac: float = 0.18
    max_top_4gram_char_frac: float = 0.16
    max_dup_5gram_char_frac: float = 0.15
    max_dup_6gram_char_frac: float = 0.14
    max_dup_7gram_char_frac: float = 0.13
    max_dup_8gram_char_frac: float = 0.12
    max_dup_9gram_char_frac: float = 0.11
    max_dup_10gram_char_frac: float = 0.10

    def __post_init__(self) -> None:
        for rule in RULES:
            key = f"quality.gopher_repetition.max_{rule}"
            check(0.0 <= getattr(self, "max_" + rule) <= 1.0, key, "must be in [0, 1]")


def duplicates(items: Sequence[str]) -> tuple[int, int]:
    """How many items repeat an earlier one, and their total length (first occurrences excluded).

    datatrove's ``find_duplicates``, counted with a Counter instead of a Python loop."""
    counts = Counter(items)
    n_dups = len(items) - len(counts)
    if not n_dups:
        return 0, 0
    return n_dups, sum(len(item) * (c - 1) for item, c in counts.items() if c > 1)


def _ngram_chars(words: list[str]) -> dict[str, int]:
    """Top n-gram characters (n in TOP_NGRAMS) and duplicate n-gram characters (n in DUP_NGRAMS).

    No n-gram is built as a string or tuple: every word gets an integer id, and the n-gram at a
    position gets the rank of the pair (id of the (n-1)-gram there, id of the word that extends
    it) among the distinct pairs, which np.unique computes in C along with each n-gram's count
    and first position. The most frequent n-gram on ties is the one seen first (datatrove's
    Counter.most_common). The duplicate scan visits only positions whose n-gram occurs more than
    once; an n-gram seen once can never be found in the set, so skipping it changes nothing. A
    document without a repeated n-gram has no repeated longer one either, so the scans stop there.
    """
    chars = dict.fromkeys(
        [f"top_{n}gram_char_frac" for n in TOP_NGRAMS]
        + [f"dup_{n}gram_char_frac" for n in DUP_NGRAMS],
        0,
    )
    n_words = len(words)
    vocab: dict[str, int] = {}  # word -> position of its first occurrence
    word_ids = np.fromiter(map(vocab.setdefault, words, range(n_words)), np.int64, n_words)
    ends = np.zeros(n_words + 1, np.int64)  # ends[i]: characters of words[:i], no spaces
    np.cumsum(np.fromiter(map(len, words), np.int64, n_words), out=ends[1:])
    gram_ids = word_ids
    for n in range(2, DUP_NGRAMS[-1] + 1):
        m = n_words - n + 1  # n-grams in the document
        if m <= 0:
            break
        pairs = gram_ids[:m] * n_words + word_ids[n - 1 :]
        _, first, gram_ids, counts = np.unique(
            pairs, return_index=True, return_inverse=True, return_counts=True
        )
        if n in TOP_NGRAMS:
            top = counts.max()
            p = int(first[counts == top].min())
            chars[f"top_{n}gram_char_frac"] = int(ends[p + n] - ends[p] + n - 1) * int(top)
        elif len(counts) == m:  # no repeated n-gram, so no repeated longer one
            break
        else:
            repeated = np.flatnonzero(counts[gram_ids] > 1)
            seen: set[int] = set()
            resume, dup_chars = 0, 0
            for p, gram in zip(repeated.tolist(), gram_ids[repeated].tolist(), strict=True):
                if p < resume:
                    continue
                if gram in seen:
                    dup_chars += int(ends[p + n] - ends[p])
                    resume = p + n
                else:
                    seen.add(gram)
            chars[f"dup_{n}gram_char_frac"] = dup_chars
    return chars


def signals(
    text: str, cfg: GopherRepetitionConfig | None = None, *, lang: str | None = None
) -> dict[str, int | float]:
    """The repetition fractions of one document (all 0.0 for an empty one), under any config."""
    n_chars = len(text)
    if not n_chars:
        return {f.name: 0.0 for f in SIGNAL_FIELDS}
    paragraphs = _PARAGRAPH_BREAK.split(text.strip())
    para_dups, para_dup_chars = duplicates(paragraphs)
    lines = _LINE_BREAK.split(text)
    line_dups, line_dup_chars = duplicates(lines)
    sig: dict[str, int | float] = {
        PREFIX + "dup_para_frac": para_dups / len(paragraphs),
        PREFIX + "dup_para_char_frac": para_dup_chars / n_chars,
        PREFIX + "dup_line_frac": line_dups / len(lines),
        PREFIX + "dup_line_char_frac": line_dup_chars / n_chars,
    }
    for rule, chars in _ngram_chars(list(words(text))).items():
        sig[PREFIX + rule] = chars / n_chars
    return sig


def decide(sig: dict[str, int | float], cfg: GopherRepetitionConfig) -> str | None:
    """The first repetition rule over its maximum, in datatrove's order, or None to keep it."""
    if not cfg.enabled:
        return None
    for rule, reason in zip(RULES, DROP_REASONS, strict=True):
        if sig[PREFIX + rule] > getattr(cfg, "max_" + rule):
            return reason
    return None
