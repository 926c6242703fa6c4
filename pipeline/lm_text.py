"""The text normalization of the n-gram language model, the same at training and at scoring time.

A document becomes a list of *LM lines*: one per sentence, each a string of tokens separated by
single spaces, never empty. ``jobs/train_lm.py`` counts n-grams over these lines (each line is one
``<s> ... </s>`` sentence, as lmplz reads a text file) and ``filters/perplexity.py`` scores the
same lines, so a model only ever sees text normalized by :func:`lm_lines`.

The normalization follows CCNet's ``text_normalizer.normalize`` (Wenzek et al. 2020). Its tokens
are whitespace words, or, for a model trained with ``--tokenizer sentencepiece`` (CCNet's way,
which a language written without spaces needs), the SentencePiece pieces of each normalized
sentence:

1. split into lines, then into sentences after ``. ! ? …`` followed by a space and a character
   that is not a lowercase ASCII letter (so "e.g. the" stays whole), and after the CJK full
   stop, exclamation and question marks (U+3002, U+FF01, U+FF1F);
2. Unicode NFKC (full-width forms, ligatures, superscripts), then lowercase;
3. accents stripped (NFD, combining marks dropped, NFC again) -- only for non-ASCII lines;
4. every decimal digit becomes ``0`` (CCNet), and ``.``/``,`` between digits are dropped, so
   "1,234.5" is the single token ``00000``;
5. apostrophes are dropped ("don't" -> ``dont``); every other punctuation or symbol character
   (Unicode categories P* and S*) and every control character becomes a space;
6. whitespace tokenization.

``<``, ``>`` and ``/`` are punctuation, so the model's special words ``<s>``, ``</s>`` and
``<unk>`` can never come out of a document. A document is normalized in one pass over its
sentences joined by newlines; the character tables are built once per process (about 40 ms).
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Iterable, Iterator

import numpy as np
import pyarrow as pa
import sentencepiece

# Sentence ends: western punctuation needs a following space and no lowercase continuation;
# CJK full stops need neither.
# Each pattern starts with a character class, not a lookbehind, so that the regex engine skips
# ahead to the candidates instead of trying every position (about 2x faster).
# The whole text is split at once, its lines joined by "\n": a break is a line end or a sentence
# end within a line, whose trailing spaces ([^\S\n]*) stop at the line's end.
_SENTENCE_END = re.compile(r"\s(?<=[.!?…]\s)[^\S\n]*(?![a-z])|\n")
_CJK_STOPS = "。！？"
_SENTENCE_END_CJK = re.compile(rf"{_SENTENCE_END.pattern}|(?<=[{_CJK_STOPS}])[^\S\n]*")
_DIGIT_GROUPING = re.compile(r"[.,](?<=\d[.,])(?=\d)")
_APOSTROPHES = "'’ʼ‘`´"
# Planes with punctuation, symbols, digits and combining marks: BMP, SMP (emoji, math digits)
# and plane 14 (tags, variation selectors). Planes 2-3 hold CJK ideographs only.
_PLANES = (range(0x0000, 0x20000), range(0xE0000, 0xE1000))


# A code point a table deletes.
_DELETE = np.uint32(0xFFFFFFFF)


@functools.cache
def _tables() -> tuple[np.ndarray, np.ndarray]:
    """(characters table, combining-marks table): the code point each code point becomes, or
    _DELETE, as arrays indexed by code point (a document is translated in one numpy gather,
    where ``str.translate`` with a dict looks up every character in Python)."""
    chars = np.arange(0x110000, dtype=np.uint32)
    marks = chars.copy()
    for plane in _PLANES:
        for code in plane:
            category = unicodedata.category(chr(code))
            if category == "Nd":
                chars[code] = ord("0")
            elif (category[0] in "PS" or category == "Cc") and chr(code) not in "\t\n\r":
                chars[code] = ord(" ")
            elif category == "Cf":
                chars[code] = _DELETE
            elif category == "Mn":
                marks[code] = _DELETE
    for apostrophe in _APOSTROPHES:
        chars[ord(apostrophe)] = _DELETE
    return chars, marks


def _translate(text: str, table: np.ndarray) -> str:
    # Not filters.words.code_points: that module loads numba, which `--help` must not.
    mapped = table[np.frombuffer(text.encode("utf-32-le", "surrogatepass"), np.uint32)]
    kept = mapped[mapped != _DELETE]
    return kept.tobytes().decode("utf-32-le", "surrogatepass")


def _normalized(text: str) -> str:
    """Steps 2-5 over a whole text: each maps characters one by one or composes within a line
    only, so a document's sentences joined by newlines come out as if each went alone."""
    chars, marks = _tables()
    text = unicodedata.normalize("NFKC", text).lower()
    if not text.isascii():
        text = unicodedata.normalize("NFC", _translate(unicodedata.normalize("NFD", text), marks))
    return _translate(_DIGIT_GROUPING.sub("", text), chars)


