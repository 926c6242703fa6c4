"""Unicode NFKC, the form the LM, the classifier and the exact-dedup hash read text in.

Python's ``unicodedata.normalize("NFKC", ...)`` decomposes and recomposes a whole text, about
0.16 ms for a typical web page, though most pages hold only a few characters that change (a
no-break space, an ellipsis, a ligature). :func:`nfkc` replaces just those, each by its own NFKC
form, and keeps the result where Python's exact check says it is in NFKC. That is then the
answer, not an approximation: each replacement is compatibility-equivalent to the character it
replaces, so the whole stays equivalent to the text, and two equivalent strings in NFKC are the
same string. Where the check fails (a combining sequence that composes, marks out of order),
the text goes to ``unicodedata.normalize`` whole. The replacement is one compiled pass (numba)
over the text's code points.

The classifier, the LM and the exact-dedup hash read ``nfkc(text).lower()``. For most texts
that is a per-character map too (:func:`nfkc_lower`): each character becomes its own
``NFKC(c).lower()``, from one table, in one compiled pass. Where a character's answer depends
on its neighbours (a combining mark, the second of a pair that composes, a capital sigma,
whose lowercase depends on whether a word ends after it) the table says so and the text goes
the long way, through :func:`nfkc` and ``str.lower``.
"""

from __future__ import annotations

import functools
import unicodedata
from typing import NamedTuple

import numpy as np

from gristmill.filters.words import code_points, from_code_points
from gristmill.pipeline.kernels import njit, stored_table

# Only planes 0-2 hold characters with a decomposition mapping or a lowercase of their own; a
# character outside the table that NFKC still changed would fail the check below and send the
# text to normalize(). tests/test_nfkc.py checks that no other code point has either.
_DECOMPOSING_PLANES = range(0x30000)
# In a Forms table: a code point that stays as it is, and one whose form depends on its neighbours.
KEPT, CONTEXT = -1, -2
_CAPITAL_SIGMA = "\u03a3"  # str.lower gives "ς" at the end of a word, else "σ"
# Hangul vowels and final consonants, which compose with the syllable or consonant before them.
_HANGUL_SECONDS = (range(0x1161, 0x1176), range(0x11A8, 0x11C3))


class Forms(NamedTuple):
    """A per-character map: code point c becomes ``forms[offsets[k]:offsets[k + 1]]`` for
    ``k = entries[c] >= 0``, stays for KEPT (and for every c past the table), and cannot be
    mapped alone for CONTEXT."""

    entries: np.ndarray
    offsets: np.ndarray
    forms: np.ndarray


def forms_table(forms: dict[int, str | None]) -> Forms:
    """The table of a map from code points to their forms (None: CONTEXT)."""
    entries = np.full(max(forms, default=0) + 1, KEPT, dtype=np.int32)
    offsets: list[int] = [0]
    points: list[int] = []
    for code, form in forms.items():
        if form is None:
            entries[code] = CONTEXT
        else:
            entries[code] = len(offsets) - 1
            points.extend(map(ord, form))
            offsets.append(len(points))
    return Forms(entries, np.array(offsets, np.int64), np.array(points, np.uint32))


@stored_table
def _nfkc_forms() -> Forms:
    """The code points NFKC changes when alone, and what each becomes."""
    forms: dict[int, str | None] = {}
    for code in _DECOMPOSING_PLANES:
        char = chr(code)
        if unicodedata.decomposition(char):
            form = unicodedata.normalize("NFKC", char)
            if form != char:
                forms[code] = form
    return forms_table(forms)


@functools.cache
def lower_forms() -> dict[int, str | None]:
    """``NFKC(c).lower()`` of each code point where that is not c, or None where a text's
    answer at c depends on its neighbours.

    NFKC decomposes every character, reorders combining marks and composes pairs. A character
    whose decomposition starts with a mark of class 0 that is no pair's second cannot be
    reordered with or composed onto what stands before it, and such a character blocks what
    follows it from composing with anything before it; so in a text of such characters NFKC
    maps each alone. Python's lowercase is per character but for the capital sigma."""
    seconds = {c for r in _HANGUL_SECONDS for c in r}
    for code in _DECOMPOSING_PLANES:
        fields = unicodedata.decomposition(chr(code)).split()
        if len(fields) == 2 and not fields[0].startswith("<"):
            seconds.add(int(fields[1], 16))
    forms: dict[int, str | None] = {}
    for code in _DECOMPOSING_PLANES:
        char = chr(code)
        lower = char.lower()
        if (
            lower == char
            and code not in seconds
            and not unicodedata.combining(char)
            and not unicodedata.decomposition(char)
            and char != _CAPITAL_SIGMA
        ):
            continue  # a character that stays itself and blocks its neighbours
        first = unicodedata.normalize("NFKD", char)[0]
        form = unicodedata.normalize("NFKC", char)
        if unicodedata.combining(first) or ord(first) in seconds or _CAPITAL_SIGMA in form:
            forms[code] = None
        elif form.lower() != char:
            forms[code] = form.lower()
    return forms


@stored_table
def _lower_table() -> Forms:
    return forms_table(lower_forms())


@njit
def mapped(
    cps: np.ndarray, entries: np.ndarray, offsets: np.ndarray, forms: np.ndarray
) -> tuple[np.ndarray, bool]:
    """``cps`` with every code point replaced by its form, and True; ``cps`` itself where no
    code point has a form; False (and nothing) where one is CONTEXT."""
    size = cps.size
    for c in cps:
        k = entries[c] if c < entries.size else KEPT
        if k == CONTEXT:
            return cps[:0], False
        if k >= 0:
            size += offsets[k + 1] - offsets[k] - 1
    out = np.empty(size, np.uint32)
    at = 0
    replaced = False
    for c in cps:
        k = entries[c] if c < entries.size else KEPT
        if k == KEPT:
            out[at] = c
            at += 1
        else:
            replaced = True
            for j in range(offsets[k], offsets[k + 1]):
                out[at] = forms[j]
                at += 1
    return (out if replaced else cps), True


def nfkc(text: str) -> str:
    """``unicodedata.normalize("NFKC", text)``, the same string: 2.6x faster over the shared
    real pages, slower on text whose combining marks compose (kana with a voicing mark, Indic
    nukta), where the check itself normalizes. The table costs about 0.04 s once per content of the
    sources (:func:`gristmill.pipeline.kernels.stored_table`)."""
    if text.isascii():
        return text
    cps = code_points(text)
    replaced = mapped(cps, *_nfkc_forms())[0]
    candidate = text if replaced is cps else from_code_points(replaced)
    if unicodedata.is_normalized("NFKC", candidate):
        return candidate
    return unicodedata.normalize("NFKC", text)


def nfkc_lower_code_points(cps: np.ndarray) -> np.ndarray:
    """The code points of ``nfkc(text).lower()`` for the text of ``cps``: one table lookup per
    character, unless a character's answer depends on its neighbours."""
    out, alone = mapped(cps, *_lower_table())
    return out if alone else code_points(nfkc(from_code_points(cps)).lower())


def nfkc_lower(text: str) -> str:
    """``nfkc(text).lower()``."""
    if text.isascii():
        return text.lower()
    cps = code_points(text)
    out = nfkc_lower_code_points(cps)
    return text if out is cps else from_code_points(out)
