"""Main-text extraction from HTML.

resiliparse is the default, with comment sections left out and a line pass over its output
(:func:`trim_boilerplate`). On the shared truth sets (``python -m bench.extraction_f1``, token
F1 for scrapinghub's 181 and readability's 94 pages, snippet F1 for trafilatura's 981) that
pass took resiliparse from 0.916 / 0.909 / 0.849 to 0.939 / 0.925 / 0.886, and reading the
whole page where the main content holds no prose to 0.939 / 0.933 / 0.888, against
trafilatura's 0.960 / 0.940 / 0.926 at a twelfth to a thirteenth of the speed. trafilatura is
an option for runs that can afford it.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from resiliparse.extract.html2text import extract_plain_text
from resiliparse.parse.html import HTMLTree

# Part of the ingest stage's digest: a change to what an extractor returns redoes ingest (and
# every later stage) on an existing output, rather than mixing two extractions across batches,
# whose texts would then no longer match for cross-batch exact dedup. 2: comment sections left
# out and the line pass; 3: the whole page where the main content has no prose.
EXTRACTOR_VERSIONS = {"resiliparse": 3, "trafilatura": 1}
_WORD = re.compile(r"\w+")
_TERMINAL = tuple('.!?"”’)…:;。！？」')
# Lines a page's chrome puts between paragraphs, recognised by how they begin.
_CHROME = re.compile(
    r"(?i)^\W*(?:read more|continue reading|advertisement|caption|related\b|share\b|sharing is"
    r" caring|subscribe\b|sign up|follow us|newsletter\b|loaded\b|duration|image \d|view all"
    r"|click here|see also|more from|most popular|popular on|tags?:|photo:|credit:|copyright\b|©)"
)


def _is_prose(line: str) -> bool:
    """A line that reads as running text: a sentence of six words (or 40 characters, for
    scripts without spaces) or more, or any line of 20 words (150 characters). Words are counted
    only where the length cannot decide: six words and a full stop take 12 characters at least,
    20 words 39."""
    n = len(line)
    if n >= 150:
        return True
    if line.endswith(_TERMINAL):
        return n >= 40 or (n >= 12 and len(_WORD.findall(line)) >= 6)
    return n >= 39 and len(_WORD.findall(line)) >= 20


def trim_boilerplate(text: str) -> str:
    """The text from its first prose line to its last, without the chrome lines in between.

    What resiliparse's main-content heuristics leave around an article is mostly short lines
    before and after it (bylines, datelines, "Most Popular", headline lists, share bars, cookie
    prompts) and a few inside ("Advertisement", "Read more"); headings inside the article stay.
    A page with no prose line is returned as it is, for the quality rules to judge.
    """
    return _prose_span(text) or text


def _prose_span(text: str) -> str | None:
    """:func:`trim_boilerplate`'s answer, or None where the text has no prose line."""
    lines = text.split("\n")
    stripped = [line.strip() for line in lines]
    prose = [_is_prose(line) for line in stripped]
    # A footer sentence ("Copyright 2019 The Herald. All rights reserved.") reads as prose but
    # must not stretch the article to the headline list above it.
    bounds = [i for i, line in enumerate(stripped) if prose[i] and not _CHROME.match(line)]
    if not bounds:
        return None
    return "\n".join(
        lines[i]
        for i in range(bounds[0], bounds[-1] + 1)
        if prose[i] or not _CHROME.match(stripped[i])
    )


def _resiliparse(html: str) -> str:
    """The main content's prose span; the whole page's where the main content holds no prose.

    resiliparse's main-content heuristics sometimes keep only a page's chrome and drop the
    article (a body in an unusual container, a page its class names mislead): about 2% of the
    truth sets' pages, whose article the line pass then finds in the whole page's text. The
    second extraction is paid on every page without prose in its main content: 1.6% more
    extraction time over the 1,356 shared real pages, but 37% over the 16 pages of the
    CC-MAIN-2020-34 excerpt, half of them listings and spam, the crawl's own mix.
    """
    tree = HTMLTree.parse(html)
    main = _plain_text(tree, main_content=True)
    span = _prose_span(main)
    if span is None:
        span = _prose_span(_plain_text(tree, main_content=False))
    return span or main


def _plain_text(tree: HTMLTree, main_content: bool) -> str:
    return extract_plain_text(
        tree, main_content=main_content, alt_texts=False, links=False, comments=False
    )


def _trafilatura(html: str) -> str:
    import trafilatura  # optional dependency: pip install gristmill[trafilatura]

    return trafilatura.extract(html, include_comments=False, include_tables=True) or ""


EXTRACTORS: dict[str, Callable[[str], str]] = {
    "resiliparse": _resiliparse,
    "trafilatura": _trafilatura,
}


def extractor(name: str) -> Callable[[str], str]:
    try:
        return EXTRACTORS[name]
    except KeyError:
        raise ValueError(f"unknown extractor {name!r}; known: {sorted(EXTRACTORS)}") from None
