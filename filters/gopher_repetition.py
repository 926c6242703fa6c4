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

Words are :func:`gristmill.filters.words.word_table`'s (punctuation split off as datatrove's
English tokenizer splits it). The results equal those of datatrove's definitions over the same
words; ``_ngram_chars`` says how they are computed faster (compiled, over the words' hashes), and
lines and paragraphs are spans of code points compared by hash (:mod:`gristmill.filters.lines`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from gristmill.filters.lines import first_seen_ids, newline_pieces, repeated
from gristmill.filters.words import text_code_points, word_table
from gristmill.pipeline.config_checks import check
from gristmill.pipeline.kernels import njit

PREFIX = "gopher_rep_"
TOP_NGRAMS = (2, 3, 4)
DUP_NGRAMS = (5, 6, 7, 8, 9, 10)
# Measured fractions in the order datatrove checks them; each is both a signal (PREFIX + name),
# a threshold (cfg.max_<name>) and a drop reason (PREFIX + name).
NGRAM_RULES = (
    *(f"top_{n}gram_char_frac" for n in TOP_NGRAMS),
    *(f"dup_{n}gram_char_frac" for n in DUP_NGRAMS),
)
RULES = ("dup_para_frac", "dup_para_char_frac", "dup_line_frac", "dup_line_char_frac", *NGRAM_RULES)
DROP_REASONS = tuple(PREFIX + rule for rule in RULES)
SIGNAL_FIELDS = [pa.field(PREFIX + rule, pa.float64()) for rule in RULES]


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


@njit
def _ngram_chars(hashes: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Top n-gram characters (n in TOP_NGRAMS), then duplicate n-gram characters (n in
    DUP_NGRAMS), of the words with these hashes and lengths.

    No n-gram is built: the n-gram at a position gets the id of the pair (id of the (n-1)-gram
    there, id of the word that extends it), ids numbered in order of first appearance, so the
    most frequent n-gram on ties (the one seen first, datatrove's Counter.most_common) is the
    lowest id with the top count. Only candidates are looked up: an n-gram can occur twice only
    where both (n-1)-grams inside it do, so the positions where either is unique hold n-grams
    seen once, which neither the top count (unless nothing repeats: then the first n-gram is the
    top one) nor the duplicate scan (one seen once is never found in the set) needs. Past the
    word pairs that leaves a few percent of the positions (4-13% over the shared real pages),
    and the kernel takes 40% less time. A document without a repeated n-gram has no repeated
    longer one either, so the scans stop there.
    """
    out = np.zeros(len(TOP_NGRAMS) + len(DUP_NGRAMS), np.int64)
    n_words = hashes.size
    ends = np.zeros(n_words + 1, np.int64)  # ends[i]: characters of the first i words, no spaces
    # A loop, not ``ends[1:] = np.cumsum(lengths)``: numba compiles a slice assignment's shape
    # check with its error message, 3.5 s once in every process whose cache is cold (each new
    # executor of a cluster, a fresh install), so the kernels of a stage assign to no slice.
    for i in range(n_words):
        ends[i + 1] = ends[i] + lengths[i]
    word_ids, word_counts, _ = first_seen_ids(hashes)
    n_distinct = np.uint64(max(word_counts.size, 1))
    ids = word_ids.copy()  # the id of the (n-1)-gram at each position where it repeats
    repeats = word_counts[word_ids] > 1
    for n in range(2, DUP_NGRAMS[-1] + 1):
        m = n_words - n + 1  # n-grams in the document
        if m <= 0:
            break
        candidates = np.flatnonzero(repeats[:m] & repeats[1 : m + 1])
        keys = np.empty(candidates.size, np.uint64)
        for j, p in enumerate(candidates):
            keys[j] = np.uint64(ids[p]) * n_distinct + np.uint64(word_ids[p + n - 1])
        gram_ids, counts, firsts = first_seen_ids(keys)
        repeats = np.zeros(m, np.bool_)
        for j, p in enumerate(candidates):
            if counts[gram_ids[j]] > 1:
                repeats[p], ids[p] = True, gram_ids[j]
        top = int(counts.max()) if counts.size else 1
        if n <= TOP_NGRAMS[-1]:
            first = int(candidates[firsts[np.argmax(counts == top)]]) if top > 1 else 0
            out[n - 2] = (ends[first + n] - ends[first] + n - 1) * top
        elif top == 1:  # no repeated n-gram, so no repeated longer one
            break
        else:
            seen = np.zeros(counts.size, np.bool_)
            resume = 0
            for p in candidates:
                if p < resume or not repeats[p]:
                    continue
                if seen[ids[p]]:
                    out[n - 2] += ends[p + n] - ends[p]
                    resume = int(p) + n
                else:
                    seen[ids[p]] = True
    return out


def signals(
    text: str, cfg: GopherRepetitionConfig | None = None, *, lang: str | None = None
) -> dict[str, int | float]:
    """The repetition fractions of one document (all 0.0 for an empty one), under any config."""
    n_chars = len(text)
    if not n_chars:
        return {f.name: 0.0 for f in SIGNAL_FIELDS}
    cps = text_code_points(text)
    first = n_chars - len(text.lstrip())  # paragraphs are pieces of text.strip()
    paragraphs = newline_pieces(cps, first, max(first, len(text.rstrip())), 2)
    para_dups, para_dup_chars = repeated(cps, *paragraphs)
    lines = newline_pieces(cps, 0, n_chars, 1)
    line_dups, line_dup_chars = repeated(cps, *lines)
    sig: dict[str, int | float] = {
        PREFIX + "dup_para_frac": para_dups / paragraphs[0].size,
        PREFIX + "dup_para_char_frac": para_dup_chars / n_chars,
        PREFIX + "dup_line_frac": line_dups / lines[0].size,
        PREFIX + "dup_line_char_frac": line_dup_chars / n_chars,
    }
    table = word_table(text)
    ngram_chars = _ngram_chars(table.hashes, table.lengths).tolist()
    for rule, chars in zip(NGRAM_RULES, ngram_chars, strict=True):
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
