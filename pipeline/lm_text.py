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
``<unk>`` can never come out of a document. A document is normalized whole, its sentences
joined by newlines: step 1 and steps 4-6 are compiled passes (numba) over its code points,
and steps 2 and 3 one lookup per character in a table of what NFKC, lowercasing and stripping
accents make of each character (:func:`_folds`, from
:func:`gristmill.filters.nfkc.lower_forms` and :func:`_accents`). Where a character's answer
depends on its neighbours (a combining mark, a Hangul jamo, a capital sigma) the text goes
through :func:`_normalized`, the steps one after the other over the whole text: 20 of the
1,355 shared real pages after C4's cleaning. The regular expressions and per-sentence loop this
replaces took twice as long as that path, which took 0.22 s over the pages' cleaned texts (the
string round trips between steps most of it); with the table, 0.13 s. ``tests/test_train_lm.py``
holds the definition to the compiled form. The tables (about 0.3 s to build) are built once
per content of the sources and stored (:func:`gristmill.pipeline.kernels.stored_table`).
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Iterable, Iterator

import numpy as np
import pyarrow as pa
import sentencepiece

from gristmill.filters.lines import LINE_BOUNDARIES, spaces
from gristmill.filters.nfkc import Forms, forms_table, lower_forms, mapped, nfkc
from gristmill.filters.utf8 import write_point
from gristmill.filters.words import code_points, from_code_points
from gristmill.pipeline.kernels import njit, stored_table

# Sentence breaks (step 1), as classes of code points: every line boundary that str.splitlines
# knows; whitespace (str.isspace); the western stops, which end a sentence before a space not
# followed by a lowercase ASCII letter; the CJK stops, which end one right away.
_BOUNDARY, _SPACE, _STOP, _CJK_STOP, _LOWER = 1, 2, 4, 8, 16
_STOPS = ".!?…"
_CJK_STOPS = "。！？"
_NEWLINE = 10
# Planes with punctuation, symbols, digits and combining marks: BMP, SMP (emoji, math digits)
# and plane 14 (tags, variation selectors). Planes 2-3 hold CJK ideographs only.
_PLANES = (range(0x0000, 0x20000), range(0xE0000, 0xE1000))
_APOSTROPHES = "'’ʼ‘`´"
_ZERO = ord("0")


# A code point a table deletes.
_DELETE = np.uint32(0xFFFFFFFF)
# In the accent table (step 3): a code point that stripping its accents does not turn into one
# code point that stays as it is beside any other (see :func:`_accents`).
_UNFOLDED = np.uint32(0xFFFFFFFE)
# Hangul vowels, which compose with a leading consonant before them, and final consonants, which
# compose with a syllable of those two.
_HANGUL_SECOND = (range(0x1161, 0x1176), range(0x11A8, 0x11C3))
# Where the accent table looks for decompositions and marks: the planes above, and the CJK
# compatibility ideographs of plane 2 (NFKC, step 2, has replaced them already; the table maps
# them all the same). tests/test_train_lm.py checks that no other code point has either.
_ACCENT_RANGES = (*_PLANES, range(0x2F800, 0x2FA20))


def _stripped(char: str) -> str:
    """Step 3 on one character: NFD, combining marks (Mn) dropped, NFC."""
    decomposed = unicodedata.normalize("NFD", char)
    return unicodedata.normalize(
        "NFC", "".join(c for c in decomposed if unicodedata.category(c) != "Mn")
    )


def _accents(marks: np.ndarray) -> np.ndarray:
    """Step 3 character by character: the code point each one becomes, _DELETE, or _UNFOLDED.

    Stripping a text is NFC over its characters' stripped forms joined (canonical reordering
    only moves marks, and the marks dropped are dropped wherever they stand). Where each form
    is one code point or none, and no form's decomposition starts with a code point that could
    compose with what stands before it (the second of a canonical pair, a Hangul vowel or final
    consonant, a mark of nonzero combining class), that NFC changes nothing: the forms joined
    are the answer. Any other code point is _UNFOLDED, and its text is stripped whole."""
    table = marks.copy()
    seconds = [c for r in _HANGUL_SECOND for c in r]
    decomposable = []
    for plane in _ACCENT_RANGES:
        for code in plane:
            char = chr(code)
            fields = unicodedata.decomposition(char).split()
            if fields and not fields[0].startswith("<"):
                decomposable.append(char)
                if len(fields) == 2:
                    seconds.append(int(fields[1], 16))
            elif unicodedata.combining(char) and marks[code] != _DELETE:
                table[code] = _UNFOLDED
    table[seconds] = np.where(table[seconds] == _DELETE, _DELETE, _UNFOLDED)
    for char in decomposable:
        form = _stripped(char)
        if not form:
            table[ord(char)] = _DELETE
        elif len(form) == 1 and table[ord(unicodedata.normalize("NFD", form)[0])] != _UNFOLDED:
            table[ord(char)] = ord(form)
        else:
            table[ord(char)] = _UNFOLDED
    return table


