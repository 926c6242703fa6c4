"""C4's cleaning and document rules (Raffel et al. 2020, section 2.2), with datatrove's defaults.

C4 is the one heuristic set that rewrites the text: it keeps only the lines that look like prose
and then judges the page by what is left. Line rules (each switchable):

- drop a line with a word longer than ``max_word_length`` characters (1000; tfds's c4_utils);
- remove Wikipedia citation markers such as "[1]", "[edit]", "[citation needed]";
- drop a line that does not end in terminal punctuation (. ? ! " ') or that ends in "...";
- drop a line of fewer than ``min_words_per_line`` words (3);
- drop a line containing "javascript" (a "please enable JavaScript" notice);
- drop a line containing a policy phrase ("terms of use", "privacy policy", "cookie policy",
  "uses cookies", "use of cookies", "use cookies"): cookie banners and footers (tfds's c4_utils).

Document rules: drop a page containing "lorem ipsum" (placeholder text) or a curly bracket "{"
(code), and a page whose cleaned text has fewer than ``min_num_sentences`` sentences (5).
As in C4's code and datatrove, "lorem ipsum" and "{" are looked for in the lines that survive the
length, punctuation and word-count rules (and, for "{", the javascript rule), in the order those
run: a "{" in a menu line without punctuation does not condemn a page whose prose is fine.

Unlike the other heuristic modules, ``signals`` takes the config as well as the text, because
what cleaning removes depends on which line rules are on. The quality stage calls ``clean`` for
the text it stores and ``signals`` for the columns; both run the same cleaning, which is memoized
for the last document, so calling both costs one cleaning. ``signals`` ignores ``cfg.enabled``
(signals describe the document; decisions are separate), while ``clean`` returns the text
untouched when C4 is disabled. ``c4_lines_removed`` counts non-blank lines.

FineWeb (Penedo et al. 2024; datatrove's examples/fineweb.py) applies these rules with
``filter_no_terminal_punct`` off: in its ablations that rule removed a large share of the tokens
for little gain, and FineWeb's own line-punctuation ratio replaces it.

Sentences are counted without a tokenizer model (datatrove uses NLTK's punkt): in each kept line,
a run of . ! ? (and any closing quotes or brackets) followed by the end of the line, or by
whitespace and anything but a lowercase ASCII letter, ends a sentence; a kept line counts as at
least one sentence. Abbreviations followed by a capital ("Mr. Smith") count as ends, so the count
can exceed punkt's by a little; at the five-sentence minimum that rarely changes a decision.
"""

from __future__ import annotations

import functools
import re
import string
from dataclasses import dataclass
from typing import NamedTuple

import numba
import numpy as np
import pyarrow as pa

from gristmill.filters.lines import spaces
from gristmill.filters.words import code_points
from gristmill.pipeline.config_checks import check

LOREM_IPSUM = "c4_lorem_ipsum"
CURLY_BRACKET = "c4_curly_bracket"
TOO_FEW_SENTENCES = "c4_too_few_sentences"
DROP_REASONS = (LOREM_IPSUM, CURLY_BRACKET, TOO_FEW_SENTENCES)

SIGNAL_FIELDS = [
    pa.field("c4_lines_removed", pa.int64()),
    pa.field("c4_chars_removed", pa.int64()),
    pa.field("c4_has_lorem_ipsum", pa.int64()),
    pa.field("c4_has_curly_bracket", pa.int64()),
    pa.field("c4_sentences", pa.int64()),
]

# C4's terminal punctuation (tfds c4_utils): ASCII only, quotes included for quoted sentences.
END_PUNCTUATION = (".", "?", "!", '"', "'")
_CITATION = re.compile(r"\[\d*]|\[edit]|\[citation needed]")
# Sentence ends, the regex [.!?]+["'”’)\]]*(?:$|\s+(?![a-z])) over a line, as classes of code
# points for the compiled count.
_STOP, _CLOSER, _SPACE, _LOWER = 1, 2, 4, 8


@dataclass(frozen=True)
class C4Config:
    """C4's switches and limits; 0 turns off min_words_per_line and min_num_sentences, and None
    turns off max_word_length."""

    enabled: bool = True
    remove_citations: bool = True
    # Off as in FineWeb (its line-punctuation ratio judges such lines instead); C4 had it on
    # (quality.recipe: c4).
    filter_no_terminal_punct: bool = False
    min_words_per_line: int = 3
    max_word_length: int | None = 1000
    filter_javascript: bool = True
    filter_policy: bool = True
    filter_lorem_ipsum: bool = True
    filter_curly_bracket: bool = True
    min_num_sentences: int = 5

    def __post_init__(self) -> None:
        key = "quality.c4."
        check(self.min_words_per_line >= 0, key + "min_words_per_line", "must be >= 0")
        check(
            self.max_word_length is None or self.max_word_length >= 1,
            key + "max_word_length",
            "must be >= 1, or null for no limit",
        )
        check(self.min_num_sentences >= 0, key + "min_num_sentences", "must be >= 0")


class _Cleaned(NamedTuple):
    text: str
    lines_removed: int
    has_lorem_ipsum: bool
    has_curly_bracket: bool
    sentences: int


@functools.cache
def _sentence_classes() -> np.ndarray:
    classes = np.where(spaces(), _SPACE, 0).astype(np.uint8)
    for members, bit in ((".!?", _STOP), ("\"'”’)]", _CLOSER), (string.ascii_lowercase, _LOWER)):
        classes[code_points(members)] |= bit
    return classes


