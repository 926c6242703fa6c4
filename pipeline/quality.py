"""The quality stage's core: signals first, then the config's decision over them.

Signals are columns of the stage table, so a later selection with other thresholds can re-read
them instead of recomputing (dolma's taggers and mixer split the same way).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import pyarrow as pa

from filters.language import language_reason
from filters.word_count import word_count_reason
from pipeline.config import QualityConfig
from schemas.tables import QUALITY


def signals(text: str) -> dict[str, int]:
    return {"n_words": len(text.split()), "n_chars": len(text)}


def decide(row: dict, cfg: QualityConfig) -> str | None:
    """The first rule that drops the document, or None to keep it."""
    return language_reason(row["lang"], row["lang_score"], cfg) or word_count_reason(
        row["n_words"], cfg
    )


def quality_batches(
    batches: Iterable[pa.RecordBatch], cfg: QualityConfig
) -> Iterator[pa.RecordBatch]:
    """mapInArrow body: kept ingest rows in, rows with signals and a drop reason out."""
    for batch in batches:
        rows = batch.to_pylist()
        for row in rows:
            row.update(signals(row["text"]))
            row["drop_reason"] = decide(row, cfg)
        yield pa.RecordBatch.from_pylist(rows, schema=QUALITY)
