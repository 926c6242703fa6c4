"""The quality stage's rule sets, in the order it decides: one table that the signal pass, the
decision and the stage table's columns read.

Every rule set is a module with the same interface: ``SIGNAL_FIELDS`` (its columns of the stage
table), ``DROP_REASONS``, ``signals(text, cfg, *, lang=None)`` and ``decide(row, cfg)``, where
``cfg`` is its section of the quality config. What differs between them is listed here: that
section, and the text the rule set reads. datatrove's FineWeb recipe (Penedo et al. 2024) runs
them as a chain, each on the text the previous one left: the URL filter sees the URL, the
language and Gopher rules the extracted text, C4 measures the extracted text and cleans its
lines, and the bad-words and FineWeb rules see the text after that cleaning and PII masking
(FineWeb turned C4's terminal-punctuation line rule off, ``filter_no_terminal_punct=False``, as
it removed too much; gristmill's default ``quality.recipe: fineweb`` does the same). The first
rule set to drop a document names its reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType
from typing import Any

from gristmill.filters import bad_words, c4, fineweb, gopher_quality, gopher_repetition, language
from gristmill.filters import url as url_filter

# The text a rule set reads.
URL, EXTRACTED, CLEANED = "url", "extracted", "cleaned"


@dataclass(frozen=True)
class RuleSet:
    module: ModuleType
    # Its section of the quality config (an attribute of QualityConfig); None: the section
    # itself (the language rule's languages and min_lang_score).
    section: str | None
    reads: str

    def config(self, quality: Any) -> Any:
        return quality if self.section is None else getattr(quality, self.section)


RULE_SETS: tuple[RuleSet, ...] = (
    RuleSet(url_filter, "url_filter", URL),
    RuleSet(language, None, EXTRACTED),
    RuleSet(gopher_repetition, "gopher_repetition", EXTRACTED),
    RuleSet(gopher_quality, "gopher_quality", EXTRACTED),
    RuleSet(c4, "c4", EXTRACTED),
    RuleSet(bad_words, "bad_words", CLEANED),
    RuleSet(fineweb, "fineweb", CLEANED),
)