def normalize(line: str) -> str:
    """One line (sentence) -> its tokens joined by single spaces; '' when nothing is left."""
    return " ".join(_normalized(line).split())


def split_sentences(text: str) -> list[str]:
    """A document's lines split into sentences (not normalized, possibly blank)."""
    cjk = any(stop in text for stop in _CJK_STOPS)
    return (_SENTENCE_END_CJK if cjk else _SENTENCE_END).split("\n".join(text.splitlines()))


def lm_lines(text: str, pieces: Pieces | None = None) -> list[str]:
    """A document as the model sees it: its normalized, non-empty sentences; with a
    SentencePiece model, each as its pieces joined by spaces (CCNet's tokenization)."""
    normalized = _normalized("\n".join(split_sentences(text))).split("\n")
    lines = [line for line in (" ".join(n.split()) for n in normalized) if line]
    if pieces is None or not lines:
        return lines
    return [" ".join(p) for p in pieces.encode(lines, out_type=str)]


def sentence_batches(batches: Iterable[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """mapInArrow body: documents (first column) in, their normalized sentences out (``line``),
    the text a SentencePiece tokenizer for the model learns from."""
    for batch in batches:
        lines = [line for text in batch.column(0).to_pylist() if text for line in lm_lines(text)]
        yield pa.RecordBatch.from_arrays([pa.array(lines, pa.string())], names=["line"])


# A model's SentencePiece tokenizer travels as its serialized bytes (a few hundred KB), so Spark
# tasks and quality workers need no file of their own; each process loads it once.
Pieces = sentencepiece.SentencePieceProcessor
PIECES_FILE = "sentencepiece.model"


@functools.lru_cache(maxsize=8)
def load_pieces(proto: bytes) -> Pieces:
    return sentencepiece.SentencePieceProcessor(model_proto=proto)


# WikiText (Merity et al. 2016) is tokenized: words split off punctuation, "@-@" inside
# hyphenated words and numbers, rare words replaced by <unk>, and headings as "= = Title = =".
_WIKITEXT_RULES = [
    (re.compile(r" @(.)@ "), r"\1"),
    (re.compile(r"\s*<unk>"), ""),
    (re.compile(r" ([.,;:!?%)\]}])"), r"\1"),
    (re.compile(r"([(\[{$£]) "), r"\1"),
    (re.compile(r" (n't|'s|'re|'ve|'m|'ll|'d)\b"), r"\1"),
]
_WIKITEXT_HEADING = re.compile(r"^\s*(=\s)+(.*?)(\s=)+\s*$")


def detokenize_wikitext(text: str) -> str:
    """WikiText's tokenized lines back to plain text: <unk> dropped, headings as plain lines."""
    out = []
    for line in text.splitlines():
        heading = _WIKITEXT_HEADING.match(line)
        line = heading.group(2) if heading else line
        for pattern, replacement in _WIKITEXT_RULES:
            line = pattern.sub(replacement, line)
        out.append(line.strip())
    return "\n".join(out)
