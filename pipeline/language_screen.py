"""Language ID before extraction: a page whose text is plainly in a language the run does not
keep is dropped unextracted (``ingest.languages``).

Extraction is most of ingest's cost, and ingest most of a run's; yet half of a crawl is in a
language a run drops (two thirds of the shared real pages with ``languages: [en]``), and the
quality stage's language rule drops it after all that work. The screen reads the page's text
the cheap way, one compiled pass over the HTML's UTF-8 (:func:`_blocks`: tags, comments, scripts,
styles and the head left out, each tag a block boundary, entities a space), and asks lid.176
about it twice over:

- the page's longest blocks, up to :data:`SAMPLE_CHARS` characters, as one text: a page's
  article is most of its long blocks, where its menus and footers are short;
- each of its :data:`BLOCKS` longest blocks of :data:`BLOCK_CHARS` characters or more on its
  own, so that an article in a kept language among a site's chrome in another keeps the page.

A page is dropped (``lang_screened``) only where the sample holds :data:`SAMPLE_MIN` characters
or more, its answer is a language the run does not keep, with probability
``ingest.screen_confidence`` or more, and no block's answer is a kept language. Otherwise it is
extracted, and language ID runs on its text as before: the screen decides nothing the quality
stage's language rule would not, but for pages whose extracted text is in another language than
the page itself. On the 1,395 shared real pages with text, with ``languages: [en]``: 859 of the
951 pages the language rule drops are screened, and 2 of the 444 it keeps, both German pages
whose extracted text is English boilerplate (PHP warnings, a "posted from" footer); with
``[de]`` 654 of 692 and none kept; ``[en, de]``, 210 of 248 and none.
"""

from __future__ import annotations

import numpy as np

from gristmill.filters.utf8 import next_byte, read_point, utf8_bytes
from gristmill.filters.words import SPACE, char_classes, from_code_points
from gristmill.pipeline import langid
from gristmill.pipeline.kernels import njit

SCREENED = "lang_screened"
# The sample of a page's longest blocks (lid.176 reads 2,000 characters of a text: MAX_CHARS).
SAMPLE_CHARS = 2_000
# A page with less text than this between its tags (its text written by scripts, markup the
# pass misreads) is extracted, whatever its few words say.
SAMPLE_MIN = 200
# Blocks asked about one by one: the longest this many of at least BLOCK_CHARS characters,
# each its first BLOCK_PREFIX characters.
BLOCKS = 8
BLOCK_CHARS = 40
BLOCK_PREFIX = 300

# Elements whose content is no text of the page.
_SKIPPED = ("script", "style", "noscript", "template", "svg", "head", "textarea", "select")
_NAMES = np.zeros((len(_SKIPPED), 8), np.int64)
for _i, _name in enumerate(_SKIPPED):
    _NAMES[_i, : len(_name)] = [ord(c) for c in _name]
_LENGTHS = np.array([len(n) for n in _SKIPPED], np.int64)


@njit(inline="always")
def _lower(c: int) -> int:
    return c + 32 if 65 <= c <= 90 else c


@njit
def _skipped_element(data: np.ndarray, i: int, names: np.ndarray, lengths: np.ndarray) -> int:
    """The index in ``names`` of the element whose start tag begins at ``data[i]`` (after the
    "<"), or -1."""
    for k in range(lengths.size):
        n = lengths[k]
        if i + n > data.size:
            continue
        same = True
        for j in range(n):
            if _lower(data[i + j]) != names[k, j]:
                same = False
                break
        if same and (
            i + n == data.size
            or not (
                data[i + n] == 45
                or 48 <= _lower(data[i + n]) <= 57
                or 97 <= _lower(data[i + n]) <= 122
            )
        ):
            return k
    return -1


@njit
def _tag_end(data: np.ndarray, i: int) -> int:
    """Past the ">" that ends the tag whose name starts at ``i``, quoted attribute values read
    whole."""
    quote = 0
    while i < data.size:
        c = data[i]
        if quote:
            if c == quote:
                quote = 0
        elif c == 34 or c == 39:
            quote = c
        elif c == 62:
            return i + 1
        i += 1
    return i


@njit
def _closing(data: np.ndarray, i: int, name: np.ndarray, n: int) -> int:
    """Past the end tag ``</name ...>`` at or after ``i``, or the end of the page."""
    while i < data.size:
        i = next_byte(data, i, 60)
        if i + 1 < data.size and data[i + 1] == 47:
            same = i + 2 + n <= data.size
            for j in range(n):
                if not same or _lower(data[i + 2 + j]) != name[j]:
                    same = False
                    break
            if same:
                return _tag_end(data, i + 2)
        i += 1
    return min(i, data.size)


