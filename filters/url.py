"""URL filter: drop pages by where they come from, before judging their text (FineWeb runs it
first; datatrove's ``URLFilter``, NeMo Curator's and dolma's domain blocklists do the same).

A page is dropped when, unless its host is on the allowlist:

- its host, or any domain above it, is on the domain blocklist (``ads.example.com`` is blocked by
  ``example.com``; datatrove checks only the registered domain and the full host name);
- its URL, without the scheme, is on the URL blocklist (UT1's ``urls`` file is written that way,
  so datatrove's check of the URL with its scheme never matches it);
- a word of its URL (split on anything but ASCII letters and digits, lower-cased) is a banned word;
- at least ``soft_word_threshold`` (2) of its URL's words are soft-banned words;
- a banned subword is a substring of the URL with everything but ASCII letters and digits removed.

Nothing is shipped or downloaded: each list is a file the user points to, one entry a line, lines
starting with "#" ignored. The lists datatrove ships (its wheel's ``datatrove/assets/``: the word
lists, and ``url_filterblacklistsv0_3_0.tar.gz`` with UT1's ``domains`` and ``urls``) or UT1's
own (dsi.ut-capitole.fr/blacklists) fit as they are; the README shows how. With no list the
filter computes nothing and drops nothing.

Domains and URLs are held as a sorted array of 64-bit hashes (``pipeline/byte_hash.py``), not a
set of strings: UT1's 4.6 million domains take 36 MB a worker that way instead of about 500 MB,
and load in under a second. Entries and URLs match ignoring ASCII case.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from typing import ClassVar
from urllib.parse import urlsplit

import numpy as np
import pyarrow as pa

from gristmill.pipeline.byte_hash import line_hashes
from gristmill.pipeline.config_checks import check

BLOCKED_DOMAIN = "url_blocked_domain"
BLOCKED_URL = "url_blocked_url"
BANNED_WORD = "url_banned_word"
SOFT_BANNED_WORDS = "url_soft_banned_words"
BANNED_SUBWORD = "url_banned_subword"
DROP_REASONS = (BLOCKED_DOMAIN, BLOCKED_URL, BANNED_WORD, SOFT_BANNED_WORDS, BANNED_SUBWORD)

SIGNAL_FIELDS = [
    pa.field("url_allowed_domain", pa.int64()),
    pa.field("url_blocked_domain", pa.int64()),
    pa.field("url_blocked_url", pa.int64()),
    pa.field("url_banned_words", pa.int64()),
    pa.field("url_soft_banned_words", pa.int64()),
    pa.field("url_banned_subwords", pa.int64()),
]

_NOT_ALNUM = re.compile(r"[^a-zA-Z0-9]+")


@dataclass(frozen=True)
class UrlFilterConfig:
    """Paths of list files (readable by every executor, like the models); each key takes a list,
    and the entries of its files are united."""

    enabled: bool = True
    blocked_domains: list[str] = field(default_factory=list)
    blocked_urls: list[str] = field(default_factory=list)
    allowed_domains: list[str] = field(default_factory=list)
    banned_words: list[str] = field(default_factory=list)
    soft_banned_words: list[str] = field(default_factory=list)
    banned_subwords: list[str] = field(default_factory=list)
    soft_word_threshold: int = 2

    def __post_init__(self) -> None:
        check(
            self.soft_word_threshold >= 1,
            "quality.url_filter.soft_word_threshold",
            "must be >= 1",
        )

    LIST_KEYS: ClassVar[tuple[str, ...]] = (
        "blocked_domains",
        "blocked_urls",
        "allowed_domains",
        "banned_words",
        "soft_banned_words",
        "banned_subwords",
    )

    def has_lists(self) -> bool:
        return any(getattr(self, key) for key in self.LIST_KEYS)


def _read(paths: tuple[str, ...]) -> bytes:
    """The files' bytes, one entry a line (a file without a final newline still ends its line)."""
    parts = []
    for path in paths:
        with open(path, "rb") as f:
            parts.append(f.read())
    return b"\n".join(parts)


