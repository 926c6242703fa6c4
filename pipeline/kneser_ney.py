"""The pure parts of interpolated modified Kneser-Ney estimation, as lmplz does it.

References: Chen & Goodman 1998, "An Empirical Study of Smoothing Techniques for Language
Modeling" (modified Kneser-Ney, eq. 26 for the discounts); Heafield et al. 2013, "Scalable
Modified Kneser-Ney Language Model Estimation" (lmplz, whose choices are followed here: they are
cited from kenlm's ``lm/builder`` sources). ``jobs/train_lm.py`` runs the estimation on Spark and
uses this module for what happens per sentence, per order and per ARPA line.

The estimate, for an n-gram ``h w`` of order k with context h and suffix context h':

    p(w | h) = (a(h w) - D_k(a(h w))) / sum_x a(h x)  +  gamma(h) * p(w | h')
    gamma(h) = (D_k(1) N1(h) + D_k(2) N2(h) + D_k(3+) N3+(h)) / sum_x a(h x)

where a is the adjusted count (below), N_i(h) the number of words x with a(h x) = i (3: 3 or
more), and the unigram distribution is interpolated with the uniform 1 / |V|, V being the
vocabulary with ``<unk>`` and ``</s>`` but without ``<s>``. gamma(h) is the backoff weight of h
in the ARPA file.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from typing import NamedTuple

import pyarrow as pa

from gristmill.pipeline.errors import UsageError
from gristmill.pipeline.lm_text import lm_lines, load_pieces

BOS = "<s>"
EOS = "</s>"
UNK = "<unk>"


class DiscountError(UsageError):
    """Count-of-counts for which the closed-form discounts do not exist (tiny or odd data)."""


class Discounts(NamedTuple):
    """D(1), D(2) and D(3+) of one order."""

    d1: float
    d2: float
    d3: float


# lmplz --discount_fallback's defaults.
FALLBACK_DISCOUNTS = Discounts(0.5, 1.0, 1.5)


def modified_kn_discounts(order: int, n: Sequence[int]) -> Discounts:
    """Chen & Goodman eq. 26 from ``n = (n1, n2, n3, n4)``, the numbers of n-grams of this
    order whose adjusted count is 1, 2, 3 and 4; lmplz's checks (adjust_counts.cc)."""
    n1, n2, n3, n4 = n
    for j, nj in enumerate((n1, n2, n3), start=1):
        if nj == 0:
            raise DiscountError(
                f"no {order}-grams with adjusted count {j}: cannot estimate Kneser-Ney "
                "discounts (is the text tiny, artificial or full of duplicates?)"
            )
    y = n1 / (n1 + 2 * n2)
    result = Discounts(1 - 2 * y * n2 / n1, 2 - 3 * y * n3 / n2, 3 - 4 * y * n4 / n3)
    for j, d in enumerate(result, start=1):
        if not 0 <= d <= j:
            raise DiscountError(f"{order}-gram discount D{j} = {d:.4f} is outside [0, {j}]")
    return result


def sentence_ngrams(tokens: Sequence[str], order: int) -> Iterator[tuple[int, str]]:
    """The n-grams counted in one sentence, as (k, "w1 .. wk"): every window of 2 to ``order``
    words of ``<s> tokens </s>`` (for a unigram model, of one word, ``<s>`` excepted: lmplz gives
    ``<s>`` no count).

    Raw counts are used for the highest order and for the windows starting with ``<s>``; every
    other lower-order n-gram gets an adjusted count, the number of distinct windows one order up
    that end with it, so only the set of windows of its order matters.
    """
    words = [BOS, *tokens, EOS]
    if order == 1:
        yield from ((1, word) for word in words[1:])
    for k in range(2, min(order, len(words)) + 1):
        for start in range(len(words) - k + 1):
            yield k, " ".join(words[start : start + k])