@numba.njit(cache=True)
def _sentences(cps: np.ndarray, classes: np.ndarray) -> int:
    """The sentences of the lines of ``cps`` (newline-separated): in each non-empty line, the
    matches of the sentence-end regex, at least one. A run of stops and closers matches where
    the line ends after it, or whitespace follows it and then no lowercase ASCII letter; or
    two or more whitespace characters follow it, since the regex then backtracks into them and
    leaves a space as the next character."""
    total, count, start, i, n = 0, 0, 0, 0, cps.size
    while i <= n:
        if i == n or cps[i] == 10:  # a line ends
            if i > start:
                total += max(count, 1)
            count, start, i = 0, i + 1, i + 1
            continue
        if not classes[cps[i]] & _STOP:
            i += 1
            continue
        while i < n and classes[cps[i]] & _STOP:
            i += 1
        while i < n and classes[cps[i]] & _CLOSER:
            i += 1
        if i == n or cps[i] == 10:
            count += 1
        elif classes[cps[i]] & _SPACE:
            j = i
            while j < n and cps[j] != 10 and classes[cps[j]] & _SPACE:
                j += 1
            if j - i >= 2 or j == n or cps[j] == 10 or not classes[cps[j]] & _LOWER:
                count += 1
            i = j
    return total


def _has_policy_phrase(lower: str) -> bool:
    """Whether a lower-cased line holds one of the policy phrases: "terms of use", "privacy
    policy", "cookie policy", "uses cookies", "use of cookies", "use cookies" (substring tests,
    several times faster than a regex of the six on short lines)."""
    return (
        "privacy policy" in lower
        or "terms of use" in lower
        or (
            "cookie" in lower
            and (
                "cookie policy" in lower
                or "use cookies" in lower
                or "uses cookies" in lower
                or "use of cookies" in lower
            )
        )
    )


@functools.lru_cache(maxsize=1)
def _clean(text: str, cfg: C4Config) -> _Cleaned:
    """One pass over the lines: the kept lines, the removed count and the document flags.

    Sentences are counted after the loop, in the kept lines joined by newlines; a kept line
    that removing citation markers emptied counts one, as every kept line does."""
    kept: list[str] = []
    removed, lorem, curly, emptied = 0, False, False, 0
    limit, min_words = cfg.max_word_length, cfg.min_words_per_line
    for raw in text.splitlines():
        line = raw.strip()
        if not line:  # kept only when no rule drops empty lines; never counted as removed
            if min_words == 0 and not cfg.filter_no_terminal_punct:
                kept.append(line)
            continue
        removed += 1  # until the line is kept
        if limit is not None and len(line) > limit and max(map(len, line.split())) > limit:
            continue
        # Counted before citation markers go, as C4 does; at most min_words pieces are split.
        few_words = min_words and len(line.split(None, min_words - 1)) < min_words
        if cfg.remove_citations and "[" in line:
            line = _CITATION.sub("", line)
        if cfg.filter_no_terminal_punct and (
            not line.endswith(END_PUNCTUATION) or line.endswith("...")
        ):
            continue
        if few_words:
            continue
        lower = line.lower()
        lorem = lorem or "lorem ipsum" in lower
        if cfg.filter_javascript and "javascript" in lower:
            continue
        curly = curly or "{" in line
        if cfg.filter_policy and _has_policy_phrase(lower):
            continue
        removed -= 1
        kept.append(line)
        emptied += not line
    joined = "\n".join(kept)
    sentences = _sentences(code_points(joined), _sentence_classes()) + emptied
    return _Cleaned(joined.strip(), removed, lorem, curly, sentences)


def clean(text: str, cfg: C4Config) -> tuple[str, dict[str, int]]:
    """The text with C4's line rules applied, and how many content lines and characters went.

    ``c4_chars_removed`` is ``len(text) - len(cleaned)``: removed lines, citation markers and the
    whitespace that stripping and re-joining the kept lines takes away."""
    if not cfg.enabled:
        return text, {"c4_lines_removed": 0, "c4_chars_removed": 0}
    cleaned = _clean(text, cfg)
    return cleaned.text, {
        "c4_lines_removed": cleaned.lines_removed,
        "c4_chars_removed": len(text) - len(cleaned.text),
    }


def signals(text: str, cfg: C4Config, *, lang: str | None = None) -> dict[str, int | float]:
    """C4's signals of the ORIGINAL text under ``cfg``'s line rules (see the module docstring)."""
    cleaned = _clean(text, cfg)
    return {
        "c4_lines_removed": cleaned.lines_removed,
        "c4_chars_removed": len(text) - len(cleaned.text),
        "c4_has_lorem_ipsum": int(cleaned.has_lorem_ipsum),
        "c4_has_curly_bracket": int(cleaned.has_curly_bracket),
        "c4_sentences": cleaned.sentences,
    }


def decide(sig: dict[str, int | float], cfg: C4Config) -> str | None:
    """C4's document rules over the signals, or None to keep the (cleaned) document."""
    if not cfg.enabled:
        return None
    if cfg.filter_lorem_ipsum and sig["c4_has_lorem_ipsum"]:
        return LOREM_IPSUM
    if cfg.filter_curly_bracket and sig["c4_has_curly_bracket"]:
        return CURLY_BRACKET
    if sig["c4_sentences"] < cfg.min_num_sentences:
        return TOO_FEW_SENTENCES
    return None
