"""filters/nfkc.py: the fast NFKC, and NFKC then lowercase, equal Python's on real text and on
the cases where replacing characters one by one is not the answer (composition, mark order,
Hangul, plane 2, the capital sigma)."""

from __future__ import annotations

import gzip
import json
import random
import unicodedata

from gristmill.filters.nfkc import _lower_table, mapped, nfkc, nfkc_lower
from gristmill.filters.words import code_points
from gristmill.pipeline.charset import decode_html
from gristmill.pipeline.warc import read_records

# Each needs more than a per-character replacement, or is a per-character case of its own.
HARD = [
    "cafe\u0301",  # e + combining acute composes to é
    "a\u0323\u0301 o\u0301\u0323",  # marks out of canonical order
    "\u1100\u1161\u11a8",  # Hangul jamo compose to a syllable
    "\uac00\u11a8",  # a syllable and a trailing jamo compose
    "\ufb01\u0301 \u2126 \u212b",  # ligature then a mark; singletons (ohm, angstrom)
    "\u0344 \u0958 \u2000x",  # a mark that decomposes to two; a composition exclusion
    "\uff21\uff42\uff43 \u2460 x\u00b2 \u2026 \u00a0",  # full-width, circled, superscript, ...
    "\ufdfa \ufb2c \u1e9b\u0323",  # one character to eighteen; a Hebrew composite; long s dot
    "\U0002f800 \U0001d400 \U0001f100 \uf900",  # plane 2, math bold, enclosed, CJK compat
    "\u0041\u030a\u0301 \u212b\u0301",  # A + ring + acute; angstrom + acute
    "\u304b\u3099 \uff76\uff9e \u0f71\u0f72 \u0f81",  # kana + voicing mark; Tibetan vowels
    "\ud800 lone surrogate",
    "\u039f\u0394\u039f\u03a3 \u03a3\u03b1 \u03c3\u03c2 \u03f9",  # sigma: final or not; lunate
    "\u0130stanbul \u0049\u0307 \ufb03 \u1e9e",  # dotted capital I; I + dot; ffi; capital sharp s
    "",
]


def _expected_lower(text: str) -> str:
    return unicodedata.normalize("NFKC", text).lower()


def test_equals_unicodedata_on_the_hard_cases_and_their_mixtures():
    for text in HARD:
        assert nfkc(text) == unicodedata.normalize("NFKC", text), ascii(text)
        assert nfkc_lower(text) == _expected_lower(text), ascii(text)
    pool = "".join(HARD) + "abc \u00e9\u0301\u0300ABC"
    rng = random.Random(7)
    for _ in range(3000):
        text = "".join(rng.choice(pool) for _ in range(rng.randint(1, 12)))
        assert nfkc(text) == unicodedata.normalize("NFKC", text), ascii(text)
        assert nfkc_lower(text) == _expected_lower(text), ascii(text)


def test_lowercase_forms_character_by_character_as_whole_texts():
    """Every character NFKC or lowercasing changes, alone and between neighbours of every kind
    it could compose or reorder with, folds as the whole text does; and no code point past the
    table's planes has a decomposition, a lowercase of its own or a combining class."""
    changing = [chr(c) for c in range(0x30000) if _expected_lower(chr(c)) != chr(c)]
    neighbours = ("a", "A", "\u0301", "\u1161", "\u09be", "\u0b3e", "\u11a8", "\u1100", "\u0327")
    neighbours += ("\uac00", "\U0001d165", "\u302e", "\u093c", "\u0bbe", "\u03a3", " ")
    for char in changing:
        for text in (char, *(n + char + n for n in neighbours)):
            assert nfkc_lower(text) == _expected_lower(text), ascii(text)
    for char in (chr(c) for c in range(0x30000, 0x110000)):
        assert not unicodedata.decomposition(char), ascii(char)
        assert char.lower() == char and not unicodedata.combining(char), ascii(char)


def test_equals_unicodedata_on_real_text(shared_data):
    reference = shared_data / "reference"
    with gzip.open(reference / "CC-MAIN-2019-30.dolma-docs-00140.jsonl.gz", "rt") as f:
        texts = [json.loads(line)["text"] for line in f]
    # Real pages in many languages and scripts, as ingest decodes them (their HTML whole).
    for record in read_records(str(shared_data / "warc" / "realpages-00000.warc.gz"), 1 << 30):
        if record.payload:
            texts.append(decode_html(record.payload, record.charset)[0])
    changed, alone = 0, 0
    for text in texts:
        expected = unicodedata.normalize("NFKC", text)
        assert nfkc(text) == expected
        assert nfkc_lower(text) == expected.lower()
        changed += expected != text
        alone += mapped(code_points(text), *_lower_table())[1]
    assert changed > 100, changed  # the texts hold characters NFKC changes
    # Nearly every page folds by the table alone (the rest hold combining marks, or a sigma).
    assert alone > 0.9 * len(texts), (alone, len(texts))
