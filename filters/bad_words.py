"""C4's bad-words filter (Raffel et al. 2020): drop a page whose cleaned text holds a word of the
"List of Dirty, Naughty, Obscene, and Otherwise Bad Words" (LDNOOBW) for its language.

As in C4's code and datatrove's ``C4BadWordsFilter``: the text is lower-cased; an entry matches
where it is flanked by non-word characters or the text's ends, except in Chinese, Japanese and
Thai, written without spaces, where any occurrence matches. Single-word entries are looked up in
the text's words (the same rule, without a regular expression of hundreds of alternatives);
entries with spaces or punctuation go through one regular expression.

No list is shipped (LDNOOBW is not on PyPI, and nothing is downloaded at run time): the config
maps a language to the file of its list, one entry a line (``quality.bad_words.lists: {en:
path}``; the README says where to get C4's English list). A language without a list is not
checked. FineWeb did not use this filter; C4 did, for English.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from typing import NamedTuple

import pyarrow as pa

from gristmill.pipeline.config_checks import check

BAD_WORDS = "c4_bad_words"
DROP_REASONS = (BAD_WORDS,)
SIGNAL_FIELDS = [pa.field("bad_words", pa.int64())]

# Languages written without spaces between words (C4, datatrove).
UNSPACED = ("ja", "th", "zh")
_WORD = re.compile(r"\w+")


@dataclass(frozen=True)
class BadWordsConfig:
    enabled: bool = True
    # lid.176 language code -> path of its list (readable by every executor).
    lists: dict[str, str] = field(default_factory=dict)
    # Keep a page with at most this many matches (C4: 0, any match drops it).
    max_matches: int = 0

    def __post_init__(self) -> None:
        check(self.max_matches >= 0, "quality.bad_words.max_matches", "must be >= 0")


class _Matcher(NamedTuple):
    words: frozenset[str]  # single words, matched against the text's \w+ runs
    phrases: re.Pattern[str] | None  # the rest, matched with C4's boundary rule
    unspaced: tuple[str, ...]  # every entry, for a language without spaces


@functools.lru_cache(maxsize=16)
def _matcher(path: str, lang: str) -> _Matcher:
    with open(path, encoding="utf-8") as f:
        entries = sorted({line.strip().lower() for line in f if line.strip()})
    if lang in UNSPACED:
        return _Matcher(frozenset(), None, tuple(entries))
    words = frozenset(e for e in entries if _WORD.fullmatch(e))
    phrases = [re.escape(e) for e in entries if e not in words]
    pattern = re.compile(r"(?:\W|^)(?:{})(?=\W|$)".format("|".join(phrases))) if phrases else None
    return _Matcher(words, pattern, ())


def signals(text: str, cfg: BadWordsConfig, *, lang: str | None = None) -> dict[str, int | None]:
    """How many listed words and phrases the text holds; null when its language has no list."""
    path = cfg.lists.get(lang or "")
    if path is None:
        return {"bad_words": None}
    matcher = _matcher(path, lang or "")
    lower = text.lower()
    if matcher.unspaced:
        return {"bad_words": sum(lower.count(e) for e in matcher.unspaced)}
    found = sum(1 for w in _WORD.findall(lower) if w in matcher.words)
    if matcher.phrases is not None:
        found += sum(1 for _ in matcher.phrases.finditer(lower))
    return {"bad_words": found}


def decide(sig: dict[str, int | float | None], cfg: BadWordsConfig) -> str | None:
    found = sig["bad_words"]
    if cfg.enabled and found is not None and found > cfg.max_matches:
        return BAD_WORDS
    return None
