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
``<unk>`` can never come out of a document. Pure Python; the character tables are built once per
process (about 40 ms).
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Iterable, Iterator

import pyarrow as pa
import sentencepiece

# Sentence ends: western punctuation needs a following space and no lowercase continuation;
# CJK full stops need neither.
_SENTENCE_END = re.compile(r"(?<=[.!?…])\s+(?![a-z])|(?<=[。！？])\s*")
_DIGIT_GROUPING = re.compile(r"(?<=\d)[.,](?=\d)")
_APOSTROPHES = "'’ʼ‘`´"
# Planes with punctuation, symbols, digits and combining marks: BMP, SMP (emoji, math digits)
# and plane 14 (tags, variation selectors). Planes 2-3 hold CJK ideographs only.
_PLANES = (range(0x0000, 0x20000), range(0xE0000, 0xE1000))


@functools.cache
def _tables() -> tuple[dict[int, str | None], dict[int, None]]:
    """(characters table, combining-marks table) for :meth:`str.translate`."""
    chars: dict[int, str | None] = {}
    marks: dict[int, None] = {}
    for plane in _PLANES:
        for code in plane:
            category = unicodedata.category(chr(code))
            if category == "Nd":
                chars[code] = "0"
            elif category[0] in "PS" or category == "Cc":
                chars[code] = " "
            elif category == "Cf":
                chars[code] = None
            elif category == "Mn":
                marks[code] = None
    for apostrophe in _APOSTROPHES:
        chars[ord(apostrophe)] = None
    for space in "\t\n\r":
        chars.pop(ord(space), None)
    return chars, marks


@functools.cache
def _ascii_table() -> tuple[bytes, bytes]:
    """(table, deleted bytes): the characters table's ASCII part for :meth:`bytes.translate`,
    a byte table instead of a dict lookup per character (ASCII lines, the common case, normalize
    about 1.3x as fast)."""
    chars, _ = _tables()
    table = bytearray(range(128)) + bytes(128)
    deleted = bytearray()
    for code in range(128):
        if code in chars:
            replacement = chars[code]
            if replacement is None:
                deleted.append(code)
            else:
                table[code] = ord(replacement)
    return bytes(table), bytes(deleted)


def normalize(line: str) -> str:
    """One line (sentence) -> its tokens joined by single spaces; '' when nothing is left."""
    line = unicodedata.normalize("NFKC", line).lower()
    if line.isascii():
        table, deleted = _ascii_table()
        line = _DIGIT_GROUPING.sub("", line).encode().translate(table, deleted).decode()
    else:
        chars, marks = _tables()
        line = unicodedata.normalize("NFC", unicodedata.normalize("NFD", line).translate(marks))
        line = _DIGIT_GROUPING.sub("", line).translate(chars)
    return " ".join(line.split())


def split_sentences(text: str) -> list[str]:
    """A document's lines split into sentences (not normalized, possibly blank)."""
    sentences: list[str] = []
    for line in text.splitlines():
        sentences.extend(_SENTENCE_END.split(line))
    return sentences


def lm_lines(text: str, pieces: Pieces | None = None) -> list[str]:
    """A document as the model sees it: its normalized, non-empty sentences; with a
    SentencePiece model, each as its pieces joined by spaces (CCNet's tokenization)."""
    lines = [line for line in map(normalize, split_sentences(text)) if line]
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