@njit
def _blocks(data: np.ndarray, names: np.ndarray, lengths: np.ndarray, classes: np.ndarray):
    """The page's text: code points with every run of spaces (``classes``' SPACE bit, the
    word tokenizer's table: ``str.isspace``), tags and entities one space, and where each block
    (the text between two tags) ends. ``data`` is the page's UTF-8 (:func:`utf8_bytes`): markup
    is ASCII, which no byte of a longer sequence is, so tags are found in the bytes as they are
    and only text is decoded (the page as code points cost as much again as the scan)."""
    out = np.empty(data.size + 1, np.uint32)
    ends = np.empty(data.size // 2 + 2, np.int64)
    k, b, i = 0, 0, 0
    pending = False  # a space is due before the next character
    while i < data.size:
        c = data[i]
        d = data[i + 1] if c == 60 and i + 1 < data.size else 0
        if c == 60 and (d == 33 or d == 47 or 65 <= d <= 90 or 97 <= d <= 122):  # markup
            if d == 33:  # "<!": a comment, a doctype, CDATA
                if i + 3 < data.size and data[i + 2] == 45 and data[i + 3] == 45:
                    j = next_byte(data, i + 6, 62)  # a ">" after "--", past "<!--" itself
                    while j < data.size and not (data[j - 1] == 45 and data[j - 2] == 45):
                        j = next_byte(data, j + 1, 62)
                    i = j + 1
                else:
                    i = _tag_end(data, i + 2)
            else:  # an end tag or a start tag
                skipped = _skipped_element(data, i + 1, names, lengths) if d != 47 else -1
                i = _tag_end(data, i + 1)
                if skipped >= 0 and not (i >= 2 and data[i - 2] == 47):  # not <x/>
                    i = _closing(data, i, names[skipped], lengths[skipped])
            if k > (ends[b - 1] if b else 0):  # the block ends
                ends[b] = k
                b += 1
            pending = False
            continue
        c, after = read_point(data, i)
        if classes[c] & SPACE:
            pending = True
        elif c == 38:  # "&": an entity reference (11 characters at most) is a space
            j, read = after, 1
            while j < data.size and read < 12:
                e, past = read_point(data, j)
                if e == 59 or e == 60 or classes[e] & SPACE:
                    break
                j, read = past, read + 1
            if j < data.size and data[j] == 59:
                after = j + 1
            pending = True
        else:
            if pending and k > (ends[b - 1] if b else 0):
                out[k] = 32
                k += 1
            pending = False
            out[k] = c
            k += 1
        i = after
    if k > (ends[b - 1] if b else 0):
        ends[b] = k
        b += 1
    return out[:k], ends[:b]


def _spans(html: str, utf8: bytes | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The page's text (code points) and where each of its blocks starts and ends; ``utf8``:
    the page's UTF-8 where the caller has it (:func:`screened`)."""
    data = np.frombuffer(utf8, np.uint8) if utf8 is not None else utf8_bytes(html)
    text, ends = _blocks(data, _NAMES, _LENGTHS, char_classes())
    starts = np.zeros(ends.size, np.int64)
    starts[1:] = ends[:-1]
    return text, starts, ends


def blocks(html: str) -> list[str]:
    """The page's text blocks, in order (what :func:`_blocks` reads)."""
    text, starts, ends = _spans(html)
    return [from_code_points(text[a:b]) for a, b in zip(starts, ends, strict=True)]


_SEPARATOR = np.array([32], np.uint32)


def _trimmed(points: np.ndarray) -> np.ndarray:
    """``points`` without the space a cut may leave at its end: a block has none at either
    end, and a single space between words, so the question is as lid.176 reads it already."""
    return points[:-1] if points.size and points[-1] == 32 else points


class _Page:
    """A page's blocks, longest first (the earlier of equal ones first), and the questions
    lid.176 is asked about it, as code points: they go to the compiled model as they are, with
    no string made of them."""

    def __init__(self, html: str, utf8: bytes | None = None):
        self.text, self.starts, self.ends = _spans(html, utf8)
        self.lengths = self.ends - self.starts
        self.order = np.lexsort((self.starts, -self.lengths))

    def sample(self) -> np.ndarray:
        """The page's longest blocks joined by spaces, up to :data:`SAMPLE_CHARS`."""
        taken = int(np.searchsorted(np.cumsum(self.lengths[self.order] + 1), SAMPLE_CHARS)) + 1
        parts = []
        for i in self.order[:taken]:
            parts += [self.text[self.starts[i] : self.ends[i]], _SEPARATOR]
        return _trimmed(np.concatenate(parts)[:SAMPLE_CHARS]) if parts else self.text[:0]

    def each(self) -> list[np.ndarray]:
        """The first :data:`BLOCK_PREFIX` characters of each of the :data:`BLOCKS` longest
        blocks of :data:`BLOCK_CHARS` characters or more."""
        return [
            _trimmed(self.text[self.starts[i] : min(self.ends[i], self.starts[i] + BLOCK_PREFIX)])
            for i in self.order[:BLOCKS]
            if self.lengths[i] >= BLOCK_CHARS
        ]


def questions(html: str) -> list[str]:
    """What lid.176 is asked about a page: the sample of its longest blocks, then each of its
    longest blocks (see :class:`_Page`)."""
    page = _Page(html)
    return [from_code_points(q) for q in [page.sample(), *page.each()]]


def _answers(questions: list[np.ndarray]) -> list[str]:
    points = np.concatenate(questions)
    return langid.identify_points(points, np.cumsum([q.size for q in questions]))[0]


def screened(
    html: str, languages: frozenset[str], confidence: float, utf8: bytes | None = None
) -> bool:
    """Whether a page is plainly in none of ``languages`` (see the module's docstring). Its
    blocks are asked about only where the sample's answer would drop it. ``utf8``: ``html``'s
    UTF-8 bytes, where the caller has them (a payload in UTF-8 as it was served), sparing their
    encoding: a sixth of the screen's cost, as most of a crawl's pages are UTF-8, and hardly one
    all ASCII (23 of the 1,395 shared real pages), which Python would copy at no cost."""
    page = _Page(html, utf8)
    sample = page.sample()
    if sample.size < SAMPLE_MIN:
        return False
    (lang,), (score,) = langid.identify_points(sample, np.array([sample.size]))
    if lang in languages or score < confidence:
        return False
    each = page.each()
    return not (each and any(lang in languages for lang in _answers(each)))