@stored_table
def _tables() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(characters table, accents table, combining-marks table, break classes), arrays indexed
    by code point: the code point each one becomes (or _DELETE) in steps 4-5, in step 3 (see
    :func:`_accents`), and in step 3 done whole (marks only), and its classes for step 1."""
    chars = np.arange(0x110000, dtype=np.uint32)
    marks = chars.copy()
    for plane in _PLANES:
        for code in plane:
            category = unicodedata.category(chr(code))
            if category == "Nd":
                chars[code] = _ZERO
            elif (category[0] in "PS" or category == "Cc") and chr(code) not in "\t\n\r":
                chars[code] = ord(" ")
            elif category == "Cf":
                chars[code] = _DELETE
            elif category == "Mn":
                marks[code] = _DELETE
    for apostrophe in _APOSTROPHES:
        chars[ord(apostrophe)] = _DELETE
    classes = np.where(spaces(), _SPACE, 0).astype(np.uint8)
    for members, bit in (
        (LINE_BOUNDARIES, _BOUNDARY),
        (_STOPS, _STOP),
        (_CJK_STOPS, _CJK_STOP),
        ("abcdefghijklmnopqrstuvwxyz", _LOWER),
    ):
        classes[code_points(members)] |= bit
    return chars, _accents(marks), marks, classes


@njit
def _with_breaks(cps: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """Step 1: the text with a newline at every sentence break. A line boundary becomes one; so
    does a space after a western stop, unless a lowercase ASCII letter follows that space
    directly; one is inserted after a CJK stop. This is where the regex

        \\s(?<=[.!?…]\\s)[^\\S\\n]*(?![a-z])|\\n|(?<=[CJK stops])[^\\S\\n]*

    splits the text with its line boundaries made newlines (``"\\n".join(text.splitlines())``),
    up to whitespace next to a break, which step 6 drops: a match may take further spaces
    ("one!  now" breaks, backtracking into the spaces), which stay here."""
    n = cps.size
    out = np.empty(2 * n, np.uint32)
    k = 0
    before = 0  # the classes of the character before (none before the first)
    for i in range(n):
        c = classes[cps[i]]
        if before & _CJK_STOP:
            out[k] = _NEWLINE
            k += 1
        if c & _BOUNDARY or (
            c & _SPACE and before & _STOP and not (i + 1 < n and classes[cps[i + 1]] & _LOWER)
        ):
            out[k] = _NEWLINE
        else:
            out[k] = cps[i]
        k += 1
        before = c
    return out[:k]


@njit
def _tokens(cps: np.ndarray, chars: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """Steps 4-6 over a text: ``.``/``,`` between digits dropped, each character mapped by the
    characters table, whitespace collapsed, and the lines that keep a token joined by newlines,
    their tokens by single spaces."""
    n = cps.size
    out = np.empty(n, np.uint32)
    k = 0
    gap = 0  # what the next token is preceded by: nothing, a space or a newline
    for i in range(n):
        c = cps[i]
        grouping = c == 44 or c == 46  # a comma or full stop, dropped between two digits
        if grouping and 0 < i < n - 1 and chars[cps[i - 1]] == _ZERO == chars[cps[i + 1]]:
            continue
        m = chars[c]
        if m == _DELETE:
            continue
        if m == _NEWLINE:
            if k:
                gap = _NEWLINE
        elif classes[m] & _SPACE:
            if k and not gap:
                gap = 32
        else:
            if gap:
                out[k] = gap
                k += 1
                gap = 0
            out[k] = m
            k += 1
    return out[:k]


def _translate(text: str, table: np.ndarray) -> str:
    mapped = table[code_points(text)]
    return from_code_points(mapped[mapped != _DELETE])


def _normalized(text: str) -> str:
    """Steps 2-6 over a whole text: its lines' tokens joined by single spaces, the lines that
    keep a token by newlines. Each step maps characters one by one, composes within a line or
    collapses whitespace, so a document's sentences joined by newlines come out as if each went
    alone."""
    chars, accents, marks, classes = _tables()
    text = nfkc(text).lower()
    cps = code_points(text)
    # Step 3 by the accents table, a lookup per character; where it cannot say (Hangul jamo,
    # the Indic vowel signs that compose), by Python's normalizations over the whole text.
    if not text.isascii():
        stripped = accents[cps]
        if (stripped == _UNFOLDED).any():
            text = unicodedata.normalize("NFD", text)
            text = unicodedata.normalize("NFC", _translate(text, marks))
            cps = code_points(text)
        else:
            cps = stripped[stripped != _DELETE]
    return from_code_points(_tokens(cps, chars, classes))


@stored_table
def _folds() -> Forms:
    """Steps 2 and 3 as one per-character table: what NFKC, lowercasing and stripping accents
    make of each code point (:func:`gristmill.filters.nfkc.lower_forms` then the accents table),
    CONTEXT where either step needs the character's neighbours."""
    accents = _tables()[1]
    lower = lower_forms()
    changed = np.flatnonzero(accents != np.arange(accents.size, dtype=np.uint32)).tolist()
    forms: dict[int, str | None] = {}
    for code in sorted({*lower, *changed}):
        form = lower.get(code, chr(code))
        stripped = None if form is None else accents[code_points(form)]
        if stripped is None or (stripped == _UNFOLDED).any():
            forms[code] = None
        else:
            forms[code] = from_code_points(stripped[stripped != _DELETE])
    return forms_table(forms)


