"""Language filter: keep documents whose lid.176 language is allowed, with enough confidence.

FineWeb keeps English at score >= 0.65; CCNet keeps any language at >= 0.5.
"""

from __future__ import annotations

from gristmill.pipeline.config import QualityConfig

NOT_ALLOWED = "lang_not_allowed"
LOW_SCORE = "lang_score_low"


def language_reason(lang: str | None, score: float | None, cfg: QualityConfig) -> str | None:
    if cfg.languages and lang not in cfg.languages:
        return NOT_ALLOWED
    if (score or 0.0) < cfg.min_lang_score:
        return LOW_SCORE
    return None