@functools.lru_cache(maxsize=8)
def _hashed(paths: tuple[str, ...]) -> np.ndarray:
    """The files' entries as a sorted array of 64-bit hashes (once a worker)."""
    hashes = np.sort(line_hashes(_read(paths)))  # np.unique is 20x slower (numpy 2.4)
    return hashes[np.concatenate(([True], hashes[1:] != hashes[:-1]))] if len(hashes) else hashes


@functools.lru_cache(maxsize=8)
def _words(paths: tuple[str, ...]) -> frozenset[str]:
    """A word list's entries with everything but ASCII letters and digits removed, lower-cased
    (datatrove's normalization of its word lists)."""
    lines = _read(paths).decode("utf-8", "replace").splitlines()
    entries = (line.strip() for line in lines)
    return frozenset(
        w for w in (_NOT_ALNUM.sub("", e).lower() for e in entries if e[:1] != "#") if w
    )


def _count_listed(keys: list[str], paths: list[str]) -> int:
    """How many of ``keys`` are in the hashed list of ``paths``."""
    if not paths or not keys:
        return 0
    table = _hashed(tuple(paths))
    if not len(table):
        return 0
    hashes = line_hashes("\n".join(keys).encode())
    at = np.searchsorted(table, hashes).clip(max=len(table) - 1)
    return int((table[at] == hashes).sum())


def _domains(host: str) -> list[str]:
    """The host and every domain above it: a.b.example.com, b.example.com, example.com, com."""
    parts = host.split(".")
    return [".".join(parts[i:]) for i in range(len(parts))]


def signals(url: str | None, cfg: UrlFilterConfig, *, lang: str | None = None) -> dict[str, int]:
    """How the URL meets each list (0 everywhere without lists or URL)."""
    sig = {f.name: 0 for f in SIGNAL_FIELDS}
    if not url or not cfg.has_lists():
        return sig
    try:
        host = (urlsplit(url).hostname or "").rstrip(".")
    except ValueError:  # a malformed URL (bad port, bracket): judged by its words only
        host = ""
    domains = _domains(host) if host else []
    sig["url_allowed_domain"] = min(1, _count_listed(domains, cfg.allowed_domains))
    sig["url_blocked_domain"] = min(1, _count_listed(domains, cfg.blocked_domains))
    bare = url.split("://", 1)[-1].rstrip("/")
    sig["url_blocked_url"] = _count_listed([bare], cfg.blocked_urls)
    if cfg.banned_words or cfg.soft_banned_words:
        words = set(_NOT_ALNUM.split(url.lower()))
        if cfg.banned_words:
            sig["url_banned_words"] = len(words & _words(tuple(cfg.banned_words)))
        if cfg.soft_banned_words:
            sig["url_soft_banned_words"] = len(words & _words(tuple(cfg.soft_banned_words)))
    if cfg.banned_subwords:
        squeezed = _NOT_ALNUM.sub("", url).lower()
        subwords = _words(tuple(cfg.banned_subwords))
        sig["url_banned_subwords"] = sum(1 for w in subwords if w in squeezed)
    return sig


def decide(sig: dict[str, int | float | None], cfg: UrlFilterConfig) -> str | None:
    """The first URL rule that drops the page, or None to keep it."""
    if not cfg.enabled or sig["url_allowed_domain"]:
        return None
    if sig["url_blocked_domain"]:
        return BLOCKED_DOMAIN
    if sig["url_blocked_url"]:
        return BLOCKED_URL
    if sig["url_banned_words"]:
        return BANNED_WORD
    if (sig["url_soft_banned_words"] or 0) >= cfg.soft_word_threshold:
        return SOFT_BANNED_WORDS
    if sig["url_banned_subwords"]:
        return BANNED_SUBWORD
    return None