def _normalized_code_points(cps: np.ndarray) -> np.ndarray:
    """The code points of ``_normalized`` of the text of ``cps``: steps 2 and 3 a table lookup
    per character (:func:`_folds`) where no character needs its neighbours, as in nearly every
    page."""
    folded, alone = mapped(cps, *_folds())
    if not alone:
        return code_points(_normalized(from_code_points(cps)))
    chars, _, _, classes = _tables()
    return _tokens(folded, chars, classes)


def normalize(line: str) -> str:
    """One line (sentence) -> its tokens joined by single spaces; '' when nothing is left."""
    return " ".join(from_code_points(_normalized_code_points(code_points(line))).split())


def _sentences_of(text: str) -> np.ndarray:
    """The code points of a document's normalized sentences joined by newlines."""
    return _normalized_code_points(_with_breaks(code_points(text), _tables()[3]))


def lm_lines(text: str, pieces: Pieces | None = None) -> list[str]:
    """A document as the model sees it: its normalized, non-empty sentences; with a
    SentencePiece model, each as its pieces joined by spaces (CCNet's tokenization)."""
    normalized = from_code_points(_sentences_of(text))
    lines = normalized.split("\n") if normalized else []
    if pieces is None or not lines:
        return lines
    return [" ".join(p) for p in pieces.encode(lines, out_type=str)]


@njit
def _utf8(cps: np.ndarray) -> tuple[np.ndarray, int]:
    """The UTF-8 bytes of ``cps`` (a surrogate as Python's "surrogatepass" writes it), and the
    tokens of the lines they hold: the spaces, and two per line (its first word and its
    ``</s>``)."""
    out = np.empty(4 * cps.size, np.uint8)
    k, tokens = 0, 2 if cps.size else 0
    for c in cps:
        if c < 0x80:
            tokens += 1 if c == 32 else 2 if c == 10 else 0
        k = write_point(c, out, k)
    return out[:k], tokens


def scored_lines(text: str) -> tuple[list[bytes], int]:
    """:func:`lm_lines` without a SentencePiece model, as KenLM reads them: each line's UTF-8
    bytes (which KenLM takes as they are, where it would encode a ``str`` line by line); and
    the tokens a perplexity divides by, each line's words and its ``</s>``. Encoded and counted
    in the compiled pass: a page's perplexity 182 -> 154 us over the real pages, against
    ``str`` lines."""
    data, tokens = _utf8(_sentences_of(text))
    return (data.tobytes().split(b"\n") if data.size else []), tokens


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
