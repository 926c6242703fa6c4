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
"""

from __future__ import annotations

import functools
import unicodedata

import numba
import numpy as np

from gristmill.filters.words import code_points, from_code_points

# Only planes 0-2 hold characters with a decomposition mapping; a character outside the table
# that NFKC still changed would fail the check below and send the text to normalize().
_DECOMPOSING_PLANES = range(0x30000)


@functools.cache
def _forms() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The code points NFKC changes when alone, and what each becomes: (index, offsets, forms),
    where code point c becomes ``forms[offsets[k]:offsets[k + 1]]`` for ``k = index[c] >= 0``."""
    index = np.full(0x110000, -1, dtype=np.int32)
    offsets: list[int] = [0]
    forms: list[int] = []
    for code in _DECOMPOSING_PLANES:
        char = chr(code)
        if unicodedata.decomposition(char):
            form = unicodedata.normalize("NFKC", char)
            if form != char:
                index[code] = len(offsets) - 1
                forms.extend(map(ord, form))
                offsets.append(len(forms))
    return index, np.array(offsets, np.int64), np.array(forms, np.uint32)


@numba.njit(cache=True)
def _replaced(
    cps: np.ndarray, index: np.ndarray, offsets: np.ndarray, forms: np.ndarray
) -> np.ndarray:
    """``cps`` with every code point that has a form replaced by it; ``cps`` itself where none
    has."""
    size = cps.size
    for c in cps:
        k = index[c]
        if k >= 0:
            size += offsets[k + 1] - offsets[k] - 1
    out = np.empty(size, np.uint32)
    at = 0
    replaced = False
    for c in cps:
        k = index[c]
        if k < 0:
            out[at] = c
            at += 1
        else:
            replaced = True
            for j in range(offsets[k], offsets[k + 1]):
                out[at] = forms[j]
                at += 1
    return out if replaced else cps


def nfkc(text: str) -> str:
    """``unicodedata.normalize("NFKC", text)``, the same string: 2.6x faster over the shared
    real pages, slower on text whose combining marks compose (kana with a voicing mark, Indic
    nukta), where the check itself normalizes. The table costs about 0.04 s once per process."""
    if text.isascii():
        return text
    cps = code_points(text)
    replaced = _replaced(cps, *_forms())
    candidate = text if replaced is cps else from_code_points(replaced)
    if unicodedata.is_normalized("NFKC", candidate):
        return candidate
    return unicodedata.normalize("NFKC", text)
