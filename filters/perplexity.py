"""Document perplexity under an n-gram model (CCNet's quality signal, Wenzek et al. 2020).

The model is an ARPA file written by ``gristmill train-lm`` (or lmplz), read with the ``kenlm``
module once per Python process and path. Where KenLM's binary form of it lies beside it
(``model.binary``, which train-lm writes with KenLM's ``build_binary``), that file is opened
instead: kenlm memory-maps it, so every Python worker on a machine shares one copy of the model
in the page cache and starts in milliseconds, where an ARPA file is parsed into each worker's
private memory (a 5-gram web model is gigabytes).

A document is normalized exactly as the training text was
(:func:`gristmill.pipeline.lm_text.lm_lines`), every sentence is scored with ``<s>`` and
``</s>``, and

    perplexity = 10 ** (-sum of log10 p over the document / tokens, each sentence's </s> included)

as CCNet's ``perplexity.py`` does over a document's lines, a token being a word or, for a model
with a SentencePiece tokenizer beside it, a piece. Low perplexity: text like the reference
(Wikipedia); high: unlike it (boilerplate, spam, another language). A document with no token
left after normalization has no perplexity: NaN (the quality stage drops it with its own reason,
``perplexity_not_finite``).
"""

from __future__ import annotations

import functools
import json
import math
import os
from collections.abc import Iterable, Iterator
from itertools import repeat
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import kenlm
import pyarrow as pa

from gristmill.pipeline.errors import UsageError
from gristmill.pipeline.layout import Layout
from gristmill.pipeline.lm_text import PIECES_FILE, Pieces, lm_lines, load_pieces, scored_lines

if TYPE_CHECKING:
    from gristmill.pipeline.config import PerplexityConfig

BINARY_SUFFIX = ".binary"


def binary_beside(arpa: str | os.PathLike[str]) -> Path | None:
    """KenLM's binary form of an ARPA model, where it lies beside it (``model.arpa`` ->
    ``model.binary``) and is not older than it: an ARPA file replaced after the binary was
    built is read as ARPA rather than answered by a stale binary."""
    path = Path(arpa)
    binary = path.with_suffix(BINARY_SUFFIX)
    if path.suffix != ".arpa" or not binary.is_file():
        return None
    return binary if binary.stat().st_mtime >= path.stat().st_mtime else None


class LanguageModel(NamedTuple):
    """A KenLM model and, where it was trained over SentencePiece pieces, its tokenizer."""

    kenlm: kenlm.Model
    pieces: Pieces | None


@functools.cache
def _load(path: str) -> LanguageModel:
    tokenizer = Path(path).parent / PIECES_FILE
    pieces = load_pieces(tokenizer.read_bytes()) if tokenizer.is_file() else None
    return LanguageModel(kenlm.Model(str(binary_beside(path) or path)), pieces)


def load_model(model_path: str | os.PathLike[str]) -> LanguageModel:
    """The model at this path, loaded on the first call in this process and shared by every
    later call: memory-mapped from its binary form where there is one, else parsed from ARPA;
    with the SentencePiece tokenizer beside it (``sentencepiece.model``, written by
    ``train-lm --tokenizer sentencepiece``) where there is one."""
    return _load(os.path.abspath(model_path))


def document_perplexity(text: str, model: LanguageModel) -> float:
    lines: list[bytes] | list[str]
    if model.pieces is None:
        lines, tokens = scored_lines(text)
    else:
        pieces = lm_lines(text, model.pieces)
        lines, tokens = pieces, sum(map(str.count, pieces, repeat(" "))) + 2 * len(pieces)
    if not lines:
        return math.nan
    log10_sum = sum(map(model.kenlm.score, lines))  # each line with <s> and </s>, the default
    return 10.0 ** (-log10_sum / tokens)  # tokens: words and each line's </s>


def perplexities(texts: list[str], model_path: str) -> list[float]:
    """Perplexity of each document under the model at ``model_path``."""
    model = load_model(model_path)
    return [document_perplexity(text or "", model) for text in texts]


