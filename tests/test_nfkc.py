"""filters/nfkc.py: the fast NFKC equals Python's on real text and on the cases where replacing
characters one by one is not the answer (composition, mark order, Hangul, plane 2)."""

from __future__ import annotations

import gzip
import json
import random
import unicodedata

from gristmill.filters.nfkc import nfkc
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
    "",
]


def test_equals_unicodedata_on_the_hard_cases_and_their_mixtures():
    for text in HARD:
        assert nfkc(text) == unicodedata.normalize("NFKC", text), ascii(text)
    pool = "".join(HARD) + "abc \u00e9\u0301\u0300"
    rng = random.Random(7)
    for _ in range(3000):
        text = "".join(rng.choice(pool) for _ in range(rng.randint(1, 12)))
        assert nfkc(text) == unicodedata.normalize("NFKC", text), ascii(text)


def test_equals_unicodedata_on_real_text(shared_data):
    reference = shared_data / "reference"
    with gzip.open(reference / "CC-MAIN-2019-30.dolma-docs-00140.jsonl.gz", "rt") as f:
        texts = [json.loads(line)["text"] for line in f]
    # Real pages in many languages and scripts, as ingest decodes them (their HTML whole).
    for record in read_records(str(shared_data / "warc" / "realpages-00000.warc.gz"), 1 << 30):
        if record.payload:
            texts.append(decode_html(record.payload, record.charset)[0])
    changed = 0
    for text in texts:
        expected = unicodedata.normalize("NFKC", text)
        assert nfkc(text) == expected
        changed += expected != text
    assert changed > 100, changed  # the texts hold characters NFKC changes
