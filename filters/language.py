"""Language filter: keep documents whose lid.176 language is allowed, with enough confidence.

FineWeb keeps English at score >= 0.65; CCNet keeps any language at >= 0.5. Its signals are
ingest's ``lang`` and ``lang_score`` columns (language ID runs once, where the text is
extracted), so it adds none; its settings are the quality section's own ``languages`` and
``min_lang_score``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import pyarrow as pa

if TYPE_CHECKING:
    from gristmill.pipeline.config import QualityConfig

NOT_ALLOWED = "lang_not_allowed"
LOW_SCORE = "lang_score_low"
SIGNAL_FIELDS: tuple[pa.Field, ...] = ()
DROP_REASONS = (NOT_ALLOWED, LOW_SCORE)


def signals(text: str, cfg: QualityConfig, *, lang: str | None = None) -> dict[str, Any]:
    return {}


def decide(row: Mapping[str, Any], cfg: QualityConfig) -> str | None:
    if cfg.languages and row["lang"] not in cfg.languages:
        return NOT_ALLOWED
    if (row["lang_score"] or 0.0) < cfg.min_lang_score:
        return LOW_SCORE
    return None