# Rows of the counting step: (order, n-gram, count). Order 0 carries two totals of the input.
COUNT_SCHEMA = pa.schema([("order", pa.int32()), ("ngram", pa.string()), ("count", pa.int64())])
SENTENCES = "sentences"
TOKENS = "tokens"
# Distinct n-grams a task holds before handing its partial counts to Spark (lmplz likewise
# deduplicates within a memory block): bounds a task's memory on any document size.
FLUSH_AT = 1 << 18


def ngram_count_batches(
    batches: Iterable[pa.RecordBatch], order: int, pieces: bytes | None = None
) -> Iterator[pa.RecordBatch]:
    """Text batches (first column: documents) -> partial n-gram counts (:data:`COUNT_SCHEMA`).

    Documents are normalized into sentences with :func:`gristmill.pipeline.lm_text.lm_lines`
    (into SentencePiece pieces, given a serialized model); Spark sums the partial counts of all
    tasks.
    """
    tokenizer = load_pieces(pieces) if pieces else None
    counts: Counter[tuple[int, str]] = Counter()
    for batch in batches:
        for text in batch.column(0).to_pylist():
            for line in lm_lines(text, tokenizer) if text else ():
                tokens = line.split()
                counts.update(sentence_ngrams(tokens, order))
                counts[0, SENTENCES] += 1
                counts[0, TOKENS] += len(tokens)
            if len(counts) >= FLUSH_AT:
                yield _count_batch(counts)
                counts = Counter()
    if counts:
        yield _count_batch(counts)


def _count_batch(counts: Counter[tuple[int, str]]) -> pa.RecordBatch:
    keys = list(counts)
    return pa.RecordBatch.from_arrays(
        [
            pa.array([k for k, _ in keys], pa.int32()),
            pa.array([g for _, g in keys], pa.string()),
            pa.array(list(counts.values()), pa.int64()),
        ],
        schema=COUNT_SCHEMA,
    )


def log10_prob(prob: float) -> float:
    # lmplz (interpolate.cc): min(0, log10(p)), correcting rounding above 1.
    return min(0.0, math.log10(prob))


def arpa_header(counts: Sequence[int]) -> str:
    """``\\data\\`` and one ``ngram k=count`` line per order, then the blank line."""
    lines = ["\\data\\", *(f"ngram {k}={n}" for k, n in enumerate(counts, start=1)), "", ""]
    return "\n".join(lines)


def arpa_section_start(order: int) -> str:
    return f"\\{order}-grams:\n"


ARPA_SECTION_END = "\n"
ARPA_END = "\\end\\\n"


def arpa_line(ngram: str, prob: float, backoff: float | None = None) -> str:
    """One ARPA entry (without its newline) from linear values: log10 p, the words, and for every
    order below the highest log10 of the backoff weight (0 where the n-gram is no context, as
    lmplz writes it). Seven significant digits: kenlm reads them into float32."""
    line = f"{_number(log10_prob(prob))}\t{ngram}"
    if backoff is not None:
        line += f"\t{_number(math.log10(backoff))}"
    return line


# The ARPA entries of an order, sortable: (order, n-gram, line).
LINE_SCHEMA = pa.schema([("order", pa.int32()), ("ngram", pa.string()), ("line", pa.string())])


def arpa_line_batches(batches: Iterable[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """(order, ngram, prob, backoff) batches, linear values, backoff null at the highest order
    -> (order, ngram, ARPA line) (:data:`LINE_SCHEMA`)."""
    for batch in batches:
        ngrams = batch.column("ngram").to_pylist()
        entries = zip(
            ngrams,
            batch.column("prob").to_pylist(),
            batch.column("backoff").to_pylist(),
            strict=True,
        )
        lines = [arpa_line(*entry) for entry in entries]
        yield pa.RecordBatch.from_arrays(
            [
                batch.column("order").cast(pa.int32()),
                pa.array(ngrams, pa.string()),
                pa.array(lines, pa.string()),
            ],
            schema=LINE_SCHEMA,
        )


def _number(x: float) -> str:
    return f"{x:.7g}" if x else "0"
