"""Main-text extraction from HTML.

resiliparse is the default, with comment sections left out and a line pass over its output
(:func:`trim_boilerplate`). On the shared truth sets (``python -m bench.extraction_f1``, token
F1 for scrapinghub's 181 and readability's 94 pages, snippet F1 for trafilatura's 981) that
pass took resiliparse from 0.916 / 0.909 / 0.849 to 0.940 / 0.926 / 0.884, against
trafilatura's 0.960 / 0.940 / 0.926 at about a twelfth of the speed. trafilatura is an option
for runs that can afford it.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from resiliparse.extract.html2text import extract_plain_text
from resiliparse.parse.html import HTMLTree

_WORD = re.compile(r"\w+")
_TERMINAL = tuple('.!?"”’)…:;。！？」')
# Lines a page's chrome puts between paragraphs, recognised by how they begin.
_CHROME = re.compile(
    r"(?i)^\W*(?:read more|continue reading|advertisement|caption|related\b|share\b|sharing is"
    r" caring|subscribe|sign up|follow us|newsletter|loaded|duration|image \d|view all|click here"
    r"|see also|more from|most popular|popular on|tags?:|photo:|credit:|copyright|©)"
)


def _is_prose(line: str) -> bool:
    """A line that reads as running text: a sentence of six words (or 40 characters, for
    scripts without spaces) or more, or any line of 20 words (150 characters)."""
    words = len(_WORD.findall(line))
    sentence = (words >= 6 or len(line) >= 40) and line.endswith(_TERMINAL)
    return sentence or words >= 20 or len(line) >= 150


def trim_boilerplate(text: str) -> str:
    """The text from its first prose line to its last, without the chrome lines in between.

    What resiliparse's main-content heuristics leave around an article is mostly short lines
    before and after it (bylines, datelines, "Most Popular", headline lists, share bars, cookie
    prompts) and a few inside ("Advertisement", "Read more"); headings inside the article stay.
    A page with no prose line is returned as it is, for the quality rules to judge.
    """
    lines = text.split("\n")
    prose = [i for i, line in enumerate(lines) if _is_prose(line.strip())]
    if not prose:
        return text
    kept = lines[prose[0] : prose[-1] + 1]
    return "\n".join(
        line for line in kept if _is_prose(line.strip()) or not _CHROME.match(line.strip())
    )


def _resiliparse(html: str) -> str:
    tree = HTMLTree.parse(html)
    text = extract_plain_text(tree, main_content=True, alt_texts=False, links=False, comments=False)
    return trim_boilerplate(text)


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