PERPLEXITY_SCHEMA = pa.schema(
    [("lang", pa.string()), ("perplexity", pa.float64()), ("key", pa.int64())]
)


def perplexity_batches(
    batches: Iterable[pa.RecordBatch], model_path: str
) -> Iterator[pa.RecordBatch]:
    """mapInArrow body: (text, lang, key) in, (lang, perplexity, key) out, to calibrate cut-offs
    (``key``: what a sample of the documents is drawn by)."""
    for batch in batches:
        texts = batch.column("text").to_pylist()
        scores = pa.array(perplexities(texts, model_path), pa.float64())
        yield pa.RecordBatch.from_arrays(
            [batch.column("lang"), scores, batch.column("key")], schema=PERPLEXITY_SCHEMA
        )


# -- bucket cut-offs ----------------------------------------------------------------------------
#
# CCNet cuts each language's perplexities at its 30th and 60th percentiles. Computed per batch,
# a document's bucket (and its training weight) would depend on the night it arrived; so the
# distribution is an artifact, computed once and frozen: the perplexity of each language at every
# whole percentile 1..99, from which any head/middle percentiles of the config are read.

CUTOFFS_FILE = "cutoffs.json"
PERCENTILES = tuple(range(1, 100))
# quality.perplexity.cutoffs: first_batch freezes the first batch's distribution in the output.
FIRST_BATCH = "first_batch"


def cutoffs_location(out: Path, model: str | None, cutoffs: str | None) -> Path | None:
    """The cut-offs file of a perplexity config (None without a model): the configured path,
    the first batch's frozen file in the output, or train-lm's file beside the model."""
    if not model:
        return None
    if cutoffs == FIRST_BATCH:
        return Layout(out).frozen_cutoffs
    return Path(cutoffs) if cutoffs else Path(model).parent / CUTOFFS_FILE


def cutoffs_files(out: Path, p: PerplexityConfig) -> dict[str, Path]:
    """The cut-offs file of each perplexity model: "" for the default model's (the configured
    file, train-lm's beside it, or, with ``first_batch``, the one frozen in the output for every
    language), a language code for a language model's own (beside it)."""
    if p.cutoffs == FIRST_BATCH:
        return {"": Layout(out).frozen_cutoffs} if p.all_models() else {}
    files = {}
    default = cutoffs_location(out, p.model, p.cutoffs)
    if default is not None:
        files[""] = default
    for lang, model in sorted(p.models.items()):
        files[lang] = Path(model).parent / CUTOFFS_FILE
    return files


class CutoffsError(UsageError):
    """A cut-offs file that is missing or not one gristmill wrote; the message says which."""


def percentile_of(quantiles: list[float], percentile: float) -> float:
    """The perplexity at ``percentile`` (0..100) of a language's table, interpolated linearly
    between whole percentiles; below the 1st and above the 99th, the ends of the table."""
    position = min(max(percentile, PERCENTILES[0]), PERCENTILES[-1]) - PERCENTILES[0]
    low = int(position)
    high = min(low + 1, len(quantiles) - 1)
    return quantiles[low] + (quantiles[high] - quantiles[low]) * (position - low)


def cutoffs_for(
    table: dict[str, list[float]], head_percentile: float, middle_percentile: float
) -> dict[str, tuple[float, float]]:
    """Each language's (head, middle) cut-offs from a frozen percentile table."""
    return {
        lang: (percentile_of(q, head_percentile), percentile_of(q, middle_percentile))
        for lang, q in table.items()
    }


def read_cutoffs(path: str | os.PathLike[str]) -> dict[str, Any]:
    """A cut-offs file: {"percentiles": [1..99], "languages": {lang: [perplexity, ...]}, ...}."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise CutoffsError(f"cannot read perplexity cut-offs {path}: {exc}") from exc
    if data.get("percentiles") != list(PERCENTILES) or not isinstance(data.get("languages"), dict):
        raise CutoffsError(f"{path} is not a gristmill perplexity cut-offs file")
    return data
