"""Document length in words (Gopher: keep 50 to 100,000 words).

Too short pages are navigation stubs and error pages; too long ones are dumps and lists.
"""

from __future__ import annotations

from pipeline.config import QualityConfig

TOO_FEW = "too_few_words"
TOO_MANY = "too_many_words"


def word_count_reason(n_words: int, cfg: QualityConfig) -> str | None:
    if n_words < cfg.min_words:
        return TOO_FEW
    if n_words > cfg.max_words:
        return TOO_MANY
    return None
