"""The text MinHash shingles are cut from: web text normalized so that the ways one page varies
between copies do not change its shingles.

Two copies of a page differ in ways that say nothing about their content: straight or
typographic quotes and dashes, HTML entities left undecoded by one scraper (``&amp;``), case,
accents written precomposed or not, digits in full-width forms, soft hyphens and zero-width
spaces, how lines were broken. Shingled raw, only 91% of 200 real pages whose quotes and dashes
became typographic, and 66% of those with undecoded entities, are found again at Jaccard 0.75
(``bench.dedup_quality``); normalized, all of them are. datatrove's FineWeb dedup normalizes
first (``simplify_text``: lowercase, whitespace, punctuation, diacritics, digits); gristmill's
``v1`` does the same things, all as Arrow compute kernels over a whole batch (no Python per
document):

1. lowercase, then Unicode NFKD (compatibility forms: full-width digits, ligatures);
2. combining marks (accents) and format characters (soft hyphen, zero-width space) removed;
3. apostrophes (``'``, U+2019, U+02BC, U+2018, and ``&#39;``, ``&rsquo;``... left by a
   scraper) removed, so "don't" with any of them, "don&#39;t" and "dont" agree;
4. other HTML entity leftovers (``&amp;``, ``&nbsp;``, ``&#x2014;``) become a space;
5. every other punctuation or symbol character becomes a space (datatrove deletes them, which
   joins "end.Start" into one word);
6. every run of digits becomes ``0``.

Whitespace runs need no step: the shingle kernel splits on them. The version is part of the
dedup config (``dedup.normalization``), so changing it redoes dedup for every batch rather than
comparing signatures of differently normalized text.

``v2`` is ``v1`` for text written with spaces between words, and reads the scripts written
without them: as whitespace words, a Chinese or Japanese clause, or a Thai paragraph, is one
word, so a copy with 1% of its characters edited shared a Jaccard of 0.43 with its source (an
English one with 1% of its words edited: 0.91), and a Thai page matched its exact copies alone.
``v2`` makes each character of those scripts (Han, kana, Thai, Lao, Khmer, Myanmar) a word of
its own, so that word shingles are character shingles there; and it removes the accents of
Latin, Greek and Cyrillic letters only (the combining diacritical blocks), then recomposes, where
``v1`` removed every combining mark and with it the difference between パ, バ and ハ, or a
Devanagari consonant's vowel signs.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

NORMALIZATIONS = ("v1", "v2", "none")

# Apostrophes, as characters or as entities a scraper left undecoded.
_APOSTROPHE = (
    r"['\x{2019}\x{2bc}\x{2018}]|&(?:#0*39|#x0*27|apos|rsquo|lsquo|#0*821[67]|#x0*201[89]);"
)
_ENTITY = r"&(?:#[0-9]+|#x[0-9a-f]+|[a-z][a-z0-9]*);"
# v2: the combining diacritical blocks (accents of Latin, Greek and Cyrillic letters), with the
# format characters; and the scripts written without spaces between words.
_ACCENTS = (
    r"[\x{300}-\x{36f}\x{1ab0}-\x{1aff}\x{1dc0}-\x{1dff}\x{20d0}-\x{20ff}\x{fe20}-\x{fe2f}"
    r"\p{Cf}]+"
)
_UNSPACED = r"([\p{Han}\p{Hiragana}\p{Katakana}\p{Thai}\p{Lao}\p{Khmer}\p{Myanmar}])"


def shingle_text(texts: pa.Array, normalization: str) -> pa.Array:
    """The texts as the shingle kernel reads them (nulls as empty strings)."""
    lowered = pc.utf8_lower(pc.fill_null(texts, ""))
    if normalization == "none":
        return lowered
    if normalization not in ("v1", "v2"):
        raise ValueError(f"unknown dedup normalization {normalization!r}; one of {NORMALIZATIONS}")
    text = pc.utf8_normalize(lowered, "NFKD")
    if normalization == "v1":
        text = pc.replace_substring_regex(text, r"[\p{Mn}\p{Cf}]+", "")
    else:
        text = pc.utf8_normalize(pc.replace_substring_regex(text, _ACCENTS, ""), "NFC")
        text = pc.replace_substring_regex(text, _UNSPACED, r" \1 ")
    text = pc.replace_substring_regex(text, _APOSTROPHE, "")
    text = pc.replace_substring_regex(text, _ENTITY, " ")
    text = pc.replace_substring_regex(text, r"[\p{P}\p{S}]+", " ")
    return pc.replace_substring_regex(text, r"\p{Nd}+", "0")
